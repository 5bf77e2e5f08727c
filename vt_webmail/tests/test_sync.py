import datetime
import imaplib
from unittest.mock import patch

from odoo import fields
from odoo.sql_db import db_connect
from odoo.tests import tagged
from odoo.tests.common import TransactionCase
from odoo.tools import mute_logger

from ..core.mime import parse_list_headers
from ..core.sync import MessageSummary
from ..models.vt_webmail_account_sync import SYNC_LOCK_CLASS
from ..tools.sync_store import OdooSyncStore
from .common import WebmailCase, on_every_imap_server, raw_mail


@tagged("post_install", "-at_install", "vt_webmail", "vt_webmail_sync")
class TestSync(WebmailCase, TransactionCase):

    def test_each_security_mode_syncs(self):
        for security in ("ssl", "starttls", "none"):
            with self.subTest(security=security):
                login = self.add_mailbox()
                self.seed(["one", "two"], login=login)
                account = self.make_account(login=login, security=security)
                result = account.action_refresh()
                self.assertEqual((result["new"], result["error"]), (2, False))
                self.assertEqual(sorted(self.messages(account).mapped("subject")),
                                 ["one", "two"])
                self.assertTrue(account.last_sync_at)

    def test_folders_and_roles(self):
        client = self.imap()
        client.create_folder(self.folder("Clients/ACME"))
        client.logout()
        account = self.make_account()
        account.action_refresh()
        folders = {f.name: f for f in account.folder_ids}
        self.assertEqual(folders["INBOX"].role, "inbox")
        self.assertEqual(folders[self.folder("Sent")].role, "sent")
        self.assertTrue(folders["INBOX"].is_synced)
        self.assertTrue(folders[self.folder("Trash")].is_synced)
        self.assertFalse(folders[self.folder("Clients/ACME")].is_synced)
        self.assertEqual(folders[self.folder("Clients/ACME")].label, "ACME")
        self.assertEqual(account.folder_ids[0].role, "inbox")  # the inbox comes first

    def test_initial_then_incremental_then_no_change(self):
        self.seed([f"mail {i}" for i in range(7)])
        account = self.make_account()
        self.assertEqual(account.action_refresh()["new"], 7)
        inbox = account.folder_ids.filtered(lambda f: f.role == "inbox")
        self.assertEqual((inbox.message_count, inbox.unread_count), (7, 7))
        self.assertEqual(inbox.display_name, "Inbox")  # the count has a field of its own
        self.seed(["late one", "late two"])
        self.assertEqual(account.action_refresh()["new"], 2)
        state = (inbox.uidvalidity, inbox.uidnext, inbox.highestmodseq, inbox.write_date)
        result = account.action_refresh()
        self.assertEqual((result["new"], result["changed"], result["removed"]), (0, 0, 0))
        inbox.invalidate_recordset()
        self.assertEqual((inbox.uidvalidity, inbox.uidnext, inbox.highestmodseq,
                          inbox.write_date), state, "a no-change refresh writes no folder")
        self.assertEqual(len(self.messages(account)), 9)

    def test_flag_change_and_expunge_by_another_client(self):
        uids = self.seed(["a", "b", "c"])
        account = self.make_account()
        account.action_refresh()
        client = self.imap()
        client.select_folder("INBOX")
        client.add_flags([uids[0]], [b"\\Seen", b"\\Flagged"])
        client.delete_messages([uids[1]])
        client.expunge()
        client.logout()
        result = account.action_refresh()
        self.assertEqual((result["changed"], result["removed"]), (1, 1))
        messages = self.messages(account)
        self.assertEqual(sorted(messages.mapped("subject")), ["a", "c"])
        first = messages.filtered(lambda m: m.uid == uids[0])
        self.assertTrue(first.is_seen and first.is_flagged)

    def test_uidvalidity_reset_no_duplicates(self):
        client = self.imap()
        client.create_folder(self.folder("Projects"))
        client.logout()
        self.seed(["p1", "p2"], folder="Projects")
        account = self.make_account()
        account.action_refresh()
        projects = account.folder_ids.filtered(lambda f: f.name == self.folder("Projects"))
        projects.with_user(self.user).is_synced = True
        account.action_refresh()
        old_validity = projects.uidvalidity
        self.assertEqual(len(self.messages(account, "Projects")), 2)
        client = self.imap()
        client.delete_folder(self.folder("Projects"))
        client.create_folder(self.folder("Projects"))
        client.logout()
        self.seed(["p1", "p2", "p3"], folder="Projects")
        account.action_refresh()
        messages = self.messages(account, "Projects")
        self.assertNotEqual(projects.uidvalidity, old_validity)
        self.assertEqual(sorted(messages.mapped("subject")), ["p1", "p2", "p3"])
        self.assertEqual(set(messages.mapped("uidvalidity")), {projects.uidvalidity})

    def test_refresh_is_exclusive_across_connections(self):
        """A refresh running elsewhere (another worker, another server) holds the account's
        advisory lock on its own connection: this one returns at once, saying so."""
        self.seed(["x"])
        account = self.make_account()
        with db_connect(self.env.cr.dbname).cursor() as other:
            other.execute("SELECT pg_advisory_lock(%s, %s)", (SYNC_LOCK_CLASS, account.id))
            result = account.action_refresh()
            other.execute("SELECT pg_advisory_unlock(%s, %s)", (SYNC_LOCK_CLASS, account.id))
        self.assertTrue(result["running"])
        self.assertIn("already running", result["error"])
        self.assertFalse(self.messages(account))
        self.assertEqual(account.action_refresh()["new"], 1)

    def test_refreshing_again_never_duplicates(self):
        # Refreshes racing in real processes are tested in tests/processes (Odoo's test mode
        # runs every cursor in one transaction: threads here could not race).
        self.seed([f"m{i}" for i in range(30)])
        account = self.make_account()
        results = [account.action_refresh() for _ in range(2)]
        self.env.invalidate_all()  # the refreshes ran on cursors of their own
        self.assertEqual(sum(result["new"] for result in results), 30)
        messages = self.messages(account)
        self.assertEqual(len(messages), 30)
        self.assertEqual(len(set(messages.mapped("uid"))), 30)
        # repeating a batch already stored is harmless (ON CONFLICT DO NOTHING)
        inbox = account.folder_ids.filtered(lambda f: f.role == "inbox")
        summary = MessageSummary(uid=messages[0].uid, flags=(), internal_date=None, size=1,
                                 has_attachments=False, subject="dup")
        with self.registry.cursor() as cr:
            folder = inbox.with_env(inbox.env(cr=cr, su=True))
            OdooSyncStore(folder).add("INBOX", folder.uidvalidity, [summary])
        self.assertEqual(len(self.messages(account)), 30)

    def test_wrong_password_recorded_others_go_on(self):
        self.seed(["for the good account"])
        good = self.make_account()
        bad_login = self.add_mailbox()
        self.seed(["never seen"], login=bad_login)
        bad = self.make_account(user=self.other_user, login=bad_login, password="wrong")
        with mute_logger("odoo.addons.vt_webmail.models.vt_webmail_account_sync"):
            self.env["vt_webmail.account"]._cron_refresh()
        self.assertIn("rejected the user name or password", bad.last_error)
        self.assertFalse(bad.last_sync_at)
        self.assertTrue(bad.last_attempt_at)
        self.assertFalse(good.last_error)
        self.assertEqual(self.messages(good).mapped("subject"), ["for the good account"])

    def test_bad_certificate_recorded(self):
        account = self.make_account(ca_certificate=self.imap_server.pki.unknown_ca_path.read_text())
        result = account.action_refresh()
        self.assertIn("is not trusted", result["error"])
        self.assertEqual(account.last_error, result["error"])
        account.write({"imap_host": "127.0.0.1", "ca_certificate":
                       self.imap_server.ca_path.read_text()})
        self.assertIn("not valid for the name", account.action_refresh()["error"])
        account.verify_certificate = False
        self.assertFalse(account.action_refresh()["error"])
        self.assertFalse(account.last_error)

    def test_server_stopped_mid_sync_then_next_refresh_completes(self):
        self.seed([f"m{i}" for i in range(25)])
        account = self.make_account()
        real_add = OdooSyncStore.add
        batches = []

        def add_then_die(store, folder, uidvalidity, summaries):
            real_add(store, folder, uidvalidity, summaries)
            batches.append(len(summaries))
            if len(batches) == 2:
                self.imap_server.kill()

        with patch("odoo.addons.vt_webmail.core.sync.FIRST_BATCH_SIZE", 5), \
                patch("odoo.addons.vt_webmail.core.sync.DEFAULT_BATCH_SIZE", 5), \
                patch.object(OdooSyncStore, "add", add_then_die), \
                mute_logger("odoo.addons.vt_webmail.models.vt_webmail_account_sync"):
            result = account.with_context().action_refresh()
        self.addCleanup(self.imap_server.start)
        self.assertIn("connection", result["error"].lower())
        # the two stored batches are kept, and the one fetched before the server died, if
        # it arrived whole while the second was being written (the fetch/store pipeline)
        self.assertIn(len(self.messages(account)), (10, 15), "the committed batches are kept")
        self.imap_server.start()
        result = account.action_refresh()
        self.assertFalse(result["error"])
        messages = self.messages(account)
        self.assertEqual(len(messages), 25)
        self.assertEqual(len(set(messages.mapped("uid"))), 25)

    def test_scheduled_action_honours_interval(self):
        due = self.make_account()
        not_due = self.make_account(user=self.other_user, login=self.other_mailbox_login)
        now = fields.Datetime.now()
        due.sudo().write({"refresh_interval": 5,
                          "last_attempt_at": now - datetime.timedelta(minutes=6)})
        not_due.sudo().write({"refresh_interval": 5,
                              "last_attempt_at": now - datetime.timedelta(minutes=2)})
        self.env.ref("vt_webmail.ir_cron_refresh_accounts").method_direct_trigger()
        self.assertGreater(due.last_attempt_at, now - datetime.timedelta(minutes=1))
        self.assertEqual(not_due.last_attempt_at, now - datetime.timedelta(minutes=2))
        not_due.sudo().refresh_interval = 1
        self.env["vt_webmail.account"]._cron_refresh()
        self.assertGreater(not_due.last_attempt_at, now - datetime.timedelta(minutes=1))

    def test_sync_changes_no_flag_on_the_server(self):
        uids = self.seed(["unread"])
        account = self.make_account()
        account.action_refresh()
        message = self.messages(account)
        message.with_user(self.user).action_fetch_body()
        message.with_user(self.user).read(["subject", "email_from", "body_html"])
        client = self.imap()
        client.select_folder("INBOX", readonly=True)
        flags = client.get_flags(uids)[uids[0]]
        client.logout()
        self.assertNotIn(b"\\Seen", flags)
        self.assertFalse(message.is_seen)

    def test_broken_headers_keep_the_mail_with_a_note(self):
        self.imap_server.append(self.mailbox_login, "INBOX", (
            b"From: S\xe9bastien <seb@example.fr>\r\nTo: undisclosed-recipients:;\r\n"
            b"Subject: =?utf-8?q?caf=C3=A9?=\r\nMessage-Id: <>\r\nDate: garbage\r\n\r\nbody\r\n"
        ))
        self.imap_server.append(self.mailbox_login, "INBOX", raw_mail("fine"))
        account = self.make_account()
        self.assertEqual(account.action_refresh()["new"], 2)
        broken = self.messages(account).filtered(lambda m: m.subject == "caf\xe9")
        self.assertEqual(broken.email_from, "S\xe9bastien <seb@example.fr>")
        self.assertEqual(broken.email_from_normalized, "seb@example.fr")
        self.assertFalse(broken.message_id)
        self.assertIn("date", broken.parse_note)
        self.assertTrue(broken.date)

    def test_nul_characters_never_block_the_sync(self):
        # RFC 3501 forbids NUL in a message; each server deals with one its own way: Dovecot
        # turns it into 0x80, Courier drops it, Cyrus refuses the APPEND
        raw = (b"From: Nul <nul@example.com>\r\nSubject: before\x00after\r\n"
               b"Content-Type: text/html\r\n\r\n<p>body\x00text</p>\r\n")
        try:
            uid = self.imap_server.append(self.mailbox_login, "INBOX", raw)
        except imaplib.IMAP4.error:
            uid = None
        account = self.make_account()
        self.assertEqual(account.action_refresh(), {
            "new": 1 if uid else 0, "changed": 0, "removed": 0, "running": False,
            "error": False})
        if uid:
            message = self.messages(account)
            # what the engine makes of the header the server kept, whatever it kept
            client = self.imap()
            client.select_folder("INBOX", readonly=True)
            kept = client.fetch([uid], ["BODY.PEEK[HEADER]"])[uid][b"BODY[HEADER]"]
            client.logout()
            # (the cache drops NUL: PostgreSQL refuses it in text)
            self.assertEqual(message.subject,
                             parse_list_headers(kept).subject.replace("\x00", ""))
            self.assertEqual(message.subject.replace("\u20ac", ""), "beforeafter")
            message.with_user(self.user).action_fetch_body()
            self.assertIn("body", str(message.with_user(self.user).body_html))
        # ... a server may pass one through: PostgreSQL refuses NUL in text, the store drops it
        inbox = account.folder_ids.filtered(lambda f: f.role == "inbox")
        summary = MessageSummary(uid=(uid or 0) + 1, flags=(), internal_date=None, size=9,
                                 has_attachments=False, subject="a\x00b",
                                 email_from="x\x00@example.com")
        with self.registry.cursor() as cr:
            folder = inbox.with_env(inbox.env(cr=cr, su=True))
            OdooSyncStore(folder).add("INBOX", folder.uidvalidity, [summary])
        self.env.invalidate_all()
        self.assertIn("ab", self.messages(account).mapped("subject"))

    def test_users_see_only_their_mail(self):
        self.seed(["mine"])
        self.seed(["theirs"], login=self.other_mailbox_login)
        mine = self.make_account()
        theirs = self.make_account(user=self.other_user, login=self.other_mailbox_login)
        mine.action_refresh()
        theirs.with_user(self.other_user).action_refresh()
        Message = self.env["vt_webmail.message"].with_user(self.user)
        self.assertEqual(Message.search([]).mapped("subject"), ["mine"])
        Folder = self.env["vt_webmail.folder"].with_user(self.user)
        self.assertEqual(Folder.search([]).account_id, mine)
        admin = self.env.ref("base.user_admin")
        self.assertFalse(self.env["vt_webmail.message"].with_user(admin).search([]))


# the same tests against Cyrus IMAP and Courier-IMAP
TestSyncCyrus, TestSyncCourier = on_every_imap_server(TestSync)
