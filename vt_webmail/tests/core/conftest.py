"""pytest fixtures for the ORM-free layer: real IMAP servers (Dovecot, Cyrus, Courier) and SMTP,
no Odoo.

(The repository's root ``conftest.py`` makes ``vt_webmail.core`` importable without Odoo.)

``imap_mailbox`` runs a test once per IMAP server software; a server that is not installed is
skipped, with the reason, unless ``VT_REQUIRE_IMAP_SERVERS`` names it (``all``, or a comma
list): then it is a failure, so that CI cannot pass by skipping. Which servers ran, and their
versions, is printed at the end of the run (and written as JSON to ``$VT_IMAP_SERVER_REPORT``
when set, for ``tools/run-tests``).
"""

import itertools
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import pytest

from vt_webmail.testing import (
    IMAP_SERVERS,
    DovecotServer,
    ImapTestServer,
    ServerUnavailable,
    server_required,
)
from vt_webmail.testing.smtpd import SMTPServer

_user_numbers = itertools.count(1)
#: server name -> its version (started) or why it was not
_server_report = {}


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

    def folder(self, name):
        """The server's full name of the test folder ``name`` (``INBOX.Sent`` on Courier)."""
        return self.server.folder_name(name)


def _start(name):
    try:
        server = IMAP_SERVERS[name]().start()
    except ServerUnavailable as exc:
        _server_report[name] = f"not run: {str(exc).splitlines()[0]}"
        if server_required(name):
            pytest.fail(f"{name} is required (VT_REQUIRE_IMAP_SERVERS) but: {exc}")
        pytest.skip(f"{name}: {exc}")
    _server_report[name] = server.version
    return server


def _new_user(server):
    login = f"user{next(_user_numbers)}"
    password = secrets.token_urlsafe(12)
    server.add_user(login, password)
    return Mailbox(server, login, password)


@pytest.fixture(scope="session")
def dovecot():
    """One Dovecot for the whole run; every test gets its own user (see ``mailbox``)."""
    with DovecotServer() as server:
        _server_report.setdefault("dovecot", server.version)
        yield server


@pytest.fixture
def mailbox(dovecot):
    return _new_user(dovecot)


@pytest.fixture(scope="session", params=list(IMAP_SERVERS))
def imap_server(request):
    """Each IMAP server software in turn, one instance for the whole run."""
    if request.param == "dovecot":
        yield request.getfixturevalue("dovecot")
        return
    yield from _own_server(request.param)


@pytest.fixture
def imap_mailbox(imap_server):
    """A fresh user on each IMAP server software in turn."""
    return _new_user(imap_server)


def _own_server(name):
    server = _start(name)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def cyrus():
    """One Cyrus for the whole run (tests of the Cyrus harness itself)."""
    yield from _own_server("cyrus")


@pytest.fixture
def cyrus_mailbox(cyrus):
    return _new_user(cyrus)


@pytest.fixture(scope="session")
def courier():
    """One Courier for the whole run (tests of the Courier harness itself)."""
    yield from _own_server("courier")


@pytest.fixture
def courier_mailbox(courier):
    if not courier.running:  # a failed restart in an earlier test
        courier.start()
    return _new_user(courier)


@pytest.fixture
def smtp_server():
    with SMTPServer({"sender": "sender-password"}) as server:
        yield server


def pytest_terminal_summary(terminalreporter):
    report_path = os.environ.get("VT_IMAP_SERVER_REPORT")
    if report_path:  # for tools/run-tests' SUMMARY line
        Path(report_path).write_text(json.dumps(_server_report))
    if _server_report:
        ran = ", ".join(f"{name} {version}" for name, version in sorted(_server_report.items())
                        if not version.startswith("not run"))
        missing = [f"{name} ({version})" for name, version in sorted(_server_report.items())
                   if version.startswith("not run")]
        terminalreporter.write_line(f"IMAP servers: {ran or 'none'}"
                                    + (f"; skipped: {'; '.join(missing)}" if missing else ""))
