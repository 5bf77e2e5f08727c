"""core.imap_session against a real Dovecot: security modes, failures, command-line limits."""

import pytest

from vt_webmail.core import exceptions
from vt_webmail.core.imap_session import (
    MAX_COMMAND_BYTES,
    ServerSettings,
    connect,
    folder_role,
    parse_sequence_set,
    uid_sets,
)
from vt_webmail.testing import DovecotServer, SilentServer, closed_port
from vt_webmail.testing.hostile_imap import LOGIN, PASSWORD, HostileImapServer


def settings_for(mailbox, security="ssl", **overrides):
    server = mailbox.server
    values = {
        "host": server.hostname,
        "port": server.imaps_port if security == "ssl" else server.imap_port,
        "login": mailbox.login,
        "password": mailbox.password,
        "security": security,
        "ca_pem": server.ca_path.read_text(),
        "timeout": 5,
    }
    values.update(overrides)
    return ServerSettings(**values)


@pytest.mark.parametrize("security", ["ssl", "starttls", "none"])
def test_each_security_mode_logs_in(mailbox, security):
    mailbox.append(b"Subject: one\r\n\r\nx\r\n")
    with connect(settings_for(mailbox, security)) as session:
        assert {"IMAP4REV1", "CONDSTORE", "QRESYNC"} <= session.capabilities
        info = session.select("INBOX")
        assert info.exists == 1
        assert info.uidnext == 2
        assert info.highestmodseq is not None
        # the session really is encrypted, or really is not
        sock = session.client._imap.sock
        assert hasattr(sock, "cipher") == (security != "none")


def test_unknown_ca_is_untrusted(mailbox):
    stranger = mailbox.server.pki.unknown_ca_path.read_text()
    with pytest.raises(exceptions.CertificateUntrusted):
        connect(settings_for(mailbox, ca_pem=stranger))
    with pytest.raises(exceptions.CertificateUntrusted):
        connect(settings_for(mailbox, "starttls", ca_pem=stranger))


def test_wrong_host_name_is_a_mismatch(mailbox):
    with pytest.raises(exceptions.HostnameMismatch):
        connect(settings_for(mailbox, host="127.0.0.1"))


def test_verification_off_accepts_any_certificate(mailbox):
    with connect(settings_for(mailbox, host="127.0.0.1", ca_pem=None,
                              verify_certificate=False)) as session:
        assert session.select("INBOX").exists == 0


def test_wrong_password_is_rejected(mailbox):
    with pytest.raises(exceptions.LoginRejected) as caught:
        connect(settings_for(mailbox, password="not-" + mailbox.password))
    assert mailbox.password not in str(caught.value)


def test_network_failures_are_typed(mailbox):
    with pytest.raises(exceptions.ConnectionRefused):
        connect(settings_for(mailbox, host="127.0.0.1", port=closed_port()))
    with SilentServer() as silent, pytest.raises(exceptions.ConnectionTimeout):
        connect(settings_for(mailbox, host="127.0.0.1", port=silent.port, timeout=0.5))
    with pytest.raises(exceptions.HostNotFound):
        connect(settings_for(mailbox, host="no-such-host.invalid"))


def test_tls_against_a_plain_port_fails_the_handshake(mailbox):
    with pytest.raises(exceptions.TLSHandshakeFailed):
        connect(settings_for(mailbox, "ssl", port=mailbox.server.imap_port))


def test_starttls_unavailable():
    with DovecotServer(tls=False) as server:
        server.add_user("u", "p")
        settings = ServerSettings(server.hostname, server.imap_port, "u", "p",
                                  security="starttls", timeout=5)
        with pytest.raises(exceptions.StartTLSUnavailable):
            connect(settings)
        # the same server without encryption works
        with connect(ServerSettings(server.hostname, server.imap_port, "u", "p",
                                    security="none", timeout=5)) as session:
            assert "STARTTLS" not in session.capabilities


def test_server_gone_mid_session():
    with DovecotServer() as server:
        server.add_user("u", "p")
        session = connect(ServerSettings(server.hostname, server.imap_port, "u", "p",
                                         security="none", timeout=5))
        try:
            session.select("INBOX")
            server.kill()
            with pytest.raises(exceptions.ServerGone):
                session.select("INBOX")
        finally:
            session.logout()  # must not raise on a dead connection


def test_password_not_in_repr():
    settings = ServerSettings("h", 993, "me", "s3cret")
    assert "s3cret" not in repr(settings)


def test_uid_sets_compress_and_split():
    assert uid_sets([5, 1, 2, 3, 9, 10, 3]) == ["1:3,5,9:10"]
    assert uid_sets([]) == []
    many = list(range(1, 60_001, 2))  # 30,000 UIDs, no two adjacent: the worst case
    sets = uid_sets(many)
    assert all(len(s) < MAX_COMMAND_BYTES - 100 for s in sets)
    assert sorted(uid for s in sets for uid in parse_sequence_set(s)) == many


