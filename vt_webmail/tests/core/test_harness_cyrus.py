"""The Cyrus test server is real: prove it before anything relies on it.

Skipped where Cyrus is not installed (``tools/imap-servers/get-cyrus`` installs it); see the
``cyrus`` and ``cyrus_mailbox`` fixtures in ``conftest.py``.

What Cyrus 3.6.1 (Debian 12) announces with the configuration of :mod:`vt_webmail.testing.cyrus`:

* greeting, plain port: ``* OK [CAPABILITY IMAP4rev1 LITERAL+ ID ENABLE STARTTLS AUTH=PLAIN
  AUTH=LOGIN SASL-IR] localhost Cyrus IMAP 3.6.1-Debian-3.6.1-4+deb12u5 server ready``
  (the implicit-TLS port: the same without STARTTLS);
* CAPABILITY before login: the full list already, ``IMAP4rev1 LITERAL+ ID ENABLE ACL
  ANNOTATE-EXPERIMENT-1 BINARY CATENATE CHILDREN CONDSTORE CREATE-SPECIAL-USE ESEARCH ESORT
  LIST-EXTENDED LIST-MYRIGHTS LIST-STATUS MAILBOX-REFERRALS METADATA MOVE MULTIAPPEND NAMESPACE
  OBJECTID PREVIEW QRESYNC QUOTA RIGHTS=kxten SAVEDATE SEARCH=FUZZY SORT SORT=DISPLAY
  SPECIAL-USE STATUS=SIZE THREAD=ORDEREDSUBJECT THREAD=REFERENCES UIDPLUS UNSELECT URLAUTH
  URLAUTH=BINARY WITHIN DIGEST=SHA1 LIST-METADATA NO_ATOMIC_RENAME SCAN SORT=MODSEQ SORT=UID
  THREAD=REFS X-CREATEDMODSEQ X-REPLICATION X-SIEVE-MAILBOX XLIST XMOVE STARTTLS AUTH=PLAIN
  AUTH=LOGIN SASL-IR COMPRESS=DEFLATE X-QUOTA=STORAGE X-QUOTA=MESSAGE
  X-QUOTA=X-ANNOTATION-STORAGE X-QUOTA=X-NUM-SPECIAL_FOLDERS IDLE APPENDLIMIT=4294967295``;
* CAPABILITY after login (and in the LOGIN response code): the same, without
  ``STARTTLS AUTH=PLAIN AUTH=LOGIN SASL-IR`` and with ``LOGINDISABLED`` in their place.
"""

import contextlib
import datetime
import imaplib
import ssl
import time

import imapclient
import pytest
from imapclient.exceptions import LoginError

from vt_webmail.testing import CyrusServer, CyrusUnavailable
from vt_webmail.testing.imap_server import SPECIAL_FOLDERS


def _context(cafile, check_hostname=True):
    context = ssl.create_default_context(cafile=str(cafile))
    context.check_hostname = check_hostname
    return context


