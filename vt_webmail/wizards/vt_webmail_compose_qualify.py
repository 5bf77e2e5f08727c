"""Qualify in the compose window: a reply to a qualified mail says where that mail went.

The record itself is proposed first later, by the Qualify preview of the reply (in Sent) or of
the answer to it (see ``vt_webmail.message._qualify_thread_suggestion``).
"""

from odoo import api, fields, models


class VtWebmailCompose(models.TransientModel):
    _inherit = "vt_webmail.compose"

    qualify_suggestion_reference = fields.Reference(
        selection="_selection_qualify_models", string="Qualified on",
        compute="_compute_qualify_suggestion",
        help="Where the mail you answer (or its thread) was qualified.",
    )
    qualify_suggestion_note = fields.Char(compute="_compute_qualify_suggestion")

    @api.model
    def _selection_qualify_models(self):
        return self.env["vt_webmail.message"]._selection_qualify_models()

    @api.depends("reply_to_message_id", "account_id.qualify_follow_up")
    def _compute_qualify_suggestion(self):
        for wizard in self:
            wizard.qualify_suggestion_reference = False
            wizard.qualify_suggestion_note = False
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
