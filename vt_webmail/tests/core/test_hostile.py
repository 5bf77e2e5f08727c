"""A hostile IMAP server can neither hold the engine forever, nor fill its memory, nor crash it,
nor make it drop what it has cached.

Every scenario of :mod:`vt_webmail.testing.hostile_imap` gets one refresh (connect, LIST, sync
INBOX: what the Odoo layer does) in a process of its own (:mod:`.hostile_probe`), into a cache
that already holds mails 1 to 5, with a read timeout of 2 s and a session deadline of 6 s.
Each must end with the typed error the scenario names (or sync, where reading past the damage
is right; a flood may meet the deadline first on a loaded machine), within the deadline and a
little, with its peak memory less than 200 MB above the process's, and with mails 1 to 5 still
cached. The scenarios run six at a time.
"""

import datetime
from concurrent.futures import ThreadPoolExecutor

import pytest

from vt_webmail.core import exceptions
from vt_webmail.core.imap_limits import MAX_NUMBER32, SequenceSet, checked_number
from vt_webmail.core.imap_session import ServerSettings, connect
from vt_webmail.core.sync import sync_folder
from vt_webmail.testing.hostile_imap import LOGIN, PASSWORD, SCENARIOS, HostileImapServer
from vt_webmail.tests.core.hostile_probe import CACHED_UIDS, run_probe
from vt_webmail.tests.core.stores import DictStore

TIMEOUT = 2.0
DEADLINE = 6.0
#: the deadline, plus what a loaded machine adds to start and stop the refresh
TIME_BOUND = DEADLINE + 5
MEMORY_BOUND_MB = 200


@pytest.fixture(scope="module")
def outcomes():
    """``{scenario: what hostile_probe said}`` for every scenario."""
    servers = {name: HostileImapServer(name, messages=6).start() for name in SCENARIOS}

    def run(name):
        server = servers[name]
        return name, run_probe(server.port, security=SCENARIOS[name].security,
                               timeout=TIMEOUT, deadline=DEADLINE, ca_path=server.ca_path,
                               limit=DEADLINE + 30)

    try:
        with ThreadPoolExecutor(6) as pool:
            return dict(pool.map(run, SCENARIOS))
    finally:
        for server in servers.values():
            server.close()


def test_at_least_twenty_misbehaviours():
    assert len(SCENARIOS) - 1 >= 20
    assert all(cls.__doc__ for cls in SCENARIOS.values())


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_refresh_is_bounded_typed_and_keeps_the_cache(outcomes, name):
    outcome = outcomes[name]
    assert outcome["code"] in (SCENARIOS[name].expected, SCENARIOS[name].also), outcome
    assert outcome["seconds"] < TIME_BOUND, outcome
    assert outcome["growth_mb"] < MEMORY_BOUND_MB, outcome
    assert set(CACHED_UIDS) <= set(outcome["cached_after"]), outcome
    if outcome["code"] == "ok":
        assert outcome["new"] == 1, outcome
    else:
        assert outcome["cached_after"] == list(CACHED_UIDS), outcome


def test_every_error_says_what_happened(outcomes):
    assert "took too long" in outcomes["untagged_trickle"]["detail"]
    assert "2,147,483,648 bytes" in outcomes["literal_2gb_header"]["detail"]
    assert "nested deeper than 128" in outcomes["bodystructure_deep"]["detail"]
    assert "UID 999, which was not asked for" in outcomes["uid_never_asked"]["detail"]
    assert "changes from one answer to the next" in (
        outcomes["uidvalidity_every_select"]["detail"])
    assert "STARTTLS refused" in outcomes["starttls_refused"]["detail"]
    assert "counts 6 messages in INBOX but lists 1" in (
        outcomes["fetch_answers_nothing"]["detail"])


def test_unusable_folder_names_are_left_out(outcomes):
    # not modified UTF-7, raw 8-bit, NUL, controls: left out; 900 characters: kept
    assert outcomes["folder_names_hostile"]["folders"] == [
        "INBOX", "Sent", "Trash", "Long" * 225, "Café"]


def _settings(server, security="none", *, timeout=2, deadline=10):
    return ServerSettings(server.hostname, server.port, LOGIN, PASSWORD, security=security,
                          ca_pem=server.ca_path.read_text(), timeout=timeout,
                          deadline=deadline)