def test_imapclient_rejects_ranges_which_is_why_we_build_our_own(mailbox):
    """imapclient 4.x fetch() raises on range strings; our fetch takes them."""
    uid = mailbox.append(b"Subject: r\r\n\r\nx\r\n")
    with connect(settings_for(mailbox)) as session:
        session.select("INBOX")
        with pytest.raises(ValueError):
            session.client.fetch("1:*", ["FLAGS"])
        assert list(session.fetch("1:*", ["UID", "FLAGS"])) == [uid]


def test_thirty_thousand_uids_fit_in_bounded_commands(mailbox):
    """A naive join of 30,000 UIDs is ~180 KB: Dovecot refuses it. Ours stays under 8 KB."""
    uids = mailbox.server.append_many(mailbox.login, "INBOX",
                                      (b"Subject: %d\r\n\r\nx\r\n" % i for i in range(3000)))
    client = mailbox.client()
    try:
        client.select_folder("INBOX")
        client.delete_messages(uids[::2])  # leave gaps so no range can cover them
        client.expunge()
    finally:
        client.logout()
    kept = uids[1::2]
    # UIDs far apart, as in a 30,000-message folder with gaps
    fake = [uid * 20 for uid in range(1, 30_001)]
    naive = ",".join(map(str, fake))
    assert len(naive) > 150_000
    with connect(settings_for(mailbox)) as session:
        session.select("INBOX")
        with pytest.raises(exceptions.WebmailError):
            session._fetch_one(naive, ["UID", "FLAGS"], None)
        session.select("INBOX")
        fetched = session.fetch(fake + kept, ["UID", "FLAGS"])
        assert sorted(fetched) == kept
        assert session.search_uids(1, None) == kept


def test_search_in_windows_without_esearch(mailbox, monkeypatch):
    uids = mailbox.server.append_many(mailbox.login, "INBOX",
                                      (b"Subject: %d\r\n\r\nx\r\n" % i for i in range(30)))
    monkeypatch.setattr("vt_webmail.core.imap_session.SEARCH_WINDOW", 7)
    with connect(settings_for(mailbox)) as session:
        session.capabilities = session.capabilities - {"ESEARCH"}
        session.select("INBOX")
        before = session.round_trips
        assert session.search_uids(1, 30) == uids
        assert session.round_trips - before == 5  # ceil(30 / 7) windows
        assert session.search_uids(25, None) == uids[24:]


def test_fetch_message_is_peek_and_exact(mailbox):
    raw = b"Subject: peek\r\nFrom: a@example.com\r\n\r\nbody \xe9\r\n"
    uid = mailbox.append(raw)
    with connect(settings_for(mailbox)) as session:
        session.select("INBOX")
        assert session.fetch_message(uid) == raw
        with pytest.raises(exceptions.MessageTooLarge):
            session.fetch_message(uid, max_size=10)
        with pytest.raises(exceptions.MessageGone):
            session.fetch_message(uid + 100)
        flags = session.fetch([uid], ["UID", "FLAGS"])[uid][b"FLAGS"]
    assert b"\\Seen" not in flags


def test_store_move_delete_append(mailbox):
    first = mailbox.append(b"Subject: a\r\n\r\nx\r\n")
    second = mailbox.append(b"Subject: b\r\n\r\nx\r\n")
    with connect(settings_for(mailbox)) as session:
        session.select("INBOX", readonly=False)
        session.set_flags([first], ["\\Seen", "\\Flagged"])
        session.set_flags([first], ["\\Flagged"], add=False)
        assert set(session.fetch([first], ["UID", "FLAGS"])[first][b"FLAGS"]) - {
            b"\\Recent"} == {b"\\Seen"}
        session.move([second], "Archive")
        session.delete([first])
        assert session.select("INBOX").exists == 0
        assert session.select("Archive").exists == 1
        new_uid = session.append("Sent", b"Subject: sent\r\n\r\nx\r\n", flags=["\\Seen"])
        session.select("Sent")
        assert b"\\Seen" in session.fetch([new_uid], ["UID", "FLAGS"])[new_uid][b"FLAGS"]


def test_move_without_move_capability(mailbox):
    uid = mailbox.append(b"Subject: c\r\n\r\nx\r\n")
    with connect(settings_for(mailbox)) as session:
        session.capabilities = session.capabilities - {"MOVE"}
        session.select("INBOX", readonly=False)
        session.move([uid], "Trash")
        assert session.select("INBOX").exists == 0
        assert session.select("Trash").exists == 1


