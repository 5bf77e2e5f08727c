"""Push: which mailboxes one worker watches with IMAP IDLE, within which limits, and what it
syncs when the server says something changed.

A :class:`PushScheduler` runs in an asyncio event loop next to many
:class:`~.idle.IdleConnection` (one socket per watched mailbox, no thread per mailbox). It
knows nothing of Odoo or PostgreSQL: everything stored goes through a :class:`Directory`,
whose methods block and are run in threads.

The cycle
    Every :data:`RESCAN_EVERY` seconds, and soon after :meth:`PushScheduler.wake` (a
    configuration change somewhere), the scheduler asks the directory for the accounts to watch
    (:meth:`Directory.census`) and:

    * stops watching the accounts that are gone (deleted, archived, ...) and releases them;
    * restarts the watch of an account whose connection settings changed (a new password);
    * claims (:meth:`Directory.claim`) unclaimed accounts up to its share and its limits,
      watches them, and first syncs each once (mail may have arrived while nobody watched);
    * releases accounts beyond its fair share when another worker joined.

    Every change the server reports on a watched folder (EXISTS, EXPUNGE, FETCH) becomes one
    ``sync(account, folder)`` in a thread (:meth:`Directory.sync`); changes during a sync make
    exactly one more sync after it, never a queue.

Sharing between workers
    The directory's claims are exclusive and die with their holder (in Odoo: PostgreSQL
    session-level advisory locks), so an account is watched by one worker at a time and a dead
    worker's accounts are free at once; the others see them at their next rescan. Each worker
    claims at most its fair share, ``ceil(accounts / live workers)``, so that a worker killed
    takes only its part of the accounts with it; a worker holding more than its share (another
    one started) lets the excess go.

Limits
    At most :attr:`Limits.max_connections` watched accounts per worker process and
    :attr:`Limits.max_per_host` per IMAP host (servers limit connections; the rest stay with
    the scheduled refresh). Syncs run in :attr:`Limits.sync_threads` threads, of which one
    host may take all but one: a slow server never holds up the others. An account that
    fails waits before the next attempt (:func:`backoff`: 5 s doubling to 15 min; a
    connection that had been up a while and dropped is tried again after a second), and the
    failure is reported once per attempt (:meth:`Directory.report`). A server without IDLE is
    released and left to the scheduled refresh; it is asked again after
    :data:`UNSUPPORTED_RECHECK` or when its settings change.
"""

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import logging
import math
import random
import time

from . import exceptions
from .idle import IdleConnection, IdleUnsupported

_logger = logging.getLogger(__name__)

#: Seconds between two censuses (a dead worker's accounts are taken over within this).
RESCAN_EVERY = 10.0
#: A wake-up is acted on after this many seconds, so that a burst of changes is one census.
WAKE_DELAY = 0.3
#: First and longest wait after a failure.
BACKOFF_FIRST = 5.0
BACKOFF_MAX = 15 * 60.0
#: A connection up at least this long that drops is tried again after RECONNECT_QUICK.
STABLE_AFTER = 60.0
RECONNECT_QUICK = 1.0
#: A server without IDLE is asked again after this long (or when the account changes).
UNSUPPORTED_RECHECK = 3600.0
#: A sync that found the account's refresh already running is tried again after this long.
BUSY_RETRY = 1.0

#: Seconds a stopping worker waits for the syncs under way.
SHUTDOWN_WAIT = 30.0

#: :meth:`Directory.sync` results
SYNCED, BUSY, GONE = "synced", "busy", "gone"


class DirectoryLost(Exception):
    """The directory lost its claims (in Odoo: the lock connection broke): every watch must
    stop at once, since other workers may now take the accounts."""


@dataclasses.dataclass(frozen=True)
class Candidate:
    """An account that may be watched.

    :param key: its identity (an account id)
    :param host: the IMAP host, for the per-host limit
    :param version: changes whenever anything that the connection uses changes
    """

    key: object
    host: str
    version: str = ""


@dataclasses.dataclass(frozen=True)
class Census:
    """What :meth:`Directory.census` answers: the candidates by key, and how many workers
    share them (this one included)."""

    candidates: dict
    workers: int = 1


@dataclasses.dataclass(frozen=True)
class Target:
    """Where to connect for one account: :class:`~.imap_session.ServerSettings` and the
    folder to watch."""

    settings: object
    folder: str = "INBOX"


@dataclasses.dataclass
class Limits:
    """The limits of one worker process (shared by its schedulers, one per database)."""

    #: watched accounts (IDLE connections) per worker process
    max_connections: int = 2000
    #: watched accounts per IMAP host, per worker process
    max_per_host: int = 1000
    #: threads that sync (each with its own IMAP connection and database cursor)
    sync_threads: int = 4


