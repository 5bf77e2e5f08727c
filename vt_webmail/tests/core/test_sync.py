"""core.sync against a real Dovecot, with an in-memory store."""

import pytest

from vt_webmail.core import exceptions
from vt_webmail.core import sync as sync_module
from vt_webmail.core.imap_session import ServerSettings, connect
from vt_webmail.core.sync import MessageSummary, has_attachments, sync_folder
from vt_webmail.testing import DovecotServer
from vt_webmail.tests.core.stores import DictStore


def settings_for(mailbox, security="ssl"):
    server = mailbox.server
    return ServerSettings(
        server.hostname, server.imaps_port if security == "ssl" else server.imap_port,
        mailbox.login, mailbox.password, security=security,
        ca_pem=server.ca_path.read_text(), timeout=5,
    )


def seed(mailbox, count, folder="INBOX", start=0):
    return mailbox.server.append_many(mailbox.login, folder, (
        b"From: Sender %d <s%d@example.com>\r\nSubject: mail %d\r\n"
        b"Message-Id: <m%d@example.com>\r\nDate: Mon, 2 Nov 2026 10:00:00 +0000\r\n\r\nx\r\n"
        % (i, i, i, i) for i in range(start, start + count)
    ))


def sync(mailbox, store, folder="INBOX", **kwargs):
    with connect(settings_for(mailbox)) as session:
        return sync_folder(session, folder, store.state(folder), store, **kwargs)


def test_first_sync_newest_first_in_batches(mailbox):
    uids = seed(mailbox, 23)
    store = DictStore()
    result = sync(mailbox, store, batch_size=10, first_batch_size=3)
    assert result.new == 23
    assert [len(batch) for batch in store.batches] == [3, 10, 10]
    assert store.batches[0] == sorted(uids, reverse=True)[:3]
    assert sorted(store.messages["INBOX"]) == uids
    summary = store.messages["INBOX"][uids[5]]
    assert (summary.subject, summary.email_from, summary.message_id) == (
        "mail 5", "Sender 5 <s5@example.com>", "<m5@example.com>")
    assert store.states["INBOX"].uidnext == uids[-1] + 1


def test_incremental_and_no_change(mailbox):
    seed(mailbox, 5)
    store = DictStore()
    sync(mailbox, store)
    writes = store.writes
    result = sync(mailbox, store)
    assert (result.new, result.changed, result.removed) == (0, 0, 0)
    assert result.round_trips == 1, "a no-change refresh is one SELECT"
    assert store.writes == writes, "a no-change refresh writes nothing"
    new = seed(mailbox, 2, start=5)
    store.batches.clear()
    result = sync(mailbox, store)
    assert result.new == 2
    assert store.batches == [sorted(new, reverse=True)]


def test_flags_and_expunge_by_another_client(mailbox):
    uids = seed(mailbox, 6)
    store = DictStore()
    sync(mailbox, store)
    other = mailbox.client()
    try:
        other.select_folder("INBOX")
        other.add_flags([uids[0]], [b"\\Seen", b"\\Flagged"])
        other.delete_messages([uids[1], uids[2]])
        other.expunge()
    finally:
        other.logout()
    result = sync(mailbox, store)
    assert (result.new, result.changed, result.removed) == (0, 1, 2)
    assert store.messages["INBOX"][uids[0]].is_seen
    assert store.messages["INBOX"][uids[0]].is_flagged
    assert sorted(store.messages["INBOX"]) == [uids[0]] + uids[3:]


def test_fallbacks_without_condstore_and_qresync():
    with DovecotServer(capabilities=["IMAP4rev1", "LITERAL+", "UIDPLUS"]) as server:
        server.add_user("old", "pw")
        uids = server.append_many("old", "INBOX", (b"Subject: %d\r\n\r\nx\r\n" % i
                                                   for i in range(8)))
        settings = ServerSettings(server.hostname, server.imaps_port, "old", "pw",
                                  ca_pem=server.ca_path.read_text(), timeout=5)
        store = DictStore()
        with connect(settings) as session:
            assert not session.condstore and not session.qresync
            assert sync_folder(session, "INBOX", None, store).new == 8
        other = server.client("old")
        other.select_folder("INBOX")
        other.add_flags([uids[7]], [b"\\Answered"])
        other.delete_messages([uids[0]])
        other.expunge()
        other.logout()
        with connect(settings) as session:
            result = sync_folder(session, "INBOX", store.state("INBOX"), store)
        assert (result.new, result.changed, result.removed) == (0, 1, 1)
        assert store.messages["INBOX"][uids[7]].is_answered
        assert uids[0] not in store.messages["INBOX"]


