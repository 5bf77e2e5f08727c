from odoo import api, fields, models
from odoo.exceptions import UserError


class VtWebmailMessageMove(models.TransientModel):
    """Move a selection of mails to another folder of their account."""

    _name = "vt_webmail.message.move"
    _description = "Webmail: move mail to a folder"

    message_ids = fields.Many2many("vt_webmail.message", string="Mails", required=True)
    message_count = fields.Integer(compute="_compute_message_count")
    account_id = fields.Many2one("vt_webmail.account", compute="_compute_account_id")
    source_folder_ids = fields.Many2many("vt_webmail.folder", compute="_compute_account_id")
    folder_id = fields.Many2one(
        "vt_webmail.folder", string="Move to", required=True,
        domain="[('account_id', '=', account_id), ('id', 'not in', source_folder_ids)]",
    )

    @api.depends("message_ids")
    def _compute_message_count(self):
        for wizard in self:
            wizard.message_count = len(wizard.message_ids)

    @api.depends("message_ids")
    def _compute_account_id(self):
        for wizard in self:
            wizard.account_id = wizard.message_ids.account_id[:1] \
                if len(wizard.message_ids.account_id) == 1 else False
            wizard.source_folder_ids = wizard.message_ids.folder_id

    @api.model_create_multi
    def create(self, vals_list):
        wizards = super().create(vals_list)
        for wizard in wizards:
            # the mails are the caller's own (record rules hide the others; this also
            # refuses ids guessed over RPC)
            wizard.message_ids._check_owner()
            if len(wizard.message_ids.account_id) > 1:
                raise UserError(self.env._(
                    "Mail of several accounts cannot be moved together."))
        return wizards

    def action_move(self):
        """Move the mails on the server; the caller's view then leaves them (see the
        ``vt_webmail_moved`` close information read by the Webmail views)."""
        self.ensure_one()
        self.message_ids._check_owner()
        self.message_ids.action_move(self.folder_id.id)
        return {"type": "ir.actions.act_window_close", "infos": {"vt_webmail_moved": True}}
