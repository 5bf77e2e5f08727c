"""The push worker: :mod:`..core.push` against Odoo databases.

One worker process (``odoo-bin vt_webmail_idle``, or a thread of an Odoo server with
``vt_webmail_push = True``) runs one asyncio event loop in one thread, with one
:class:`~..core.push.PushScheduler` per database, and a few threads that sync.

PostgreSQL shares the accounts between workers, on any number of machines:

* each database gets one autocommit connection per worker (application name
  :data:`APPLICATION_NAME`), which holds a session-level advisory lock
  ``(WATCH_LOCK_CLASS, account id)`` on every account the worker watches, and a lock
  ``(PRESENCE_LOCK_CLASS, its backend pid)`` that says the worker is alive: the number of
  those is the number of workers sharing the accounts. A worker that dies, however it dies,
  loses its connection and so its locks; the others see the accounts free at their next
  census (:data:`~..core.push.RESCAN_EVERY`);
* one more connection per worker LISTENs on :data:`CHANNEL`, which account creation, changes
  and deletion NOTIFY (``models/vt_webmail_account_push.py``; delivered at commit): a new,
  changed, archived or deleted account is picked up or dropped at once;
* a sync runs in a thread on a cursor of its own (``registry.cursor()``), under the account's
  refresh lock (``SYNC_LOCK_CLASS``, the one the scheduled refresh and *Refresh now* take),
  commits, and tells the owner's browser on the bus.

No transaction stays open while idling: the lock connection is in autocommit, and cursors live
for one sync.
"""

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import logging
import os
import resource
import select
import socket
import threading
import time

import psycopg2
import psycopg2.extensions

import odoo
from odoo import SUPERUSER_ID, api
from odoo.exceptions import UserError
from odoo.modules.registry import Registry
from odoo.tools import config

from ..core import exceptions as core_errors
from ..core import push as core_push

_logger = logging.getLogger(__name__)

#: First key of the advisory lock an account is watched under (the second is its id); not
#: the refresh lock (``SYNC_LOCK_CLASS``), which a watched account's refreshes still take.
WATCH_LOCK_CLASS = 0x76776E  # "vwn"
#: First key of the lock each worker holds while alive (the second: its backend pid).
PRESENCE_LOCK_CLASS = 0x76776F  # "vwo"
#: The channel account changes are NOTIFYed on.
CHANNEL = "vt_webmail_push"
_LISTEN = "LISTEN vt_webmail_push"  # the channel above
APPLICATION_NAME = "vt_webmail_push"
#: Times a sync that met a concurrent update is tried in all.
SERIALIZATION_RETRIES = 3
#: Options of the Odoo configuration file (the command's own options override them).
OPTION_IN_SERVER = "vt_webmail_push"
OPTION_MAX_CONNECTIONS = "vt_webmail_push_max_connections"
OPTION_MAX_PER_HOST = "vt_webmail_push_max_per_host"
OPTION_SYNC_THREADS = "vt_webmail_push_sync_threads"


class AccountUnusable(core_errors.WebmailError):
    """The account's settings cannot be used as they are (a password no key decrypts); the
    detail is the sentence for the user."""

    code = "account_unusable"
    summary = "The account cannot be used"


def limits_from_config(**overrides):
    """:class:`~..core.push.Limits` from the configuration file, then ``overrides`` (None
    values are ignored)."""
    defaults = core_push.Limits()
    values = {
        "max_connections": _int_option(OPTION_MAX_CONNECTIONS, defaults.max_connections),
        "max_per_host": _int_option(OPTION_MAX_PER_HOST, defaults.max_per_host),
        "sync_threads": _int_option(OPTION_SYNC_THREADS, defaults.sync_threads),
    }
    values.update({key: value for key, value in overrides.items() if value is not None})
    return core_push.Limits(**values)


def _int_option(name, default):
    try:
        return max(int(config.get(name) or default), 1)
    except (TypeError, ValueError):
        _logger.warning("%s = %r is not a number: %s used", name, config.get(name), default)
        return default


def truthy(value):
    return str(value or "").strip().lower() in ("1", "true", "yes", "on")


