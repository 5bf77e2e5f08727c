"""Sending: compose, reply, reply all, forward, drafts, against a real Dovecot and a real SMTP
server (aiosmtpd, STARTTLS or implicit TLS, verified with the test CA)."""

import base64
import email
import email.policy
import types
from unittest.mock import patch

from odoo import Command
from odoo.exceptions import AccessError, MissingError, UserError
from odoo.tests import new_test_user, tagged
from odoo.tests.common import TransactionCase
from odoo.tools import config, mute_logger

from ..core.mime import parse_message
from ..testing import closed_port, samples
from ..testing.smtpd import SMTPServer
from .common import SMTP_PASSWORD, WebmailCase, on_every_imap_server, raw_mail


def received_message(received):
    return email.message_from_bytes(received.data, policy=email.policy.default)


@tagged("post_install", "-at_install", "vt_webmail", "vt_webmail_compose")
class TestCompose(WebmailCase, TransactionCase):

    with_smtp = True

    # -- helpers ---------------------------------------------------------------------------------

    def make_sender(self, refresh=True, **values):
        """The user's account, sending through the SMTP fixture (STARTTLS, certificate
        verified with the account's extra CA)."""
        smtp = dict(self.smtp_values(), **values)
        account = self.make_account(**smtp).with_user(self.user)
        if refresh:
            self.assertFalse(account.action_refresh()["error"])
        return account

    def inbox_message(self, account, raw):
        self.imap_server.append(self.mailbox_login, "INBOX", raw)
        account.action_refresh()
        message = self.messages(account).filtered(lambda m: m.uid == max(
            self.messages(account).mapped("uid")))
        return message.with_user(self.user)

    def open_wizard(self, action):
        self.assertEqual((action["res_model"], action["target"]), ("vt_webmail.compose", "new"))
        return self.env["vt_webmail.compose"].with_user(self.user).browse(action["res_id"])

    def b64(self, data):
        return base64.b64encode(data).decode()

    # -- a new mail ------------------------------------------------------------------------------

    def test_send_mail_starttls_with_bcc_and_attachment(self):
        account = self.make_sender()
        pdf = samples.pdf_document()
        result = account.send_mail(
            to="Alice Martin <alice@example.org>", cc="bob@example.org",
            bcc="Hidden <hidden@example.net>", subject="Quarterly report — été",
            body_html="<p>Hello <b>Alice</b></p>",
            attachments=[["report.pdf", self.b64(pdf), "application/pdf"],
                         ["notes.txt", self.b64(b"some notes")]],
        )
        [received] = self.smtp.wait_for(1)
        self.assertEqual(received.login, "sender")
        self.assertEqual(received.mail_from, account.email)
        self.assertEqual(received.rcpt_tos,
                         ["alice@example.org", "bob@example.org", "hidden@example.net"])
        self.assertNotIn(b"hidden@example.net", received.data)
        sent = received_message(received)
        self.assertIsNone(sent["Bcc"])
        self.assertEqual(sent["Message-ID"], result["message_id"])
        self.assertEqual(sent["From"], f"{account.from_name} <{account.email}>")
        parsed = parse_message(received.data)
        self.assertEqual(parsed.headers.subject, "Quarterly report — été")
        self.assertEqual(parsed.text.strip(), "Hello Alice")
        self.assertEqual(
            [(a.filename, a.content_type, a.data) for a in parsed.attachments],
            [("report.pdf", "application/pdf", pdf), ("notes.txt", "text/plain", b"some notes")])

        # the copy in Sent: read, the same mail, and the blind copy recorded there only
        [(uid, (flags, raw))] = self.server_messages("Sent").items()
        self.assertEqual(result["sent_uid"], uid)
        self.assertFalse(result["warning"])
        self.assertIn("\\Seen", flags)
        copy = email.message_from_bytes(raw, policy=email.policy.default)
        self.assertEqual(copy["Message-ID"], result["message_id"])
        self.assertEqual(copy["Bcc"], "Hidden <hidden@example.net>")
        # ... and in the cache, without waiting for a refresh
        [cached] = self.messages(account, "Sent")
        self.assertEqual((cached.uid, cached.message_id, cached.is_seen),
                         (uid, result["message_id"], True))
        self.assertEqual(cached.folder_id.message_count, 1)

    def test_sent_copy_cached_after_the_sent_folder_was_recreated(self):
        """Sent recreated by another program since the last refresh (a new UIDVALIDITY; on
        Courier an empty folder has a new one in every session): the copy is still in the
        cache at once, and nothing of the old folder."""
        if self.imap_server.name == "cyrus":
            self.skipTest("Cyrus refuses to delete a special-use folder (SPECIAL-USE flag "
                          "conflict): a Sent folder cannot be recreated there")
        account = self.make_sender()
        self.seed(["old copy"], folder="Sent")
        self.assertEqual(account.action_refresh()["new"], 1)
        client = self.imap()
        client.delete_folder(self.folder("Sent"))
        client.create_folder(self.folder("Sent"))
        client.logout()
        result = account.send_mail(to="alice@example.org", subject="after", body_html="x")
        self.assertFalse(result["warning"])
        self.assertEqual(self.messages(account, "Sent").mapped("subject"), ["after"])
        self.assertEqual(list(self.server_messages("Sent")), [result["sent_uid"]])

    def test_implicit_tls(self):
        with SMTPServer({"sender": SMTP_PASSWORD}, implicit_tls=True,
                        pki=self.imap_server.pki) as server:
            account = self.make_sender(smtp_port=server.port, smtp_security="ssl")
            account.send_mail("alice@example.org", "Over implicit TLS", "<p>Hi</p>")
            [received] = server.wait_for(1)
        self.assertEqual(received.login, "sender")
        self.assertEqual(received_message(received)["Subject"], "Over implicit TLS")

    def test_smtp_defaults_to_the_imap_settings(self):
        # no SMTP host, login or password: the IMAP ones; folders never listed: Sent is found
        login = self.mailbox_login
        with SMTPServer({login: self.imap_server.users[login]}, pki=self.imap_server.pki) as server:
            account = self.make_account(smtp_port=server.port).with_user(self.user)
            self.assertFalse(account.folder_ids)
            result = account.send_mail("alice@example.org", "Defaults", "<p>Hi</p>")
            [received] = server.wait_for(1)
        self.assertEqual(received.login, login)
        self.assertEqual(list(self.server_messages("Sent")), [result["sent_uid"]])

    def test_untrusted_certificate_is_refused(self):
        # a server of its own, stopped inside mute_logger: aiosmtpd logs the handshake the
        # client broke off from its own thread, and stop() waits for that thread
        with mute_logger("mail.log"), SMTPServer({"sender": SMTP_PASSWORD},
                                                 pki=self.imap_server.pki) as server:
            account = self.make_sender(refresh=False, ca_certificate=False,
                                       smtp_port=server.port)
            with self.assertRaises(UserError) as caught:
                account.send_mail("alice@example.org", "Not sent", "<p>Hi</p>")
        self.assertIn("is not trusted", caught.exception.args[0])
        self.assertEqual(server.messages, [])
        self.assertEqual(self.server_messages("Sent"), {})

    # -- failing, and what the user keeps -------------------------------------------------------

    def test_wrong_smtp_password_keeps_the_draft(self):
        account = self.make_sender(smtp_password="wrong")
        wizard = self.open_wizard(account.action_compose())
        wizard.write({"email_to": "alice@example.org", "subject": "Kept",
                      "body_html": "<p>My long text</p>"})
        with mute_logger("mail.log"):
            result = wizard.action_send()
        self.assertEqual((result["params"]["type"], result["params"]["title"]),
                         ("danger", "Mail not sent"))
        self.assertNotIn("next", result["params"])  # the window stays open
        message = result["params"]["message"]
        self.assertIn("Your mail was not sent", message)
        self.assertIn("rejected the user name or password", message)
        self.assertIn("a copy was saved in your Drafts folder", message)
        self.assertEqual((wizard.email_to, wizard.subject), ("alice@example.org", "Kept"))
        self.assertIn("My long text", wizard.body_html)
        self.assertEqual(self.smtp.messages, [])
        self.assertEqual(self.server_messages("Sent"), {})
        self.assertFalse(self.messages(account, "Sent"))
        # kept on the server too, and known to the window (sending it later replaces it)
        [(uid, (_flags, raw))] = self.server_messages("Drafts").items()
        self.assertIn(b"My long text", raw)
        self.assertEqual(wizard.draft_uid, uid)

    def test_closed_port_is_explained(self):
        account = self.make_sender(smtp_port=closed_port())
        with self.assertRaises(UserError) as caught:
            account.send_mail("alice@example.org", "Not sent", "<p>Hi</p>")
        self.assertIn("refused the connection", caught.exception.args[0])

    def test_hostile_arguments(self):
        account = self.make_sender()
        theirs = self.make_account(user=self.other_user, login=self.other_mailbox_login)
        self.imap_server.append(self.other_mailbox_login, "INBOX", raw_mail("their mail"))
        theirs.action_refresh()
        their_message = self.messages(theirs)
        self.assertEqual(len(their_message), 1)
        cases = [
            ({"reply_to_message_id": their_message.id}, AccessError),
            ({"forward_message_id": their_message.id}, AccessError),
            ({"reply_to_message_id": 10**9}, MissingError),
            ({"reply_to_message_id": "1"}, UserError),
            ({"to": "not an address"}, UserError),
            ({"to": "a@example.org\r\nBcc: x@example.net"}, UserError),
            ({"to": ""}, UserError),
            ({"to": 42}, UserError),
            ({"attachments": "x"}, UserError),
            ({"attachments": [["a.txt"]]}, UserError),
            ({"attachments": [["a.txt", "@@not base64@@"]]}, UserError),
            ({"attachments": [[None, "aGk="]]}, UserError),
        ]
        for extra, error in cases:
            with self.subTest(extra=extra), self.assertRaises(error):
                account.send_mail(**{"to": "alice@example.org", "subject": "x",
                                     "body_html": "<p>x</p>", **extra})
        # another user's account, even for a webmail administrator who can see its settings
        admin = new_test_user(self.env, login="webmail_admin_compose",
                              groups="base.group_user,vt_webmail.group_webmail_admin")
        for user in (self.other_user, admin):
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                account.with_user(user).send_mail("alice@example.org", "x", "<p>x</p>")
        self.assertEqual(self.smtp.messages, [])

    def test_a_file_the_user_cannot_read_cannot_be_attached(self):
        account = self.make_sender()
        theirs = self.make_account(user=self.other_user, login=self.other_mailbox_login)
        secret = self.env["ir.attachment"].with_user(self.other_user).create({
            "name": "secret.txt", "raw": b"their secret",
            "res_model": "vt_webmail.account", "res_id": theirs.id,
        })
        wizard = self.open_wizard(account.action_compose())
        wizard.write({"email_to": "alice@example.org", "subject": "x"})
        # refused when linked (Odoo 19's many2many checks that the user may read what it
        # links) or when sent (Odoo 18 links it; sending checks every file)
        with self.assertRaises(AccessError):
            wizard.write({"attachment_ids": [Command.link(secret.id)]})
            wizard.action_send()
        self.assertEqual(self.smtp.messages, [])

    # -- reply, reply all, forward --------------------------------------------------------------

    def test_reply_threading_attachment_sent_copy_and_answered(self):
        account = self.make_sender()
        original = self.inbox_message(account, raw_mail(
            "Planning", sender="Alice Martin <alice@example.org>",
            to=f"{account.email}, carol@example.org", message_id="<orig@example.org>",
            extra_headers="References: <root@example.org>\r\n"))
        wizard = self.open_wizard(original.action_reply())
        self.assertEqual(wizard.mode, "reply")
        self.assertEqual(wizard.reply_to_message_id, original)  # what Qualify reads
        self.assertEqual(wizard.email_to, "Alice Martin <alice@example.org>")
        self.assertFalse(wizard.email_cc)
        self.assertEqual(wizard.subject, "Re: Planning")
        self.assertIn("Alice Martin &lt;alice@example.org&gt; wrote:", wizard.body_html)
        self.assertIn("<blockquote", wizard.body_html)
        self.assertIn("Hello.", wizard.body_html)
        upload = self.env["ir.attachment"].with_user(self.user).create({
            "name": "answer.txt", "raw": b"my answer", "res_model": "vt_webmail.compose",
            "res_id": wizard.id,
        })
        wizard.write({"body_html": "<p>Agreed.</p>" + wizard.body_html,
                      "attachment_ids": [Command.link(upload.id)]})

        action = wizard.action_send()
        self.assertEqual(action["params"]["type"], "success")
        self.assertEqual(action["params"]["next"], {"type": "ir.actions.act_window_close"})
        [received] = self.smtp.wait_for(1)
        sent = received_message(received)
        self.assertEqual(sent["In-Reply-To"], "<orig@example.org>")
        self.assertEqual(sent["References"], "<root@example.org> <orig@example.org>")
        self.assertEqual(received.rcpt_tos, ["alice@example.org"])
        parsed = parse_message(received.data)
        self.assertEqual([(a.filename, a.data) for a in parsed.attachments],
                         [("answer.txt", b"my answer")])
        self.assertIn("Agreed.", parsed.text)
        self.assertIn("> Hello.", parsed.text)

        # \Answered on the server and in the cache; the copy in Sent, read
        [(flags, _raw)] = list(self.server_messages("INBOX").values())
        self.assertIn("\\Answered", flags)
        self.assertTrue(original.is_answered)
        [(sent_flags, sent_raw)] = self.server_messages("Sent").values()
        self.assertIn("\\Seen", sent_flags)
        self.assertEqual(email.message_from_bytes(sent_raw)["Message-ID"], sent["Message-ID"])
        self.assertEqual(self.messages(account, "Sent").in_reply_to, "<orig@example.org>")

    def test_reply_all_and_reply_to(self):
        account = self.make_sender()
        original = self.inbox_message(account, raw_mail(
            "Team lunch", sender="Alice <alice@example.org>",
            to=f"Me <{account.email}>, Bob <bob@example.org>",
            extra_headers="Cc: carol@example.org\r\nReply-To: Lunch list <lunch@example.org>\r\n"))
        wizard = self.open_wizard(original.action_reply_all())
        self.assertEqual(wizard.email_to, "Lunch list <lunch@example.org>")
        # RFC 5322 3.6.3: with a Reply-To, the author asked for replies there, not to them
        self.assertEqual(wizard.email_cc, "Bob <bob@example.org>, carol@example.org")
        simple = self.open_wizard(original.action_reply())
        self.assertEqual((simple.email_to, simple.email_cc),
                         ("Lunch list <lunch@example.org>", False))
        wizard.action_send()
        [received] = self.smtp.wait_for(1)
        self.assertEqual(received.rcpt_tos,
                         ["lunch@example.org", "bob@example.org", "carol@example.org"])

    def test_send_mail_reply_defaults(self):
        # over XML-RPC: no recipient and no subject given -> those of a reply
        account = self.make_sender()
        original = self.inbox_message(account, raw_mail(
            "Question", sender="Alice <alice@example.org>", to=account.email,
            message_id="<q@example.org>", extra_headers="Cc: bob@example.org\r\n"))
        result = account.send_mail("", "", "<p>Yes.</p>", reply_to_message_id=original.id,
                                   reply_all=True)
        [received] = self.smtp.wait_for(1)
        sent = received_message(received)
        self.assertEqual((sent["To"], sent["Cc"], sent["Subject"], sent["In-Reply-To"]),
                         ("Alice <alice@example.org>", "bob@example.org", "Re: Question",
                          "<q@example.org>"))
        self.assertEqual(sent["Message-ID"], result["message_id"])
        self.assertTrue(original.is_answered)

    def test_forward_carries_the_attachments(self):
        account = self.make_sender()
        original = self.inbox_message(account, samples.with_attachments(to=account.email))
        wizard = self.open_wizard(original.action_forward())
        self.assertEqual(wizard.forward_message_id, original)
        self.assertFalse(wizard.reply_to_message_id)
        self.assertEqual(wizard.subject, "Fwd: Figures for Q1")
        self.assertIn("Forwarded message", wizard.body_html)
        self.assertIn("The report and the raw figures are attached.", wizard.body_html)
        self.assertEqual(wizard.attachment_ids.sorted("id").mapped("name"),
                         ["report-q1.pdf", "chiffres-été.csv"])
        # copies: removing one from the mail leaves the original's alone
        self.assertFalse(wizard.attachment_ids & original.attachment_ids)
        wizard.write({"email_to": "dan@example.org"})
        wizard.action_send()
        [received] = self.smtp.wait_for(1)
        parsed = parse_message(received.data)
        self.assertEqual(parsed.headers.subject, "Fwd: Figures for Q1")
        self.assertEqual([(a.filename, a.data) for a in parsed.attachments], [
            ("report-q1.pdf", samples.pdf_document()),
            ("chiffres-été.csv", samples.csv_document())])
        self.assertIsNone(received_message(received)["In-Reply-To"])
        self.assertFalse(original.is_answered)
        self.assertEqual(len(self.server_messages("Sent")), 1)

    def test_send_mail_forward_over_rpc(self):
        account = self.make_sender()
        original = self.inbox_message(account, samples.with_attachments(to=account.email))
        account.send_mail("dan@example.org", "", "<p>FYI</p>", forward_message_id=original.id,
                          attachments=[["extra.txt", self.b64(b"extra")]])
        [received] = self.smtp.wait_for(1)
        parsed = parse_message(received.data)
        self.assertEqual(parsed.headers.subject, "Fwd: Figures for Q1")
        self.assertEqual([a.filename for a in parsed.attachments],
                         ["report-q1.pdf", "chiffres-été.csv", "extra.txt"])

    def test_inline_image_of_the_quoted_mail_travels_with_the_reply(self):
        account = self.make_sender()
        original = self.inbox_message(account, samples.html_with_inline_image(
            to=account.email))
        wizard = self.open_wizard(original.action_forward())
        self.assertIn(f"/vt_webmail/part/{original.id}/", wizard.body_html)
        self.assertFalse(wizard.attachment_ids)  # the logo is in the body, not a file
        wizard.write({"email_to": "dan@example.org"})
        wizard.action_send()
        [received] = self.smtp.wait_for(1)
        parsed = parse_message(received.data)
        [logo] = parsed.attachments
        self.assertTrue(logo.inline)
        self.assertEqual(logo.data, samples.png_image())
        self.assertIn(f'src="cid:{logo.content_id}"', parsed.html)
        self.assertNotIn("/vt_webmail/part/", parsed.html)

    # -- drafts ----------------------------------------------------------------------------------

    def test_save_draft_replaces_then_send_removes_it(self):
        account = self.make_sender()
        wizard = self.open_wizard(account.action_compose())
        wizard.write({"subject": "Unfinished", "body_html": "<p>First words</p>",
                      "email_bcc": "hidden@example.net"})
        wizard.action_save_draft()  # no recipient yet: fine for a draft
        [(uid, (flags, raw))] = self.server_messages("Drafts").items()
        self.assertEqual(wizard.draft_uid, uid)
        self.assertIn("\\Draft", flags)
        self.assertIn(b"First words", raw)
        wizard.write({"body_html": "<p>Second words</p>", "email_to": "alice@example.org"})
        wizard.action_save_draft()
        [(uid2, (_flags, raw))] = self.server_messages("Drafts").items()
        self.assertNotEqual(uid2, uid)
        self.assertIn(b"Second words", raw)
        self.assertEqual(self.messages(account, "Drafts").uid, uid2)
        wizard.action_send()
        self.assertEqual(self.server_messages("Drafts"), {})
        self.assertFalse(self.messages(account, "Drafts"))
        self.assertEqual(len(self.smtp.wait_for(1)), 1)

    # -- Odoo's outgoing mail server ------------------------------------------------------------

    def odoo_sending(self):
        """ir.mail_server sends nothing while tests run: its connect() and send_email() return
        early when ``odoo.modules.module.current_test`` is set. Only those two checks are
        lifted, by giving that module a ``modules`` whose ``current_test`` is unset; the test
        cursor and everything else still see the real test state."""
        return patch("odoo.addons.base.models.ir_mail_server.modules",
                     types.SimpleNamespace(module=types.SimpleNamespace(current_test=None)))

    def make_mail_server(self, **values):
        return self.env["ir.mail_server"].create(dict({
            "name": "Test SMTP", "smtp_host": self.smtp.hostname, "smtp_port": self.smtp.port,
            "smtp_encryption": "starttls", "smtp_authentication": "login",
            "smtp_user": "sender", "smtp_pass": SMTP_PASSWORD,
        }, **values))

    def test_odoo_mail_server(self):
        self.make_mail_server()
        account = self.make_sender(smtp_mode="odoo", smtp_host=False, smtp_port=1,
                                   smtp_login=False, smtp_password=False)
        original = self.inbox_message(account, raw_mail(
            "Via Odoo", sender="alice@example.org", to=account.email,
            message_id="<via-odoo@example.org>"))
        with self.odoo_sending():
            result = account.send_mail("", "", "<p>Through Odoo</p>", bcc="hidden@example.net",
                                       reply_to_message_id=original.id)
        [received] = self.smtp.wait_for(1)
        self.assertEqual(received.login, "sender")
        self.assertEqual(received.mail_from, account.email)  # bounces go to the user
        self.assertEqual(received.rcpt_tos, ["alice@example.org", "hidden@example.net"])
        self.assertNotIn(b"hidden@example.net", received.data)
        sent = received_message(received)
        self.assertEqual(sent["Message-ID"], result["message_id"])
        self.assertEqual(sent["From"], f"{account.from_name} <{account.email}>")
        self.assertEqual(sent["In-Reply-To"], "<via-odoo@example.org>")
        [(_flags, raw)] = self.server_messages("Sent").values()
        self.assertEqual(email.message_from_bytes(raw)["Message-ID"], result["message_id"])
        self.assertTrue(original.is_answered)

    def test_odoo_mail_server_failure(self):
        self.make_mail_server(smtp_pass="wrong")
        account = self.make_sender(smtp_mode="odoo")
        with self.odoo_sending(), self.assertRaises(UserError) as caught:
            account.send_mail("alice@example.org", "x", "<p>x</p>")
        self.assertIn("rejected the user name or password", caught.exception.args[0])
        self.assertEqual(self.server_messages("Sent"), {})

    def test_no_odoo_mail_server(self):
        account = self.make_sender(smtp_mode="odoo")
        self.env["ir.mail_server"].search([]).active = False
        with self.odoo_sending(), patch.dict(config.options, {"smtp_server": ""}), \
                self.assertRaises(UserError) as caught:
            account.send_mail("alice@example.org", "x", "<p>x</p>")
        self.assertIn("Odoo has no outgoing mail server", caught.exception.args[0])

    # -- entry points and suggestions -----------------------------------------------------------

    def test_compose_menu_and_account_button(self):
        Compose = self.env["vt_webmail.compose"].with_user(self.user)
        with self.assertRaises(UserError):
            Compose.action_new()
        account = self.make_sender(refresh=False)
        wizard = self.open_wizard(Compose.action_new())
        self.assertEqual((wizard.account_id, wizard.mode), (account, "new"))
        self.assertEqual(self.open_wizard(account.action_compose()).account_id, account)
        # other users see neither the window nor can they open one on this account
        with self.assertRaises(AccessError):
            wizard.with_user(self.other_user).read(["subject"])
        with self.assertRaises(AccessError):
            account.with_user(self.other_user).action_compose()

    def test_search_recipients(self):
        Partner = self.env["res.partner"]
        Partner.create([
            {"name": "Alice Martin", "email": "alice@example.org"},
            {"name": "Doe, John", "email": "john@example.org"},
            {"name": "Alicia No Mail"},
        ])
        count = Partner.search_count([])
        Compose = self.env["vt_webmail.compose"].with_user(self.user)
        self.assertEqual([s["label"] for s in Compose.search_recipients("alic")],
                         ["Alice Martin <alice@example.org>"])
        self.assertEqual([s["label"] for s in Compose.search_recipients("john@exa")],
                         ['"Doe, John" <john@example.org>'])
        self.assertEqual(Compose.search_recipients(""), [])
        self.assertEqual(Compose.search_recipients(None), [])
        self.assertEqual(len(Compose.search_recipients("example", limit=10**6)),
                         min(Partner.search_count([("email", "ilike", "example")]), 50))
        self.assertEqual(Partner.search_count([]), count)  # nothing created


# the same tests against Cyrus IMAP and Courier-IMAP
TestComposeCyrus, TestComposeCourier = on_every_imap_server(TestCompose)
