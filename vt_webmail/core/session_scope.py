"""One IMAP login per request.

A request (opening a mail, replying, moving a selection, sending) used to log in once per helper
it called: fetch the body, then mark it read; read the Reply-To, then the body. A
:class:`SessionScope` lets the outermost caller say "this is one request"
(:meth:`SessionScope.request`); inside it, every :meth:`SessionScope.borrow` of the same key
(an account) gets the same logged-in session, opened on first use and logged out when the
request ends. Outside any request, :meth:`~SessionScope.borrow` opens a session of its own and
closes it at the end of its block, as before.

The scope is per thread (a request, a scheduled job and a test each run in one), so two
requests never share a connection. A failure inside a borrowed block closes that session and
forgets it, so that whatever follows in the same request logs in again rather than speak on a
connection left in an unknown state (a timeout in the middle of a literal, say).
"""

import contextlib
import threading


class SessionScope:
    """The sessions of the request under way in each thread (see the module docstring)."""

    def __init__(self):
        self._local = threading.local()

    @property
    def active(self):
        """True inside :meth:`request`, in this thread."""
        return getattr(self._local, "sessions", None) is not None

    def open_count(self):
        """How many sessions the request under way holds (0 outside one)."""
        return len(getattr(self._local, "sessions", None) or {})

    @contextlib.contextmanager
    def request(self):
        """One request: sessions borrowed inside are shared and, at its end, given back (see
        :meth:`borrow`'s ``release``) or logged out.

        A request inside a request is the outer one (the outer caller owns the sessions).
        """
        if self.active:
            yield
            return
        self._local.sessions = {}
        try:
            yield
        finally:
            sessions, self._local.sessions = self._local.sessions, None
            for session, release in sessions.values():
                _finish(session, release)

    @contextlib.contextmanager
    def borrow(self, key, opener, release=None):
        """A logged-in session for ``key``: the request's (opened with ``opener()`` on first
        use), or outside a request a session of its own, finished at the end of the block.

        :param key: what identifies the server and credentials (e.g. database and account)
        :param opener: a callable returning a new logged-in session (with ``logout()`` and
            ``close()``); its exceptions propagate unchanged
        :param release: a callable given the session when the request (or, outside one, the
            block) ends well, instead of logging it out: a pool's
            (:meth:`.imap_pool.ImapPool.release`). A session that failed is closed, never
            released.
        """
        sessions = getattr(self._local, "sessions", None)
        if sessions is None:
            session = opener()
            try:
                yield session
            except BaseException:
                session.close()
                raise
            _finish(session, release)
            return
        if key in sessions:
            session = sessions[key][0]
        else:
            session = opener()
            sessions[key] = (session, release)
        try:
            yield session
        except BaseException:
            if key in sessions and sessions[key][0] is session:
                del sessions[key]
            session.close()
            raise


def _finish(session, release):
    """Give ``session`` back with ``release``, else log it out; a failure there is a
    courtesy lost, nothing for the request."""
    with contextlib.suppress(Exception):
        if release is not None:
            release(session)
        else:
            session.logout()


#: The process's scope: the Odoo layer's accounts borrow from it, its actions open requests.
SESSIONS = SessionScope()