def _connect(dbname, application_name):
    """A connection of its own (never one of Odoo's pool: its session locks must die with
    it), autocommit; its application name says which process on which machine holds it
    (``pg_stat_activity``)."""
    _name, info = odoo.sql_db.connection_info_for(dbname)
    name = f"{application_name} {socket.gethostname()}:{os.getpid()}"[:63]
    info = dict(info, application_name=name, connect_timeout=10)
    connection = psycopg2.connect(**info)
    connection.autocommit = True
    return connection


class OdooDirectory(core_push.Directory):
    """The accounts of one database, for :class:`~..core.push.PushScheduler`."""

    def __init__(self, dbname):
        self.dbname = dbname
        self._connection = None
        #: account id -> the last_error this worker wrote (withdrawn when it works again)
        self._errors = {}
        self._errors_lock = threading.Lock()
        #: account id -> the access token it was last watched with / one a server refused
        self._tokens = {}
        self._rejected_tokens = {}

    # -- control: one connection, one thread ----------------------------------------------

    def _control(self):
        if self._connection is None:
            connection = _connect(self.dbname, APPLICATION_NAME)
            with connection.cursor() as cr:
                cr.execute("SELECT pg_advisory_lock(%s, pg_backend_pid())",
                           (PRESENCE_LOCK_CLASS,))
                # the others hand over their excess now rather than at their next census
                cr.execute("SELECT pg_notify(%s, 'worker')", (CHANNEL,))
            self._connection = connection
        return self._connection

    @contextlib.contextmanager
    def _lost_on_error(self):
        try:
            yield
        except psycopg2.Error as exc:
            connection, self._connection = self._connection, None
            if connection is not None:
                with contextlib.suppress(Exception):
                    connection.close()
            raise core_push.DirectoryLost(str(exc).strip()) from exc

    def census(self):
        with self._lost_on_error(), self._control().cursor() as cr:
            cr.execute(
                """
                SELECT a.id, lower(btrim(a.imap_host)),
                       md5(concat_ws('|', a.user_id, a.imap_host, a.imap_port, a.security,
                                     a.login, a.verify_certificate, a.ca_certificate,
                                     a.auth_method, a.oauth_identity, a.password_crypt))
                  FROM vt_webmail_account a
                 WHERE a.active AND NOT coalesce(a.needs_sign_in, false)
                   AND (a.auth_method = 'password' OR a.oauth_refresh_token_crypt IS NOT NULL)
                """)
            candidates = {row[0]: core_push.Candidate(*row) for row in cr.fetchall()}
            cr.execute(
                """
                SELECT count(*) FROM pg_locks
                 WHERE locktype = 'advisory' AND classid = %s AND granted
                   AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                """, (PRESENCE_LOCK_CLASS,))
            workers = cr.fetchone()[0]
        return core_push.Census(candidates, workers)

    def claim(self, keys, limit):
        with self._lost_on_error(), self._control().cursor() as cr:
            # the LIMIT stops the scan, so no lock is taken beyond the ones wanted
            cr.execute("SELECT k FROM unnest(%s::int[]) AS k "
                       "WHERE pg_try_advisory_lock(%s, k) LIMIT %s",
                       (list(keys), WATCH_LOCK_CLASS, limit))
            return [row[0] for row in cr.fetchall()]

    def release(self, keys):
        with self._lost_on_error(), self._control().cursor() as cr:
            cr.execute("SELECT pg_advisory_unlock(%s, k) FROM unnest(%s::int[]) AS k",
                       (WATCH_LOCK_CLASS, list(keys)))
            # another worker may take them now rather than at its next census
            cr.execute("SELECT pg_notify(%s, 'released')", (CHANNEL,))

    def close(self):
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()

    # -- the accounts: sync threads, a cursor each time ------------------------------------

    @contextlib.contextmanager
    def _env(self):
        threading.current_thread().dbname = self.dbname
        registry = Registry(self.dbname).check_signaling()
        with registry.cursor() as cr:
            yield api.Environment(cr, SUPERUSER_ID, {})

    def target(self, key):
        with self._env() as env:
            account = env["vt_webmail.account"].browse(key).exists()
            if not account or not account.active:
                raise AccountUnusable("the account was removed")
            try:
                settings = account._imap_settings()
                with self._errors_lock:
                    rejected = self._rejected_tokens.pop(key, None)
                if rejected and settings.access_token == rejected:
                    # the server refused this token last time: a new one, as a refresh does
                    settings = dataclasses.replace(
                        settings, access_token=account._oauth_access_token(rejected=rejected))
            except UserError as exc:
                raise AccountUnusable(exc.args[0])
            if settings.access_token:
                with self._errors_lock:
                    self._tokens[key] = settings.access_token
            inbox = account.folder_ids.filtered(lambda folder: folder.role == "inbox")[:1]
            return core_push.Target(settings, inbox.name or "INBOX")

    def sync(self, key, folder):
        for attempt in range(SERIALIZATION_RETRIES):
            try:
                return self._sync(key, folder)
            except psycopg2.extensions.TransactionRollbackError:
                # a user's change to the same rows at the same moment (Odoo's requests are
                # retried the same way)
                if attempt == SERIALIZATION_RETRIES - 1:
                    raise
                time.sleep(0.1 * (attempt + 1))
        return core_push.SYNCED

    def _sync(self, key, folder):
        with self._env() as env:
            account = env["vt_webmail.account"].browse(key).exists()
            if not account or not account.active:
                return core_push.GONE
            outcome = account._push_sync(folder)
            if outcome["running"]:
                return core_push.BUSY
            if outcome["error"]:
                self._remember(key, outcome["error"])
            else:
                self._withdraw(env, key)
        return core_push.SYNCED

    def report(self, key, error, retry_in=None):
        with self._env() as env:
            account = env["vt_webmail.account"].browse(key).exists()
            if not account:
                return
            if error is None:
                self._withdraw(env, key)
                return
            if isinstance(error, core_errors.TokenRejected):
                with self._errors_lock:
                    self._rejected_tokens[key] = self._tokens.get(key)
            text = error.detail if isinstance(error, AccountUnusable) \
                else account._error_message(error)
            account.write({"last_error": text})
            self._remember(key, text)

    def _remember(self, key, text):
        with self._errors_lock:
            self._errors[key] = text

    def _withdraw(self, env, key):
        """Clear the account's error if it is still the one this worker wrote."""
        with self._errors_lock:
            text = self._errors.pop(key, None)
        if text:
            env.cr.execute("UPDATE vt_webmail_account SET last_error = NULL "
                           "WHERE id = %s AND last_error = %s", (key, text))
            env["vt_webmail.account"].browse(key).invalidate_recordset(["last_error"])