def test_plain_login_append_select_examine_fetch(cyrus_mailbox):
    server = cyrus_mailbox.server
    uid = cyrus_mailbox.append(b"Subject: hello\r\nFrom: a@example.com\r\n\r\nbody\r\n")
    client = imapclient.IMAPClient(server.host, server.imap_port, ssl=False, timeout=5)
    try:
        assert b"STARTTLS" in client.capabilities()
        assert client.welcome.startswith(b"* OK [CAPABILITY ")
        client.login(cyrus_mailbox.login, cyrus_mailbox.password)
        info = client.select_folder("INBOX")
        assert info[b"EXISTS"] == 1
        assert info[b"UIDNEXT"] == uid + 1
        assert info[b"READ-WRITE"]
        info = client.select_folder("INBOX", readonly=True)  # EXAMINE
        assert info[b"READ-ONLY"]
        assert info[b"PERMANENTFLAGS"] == ()
        fetched = client.fetch([uid], ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
        assert fetched[uid][b"BODY[HEADER.FIELDS (SUBJECT)]"] == b"Subject: hello\r\n\r\n"
    finally:
        client.logout()


def test_fetch_answers_as_cyrus_words_them(cyrus_mailbox):
    """What IMAPClient normalises away, seen on the wire with imaplib."""
    server = cyrus_mailbox.server
    cyrus_mailbox.append(b"Subject: hello\r\nFrom: a@example.com\r\n\r\nbody\r\n",
                         msg_time=datetime.datetime(2024, 3, 5, 9, 7, 1,
                                                    tzinfo=datetime.timezone.utc))
    imap = imaplib.IMAP4(server.host, server.imap_port, timeout=5)
    try:
        imap.login(cyrus_mailbox.login, cyrus_mailbox.password)
        imap.select("INBOX")
        status, data = imap.fetch("1", "(INTERNALDATE BODY.PEEK[HEADER.FIELDS (Subject from)])")
    finally:
        imap.logout()
    assert status == "OK"
    # the field names come back as asked (Dovecot upper-cases them), the day of the month
    # padded with a space (Dovecot: "05-Mar-2024")
    assert data[0] == (
        b'1 (INTERNALDATE " 5-Mar-2024 09:07:01 +0000" BODY[HEADER.FIELDS (Subject from)] {39}',
        b"Subject: hello\r\nFrom: a@example.com\r\n\r\n",
    )


def test_starttls_verified_login(cyrus_mailbox):
    server = cyrus_mailbox.server
    client = imapclient.IMAPClient(server.hostname, server.imap_port, ssl=False, timeout=5)
    try:
        client.starttls(_context(server.ca_path))
        assert b"STARTTLS" not in client.capabilities()
        client.login(cyrus_mailbox.login, cyrus_mailbox.password)
        assert client.select_folder("INBOX")[b"EXISTS"] == 0
    finally:
        client.logout()


def test_implicit_tls_verified_login(cyrus_mailbox):
    server = cyrus_mailbox.server
    client = imapclient.IMAPClient(server.hostname, server.imaps_port, ssl=True,
                                   ssl_context=_context(server.ca_path), timeout=5)
    try:
        assert b"STARTTLS" not in client.capabilities()
        client.login(cyrus_mailbox.login, cyrus_mailbox.password)
        assert client.select_folder("INBOX")[b"EXISTS"] == 0
    finally:
        client.logout()


def test_unknown_ca_is_refused(cyrus):
    with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer"):
        imapclient.IMAPClient(cyrus.hostname, cyrus.imaps_port, ssl=True,
                              ssl_context=_context(cyrus.pki.unknown_ca_path), timeout=5)
    client = imapclient.IMAPClient(cyrus.hostname, cyrus.imap_port, ssl=False, timeout=5)
    try:
        with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer"):
            client.starttls(_context(cyrus.pki.unknown_ca_path))
    finally:
        with contextlib.suppress(OSError):  # the failed handshake closed the socket
            client.shutdown()


def test_wrong_host_name_is_refused(cyrus):
    # the certificate names "localhost" only; 127.0.0.1 is the same server under another name
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
        imapclient.IMAPClient("127.0.0.1", cyrus.imaps_port, ssl=True,
                              ssl_context=_context(cyrus.ca_path), timeout=5)


def test_wrong_password_is_refused_at_once(cyrus_mailbox):
    server = cyrus_mailbox.server
    client = imapclient.IMAPClient(server.host, server.imap_port, ssl=False, timeout=5)
    try:
        started = time.monotonic()
        with pytest.raises(LoginError):
            client.login(cyrus_mailbox.login, cyrus_mailbox.password + "x")
        # failedloginpause is 0 (Cyrus's default pauses 3 s)
        assert time.monotonic() - started < 2
        with pytest.raises(LoginError):
            client.login("nobody-" + cyrus_mailbox.login, cyrus_mailbox.password)
    finally:
        client.shutdown()


def test_folders_with_special_use_flags(cyrus_mailbox):
    client = cyrus_mailbox.client()
    try:
        folders = {name: flags for flags, _sep, name in client.list_folders()}
        assert set(folders) == {"INBOX", *SPECIAL_FOLDERS}
        for name, flag in SPECIAL_FOLDERS.items():
            assert flag.encode() in folders[name], (name, folders[name])
        subscribed = {name for _flags, _sep, name in client.list_sub_folders()}
        assert subscribed == {"INBOX", *SPECIAL_FOLDERS}
        # "/" separates levels and folders are siblings of INBOX, as in Dovecot
        client.create_folder("Projects/Caf\u00e9")
        assert ((b"\\HasNoChildren",), b"/", "Projects/Caf\u00e9") in client.list_folders(
            "Projects/", "*")
        assert client.namespace().personal == (("", "/"),)
    finally:
        client.logout()


def test_multiappend_of_300_messages(cyrus_mailbox):
    server = cyrus_mailbox.server
    messages = [b"Subject: bulk %d\r\n\r\nbody %d\r\n" % (n, n) for n in range(300)]
    uids = server.append_many(cyrus_mailbox.login, "Archive", messages)
    assert uids == list(range(1, 301))
    client = cyrus_mailbox.client()
    try:
        assert client.has_capability("MULTIAPPEND")
        assert client.select_folder("Archive", readonly=True)[b"EXISTS"] == 300
        fetched = client.fetch([300], ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
        assert fetched[300][b"BODY[HEADER.FIELDS (SUBJECT)]"].strip() == b"Subject: bulk 299"
    finally:
        client.logout()


def test_capabilities_after_login(cyrus_mailbox):
    client = cyrus_mailbox.client()
    try:
        capabilities = set(client.capabilities())
    finally:
        client.logout()
    assert {b"CONDSTORE", b"QRESYNC", b"UIDPLUS", b"MULTIAPPEND", b"SPECIAL-USE", b"MOVE",
            b"IDLE", b"ENABLE", b"ESEARCH", b"LIST-STATUS"} <= capabilities
    assert b"STARTTLS" not in capabilities
    assert b"LOGINDISABLED" in capabilities  # Cyrus's way of saying "already logged in"


def test_version_is_the_one_the_server_reports(cyrus_mailbox):
    assert cyrus_mailbox.server.version.startswith("3.6.1")
    client = cyrus_mailbox.client()
    try:
        assert cyrus_mailbox.server.version.encode() in client.welcome
        (fields,) = client.id_({"name": "vt_webmail tests"})
    finally:
        client.logout()
    identity = dict(zip(fields[::2], fields[1::2], strict=True))
    # and more: vendor, support-url, os, os-version, environment (SASL, OpenSSL, zlib versions)
    assert identity[b"name"] == b"Cyrus IMAPD"
    assert identity[b"version"] == cyrus_mailbox.server.version.encode()


def test_stop_and_restart_keep_ports_and_mail(cyrus_mailbox):
    server = cyrus_mailbox.server
    ports = server.imap_port, server.imaps_port
    cyrus_mailbox.append(b"Subject: kept\r\n\r\nx\r\n")
    server.stop()
    with pytest.raises(ConnectionRefusedError):
        imapclient.IMAPClient(server.host, server.imap_port, ssl=False, timeout=2)
    server.start()
    assert (server.imap_port, server.imaps_port) == ports
    client = cyrus_mailbox.client()
    try:
        assert client.select_folder("INBOX")[b"EXISTS"] == 1
    finally:
        client.logout()


def test_kill_then_start():
    try:
        server = CyrusServer()
    except CyrusUnavailable as exc:
        pytest.skip(str(exc))
    with server:
        server.add_user("crash", "pw")
        server.append("crash", "INBOX", b"Subject: before\r\n\r\nx\r\n")
        client = server.client("crash")
        client.select_folder("INBOX")
        server.kill()
        assert not server.running
        with pytest.raises(ConnectionRefusedError):
            imapclient.IMAPClient(server.host, server.imap_port, ssl=False, timeout=2)
        server.start()
        server.add_user("after", "pw")
        assert server.append("crash", "INBOX", b"Subject: after\r\n\r\nx\r\n") == 2
        client = server.client("crash")
        try:
            assert client.select_folder("INBOX")[b"EXISTS"] == 2
        finally:
            client.logout()
    assert not server.root.exists(), "close() must remove the server's files"


def test_mail_is_never_owned_by_root(cyrus_mailbox):
    cyrus_mailbox.append(b"Subject: owner\r\n\r\nx\r\n")
    root = cyrus_mailbox.server.root
    owned_by_root = [path for directory in ("config", "spool", "sasl")
                     for path in (root / directory).rglob("*") if path.stat().st_uid == 0]
    assert owned_by_root == []


def test_without_tls_no_starttls():
    try:
        server = CyrusServer(tls=False)
    except CyrusUnavailable as exc:
        pytest.skip(str(exc))
    with server:
        assert server.imaps_port is None
        server.add_user("plain", "pw")
        client = server.client("plain")
        try:
            assert b"STARTTLS" not in client.capabilities()
            assert "Sent" in {name for _flags, _sep, name in client.list_folders()}
        finally:
            client.logout()


def test_idle_sees_another_clients_append(cyrus_mailbox):
    # no idled here: imapd polls every imapidlepoll (1 s in this configuration, 60 s by default)
    client = cyrus_mailbox.client()
    try:
        client.select_folder("INBOX")
        client.idle()
        cyrus_mailbox.append(b"Subject: while idle\r\n\r\nx\r\n")
        events = client.idle_check(timeout=5)
        client.idle_done()
    finally:
        client.logout()
    assert (1, b"EXISTS") in events