@pytest.mark.parametrize("has_move", [True, False])
def test_a_move_to_a_missing_folder_is_folder_not_found(mailbox, has_move):
    """Dovecot answers ``NO [TRYCREATE]``: a typed error, and the mail stays where it was
    (without MOVE, the COPY fails before anything is flagged \\Deleted)."""
    uid = mailbox.append(b"Subject: d\r\n\r\nx\r\n")
    with connect(settings_for(mailbox)) as session:
        if not has_move:
            session.capabilities = session.capabilities - {"MOVE"}
        session.select("INBOX", readonly=False)
        with pytest.raises(exceptions.FolderNotFound):
            session.move([uid], "Nowhere")
        assert session.select("INBOX").exists == 1
        assert b"\\Deleted" not in session.fetch([uid], ["UID", "FLAGS"])[uid][b"FLAGS"]


def test_a_refused_expunge_is_an_error_not_a_success():
    """UID EXPUNGE's status is checked: a server that refuses it (here ``NO [NOPERM]``) makes
    ``delete`` raise, where it used to pass for done; the honest server deletes."""
    with HostileImapServer("expunge_refused", messages=3, tls=False) as server:
        settings = ServerSettings(server.hostname, server.port, LOGIN, PASSWORD,
                                  security="none", timeout=5)
        with connect(settings) as session:
            session.select("INBOX", readonly=False)
            with pytest.raises(exceptions.ProtocolError, match="NOPERM"):
                session.delete([2])
        assert [m.uid for m in server.messages] == [1, 2, 3]
        assert "\\Deleted" in server.messages[1].flags
        server.scenario = "honest"
        with connect(settings) as session:
            session.select("INBOX", readonly=False)
            session.delete([2])
            assert session.select("INBOX").exists == 2
        assert [m.uid for m in server.messages] == [1, 3]


def test_a_folder_the_server_opens_read_only_is_said_so():
    """A SELECT answered ``[READ-ONLY]`` (a shared folder the user may only read) is
    :class:`~vt_webmail.core.exceptions.FolderReadOnly`, not a lost connection; reading it
    goes on."""
    with HostileImapServer("read_only_folders", messages=2, tls=False) as server:
        settings = ServerSettings(server.hostname, server.port, LOGIN, PASSWORD,
                                  security="none", timeout=5)
        with connect(settings) as session:
            with pytest.raises(exceptions.FolderReadOnly):
                session.select("INBOX", readonly=False)
            assert session.select("INBOX").exists == 2
            assert sorted(session.fetch([1, 2], ["UID", "FLAGS"])) == [1, 2]


def test_folder_list_and_roles(mailbox):
    client = mailbox.client()
    try:
        client.create_folder("Projects/Caf\u00e9")
    finally:
        client.logout()
    with connect(settings_for(mailbox)) as session:
        folders = {folder.name: folder for folder in session.list_folders()}
        with pytest.raises(exceptions.FolderNotFound):
            session.select("Nope")
    assert folders["INBOX"].role == "inbox"
    assert {folders[name].role for name in ("Sent", "Drafts", "Trash", "Junk", "Archive")} == {
        "sent", "drafts", "trash", "junk", "archive"}
    assert folders["Projects/Caf\u00e9"].role is None
    assert folders["Projects/Caf\u00e9"].delimiter == "/"


def test_folder_role_by_name_without_special_use():
    assert folder_role("INBOX.Sent Items", ()) == "sent"
    assert folder_role("[Gmail]/Spam", ()) == "junk"
    assert folder_role("Deleted Messages", ()) == "trash"
    assert folder_role("Clients", ()) is None
    assert folder_role("Stuff", (b"\\Drafts",)) == "drafts"


def test_vanished_is_read_from_untagged_responses(mailbox):
    uids = mailbox.server.append_many(mailbox.login, "INBOX",
                                      (b"Subject: %d\r\n\r\nx\r\n" % i for i in range(5)))
    with connect(settings_for(mailbox)) as session:
        modseq = session.select("INBOX").highestmodseq
        other = mailbox.client()
        try:
            other.select_folder("INBOX")
            other.add_flags([uids[0]], [b"\\Flagged"])
            other.delete_messages([uids[1], uids[2]])
            other.expunge()
        finally:
            other.logout()
        session.select("INBOX")
        changes = session.fetch_flag_changes(modseq, uids[-1])
    assert changes.flags == {uids[0]: (b"\\Flagged",)}
    assert sorted(changes.vanished) == [uids[1], uids[2]]


def test_malformed_fetch_response_is_a_protocol_error(mailbox, monkeypatch):
    """No real server sends this: the transport is mocked, the rest is real."""
    uid = mailbox.append(b"Subject: m\r\n\r\nx\r\n")
    with connect(settings_for(mailbox)) as session:
        session.select("INBOX")
        imap = session.client._imap
        real_uid = imap.uid

        def broken(command, *args):
            typ, _data = real_uid(command, *args)
            return typ, [b"1 (UID 1 FLAGS (\\Seen"]  # unbalanced parenthesis

        monkeypatch.setattr(imap, "uid", broken)
        with pytest.raises(exceptions.ProtocolError):
            session.fetch([uid], ["UID", "FLAGS"])
