from odoo.tests import tagged
from odoo.tests.common import TransactionCase

from ..testing import samples
from .common import WebmailCase, on_every_imap_server


@tagged("post_install", "-at_install", "vt_webmail", "vt_webmail_sync")
class TestBodyCache(WebmailCase, TransactionCase):
    """body_html: what is kept, never fetched by a read; action_fetch_body fetches it with
    BODY.PEEK, action_open fetches it and marks the mail read."""

    def _synced(self, *raws):
        uids = [self.imap_server.append(self.mailbox_login, "INBOX", raw) for raw in raws]
        account = self.make_account()
        account.action_refresh()
        messages = self.messages(account).with_user(self.user)
        by_uid = {message.uid: message for message in messages}
        return account, [by_uid[uid] for uid in uids]

    def _server_flags(self, uid):
        client = self.imap()
        try:
            client.select_folder("INBOX", readonly=True)
            return client.get_flags([uid])[uid]
        finally:
            client.logout()

    def test_a_read_never_fetches(self):
        _account, (message,) = self._synced(samples.with_attachments())
        self.imap_server.stop()
        self.addCleanup(self.imap_server.start)
        row = message.read(["body_html", "attachment_ids", "file_attachment_ids"])[0]
        self.assertEqual((row["body_html"], row["attachment_ids"]), (False, []))
        self.assertEqual(message.body_state, "none")
        self.assertFalse(message.body_notice, "nothing was tried")

    def test_fetch_body_keeps_it_then_cache_serves_without_server(self):
        _account, (message,) = self._synced(samples.with_attachments())
        self.assertEqual(message.body_state, "none")
        self.assertIs(message.action_fetch_body(), True)
        body = message.read(["body_html"])[0]["body_html"]
        self.assertTrue(body)
        self.assertEqual(message.body_state, "done")
        self.assertNotIn(b"\\Seen", self._server_flags(message.uid))
        self.assertFalse(message.is_seen)
        names = sorted(message.attachment_ids.mapped("name"))
        self.assertTrue(names, "attachments are kept with the message")
        self.imap_server.stop()
        self.addCleanup(self.imap_server.start)
        message.invalidate_recordset()
        self.assertEqual(message.read(["body_html"])[0]["body_html"], body)
        self.assertEqual(sorted(message.attachment_ids.mapped("name")), names)
        self.assertIs(message.action_fetch_body(), True, "nothing to fetch: no connection")

    def test_inline_image_points_at_the_owner_route(self):
        _account, (message,) = self._synced(samples.html_with_inline_image())
        message.action_fetch_body()
        body = str(message.body_html)
        self.assertIn(f"/vt_webmail/part/{message.id}/", body)
        self.assertNotIn("cid:", body)

    def test_hostile_html_is_defused(self):
        _account, (message,) = self._synced(samples.hostile_html())
        message.action_fetch_body()
        body = str(message.body_html).lower()
        for marker in ("<script", "onerror", "onload", "<iframe", "<form", "javascript:",
                       "<object", "<embed"):
            self.assertNotIn(marker, body)
        self.assertTrue(message.has_remote_images)

    def test_broken_mime_and_charsets_never_raise(self):
        _account, messages = self._synced(samples.broken_mime(), samples.non_utf8())
        broken, latin = messages
        (broken | latin).action_fetch_body()
        self.assertTrue(broken.body_html)
        self.assertTrue(broken.parse_note)
        # said at sync, said again when the body was read: kept once
        notes = broken.parse_note.split("; ")
        self.assertEqual(len(notes), len(set(notes)), broken.parse_note)
        self.assertIn("\xe9", str(latin.body_html))  # decoded, not mojibake

    def test_message_gone_from_the_server_reads_as_a_notice(self):
        _account, (message,) = self._synced(samples.plain_text())
        client = self.imap()
        client.select_folder("INBOX")
        client.delete_messages([message.uid])
        client.expunge()
        client.logout()
        message.action_fetch_body()
        self.assertIn("no longer on the server", str(message.body_html))
        self.assertEqual(message.body_state, "error")

    def test_unreachable_server_reads_as_a_notice_and_retries_later(self):
        account, (message,) = self._synced(samples.plain_text())
        account.sudo().password = "wrong"
        message.action_open()  # never raises: the mail stays readable from the cache
        self.assertIn("rejected the user name or password", str(message.body_html))
        self.assertEqual(message.body_state, "none", "a passing failure is not kept")
        self.assertFalse(message.is_seen)
        account.sudo().password = self.imap_server.users[self.mailbox_login]
        message.action_open()
        self.assertNotIn("rejected", str(message.body_html))
        self.assertEqual(message.body_state, "done")
        self.assertFalse(message.body_notice)
        self.assertTrue(message.is_seen)

    def test_reads_never_mark_read_opening_does(self):
        _account, (message,) = self._synced(samples.plain_text())
        ui = message.with_context(vt_webmail_mark_read=True)
        rows = ui.web_search_read([("id", "=", message.id)], {"subject": {}, "is_seen": {}})
        self.assertFalse(rows["records"][0]["is_seen"])
        ui.web_read({"subject": {}, "body_html": {}})  # the form's read, in the Webmail context
        message.read(["subject", "body_html"])  # RPC read
        message.action_fetch_body()
        self.assertNotIn(b"\\Seen", self._server_flags(message.uid))
        self.assertFalse(message.is_seen)
        ui.action_open()  # what the form calls when it shows the mail
        self.assertIn(b"\\Seen", self._server_flags(message.uid))
        self.assertTrue(message.is_seen)


# the same tests against Cyrus IMAP and Courier-IMAP
TestBodyCacheCyrus, TestBodyCacheCourier = on_every_imap_server(TestBodyCache)
