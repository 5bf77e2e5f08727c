from odoo import api, fields, models

from ..compat import Constraint
from ..core import addresses


class VtWebmailQualifyMemory(models.Model):
    """The record a user chose in Qualify for a sender, instead of the rules' choice: shown as
    a suggestion when they qualify that sender's next mail (the rules stay as they are, and
    keep the first place). One row per user and sender address; each user sees their own."""

    _name = "vt_webmail.qualify.memory"
    _description = "Qualify: the record chosen for a sender"
    _order = "write_date desc, id desc"
    _rec_name = "email"

    user_id = fields.Many2one("res.users", required=True, index=True, ondelete="cascade",
                              default=lambda self: self.env.user, readonly=True)
    email = fields.Char(string="Sender address", required=True, readonly=True)
    res_model = fields.Char(string="Model", required=True, readonly=True)
    res_id = fields.Many2oneReference(string="Record", model_field="res_model", required=True,
                                      readonly=True)

    _user_email_unique = Constraint("UNIQUE(user_id, email)",
                                    "One record is remembered per sender.")

    @api.model
    def _remember(self, address, target):
        """Remember ``target`` as the current user's choice for ``address`` (replacing the
        one before)."""
        email = addresses.normalize(address or "", strict=True)
        if not email:
            return self.browse()
        values = {"res_model": target._name, "res_id": target.id}
        memory = self.search([("user_id", "=", self.env.user.id), ("email", "=", email)],
                             limit=1)
        if memory:
            memory.write(values)
            return memory
        return self.create(dict(values, email=email, user_id=self.env.user.id))

    @api.model
    def _recall(self, user, address):
        """``user``'s remembered choice for ``address`` (an empty recordset: none)."""
        email = addresses.normalize(address or "", strict=True)
        if not email:
            return self.browse()
        return self.search([("user_id", "=", user.id), ("email", "=", email)], limit=1)
