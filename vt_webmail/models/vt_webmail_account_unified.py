"""One inbox for all accounts: "All inboxes", "All unread", "All flagged" across the user's
accounts, each mail saying which account it came from. The actions of the list (flags, move,
archive, delete) already go to each mail's own server (``vt_webmail.message._by_folder``)."""

from odoo import api, models
from odoo.exceptions import UserError

#: kind -> the folders it reads and the mails it keeps
UNIFIED_KINDS = ("inbox", "unread", "flagged")
#: folders "All unread" and "All flagged" leave out
LEFT_OUT_ROLES = ("trash", "junk", "drafts")


class VtWebmailAccount(models.Model):
    _inherit = "vt_webmail.account"

    @api.model
    def action_open_unified(self, kind="inbox"):
        """Open the mail of all the user's active accounts in one list (part of the XML-RPC
        API).

        :param kind: ``"inbox"`` (every account's inbox), ``"unread"`` or ``"flagged"`` (the
            unread or flagged mail of every synced folder but Trash, Junk and Drafts)
        :returns: a window action on ``vt_webmail.message`` (domain as described, context
            ``vt_webmail_unified`` = ``kind``, which shows the Account column), or the form to
            add an account when the user has none
        """
        if kind not in UNIFIED_KINDS:
            raise UserError(self.env._("Unknown unified view: %s", kind))
        accounts = self.search([("user_id", "=", self.env.user.id), ("active", "=", True)],
                               order="is_default desc, id")
        if not accounts:
            return self.action_open_webmail()
        for account in accounts.filtered(lambda a: not a.folder_ids):
            # never refreshed yet (a new account): list its folders and read its inbox now
            account.action_refresh()
        return self._unified_action(kind, accounts)

    @api.model
    def _unified_domain(self, kind, accounts):
        Folder = self.env["vt_webmail.folder"]
        domain = [("account_id", "in", accounts.ids)]
        if kind == "inbox":
            folders = Folder.search([("account_id", "in", accounts.ids), ("role", "=", "inbox")])
            return domain + [("folder_id", "in", folders.ids)]
        folders = Folder.search([("account_id", "in", accounts.ids),
                                 ("role", "not in", LEFT_OUT_ROLES)])
        # ('role', 'not in', ...) leaves out the folders with no role on Odoo 18: add them
        folders |= Folder.search([("account_id", "in", accounts.ids), ("role", "=", False)])
        domain += [("folder_id", "in", folders.ids)]
        if kind == "unread":
            return domain + [("is_seen", "=", False)]
        return domain + [("is_flagged", "=", True)]

    @api.model
    def _unified_action(self, kind, accounts):
        names = {"inbox": self.env._("All inboxes"), "unread": self.env._("All unread"),
                 "flagged": self.env._("All flagged")}
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "vt_webmail.vt_webmail_message_action")
        action.update({
            "name": names[kind],
            "display_name": names[kind],
            "path": f"webmail-{kind}",
            "domain": self._unified_domain(kind, accounts),
            "search_view_id": [self.env.ref(
                "vt_webmail.vt_webmail_message_view_search_unified").id, "search"],
            "context": {"vt_webmail_mark_read": True, "vt_webmail_unified": kind},
            "limit": accounts[:1].emails_per_page,
        })
        return action
