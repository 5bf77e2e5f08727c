from odoo import fields, models


class VtWebmailSnippet(models.Model):
    """A piece of text a user keeps for their mail ("Thanks, I will come back to you..."),
    inserted from the composer."""

    _name = "vt_webmail.snippet"
    _description = "Webmail: a saved snippet"
    _order = "name, id"

    name = fields.Char(required=True)
    body_html = fields.Html(string="Text", sanitize_style=True)
    user_id = fields.Many2one("res.users", required=True, index=True, ondelete="cascade",
                              default=lambda self: self.env.user, readonly=True)
