"""A small per-process pool of logged-in IMAP sessions.

Opening a mail is a few milliseconds of IMAP on a session that is already logged in, with its
folder already selected; over TLS, connecting and logging in cost more than the rest, and
SELECT of a large folder more again (Dovecot: most of a second for 100,000 mails). A request
(:mod:`.session_scope`) therefore takes its session from an :class:`ImapPool` and gives it back
at its end, instead of logging in and out each time.

* **Keyed by account and settings.** A session is found under its key (database and account)
  *and* a fingerprint of the settings it logged in with: host, port, security, certificate
  checks, login, password or access token (a SHA-256 of them; no secret is kept). A session of
  other settings is never handed out: changed settings (another process's included) close the
  old one at the next :meth:`~ImapPool.acquire`, and :meth:`~ImapPool.discard` closes them at
  once when this process sees the change.
* **One user at a time.** A session taken out is no longer in the pool; two requests of the
  same account at the same moment get two sessions. Every change of the pool holds a lock.
* **Idle timeout.** A session given back waits at most ``idle_seconds``: its connection's
  deadline (:meth:`.imap_limits.Guard.restart`) is set to that, so the deadline's watchdog
  shuts an idle connection down without any thread of the pool's own, and a session found
  expired is dropped. Taken out, it gets the request's deadline again.
* **Health check.** A session idle longer than ``check_after`` seconds answers a NOOP before it
  is handed out; one that does not is closed and a new one logged in.
* **Bounded.** At most ``per_key`` idle sessions per key and ``max_size`` in all (the oldest
  idle one is closed to make room); a session that failed (:attr:`~.imap_limits.Guard.broken`
  or expired) is never given back.

``idle_seconds = 0`` turns the pool off: :meth:`~ImapPool.acquire` logs in, and
:meth:`~ImapPool.release` logs out.
"""

import contextlib
import dataclasses
import hashlib
import threading
import time

from . import exceptions

#: Seconds a session given back stays logged in, waiting for its next request.
DEFAULT_IDLE_SECONDS = 60.0
#: Seconds idle after which a session answers a NOOP before it is handed out.
DEFAULT_CHECK_AFTER = 5.0
#: Idle sessions kept in all (a process serves many users) and per account.
DEFAULT_MAX_SIZE = 16
DEFAULT_PER_KEY = 2

#: What a session's connection depends on (:class:`.imap_session.ServerSettings`' fields).
_FINGERPRINT_FIELDS = ("host", "port", "security", "verify_certificate", "ca_pem", "login",
                       "password", "access_token")


