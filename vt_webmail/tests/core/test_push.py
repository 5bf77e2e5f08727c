"""core.push against a real Dovecot: which accounts a worker watches, the limits, the backoff,
two workers sharing the accounts, and what is synced when. The directory is in memory here
(claims in a dict shared by the workers, as PostgreSQL's advisory locks are in Odoo); the Odoo
side runs the same scheduler against PostgreSQL in tests/push (real processes)."""

import asyncio
import contextlib
import threading
import time

import pytest

from vt_webmail.core import exceptions, push
from vt_webmail.core.imap_session import ServerSettings
from vt_webmail.testing import DovecotServer


class Claims:
    """What the advisory locks are in Odoo: one holder per key."""

    def __init__(self):
        self.holders = {}
        self.lock = threading.Lock()

    def forget(self, worker):
        """The worker died: its claims are free (the database closed its session)."""
        with self.lock:
            for key in [key for key, holder in self.holders.items() if holder == worker]:
                del self.holders[key]


class MemoryDirectory(push.Directory):
    """Accounts in a dict: key -> (host label, ServerSettings); records every call."""

    def __init__(self, accounts, claims=None, worker="w1", alive=None):
        self.accounts = dict(accounts)
        self.versions = dict.fromkeys(self.accounts, "1")
        self.claims = claims or Claims()
        self.worker = worker
        self.alive = alive if alive is not None else {worker}
        self.syncs = []  # (key, folder, monotonic time)
        self.reports = []  # (key, error, retry_in)
        self.targets = []  # keys whose settings were asked for
        self.claimed = []
        self.sync_delay = {}  # key -> seconds a sync of it takes
        self.busy = set()  # keys whose sync answers BUSY
        self.gate = None  # a threading.Event every sync waits for, when set
        self.lock = threading.Lock()

    def census(self):
        candidates = {key: push.Candidate(key, host, self.versions[key])
                      for key, (host, _settings) in self.accounts.items()}
        return push.Census(candidates, workers=len(self.alive))

    def claim(self, keys, limit):
        got = []
        with self.claims.lock:
            for key in keys:
                if len(got) >= limit:
                    break
                assert self.claims.holders.get(key) != self.worker, "claimed twice"
                if key not in self.claims.holders:
                    self.claims.holders[key] = self.worker
                    got.append(key)
        self.claimed += got
        return got

    def release(self, keys):
        with self.claims.lock:
            for key in keys:
                assert self.claims.holders.get(key) == self.worker, "released what it lacks"
                del self.claims.holders[key]

    def target(self, key):
        self.targets.append(key)
        return push.Target(self.accounts[key][1])

    def sync(self, key, folder):
        if key in self.busy:
            self.busy.discard(key)
            return push.BUSY
        time.sleep(self.sync_delay.get(key, 0))
        if self.gate is not None:
            self.gate.wait(10)
        with self.lock:
            self.syncs.append((key, folder, time.monotonic()))
        return push.SYNCED

    def report(self, key, error, retry_in=None):
        self.reports.append((key, error, retry_in))

    # -- for the tests -----------------------------------------------------------------------

    def held(self):
        with self.claims.lock:
            return {key for key, holder in self.claims.holders.items() if holder == self.worker}

    def syncs_of(self, key, after=0.0):
        with self.lock:
            return [at for synced, _folder, at in self.syncs if synced == key and at > after]

    def change(self, key, settings=None):
        if settings is not None:
            self.accounts[key] = (self.accounts[key][0], settings)
        self.versions[key] = str(int(self.versions[key]) + 1)


@contextlib.contextmanager
def running(scheduler):
    """Run the scheduler's loop in a thread for the block; stop it (and release) after."""
    loop = asyncio.new_event_loop()
    errors = []

    def main():
        try:
            loop.run_until_complete(scheduler.run())
        except BaseException as exc:  # reported after the block
            errors.append(exc)
        finally:
            loop.close()

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    try:
        yield scheduler
    finally:
        deadline = time.monotonic() + 10
        while scheduler._loop is None and time.monotonic() < deadline:
            time.sleep(0.01)
        scheduler.stop()
        thread.join(15)
        assert not thread.is_alive(), "the scheduler did not stop"
    assert not errors, errors


