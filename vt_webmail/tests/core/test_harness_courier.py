"""The Courier-IMAP test server is real: prove it before anything relies on it.

Skipped, with the reason, where Courier cannot run (not installed by
``tools/imap-servers/get-courier``, or not root). The assertions on Courier's answers document
what a client must cope with: folders below ``INBOX.``, quoted HEADER.FIELDS names in FETCH
answers, no UIDNEXT in SELECT, no MULTIAPPEND/CONDSTORE/ESEARCH/MOVE/ID.
"""

import contextlib
import itertools
import os
import secrets
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass

import imapclient
import pytest
from imapclient.exceptions import LoginError

from vt_webmail.testing import CourierServer, CourierUnavailable, ImapTestServer
from vt_webmail.testing.imap_server import SPECIAL_FOLDERS

_user_numbers = itertools.count(1)
MESSAGE = b"Subject: hello\r\nFrom: a@example.com\r\n\r\nbody\r\n"


@dataclass(frozen=True)
class Mailbox:
    """A fresh Courier user: where to connect and how to log in."""

    server: CourierServer
    login: str
    password: str

    def client(self):
        return self.server.client(self.login)

    def append(self, message, folder="INBOX", **kwargs):
        return self.server.append(self.login, folder, message, **kwargs)


def _new_server(**kwargs):
    try:
        return CourierServer(**kwargs)
    except CourierUnavailable as exc:  # only "cannot run here": a failed start is an error
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def courier():
    """One Courier for the module; every test gets its own user (see ``mailbox``)."""
    with _new_server() as server:
        yield server


@pytest.fixture
def mailbox(courier):
    if not courier.running:  # a failed restart in an earlier test
        courier.start()
    login = f"user{next(_user_numbers)}"
    password = secrets.token_urlsafe(12)
    courier.add_user(login, password)
    return Mailbox(courier, login, password)


def _context(cafile):
    return ssl.create_default_context(cafile=str(cafile))


def _refused(server, port):
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((server.host, port), timeout=2).close()


def test_version_and_folder_names(courier):
    assert courier.version == "5.0.13"
    assert "Courier-IMAP 5.0.13" in courier.version_line
    assert courier.folder_name("INBOX") == "INBOX"
    assert courier.folder_name("Sent") == "INBOX.Sent"
    assert courier.folder_name("INBOX.Sent") == "INBOX.Sent"
    # every other server keeps the names as they are
    assert ImapTestServer.folder_name(courier, "Sent") == "Sent"


def test_plain_login_append_select_examine_fetch(mailbox):
    uid = mailbox.append(MESSAGE)
    server = mailbox.server
    client = imapclient.IMAPClient(server.host, server.imap_port, ssl=False, timeout=5)
    try:
        before = set(client.capabilities())
        assert {b"STARTTLS", b"UIDPLUS", b"IDLE", b"NAMESPACE"} <= before
        assert b"LOGINDISABLED" not in before  # plaintext LOGIN allowed on the plain port
        client.login(mailbox.login, mailbox.password)
        after = set(client.capabilities())
        assert b"STARTTLS" not in after
        assert not {b"MULTIAPPEND", b"CONDSTORE", b"QRESYNC", b"ESEARCH", b"MOVE", b"ID",
                    b"LITERAL+", b"SPECIAL-USE"} & after
        assert client.namespace().personal == (("INBOX.", "."),)

        selected = client.select_folder("INBOX")
        assert selected[b"EXISTS"] == 1
        assert selected[b"READ-WRITE"]
        assert b"UIDNEXT" not in selected  # Courier does not send it: ask STATUS
        assert client.folder_status("INBOX", [b"UIDNEXT"])[b"UIDNEXT"] == uid + 1
        examined = client.select_folder("INBOX", readonly=True)
        assert examined[b"READ-ONLY"] and examined[b"EXISTS"] == 1

        fetched = client.fetch([uid], ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]", "FLAGS"])
        # Courier quotes the field names in its answer
        assert fetched[uid][b'BODY[HEADER.FIELDS ("SUBJECT")]'].strip() == b"Subject: hello"
        assert b"\\Seen" not in fetched[uid][b"FLAGS"]
        # "UID *" matches nothing (RFC 3501: the highest UID); UID FETCH * works
        assert client.search(["UID", "*"]) == []
        assert client.search(["UID", f"{uid}:*"]) == [uid]
        assert client.search(["UID", f"{uid + 1}:*"]) == []
    finally:
        client.logout()


def test_starttls_verified_login(mailbox):
    server = mailbox.server
    client = imapclient.IMAPClient(server.hostname, server.imap_port, ssl=False, timeout=5)
    try:
        client.starttls(_context(server.ca_path))
        assert b"AUTH=PLAIN" in client.capabilities()
        client.login(mailbox.login, mailbox.password)
        assert client.select_folder("INBOX")[b"EXISTS"] == 0
    finally:
        client.logout()


def test_implicit_tls_verified_login(mailbox):
    server = mailbox.server
    client = imapclient.IMAPClient(server.hostname, server.imaps_port, ssl=True,
                                   ssl_context=_context(server.ca_path), timeout=5)
    try:
        assert b"STARTTLS" not in client.capabilities()
        client.login(mailbox.login, mailbox.password)
        assert client.select_folder("INBOX")[b"EXISTS"] == 0
    finally:
        client.logout()


