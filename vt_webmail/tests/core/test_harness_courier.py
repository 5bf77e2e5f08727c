"""The Courier-IMAP test server is real: prove it before anything relies on it.

Skipped, with the reason, where Courier cannot run (not installed by
``tools/imap-servers/get-courier``, or not root). The assertions on Courier's answers document
what a client must cope with: folders below ``INBOX.``, quoted HEADER.FIELDS names in FETCH
answers, no UIDNEXT in SELECT, no MULTIAPPEND/CONDSTORE/ESEARCH/MOVE/ID.
"""

import contextlib
import os
import socket
import ssl
import subprocess
import time

import imapclient
import pytest
from imapclient.exceptions import LoginError

from vt_webmail.testing import CourierServer, CourierUnavailable, ImapTestServer, server_required
from vt_webmail.testing.imap_server import SPECIAL_FOLDERS

MESSAGE = b"Subject: hello\r\nFrom: a@example.com\r\n\r\nbody\r\n"


def _new_server(**kwargs):
    try:
        return CourierServer(**kwargs)
    except CourierUnavailable as exc:  # only "cannot run here": a failed start is an error
        if server_required("courier"):
            pytest.fail(f"courier is required (VT_REQUIRE_IMAP_SERVERS) but: {exc}")
        pytest.skip(str(exc))


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


def test_plain_login_append_select_examine_fetch(courier_mailbox):
    uid = courier_mailbox.append(MESSAGE)
    server = courier_mailbox.server
    client = imapclient.IMAPClient(server.host, server.imap_port, ssl=False, timeout=5)
    try:
        before = set(client.capabilities())
        assert {b"STARTTLS", b"UIDPLUS", b"IDLE", b"NAMESPACE"} <= before
        assert b"LOGINDISABLED" not in before  # plaintext LOGIN allowed on the plain port
        client.login(courier_mailbox.login, courier_mailbox.password)
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


def test_starttls_verified_login(courier_mailbox):
    server = courier_mailbox.server
    client = imapclient.IMAPClient(server.hostname, server.imap_port, ssl=False, timeout=5)
    try:
        client.starttls(_context(server.ca_path))
        assert b"AUTH=PLAIN" in client.capabilities()
        client.login(courier_mailbox.login, courier_mailbox.password)
        assert client.select_folder("INBOX")[b"EXISTS"] == 0
    finally:
        client.logout()


def test_implicit_tls_verified_login(courier_mailbox):
    server = courier_mailbox.server
    client = imapclient.IMAPClient(server.hostname, server.imaps_port, ssl=True,
                                   ssl_context=_context(server.ca_path), timeout=5)
    try:
        assert b"STARTTLS" not in client.capabilities()
        client.login(courier_mailbox.login, courier_mailbox.password)
        assert client.select_folder("INBOX")[b"EXISTS"] == 0
    finally:
        client.logout()


def test_unknown_ca_is_refused(courier_mailbox):
    server = courier_mailbox.server
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


def test_wrong_password_is_refused(courier_mailbox):
    server = courier_mailbox.server
    client = imapclient.IMAPClient(server.host, server.imap_port, ssl=False, timeout=15)
    started = time.monotonic()
    try:
        with pytest.raises(LoginError, match="Login failed"):
            client.login(courier_mailbox.login, courier_mailbox.password + "x")
    finally:
        client.shutdown()
    # imaplogin sleeps 5 s before every "NO Login failed." (hard-coded)
    assert time.monotonic() - started >= 4.5


def test_add_user_again_changes_the_password(courier_mailbox):
    server = courier_mailbox.server
    server.add_user(courier_mailbox.login, "another password")
    server.client(courier_mailbox.login, password="another password").logout()
    assert server.users[courier_mailbox.login] == "another password"


def test_list_shows_inbox_and_special_folders(courier_mailbox):
    server = courier_mailbox.server
    wanted = {server.folder_name(name) for name in ["INBOX", *SPECIAL_FOLDERS]}
    assert wanted == {"INBOX", "INBOX.Sent", "INBOX.Drafts", "INBOX.Trash", "INBOX.Junk",
                      "INBOX.Archive"}
    client = courier_mailbox.client()
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
    uid = courier_mailbox.append(MESSAGE, folder=server.folder_name("Sent"))
    client = courier_mailbox.client()
    try:
        assert client.select_folder("INBOX.Sent")[b"EXISTS"] == 1
        assert client.search() == [uid]
    finally:
        client.logout()


def test_append_300_gives_300_uids(courier_mailbox):
    messages = [b"Subject: number %d\r\n\r\nbody %d\r\n" % (n, n) for n in range(300)]
    uids = courier_mailbox.server.append_many(courier_mailbox.login, "INBOX", messages)
    assert uids == list(range(1, 301))
    client = courier_mailbox.client()
    try:
        assert client.select_folder("INBOX", readonly=True)[b"EXISTS"] == 300
        fetched = client.fetch([uids[-1]], ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
        assert fetched[uids[-1]][b'BODY[HEADER.FIELDS ("SUBJECT")]'].strip() == (
            b"Subject: number 299")
    finally:
        client.logout()


def test_stop_and_restart_keep_ports_and_mail(courier_mailbox):
    server = courier_mailbox.server
    ports = (server.imap_port, server.imaps_port)
    uid = courier_mailbox.append(b"Subject: kept\r\n\r\nx\r\n")
    server.stop()
    assert not server.pids()
    _refused(server, server.imap_port)
    _refused(server, server.imaps_port)
    late = server.add_user("added-while-stopped", "pw")  # works stopped too
    server.start()
    assert (server.imap_port, server.imaps_port) == ports
    client = courier_mailbox.client()
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


def test_kill_then_start(courier_mailbox):
    server = courier_mailbox.server
    courier_mailbox.append(b"Subject: survives\r\n\r\nx\r\n")
    busy = courier_mailbox.client()  # a logged-in imapd must die too
    pids = set(server.pids())
    assert len(pids) >= 4  # wrapper, authdaemond (and its children), two couriertcpd, imapd
    server.kill()
    assert not server.running
    assert not pids & _ps_pids(), "kill() left Courier processes behind"
    _refused(server, server.imap_port)
    with pytest.raises((OSError, imapclient.exceptions.IMAPClientError)):
        busy.noop()
    server.start()
    client = courier_mailbox.client()
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
