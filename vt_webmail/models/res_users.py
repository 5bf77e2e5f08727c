from odoo import api, fields, models
from odoo.exceptions import ValidationError

#: The longest Undo send delay a user may choose, in seconds.
MAX_UNDO_DELAY = 30

#: The Webmail preferences a user reads and writes on themselves (Preferences, the web client).
VT_WEBMAIL_SELF_FIELDS = ["vt_webmail_layout", "vt_webmail_undo_delay",
                          "vt_webmail_signature_position"]


class ResUsers(models.Model):
    _inherit = "res.users"

    vt_webmail_layout = fields.Selection(
        [("list", "List, then the mail"), ("pane", "Reading pane")],
        string="Webmail layout", default="list", required=True,
        help="How Webmail shows mail: the list, and a mail in its place when opened; or the "
             "list and the opened mail side by side.")
    vt_webmail_undo_delay = fields.Integer(
        string="Undo send (seconds)", default=0,
        help="A sent mail waits this long (0 to 30 seconds) with an Undo button before it "
             "leaves. 0: it leaves at once.")
    vt_webmail_signature_position = fields.Selection(
        [("above", "Above the quoted mail"), ("below", "Below the quoted mail")],
        string="Signature in replies", default="above", required=True)

    @property
    def SELF_READABLE_FIELDS(self):
        return super().SELF_READABLE_FIELDS + VT_WEBMAIL_SELF_FIELDS

    @property
    def SELF_WRITEABLE_FIELDS(self):
        return super().SELF_WRITEABLE_FIELDS + VT_WEBMAIL_SELF_FIELDS

    @api.constrains("vt_webmail_undo_delay")
    def _check_vt_webmail_undo_delay(self):
        for user in self:
            if not 0 <= user.vt_webmail_undo_delay <= MAX_UNDO_DELAY:
                raise ValidationError(self.env._(
                    "The Undo send delay is between 0 and %s seconds.", MAX_UNDO_DELAY))
