"""The pool of logged-in sessions and the bodies a refresh fetches ahead, as a reader meets
them: against a real Dovecot over TLS, whose log counts the logins."""

from odoo.tests import tagged
from odoo.tests.common import TransactionCase

from ..models.vt_webmail_account_imap import POOL
from .common import WebmailCase, raw_mail
from .test_pure_reads import LoginCounting


def dated_mail(day, subject, body="Hello."):
    """A small text mail dated the ``day``-th of November 2026 (the newest comes first)."""
    return raw_mail(subject, body=body).replace(
        b"Date: Mon, 02 Nov 2026", f"Date: {day:02d} Nov 2026".encode())


@tagged("post_install", "-at_install", "vt_webmail", "vt_webmail_reads")
class TestImapPool(LoginCounting, WebmailCase, TransactionCase):

    imap_pool_idle_seconds = 60
    prefetch_bodies = 2

    def synced(self, *raws):
        for raw in raws:
            self.imap_server.append(self.mailbox_login, "INBOX", raw)
        account = self.make_account().with_user(self.user)
        self.addCleanup(POOL.clear)
        self.assertFalse(account.action_refresh()["error"])
        return account, self.messages(account).with_user(self.user).sorted("uid")

    def test_opening_after_a_refresh_needs_no_login(self):
        _account, (oldest, middle, newest) = self.synced(
            *(dated_mail(n + 1, f"mail {n}", body=f"Body {n}.") for n in range(3)))
        # the refresh fetched the two newest bodies ahead (they are small); not the oldest
        self.assertEqual([m.body_state for m in (oldest, middle, newest)],
                         ["none", "done", "done"])
        self.assertFalse(middle.is_seen, "fetched ahead with BODY.PEEK: still unread")
        self.assertIn("Body 2.", str(newest.body_html))
        folder = newest.folder_id.sudo()
        self.assertEqual(folder.unread_count, 3)
        before = self.logins()
        # its body is kept: opening it only sets \\Seen, in the refresh's pooled session
        newest.action_open()
        # a body never fetched: fetched in that session too
        oldest.action_open()
        self.assertLogins(before, 0)
        self.assertTrue(newest.is_seen and oldest.is_seen)
        # the folder's unread count follows by difference (no recount of the folder)
        self.assertEqual(folder.unread_count, 1)
        self.assertEqual(folder.message_count, 3)
        self.assertIn("Body 0.", str(oldest.body_html))
        self.assertEqual(self.server_messages()[oldest.uid][0], ("\\Seen",))

    def test_changed_settings_log_in_again(self):
        account, (first, second) = self.synced(dated_mail(1, "one"), dated_mail(2, "two"))
        self.assertTrue(len(POOL))
        before = self.logins()
        first.action_mark_read()
        self.assertLogins(before, 0)
        # a setting of the connection changed: the pooled sessions are logged out
        account.write({"verify_certificate": True, "login": account.login})
        self.assertFalse(len(POOL))
        before = self.logins()
        second.action_mark_read()
        self.assertLogins(before, 1)

    def test_large_bodies_are_left_to_their_opening(self):
        self.env["ir.config_parameter"].sudo().set_param("vt_webmail.prefetch_max_size", "600")
        _account, (small, large) = self.synced(dated_mail(1, "small"),
                                               dated_mail(2, "large", body="x" * 2000))
        self.assertEqual((small.body_state, large.body_state), ("done", "none"))
        large.action_open()
        self.assertEqual(large.body_state, "done")