def test_uidvalidity_change_rebuilds_without_duplicates(mailbox):
    client = mailbox.client()
    client.create_folder("Projects")
    client.logout()
    seed(mailbox, 4, folder="Projects")
    store = DictStore()
    sync(mailbox, store, folder="Projects")
    old = store.states["Projects"].uidvalidity
    client = mailbox.client()
    client.delete_folder("Projects")
    client.create_folder("Projects")
    client.logout()
    seed(mailbox, 3, folder="Projects", start=10)
    result = sync(mailbox, store, folder="Projects")
    assert result.reset
    assert store.states["Projects"].uidvalidity != old
    assert result.new == 3
    subjects = sorted(s.subject for s in store.messages["Projects"].values())
    assert subjects == ["mail 10", "mail 11", "mail 12"]


def test_crash_mid_sync_resumes_without_loss_or_duplicate(mailbox):
    uids = seed(mailbox, 30)
    store = DictStore()
    store.fail_after_batches = 2
    with pytest.raises(RuntimeError):
        sync(mailbox, store, batch_size=7, first_batch_size=5)
    assert len(store.messages["INBOX"]) == 12  # two batches kept
    assert store.states["INBOX"].uidnext is None  # the pass did not complete
    store.fail_after_batches = None
    result = sync(mailbox, store, batch_size=7)
    assert result.new == 18
    assert sorted(store.messages["INBOX"]) == uids


def test_server_killed_mid_sync_then_next_sync_completes():
    with DovecotServer() as server:
        server.add_user("u", "p")
        uids = server.append_many("u", "INBOX", (b"Subject: %d\r\n\r\nx\r\n" % i
                                                 for i in range(40)))
        settings = ServerSettings(server.hostname, server.imaps_port, "u", "p",
                                  ca_pem=server.ca_path.read_text(), timeout=5)

        class KillingStore(DictStore):
            def add(self, folder, uidvalidity, summaries):
                result = super().add(folder, uidvalidity, summaries)
                if len(self.batches) == 2:
                    server.kill()
                return result

        store = KillingStore()
        with pytest.raises(exceptions.ServerGone), connect(settings) as session:
            sync_folder(session, "INBOX", None, store, batch_size=10, first_batch_size=10)
        # the batch fetched while the second was being stored may have made it too: fetching
        # and storing overlap (core.sync._BatchWriter)
        kept = len(store.messages["INBOX"])
        assert kept in (20, 30)
        server.start()
        with connect(settings) as session:
            result = sync_folder(session, "INBOX", store.state("INBOX"), store, batch_size=10)
        assert result.new == 40 - kept
        assert sorted(store.messages["INBOX"]) == uids


def test_bad_headers_keep_the_mail(mailbox):
    raw = (
        b"From: S\xe9bastien <seb@example.fr>\r\n"
        b"To: undisclosed-recipients:;\r\n"
        b"Cc: =?utf-8?q?Ren=C3=A9?= <rene@example.fr>, bad@@example\r\n"
        b"Subject: =?x-unknown?q?caf=E9?= =?utf-8?q?_ol=C3=A9?=\r\n"
        b"Message-Id: <>\r\n"
        b"Date: not a date\r\n\r\nbody\r\n"
    )
    uid = mailbox.append(raw)
    store = DictStore()
    assert sync(mailbox, store).new == 1
    summary = store.messages["INBOX"][uid]
    assert summary.email_from.startswith("S\xe9bastien")
    assert "seb@example.fr" in summary.email_from
    assert "Ren\xe9" in summary.email_cc
    assert summary.subject.endswith(" ol\xe9")
    assert summary.date == summary.internal_date  # unreadable Date: INTERNALDATE instead
    assert "date" in summary.note


def test_attachment_detection_from_bodystructure(mailbox):
    with_pdf = (
        b"Subject: a\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n"
        b"--XX\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
        b"--XX\r\nContent-Type: application/pdf; name=a.pdf\r\n"
        b"Content-Disposition: attachment; filename=a.pdf\r\n\r\nxx\r\n--XX--\r\n"
    )
    alternative = (
        b"Subject: b\r\nContent-Type: multipart/alternative; boundary=YY\r\n\r\n"
        b"--YY\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
        b"--YY\r\nContent-Type: text/html\r\n\r\n<p>hi</p>\r\n--YY--\r\n"
    )
    plain = b"Subject: c\r\n\r\nhi\r\n"
    uids = [mailbox.append(raw) for raw in (with_pdf, alternative, plain)]
    store = DictStore()
    sync(mailbox, store)
    cache = store.messages["INBOX"]
    assert [cache[uid].has_attachments for uid in uids] == [True, False, False]
    assert has_attachments(None) is False


