"""Reads are pure, and a request logs in once: against a real Dovecot, whose log counts the
logins, and a real SMTP server.

- No read path writes or connects: the Webmail list's and form's reads run on a read-only
  cursor (PostgreSQL refuses any write there) while the IMAP server is down, and Dovecot logs
  no login.
- ``action_open`` (what the form calls) fetches a never-opened mail's body and sets \\Seen with
  one login; opening a reply (body + Reply-To) one; sending that reply (Sent copy +
  \\Answered) one.
"""

import time
from unittest.mock import patch

from odoo import api
from odoo.exceptions import UserError
from odoo.tests import tagged
from odoo.tests.common import HttpCase, TransactionCase

from ..core.imap_session import ImapSession
from ..testing import samples
from .common import WebmailCase, raw_mail


class LoginCounting:
    """Dovecot's log says how many times the mailbox logged in."""

    def logins(self, expected=None):
        """Logins of the test mailbox so far (waiting a moment for ``expected``)."""
        return self.imap_server.logins(self.mailbox_login, expected)

    def assertLogins(self, before, expected):
        # a moment more, so that a late extra login would be counted too
        time.sleep(0.2)
        self.assertEqual(self.logins(before + expected) - before, expected)


@tagged("post_install", "-at_install", "vt_webmail", "vt_webmail_reads")
class TestOneLoginPerRequest(LoginCounting, WebmailCase, TransactionCase):

    with_smtp = True

    def synced(self, *raws, **values):
        for raw in raws:
            self.imap_server.append(self.mailbox_login, "INBOX", raw)
        account = self.make_account(**values).with_user(self.user)
        self.assertFalse(account.action_refresh()["error"])
        return account, self.messages(account).with_user(self.user).sorted("uid")

    def test_opening_a_never_opened_unread_mail_is_one_login(self):
        _account, message = self.synced(samples.with_attachments())
        self.assertEqual((message.body_state, message.is_seen), ("none", False))
        inbox = message.folder_id
        unread = inbox.unread_count
        before = self.logins()
        stores = []
        set_flags = ImapSession.set_flags

        def spy(session, *args, **kwargs):
            stores.append(args)
            return set_flags(session, *args, **kwargs)

        with patch.object(ImapSession, "set_flags", spy):
            message.with_context(vt_webmail_mark_read=True).action_open()
        self.assertLogins(before, 1)
        # the FETCH of BODY[] set \Seen on the server: no STORE
        self.assertEqual(stores, [])
        self.assertEqual((message.body_state, message.is_seen), ("done", True))
        inbox.invalidate_recordset()
        self.assertEqual(inbox.unread_count, unread - 1)
        self.assertTrue(message.attachment_ids)
        client = self.imap()
        client.select_folder("INBOX", readonly=True)
        self.assertIn(b"\\Seen", client.get_flags([message.uid])[message.uid])
        client.logout()
        # opened again: nothing to do, no login at all
        before = self.logins()
        message.action_open()
        self.assertLogins(before, 0)

    def test_opening_with_a_specification_returns_the_form_in_the_same_request(self):
        """The Webmail form opens a mail in one request: ``action_open(specification)``
        opens it, then reads it as ``web_read`` would."""
        _account, message = self.synced(samples.with_attachments())
        spec = {"subject": {}, "is_seen": {}, "body_html": {},
                "folder_id": {"fields": {"display_name": {}}}}
        self.assertEqual(message.body_state, "none")
        before = self.logins()
        result = message.with_context(vt_webmail_mark_read=True).action_open(spec)
        self.assertLogins(before, 1)
        self.assertEqual(len(result), 1)
        self.assertEqual(result[0]["id"], message.id)
        self.assertTrue(result[0]["is_seen"])
        self.assertEqual(result[0]["subject"], message.subject)
        self.assertEqual(result[0]["folder_id"]["display_name"], "Inbox")
        # the body fetched by this very call, not False (a read before the fetch)
        self.assertTrue(result[0]["body_html"])
        self.assertEqual(result, message.web_read(spec))
        # without a specification: True, as before (the XML-RPC API)
        self.assertIs(message.action_open(), True)
        with self.assertRaises(UserError):
            message.action_open(["subject"])

    def test_fetching_a_body_with_a_specification_leaves_the_flags(self):
        _account, message = self.synced(raw_mail("peek", body="Peek at this."))
        result = message.action_fetch_body({"is_seen": {}, "body_html": {}})
        self.assertFalse(result[0]["is_seen"])
        self.assertIn("Peek at this.", result[0]["body_html"])
        self.assertEqual(message.body_state, "done")

    def test_a_selection_is_one_login_per_account(self):
        _account, messages = self.synced(*(raw_mail(f"mail {n}") for n in range(3)))
        self.assertEqual(len(messages), 3)
        before = self.logins()
        messages.action_fetch_body()
        messages.action_flag()
        self.assertLogins(before, 2)  # two requests, one login each
        self.assertEqual(set(messages.mapped("body_state")), {"done"})
        before = self.logins()
        messages.action_open()
        self.assertLogins(before, 1)
        self.assertTrue(all(messages.mapped("is_seen")))

    def test_replying_is_one_login_to_open_and_one_to_send(self):
        account, message = self.synced(
            raw_mail("question", extra_headers="Reply-To: Desk <desk@example.com>\r\n"),
            **self.smtp_values())
        before = self.logins()
        action = message.action_reply()
        self.assertLogins(before, 1)  # the body and the Reply-To together
        wizard = self.env["vt_webmail.compose"].with_user(self.user).browse(action["res_id"])
        self.assertIn("desk@example.com", wizard.email_to)
        before = self.logins()
        result = account.send_mail(to=wizard.email_to, subject=wizard.subject,
                                   body_html="<p>answer</p>", reply_to_message_id=message.id)
        self.assertLogins(before, 1)  # the Sent copy and \\Answered together
        self.assertFalse(result["warning"])
        self.assertTrue(result["sent_uid"])
        self.assertTrue(message.is_answered)


