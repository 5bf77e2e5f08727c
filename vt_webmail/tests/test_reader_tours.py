"""Reading like a modern mail client in Chromium (#13): the conversation reader, one inbox for
all accounts, the reading pane and the keyboard. The tours are in
``static/tests/tours/vt_webmail_reader_tour.js``; each outcome is checked on Dovecot here."""

from odoo.tests import HttpCase, tagged

from .common import WebmailCase


def dated_mail(subject, day, *, sender="Alice Example <alice@example.com>",
               to="me@example.com", body="Hello.", message_id, extra_headers=""):
    """A small text mail of 2 Nov 2026 + ``day`` days, as CRLF bytes."""
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-Id: {message_id}\r\n"
        f"Date: Mon, {2 + day:02d} Nov 2026 10:00:00 +0000\r\n{extra_headers}"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


@tagged("post_install", "-at_install", "vt_webmail", "vt_webmail_tours",
        "vt_webmail_reader_tours")
class TestReaderTours(WebmailCase, HttpCase):

    def setUp(self):
        super().setUp()
        me = f"{self.mailbox_login}@example.com"
        server = self.imap_server
        server.append(self.mailbox_login, "INBOX", dated_mail(
            "Old news", 0, sender="Carol <carol@example.com>", message_id="<old@x>"))
        server.append(self.mailbox_login, "INBOX", dated_mail(
            "Plan", 1, body="Shall we meet?", message_id="<plan@x>"))
        server.append(self.mailbox_login, self.folder("Sent"), dated_mail(
            "Re: Plan", 2, sender=me, to="alice@example.com", message_id="<reply@me>",
            body="Yes, Tuesday.\r\n\r\nOn Mon, Alice wrote:\r\n> Shall we meet?",
            extra_headers="In-Reply-To: <plan@x>\r\n"))
        self.team_login = self.add_mailbox()
        server.append(self.team_login, "INBOX", dated_mail(
            "Team meeting", 1, sender="Dan <dan@example.com>", message_id="<team@x>"))
        self.account = self.make_account(is_default=True)
        self.team = self.make_account(login=self.team_login,
                                      email=f"team-{self.team_login}@example.com")
        self.account.action_refresh()
        self.team.action_refresh()

    def flags(self, login, folder="INBOX"):
        return {raw.split(b"Subject: ")[1].split(b"\r\n")[0].decode(): flags
                for flags, raw in self.server_messages(folder, login).values()}

    def test_conversation_reader(self):
        self.start_tour("/odoo", "vt_webmail_conversation_tour", login=self.user.login)
        inbox = self.flags(self.mailbox_login)
        self.assertIn("\\Flagged", inbox["Plan"])
        # opening the conversation read its mails, on the server
        self.assertIn("\\Seen", inbox["Plan"])
        self.assertNotIn("\\Seen", inbox["Old news"])

    def test_unified_inbox(self):
        self.start_tour("/odoo", "vt_webmail_unified_tour", login=self.user.login)
        self.assertIn("\\Flagged", self.flags(self.team_login)["Team meeting"])
        self.assertNotIn("\\Flagged", self.flags(self.mailbox_login)["Plan"])

    def test_reading_pane_and_keyboard(self):
        self.start_tour("/odoo", "vt_webmail_keys_tour", login=self.user.login)
        # Alt+E archived "Old news" on the server, after Alt+Shift+S flagged it
        archived = self.flags(self.mailbox_login, "Archive")
        self.assertIn("\\Flagged", archived["Old news"])
        self.assertNotIn("Old news", self.flags(self.mailbox_login))
        # the pane opened "Plan": read on the server
        self.assertIn("\\Seen", self.flags(self.mailbox_login)["Plan"])
        # the layout was switched back, and remembered
        self.assertEqual(self.user.vt_webmail_layout, "list")