class PushWorker:
    """The push of one process: an event loop in one thread, one scheduler per database.

    :param limits: :class:`~..core.push.Limits` for the whole process
    """

    def __init__(self, limits=None, *, rescan_every=core_push.RESCAN_EVERY):
        self.limits = limits or limits_from_config()
        self.rescan_every = rescan_every
        self.budget = core_push.ConnectionBudget(self.limits)
        self.sync_executor = concurrent.futures.ThreadPoolExecutor(
            self.limits.sync_threads, thread_name_prefix="vt_webmail.push.sync")
        self.schedulers = {}
        self.loop = None
        self.thread = None
        self._stopping = threading.Event()
        self._ready = threading.Event()
        self._tasks = {}
        self._pending = []

    # -- running ---------------------------------------------------------------------------------

    def run(self, dbnames):
        """Watch ``dbnames`` in this thread until :meth:`stop`."""
        self._pending.extend(dbnames)
        asyncio.run(self._main())

    def start_thread(self):
        """Run in a daemon thread of this process (the in-server mode)."""
        self.thread = threading.Thread(target=self.run, args=([],), daemon=True,
                                       name="vt_webmail.push")
        self.thread.start()
        self._ready.wait(10)
        return self

    def add_database(self, dbname):
        """Watch ``dbname`` too (thread-safe; nothing when already watched)."""
        if self.loop is None:
            self._pending.append(dbname)
        else:
            self.loop.call_soon_threadsafe(self._add, dbname)

    def stop(self):
        """Stop watching (thread-safe): release the accounts, close the connections."""
        self._stopping.set()
        loop = self.loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                loop.call_soon_threadsafe(self._stop_all)

    def watching(self):
        """{database: number of accounts watched now} (for the log and the tests)."""
        return {name: len(scheduler.watching()) for name, scheduler in self.schedulers.items()}

    async def _main(self):
        self.loop = asyncio.get_running_loop()
        self._done = asyncio.Event()
        for dbname in self._pending:
            self._add(dbname)
        self._pending = []
        self._ready.set()
        try:
            await self._done.wait()
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        finally:
            self.sync_executor.shutdown(wait=False)

    def _add(self, dbname):
        if dbname in self.schedulers or self._stopping.is_set():
            return
        directory = OdooDirectory(dbname)
        scheduler = core_push.PushScheduler(
            directory, self.limits, budget=self.budget, sync_executor=self.sync_executor,
            name=dbname, rescan_every=self.rescan_every)
        self.schedulers[dbname] = scheduler
        task = asyncio.create_task(self._run_scheduler(dbname, scheduler, directory))
        self._tasks[dbname] = task
        threading.Thread(target=self._listen, args=(dbname, scheduler), daemon=True,
                         name=f"vt_webmail.push.listen.{dbname}").start()
        _logger.info("vt_webmail push: watching the accounts of database %s (at most %d "
                     "connections, %d per host, %d sync threads)", dbname,
                     self.limits.max_connections, self.limits.max_per_host,
                     self.limits.sync_threads)

    async def _run_scheduler(self, dbname, scheduler, directory):
        try:
            await scheduler.run()
        finally:
            await asyncio.get_running_loop().run_in_executor(None, directory.close)

    def _stop_all(self):
        for scheduler in self.schedulers.values():
            scheduler.stop()
        self._done.set()

    def _listen(self, dbname, scheduler):
        """LISTEN on :data:`CHANNEL` (a connection and a thread of its own) and wake the
        scheduler on every NOTIFY; after a lost connection, wake it too (something may have
        been missed)."""
        while not self._stopping.is_set():
            connection = None
            try:
                connection = _connect(dbname, f"{APPLICATION_NAME}_listen")
                with connection.cursor() as cr:
                    cr.execute(_LISTEN)
                scheduler.wake()
                while not self._stopping.is_set():
                    readable, _w, _x = select.select([connection], [], [], 5)
                    if readable:
                        connection.poll()
                        if connection.notifies:
                            connection.notifies.clear()
                            scheduler.wake()
            except (psycopg2.Error, OSError) as exc:
                _logger.info("vt_webmail push: listening on %s: %s; again in 5 s", dbname, exc)
                self._stopping.wait(5)
            finally:
                if connection is not None:
                    with contextlib.suppress(Exception):
                        connection.close()


