"""Fixtures shared by the Odoo test cases: a real Dovecot per test class, users, accounts.

``WebmailCase`` mixes into ``TransactionCase`` or ``HttpCase``. It starts one Dovecot for the
class (stopped and removed in a class cleanup, also when a test fails), creates two internal
users with a mailbox each, and offers helpers to make accounts and seed mail with APPEND.
"""

import itertools
import secrets

from odoo.tests import new_test_user

from ..testing import DovecotServer
from ..testing.smtpd import SMTPServer

_numbers = itertools.count(1)
#: The SMTP fixture's one user (see ``WebmailCase.with_smtp``).
SMTP_LOGIN = "sender"
SMTP_PASSWORD = "smtp-secret"


def raw_mail(subject, *, sender="Alice Example <alice@example.com>", to="me@example.com",
             body="Hello.", message_id=None, extra_headers=""):
    """A small text mail as CRLF bytes."""
    message_id = message_id or f"<{secrets.token_hex(8)}@example.com>"
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-Id: {message_id}\r\n"
        f"Date: Mon, 02 Nov 2026 10:00:00 +0000\r\n{extra_headers}"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


class WebmailCase:
    """Mixin: ``cls.dovecot``, ``cls.user`` / ``cls.other_user``, and for each test a fresh
    mailbox for each (``self.mailbox_login``, ``self.other_mailbox_login``)."""

    dovecot_options = {}
    #: also start ``cls.smtp``, a real SMTP server (STARTTLS, AUTH) whose certificate is
    #: signed by Dovecot's test CA, so an account's one extra CA serves both servers
    with_smtp = False

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if cls.registry.test_cr is None:
            # refreshes run on a cursor of their own: in tests it must share this transaction
            # (HttpCase does the same)
            cls.registry.enter_test_mode(cls.cr)
            cls.addClassCleanup(cls.registry.leave_test_mode)
        cls.dovecot = DovecotServer(**cls.dovecot_options).start()
        cls.addClassCleanup(cls.dovecot.close)
        if cls.with_smtp:
            cls.smtp = SMTPServer({SMTP_LOGIN: SMTP_PASSWORD}, pki=cls.dovecot.pki).start()
            cls.addClassCleanup(cls.smtp.close)
        cls.user = new_test_user(cls.env, login=f"webmail_user_{next(_numbers)}",
                                 groups="base.group_user", name="Wendy Webmail",
                                 email="wendy@example.com")
        cls.other_user = new_test_user(cls.env, login=f"webmail_other_{next(_numbers)}",
                                       groups="base.group_user", name="Oscar Other",
                                       email="oscar@example.com")

    def setUp(self):
        super().setUp()
        # mail on the server outlives the test's rolled-back transaction: fresh mailboxes
        self.mailbox_login = self.add_mailbox()
        self.other_mailbox_login = self.add_mailbox()
        if self.with_smtp:
            self.smtp.clear()

    @classmethod
    def add_mailbox(cls):
        login = f"box{next(_numbers)}"
        cls.dovecot.add_user(login, f"pw-{login}")
        return login

    @classmethod
    def account_values(cls, login, security="ssl", **values):
        server = cls.dovecot
        result = {
            "email": f"{login}@example.com",
            "from_name": login.title(),
            "imap_host": server.hostname,
            "imap_port": server.imaps_port if security == "ssl" else server.imap_port,
            "security": security,
            "login": login,
            "password": server.users[login],
            "ca_certificate": server.ca_path.read_text(),
        }
        result.update(values)
        return result

    def smtp_values(self):
        """Account values that send through ``cls.smtp`` (STARTTLS, certificate verified)."""
        return {"smtp_host": self.smtp.hostname, "smtp_port": self.smtp.port,
                "smtp_security": "starttls", "smtp_login": SMTP_LOGIN,
                "smtp_password": SMTP_PASSWORD}

    def make_account(self, user=None, login=None, security="ssl", **values):
        """An account of ``user`` (default ``self.user``), created as that user."""
        user = user or self.user
        login = login or self.mailbox_login
        Account = self.env["vt_webmail.account"].with_user(user)
        return Account.create(self.account_values(login, security, **values))

    def seed(self, subjects, login=None, folder="INBOX", **kwargs):
        """APPEND one text mail per subject; return the UIDs."""
        login = login or self.mailbox_login
        return self.dovecot.append_many(login, folder, [raw_mail(s, **kwargs) for s in subjects])

    def imap(self, login=None):
        """Another IMAP client on the mailbox (to act as a second mail program)."""
        return self.dovecot.client(login or self.mailbox_login)

    def messages(self, account, folder="INBOX"):
        return self.env["vt_webmail.message"].sudo().search([
            ("account_id", "=", account.id), ("folder_id.name", "=", folder),
        ])