@tagged("post_install", "-at_install", "vt_webmail", "vt_webmail_reads")
class TestReadsArePure(LoginCounting, WebmailCase, HttpCase):
    """The Webmail list's and form's reads, on a read-only cursor, with the IMAP server
    stopped: no write (PostgreSQL would refuse it), no login, and what is kept."""

    def view_spec(self, view_type):
        Message = self.env["vt_webmail.message"].with_user(self.user)
        views = Message.get_views([(False, view_type)])
        return {name: {} for name in views["models"]["vt_webmail.message"]["fields"]}

    def test_list_and_form_reads_on_a_read_only_cursor(self):
        self.imap_server.append(self.mailbox_login, "INBOX", samples.with_attachments())
        self.imap_server.append(self.mailbox_login, "INBOX", raw_mail("opened before"))
        account = self.make_account().with_user(self.user)
        self.assertFalse(account.action_refresh()["error"])
        never, opened = self.messages(account).with_user(self.user).sorted("uid")
        opened.action_fetch_body()
        list_spec, form_spec = self.view_spec("list"), self.view_spec("form")
        self.assertIn("body_frame_notice", form_spec)
        # what the form's body widget adds (its field dependencies), and the API's body
        form_spec.update({"body_frame_version": {}, "body_state": {}, "body_html": {}})
        self.env.flush_all()  # what the test wrote, in the database the new cursor reads
        before = self.logins()
        self.imap_server.stop()
        self.addCleanup(self.imap_server.start)
        context = {"vt_webmail_mark_read": True, "vt_webmail_account_id": account.id}
        with self.registry.cursor(readonly=True) as cr:
            self.assertTrue(cr.readonly)
            env = api.Environment(cr, self.user.id, context)
            Message = env["vt_webmail.message"]
            rows = Message.web_search_read([("account_id", "=", account.id)], list_spec,
                                           limit=80)
            self.assertEqual(rows["length"], 2)
            # a Text filter, its page and its bounded count (the planner's settings of the
            # count are allowed on a read-only transaction)
            inbox = account.folder_ids.filtered(lambda f: f.role == "inbox")
            rows = Message.web_search_read(
                ["&", ("folder_id", "=", inbox.id), ("search_text", "ilike", "opened")],
                list_spec, limit=1, count_limit=3)
            self.assertEqual((rows["length"], len(rows["records"])), (1, 1))
            Message.search_panel_select_range("folder_id")
            form = {row["id"]: row for row in Message.browse([never.id, opened.id])
                    .web_read(form_spec)}
            Message.search_read([("id", "in", [never.id, opened.id])], ["body_html"])
        self.assertFalse(form[never.id]["body_html"], "a read returns what is kept")
        self.assertFalse(form[never.id]["body_frame_version"])
        self.assertIn("Hello.", str(form[opened.id]["body_html"]))
        self.assertTrue(form[opened.id]["body_frame_version"])
        self.assertLogins(before, 0)
        never.invalidate_recordset()
        self.assertEqual((never.body_state, never.is_seen, never.body_notice),
                         ("none", False, False))
