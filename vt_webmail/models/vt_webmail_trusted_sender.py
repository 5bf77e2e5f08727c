from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..compat import Constraint
from ..core import addresses


class VtWebmailTrustedSender(models.Model):
    """A sender whose remote images a user always wants to see (one row per user and address).

    Each user has their own list: a record rule keeps it private, and the address is stored
    normalised so ``"Alice <ALICE@example.com>"`` and ``alice@example.com`` are one sender.
    """

    _name = "vt_webmail.trusted.sender"
    _description = "Webmail trusted sender"
    _order = "email"
    _rec_name = "email"

    user_id = fields.Many2one("res.users", required=True, index=True, ondelete="cascade",
                              default=lambda self: self.env.user, readonly=True)
    email = fields.Char(string="Sender address", required=True,
                        help="Remote images in mail from this address are shown at once.")

    _user_email_unique = Constraint("UNIQUE(user_id, email)", "This sender is trusted already.")

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            vals["email"] = self._normalized(vals.get("email"))
            # nobody trusts a sender on someone else's behalf
            vals["user_id"] = self.env.user.id if not self.env.su else \
                vals.get("user_id") or self.env.user.id
        return super().create(vals_list)

    def write(self, vals):
        if "email" in vals:
            vals["email"] = self._normalized(vals["email"])
        if "user_id" in vals and not self.env.su:
            vals.pop("user_id")
        return super().write(vals)

    @api.model
    def _normalized(self, email):
        # the form core.mime gives email_from_normalized, which it is compared with
        normalized = addresses.normalize(email or "", strict=True)
        if not normalized:
            raise ValidationError(self.env._("%s is not an email address.", email or ""))
        return normalized

    @api.model
    def _trusted_pairs(self, users, emails):
        """``{(user id, address)}`` among ``users`` x ``emails`` that are trusted.

        sudo: only tells which of the given owners trust which of the given addresses, to
        choose how *their own* mail is shown; nothing else of the list is returned.
        """
        emails = [email for email in emails if email]
        if not users or not emails:
            return set()
        rows = self.sudo().search_read(
            [("user_id", "in", users.ids), ("email", "in", emails)], ["user_id", "email"])
        return {(row["user_id"][0], row["email"]) for row in rows}
