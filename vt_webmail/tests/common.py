"""Fixtures shared by the Odoo test cases: a real IMAP server per test class, users, accounts.

``WebmailCase`` mixes into ``TransactionCase`` or ``HttpCase``. It starts one IMAP server for the
class (Dovecot unless the class names another of :data:`~..testing.IMAP_SERVERS`; stopped and
removed in a class cleanup, also when a test fails), creates two internal users with a mailbox
each, and offers helpers to make accounts and seed mail with APPEND. Folder names in the helpers
are the tests' names ("Sent", "Projects"), turned into the server's own (Courier: "INBOX.Sent").

A test class runs against every server software by subclassing it once per server with
:func:`on_every_imap_server`.
"""

import itertools
import logging
import secrets
import unittest

from odoo.tests import new_test_user

from .. import compat
from ..models.vt_webmail_account import ALLOWED_HOSTS_PARAMETER
from ..models.vt_webmail_account_imap import POOL
from ..testing import IMAP_SERVERS, ServerUnavailable, server_required
from ..testing.smtpd import SMTPServer

_logger = logging.getLogger(__name__)
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


def on_every_imap_server(test_class, names=("cyrus", "courier")):
    """Subclasses of ``test_class`` (a :class:`WebmailCase`) for the other IMAP servers, to be
    bound to module-level names so Odoo's loader finds them; each keeps the class's tags."""
    # through the metaclass (Odoo's MetaCase names the class for --test-tags in its __init__,
    # which a bare type() call would skip); Odoo 18's loader runs only the test methods a
    # class defines itself unless told to take the inherited ones too
    return [type(test_class)(f"{test_class.__name__}{name.title()}", (test_class,), {
        "imap_server_name": name,
        "allow_inherited_tests_method": True,
        "__module__": test_class.__module__,
    }) for name in names]


class WebmailCase:
    """Mixin: ``cls.imap_server``, ``cls.user`` / ``cls.other_user``, and for each test a fresh
    mailbox for each (``self.mailbox_login``, ``self.other_mailbox_login``)."""

    #: which server of :data:`~..testing.IMAP_SERVERS` the class runs against
    imap_server_name = "dovecot"
    #: keyword arguments of that server's class (Dovecot: ``capabilities``, ``tls``...)
    imap_server_options = {}
    #: also start ``cls.smtp``, a real SMTP server (STARTTLS, AUTH) whose certificate is
    #: signed by the IMAP server's test CA, so an account's one extra CA serves both servers
    with_smtp = False
    #: keyword arguments of ``cls.smtp``'s :class:`~..testing.smtpd.SMTPServer` (``oauth``...)
    smtp_options = {}
    #: seconds a session waits in the process's pool of logged-in sessions (system parameter
    #: vt_webmail.imap_pool_idle_seconds); 0, the tests' default: every request logs in, as the
    #: tests that count logins expect (TestImapPool turns it on)
    imap_pool_idle_seconds = 0
    #: bodies a refresh fetches ahead per folder (system parameter vt_webmail.prefetch_bodies);
    #: 0, the tests' default: a synced mail's body is fetched when it is opened, as the tests
    #: of opening expect (TestImapPool turns it on)
    prefetch_bodies = 0

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # refreshes run on a cursor of their own: in tests it must share this transaction
        # (HttpCase does the same)
        compat.enter_registry_test_mode(cls)
        try:
            cls.imap_server = IMAP_SERVERS[cls.imap_server_name](**cls.imap_server_options)
            cls.imap_server.start()
        except ServerUnavailable as exc:
            # Cyrus and Courier are unpacked by tools/imap-servers/get-*: without them the
            # class is skipped, saying why, unless VT_REQUIRE_IMAP_SERVERS asks for them (CI)
            if server_required(cls.imap_server_name):
                raise RuntimeError(f"{cls.__name__} needs {cls.imap_server_name}: {exc}") \
                    from exc
            raise unittest.SkipTest(f"{cls.imap_server_name}: {str(exc).splitlines()[0]}")
        cls.addClassCleanup(cls.imap_server.close)
        _logger.info("IMAP server for %s: %s %s", cls.__name__, cls.imap_server.name,
                     cls.imap_server.version)
        if cls.with_smtp:
            cls.smtp = SMTPServer({SMTP_LOGIN: SMTP_PASSWORD}, pki=cls.imap_server.pki,
                                  **cls.smtp_options).start()
            cls.addClassCleanup(cls.smtp.close)
        # the test servers are on loopback: allowed as an administrator would allow them
        cls.env["ir.config_parameter"].sudo().set_param(ALLOWED_HOSTS_PARAMETER, "127.0.0.1")
        cls.env["ir.config_parameter"].sudo().set_param(
            "vt_webmail.imap_pool_idle_seconds", str(cls.imap_pool_idle_seconds))
        cls.env["ir.config_parameter"].sudo().set_param(
            "vt_webmail.prefetch_bodies", str(cls.prefetch_bodies))
        # no session of another class's server or accounts (ids are reused after rollbacks)
        POOL.clear()
        cls.addClassCleanup(POOL.clear)
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
        cls.imap_server.add_user(login, f"pw-{login}")
        return login

    @classmethod
    def account_values(cls, login, security="ssl", **values):
        server = cls.imap_server
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

    def folder(self, name):
        """The server's own name of the folder a test calls ``name`` ("Sent", "Projects")."""
        return self.imap_server.folder_name(name)

    def seed(self, subjects, login=None, folder="INBOX", **kwargs):
        """APPEND one text mail per subject; return the UIDs."""
        login = login or self.mailbox_login
        return self.imap_server.append_many(login, self.folder(folder),
                                            [raw_mail(s, **kwargs) for s in subjects])

    def imap(self, login=None):
        """Another IMAP client on the mailbox (to act as a second mail program)."""
        return self.imap_server.client(login or self.mailbox_login)

    def server_messages(self, folder="INBOX", login=None):
        """``{uid: (flags, raw bytes)}`` of a folder as a second IMAP client reads it
        (``\\Recent``, a session's flag, left out)."""
        client = self.imap(login)
        try:
            client.select_folder(self.folder(folder), readonly=True)
            uids = client.search(["ALL"])
            fetched = client.fetch(uids, ["FLAGS", "BODY.PEEK[]"]) if uids else {}
        finally:
            client.logout()
        return {uid: (tuple(flag.decode() for flag in data[b"FLAGS"] if flag != b"\\Recent"),
                      data[b"BODY[]"])
                for uid, data in fetched.items()}

    def messages(self, account, folder="INBOX"):
        return self.env["vt_webmail.message"].sudo().search([
            ("account_id", "=", account.id), ("folder_id.name", "=", self.folder(folder)),
        ])
