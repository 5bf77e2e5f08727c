from odoo import fields, models


class MailMessage(models.Model):
    _inherit = "mail.message"

    vt_webmail_qualified = fields.Boolean(
        string="Logged by Qualify", readonly=True, copy=False,
        help="Webmail's Qualify created this entry: un-qualifying the mail removes it. An "
             "entry that was in the history before (the same mail, received by Odoo) stays.",
    )
