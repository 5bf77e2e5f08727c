#!/usr/bin/env python3
"""Benchmark of vt_webmail's sync engine against its floor and Odoo's fetchmail, in one run.

Run it with Odoo's interpreter, from anywhere::

    /opt/odoo18-venv/bin/python tools/benchmark.py                 # 1x and 5x the corpus
    /opt/odoo18-venv/bin/python tools/benchmark.py --scale 1 --rst # one scale, RST table too

For each scale it starts a private Dovecot (``vt_webmail.testing.DovecotServer``), APPENDs the
SpamAssassin public corpus (``tools/bench_corpus.py``: 6,046 real mails; scale 5 = 30,230) to
two users, one for vt_webmail and an identical copy for fetchmail (which changes flags), creates
a throwaway Odoo database with ``vt_webmail`` installed, and measures with real cursors and
commits (no test mode), printing one table per scale:

* **raw fetch (the floor)**: a bare ``imapclient`` session over the same implicit-TLS port:
  LOGIN, EXAMINE INBOX, UID SEARCH ALL, then ``fetch()`` of the very items the engine asks for
  (FLAGS INTERNALDATE RFC822.SIZE BODYSTRUCTURE BODY.PEEK[HEADER.FIELDS (...)]) in UID lists of
  500, newest first, parsed by imapclient and thrown away. It runs in a child process (so its
  memory does not flatter the sync's), after one pass on the cold mailbox (reported apart)
  that fills Dovecot's cache, so the floor and the sync both meet a warm cache;
* **initial sync**: ``vt_webmail.account.create`` as a user, then ``action_refresh`` as that
  user (LIST, the folders, INBOX and the five empty special folders): time and mails/s.
  ``--sync-runs`` times (default 3), each a new account on the same mailbox, each right after
  a raw fetch: floor and sync alternate, so on a shared machine both meet the same load, and
  the best of each counts;
* **newest page readable**: a second thread with its own cursor polls ``search_read`` of the
  inbox as the user (the list's own order, ``emails_per_page`` rows) from just before the
  account is created; the time is that of the first poll from which the page shows the final
  first page's dates (mails of the same date are equally newest; the slowest run counts);
* **no-change refresh** (median of ``--repeat``): time; IMAP commands, counted on the wire
  (every tagged command line imaplib sends, LOGIN and LOGOUT included) and as the engine counts
  them (``ImapSession.round_trips`` of each ``sync_folder``: commands per synced folder); database
  writes, counted by wrapping ``odoo.sql_db.Cursor.execute`` (INSERT/UPDATE/DELETE statements
  of the refreshing thread, with the rows they touched), split into the mail cache
  (``vt_webmail_message``, ``vt_webmail_folder``, ``ir_attachment``) and bookkeeping;
* **50 new mails** (median of ``--repeat``): 50 more corpus mails APPENDed (fresh
  Message-Ids), then one refresh;
* **fetchmail**: Odoo 18's ``fetchmail.server`` (IMAP, SSL/TLS, same Dovecot port, new
  records as ``crm.lead``) fetching the second user's identical mailbox with ``fetch_mail()``,
  as its cron does, until all of it is in Odoo. fetchmail opens ``IMAP4_SSL`` with Python's
  default *unverified* context, so it needs no CA (and checks none); vt_webmail verifies the
  test CA. ``--fetchmail-limit N`` leaves only N mails unseen, spread evenly over the mailbox
  (fetchmail fetches UNSEEN only), and extrapolates linearly, labelled so;
* **peak memory growth**: resident set size (RSS, sampled every 10 ms by a thread with
  psutil) during the first initial sync, minus the RSS just before it; and, since RSS does not grow
  while Python reuses heap memory freed earlier, the Python heap's peak as ``tracemalloc``
  counts it (``get_traced_memory``, peak minus start) during a second, identical initial sync of
  a second account on the same mailbox (tracemalloc slows it down, so it is timed apart).

Several scales run one after the other, each in a child process of its own (its own Dovecot,
database and memory). Dovecot and the database are removed on exit, on error and on Ctrl-C
(``--keep-db`` keeps the database). Every network call has a timeout. The 1-minute load
average is printed with each scale: on a machine shared with other jobs the timings suffer
(``--quiet-load`` waits for a quieter moment before each timed phase).
"""

import argparse
import contextlib
import cProfile
import datetime
import gc
import io
import json
import logging
import os
import platform
import pstats
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import tracemalloc
import types
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TOOLS = Path(__file__).resolve().parent
sys.path.insert(0, str(TOOLS))

import bench_corpus  # noqa: E402 (tools/ was just put on the path)

ODOO_PATH = Path(os.environ.get("ODOO_PATH", "/opt/odoo18"))
TIMEOUT = 60.0
NEW_MAILS = 50
#: tables that make up the mail cache; every other written table is bookkeeping
CACHE_TABLES = {"vt_webmail_message", "vt_webmail_folder", "ir_attachment"}
_WRITE = re.compile(r'^\s*(?:WITH\b.*?\)\s*)?(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)"?',
                    re.IGNORECASE | re.DOTALL)

# targets: (description, test of the measured value)
TARGETS = {
    "sync_ratio": 1.5,
    "sync_rate": 2500,
    "page_seconds": 2.0,
    "new50_seconds": 0.150,
    "fetchmail_ratio": 10.0,
    "memory_mb": 100.0,
}


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# the floor: a bare imapclient fetch, in a child process