@pytest.mark.parametrize("security", ["none", "starttls"])
def test_the_honest_scenario_syncs_like_a_real_server(security):
    """The scripted server is a credible IMAP server: a first sync of it, then a second after a
    new mail, is what it would be on Dovecot."""
    with HostileImapServer() as server:
        store = DictStore()
        with connect(_settings(server, security)) as session:
            assert [f.name for f in session.list_folders()] == ["INBOX", "Sent", "Trash"]
            result = sync_folder(session, "INBOX", store.state("INBOX"), store)
            if security == "starttls":
                assert hasattr(session.client._imap.sock, "cipher")
        assert result.new == 5
        assert [store.messages["INBOX"][uid].subject for uid in range(1, 6)] == [
            f"mail {uid}" for uid in range(1, 6)]
        server.add_message()
        with connect(_settings(server, security)) as session:
            result = sync_folder(session, "INBOX", store.state("INBOX"), store)
        assert (result.new, result.removed) == (1, 0)
        assert sorted(store.messages["INBOX"]) == [1, 2, 3, 4, 5, 6]


def test_hostile_dates_and_headers_are_stored_readable():
    """What the outside world can send to an honest server: dates beyond what a datetime holds
    in UTC, invalid UTF-8 and NUL in headers. Stored, never a crash."""
    for name in ("internaldate_extreme", "headers_bad_utf8_nul"):
        with HostileImapServer(name, messages=1) as server:
            store = DictStore()
            with connect(_settings(server)) as session:
                sync_folder(session, "INBOX", store.state("INBOX"), store)
            summary = store.messages["INBOX"][1]
            for value in (summary.date, summary.internal_date):
                assert value is None or value.utcoffset() == datetime.timedelta(0)
            assert isinstance(summary.subject, str)
    assert "\ufffd" in summary.email_from or "Evil" in summary.email_from
    assert "\r" not in summary.subject and "\n" not in summary.subject


def test_a_session_never_outlives_its_deadline_even_when_told_to_log_out():
    """The deadline covers everything, LOGOUT included."""
    with HostileImapServer("untagged_trickle") as server:
        session = connect(_settings(server, timeout=1, deadline=1.5))
        with pytest.raises(exceptions.ServerTooSlow):
            session.select("INBOX")
        assert session.guard.expired
        session.logout()  # returns at once: the socket is already shut


def test_appended_and_searched_uids_are_checked():
    with HostileImapServer() as server, connect(_settings(server)) as session:
        assert session.append("INBOX", b"Subject: sent\r\n\r\nx\r\n") == 6
    with HostileImapServer("appenduid_huge") as server, connect(_settings(server)) as session:
        assert session.append("INBOX", b"Subject: sent\r\n\r\nx\r\n") is None
    with HostileImapServer("search_out_of_range") as server, \
            connect(_settings(server)) as session:
        session.select("INBOX")
        with pytest.raises(exceptions.ProtocolError, match="out of range"):
            session.search(["ALL"])


# -- the pieces ----------------------------------------------------------------------------------

def test_sequence_sets_are_counted_without_being_expanded():
    every = SequenceSet.parse(b"1:4294967295")
    assert len(every) == MAX_NUMBER32
    assert 4294967295 in every and 0 not in every
    assert list(every.clip(6, 8)) == [6, 7, 8]
    mixed = SequenceSet.parse("9,1:3,2:5,20")
    assert list(mixed) == [1, 2, 3, 4, 5, 9, 20]
    assert 7 not in mixed and 20 in mixed
    assert list(SequenceSet.parse("5:3")) == [3, 4, 5]
    for bad in ("1:*", "-5", "0", "4294967296", "a", "1,,2", "", "1:2:3", "٣"):
        with pytest.raises(ValueError):
            SequenceSet.parse(bad)


def test_numbers_out_of_range_are_protocol_errors():
    assert checked_number(b"42", "UID", "h") == 42
    assert checked_number(2**63 - 1, "MODSEQ", "h", high=2**63 - 1) == 2**63 - 1
    for value in (-1, 0, 2**32, b"-5", b"x", None, True, (5,), b"9" * 100):
        with pytest.raises(exceptions.ProtocolError):
            checked_number(value, "UID", "h", low=1)
