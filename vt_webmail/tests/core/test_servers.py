"""The engine against every IMAP server software of the harness: Dovecot, Cyrus and Courier.

One code path, run once per server (the ``imap_mailbox`` fixture): sync, folders, flags,
move, delete, search, Sent and bodies, each time compared with what a second client sees on
the same mailbox. Dovecot is lenient; Cyrus reads ``*`` strictly and keeps expunged mail in its
index; Courier sends no ``[UIDNEXT]`` on SELECT, quotes the header field names it echoes and
has no CONDSTORE. What the engine does must not depend on which one it talks to.
"""

import time

import pytest

from vt_webmail.core import exceptions
from vt_webmail.core.imap_session import ServerSettings, connect
from vt_webmail.core.sync import sync_folder
from vt_webmail.tests.core.stores import DictStore


def settings_for(mailbox, security="ssl"):
    server = mailbox.server
    return ServerSettings(
        server.hostname, server.imaps_port if security == "ssl" else server.imap_port,
        mailbox.login, mailbox.password, security=security,
        ca_pem=server.ca_path.read_text(), timeout=10,
    )


def mail(number, **headers):
    fields = {
        "From": f"Sender {number} <s{number}@example.com>",
        "To": "me@example.com",
        "Subject": f"mail {number}",
        "Message-Id": f"<m{number}@example.com>",
        "Date": "Mon, 2 Nov 2026 10:00:00 +0000",
    }
    fields.update(headers)
    head = "".join(f"{name}: {value}\r\n" for name, value in fields.items())
    return (head + f"\r\nbody of mail {number}\r\n").encode()


def seed(mailbox, count, folder="INBOX", start=0):
    return mailbox.server.append_many(
        mailbox.login, mailbox.folder(folder) if folder != "INBOX" else folder,
        [mail(i) for i in range(start, start + count)])


def refresh(mailbox, store, folder="INBOX", **kwargs):
    with connect(settings_for(mailbox)) as session:
        return sync_folder(session, folder, store.state(folder), store, **kwargs)


def server_view(mailbox, folder="INBOX"):
    """``{uid: (subject, flags)}`` as a second, plain imapclient session sees the folder."""
    client = mailbox.client()
    try:
        client.select_folder(folder, readonly=True)
        uids = client.search(["ALL"])
        fetched = client.fetch(uids, ["FLAGS", "BODY.PEEK[HEADER.FIELDS (SUBJECT)]"]) \
            if uids else {}
    finally:
        client.logout()
    view = {}
    for uid, values in fetched.items():
        header = next(value for key, value in values.items() if key.startswith(b"BODY["))
        subject = header.decode().partition(":")[2].strip()
        flags = {flag.decode() for flag in values[b"FLAGS"]} - {"\\Recent"}
        view[uid] = (subject, flags)
    return view


def cache_view(store, folder="INBOX"):
    return {uid: (summary.subject, set(summary.flags))
            for uid, summary in store.messages.get(folder, {}).items()}


def test_sync_200_then_20_more_matches_a_second_client(imap_mailbox):
    seed(imap_mailbox, 200)
    store = DictStore()
    result = refresh(imap_mailbox, store, batch_size=50, first_batch_size=20)
    assert result.new == 200
    assert cache_view(store) == server_view(imap_mailbox)
    summary = next(iter(store.messages["INBOX"].values()))
    # every list header was found, whatever spelling the server echoed the section in
    assert summary.subject.startswith("mail ")
    assert summary.email_from.startswith("Sender ")
    assert summary.message_id.startswith("<m")
    assert summary.email_to == "me@example.com"

    seed(imap_mailbox, 20, start=200)
    result = refresh(imap_mailbox, store)
    assert (result.new, result.changed, result.removed) == (20, 0, 0)
    assert cache_view(store) == server_view(imap_mailbox)
    assert len(store.messages["INBOX"]) == 220


def test_no_change_refresh_is_one_round_trip_and_no_write(imap_mailbox):
    seed(imap_mailbox, 5)
    store = DictStore()
    refresh(imap_mailbox, store)
    writes = store.writes
    result = refresh(imap_mailbox, store)
    assert (result.new, result.changed, result.removed, result.round_trips) == (0, 0, 0, 1)
    assert store.writes == writes


def test_flags_and_expunges_by_another_client_top_uid_included(imap_mailbox):
    uids = seed(imap_mailbox, 8)
    store = DictStore()
    refresh(imap_mailbox, store)
    other = imap_mailbox.client()
    try:
        other.select_folder("INBOX")
        other.add_flags([uids[0]], [b"\\Seen"])
        other.add_flags([uids[1]], [b"\\Flagged", b"\\Answered"])
        # the newest mail goes: Cyrus then leaves it out of "1:*" answers
        other.delete_messages([uids[3], uids[-1]])
        other.expunge()
    finally:
        other.logout()
    # without CONDSTORE the flags are read when a count moved: here both did
    result = refresh(imap_mailbox, store)
    assert result.removed == 2
    assert result.changed == 2
    assert cache_view(store) == server_view(imap_mailbox)
    assert uids[-1] not in store.messages["INBOX"]
    # a second refresh finds nothing more to do
    assert refresh(imap_mailbox, store).round_trips == 1


def test_expunge_of_the_top_uid_alone(imap_mailbox):
    """The Cyrus case on its own: only the newest mail goes, no count but EXISTS moves."""
    uids = seed(imap_mailbox, 3)
    store = DictStore()
    refresh(imap_mailbox, store)
    other = imap_mailbox.client()
    try:
        other.select_folder("INBOX")
        other.delete_messages([uids[-1]])
        other.expunge()
    finally:
        other.logout()
    assert refresh(imap_mailbox, store).removed == 1
    assert sorted(store.messages["INBOX"]) == uids[:-1]


