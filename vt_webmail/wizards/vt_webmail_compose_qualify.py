"""Qualify in the compose window: a reply to a qualified mail says where that mail went.

The record itself is proposed first later, by the Qualify preview of the reply (in Sent) or of
the answer to it (see ``vt_webmail.message._qualify_thread_suggestion``).
"""

from odoo import api, fields, models
from odoo.exceptions import AccessError


class VtWebmailCompose(models.TransientModel):
    _inherit = "vt_webmail.compose"

    qualify_suggestion_reference = fields.Reference(
        selection="_selection_qualify_models", string="Qualified on",
        compute="_compute_qualify_suggestion",
        help="Where the mail you answer (or its thread) was qualified.",
    )
    qualify_suggestion_note = fields.Char(compute="_compute_qualify_suggestion")
    # the qualified record, for the domain of the documents offered
    qualify_res_model = fields.Char(compute="_compute_qualify_suggestion")
    qualify_res_id = fields.Integer(compute="_compute_qualify_suggestion")
    record_attachment_ids = fields.Many2many(
        "ir.attachment", "vt_webmail_compose_record_attachment_rel", "compose_id",
        "attachment_id", string="Documents of the record",
        domain="[('res_model', '=', qualify_res_model), ('res_id', '=', qualify_res_id), "
               "('res_field', '=', False)]",
        help="Attach documents of the record the mail you answer is qualified on.")
    log_on_record = fields.Boolean(
        string="Log the sent mail on the record",
        help="Once sent, the mail (as kept in Sent) is logged in the record's history.")

    @api.model
    def _selection_qualify_models(self):
        return self.env["vt_webmail.message"]._selection_qualify_models()

    @api.depends("reply_to_message_id", "account_id.qualify_follow_up")
    def _compute_qualify_suggestion(self):
        for wizard in self:
            wizard.qualify_suggestion_reference = False
            wizard.qualify_suggestion_note = False
            wizard.qualify_res_model = False
            wizard.qualify_res_id = False
            original = wizard.reply_to_message_id
            if not original:
                continue
            record = original._qualified_record() if original.qualified_model else None
            if record and wizard.account_id.qualify_follow_up and record.has_access("write"):
                note = self.env._(
                    "The mail you answer was qualified on %s: your reply will be logged there "
                    "once it is sent.", self.env["vt_webmail.qualify"]._record_label(record))
            elif record:
                note = self.env._(
                    "The mail you answer was qualified on %s: when you qualify your reply (in "
                    "Sent) or the answer to it, that record is proposed first.",
                    self.env["vt_webmail.qualify"]._record_label(record))
            else:
                suggestion = original._qualify_thread_suggestion()
                if not suggestion:
                    continue
                record = suggestion["record"]
                note = self.env._(
                    "This conversation was qualified on %s: when you qualify your reply (in "
                    "Sent) or the answer to it, that record is proposed first.",
                    self.env["vt_webmail.qualify"]._record_label(record))
            wizard.qualify_suggestion_reference = f"{record._name},{record.id}"
            wizard.qualify_suggestion_note = note
            wizard.qualify_res_model = record._name
            wizard.qualify_res_id = record.id

    def _record_files(self):
        """The chosen documents of the qualified record, read with the user's rights, and
        only documents of that record (a hostile id written into the field is refused)."""
        self.ensure_one()
        chosen = self.record_attachment_ids
        if not chosen:
            return []
        record = self.qualify_suggestion_reference
        wrong = chosen.filtered(lambda a: not record or a.res_model != record._name
                                or a.res_id != record.id)
        if wrong:
            raise AccessError(self.env._("Only documents of the record the mail you answer "
                                         "is qualified on can be attached here."))
        chosen.check_access("read")
        return [(a.name, a.mimetype, a.raw) for a in chosen.sorted("id")]

    def _log_target(self):
        """``(model, id)`` to log the sent mail on, or ``(False, False)``."""
        self.ensure_one()
        record = self.qualify_suggestion_reference
        if self.log_on_record and record:
            return record._name, record.id
        return False, False
