from odoo import models
from odoo.exceptions import UserError


class VtWebmailMessage(models.Model):
    _inherit = "vt_webmail.message"

    def action_archive_mail(self):
        """Move these mails to their account's Archive folder (its SPECIAL-USE ``\\Archive``
        folder, or the one named so); each account's mail goes to its own server.

        (Not ``action_archive``: Odoo's own one sets ``active``.)
        """
        self._check_owner()
        # grouped first: moving a group forgets its mails, which the next group must not read
        groups = [(account, self.filtered(lambda m, account=account: m.account_id == account))
                  for account in self.account_id]
        archives = {}
        for account, _mails in groups:
            archive = account.folder_ids.filtered(lambda f: f.role == "archive")[:1]
            if not archive:
                raise UserError(self.env._(
                    "The account %s has no Archive folder: create one on the server, or use "
                    "Move to.", account.display_name))
            archives[account] = archive
        for account, mails in groups:
            mails.action_move(archives[account].id)
        return True
