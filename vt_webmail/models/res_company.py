from odoo import fields, models


class ResCompany(models.Model):
    _inherit = "res.company"

    vt_webmail_signature_html = fields.Html(
        string="Webmail signature", sanitize_style=True,
        help="The signature of the mail written from accounts without one of their own.")