def raise_open_files_limit():
    """Every watched account is a socket: raise the soft limit of open files to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# -- the in-server mode ----------------------------------------------------------------------------

_in_server = None
_in_server_lock = threading.Lock()


def in_server_allowed():
    """Whether this process may run the in-server push: the option is on, this is a server
    (not a test run, an ``--stop-after-init`` run, ``odoo-bin shell`` or another command),
    and the thread here is one that lives as long as the server (the threaded server, or a
    cron worker of the multi-process server; never an HTTP worker)."""
    if not truthy(config.get(OPTION_IN_SERVER)):
        return False
    if config.get("test_enable") or config.get("test_file") or config.get("stop_after_init"):
        return False
    server = odoo.service.server.server
    if isinstance(server, odoo.service.server.ThreadedServer):
        return True
    if isinstance(server, odoo.service.server.PreforkServer):
        # cron jobs run in WorkerCron processes, in their "workthread"
        return threading.current_thread().name.startswith("Worker WorkerCron")
    return False


def ensure_in_server(dbname):
    """Start this process's push thread if it may run here (see :func:`in_server_allowed`),
    and have it watch ``dbname``. Cheap when it runs already."""
    global _in_server  # one worker per process
    if not in_server_allowed():
        return None
    with _in_server_lock:
        if _in_server is None or not _in_server.thread.is_alive():
            raise_open_files_limit()
            _in_server = PushWorker().start_thread()
            _logger.info("vt_webmail push: started in this server (option %s)",
                         OPTION_IN_SERVER)
        _in_server.add_database(dbname)
    return _in_server