def fingerprint(settings):
    """A digest of what ``settings`` (:class:`.imap_session.ServerSettings`) connects and logs
    in with; equal digests, interchangeable sessions. Secrets are hashed, never kept."""
    digest = hashlib.sha256()
    for name in _FINGERPRINT_FIELDS:
        value = getattr(settings, name, None)
        digest.update(repr(value).encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return digest.hexdigest()


@dataclasses.dataclass
class _Idle:
    session: object
    fingerprint: str
    since: float
    idle_seconds: float


@dataclasses.dataclass
class PoolStats:
    """What the pool did, for benchmarks and tests."""

    opened: int = 0
    reused: int = 0
    checked: int = 0
    dropped: int = 0


class ImapPool:
    """Idle logged-in sessions per key (see the module docstring).

    :param idle_seconds: how long a session given back waits (0: no pooling)
    :param check_after: idle seconds after which a NOOP checks a session before reuse
    :param max_size: idle sessions kept in all
    :param per_key: idle sessions kept per key
    :param clock: ``time.monotonic`` (tests may pass another)
    """

    def __init__(self, idle_seconds=DEFAULT_IDLE_SECONDS, *, check_after=DEFAULT_CHECK_AFTER,
                 max_size=DEFAULT_MAX_SIZE, per_key=DEFAULT_PER_KEY, clock=time.monotonic):
        self.idle_seconds = idle_seconds
        self.check_after = check_after
        self.max_size = max_size
        self.per_key = per_key
        self.clock = clock
        self.stats = PoolStats()
        self._lock = threading.Lock()
        self._idle = {}  # key -> [_Idle, ...], the most recently given back last

    def __len__(self):
        with self._lock:
            return sum(len(entries) for entries in self._idle.values())

    def acquire(self, key, settings_fingerprint, opener, *, deadline=None):
        """A logged-in session for ``key``: an idle one of the same fingerprint (alive, with
        ``deadline`` seconds before it as a new session would have), else ``opener()``'s.

        :param key: what the session belongs to (database and account)
        :param settings_fingerprint: :func:`fingerprint` of the settings ``opener`` uses
        :param opener: a callable returning a new logged-in
            :class:`~.imap_session.ImapSession`; its exceptions propagate unchanged
        :param deadline: seconds the request may use the session (None: no deadline)
        """
        while True:
            entry, stale = self._take(key, settings_fingerprint)
            for old in stale:
                _close(old)
            if entry is None:
                break
            session = entry.session
            if not session.guard.restart(deadline):
                self._count("dropped")
                _close(session)
                continue
            if self.clock() - entry.since >= self.check_after:
                self._count("checked")
                try:
                    session.noop()
                except exceptions.WebmailError:
                    self._count("dropped")
                    _close(session)
                    continue
            self._count("reused")
            return session
        session = opener()
        self._count("opened")
        return session

    def release(self, key, settings_fingerprint, session, *, idle_seconds=None):
        """Give ``session`` back after a request that went well; it is logged out instead when
        pooling is off, it failed, or it is over its bounds.

        :param idle_seconds: how long it may wait (default: the pool's ``idle_seconds``)
        """
        idle = self.idle_seconds if idle_seconds is None else idle_seconds
        if not idle or session.guard.broken or session.guard.expired:
            _logout(session)
            return
        if not session.guard.restart(idle):
            _close(session)
            return
        evicted = []
        with self._lock:
            now = self.clock()
            entries = self._idle.setdefault(key, [])
            entries.append(_Idle(session, settings_fingerprint, now, idle))
            while len(entries) > self.per_key:
                evicted.append(entries.pop(0).session)
            total = sum(len(e) for e in self._idle.values())
            while total > self.max_size:
                oldest_key = min(self._idle, key=lambda k: self._idle[k][0].since
                                 if self._idle[k] else now + 1)
                evicted.append(self._idle[oldest_key].pop(0).session)
                if not self._idle[oldest_key]:
                    del self._idle[oldest_key]
                total -= 1
        for old in evicted:
            _logout(old)

    def discard(self, key):
        """Log out the idle sessions of ``key`` (its settings changed, it was deleted)."""
        with self._lock:
            entries = self._idle.pop(key, [])
        for entry in entries:
            _logout(entry.session)

    def clear(self):
        """Log out every idle session."""
        with self._lock:
            entries = [entry for group in self._idle.values() for entry in group]
            self._idle.clear()
        for entry in entries:
            _logout(entry.session)

    def _take(self, key, settings_fingerprint):
        """Under the lock: the newest usable idle entry of ``key`` (removed from the pool), and
        the sessions to close: expired, idle too long, or of other settings."""
        stale = []
        with self._lock:
            entries = self._idle.get(key) or []
            now = self.clock()
            keep = []
            for entry in entries:
                guard = entry.session.guard
                if (entry.fingerprint != settings_fingerprint or guard.expired or guard.broken
                        or now - entry.since > entry.idle_seconds):
                    stale.append(entry.session)
                else:
                    keep.append(entry)
            found = keep.pop() if keep else None
            if keep:
                self._idle[key] = keep
            else:
                self._idle.pop(key, None)
        if stale:
            self._count("dropped", len(stale))
        return found, stale

    def _count(self, name, number=1):
        with self._lock:
            setattr(self.stats, name, getattr(self.stats, name) + number)


def _logout(session):
    # logging out is a courtesy: a failure there changes nothing for anyone
    with contextlib.suppress(Exception):
        session.logout()


def _close(session):
    with contextlib.suppress(Exception):
        session.close()