class Directory:
    """Where the accounts are (the Odoo side implements it). Every method blocks.

    ``census``, ``claim`` and ``release`` run on one thread of their own, in order (they may
    share one database connection); the others on the sync threads.
    """

    def census(self):
        """:returns: a :class:`Census`
        :raises DirectoryLost: the claims are lost"""
        raise NotImplementedError

    def claim(self, keys, limit):
        """Claim, in this order, at most ``limit`` of ``keys`` (none of them claimed by this
        worker already); claims another worker holds are skipped.

        :returns: the keys claimed
        :raises DirectoryLost: the claims are lost
        """
        raise NotImplementedError

    def release(self, keys):
        """Give up the claims on ``keys``."""
        raise NotImplementedError

    def target(self, key):
        """:returns: the :class:`Target` of the account
        :raises exceptions.WebmailError: its settings cannot be used (e.g. no sign-in token)"""
        raise NotImplementedError

    def sync(self, key, folder):
        """Bring the cached ``folder`` of the account up to date with the server (and tell
        its owner). Failures are the directory's to record.

        :returns: :data:`SYNCED`, :data:`BUSY` (another refresh of the account is running:
            try again shortly) or :data:`GONE` (the account is no more)
        """
        raise NotImplementedError

    def report(self, key, error, retry_in=None):
        """Record that watching the account failed (``error``: a
        :class:`~.exceptions.WebmailError`), or works again (``error`` None)."""
        raise NotImplementedError


class ConnectionBudget:
    """Watched accounts per worker and per host, shared by the schedulers of one process (one
    event loop: no lock needed)."""

    def __init__(self, limits):
        self.limits = limits
        self.total = 0
        self.by_host = {}

    def room(self):
        return max(self.limits.max_connections - self.total, 0)

    def host_room(self, host):
        return max(self.limits.max_per_host - self.by_host.get(host, 0), 0)

    def take(self, host):
        self.total += 1
        self.by_host[host] = self.by_host.get(host, 0) + 1

    def give(self, host):
        self.total -= 1
        self.by_host[host] -= 1
        if not self.by_host[host]:
            del self.by_host[host]


def backoff(failures, *, stable=False, rand=random.random):
    """Seconds to wait before attempt ``failures + 1`` (``stable``: the connection had been up
    :data:`STABLE_AFTER` seconds before it failed)."""
    if stable:
        return RECONNECT_QUICK
    delay = min(BACKOFF_FIRST * 2 ** max(failures - 1, 0), BACKOFF_MAX)
    return delay * (0.9 + 0.2 * rand())  # jitter: failing accounts do not retry in step


def fair_share(candidates, workers):
    """How many accounts one of ``workers`` workers claims at most."""
    return math.ceil(candidates / max(workers, 1))


class _Watch:
    """One claimed account: its watching task, its failures, its syncs."""

    def __init__(self, candidate):
        self.key = candidate.key
        self.host = candidate.host
        self.version = candidate.version
        self.task = None
        self.connection = None
        self.connected_at = None
        self.failures = 0
        self.reported = False
        self.sync_task = None
        self.sync_again = False
        self.folder = "INBOX"