def raw_fetch(spec):
    """Fetch the summaries of every INBOX mail with bare imapclient; return timings."""
    import ssl

    from imapclient import IMAPClient
    from imapclient.imapclient import SocketTimeout

    context = ssl.create_default_context(cafile=spec["ca_path"])
    items = spec["items"]
    timings = []
    for _run in range(spec["runs"]):
        start = time.perf_counter()
        client = IMAPClient(spec["host"], spec["port"], ssl=True, ssl_context=context,
                            timeout=SocketTimeout(connect=TIMEOUT, read=TIMEOUT))
        client.login(spec["login"], spec["password"])
        client.select_folder("INBOX", readonly=True)
        uids = sorted(client.search("ALL"), reverse=True)
        count = 0
        for index in range(0, len(uids), 500):
            count += len(client.fetch(uids[index:index + 500], items))
        client.logout()
        timings.append((time.perf_counter() - start, count))
    return timings


def run_raw_fetch(spec):
    done = subprocess.run(
        [sys.executable, __file__, "--raw-fetch", json.dumps(spec)],
        capture_output=True, text=True, timeout=3600, check=False,
    )
    if done.returncode:
        raise RuntimeError(f"raw fetch failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


# ---------------------------------------------------------------------------------------------
# instruments


class Counters:
    """IMAP commands (as sent) and SQL writes of one thread, while active."""

    def __init__(self):
        self.thread = None
        self.commands = []
        self.writes = []  # (verb, table, rowcount)
        self.sessions = []
        self.folder_trips = []  # (folder, round_trips)

    def start(self):
        self.thread = threading.get_ident()
        self.commands = []
        self.writes = []
        self.sessions = []
        self.folder_trips = []

    def stop(self):
        self.thread = None

    @property
    def active(self):
        return self.thread == threading.get_ident()

    def summary(self):
        cache = [w for w in self.writes if w[1] in CACHE_TABLES]
        other = [w for w in self.writes if w[1] not in CACHE_TABLES]
        return {
            "imap_commands": len(self.commands),
            "command_names": " ".join(_runs(self.commands)),
            "engine_round_trips": sum(s.round_trips for s in self.sessions),
            "folder_trips": list(self.folder_trips),
            "cache_writes": len(cache),
            "cache_rows": sum(max(w[2], 0) for w in cache),
            "other_writes": len(other),
            "other_rows": sum(max(w[2], 0) for w in other),
            "write_detail": sorted({f"{v.split()[0].upper()} {t}" for v, t, _r in self.writes}),
        }


COUNTERS = Counters()


def _runs(names):
    """``["A", "B", "B"]`` -> ``["A", "Bx2"]``."""
    out = []
    for name in names:
        if out and out[-1][0] == name:
            out[-1][1] += 1
        else:
            out.append([name, 1])
    return [name if count == 1 else f"{name} x{count}" for name, count in out]


def install_instruments(odoo):
    """Wrap imaplib's tag counter, the engine's connect/sync_folder and Cursor.execute."""
    import imaplib

    from odoo.tools import SQL

    from odoo.addons.vt_webmail.models import vt_webmail_account_imap as imap_module
    from odoo.addons.vt_webmail.models import vt_webmail_account_sync as account_module

    send = imaplib.IMAP4.send

    def recording_send(self, data):
        # every command line starts with this connection's tag prefix; literals do not
        if COUNTERS.active and data.startswith(self.tagpre):
            words = data.split(b"\r\n", 1)[0].split()
            name = b" ".join(words[1:3] if words[1:2] == [b"UID"] else words[1:2])
            COUNTERS.commands.append(name.decode("ascii", "replace").upper())
        return send(self, data)

    imaplib.IMAP4.send = recording_send

    connect = imap_module.connect

    def recording_connect(settings):
        session = connect(settings)
        if COUNTERS.active:
            COUNTERS.sessions.append(session)
        return session

    imap_module.connect = recording_connect

    sync_folder = account_module.sync_folder

    def recording_sync_folder(session, folder, *args, **kwargs):
        before = session.round_trips
        result = sync_folder(session, folder, *args, **kwargs)
        if COUNTERS.active:
            COUNTERS.folder_trips.append((folder, session.round_trips - before))
        return result

    account_module.sync_folder = recording_sync_folder

    execute = odoo.sql_db.Cursor.execute

    def counting_execute(self, query, params=None, log_exceptions=True):
        result = execute(self, query, params, log_exceptions)
        if COUNTERS.active:
            text = query.code if isinstance(query, SQL) else query
            if isinstance(text, bytes):
                text = text.decode(errors="replace")
            match = _WRITE.match(text or "")
            if match:
                COUNTERS.writes.append((match.group(1), match.group(2), self.rowcount))
        return result

    odoo.sql_db.Cursor.execute = counting_execute


@contextlib.contextmanager
def counting():
    COUNTERS.start()
    try:
        yield COUNTERS
    finally:
        COUNTERS.stop()


class RssSampler(threading.Thread):
    """Peak resident set size of this process while running (psutil, every 10 ms)."""

    def __init__(self):
        super().__init__(daemon=True)
        import psutil

        self.process = psutil.Process()
        self.baseline = self.process.memory_info().rss
        self.peak = self.baseline
        self.done = threading.Event()

    def run(self):
        while not self.done.wait(0.01):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def stop(self):
        self.done.set()
        self.join(5)
        self.peak = max(self.peak, self.process.memory_info().rss)
        return (self.peak - self.baseline) / 2**20


class PagePoller(threading.Thread):
    """Polls the inbox's first page as the user, on a cursor of its own."""

    def __init__(self, registry, uid, account_getter, per_page, interval):
        super().__init__(daemon=True)
        self.registry = registry
        self.uid = uid
        self.account_getter = account_getter
        self.per_page = per_page
        self.interval = interval
        self.start_time = None
        self.polls = []  # (seconds since start, tuple of the dates on the page)
        self.done = threading.Event()
        self.error = None

    def run(self):
        from odoo import api

        try:
            with self.registry.cursor() as cr:
                env = api.Environment(cr, self.uid, {})
                while True:
                    last = self.done.is_set()
                    cr.rollback()  # a new snapshot: see what the sync committed since
                    env.invalidate_all()
                    self.polls.append((time.perf_counter() - self.start_time, self._page(env)))
                    if last:
                        return
                    self.done.wait(self.interval)
        except Exception as exc:  # reported in the table, never silently
            self.error = repr(exc)

    def _page(self, env):
        account_id = self.account_getter()
        if not account_id:
            return ()
        inbox = env["vt_webmail.folder"].search(
            [("account_id", "=", account_id), ("role", "=", "inbox")], limit=1)
        if not inbox:
            return ()
        rows = env["vt_webmail.message"].search_read(
            [("folder_id", "=", inbox.id)], ["uid", "subject", "email_from", "date"],
            limit=self.per_page)
        # the dates shown, newest first: mails of the same date are equally "newest", and
        # which of them comes first depends on the order they were stored in
        return tuple(row["date"] for row in rows)

    def stop(self):
        self.done.set()
        self.join(30)

    def readable_after(self):
        """Seconds until the page first equalled the final page (and stayed so)."""
        if not self.polls or not self.polls[-1][1]:
            return None
        final = self.polls[-1][1]
        index = len(self.polls) - 1
        while index > 0 and self.polls[index - 1][1] == final:
            index -= 1
        return self.polls[index][0]

    def first_visible_after(self):
        return next((t for t, page in self.polls if page), None)


# ---------------------------------------------------------------------------------------------
# one scale


def machine_info():
    info = {"date": datetime.date.today().isoformat(), "python": platform.python_version()}
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        fields = dict(line.split(":", 1) for line in lscpu.splitlines() if ":" in line)
        info["cpu"] = fields.get("Model name", "?").strip()
        info["cpus"] = fields.get("CPU(s)", "?").strip()
    with contextlib.suppress(OSError, ValueError):
        meminfo = Path("/proc/meminfo").read_text()
        kb = int(re.search(r"MemTotal:\s+(\d+)", meminfo).group(1))
        info["ram"] = f"{kb / 2**20:.0f} GiB"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        from vt_webmail.testing.dovecot import find_dovecot

        info["dovecot"] = subprocess.run([find_dovecot(), "--version"], capture_output=True,
                                         text=True, timeout=10).stdout.split()[0]
    with contextlib.suppress(OSError, subprocess.SubprocessError, IndexError):
        info["postgresql"] = subprocess.run(["psql", "--version"], capture_output=True,
                                            text=True, timeout=10).stdout.split()[2]
    with contextlib.suppress(Exception):
        import imapclient

        info["imapclient"] = imapclient.__version__
    info["os"] = platform.platform(terse=True)
    return info


def use_addon(directory):
    """Make ``vt_webmail.testing`` of ``directory`` importable without Odoo.

    ``vt_webmail/__init__.py`` imports the models, so the addon is registered as a bare package
    (as conftest.py does): the test servers then import on their own.
    """
    package = types.ModuleType("vt_webmail")
    package.__path__ = [str(Path(directory) / "vt_webmail")]
    sys.modules.setdefault("vt_webmail", package)


def start_odoo(db, args):
    sys.path.insert(0, str(ODOO_PATH))
    import odoo
    from odoo.tools import config

    log_level = args.log_level
    addons = f"{ODOO_PATH}/addons,{ODOO_PATH}/odoo/addons,{args.addons_dir}"
    config.parse_config([
        "--config=/dev/null", f"--addons-path={addons}", f"--log-level={log_level}",
        "--without-demo=all", "-d", db, "--max-cron-threads=0", "--db_maxconn=16",
    ], setup_logging=True)
    return odoo


def create_database(odoo, db):
    from odoo.modules.registry import Registry
    from odoo.tools import config

    odoo.service.db._create_empty_database(db)
    config["init"] = {"vt_webmail": 1}
    try:
        registry = Registry.new(db, update_module=True)
    finally:
        config["init"] = {}
    return registry


def drop_database(odoo, db):
    from odoo.modules.registry import Registry

    with contextlib.suppress(Exception):
        Registry.delete(db)
    with contextlib.suppress(Exception):
        odoo.sql_db.close_db(db)
    with odoo.sql_db.db_connect("postgres").cursor() as cr:
        cr._cnx.autocommit = True
        cr.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


class FetchmailErrors(logging.Handler):
    """Counts the mails fetchmail failed to process (it logs each at INFO)."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.failed = 0
        self.lines = []
        self.reasons = {}
        self.example = ""

    def emit(self, record):
        message = record.getMessage()
        if message.startswith("Failed to process mail"):
            self.failed += 1
            error = record.exc_info[1] if record.exc_info else None
            reason = f"{type(error).__name__}: {str(error)[:60]}" if error else "?"
            reason = re.sub(r"\d+", "N", reason)
            self.reasons[reason] = self.reasons.get(reason, 0) + 1
            if error and not self.example:
                self.example = "".join(traceback.format_exception(error)[-6:])
        elif message.startswith("Fetched"):
            self.lines.append(message)


def run_scale(scale, args):
    """Everything for one scale; returns the results as a dict (JSON-able)."""
    from vt_webmail.testing import DovecotServer

    results = {"scale": scale, "machine": machine_info()}
    data_dir = bench_corpus.fetch(args.cache_dir)
    corpus, mismatched = bench_corpus.load(data_dir)
    mails = bench_corpus.copies(corpus, scale)
    # fresh Message-Ids for each refresh after new mail (copies 100, 101, ...)
    extras = [[bench_corpus.copy_of(mail, 100 + k) for mail in corpus[-NEW_MAILS:]]
              for k in range(args.repeat + bool(args.profile))]
    results.update(mails=len(mails), mbytes=sum(map(len, mails)) / 1e6,
                   md5_mismatched=mismatched)
    log(f"scale {scale}: {len(mails)} mails, {results['mbytes']:.0f} MB")

    db = f"{args.db_prefix}_{scale}x_{os.getpid()}"
    odoo = start_odoo(db, args)
    dovecot = DovecotServer()
    registry = None
    try:
        dovecot.start()
        dovecot.add_user("bench", "bench-pw")
        dovecot.add_user("fetch", "fetch-pw")
        start = time.perf_counter()
        dovecot.append_many("bench", "INBOX", mails)
        results["seed_seconds"] = time.perf_counter() - start
        if not args.no_fetchmail:
            dovecot.append_many("fetch", "INBOX", mails)
        log(f"seeded in {results['seed_seconds']:.1f} s per mailbox")

        log("creating the database and installing vt_webmail")
        start = time.perf_counter()
        registry = create_database(odoo, db)
        log(f"database {db} ready in {time.perf_counter() - start:.0f} s")
        install_instruments(odoo)
        from odoo.addons.vt_webmail.core.imap_session import SUMMARY_ITEMS

        spec = {
            "host": dovecot.hostname, "port": dovecot.imaps_port, "login": "bench",
            "password": "bench-pw", "ca_path": str(dovecot.ca_path),
            "items": list(SUMMARY_ITEMS), "runs": 1,
        }
        wait_quiet(args)
        cold = run_raw_fetch(spec)
        results["floor_cold_seconds"] = cold[0][0]
        log(f"raw fetch, cold Dovecot cache: {cold[0][0]:.2f} s for {cold[0][1]} mails")

        measure_vt_webmail(registry, dovecot, spec, extras, results, args)
        if not args.no_fetchmail:
            wait_quiet(args)
            measure_fetchmail(registry, dovecot, len(mails), results, args)
    finally:
        # a second Ctrl-C must not cut the cleanup short
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        dovecot.close()
        if not args.keep_db or registry is None:
            try:
                drop_database(odoo, db)
            except Exception as exc:  # reported: the measured results matter more
                log(f"could not drop database {db}: {exc}")
    results["database"] = db if args.keep_db else None
    return results


def initial_sync(registry, env, dovecot, run, args, profile=False):
    """Create an account as the user and refresh it: one initial sync, timed and watched."""
    cr = env.cr
    holder = {}
    poller = PagePoller(registry, env.uid, lambda: holder.get("id"), 20, args.poll_interval)
    profiler = cProfile.Profile() if profile else None
    load = os.getloadavg()[0]
    cr.commit()
    gc.collect()
    rss = RssSampler()
    rss.start()
    poller.start_time = start = time.perf_counter()
    poller.start()
    account = env["vt_webmail.account"].create({
        "email": f"bench{run}@example.com", "imap_host": dovecot.hostname,
        "imap_port": dovecot.imaps_port, "security": "ssl", "login": "bench",
        "password": "bench-pw", "ca_certificate": dovecot.ca_path.read_text(),
    })
    cr.commit()
    holder["id"] = account.id
    poller.per_page = account.emails_per_page
    if profiler:
        profiler.enable()
    outcome = account.action_refresh()
    if profiler:
        profiler.disable()
    seconds = time.perf_counter() - start
    memory = rss.stop()
    poller.stop()
    cr.commit()
    result = {
        "account": account, "seconds": seconds, "memory_mb": memory, "outcome": outcome,
        "page_seconds": poller.readable_after(),
        "first_visible_seconds": poller.first_visible_after(),
        "poller_error": poller.error, "polls": len(poller.polls), "per_page": poller.per_page,
        "load": load,
    }
    if profiler:
        result["profile"] = profile_text(profiler)
    return result


def wait_quiet(args):
    """Wait (at most ``--quiet-wait`` s) until the 1-minute load average is below
    ``--quiet-load``: other jobs on a small machine distort every timing."""
    if not args.quiet_load:
        return
    deadline = time.monotonic() + args.quiet_wait
    load = os.getloadavg()[0]
    if load < args.quiet_load:
        return
    log(f"load average {load:.1f}: waiting for it to drop below {args.quiet_load}")
    while load >= args.quiet_load and time.monotonic() < deadline:
        time.sleep(5)
        load = os.getloadavg()[0]
    log(f"load average now {load:.1f}")


def measure_vt_webmail(registry, dovecot, floor_spec, extras, results, args):
    from odoo import SUPERUSER_ID, api

    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        # the benchmark's Dovecot is on loopback: allowed as an administrator would allow it
        env["ir.config_parameter"].set_param("vt_webmail.allowed_hosts", "127.0.0.1")
        user = env["res.users"].create({
            "name": "Benchmark", "login": "benchmark", "email": "bench@example.com",
            "groups_id": [(6, 0, [env.ref("base.group_user").id])],
        })
        uid = user.id
        cr.commit()

    with registry.cursor() as cr:
        env = api.Environment(cr, uid, {})
        runs, floors = [], []
        for run in range(args.sync_runs):
            wait_quiet(args)
            # floor and sync alternate, so both meet the same conditions on a shared machine
            floors.append(run_raw_fetch(floor_spec)[0])
            log(f"raw fetch {run + 1}/{args.sync_runs}: {floors[-1][0]:.2f} s for "
                f"{floors[-1][1]} mails")
            runs.append(initial_sync(registry, env, dovecot, run, args))
            log(f"initial sync {run + 1}/{args.sync_runs}: {runs[-1]['seconds']:.2f} s, "
                f"{runs[-1]['outcome']}, newest page after {runs[-1]['page_seconds']} s, "
                f"RSS +{runs[-1]['memory_mb']:.0f} MB, load {runs[-1]['load']:.1f}")
            if runs[-1]["outcome"]["error"] or runs[-1]["outcome"]["new"] != results["mails"]:
                raise RuntimeError(f"the initial sync did not bring every mail: {runs[-1]}")
        account = runs[0].pop("account")
        for other in runs[1:]:
            other.pop("account")
        pages = [r["page_seconds"] for r in runs]
        results.update(
            floor_seconds=min(t for t, _n in floors),
            floor_runs=[t for t, _n in floors],
            floor_mails=floors[0][1],
            sync_runs=runs,
            sync_seconds=min(r["seconds"] for r in runs),
            # the slowest of the runs: a user waits for the page every time
            page_seconds=None if None in pages else max(pages),
            first_visible_seconds=max(r["first_visible_seconds"] or 0 for r in runs),
            # the first run's: later runs reuse heap memory the first one freed
            memory_mb=runs[0]["memory_mb"],
            per_page=runs[0]["per_page"],
            polls=sum(r["polls"] for r in runs),
            poller_error=next((r["poller_error"] for r in runs if r["poller_error"]), None),
        )
        if args.profile:
            wait_quiet(args)
            profiled = initial_sync(registry, env, dovecot, len(runs), args, profile=True)
            profiled.pop("account")
            results["profile"] = profiled.pop("profile")
            results["profiled_seconds"] = profiled["seconds"]

        wait_quiet(args)
        samples = []
        for _repeat in range(args.repeat):
            cr.commit()  # each click is a request of its own: a fresh transaction and snapshot
            with counting() as counters:
                start = time.perf_counter()
                outcome = account.action_refresh()
                samples.append((time.perf_counter() - start, counters.summary(), outcome))
        results["nochange_seconds"] = statistics.median(s[0] for s in samples)
        results["nochange_runs"] = [s[0] for s in samples]
        results["nochange"] = samples[-1][1]
        results["nochange_outcome"] = samples[-1][2]
        cr.commit()
        results["synced_folders"] = len(account.folder_ids.filtered("is_synced"))
        log(f"no-change refresh: {results['nochange_seconds'] * 1000:.1f} ms, "
            f"{results['nochange']}")

        wait_quiet(args)
        samples = []
        for batch in extras:
            dovecot.append_many("bench", "INBOX", batch)
            cr.commit()
            # with --profile, one more batch is refreshed under cProfile, untimed
            profiler = cProfile.Profile() if args.profile and batch is extras[-1] else None
            with counting() as counters:
                start = time.perf_counter()
                if profiler:
                    profiler.enable()
                outcome = account.action_refresh()
                if profiler:
                    profiler.disable()
                    results["new50_profile"] = profile_text(profiler)
                    continue
                samples.append((time.perf_counter() - start, counters.summary(), outcome))
            if outcome["new"] != len(batch):
                raise RuntimeError(f"{len(batch)} new mails, the refresh says {outcome}")
        results["new50_seconds"] = statistics.median(s[0] for s in samples)
        results["new50_runs"] = [s[0] for s in samples]
        results["new50"] = samples[-1][1]
        results["new50_outcome"] = samples[-1][2]
        log(f"{NEW_MAILS} new mails: {results['new50_seconds'] * 1000:.1f} ms, "
            f"{results['new50']}")

        if args.tracemalloc:
            # the same initial sync again, for a second account on the same mailbox, with
            # tracemalloc on: the Python heap's peak, which RSS hides when the heap reuses
            # memory freed earlier (the module install freed plenty)
            cr.commit()
            second = env["vt_webmail.account"].create({
                "email": "traced@example.com", "imap_host": dovecot.hostname,
                "imap_port": dovecot.imaps_port, "security": "ssl", "login": "bench",
                "password": "bench-pw", "ca_certificate": dovecot.ca_path.read_text(),
            })
            cr.commit()
            gc.collect()
            tracemalloc.start()
            base = tracemalloc.get_traced_memory()[0]
            start = time.perf_counter()
            outcome = second.action_refresh()
            results["traced_seconds"] = time.perf_counter() - start
            results["traced_mb"] = (tracemalloc.get_traced_memory()[1] - base) / 2**20
            tracemalloc.stop()
            log(f"traced sync: heap peak +{results['traced_mb']:.1f} MB, {outcome}")


def measure_fetchmail(registry, dovecot, total, results, args):
    from odoo import SUPERUSER_ID, api

    limit = args.fetchmail_limit
    if limit and limit < total:
        # fetchmail fetches UNSEEN only: all but an evenly spread sample of `limit` mails are
        # marked seen (a spread sample: the corpus's mails differ from one end to the other)
        sample = sorted({1 + (i * total) // limit for i in range(limit)})
        client = dovecot.client("fetch", timeout=TIMEOUT)
        client.select_folder("INBOX")
        client._imap.store("1:*", "+FLAGS.SILENT", "(\\Seen)")
        for index in range(0, len(sample), 500):
            chunk = ",".join(map(str, sample[index:index + 500]))
            client._imap.store(chunk, "-FLAGS.SILENT", "(\\Seen)")
        assert len(client.search("UNSEEN")) == len(sample)
        client.logout()
        limit = len(sample)
    else:
        limit = total
    # mail of 2002 has time zones dateutil only warns about; the warnings say nothing here
    warnings.filterwarnings("ignore", message="tzname .* identified but not understood")
    handler = FetchmailErrors()
    fetch_logger = logging.getLogger("odoo.addons.mail.models.fetchmail")
    fetch_logger.addHandler(handler)
    fetch_logger.setLevel(logging.INFO)
    fetch_logger.propagate = False
    try:
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            email_domain = [("model", "=", "crm.lead"), ("message_type", "=", "email")]
            messages_before = env["mail.message"].search_count(email_domain)
            leads_before = env["crm.lead"].with_context(active_test=False).search_count([])
            server = env["fetchmail.server"].create({
                "name": "Benchmark", "server_type": "imap", "server": dovecot.host,
                "port": dovecot.imaps_port, "is_ssl": True, "user": "fetch",
                "password": "fetch-pw", "object_id": env.ref("crm.model_crm_lead").id,
            })
            server.button_confirm_login()
            cr.commit()
            log(f"fetchmail: {limit} mails")
            start = time.perf_counter()
            server.fetch_mail()
            seconds = time.perf_counter() - start
            env.invalidate_all()
            messages = env["mail.message"].search_count(email_domain) \
                - messages_before
            leads = env["crm.lead"].with_context(active_test=False).search_count([]) \
                - leads_before
    finally:
        fetch_logger.removeHandler(handler)
    results["fetchmail"] = {
        "seconds_measured": seconds, "mails_fetched": limit, "failed": handler.failed,
        "messages": messages, "leads": leads, "extrapolated": limit < total,
        "seconds": seconds * total / limit, "log": handler.lines, "reasons": handler.reasons,
        "example": handler.example,
    }
    log(f"fetchmail: {seconds:.1f} s for {limit} mails ({leads} leads, {messages} messages, "
        f"{handler.failed} failed)")


def profile_text(profile, limit=30):
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("tottime").print_stats(limit)
    stats.sort_stats("cumulative").print_stats(limit)
    return out.getvalue()


# ---------------------------------------------------------------------------------------------
# tables


def ms(seconds):
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def table_rows(r):
    """Rows: metric, vt_webmail, baseline, ratio, target, met."""
    rows = []
    mails = r["mails"]
    floor, sync = r["floor_seconds"], r["sync_seconds"]
    rate = mails / sync
    ratio = sync / floor
    rows.append(("Raw imapclient header fetch of INBOX (the floor, warm Dovecot cache)", "",
                 f"{ms(floor)} ({mails / floor:,.0f} mails/s; cold {ms(r['floor_cold_seconds'])})",
                 "", "", ""))
    met = ratio <= TARGETS["sync_ratio"] and rate >= TARGETS["sync_rate"]
    rows.append(("Initial sync into Odoo (account created to all mail stored)",
                 f"{ms(sync)} ({rate:,.0f} mails/s)", f"{ms(floor)} (floor)",
                 f"{ratio:.2f}x floor",
                 f"<= {TARGETS['sync_ratio']}x floor, >= {TARGETS['sync_rate']:,} mails/s",
                 "yes" if met else "NO"))
    page = r["page_seconds"]
    rows.append((f"Newest page ({r['per_page']} mails) readable after adding the account",
                 ms(page) if page is not None else "never",
                 "", "", f"<= {TARGETS['page_seconds']:.0f} s",
                 "yes" if page is not None and page <= TARGETS["page_seconds"] else "NO"))
    nc = r["nochange"]
    trips = [t for _f, t in nc["folder_trips"]]
    one_each = trips and all(t == 1 for t in trips) and len(trips) == r["synced_folders"]
    rows.append(("No-change refresh: time", ms(r["nochange_seconds"]), "", "", "", ""))
    rows.append(("No-change refresh: IMAP round trips",
                 f"{max(trips, default=0)} per folder x {len(trips)} folders; "
                 f"{nc['imap_commands']} commands on the wire incl. login/logout",
                 "", "", "1 per folder", "yes" if one_each else "NO"))
    rows.append(("No-change refresh: database writes",
                 f"{nc['cache_writes']} to the mail cache; {nc['other_writes']} bookkeeping "
                 f"({', '.join(d for d in nc['write_detail']) or 'none'})",
                 "", "", "no write", "yes" if nc["cache_writes"] == 0 else "NO"))
    n50 = r["new50"]
    rows.append((f"Refresh after {NEW_MAILS} new mails",
                 f"{ms(r['new50_seconds'])} ({n50['imap_commands']} IMAP commands, "
                 f"{n50['cache_writes']} cache writes)",
                 "", "", f"< {TARGETS['new50_seconds'] * 1000:.0f} ms",
                 "yes" if r["new50_seconds"] < TARGETS["new50_seconds"] else "NO"))
    fm = r.get("fetchmail")
    if fm:
        label = ms(fm["seconds"]) + (
            f" (extrapolated from {fm['mails_fetched']:,} mails in {ms(fm['seconds_measured'])})"
            if fm["extrapolated"] else "")
        label += (f"; {fm['leads']:,} leads, {fm['messages']:,} messages, {fm['failed']} "
                  "failed (never visible)")
        fratio = fm["seconds"] / sync
        rows.append(("All mail visible in Odoo: vt_webmail initial sync vs fetchmail",
                     ms(sync), f"fetchmail {label}", f"{fratio:.1f}x faster",
                     f">= {TARGETS['fetchmail_ratio']:.0f}x faster",
                     "yes" if fratio >= TARGETS["fetchmail_ratio"] else "NO"))
    memory = r["memory_mb"]
    traced = r.get("traced_mb")
    worst = max(memory, traced or 0)
    big = mails >= 30000
    value = f"RSS +{memory:.0f} MB"
    if traced is not None:
        value += f"; Python heap peak +{traced:.0f} MB (tracemalloc, a second sync)"
    rows.append(("Peak memory growth during the initial sync", value, "", "",
                 f"< {TARGETS['memory_mb']:.0f} MB at 30,000 mails" if big else
                 f"(< {TARGETS['memory_mb']:.0f} MB at 30,000)",
                 ("yes" if worst < TARGETS["memory_mb"] else "NO") if big else "-"))
    return rows


HEADER = ("Metric", "vt_webmail", "Baseline", "Ratio", "Target", "Met?")


def text_table(rows):
    widths = [max(len(str(row[i])) for row in (HEADER, *rows)) for i in range(len(HEADER))]
    widths = [min(w, 60) for w in widths]
    lines = []
    for row in (HEADER, *rows):
        lines.append(" | ".join(str(cell).ljust(widths[i])
                                for i, cell in enumerate(row)).rstrip())
        if row is HEADER:
            lines.append("-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def rst_table(rows, caption=""):
    out = [f".. list-table:: {caption}".rstrip(), "   :header-rows: 1",
           "   :widths: 26 26 22 8 12 6", ""]
    for row in (HEADER, *rows):
        for index, cell in enumerate(row):
            prefix = "   * - " if index == 0 else "     - "
            out.append((prefix + str(cell).replace("*", "\\*")).rstrip())
    return "\n".join(out)


def title(r):
    return (f"{r['mails']:,} mails ({r['scale']}x the SpamAssassin corpus, "
            f"{r['mbytes']:.0f} MB)")


def machine_line(m):
    return (f"Measured {m['date']} on {m.get('cpu', '?')} ({m.get('cpus', '?')} CPUs), "
            f"{m.get('ram', '?')} RAM, {m['os']}; Python {m['python']}, Dovecot "
            f"{m.get('dovecot', '?')}, PostgreSQL {m.get('postgresql', '?')}, "
            f"imapclient {m.get('imapclient', '?')}.")


def report(all_results, rst):
    for r in all_results:
        print()
        print(title(r))
        print(text_table(table_rows(r)))
        runs = r["sync_runs"]
        notes = [f"seeding (MULTIAPPEND) {ms(r['seed_seconds'])} per mailbox",
                 f"floor runs {', '.join(ms(t) for t in r['floor_runs'])}",
                 f"initial sync runs {', '.join(ms(x['seconds']) for x in runs)}",
                 "newest page runs " + ", ".join(
                     ms(x["page_seconds"]) if x["page_seconds"] is not None else "never"
                     for x in runs),
                 f"first mail visible after {ms(r['first_visible_seconds'] or 0)} at most",
                 f"no-change runs {', '.join(ms(t) for t in r['nochange_runs'])}",
                 f"{NEW_MAILS}-new runs {', '.join(ms(t) for t in r['new50_runs'])}",
                 "load average (1 min) at each initial sync "
                 + ", ".join(f"{x['load']:.1f}" for x in runs)]
        if r.get("traced_seconds"):
            notes.append(f"traced sync {ms(r['traced_seconds'])}")
        if r.get("profiled_seconds"):
            notes.append(f"profiled sync {ms(r['profiled_seconds'])}")
        if r.get("poller_error"):
            notes.append(f"poller error: {r['poller_error']}")
        if r["md5_mismatched"]:
            notes.append(f"corpus files whose MD5 differs from their name (as shipped): "
                         f"{', '.join(r['md5_mismatched'])}")
        if r.get("fetchmail"):
            notes.append("fetchmail: " + "; ".join(r["fetchmail"]["log"]))
            for reason, count in r["fetchmail"]["reasons"].items():
                notes.append(f"fetchmail failed {count}x with {reason}")
        print("notes: " + "; ".join(notes))
        if r.get("profile"):
            print("cProfile of an initial sync (timed apart):")
            print(r["profile"])
        if r.get("new50_profile"):
            print(f"cProfile of a refresh after {NEW_MAILS} new mails (timed apart):")
            print(r["new50_profile"])
    if all_results:
        print()
        print(machine_line(all_results[0]["machine"]))
    if rst:
        print()
        for r in all_results:
            print(rst_table(table_rows(r), title(r)))
            print()
        if all_results:
            print(machine_line(all_results[0]["machine"]))


# ---------------------------------------------------------------------------------------------
# entry point


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--scale", type=int, nargs="+", default=[1, 5],
                        help="corpus multiples to run (default: 1 5)")
    parser.add_argument("--keep-db", action="store_true", help="keep the databases")
    parser.add_argument("--db-prefix", default="vtw_bench")
    parser.add_argument("--cache-dir", type=Path, default=bench_corpus.DEFAULT_CACHE,
                        help="where the corpus is downloaded (default: %(default)s)")
    parser.add_argument("--fetchmail-limit", type=int, default=0,
                        help="let fetchmail fetch only N mails, spread evenly over the mailbox "
                             "(the others are marked seen), and extrapolate linearly")
    parser.add_argument("--no-fetchmail", action="store_true")
    parser.add_argument("--sync-runs", type=int, default=3,
                        help="initial syncs, each of a new account on the same mailbox, each "
                             "after a raw fetch; the best time of each counts (default: "
                             "%(default)s)")
    parser.add_argument("--repeat", type=int, default=5,
                        help="timed no-change refreshes and refreshes after 50 new mails; "
                             "the median counts (default: %(default)s)")
    parser.add_argument("--quiet-load", type=float, default=0,
                        help="before each timed phase, wait until the 1-minute load average "
                             "is below this (default: do not wait)")
    parser.add_argument("--quiet-wait", type=float, default=600,
                        help="longest wait for --quiet-load, in seconds (default: %(default)s)")
    parser.add_argument("--poll-interval", type=float, default=0.02)
    parser.add_argument("--no-tracemalloc", dest="tracemalloc", action="store_false",
                        help="skip the second, traced initial sync (Python heap peak)")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile one more initial sync and one more refresh after new "
                             "mail (both untimed) and print the top entries")
    parser.add_argument("--rst", action="store_true", help="also print the tables as RST")
    parser.add_argument("--json", type=Path, help="write the raw results as JSON here")
    parser.add_argument("--report", type=Path, metavar="JSON",
                        help="measure nothing: print the tables of results saved by --json")
    parser.add_argument("--log-level", default="warn", help="Odoo's log level")
    parser.add_argument("--addons-dir", type=Path, default=REPO,
                        help="directory holding the vt_webmail addon to measure (default: this "
                             "repository; e.g. an export of a commit: git archive HEAD)")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--raw-fetch", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _terminate(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv=None):
    args = parse_args(argv)
    if args.raw_fetch:
        print(json.dumps(raw_fetch(json.loads(args.raw_fetch))))
        return 0
    if args.report:
        report(json.loads(args.report.read_text()), args.rst)
        return 0
    signal.signal(signal.SIGTERM, _terminate)
    args.addons_dir = args.addons_dir.resolve()
    use_addon(args.addons_dir)
    if args.child:
        try:
            result = run_scale(args.scale[0], args)
        except KeyboardInterrupt:
            log("interrupted: cleaned up")
            return 130
        args.child.write_text(json.dumps(result, default=str))
        return 0
    results = []
    try:
        if len(args.scale) == 1:
            results.append(run_scale(args.scale[0], args))
        else:
            for scale in args.scale:
                with tempfile.NamedTemporaryFile(suffix=".json") as out:
                    command = [sys.executable, __file__, "--child", out.name,
                               "--scale", str(scale), *_passed_options(args)]
                    returncode = run_child(command)
                    if returncode:
                        log(f"scale {scale} failed (exit {returncode})")
                        continue
                    results.append(json.loads(Path(out.name).read_text()))
    except KeyboardInterrupt:
        log("interrupted: cleaned up")
        return 130
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))
    report(results, args.rst)
    return 0 if len(results) == len(args.scale) else 1


def run_child(command):
    """Run one scale in a child process; on Ctrl-C or SIGTERM let it clean up, then stop."""
    process = subprocess.Popen(command)
    try:
        return process.wait()
    except KeyboardInterrupt:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(300)
        except subprocess.TimeoutExpired:
            process.kill()
        raise


def _passed_options(args):
    options = ["--db-prefix", args.db_prefix, "--cache-dir", str(args.cache_dir),
               "--repeat", str(args.repeat),
               "--sync-runs", str(args.sync_runs), "--quiet-load", str(args.quiet_load),
               "--quiet-wait", str(args.quiet_wait),
               "--poll-interval", str(args.poll_interval), "--log-level", args.log_level,
               "--fetchmail-limit", str(args.fetchmail_limit),
               "--addons-dir", str(args.addons_dir)]
    for flag in ("keep_db", "no_fetchmail", "profile"):
        if getattr(args, flag):
            options.append("--" + flag.replace("_", "-"))
    if not args.tracemalloc:
        options.append("--no-tracemalloc")
    return options


if __name__ == "__main__":
    sys.exit(main())
