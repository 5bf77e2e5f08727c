"""One inbox for all accounts: two accounts of one user on one Dovecot, their mail in one list,
each action sent to its own mailbox (checked by another IMAP client)."""

from odoo.exceptions import UserError
from odoo.tests import tagged
from odoo.tests.common import TransactionCase

from .common import WebmailCase


@tagged("post_install", "-at_install", "vt_webmail", "vt_webmail_unified")
class TestUnifiedInbox(WebmailCase, TransactionCase):

    def setUp(self):
        super().setUp()
        self.team_login = self.add_mailbox()
        self.seed(["Mine 1", "Mine 2"])
        self.seed(["Team 1"], login=self.team_login)
        self.seed(["Mine in Projects"], folder="Archive")
        self.mine = self.make_account(is_default=True)
        self.team = self.make_account(login=self.team_login)
        # someone else's account is never listed
        self.theirs = self.make_account(user=self.other_user, login=self.other_mailbox_login)
        self.seed(["Theirs"], login=self.other_mailbox_login)
        for account in (self.mine, self.team, self.theirs):
            account.action_refresh()

    def listed(self, kind):
        action = self.env["vt_webmail.account"].with_user(self.user).action_open_unified(kind)
        Message = self.env["vt_webmail.message"].with_user(self.user).with_context(
            **action["context"])
        return action, Message.search(action["domain"])

    def test_all_inboxes_lists_every_account_and_says_which(self):
        action, mails = self.listed("inbox")
        self.assertEqual(action["res_model"], "vt_webmail.message")
        self.assertEqual(action["context"]["vt_webmail_unified"], "inbox")
        self.assertNotIn("vt_webmail_account_id", action["context"])
        self.assertEqual(sorted(mails.mapped("subject")), ["Mine 1", "Mine 2", "Team 1"])
        self.assertEqual({m.subject: m.account_id for m in mails}["Team 1"], self.team)
        # the list shows the account column in these lists only
        arch = self.env["vt_webmail.message"].with_user(self.user).get_views(
            [[False, "list"]])["views"]["list"]["arch"]
        self.assertIn('name="account_id"', arch)
        self.assertIn("vt_webmail_unified", arch)
        # the folder panel lists one account's folders: not in the unified search view
        search = self.env["ir.ui.view"].browse(action["search_view_id"][0])
        self.assertNotIn("searchpanel", self.env["vt_webmail.message"].get_views(
            [[search.id, "search"]])["views"]["search"]["arch"])
        # the menus run the same
        for xmlid in ("vt_webmail_message_action_all_inboxes",
                      "vt_webmail_message_action_all_unread",
                      "vt_webmail_message_action_all_flagged"):
            ran = self.env.ref(f"vt_webmail.{xmlid}").with_user(self.user).run()
            self.assertIn("vt_webmail_unified", ran["context"])
        with self.assertRaises(UserError):
            self.env["vt_webmail.account"].with_user(self.user).action_open_unified("sent")

    def test_unread_and_flagged_across_accounts_and_folders(self):
        _action, unread = self.listed("unread")
        self.assertEqual(sorted(unread.mapped("subject")),
                         ["Mine 1", "Mine 2", "Mine in Projects", "Team 1"])
        unread.filtered(lambda m: m.subject == "Mine 1").action_mark_read()
        _action, unread = self.listed("unread")
        self.assertNotIn("Mine 1", unread.mapped("subject"))
        _action, flagged = self.listed("flagged")
        self.assertFalse(flagged)
        _action, inbox = self.listed("inbox")
        inbox.filtered(lambda m: m.subject in ("Mine 2", "Team 1")).action_flag()
        _action, flagged = self.listed("flagged")
        self.assertEqual(sorted(flagged.mapped("subject")), ["Mine 2", "Team 1"])

    def test_actions_on_a_mixed_selection_go_to_each_server(self):
        _action, inbox = self.listed("inbox")
        self.assertEqual(len(inbox.account_id), 2)
        inbox.action_flag()
        for login in (self.mailbox_login, self.team_login):
            flags = [f for f, _raw in self.server_messages(login=login).values()]
            self.assertTrue(flags and all("\\Flagged" in f for f in flags), login)
        # archive one mail of each account: each lands in its own account's Archive
        picked = inbox.filtered(lambda m: m.subject in ("Mine 1", "Team 1"))
        picked.action_archive_mail()
        mine_archive = [raw for _f, raw in self.server_messages("Archive").values()]
        team_archive = [raw for _f, raw in
                        self.server_messages("Archive", login=self.team_login).values()]
        self.assertEqual(sum(b"Subject: Mine 1" in raw for raw in mine_archive), 1)
        self.assertFalse(any(b"Team 1" in raw for raw in mine_archive))
        self.assertEqual([b"Subject: Team 1" in raw for raw in team_archive], [True])
        # delete the rest: each to its own Trash
        _action, inbox = self.listed("inbox")
        self.assertEqual(inbox.mapped("subject"), ["Mine 2"])
        inbox.action_delete()
        self.assertFalse(self.server_messages())
        self.assertEqual(len(self.server_messages("Trash")), 1)
        self.assertFalse(self.server_messages("Trash", login=self.team_login))
