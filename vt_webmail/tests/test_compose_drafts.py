"""Drafts that reopen: a draft of the Drafts folder opened again in the composer (recipients,
Bcc, body and its pictures, attachments, In-Reply-To), saved again (APPEND the new copy, then
delete the old one: exactly one left on the server), auto-saved, and sent; and ``$Forwarded``
on a forwarded mail. Real Dovecot, real aiosmtpd."""

import base64
import email
import email.policy

from markupsafe import Markup

from odoo import Command
from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged
from odoo.tests.common import TransactionCase

from ..core.mime import parse_message
from ..testing import samples
from .common import WebmailCase, on_every_imap_server, raw_mail
from .test_compose import received_message


@tagged("post_install", "-at_install", "vt_webmail", "vt_webmail_compose")
class TestComposeDrafts(WebmailCase, TransactionCase):

    with_smtp = True

    def make_sender(self):
        account = self.make_account(**self.smtp_values()).with_user(self.user)
        self.assertFalse(account.action_refresh()["error"])
        return account

    def wizard(self, action):
        self.assertEqual((action["res_model"], action["target"]), ("vt_webmail.compose", "new"))
        return self.env["vt_webmail.compose"].with_user(self.user).browse(action["res_id"])

    def cached_draft(self, account):
        [draft] = self.messages(account, "Drafts")
        return draft.with_user(self.user)

    def test_reopen_save_again_and_send_a_reply_draft(self):
        account = self.make_sender()
        self.imap_server.append(self.mailbox_login, "INBOX", raw_mail(
            "Budget", sender="Alice <alice@example.org>", to=account.email,
            message_id="<budget@example.org>"))
        account.action_refresh()
        original = self.messages(account).with_user(self.user)
        wizard = self.wizard(original.action_reply())
        picture = base64.b64encode(samples.png_image()).decode()
        note = self.env["ir.attachment"].with_user(self.user).create({
            "name": "note.txt", "raw": b"a note", "res_model": "vt_webmail.compose",
            "res_id": wizard.id})
        wizard.write({
            "email_cc": "Carol <carol@example.org>", "email_bcc": "hidden@example.net",
            "body_html": Markup(f'<p>Draft text</p><p><img src="data:image/png;base64,'
                                f'{picture}"></p>') + wizard.body_html,
            "attachment_ids": [Command.link(note.id)],
        })
        wizard.action_save_draft()
        draft = self.cached_draft(account)
        self.assertTrue(draft.is_draft)
        old_uid = draft.uid

        # reopened in a new window, as from the Drafts folder
        reopened = self.wizard(draft.action_edit_draft())
        self.assertNotEqual(reopened, wizard)
        self.assertEqual(reopened.email_to, "Alice <alice@example.org>")
        self.assertEqual(reopened.email_cc, "Carol <carol@example.org>")
        self.assertEqual(reopened.email_bcc, "hidden@example.net")
        self.assertEqual(reopened.subject, "Re: Budget")
        self.assertEqual(reopened.reply_to_message_id, original)
        self.assertEqual(reopened.mode, "reply")
        self.assertIn("Draft text", reopened.body_html)
        self.assertIn("/web/image/", reopened.body_html)
        self.assertNotIn("cid:", reopened.body_html)
        self.assertEqual([(a.name, a.raw) for a in reopened.attachment_ids],
                         [("note.txt", b"a note")])
        self.assertEqual((reopened.draft_folder, reopened.draft_uid),
                         (draft.folder_id.name, draft.uid))

        # saved again: the new copy replaces the old one, exactly one on the server
        reopened.write({"body_html": reopened.body_html.replace("Draft text", "Better text")})
        reopened.action_save_draft()
        [(uid, (flags, raw))] = self.server_messages("Drafts").items()
        self.assertNotEqual(uid, old_uid)
        self.assertIn("\\Draft", flags)
        self.assertIn(b"Better text", raw)
        self.assertFalse(draft.exists())
        self.assertEqual(self.messages(account, "Drafts").uid, uid)

        # sent: threaded on the original, picture and file along, the draft gone
        reopened.action_send()
        [received] = self.smtp.wait_for(1)
        self.assertEqual(received.rcpt_tos,
                         ["alice@example.org", "carol@example.org", "hidden@example.net"])
        sent = received_message(received)
        self.assertEqual(sent["In-Reply-To"], "<budget@example.org>")
        parsed = parse_message(received.data)
        self.assertIn("Better text", parsed.text)
        files = {(a.filename, a.inline): a.data for a in parsed.attachments}
        self.assertEqual(files[("note.txt", False)], b"a note")
        [image] = [a for a in parsed.attachments if a.inline]
        self.assertEqual(image.data, samples.png_image())
        self.assertEqual(self.server_messages("Drafts"), {})
        self.assertFalse(self.messages(account, "Drafts"))
        self.assertTrue(original.is_answered)

    def test_a_draft_of_another_program_keeps_its_threading(self):
        """A draft saved by another mail program, answering a mail that is not in the cache:
        In-Reply-To and References are sent as they were."""
        account = self.make_sender()
        self.imap_server.append(self.mailbox_login, self.folder("Drafts"), raw_mail(
            "Re: old thread", sender=account.email, to="Dan <dan@example.org>",
            body="Written elsewhere.",
            extra_headers="In-Reply-To: <gone@example.org>\r\n"
                          "References: <first@example.org> <gone@example.org>\r\n"),
            flags=["\\Draft"])
        account.action_refresh()
        reopened = self.wizard(self.cached_draft(account).action_edit_draft())
        self.assertEqual((reopened.mode, reopened.in_reply_to), ("new", "<gone@example.org>"))
        self.assertEqual(reopened.email_to, "Dan <dan@example.org>")
        self.assertIn("Written elsewhere.", reopened.body_html)
        reopened.action_send()
        [received] = self.smtp.wait_for(1)
        sent = received_message(received)
        self.assertEqual(sent["In-Reply-To"], "<gone@example.org>")
        self.assertEqual(sent["References"], "<first@example.org> <gone@example.org>")
        self.assertEqual(self.server_messages("Drafts"), {})

    def test_autosave_keeps_exactly_one_draft(self):
        account = self.make_sender()
        wizard = self.wizard(account.action_compose())
        for words in ("one", "one two", "one two three"):
            wizard.write({"subject": "Autosaved", "body_html": f"<p>{words}</p>"})
            result = wizard.action_autosave()
            self.assertEqual(result, {"draft_uid": wizard.draft_uid})
        [(uid, (_flags, raw))] = self.server_messages("Drafts").items()
        self.assertEqual(uid, wizard.draft_uid)
        self.assertIn(b"one two three", raw)

    def test_only_a_draft_is_edited_and_only_by_its_owner(self):
        account = self.make_sender()
        self.seed(["not a draft"])
        account.action_refresh()
        message = self.messages(account).with_user(self.user)
        with self.assertRaises(UserError):
            message.action_edit_draft()
        self.imap_server.append(self.mailbox_login, self.folder("Drafts"),
                                raw_mail("mine"), flags=["\\Draft"])
        account.action_refresh()
        with self.assertRaises(AccessError):
            self.cached_draft(account).with_user(self.other_user).action_edit_draft()

    def test_forward_sets_forwarded_on_the_server(self):
        account = self.make_sender()
        self.seed(["Pass it on"], sender="alice@example.org", to=account.email)
        account.action_refresh()
        original = self.messages(account).with_user(self.user)
        wizard = self.wizard(original.action_forward())
        wizard.email_to = "bob@example.org"
        wizard.action_send()
        self.smtp.wait_for(1)
        [(flags, _raw)] = self.server_messages("INBOX").values()
        self.assertIn("$Forwarded", flags)
        self.assertNotIn("\\Answered", flags)
        # over XML-RPC's send_mail too
        self.seed(["Again"], sender="alice@example.org", to=account.email)
        account.action_refresh()
        second = self.messages(account).filtered(lambda m: m.subject == "Again")
        account.send_mail("bob@example.org", "", "<p>fyi</p>", forward_message_id=second.id)
        self.assertTrue(all("$Forwarded" in flags
                            for flags, _raw in self.server_messages("INBOX").values()))
        self.assertTrue(email.message_from_bytes(self.smtp.wait_for(2)[1].data,
                                                 policy=email.policy.default)["Subject"]
                        .startswith("Fwd:"))


# the same tests against Cyrus IMAP and Courier-IMAP
TestComposeDraftsCyrus, TestComposeDraftsCourier = on_every_imap_server(TestComposeDrafts)
