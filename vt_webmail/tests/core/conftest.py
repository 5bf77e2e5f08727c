"""pytest fixtures for the ORM-free layer: real Dovecot, Cyrus and SMTP servers, no Odoo.

(The repository's root ``conftest.py`` makes ``vt_webmail.core`` importable without Odoo.)
"""

import itertools
import secrets
from dataclasses import dataclass

import pytest

from vt_webmail.testing import CyrusServer, CyrusUnavailable, DovecotServer, ImapTestServer
from vt_webmail.testing.smtpd import SMTPServer

_user_numbers = itertools.count(1)


@dataclass(frozen=True)
class Mailbox:
    """A fresh user of a test server: where to connect and how to log in."""

    server: ImapTestServer
    login: str
    password: str

    def client(self):
        """Another IMAP client on the same mailbox (to change flags, expunge, append)."""
        return self.server.client(self.login)

    def append(self, message, folder="INBOX", **kwargs):
        return self.server.append(self.login, folder, message, **kwargs)


@pytest.fixture(scope="session")
def dovecot():
    """One Dovecot for the whole run; every test gets its own user (see ``mailbox``)."""
    with DovecotServer() as server:
        yield server


@pytest.fixture
def mailbox(dovecot):
    login = f"user{next(_user_numbers)}"
    password = secrets.token_urlsafe(12)
    dovecot.add_user(login, password)
    return Mailbox(dovecot, login, password)


@pytest.fixture(scope="session")
def cyrus():
    """One Cyrus for the whole run, skipped where it is not installed (the reason says how to
    get it: tools/imap-servers/get-cyrus)."""
    try:
        server = CyrusServer()
    except CyrusUnavailable as exc:
        pytest.skip(str(exc))
    with server:
        yield server


@pytest.fixture
def cyrus_mailbox(cyrus):
    login = f"user{next(_user_numbers)}"
    password = secrets.token_urlsafe(12)
    cyrus.add_user(login, password)
    return Mailbox(cyrus, login, password)


@pytest.fixture
def smtp_server():
    with SMTPServer({"sender": "sender-password"}) as server:
        yield server
