"""The reply tour in Chromium: open Webmail, open a mail, reply with a file attached, send;
then what the SMTP server received and what Dovecot keeps in Sent."""

import email
import email.policy

from odoo import Command
from odoo.tests import HttpCase, tagged

from .. import compat
from ..core.mime import parse_message
from .common import WebmailCase, raw_mail


@tagged("post_install", "-at_install", "vt_webmail", "vt_webmail_compose", "vt_webmail_tour")
class TestComposeTour(WebmailCase, HttpCase):

    with_smtp = True

    def test_reply_with_an_attachment(self):
        self.env["res.partner"].create({"name": "Bob Stone", "email": "bob@example.org"})
        account = self.make_account(**self.smtp_values())
        self.seed(["Another mail"], sender="Carol <carol@example.org>", to=account.email)
        self.seed(["Tour: please reply"], sender="Alice Martin <alice@example.org>",
                  to=account.email, body="Please answer me.",
                  message_id="<tour-original@example.org>")
        self.assertFalse(account.with_user(self.user).action_refresh()["error"])

        self.start_tour("/odoo", "vt_webmail_reply_tour", login=self.user.login)

        [received] = self.smtp.wait_for(1)
        self.assertEqual(received.rcpt_tos, ["alice@example.org", "bob@example.org"])
        sent = email.message_from_bytes(received.data, policy=email.policy.default)
        self.assertEqual(sent["Subject"], "Re: Tour: please reply")
        self.assertEqual(sent["In-Reply-To"], "<tour-original@example.org>")
        parsed = parse_message(received.data)
        self.assertIn("Thanks Alice, the note is attached.", parsed.text)
        self.assertIn("> Please answer me.", parsed.text)
        self.assertEqual([(a.filename, a.data) for a in parsed.attachments],
                         [("tour-note.txt", b"a note from the tour")])

        client = self.imap()
        try:
            client.select_folder("Sent", readonly=True)
            fetched = client.fetch(client.search(["ALL"]), ["FLAGS", "BODY.PEEK[]"])
            client.select_folder("INBOX", readonly=True)
            inbox_flags = {data[b"BODY[HEADER.FIELDS (SUBJECT)]"].strip(): data[b"FLAGS"]
                           for data in client.fetch(client.search(["ALL"]), [
                               "FLAGS", "BODY.PEEK[HEADER.FIELDS (SUBJECT)]"]).values()}
        finally:
            client.logout()
        [copy] = fetched.values()
        self.assertIn(b"\\Seen", copy[b"FLAGS"])
        self.assertEqual(email.message_from_bytes(copy[b"BODY[]"])["Message-ID"],
                         sent["Message-ID"])
        self.assertIn(b"\\Answered", inbox_flags[b"Subject: Tour: please reply"])
        self.assertNotIn(b"\\Answered", inbox_flags[b"Subject: Another mail"])

    def test_template_then_undo(self):
        """Reply with a template filled in with the qualified lead, send, undo: nothing reaches
        the SMTP server, nothing is left in the Outbox."""
        salesman = self.env.ref("sales_team.group_sale_salesman")
        self.user[compat.user_groups_field(self.user)] = [Command.link(salesman.id)]
        self.user.vt_webmail_undo_delay = 30
        account = self.make_account(**self.smtp_values())
        lead = self.env["crm.lead"].create({
            "name": "Big deal", "email_from": "alice@example.org", "contact_name": "Alice Lead",
            "user_id": self.user.id})
        self.env["mail.template"].create({
            "name": "Lead follow-up", "model_id": self.env.ref("crm.model_crm_lead").id,
            "subject": "About {{ object.name }}",
            "body_html": "<p>Dear <t t-out=\"object.contact_name\"/>, about "
                         "<t t-out=\"object.name\"/>.</p>"})
        self.seed(["Tour: template"], sender="Alice <alice@example.org>", to=account.email)
        self.assertFalse(account.with_user(self.user).action_refresh()["error"])
        self.env["vt_webmail.message"].search([("account_id", "=", account.id)]).write(
            {"qualified_model": "crm.lead", "qualified_res_id": lead.id})

        self.start_tour("/odoo", "vt_webmail_template_undo_tour", login=self.user.login)

        self.assertEqual(self.smtp.messages, [])
        self.assertFalse(self.env["vt_webmail.outbox"].search([("user_id", "=", self.user.id)]))

    def test_undo_countdown_sends_when_it_ends(self):
        self.user.vt_webmail_undo_delay = 2
        self.make_account(**self.smtp_values())

        self.start_tour("/odoo", "vt_webmail_undo_countdown_tour", login=self.user.login)

        [received] = self.smtp.wait_for(1)
        self.assertEqual(received.rcpt_tos, ["carol@example.org"])
        self.assertEqual(email.message_from_bytes(received.data)["Subject"], "Countdown tour")
        outbox = self.env["vt_webmail.outbox"].search([("user_id", "=", self.user.id)])
        self.assertEqual(outbox.state, "sent")

    def test_autosave(self):
        """The composer saves a mail being written in Drafts by itself (one copy)."""
        self.make_account(**self.smtp_values())

        self.start_tour("/odoo", "vt_webmail_autosave_tour", login=self.user.login)

        client = self.imap()
        try:
            client.select_folder(self.folder("Drafts"), readonly=True)
            fetched = client.fetch(client.search(["ALL"]), ["BODY.PEEK[]"])
        finally:
            client.logout()
        [draft] = fetched.values()
        parsed = parse_message(draft[b"BODY[]"])
        self.assertEqual(parsed.headers.subject, "Autosaved by the tour")
        self.assertIn("Half-written words", parsed.text)
        self.assertEqual(self.smtp.messages, [])

    def test_draft_reopened_and_sent_later(self):
        account = self.make_account(**self.smtp_values())
        self.imap_server.append(self.mailbox_login, self.folder("Drafts"), raw_mail(
            "Tour draft", sender=account.email, to="Dan <dan@example.org>",
            body="Words of the draft"), flags=["\\Draft"])
        self.assertFalse(account.with_user(self.user).action_refresh()["error"])

        self.start_tour("/odoo", "vt_webmail_draft_send_later_tour", login=self.user.login)

        outbox = self.env["vt_webmail.outbox"].search([("user_id", "=", self.user.id)])
        self.assertEqual((outbox.state, outbox.email_to, outbox.subject),
                         ("queued", "Dan <dan@example.org>", "Tour draft"))
        self.assertEqual(outbox.send_at.year, 2099)
        self.assertEqual(self.smtp.messages, [])
        outbox.send_at = "2020-01-01 00:00:00"
        self.env["vt_webmail.outbox"]._cron_send_due()
        [received] = self.smtp.wait_for(1)
        self.assertEqual(received.rcpt_tos, ["dan@example.org"])
        self.assertIn("Words of the draft", parse_message(received.data).text)
        client = self.imap()
        try:
            client.select_folder(self.folder("Drafts"), readonly=True)
            self.assertEqual(client.search(["ALL"]), [])
        finally:
            client.logout()
