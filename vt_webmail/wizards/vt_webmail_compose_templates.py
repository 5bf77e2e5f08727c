"""Templates and snippets in the compose window: an Odoo ``mail.template`` rendered with the
record the conversation is qualified on (a lead, a contact...), or a snippet of the user's."""

from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..core import addresses


class VtWebmailCompose(models.TransientModel):
    _inherit = "vt_webmail.compose"

    template_id = fields.Many2one(
        "mail.template",
        help="An Odoo email template; in a reply to a qualified mail it is filled in with "
             "that record (a lead, a contact...), otherwise with the first recipient's "
             "contact.")
    snippet_id = fields.Many2one(
        "vt_webmail.snippet",
        help="Insert one of your snippets (Configuration > My snippets) at the top.")

    def _template_record(self, model=None):
        """The record a template is filled in with: the one the answered mail (or its
        conversation) was qualified on, read as the user; else, for a contact template, the
        contact of the first recipient. None if there is none the user may read."""
        self.ensure_one()
        record = None
        original = self.reply_to_message_id
        if original:
            record = (original._qualified_record() if original.qualified_model else None)
            if record is None:
                suggestion = original._qualify_thread_suggestion()
                record = suggestion["record"] if suggestion else None
        if record is not None and (model is None or record._name == model):
            return record
        if model == "res.partner":
            if record is not None and "partner_id" in record._fields and record.partner_id:
                return record.partner_id
            parsed = addresses.parse(self.email_to or "")
            if parsed:
                return self.env["res.partner"].search(
                    [("email_normalized", "=", addresses.normalize_address(parsed[0][1]))],
                    limit=1) or None
        return None if model else record

    @api.onchange("template_id")
    def _onchange_template_id(self):
        if self.template_id:
            self._apply_template(self.template_id)
            self.template_id = False

    @api.onchange("snippet_id")
    def _onchange_snippet_id(self):
        if self.snippet_id:
            self._insert_top(self.snippet_id.body_html or Markup())
            self.snippet_id = False

    def _apply_template(self, template):
        """Fill in the template's subject (when the mail has none, or a new mail) and put its
        body at the top of the mail (above the signature and the quote)."""
        template.check_access("read")
        record = self._template_record(template.model)
        if record is None:
            # sudo: only the label of the template's model, to say which record is missing
            kind = template.sudo().model_id.name or template.model
            raise UserError(self.env._(
                "The template \"%(name)s\" is filled in with a %(kind)s, and this mail has "
                "none: answer a mail qualified on one, or write to one of them.",
                name=template.name, kind=kind))
        body = template._render_field("body_html", record.ids, compute_lang=True)[record.id]
        subject = template._render_field("subject", record.ids, compute_lang=True)[record.id]
        if subject and (self.mode == "new" or not self.subject):
            self.subject = subject
        self._insert_top(Markup(body or ""))

    def _insert_top(self, html):
        current = self.body_html or Markup()
        empty = Markup("<p><br></p>")
        if current.startswith(empty):
            current = current[len(empty):]
        self.body_html = Markup(html) + current

    def action_apply_template(self, template_id):
        """Apply a template to this window (what choosing it does; for XML-RPC and tests)."""
        self.ensure_one()
        template = self.env["mail.template"].browse(int(template_id)).exists()
        if not template:
            raise UserError(self.env._("That template does not exist (any more)."))
        self._apply_template(template)
        return True
