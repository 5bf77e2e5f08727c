"""core.imap_pool against a real Dovecot over TLS: logins counted in its log, connections really
dropped by idle time, a server restart, changed settings."""

import dataclasses
import threading
import time

import pytest

from vt_webmail.core import exceptions
from vt_webmail.core.imap_pool import ImapPool, fingerprint
from vt_webmail.core.imap_session import ServerSettings, connect
from vt_webmail.core.session_scope import SessionScope
from vt_webmail.testing import DovecotServer


def settings_for(mailbox, **changes):
    server = mailbox.server
    settings = ServerSettings(server.hostname, server.imaps_port, mailbox.login,
                              mailbox.password, ca_pem=server.ca_path.read_text(), timeout=5,
                              deadline=30)
    return dataclasses.replace(settings, **changes)


def logins(mailbox, expected=None):
    return mailbox.server.logins(mailbox.login, expected)


class Account:
    """What the Odoo layer does for one account: acquire with its settings, release after."""

    def __init__(self, pool, key, settings):
        self.pool, self.key, self.settings = pool, key, settings

    def acquire(self):
        return self.pool.acquire(self.key, fingerprint(self.settings),
                                 lambda: connect(self.settings), deadline=self.settings.deadline)

    def release(self, session):
        self.pool.release(self.key, fingerprint(self.settings), session)


def test_a_session_given_back_is_used_again_with_its_folder_selected(mailbox):
    mailbox.append(b"Subject: one\r\n\r\nx\r\n")
    before = logins(mailbox)
    pool = ImapPool(idle_seconds=30, check_after=0)
    account = Account(pool, ("db", 1), settings_for(mailbox))
    session = account.acquire()
    assert session.ensure_selected("INBOX", readonly=False)
    account.release(session)
    assert len(pool) == 1
    again = account.acquire()
    assert again is session
    assert len(pool) == 0  # taken out: nobody else gets it meanwhile
    # the health check was a NOOP; the folder stays selected read-write
    assert pool.stats.checked == 1
    assert not again.ensure_selected("INBOX", readonly=True)
    assert not again.ensure_selected("INBOX", readonly=False)
    assert again.fetch([1], ["FLAGS"])
    # a request's deadline again, not the idle time
    assert again.guard.seconds == 30
    account.release(again)
    assert logins(mailbox, before + 1) == before + 1
    pool.clear()
    assert len(pool) == 0
    assert session.client._imap.state == "LOGOUT"


def test_other_settings_never_get_the_session_and_close_it(mailbox):
    pool = ImapPool(idle_seconds=30)
    settings = settings_for(mailbox)
    account = Account(pool, ("db", 1), settings)
    session = account.acquire()
    account.release(session)
    before = logins(mailbox)
    # the same account with other settings (changed in Odoo, perhaps by another process)
    changed = Account(pool, ("db", 1), dataclasses.replace(
        settings, security="starttls", port=mailbox.server.imap_port))
    other = changed.acquire()
    assert other is not session
    assert session.client._imap.sock.fileno() == -1  # the old one was closed
    assert logins(mailbox, before + 1) == before + 1
    changed.release(other)
    assert len(pool) == 1
    # another key never gets it either
    stranger = Account(pool, ("db", 2), changed.settings)
    third = stranger.acquire()
    assert third is not other
    stranger.release(third)
    pool.discard(("db", 1))
    assert len(pool) == 1
    pool.clear()


def test_an_idle_session_is_shut_down_after_its_idle_time(mailbox):
    pool = ImapPool(idle_seconds=0.5)
    account = Account(pool, ("db", 1), settings_for(mailbox))
    session = account.acquire()
    account.release(session)
    before = logins(mailbox)
    # the connection's own watchdog shuts the socket down: no thread of the pool's
    deadline = time.monotonic() + 5
    while not session.guard.expired and time.monotonic() < deadline:
        time.sleep(0.05)
    assert session.guard.expired
    fresh = account.acquire()
    assert fresh is not session
    assert logins(mailbox, before + 1) == before + 1
    assert pool.stats.dropped == 1
    account.release(fresh)
    pool.clear()


def test_a_dead_connection_fails_its_health_check_and_another_logs_in(tmp_path):
    with DovecotServer() as server:
        server.add_user("pooled", "pw")
        settings = ServerSettings(server.hostname, server.imaps_port, "pooled", "pw",
                                  ca_pem=server.ca_path.read_text(), timeout=5)
        pool = ImapPool(idle_seconds=60, check_after=0)
        account = Account(pool, ("db", 1), settings)
        session = account.acquire()
        account.release(session)
        server.stop()  # every connection dropped, as a restart of the server does
        server.start()
        fresh = account.acquire()
        assert fresh is not session
        assert pool.stats.dropped == 1
        assert fresh.select("INBOX").exists == 0
        assert server.logins("pooled", 2) == 2
        account.release(fresh)
        pool.clear()


def test_bounds_per_account_and_in_all(mailbox, dovecot):
    pool = ImapPool(idle_seconds=30, per_key=2, max_size=3)
    account = Account(pool, ("db", 1), settings_for(mailbox))
    sessions = [account.acquire() for _ in range(3)]
    assert len({id(s) for s in sessions}) == 3
    for session in sessions:
        account.release(session)
    assert len(pool) == 2  # the oldest was logged out
    assert sessions[0].client._imap.state == "LOGOUT"
    login = f"{mailbox.login}-b"
    dovecot.add_user(login, "pw")
    other = Account(pool, ("db", 2), ServerSettings(
        dovecot.hostname, dovecot.imaps_port, login, "pw", ca_pem=dovecot.ca_path.read_text(),
        timeout=5))
    first, second = other.acquire(), other.acquire()
    other.release(first)
    other.release(second)
    assert len(pool) == 3  # the oldest idle session of all made room
    assert sessions[1].client._imap.state == "LOGOUT"
    pool.clear()


def test_a_failed_session_is_never_given_back(mailbox):
    pool = ImapPool(idle_seconds=30)
    account = Account(pool, ("db", 1), settings_for(mailbox))
    scope = SessionScope()
    key = ("db", 1)
    with pytest.raises(exceptions.FolderNotFound), scope.request(), \
            scope.borrow(key, account.acquire, account.release) as session:
        session.select("No such folder")
    assert len(pool) == 0
    with scope.request(), scope.borrow(key, account.acquire, account.release) as fresh:
        fresh.select("INBOX")
    assert fresh is not session
    assert len(pool) == 1
    pool.clear()


def test_turned_off_every_request_logs_in_and_out(mailbox):
    pool = ImapPool(idle_seconds=0)
    account = Account(pool, ("db", 1), settings_for(mailbox))
    before = logins(mailbox)
    for _ in range(2):
        session = account.acquire()
        account.release(session)
        assert session.client._imap.state == "LOGOUT"
    assert len(pool) == 0
    assert logins(mailbox, before + 2) == before + 2


def test_threads_never_share_a_session(mailbox):
    pool = ImapPool(idle_seconds=30, per_key=4)
    account = Account(pool, ("db", 1), settings_for(mailbox))
    seen, errors = [], []
    barrier = threading.Barrier(4)

    def work():
        try:
            for _ in range(3):
                session = account.acquire()
                seen.append(id(session))
                barrier.wait(10)  # all four hold one at the same moment
                session.select("INBOX")
                barrier.wait(10)
                account.release(session)
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    # four at a time, each round: never the same session twice in a round
    for start in range(0, len(seen), 4):
        assert len(set(seen[start:start + 4])) == 4
    assert len(pool) <= 4
    pool.clear()
