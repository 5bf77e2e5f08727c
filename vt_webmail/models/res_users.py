from odoo import fields, models


class ResUsers(models.Model):
    _inherit = "res.users"

    vt_webmail_layout = fields.Selection(
        [("list", "List, then the mail"), ("pane", "Reading pane")],
        string="Webmail layout", default="list", required=True,
        help="How Webmail shows mail: the list, and a mail in its place when opened; or the "
             "list and the opened mail side by side.")

    @property
    def SELF_READABLE_FIELDS(self):
        return super().SELF_READABLE_FIELDS + ["vt_webmail_layout"]

    @property
    def SELF_WRITEABLE_FIELDS(self):
        return super().SELF_WRITEABLE_FIELDS + ["vt_webmail_layout"]
