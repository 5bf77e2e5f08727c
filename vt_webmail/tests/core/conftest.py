"""pytest fixtures for the ORM-free layer: real Dovecot and SMTP servers, no Odoo.

``vt_webmail/__init__.py`` imports the Odoo models, so this file registers a bare ``vt_webmail``
package pointing at the addon directory: ``vt_webmail.core`` and ``vt_webmail.testing`` then
import exactly as they do inside Odoo, and nothing else of the addon is loaded.
"""

import itertools
import secrets
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import pytest

ADDON_DIR = Path(__file__).resolve().parents[2]
if "vt_webmail" not in sys.modules:
    _package = types.ModuleType("vt_webmail")
    _package.__path__ = [str(ADDON_DIR)]
    sys.modules["vt_webmail"] = _package

from vt_webmail.testing import DovecotServer  # noqa: E402
from vt_webmail.testing.smtpd import SMTPServer  # noqa: E402

_user_numbers = itertools.count(1)


@dataclass(frozen=True)
class Mailbox:
    """A fresh Dovecot user: where to connect and how to log in."""

    server: DovecotServer
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


@pytest.fixture
def smtp_server():
    with SMTPServer({"sender": "sender-password"}) as server:
        yield server