def test_new_mail_alone_writes_no_flag_update(mailbox):
    """CHANGEDSINCE also reports the new mail: it is stored once, with no extra flag write."""
    seed(mailbox, 3)
    store = DictStore()
    sync(mailbox, store)
    calls = []
    store.set_flags = lambda folder, flags: calls.append(flags) or 0
    seed(mailbox, 2, start=3)
    result = sync(mailbox, store)
    assert (result.new, result.changed) == (2, 0)
    assert calls == []


# -- servers without CONDSTORE: STATUS first, flags read in batches ------------------------------

OLD_SERVER = ["IMAP4rev1", "LITERAL+", "UIDPLUS"]


def test_without_condstore_a_no_change_refresh_is_one_status(monkeypatch):
    monkeypatch.setattr("vt_webmail.core.sync.FLAGS_BATCH_SIZE", 3)
    with DovecotServer(capabilities=OLD_SERVER) as server:
        server.add_user("old", "pw")
        uids = server.append_many("old", "INBOX", (b"Subject: %d\r\n\r\nx\r\n" % i
                                                   for i in range(8)))
        settings = ServerSettings(server.hostname, server.imaps_port, "old", "pw",
                                  ca_pem=server.ca_path.read_text(), timeout=5)
        store = DictStore()
        clock = 1_000_000.0

        def refresh():
            with connect(settings) as session:
                return sync_folder(session, "INBOX", store.state("INBOX"), store, now=clock)

        assert refresh().new == 8
        writes = store.writes
        result = refresh()
        assert (result.new, result.changed, result.removed, result.round_trips) == (0, 0, 0, 1)
        assert store.writes == writes, "a no-change refresh writes nothing"

        # read elsewhere: UNSEEN moves, so the next refresh reads every flag at once, three
        # UIDs per FETCH (1 STATUS + 1 EXAMINE + 3 FETCH FLAGS)
        other = server.client("old")
        other.select_folder("INBOX")
        other.add_flags([uids[2]], [b"\\Seen"])
        other.logout()
        result = refresh()
        assert (result.new, result.changed, result.round_trips) == (0, 1, 5)
        assert store.messages["INBOX"][uids[2]].is_seen

        # flagged elsewhere: no count moves; seen once the flags are FLAGS_MAX_AGE old
        other = server.client("old")
        other.select_folder("INBOX")
        other.add_flags([uids[5]], [b"\\Flagged"])
        other.logout()
        assert refresh().round_trips == 1
        assert not store.messages["INBOX"][uids[5]].is_flagged
        clock += sync_module.FLAGS_MAX_AGE
        assert refresh().changed == 1
        assert store.messages["INBOX"][uids[5]].is_flagged
        assert refresh().round_trips == 1


def test_without_condstore_the_top_mail_expunged_elsewhere_goes():
    with DovecotServer(capabilities=OLD_SERVER) as server:
        server.add_user("old", "pw")
        uids = server.append_many("old", "INBOX", (b"Subject: %d\r\n\r\nx\r\n" % i
                                                   for i in range(4)))
        settings = ServerSettings(server.hostname, server.imaps_port, "old", "pw",
                                  ca_pem=server.ca_path.read_text(), timeout=5)
        store = DictStore()
        with connect(settings) as session:
            sync_folder(session, "INBOX", None, store)
        other = server.client("old")
        other.select_folder("INBOX")
        other.delete_messages([uids[-1]])
        other.expunge()
        other.logout()
        with connect(settings) as session:
            result = sync_folder(session, "INBOX", store.state("INBOX"), store)
        assert result.removed == 1
        assert sorted(store.messages["INBOX"]) == uids[:-1]


def test_a_cache_that_disagrees_with_exists_is_reconciled_both_ways(mailbox):
    """Whatever the incremental steps believe (here: nothing changed on the server), a cache
    whose count differs from EXISTS is settled by listing the UIDs: mail missing from the
    cache comes back, a UID the server does not have goes."""
    uids = seed(mailbox, 6)
    store = DictStore()
    sync(mailbox, store)
    cache = store.messages["INBOX"]
    lost = [cache.pop(uids[2]), cache.pop(uids[4])]
    cache[10_000] = MessageSummary(uid=10_000, flags=(), internal_date=None, size=0,
                                   has_attachments=False)
    result = sync(mailbox, store)
    assert sorted(cache) == uids
    assert [cache[uid].subject for uid in (uids[2], uids[4])] == [m.subject for m in lost]
    assert (result.new, result.removed) == (2, 1)
    assert sync(mailbox, store).round_trips == 1