def test_folders_and_roles(imap_mailbox):
    client = imap_mailbox.client()
    try:
        client.create_folder(imap_mailbox.folder("Projects"))
    finally:
        client.logout()
    with connect(settings_for(imap_mailbox)) as session:
        folders = {info.name: info for info in session.list_folders()}
        with pytest.raises(exceptions.FolderNotFound):
            session.select(imap_mailbox.folder("Nope"))
    assert folders["INBOX"].role == "inbox"
    for name, role in (("Sent", "sent"), ("Drafts", "drafts"), ("Trash", "trash"),
                       ("Junk", "junk"), ("Archive", "archive")):
        assert folders[imap_mailbox.folder(name)].role == role, name
    assert folders[imap_mailbox.folder("Projects")].role is None


def test_body_is_peeked_and_exact_and_reply_to_found(imap_mailbox):
    raw = mail(1, **{"Reply-To": "Replies <replies@example.com>"})
    uid = imap_mailbox.append(raw)
    with connect(settings_for(imap_mailbox)) as session:
        session.select("INBOX")
        assert session.fetch_message(uid) == raw
        headers = session.fetch([uid], ["UID", "BODY.PEEK[HEADER.FIELDS (REPLY-TO)]"])
        assert headers[uid][b"BODY[HEADER.FIELDS (REPLY-TO)]"].strip() == (
            b"Reply-To: Replies <replies@example.com>")
        flags = session.fetch([uid], ["UID", "FLAGS"])[uid][b"FLAGS"]
    assert b"\\Seen" not in flags


def test_search_on_the_server(imap_mailbox):
    seed(imap_mailbox, 3)
    uid = imap_mailbox.append(mail(9, Subject="Invoice 2026-11"))
    with connect(settings_for(imap_mailbox)) as session:
        session.select("INBOX")
        assert session.search(["SUBJECT", "Invoice"]) == [uid]
        assert session.search(["FROM", "s9@example.com"]) == [uid]
        assert len(session.search(["ALL"])) == 4


def test_move_delete_and_sent_copy(imap_mailbox):
    uids = seed(imap_mailbox, 3)
    archive, trash, sent = (imap_mailbox.folder(name) for name in ("Archive", "Trash", "Sent"))
    with connect(settings_for(imap_mailbox)) as session:
        session.select("INBOX", readonly=False)
        session.set_flags([uids[0]], ["\\Seen", "\\Flagged"])
        session.set_flags([uids[0]], ["\\Flagged"], add=False)
        session.move([uids[1]], archive)
        session.move([uids[2]], trash)
        info = session.select(trash, readonly=False)
        assert info.exists == 1
        trash_uid = session.search(["ALL"])[0]
        session.delete([trash_uid])  # for good, from the Trash
        assert session.select(trash).exists == 0
        assert session.select(archive).exists == 1
        sent_uid = session.append(sent, mail(7), flags=["\\Seen"])
        assert sent_uid, "UIDPLUS gives the UID of the copy"
    assert server_view(imap_mailbox) == {uids[0]: ("mail 0", {"\\Seen"})}
    store = DictStore()
    refresh(imap_mailbox, store, folder=sent)
    assert cache_view(store, sent) == {sent_uid: ("mail 7", {"\\Seen"})}


def test_uidvalidity_change_rebuilds_the_folder(imap_mailbox):
    projects = imap_mailbox.folder("Projects")
    client = imap_mailbox.client()
    client.create_folder(projects)
    client.logout()
    seed(imap_mailbox, 4, folder="Projects")
    store = DictStore()
    refresh(imap_mailbox, store, folder=projects)
    client = imap_mailbox.client()
    client.delete_folder(projects)
    client.create_folder(projects)
    client.logout()
    seed(imap_mailbox, 2, folder="Projects", start=10)
    result = refresh(imap_mailbox, store, folder=projects)
    # a recreated folder may keep its UIDVALIDITY on some servers: then the count check
    # is what replaces the old mail
    assert result.reset or result.removed == 4
    assert cache_view(store, projects) == server_view(imap_mailbox, projects)
    assert sorted(s for s, _flags in cache_view(store, projects).values()) == [
        "mail 10", "mail 11"]


@pytest.mark.parametrize("security", ["ssl", "starttls", "none"])
def test_every_security_mode(imap_mailbox, security):
    imap_mailbox.append(mail(1))
    with connect(settings_for(imap_mailbox, security)) as session:
        assert session.select("INBOX").exists == 1
        sock = session.client._imap.sock
        assert hasattr(sock, "cipher") == (security != "none")


def test_an_empty_folder_costs_one_round_trip_and_no_write(imap_mailbox):
    """Courier gives an empty folder a new UIDVALIDITY in every session (it is time-based until
    a message arrives): that alone is no change."""
    drafts = imap_mailbox.folder("Drafts")
    store = DictStore()
    refresh(imap_mailbox, store, folder=drafts)
    writes = store.writes
    time.sleep(1.1)  # Courier's next UIDVALIDITY would differ
    result = refresh(imap_mailbox, store, folder=drafts)
    assert (result.round_trips, store.writes) == (1, writes)
    uid = imap_mailbox.append(mail(1), folder=drafts)
    assert refresh(imap_mailbox, store, folder=drafts).new == 1
    assert list(store.messages[drafts]) == [uid]