class PushScheduler:
    """Watches this worker's share of one directory's accounts (see the module docstring).

    :param directory: a :class:`Directory`
    :param limits: :class:`Limits` (default ones when None)
    :param budget: a :class:`ConnectionBudget` shared with other schedulers of the process
    :param sync_executor: a ``concurrent.futures`` executor for the sync threads (shared by
        the schedulers of the process; made here when None)
    :param name: for the log (the database's name)
    :param idle_factory: builds the :class:`~.idle.IdleConnection` (tests)
    """

    def __init__(self, directory, limits=None, *, budget=None, sync_executor=None, name="",
                 rescan_every=RESCAN_EVERY, idle_factory=IdleConnection, reidle_after=None):
        self.directory = directory
        self.limits = limits or (budget.limits if budget else Limits())
        self.budget = budget or ConnectionBudget(self.limits)
        self.name = name
        self.rescan_every = rescan_every
        self.idle_factory = idle_factory
        self.reidle_after = reidle_after
        self._own_executor = sync_executor is None
        self.sync_executor = sync_executor or concurrent.futures.ThreadPoolExecutor(
            self.limits.sync_threads, thread_name_prefix="vt_webmail.push.sync")
        # census, claim and release: in order, on one thread (one database connection)
        self.control_executor = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="vt_webmail.push.control")
        self.watches = {}
        self.unsupported = {}  # key -> (version, monotonic time to ask again)
        self.workers = 1
        self.candidates = 0
        #: counters, for the log, tests and the benchmark
        self.stats = {"connects": 0, "changes": 0, "syncs": 0, "busy": 0, "failures": 0,
                      "claimed": 0, "released": 0, "censuses": 0}
        self._wake = None
        self._stopping = False
        self._loop = None
        self._host_syncs = {}

    # -- public ------------------------------------------------------------------------------

    async def run(self):
        """Watch until :meth:`stop` (or cancellation); release every claim on the way out."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        try:
            while not self._stopping:
                try:
                    await self.rescan()
                except DirectoryLost as exc:
                    _logger.warning("push %s: claims lost (%s): every watch stops", self.name,
                                    exc)
                    await self._drop_all(release=False)
                except Exception:
                    _logger.exception("push %s: census failed", self.name)
                with contextlib.suppress(asyncio.TimeoutError):
                    jitter = self.rescan_every * 0.1 * random.random()
                    await asyncio.wait_for(self._wake.wait(), self.rescan_every + jitter)
                if self._wake.is_set():
                    await asyncio.sleep(WAKE_DELAY)  # let a burst of changes settle
                    self._wake.clear()
        finally:
            await self._drop_all(release=True)
            self.control_executor.shutdown(wait=False)
            if self._own_executor:
                self.sync_executor.shutdown(wait=False)

    def wake(self):
        """Take a census soon (thread-safe): accounts changed somewhere."""
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    def stop(self):
        """End :meth:`run` (thread-safe)."""
        self._stopping = True
        self.wake()

    def watching(self):
        """The keys whose folder is being watched right now (connected and idling)."""
        return {key for key, watch in self.watches.items() if watch.connected_at is not None}

    # -- census --------------------------------------------------------------------------------

    async def rescan(self):
        """One census: drop, restart, shed and claim as the module docstring says."""
        census = await self._control(self.directory.census)
        self.stats["censuses"] += 1
        candidates = census.candidates
        self.workers = max(census.workers, 1)
        self.candidates = len(candidates)
        release = []
        for key, watch in list(self.watches.items()):
            candidate = candidates.get(key)
            # gone, or new settings (watched again with them, from a clean slate)
            if candidate is None or candidate.version != watch.version \
                    or candidate.host != watch.host:
                release.append(key)
        now = time.monotonic()
        for key, (version, until) in list(self.unsupported.items()):
            if key not in candidates or candidates[key].version != version or now >= until:
                del self.unsupported[key]
        share = fair_share(len(candidates), self.workers)
        excess = len(self.watches) - share - share // 20
        if excess > 0:
            # another worker started: let it have the part beyond this one's share (the
            # newest watches first: the others are the longest settled)
            kept = [key for key in self.watches if key not in release]
            release += kept[len(kept) - excess:] if excess < len(kept) else kept
        if release:
            await self._drop_many(release)
            await self._release(release)
        wanted = share - len(self.watches)
        free = [candidate for key, candidate in candidates.items()
                if key not in self.watches and key not in self.unsupported]
        count = min(wanted, self.budget.room())
        keys = self._choose(free, count)
        if keys:
            claimed = await self._control(self.directory.claim, keys, count)
            for key in claimed:
                if self._stopping:
                    await self._release([key])
                    continue
                self._start(candidates[key])
            self.stats["claimed"] += len(claimed)
            if claimed:
                _logger.info("push %s: watching %d more accounts (%d in all, %d workers, "
                             "%d accounts)", self.name, len(claimed), len(self.watches),
                             self.workers, len(candidates))

    def _choose(self, free, count):
        """Up to ``count`` keys of ``free`` candidates to try to claim, in a random order
        (workers claiming at the same moment mostly try different accounts), within the
        per-host limit."""
        if count <= 0:
            return []
        free = list(free)
        random.shuffle(free)
        room = {}
        keys = []
        for candidate in free:
            host_room = room.setdefault(candidate.host, self.budget.host_room(candidate.host))
            if host_room <= 0:
                continue
            room[candidate.host] = host_room - 1
            keys.append(candidate.key)
        # more than ``count``: claims held by others are skipped, the rest fill the gap
        return keys

    def _start(self, candidate):
        watch = _Watch(candidate)
        self.watches[candidate.key] = watch
        self.budget.take(watch.host)
        watch.task = asyncio.create_task(self._watch(watch))

    async def _drop(self, key):
        """Stop watching ``key`` (a running sync ends by itself); return the key."""
        watch = self.watches.pop(key)
        self.budget.give(watch.host)
        if watch.task is not None:
            watch.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watch.task
        if watch.reported:
            with contextlib.suppress(Exception):
                await self._threaded(self.directory.report, key, None)
        return key

    async def _drop_many(self, keys):
        """:meth:`_drop` them all at once (their connections close side by side)."""
        await asyncio.gather(*(self._drop(key) for key in keys))

    async def _drop_all(self, release):
        syncs = [watch.sync_task for watch in self.watches.values()
                 if watch.sync_task is not None and not watch.sync_task.done()]
        keys = list(self.watches)
        await self._drop_many(keys)
        if syncs:
            # a sync under way runs in a thread: let it end (it commits as it goes)
            await asyncio.wait(syncs, timeout=SHUTDOWN_WAIT)
        if release and keys:
            with contextlib.suppress(Exception):
                await self._release(keys)

    async def _release(self, keys):
        await self._control(self.directory.release, list(keys))
        self.stats["released"] += len(keys)

    # -- one account -----------------------------------------------------------------------

    async def _watch(self, watch):
        """Connect, sync once, IDLE; after a failure wait (:func:`backoff`) and start over."""
        while True:
            connection = None
            try:
                target = await self._threaded(self.directory.target, watch.key)
                watch.folder = target.folder
                connection = self.idle_factory(
                    target.settings, target.folder,
                    on_change=lambda watch=watch: self._changed(watch),
                    **({"reidle_after": self.reidle_after} if self.reidle_after else {}))
                watch.connection = connection
                await connection.open()
                watch.connected_at = time.monotonic()
                self.stats["connects"] += 1
                if watch.reported:
                    watch.reported = False
                    await self._threaded(self.directory.report, watch.key, None)
                # mail may have come while nobody watched (a new claim, a reconnection)
                self._request_sync(watch)
                while True:
                    await connection.idle_once()
            except asyncio.CancelledError:
                raise
            except IdleUnsupported:
                _logger.info("push %s: account %s: the server offers no IDLE; left to the "
                             "scheduled refresh", self.name, watch.key)
                self.unsupported[watch.key] = (watch.version,
                                               time.monotonic() + UNSUPPORTED_RECHECK)
                # let go of it; the census takes it out of the watches
                self._loop.call_soon(self._forget_unsupported, watch)
                return
            except Exception as exc:
                stable = (watch.connected_at is not None
                          and time.monotonic() - watch.connected_at >= STABLE_AFTER)
                watch.failures = 1 if stable else watch.failures + 1
                delay = backoff(watch.failures, stable=stable)
                self.stats["failures"] += 1
                if not isinstance(exc, exceptions.WebmailError):
                    _logger.exception("push %s: account %s: watching failed", self.name,
                                      watch.key)
                    exc = exceptions.WebmailError(str(exc))
                else:
                    _logger.info("push %s: account %s: %s; next attempt in %.0f s", self.name,
                                 watch.key, exc, delay)
                # a dropped connection that comes back at once is not worth a word
                if not (stable and isinstance(exc, exceptions.ServerGone)):
                    watch.reported = True
                    with contextlib.suppress(Exception):
                        await self._threaded(self.directory.report, watch.key, exc, delay)
                watch.connected_at = None
                await asyncio.sleep(delay)
            finally:
                watch.connection = None
                if connection is not None:
                    await connection.close()

    def _forget_unsupported(self, watch):
        if self.watches.get(watch.key) is watch:
            self.watches.pop(watch.key)
            self.budget.give(watch.host)
            asyncio.create_task(self._release_quietly([watch.key]))

    async def _release_quietly(self, keys):
        with contextlib.suppress(Exception):
            await self._release(keys)

    def _changed(self, watch):
        self.stats["changes"] += 1
        if self.watches.get(watch.key) is watch:
            self._request_sync(watch)

    def _request_sync(self, watch):
        """Sync the watched folder now, or once more after the sync under way."""
        if watch.sync_task is not None and not watch.sync_task.done():
            watch.sync_again = True
            return
        watch.sync_again = False
        watch.sync_task = asyncio.create_task(self._sync(watch))

    async def _sync(self, watch):
        while True:
            watch.sync_again = False
            async with self._host_slot(watch.host):
                try:
                    result = await self._threaded(self.directory.sync, watch.key, watch.folder)
                except Exception:
                    _logger.exception("push %s: sync of account %s failed", self.name,
                                      watch.key)
                    result = None
            self.stats["syncs"] += 1
            if result == BUSY:
                # another refresh of the account holds its lock: it may have passed the
                # folder already, so go again once it is done
                self.stats["busy"] += 1
                await asyncio.sleep(BUSY_RETRY)
                watch.sync_again = True
            if not watch.sync_again or self.watches.get(watch.key) is not watch:
                return

    @contextlib.asynccontextmanager
    async def _host_slot(self, host):
        """One host may use all sync threads but one (with one thread: that one)."""
        slots = max(self.limits.sync_threads - 1, 1)
        semaphore = self._host_syncs.get(host)
        if semaphore is None:
            semaphore = self._host_syncs[host] = asyncio.Semaphore(slots)
        async with semaphore:
            yield

    # -- threads -----------------------------------------------------------------------------

    async def _threaded(self, function, *args):
        return await self._loop.run_in_executor(self.sync_executor, function, *args)

    async def _control(self, function, *args):
        return await self._loop.run_in_executor(self.control_executor, function, *args)