def wait_for(predicate, timeout=10.0, step=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def new_users(server, count, prefix="push"):
    users = []
    for _ in range(count):
        login = f"{prefix}{time.monotonic_ns()}"
        server.add_user(login, "pw")
        users.append(login)
    return users


def settings_for(server, login, password="pw"):
    return ServerSettings(server.hostname, server.imaps_port, login, password,
                          ca_pem=server.ca_path.read_text(), timeout=5)


def scheduler_for(directory, **kwargs):
    kwargs.setdefault("rescan_every", 0.5)
    limits = kwargs.pop("limits", push.Limits(sync_threads=2))
    return push.PushScheduler(directory, limits, **kwargs)


MAIL = b"Subject: push\r\n\r\nbody\r\n"


def test_new_mail_syncs_only_its_account(dovecot):
    users = new_users(dovecot, 3)
    directory = MemoryDirectory({login: ("localhost", settings_for(dovecot, login))
                                 for login in users})
    with running(scheduler_for(directory)) as scheduler:
        assert wait_for(lambda: scheduler.watching() == set(users))
        # each account is synced once when first watched (mail may have come meanwhile)
        assert wait_for(lambda: all(directory.syncs_of(login) for login in users))
        time.sleep(0.3)
        before = time.monotonic()
        dovecot.append(users[1], "INBOX", MAIL)
        assert wait_for(lambda: directory.syncs_of(users[1], before), timeout=3)
        delay = directory.syncs_of(users[1], before)[0] - before
        time.sleep(0.5)
        assert delay < 1.5
        assert not directory.syncs_of(users[0], before)
        assert not directory.syncs_of(users[2], before)
        assert directory.syncs[-1][1] == "INBOX"
    # stopping released every claim
    assert directory.held() == set()


def test_changes_during_a_sync_make_one_more_sync(dovecot):
    [login] = new_users(dovecot, 1)
    directory = MemoryDirectory({login: ("localhost", settings_for(dovecot, login))})
    with running(scheduler_for(directory)) as scheduler:
        assert wait_for(lambda: directory.syncs_of(login))
        directory.gate = threading.Event()
        changes = scheduler.stats["changes"]
        before = time.monotonic()
        dovecot.append(login, "INBOX", MAIL)
        # the sync this mail asked for is under way (held at the gate) while 5 more come
        assert wait_for(lambda: scheduler.stats["changes"] > changes)
        for _ in range(5):
            dovecot.append(login, "INBOX", MAIL)
            time.sleep(0.3)  # more than the debounce: each is a change of its own
        time.sleep(1)  # Dovecot tells IDLE clients after half a second
        assert scheduler.stats["changes"] >= changes + 3
        directory.gate.set()
        time.sleep(1.5)
        # the one under way, then exactly one more for all the others
        assert len(directory.syncs_of(login, before)) == 2


@pytest.mark.parametrize("limits, watched_in_all, watched_on_a", [
    (push.Limits(max_connections=10, max_per_host=3, sync_threads=2), 5, 3),  # host limit
    (push.Limits(max_connections=4, max_per_host=10, sync_threads=2), 4, None),  # worker limit
])
def test_limits_per_worker_and_per_host(dovecot, limits, watched_in_all, watched_on_a):
    users = new_users(dovecot, 6)
    hosts = ["a", "a", "a", "a", "b", "b"]
    directory = MemoryDirectory({login: (host, settings_for(dovecot, login))
                                 for login, host in zip(users, hosts, strict=True)})
    with running(scheduler_for(directory, limits=limits)) as scheduler:
        assert wait_for(lambda: len(scheduler.watching()) == watched_in_all)
        time.sleep(1.2)  # more censuses change nothing
        watched = scheduler.watching()
        assert len(watched) == watched_in_all
        if watched_on_a is not None:
            # the host limit: host "a" gets its 3, host "b" the rest
            on_a = sum(1 for login in watched if directory.accounts[login][0] == "a")
            assert on_a == watched_on_a
        # with the worker limit only, which 4 of the 6 are watched is chance (claims are tried
        # in a random order): the four of host "a" is as right a draw as any other (1 in 15)
        assert directory.held() == watched
        assert scheduler.budget.total == watched_in_all


def test_two_workers_share_the_accounts_and_take_over(dovecot):
    users = new_users(dovecot, 8)
    accounts = {login: ("localhost", settings_for(dovecot, login)) for login in users}
    claims, alive = Claims(), {"w1", "w2"}
    first = MemoryDirectory(accounts, claims, "w1", alive)
    second = MemoryDirectory(accounts, claims, "w2", alive)
    with running(scheduler_for(second)) as other:
        with running(scheduler_for(first)) as one:
            assert wait_for(lambda: len(one.watching()) + len(other.watching()) == 8)
            # each account once, each worker its half
            assert not one.watching() & other.watching()
            assert len(one.watching()) == len(other.watching()) == 4
            held_by_first = set(one.watching())
        # the first worker is gone: the other takes its accounts at its next census, and
        # syncs each once, so mail delivered in between is not missed
        alive.discard("w1")
        gone_at = time.monotonic()
        target = sorted(held_by_first)[0]
        dovecot.append(target, "INBOX", MAIL)
        assert wait_for(lambda: other.watching() == set(users), timeout=5)
        assert wait_for(lambda: second.syncs_of(target, gone_at), timeout=3)
    assert not claims.holders


def test_a_new_worker_gets_its_share(dovecot):
    users = new_users(dovecot, 6)
    accounts = {login: ("localhost", settings_for(dovecot, login)) for login in users}
    claims, alive = Claims(), {"w1"}
    first = MemoryDirectory(accounts, claims, "w1", alive)
    second = MemoryDirectory(accounts, claims, "w2", alive)
    with running(scheduler_for(first)) as one:
        assert wait_for(lambda: len(one.watching()) == 6)
        alive.add("w2")
        with running(scheduler_for(second)) as other:
            assert wait_for(lambda: len(other.watching()) == 3 and len(one.watching()) == 3,
                            timeout=8)
            assert not one.watching() & other.watching()


def test_wrong_password_backs_off_then_recovers(dovecot, monkeypatch):
    monkeypatch.setattr(push, "BACKOFF_FIRST", 1.0)
    [login] = new_users(dovecot, 1)
    directory = MemoryDirectory({login: ("localhost", settings_for(dovecot, login, "wrong"))})
    with running(scheduler_for(directory)) as scheduler:
        assert wait_for(lambda: directory.reports)
        key, error, retry_in = directory.reports[0]
        assert key == login and isinstance(error, exceptions.LoginRejected)
        assert 0.8 <= retry_in <= 1.2
        time.sleep(2.5)
        # 1 s, then 2 s: not a login per census
        assert 2 <= len(directory.targets) <= 3
        assert directory.reports[1][2] > directory.reports[0][2]
        assert not directory.syncs_of(login)
        # the user enters the right password: watched at once, the error withdrawn
        directory.change(login, settings_for(dovecot, login))
        scheduler.wake()
        assert wait_for(lambda: scheduler.watching() == {login}, timeout=3)
        assert wait_for(lambda: directory.reports[-1][1] is None)
        assert wait_for(lambda: directory.syncs_of(login))


def test_a_server_without_idle_is_left_to_the_scheduled_refresh():
    with DovecotServer(capabilities=["IMAP4rev1", "LITERAL+", "UIDPLUS"]) as server:
        server.add_user("old", "pw")
        directory = MemoryDirectory({"old": ("localhost", settings_for(server, "old"))})
        with running(scheduler_for(directory)) as scheduler:
            assert wait_for(lambda: "old" in scheduler.unsupported)
            time.sleep(1.5)  # three more censuses
            assert directory.claimed == ["old"]
            assert directory.held() == set()
            assert not scheduler.watching()
            assert not directory.syncs and not directory.reports
            # its settings change (another server?): asked again
            directory.change("old")
            scheduler.wake()
            assert wait_for(lambda: directory.claimed == ["old", "old"])


def test_a_dropped_connection_comes_back(monkeypatch):
    monkeypatch.setattr(push, "BACKOFF_FIRST", 0.3)
    with DovecotServer() as server:
        server.add_user("u", "pw")
        directory = MemoryDirectory({"u": ("localhost", settings_for(server, "u"))})
        with running(scheduler_for(directory)) as scheduler:
            assert wait_for(lambda: scheduler.watching() == {"u"})
            server.kill()
            assert wait_for(lambda: not scheduler.watching(), timeout=5)
            server.start()
            assert wait_for(lambda: scheduler.stats["connects"] == 2, timeout=10)
            restarted = time.monotonic()
            server.append("u", "INBOX", MAIL)
            assert wait_for(lambda: directory.syncs_of("u", restarted), timeout=3)
            # the error said while it was down is withdrawn
            assert directory.reports and directory.reports[-1][1] is None


def test_an_account_gone_is_no_longer_watched(dovecot):
    users = new_users(dovecot, 2)
    directory = MemoryDirectory({login: ("localhost", settings_for(dovecot, login))
                                 for login in users})
    with running(scheduler_for(directory, rescan_every=30)) as scheduler:
        assert wait_for(lambda: scheduler.watching() == set(users))
        del directory.accounts[users[0]]
        scheduler.wake()  # what NOTIFY does in Odoo: no wait for the next census
        assert wait_for(lambda: scheduler.watching() == {users[1]}, timeout=2)
        assert directory.held() == {users[1]}
        dropped = time.monotonic()
        dovecot.append(users[0], "INBOX", MAIL)
        time.sleep(1)
        assert not directory.syncs_of(users[0], dropped)


def test_a_busy_account_is_synced_again(dovecot, monkeypatch):
    monkeypatch.setattr(push, "BUSY_RETRY", 0.2)
    [login] = new_users(dovecot, 1)
    directory = MemoryDirectory({login: ("localhost", settings_for(dovecot, login))})
    with running(scheduler_for(directory)):
        assert wait_for(lambda: directory.syncs_of(login))
        directory.busy.add(login)
        before = time.monotonic()
        dovecot.append(login, "INBOX", MAIL)
        # the first attempt met a refresh already running; the next one syncs
        assert wait_for(lambda: directory.syncs_of(login, before), timeout=3)
        assert login not in directory.busy


def test_a_slow_server_does_not_hold_up_the_others(dovecot):
    slow = new_users(dovecot, 2, prefix="slow")
    [fast] = new_users(dovecot, 1, prefix="fast")
    accounts = {login: ("slow.example", settings_for(dovecot, login)) for login in slow}
    accounts[fast] = ("fast.example", settings_for(dovecot, fast))
    directory = MemoryDirectory(accounts)
    with running(scheduler_for(directory, limits=push.Limits(sync_threads=2))) as scheduler:
        assert wait_for(lambda: len(directory.syncs) == 3)
        for login in slow:
            directory.sync_delay[login] = 3.0
        before = time.monotonic()
        for login in slow:
            dovecot.append(login, "INBOX", MAIL)
        time.sleep(0.5)  # both slow syncs asked for: one runs, one waits for its host's slot
        dovecot.append(fast, "INBOX", MAIL)
        assert wait_for(lambda: directory.syncs_of(fast, before), timeout=2.5)
        assert not directory.syncs_of(slow[0], before) and not directory.syncs_of(slow[1],
                                                                                   before)
        # every change was seen, the slow ones' too (on a loaded machine, a moment later)
        assert wait_for(lambda: scheduler.stats["changes"] >= 3, timeout=5)


def test_backoff_grows_and_stops_growing():
    fixed = 0.5
    delays = [push.backoff(n, rand=lambda: fixed) for n in range(1, 12)]
    assert delays[0] == push.BACKOFF_FIRST
    assert delays == sorted(delays)
    assert delays[-1] == push.BACKOFF_MAX
    assert push.backoff(7, stable=True) == push.RECONNECT_QUICK
    assert push.fair_share(1000, 2) == 500 and push.fair_share(1001, 2) == 501
    assert push.fair_share(5, 0) == 5


@pytest.mark.parametrize("workers", [1, 3])
def test_many_accounts_one_loop(dovecot, workers):
    users = new_users(dovecot, 30, prefix=f"many{workers}x")
    accounts = {login: ("localhost", settings_for(dovecot, login)) for login in users}
    claims, alive = Claims(), {f"w{n}" for n in range(workers)}
    directories = [MemoryDirectory(accounts, claims, f"w{n}", alive) for n in range(workers)]
    with contextlib.ExitStack() as stack:
        schedulers = [stack.enter_context(running(scheduler_for(directory)))
                      for directory in directories]
        assert wait_for(lambda: sum(len(s.watching()) for s in schedulers) == 30, timeout=20)
        assert wait_for(lambda: sum(len(d.syncs) for d in directories) >= 30)
        before = time.monotonic()
        for login in users:
            dovecot.append(login, "INBOX", MAIL)
        assert wait_for(lambda: all(any(d.syncs_of(login, before) for d in directories)
                                    for login in users), timeout=10)
        watched = [key for s in schedulers for key in s.watching()]
        assert sorted(watched) == sorted(users)