def test_unknown_ca_is_refused(mailbox):
    server = mailbox.server
    unknown = _context(server.pki.unknown_ca_path)
    with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer"):
        imapclient.IMAPClient(server.hostname, server.imaps_port, ssl=True, ssl_context=unknown,
                              timeout=5)
    client = imapclient.IMAPClient(server.hostname, server.imap_port, ssl=False, timeout=5)
    try:
        with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer"):
            client.starttls(unknown)
    finally:
        with contextlib.suppress(OSError):  # the failed handshake closed the socket already
            client.shutdown()


def test_wrong_password_is_refused(mailbox):
    server = mailbox.server
    client = imapclient.IMAPClient(server.host, server.imap_port, ssl=False, timeout=15)
    started = time.monotonic()
    try:
        with pytest.raises(LoginError, match="Login failed"):
            client.login(mailbox.login, mailbox.password + "x")
    finally:
        client.shutdown()
    # imaplogin sleeps 5 s before every "NO Login failed." (hard-coded)
    assert time.monotonic() - started >= 4.5


def test_add_user_again_changes_the_password(mailbox):
    server = mailbox.server
    server.add_user(mailbox.login, "another password")
    server.client(mailbox.login, password="another password").logout()
    assert server.users[mailbox.login] == "another password"


def test_list_shows_inbox_and_special_folders(mailbox):
    server = mailbox.server
    wanted = {server.folder_name(name) for name in ["INBOX", *SPECIAL_FOLDERS]}
    assert wanted == {"INBOX", "INBOX.Sent", "INBOX.Drafts", "INBOX.Trash", "INBOX.Junk",
                      "INBOX.Archive"}
    client = mailbox.client()
    try:
        listed = client.list_folders()
        assert {name for _flags, _sep, name in listed} == wanted
        assert {sep for _flags, sep, _name in listed} == {b"."}
        # no SPECIAL-USE: the names are all there is
        assert not {flag for flags, _sep, _name in listed for flag in flags} & {
            b"\\Sent", b"\\Drafts", b"\\Trash", b"\\Junk", b"\\Archive"}
        assert {name for _flags, _sep, name in client.list_sub_folders()} >= wanted - {"INBOX"}
    finally:
        client.logout()
    uid = mailbox.append(MESSAGE, folder=server.folder_name("Sent"))
    client = mailbox.client()
    try:
        assert client.select_folder("INBOX.Sent")[b"EXISTS"] == 1
        assert client.search() == [uid]
    finally:
        client.logout()


def test_append_300_gives_300_uids(mailbox):
    messages = [b"Subject: number %d\r\n\r\nbody %d\r\n" % (n, n) for n in range(300)]
    uids = mailbox.server.append_many(mailbox.login, "INBOX", messages)
    assert uids == list(range(1, 301))
    client = mailbox.client()
    try:
        assert client.select_folder("INBOX", readonly=True)[b"EXISTS"] == 300
        fetched = client.fetch([uids[-1]], ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
        assert fetched[uids[-1]][b'BODY[HEADER.FIELDS ("SUBJECT")]'].strip() == (
            b"Subject: number 299")
    finally:
        client.logout()


def test_stop_and_restart_keep_ports_and_mail(mailbox):
    server = mailbox.server
    ports = (server.imap_port, server.imaps_port)
    uid = mailbox.append(b"Subject: kept\r\n\r\nx\r\n")
    server.stop()
    assert not server.pids()
    _refused(server, server.imap_port)
    _refused(server, server.imaps_port)
    late = server.add_user("added-while-stopped", "pw")  # works stopped too
    server.start()
    assert (server.imap_port, server.imaps_port) == ports
    client = mailbox.client()
    try:
        assert client.select_folder("INBOX")[b"EXISTS"] == 1
        assert client.search() == [uid]
    finally:
        client.logout()
    server.client(late).logout()


def _ps_pids():
    done = subprocess.run(["ps", "-e", "-o", "pid="], capture_output=True, text=True,
                          check=True)
    return {int(pid) for pid in done.stdout.split()}


def test_kill_then_start(mailbox):
    server = mailbox.server
    mailbox.append(b"Subject: survives\r\n\r\nx\r\n")
    busy = mailbox.client()  # a logged-in imapd must die too
    pids = set(server.pids())
    assert len(pids) >= 4  # wrapper, authdaemond (and its children), two couriertcpd, imapd
    server.kill()
    assert not server.running
    assert not pids & _ps_pids(), "kill() left Courier processes behind"
    _refused(server, server.imap_port)
    with pytest.raises((OSError, imapclient.exceptions.IMAPClientError)):
        busy.noop()
    server.start()
    client = mailbox.client()
    try:
        assert client.select_folder("INBOX")[b"EXISTS"] == 1
    finally:
        client.logout()


def test_close_removes_everything():
    server = _new_server(tls=False)
    with server:
        assert server.imaps_port is None
        server.add_user("solo", "pw")
        client = server.client("solo")
        try:
            assert b"STARTTLS" not in client.capabilities()
        finally:
            client.logout()
        pids = server.pids()
    assert not set(pids) & _ps_pids()
    assert not os.path.exists(server.root), "close() must remove the server's files"
