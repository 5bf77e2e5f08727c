#!/usr/bin/env python3
"""Reading mail at scale over JSON-RPC, the web client's transport: this tree against a baseline.

    tools/bench_reads.py --baseline main                  # 30,000 and 100,000 mails, 1M rows
    tools/bench_reads.py --baseline main --quick          # a small run (minutes)
    tools/bench_reads.py --sizes 30000 --rows 0 --sync-mails 6046 --baseline HEAD~3

For each code tree (this repository's ``vt_webmail``; with ``--baseline REV`` also that revision,
exported with ``git archive`` into ``var/bench_reads/``) it installs ``vt_webmail`` in a
throwaway database and starts Odoo's HTTP server on a free loopback port. A private Dovecot
(``vt_webmail.testing.DovecotServer``, implicit TLS, its own CA) holds ``--sync-mails`` mails of
the SpamAssassin corpus (``tools/bench_corpus.py``) in one mailbox per tree (two clients changing
flags in one maildir make each other read it again). Every timed call goes through
``/web/dataset/call_kw`` with the session cookie of a logged-in user, exactly as the web client
calls it, and is timed at the client (HTTP and JSON included). The trees are measured in
turns, A B A B, one call each, so both meet the same load on a shared machine.

1. **Initial sync**: user 1 creates an account on the Dovecot mailbox and calls
   ``action_refresh``; time, against a raw ``imapclient`` fetch of the same header items (the
   floor, ``tools/benchmark.py``'s, run before each pair of syncs), and the growth of the Odoo
   server process's resident memory (sampled every 10 ms with psutil). ``--sync-runs`` rounds.
2. **The list accounts**, filled directly with SQL (``COPY``): one account per ``--sizes``
   entry (users 2, 3, ...), its INBOX holding that many mails whose headers (subject, from, to,
   cc, date, size ...) are the corpus's, in date order, as a sync would have stored them. The
   same rows go into both databases; then ``VACUUM ANALYZE``, as autovacuum would.
3. **Measured, per list account**: the Webmail list's ``web_search_read`` (the list view's
   fields, the action's domain and the search panel's folder, the model's order, the account's
   page size, ``count_limit`` as the tree's web client sends it, so the pager's bounded count
   is included: 10,001, or for a Text filter the bound of the tree's list plus one when it has
   one, ``TEXT_COUNT_LIMIT`` of ``static/src/webmail/message_list.js``), for the first page and
   a page in the middle; the search view's "Text" filter (its ``filter_domain``:
   ``search_text ilike``) with each ``--terms`` in turn; the exact count the pager asks for
   when its "10000+" is clicked (``search_count``).
4. **Opening a mail never opened before** in user 1's synced account as the tree's form does
   it: ``action_open`` with the form view's fields as its specification when the tree's
   ``action_open`` takes one (one request), else ``action_open`` when the model has one, then
   ``web_read`` of those fields (with the body widget's field dependencies, read from the
   tree's ``fields.js``); with the Webmail action's context; then the GET of
   ``/vt_webmail/body/<id>`` (the frame the form shows the mail in) when the tree has that
   route and its form does not give the frame its document inline (``body_frame_document``,
   ``srcdoc``); then the same mail again. One mail is opened before the timed ones and
   reported on its own (since 2026-12-02), as the list's calls are warmed up before they are
   timed: it opens the Odoo server's IMAP session of the account (a login and a read-write
   SELECT, once per pooled session). The IMAP logins each timed opening cost are counted in
   Dovecot's log. Then the 10 newest mails of the mailbox, never opened either
   (what a reader opens first after a refresh; a tree that fetches small bodies ahead during the
   sync has them already), once each.
5. With ``--rows N``, users 4 to 10 get filler accounts (the same corpus rows) until the table
   holds N rows, and step 3 and 4 run again: the same accounts in a big table.

It prints one table: metric, target, baseline, current, ratio (current / baseline, of the p95
or of the time). ``--explain`` prints the plans PostgreSQL chose for the list's queries in each
database at the end (EXPLAIN ANALYZE of the SQL the ORM generates, record rules included).
Databases, Dovecot and the servers are removed on exit (``--keep`` keeps the databases).
Run it with Odoo's interpreter (it re-executes itself there when started with another one).
"""

import argparse
import contextlib
import csv
import datetime
import email
import email.policy
import email.utils
import io
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TOOLS = Path(__file__).resolve().parent
sys.path.insert(0, str(TOOLS))

import bench_corpus  # noqa: E402 (tools/ was just put on the path)
from _odoo_env import db_options, free_port, odoo_python, odoo_tree  # noqa: E402

WORK = REPO / "var" / "bench_reads"
ADMIN = ("admin", "admin")
PASSWORD = "bench-pw"
USERS = 10
COUNT_LIMIT = 10001  # what the web client sends (DEFAULT_COUNT_LIMIT + 1)
RPC_TIMEOUT = 3600
# terms typed in the search box: frequent, medium, rare, absent in the corpus's headers
DEFAULT_TERMS = ("money", "linux", "razor", "qxzjv")
TARGETS = {
    "list": "<= 15 ms (30k), <= 20 ms (1M rows)",
    "filter": "<= 30 ms",
    "count": "-",
    "open_first": "-",
    "open": "<= 50 ms",
    "open_again": "-",
    "logins": "1 (0 pooled)",
    "logins_again": "0",
    "open_newest": "<= 50 ms",
    "logins_newest": "1 (0 pooled)",
    "sync": "<= 1.5x floor",
    "memory": "< 100 MB",
}


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# code trees and their Odoo servers


class Tree:
    """One code tree, its database and its HTTP server."""

    def __init__(self, label, addons_dir, db):
        self.label = label
        self.addons_dir = Path(addons_dir)
        self.db = db
        self.port = free_port()
        self.process = None
        self.log_path = WORK / f"{db}.log"
        self.has_action_open = None
        #: the Dovecot user whose INBOX this tree syncs and opens mail of (one per tree: two
        #: clients changing flags of one maildir make each other rescan it)
        self.mailbox = "bench"
        self.open_reads = False  # action_open(specification) reads the form too
        # the bound of the pager's count under a Text filter in this tree's web client
        # (TEXT_COUNT_LIMIT of its list, Odoo's 10,000 without)
        source = self.addons_dir / "vt_webmail/static/src/webmail/message_list.js"
        found = re.search(r"TEXT_COUNT_LIMIT = (\d+)", source.read_text()) \
            if source.exists() else None
        self.text_count_limit = int(found.group(1)) if found else None
        # the body widget's field dependencies, as its web client reads them with the form
        widget = self.addons_dir / "vt_webmail/static/src/webmail/fields.js"
        widget_source = widget.read_text() if widget.exists() else ""
        self.body_dependencies = [
            name for name in ("body_state", "show_remote_images", "body_frame_version",
                              "body_frame_document")
            if f'name: "{name}"' in widget_source]
        # a frame given its document with the form (srcdoc) loads no route of its own
        self.frame_inline = "body_frame_document" in self.body_dependencies
        self.frames = {"inline": 0, "route": 0}  # how the opens' frames got their document
        self.sessions = {}  # login -> Rpc
        self.data = {}  # what was created in this database

    def command(self, *extra):
        odoo_path, _problem = odoo_tree()
        python, _problem = odoo_python()
        addons = f"{odoo_path}/addons,{odoo_path}/odoo/addons,{self.addons_dir}"
        return [str(python), str(odoo_path / "odoo-bin"), "-c", "/dev/null",
                f"--addons-path={addons}", "-d", self.db, "--without-demo=all",
                f"--data-dir={WORK / 'data'}", "--max-cron-threads=0", f"--logfile={self.log_path}",
                *db_options(), *extra]

    def install(self, log_level):
        return subprocess.Popen(self.command("-i", "vt_webmail", "--stop-after-init",
                                             f"--log-level={log_level}"),
                                stdin=subprocess.DEVNULL)

    def serve(self, log_level):
        self.process = subprocess.Popen(
            self.command(f"--http-port={self.port}", "--http-interface=127.0.0.1",
                         f"--db-filter=^{re.escape(self.db)}$", "--workers=0",
                         f"--log-level={log_level}", "--db_maxconn=16"),
            stdin=subprocess.DEVNULL, start_new_session=True)

    def wait_ready(self, timeout=300):
        import requests

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Odoo ({self.label}) exited; see {self.log_path}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"http://127.0.0.1:{self.port}/web/health", timeout=5).ok:
                    return
            time.sleep(0.5)
        raise RuntimeError(f"Odoo ({self.label}) not ready after {timeout} s")

    def stop(self):
        if self.process and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)

    def rpc(self, login, password=PASSWORD):
        if login not in self.sessions:
            self.sessions[login] = Rpc(self.port, self.db, login, password)
        return self.sessions[login]


class RpcError(RuntimeError):
    pass


class Rpc:
    """A logged-in web client session: JSON-RPC over one keep-alive HTTP connection."""

    def __init__(self, port, db, login, password):
        import requests

        self.url = f"http://127.0.0.1:{port}"
        self.http = requests.Session()
        self.ids = 0
        info = self.post("/web/session/authenticate",
                         {"db": db, "login": login, "password": password})
        self.uid = info["uid"]
        self.context = dict(info["user_context"])

    def post(self, path, params):
        self.ids += 1
        response = self.http.post(self.url + path, timeout=RPC_TIMEOUT, json={
            "jsonrpc": "2.0", "method": "call", "params": params, "id": self.ids})
        response.raise_for_status()
        answer = response.json()
        if "error" in answer:
            data = answer["error"].get("data") or {}
            raise RpcError(data.get("message") or answer["error"].get("message"))
        return answer["result"]

    def call(self, model, method, *args, **kwargs):
        kwargs.setdefault("context", self.context)
        return self.post(f"/web/dataset/call_kw/{model}/{method}",
                         {"model": model, "method": method, "args": list(args),
                          "kwargs": kwargs})


def export_baseline(rev):
    """``git archive`` of ``rev``'s vt_webmail into var/bench_reads/<sha>; its directory."""
    sha = subprocess.run(["git", "rev-parse", "--verify", f"{rev}^{{commit}}"], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout.strip()
    target = WORK / f"tree-{sha[:12]}"
    if not (target / "vt_webmail" / "__manifest__.py").exists():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", sha, "vt_webmail"], cwd=REPO,
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target, sha


# ---------------------------------------------------------------------------------------------
# the view's calls


def view_fields(arch):
    """The ``specification`` the web client sends for a view's arch (top-level fields)."""
    from lxml import etree

    root = etree.fromstring(arch.encode())
    spec = {}
    for node in root.iter("field"):
        # skip fields of sub-views (x2many's inline list/form)
        if any(parent.tag == "field" for parent in node.iterancestors()):
            continue
        spec[node.get("name")] = {}
    return spec


def specification(rpc, view_type, fields_info, body_dependencies=()):
    """``web_search_read``/``web_read`` specification of the Webmail action's view."""
    views = rpc.call("vt_webmail.message", "get_views", [[False, view_type]])
    arch = views["views"][view_type]["arch"]
    spec = view_fields(arch)
    for name in spec:
        kind = fields_info[name]["type"]
        if kind == "many2one":
            spec[name] = {"fields": {"display_name": {}}}
        elif kind in ("one2many", "many2many"):
            # the attachments widget's relatedFields (static/src/webmail/fields.js)
            spec[name] = {"fields": {"name": {}, "mimetype": {}, "file_size": {}}}
    if view_type == "form":
        spec["display_name"] = {}
        if "body_frame_notice" in spec:
            # the body widget's field dependencies (static/src/webmail/fields.js), which the
            # web client adds to the form's read
            spec.update({name: {} for name in body_dependencies})
    return spec


# ---------------------------------------------------------------------------------------------
# filling the cache with SQL


def corpus_rows(mails):
    """(subject, from, from_normalized, to, cc, date, message_id, size, attachments) per mail,
    as the sync stores them (decoded headers, UTC dates), in the corpus's date order."""
    rows = []
    fallback = datetime.datetime(2002, 1, 1)
    for mail in mails:
        head = mail.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
        message = email.message_from_bytes(head, policy=email.policy.default)

        def header(name, message=message):
            try:
                value = message.get(name)
                return re.sub(r"[\x00\r\n]+", " ", str(value)).strip()[:1000] if value else None
            except Exception:  # a header the policy cannot decode: the raw bytes' text
                return None

        sender = header("From")
        normalized = email.utils.parseaddr(sender or "")[1].lower() or None
        try:
            date = email.utils.parsedate_to_datetime(header("Date") or "")
            if date.tzinfo:
                date = date.astimezone(datetime.timezone.utc).replace(tzinfo=None)
            if date.year < 1971:
                date = fallback
        except (TypeError, ValueError, IndexError, OverflowError):
            date = fallback
        ctype = (header("Content-Type") or "").lower()
        rows.append((header("Subject"), sender, normalized, header("To"), header("Cc"),
                     date.replace(microsecond=0), header("Message-Id"), len(mail),
                     "multipart/mixed" in ctype))
    return rows


MESSAGE_COLUMNS = ("account_id", "folder_id", "user_id", "uid", "uidvalidity", "message_id",
                   "subject", "email_from", "email_from_normalized", "email_to", "email_cc",
                   "date", "is_seen", "is_flagged", "is_answered", "is_draft", "size",
                   "has_attachments", "body_state", "create_uid", "write_uid", "create_date",
                   "write_date")


def fill_folder(cr, headers, account_id, user_id, folder_id, count, now):
    """COPY ``count`` rows of corpus headers into a folder, oldest first (UIDs grow with the
    date, as in a mailbox filled by delivery)."""
    per = max(1, -(-count // len(headers)))
    chunk = 50000
    for start in range(0, count, chunk):
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        for k in range(start, min(count, start + chunk)):
            subject, sender, normalized, to, cc, date, msgid, size, attach = \
                headers[k * len(headers) // count]
            date = date + datetime.timedelta(seconds=k % per)
            msgid = msgid and msgid.replace("@", f".f{folder_id}k{k}@", 1)
            writer.writerow((account_id, folder_id, user_id, k + 1, 1, msgid, subject, sender,
                             normalized, to, cc, date.isoformat(sep=" "), (k * 7919) % 10 != 0,
                             k % 97 == 0, k % 13 == 0, False, size, attach, "none", user_id,
                             user_id, now, now))
        buffer.seek(0)
        cr.copy_expert(f"COPY vt_webmail_message ({', '.join(MESSAGE_COLUMNS)}) "
                       "FROM STDIN WITH (FORMAT csv)", buffer)


def make_list_account(tree, login, email_address, count, headers, dovecot):
    """An account of ``login`` whose INBOX holds ``count`` rows; returns its ids."""
    import psycopg2

    rpc = tree.rpc(login)
    account_id = rpc.call("vt_webmail.account", "create", {
        "email": email_address, "imap_host": dovecot.hostname, "imap_port": dovecot.imaps_port,
        "security": "ssl", "login": "nobody", "password": "nothing",
    })
    now = datetime.datetime.now().replace(microsecond=0).isoformat(sep=" ")
    with contextlib.closing(psycopg2.connect(dbname=tree.db)) as conn, conn.cursor() as cr:
        cr.execute(
            "INSERT INTO vt_webmail_folder (account_id, user_id, name, delimiter, role, sequence,"
            " is_synced, uidvalidity, uidnext, server_message_count, message_count,"
            " unread_count, create_uid, write_uid, create_date, write_date)"
            " VALUES (%s, %s, 'INBOX', '/', 'inbox', 0, true, 1, %s, %s, 0, 0, %s, %s, %s, %s)"
            " RETURNING id",
            (account_id, rpc.uid, count + 1, count, rpc.uid, rpc.uid, now, now))
        folder_id = cr.fetchone()[0]
        fill_folder(cr, headers, account_id, rpc.uid, folder_id, count, now)
        cr.execute(
            "UPDATE vt_webmail_folder SET message_count = %s, unread_count ="
            " (SELECT count(*) FROM vt_webmail_message WHERE folder_id = %s AND NOT is_seen)"
            " WHERE id = %s", (count, folder_id, folder_id))
        conn.commit()
    return {"login": login, "account_id": account_id, "folder_id": folder_id, "count": count}


def vacuum(tree):
    import psycopg2

    with contextlib.closing(psycopg2.connect(dbname=tree.db)) as conn:
        conn.autocommit = True
        with conn.cursor() as cr:
            cr.execute("VACUUM ANALYZE vt_webmail_message")
            cr.execute("VACUUM ANALYZE vt_webmail_folder")
            cr.execute("SELECT count(*), pg_size_pretty(pg_total_relation_size("
                       "'vt_webmail_message')) FROM vt_webmail_message")
            return cr.fetchone()


# ---------------------------------------------------------------------------------------------
# instruments


class RssSampler(threading.Thread):
    """Peak resident set size of a process while running (psutil, every 10 ms)."""

    def __init__(self, pid):
        import psutil

        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.baseline = self.process.memory_info().rss
        self.peak = self.baseline
        self.done = threading.Event()

    def run(self):
        while not self.done.wait(0.01):
            with contextlib.suppress(Exception):
                self.peak = max(self.peak, self.process.memory_info().rss)

    def stop(self):
        self.done.set()
        self.join(5)
        return (self.peak - self.baseline) / 2**20


class LoginCounter:
    """Counts ``Login: user=<login>`` lines Dovecot logged since the last call."""

    def __init__(self, dovecot, login):
        self.path = dovecot.log_path
        self.needle = f"Login: user=<{login}>"
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def take(self, settle=0.1):
        time.sleep(settle)  # Dovecot's log process writes asynchronously
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            text = handle.read().decode(errors="replace")
        self.offset += len(text.encode(errors="replace"))
        return text.count(self.needle)


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))]


class Samples:
    """Timings (seconds) per metric and tree."""

    def __init__(self):
        self.values = {}
        self.order = []
        self.notes = {}

    def add(self, metric, label, seconds):
        if metric not in self.values:
            self.values[metric] = {}
            self.order.append(metric)
        self.values[metric].setdefault(label, []).append(seconds)


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


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - start, result


# ---------------------------------------------------------------------------------------------
# the phases


def setup_users(tree, dovecot):
    admin = tree.rpc(*ADMIN)
    admin.call("ir.config_parameter", "set_param", "vt_webmail.allowed_hosts", "127.0.0.1")
    # a first sync of 100,000 mails on a loaded machine may last longer than the default
    # IMAP session deadline (60 s), as an administrator would allow for it
    admin.call("ir.config_parameter", "set_param", "vt_webmail.session_deadline", "3600")
    for n in range(1, USERS + 1):
        admin.call("res.users", "create", {
            "name": f"Reader {n}", "login": f"reader{n}", "password": PASSWORD,
            "email": f"reader{n}@example.com",
        })
    probe = tree.rpc("reader1")
    try:
        probe.call("vt_webmail.message", "action_open", [])
        tree.has_action_open = True
    except RpcError as exc:
        tree.has_action_open = "does not exist" not in str(exc)
    if tree.has_action_open:
        # a tree whose form opens a mail in one request: action_open(specification)
        try:
            tree.open_reads = probe.call("vt_webmail.message", "action_open", [],
                                         {"id": {}}) == []
        except RpcError:
            tree.open_reads = False
    log(f"{tree.label}: users ready; action_open {'found' if tree.has_action_open else 'absent'}"
        f"{', with a specification' if tree.open_reads else ''}")


def sync_account(tree, dovecot, run, mails):
    """Create user 1's account on the Dovecot mailbox and refresh it; timed, RSS watched."""
    rpc = tree.rpc("reader1")
    sampler = RssSampler(tree.process.pid)
    sampler.start()
    start = time.perf_counter()
    account_id = rpc.call("vt_webmail.account", "create", {
        "email": f"sync{run}@example.com", "imap_host": dovecot.hostname,
        "imap_port": dovecot.imaps_port, "security": "ssl", "login": tree.mailbox,
        "password": "bench-pw", "ca_certificate": dovecot.ca_path.read_text(),
    })
    outcome = rpc.call("vt_webmail.account", "action_refresh", [account_id])
    seconds = time.perf_counter() - start
    memory = sampler.stop()
    if not isinstance(outcome, dict) or outcome.get("error") or outcome.get("new") != mails:
        raise RuntimeError(f"{tree.label}: the initial sync did not bring {mails} mails: "
                           f"{outcome}")
    return account_id, seconds, memory


def thread_backlog(tree, account_id):
    """Seconds until the account's conversations are complete after its initial sync: a tree
    that threads a first sync after it (``ir_cron_thread_backlog``) runs that scheduled action
    (the server here runs no cron thread) until the account says nothing is left; 0 for a tree
    that threads within the sync."""
    admin = tree.rpc(*ADMIN)
    cron = admin.call("ir.model.data", "search_read",
                      [("module", "=", "vt_webmail"), ("name", "=", "ir_cron_thread_backlog")],
                      ["res_id"])
    if not cron:
        return 0.0
    start = time.perf_counter()
    owner = tree.rpc("reader1")
    while owner.call("vt_webmail.account", "search_count",
                     [("id", "=", account_id), ("threading_pending", "=", True)]):
        admin.call("ir.cron", "method_direct_trigger", [cron[0]["res_id"]])
    return time.perf_counter() - start


def measure_sync(trees, dovecot, args, samples, mails):
    import benchmark

    from vt_webmail.core.imap_session import SUMMARY_ITEMS

    spec = {"host": dovecot.hostname, "port": dovecot.imaps_port, "login": "bench",
            "password": "bench-pw", "ca_path": str(dovecot.ca_path),
            "items": list(SUMMARY_ITEMS), "runs": 1}
    cold = benchmark.run_raw_fetch(spec)[0][0]
    samples.notes["floor_cold"] = cold
    log(f"raw fetch, cold Dovecot cache: {cold:.2f} s")
    for run in range(args.sync_runs):
        wait_quiet(args)
        floor = benchmark.run_raw_fetch(spec)[0][0]
        samples.add("floor", "floor", floor)
        log(f"raw fetch {run + 1}: {floor:.2f} s")
        for tree in (trees if run % 2 == 0 else trees[::-1]):
            account_id, seconds, memory = sync_account(tree, dovecot, run, mails)
            tree.data.setdefault("sync_accounts", []).append(account_id)
            samples.add("sync", tree.label, seconds)
            samples.add("memory", tree.label, memory)
            threading = thread_backlog(tree, account_id)
            samples.add("sync_threaded", tree.label, seconds + threading)
            log(f"{tree.label}: initial sync {run + 1} of {mails} mails in {seconds:.2f} s, "
                f"RSS +{memory:.0f} MB; conversations complete {threading:.2f} s after")


def list_context(rpc, account):
    return {**rpc.context, "bin_size": True, "vt_webmail_mark_read": True,
            "vt_webmail_account_id": account["account_id"],
            "searchpanel_default_folder_id": account["folder_id"]}


def list_calls(tree, account, args):
    """The calls of the Webmail list for one account: {metric: [callable, ...]}."""
    rpc = tree.rpc(account["login"])
    context = list_context(rpc, account)
    spec = tree.data["list_spec"]
    domain = ["&", ("account_id", "=", account["account_id"]),
              ("folder_id", "=", account["folder_id"])]
    per_page = tree.data["per_page"]
    middle = (account["count"] // 2 // per_page) * per_page

    def page(offset, extra=()):
        full = ["&", *domain, *extra] if extra else domain
        # what the tree's web client sends: its own bound for a Text filter, if it has one
        bound = tree.text_count_limit if extra and tree.text_count_limit else COUNT_LIMIT - 1
        count_limit = max(bound, offset + per_page) + 1
        return lambda: rpc.call("vt_webmail.message", "web_search_read", full, spec,
                                offset=offset, limit=per_page, order="",
                                count_limit=count_limit, context=context)

    return {
        "list_first": [page(0)],
        "list_deep": [page(middle)],
        "filter": [page(0, [("search_text", "ilike", term)]) for term in args.terms],
        "count": [lambda: rpc.call("vt_webmail.message", "search_count", domain,
                                   context=context)],
    }


def measure_lists(trees, accounts_by_tree, args, samples, phase):
    """Interleaved: for each repetition and metric, one call per tree, in turns."""
    for size_accounts in zip(*(accounts_by_tree[t.label] for t in trees), strict=True):
        count = size_accounts[0]["count"]
        calls = {t.label: list_calls(t, a, args) for t, a in zip(trees, size_accounts, strict=True)}
        for tree in trees:  # warm-up, untimed: the first call of a session loads caches
            for functions in calls[tree.label].values():
                for function in functions:
                    function()
        wait_quiet(args)
        samples.notes.setdefault("load", []).append(os.getloadavg()[0])
        for repeat in range(args.repeat):
            for metric in calls[trees[0].label]:
                for tree in (trees if repeat % 2 == 0 else trees[::-1]):
                    functions = calls[tree.label][metric]
                    seconds, _ = timed(functions[repeat % len(functions)])
                    samples.add((phase, count, metric), tree.label, seconds)
        log(f"{phase}: {count:,} mails measured")


def open_calls(tree):
    rpc = tree.rpc("reader1")
    context = {**rpc.context, "vt_webmail_mark_read": True}
    spec = tree.data["form_spec"]

    body_route = "/vt_webmail/body/" in (
        tree.addons_dir / "vt_webmail" / "controllers" / "main.py").read_text()

    def open_mail(message_id):
        if tree.open_reads:
            # the form's model: one request opens the mail and reads the form's fields
            result = rpc.call("vt_webmail.message", "action_open", [message_id], spec,
                              context={**context, "bin_size": True})
        else:
            if tree.has_action_open:
                rpc.call("vt_webmail.message", "action_open", [message_id], context=context)
            result = rpc.call("vt_webmail.message", "web_read", [message_id], spec,
                              context=context)
        # the form's body widget loads the mail into its frame from this route, unless the
        # form read the frame's document (a mail written for quirks mode has none: the route)
        inline = tree.frame_inline and result and result[0].get("body_frame_document")
        if body_route and not inline:
            response = rpc.http.get(f"{rpc.url}/vt_webmail/body/{message_id}?images=0&v=1",
                                    timeout=RPC_TIMEOUT)
            response.raise_for_status()
        tree.frames["route" if body_route and not inline else "inline"] += 1
        return result

    return open_mail


def measure_opens(trees, dovecot, args, samples, phase, uids):
    """Open never-opened mails (the same UIDs in each database), then each again.

    The first UID is opened first in each tree and reported on its own ("open_first"): as
    the list's calls are warmed up before they are timed, the opens are timed once the Odoo
    server holds a logged-in IMAP session of the account (a pool's login and read-write
    SELECT, once per session, would otherwise be one of the 30 samples of the p95); the
    logins of the timed opens are still counted."""
    counters = {t.label: LoginCounter(dovecot, t.mailbox) for t in trees}
    openers = {t.label: open_calls(t) for t in trees}
    ids = {}
    for tree in trees:
        rpc = tree.rpc("reader1")
        found = rpc.call("vt_webmail.message", "search_read",
                         [("account_id", "=", tree.data["sync_accounts"][0]),
                          ("uid", "in", uids), ("body_state", "=", "none")], ["uid"])
        ids[tree.label] = {row["uid"]: row["id"] for row in found}
    usable = [uid for uid in uids if all(uid in ids[t.label] for t in trees)]
    if len(usable) > 1:
        first, usable = usable[0], usable[1:]
        for tree in trees:
            counters[tree.label].take(settle=0.05)
            seconds, _result = timed(openers[tree.label], ids[tree.label][first])
            samples.add((phase, "open", "open_first"), tree.label, seconds)
    wait_quiet(args)
    samples.notes.setdefault("load", []).append(os.getloadavg()[0])
    for repeat, uid in enumerate(usable):
        for tree in (trees if repeat % 2 == 0 else trees[::-1]):
            counter = counters[tree.label]
            counter.take(settle=0.05)
            seconds, result = timed(openers[tree.label], ids[tree.label][uid])
            samples.add((phase, "open", "open"), tree.label, seconds)
            samples.add((phase, "open", "logins"), tree.label, counter.take())
            # the form reads body_html, or (since the frame shows the body) its frame's key
            if not result or not (result[0].get("body_html")
                                  or result[0].get("body_frame_version")):
                samples.notes.setdefault("empty_bodies", []).append((tree.label, uid))
            seconds, _ = timed(openers[tree.label], ids[tree.label][uid])
            samples.add((phase, "open", "open_again"), tree.label, seconds)
            samples.add((phase, "open", "logins_again"), tree.label, counter.take())
    log(f"{phase}: {len(usable)} mails opened per tree; frames so far, inline / from the "
        "route: " + ", ".join(f"{t.label} {t.frames['inline']} / {t.frames['route']}"
                              for t in trees))


def measure_newest(trees, dovecot, args, samples, phase, uids):
    """Open the newest mails of the synced mailbox, never opened either: what a reader opens
    first after a refresh (a tree that fetches small bodies ahead during the sync has them)."""
    counters = {t.label: LoginCounter(dovecot, t.mailbox) for t in trees}
    openers = {t.label: open_calls(t) for t in trees}
    ids = {}
    for tree in trees:
        rpc = tree.rpc("reader1")
        found = rpc.call("vt_webmail.message", "search_read",
                         [("account_id", "=", tree.data["sync_accounts"][0]),
                          ("uid", "in", uids)], ["uid"])
        ids[tree.label] = {row["uid"]: row["id"] for row in found}
    usable = [uid for uid in uids if all(uid in ids[t.label] for t in trees)]
    wait_quiet(args)
    for repeat, uid in enumerate(usable):
        for tree in (trees if repeat % 2 == 0 else trees[::-1]):
            counter = counters[tree.label]
            counter.take(settle=0.05)
            seconds, _result = timed(openers[tree.label], ids[tree.label][uid])
            samples.add((phase, "open", "open_newest"), tree.label, seconds)
            samples.add((phase, "open", "logins_newest"), tree.label, counter.take())
    log(f"{phase}: {len(usable)} of the newest mails opened per tree")


def fill_rows(trees, headers, dovecot, target_rows, taken_users, args):
    """Filler accounts for the remaining users until the table holds ``target_rows``."""
    for tree in trees:
        total = vacuum(tree)[0]
        missing = target_rows - total
        free = [n for n in range(1, USERS + 1) if n not in taken_users]
        if missing <= 0 or not free:
            continue
        start = time.perf_counter()
        for position, n in enumerate(free):
            share = missing // len(free) + (1 if position < missing % len(free) else 0)
            make_list_account(tree, f"reader{n}", f"filler{n}@example.com", share, headers,
                              dovecot)
        rows, size = vacuum(tree)
        log(f"{tree.label}: filled to {rows:,} rows ({size}) in "
            f"{time.perf_counter() - start:.0f} s (vacuum included)")


# ---------------------------------------------------------------------------------------------
# EXPLAIN of the ORM's SQL, in-process


EXPLAIN_SCRIPT = r"""
import json, sys
import odoo
from odoo.tools import config
from odoo.modules.registry import Registry
spec = json.loads(sys.argv[1])
config.parse_config(["--config=/dev/null", "--addons-path=" + spec["addons"], "-d", spec["db"],
                     "--log-level=warn"], setup_logging=True)
registry = Registry(spec["db"])
with registry.cursor() as cr:
    env = odoo.api.Environment(cr, spec["uid"], {})
    Message = env["vt_webmail.message"]
    for title, domain, offset, limit, count in spec["queries"]:
        if count:
            # search_count(): len(Query), as odoo/tools/query.py counts
            query = Message._search(domain, limit=count if count > 1 else None)
            sql = (odoo.tools.SQL("SELECT COUNT(*) FROM (%s) t", query.select(""))
                   if count > 1 else query.select("COUNT(*)"))
            sqls = [sql]
        else:
            # the query search_fetch() runs for web_search_read: the list's columns with the ids
            seen = []
            execute = type(cr).execute

            def capture(self, query, params=None, log_exceptions=True, seen=seen):
                seen.append(query)
                return execute(self, query, params, log_exceptions)

            type(cr).execute = capture
            try:
                Message.search_fetch(domain, spec["fields"], offset=offset, limit=limit)
            finally:
                type(cr).execute = execute
            # every query of the mail table it ran (a tree may read a page in several steps)
            sqls = [q for q in seen if isinstance(q, odoo.tools.SQL)
                    and "vt_webmail_message" in q.code and "LIMIT" in q.code]
            if not sqls:
                print("=== " + title)
                print("(no query of the mail table: the answer was known without one)")
                continue
        for number, sql in enumerate(sqls, start=1):
            cr.execute(odoo.tools.SQL("EXPLAIN (ANALYZE, BUFFERS) %s", sql))
            plan = "\n".join(row[0] for row in cr.fetchall())
            print("=== " + title + (f" (query {number} of {len(sqls)})" if len(sqls) > 1 else ""))
            print(cr.mogrify(sql.code, sql.params).decode())
            print(plan)
"""


def explain(tree, accounts, args):
    odoo_path, _problem = odoo_tree()
    python, _problem = odoo_python()
    out = []
    for account in accounts:
        rpc = tree.rpc(account["login"])
        domain = ["&", ("account_id", "=", account["account_id"]),
                  ("folder_id", "=", account["folder_id"])]
        per_page = tree.data["per_page"]
        middle = (account["count"] // 2 // per_page) * per_page
        queries = [
            (f"first page, {account['count']:,} mails", domain, 0, per_page, 0),
            (f"page in the middle (offset {middle:,})", domain, middle, per_page, 0),
            (f"pager count (limit {COUNT_LIMIT})", domain, 0, None, COUNT_LIMIT),
            ("exact count", domain, 0, None, 1),
        ]
        for term in args.terms:
            text = ["&", *domain, ("search_text", "ilike", term)]
            queries.append((f"Text filter {term!r}", text, 0, per_page, 0))
            text_limit = tree.text_count_limit + 1 if tree.text_count_limit else COUNT_LIMIT
            queries.append((f"Text filter {term!r}: pager count (limit {text_limit})", text, 0,
                            None, text_limit))
        spec = {"addons": f"{odoo_path}/addons,{odoo_path}/odoo/addons,{tree.addons_dir}",
                "db": tree.db, "uid": rpc.uid, "queries": queries,
                "fields": list(tree.data["list_spec"])}
        done = subprocess.run([str(python), "-c", EXPLAIN_SCRIPT, json.dumps(spec)],
                              cwd=str(odoo_path), capture_output=True, text=True, timeout=600,
                              check=False)
        out.append(done.stdout + (done.stderr[-2000:] if done.returncode else ""))
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# the table


def ms(seconds):
    return f"{seconds * 1000:.1f}" if seconds < 0.1 else f"{seconds * 1000:.0f}"


def describe(values, kind):
    if not values:
        return "-"
    if kind == "count":
        return f"{statistics.mean(values):.2f} (max {max(values):g})"
    if kind == "seconds":
        return f"{min(values):.2f} s (best of {len(values)})"
    if kind == "mb":
        return f"+{values[0]:.0f} MB (first run)"
    return f"p50 {ms(percentile(values, 0.5))} / p95 {ms(percentile(values, 0.95))} ms"


def headline(values, kind):
    if not values:
        return None
    if kind == "count":
        return statistics.mean(values)
    if kind == "seconds":
        return min(values)
    if kind == "mb":
        return values[0]
    return percentile(values, 0.95)


LABELS = {
    "list_first": "list, first page",
    "list_deep": "list, page in the middle",
    "filter": "Text filter (search_text ilike)",
    "count": "pager count, exact (search_count)",
    "open_first": "first mail opened (a login and SELECT of the pool)",
    "open": "open a never-opened mail",
    "open_again": "open it again",
    "logins": "IMAP logins per opened mail",
    "logins_again": "IMAP logins, opened again",
    "open_newest": "open one of the 10 newest mails, never opened",
    "logins_newest": "IMAP logins per newest mail opened",
}


def table(trees, samples, info):
    labels = [t.label for t in trees]
    rows = []
    floor = headline(samples.values.get("floor", {}).get("floor", []), "seconds")
    for metric in samples.order:
        if metric == "floor":
            floor_cell = describe(samples.values[metric]["floor"], "seconds")
            rows.append((f"raw imapclient fetch of {info['sync_mails']:,} mails (floor)", "",
                         *([floor_cell] * 2), ""))
            continue
        if isinstance(metric, tuple):
            phase, count, name = metric
            what = f"{LABELS[name]} [{phase}" + (f", {count:,} mails]" if count != "open"
                                                 else "]")
            kind = "count" if name.startswith("logins") else "ms"
            target = TARGETS.get("list" if name.startswith("list") else name, "-")
        elif metric == "sync":
            what, kind, target = (f"initial sync of {info['sync_mails']:,} mails", "seconds",
                                  TARGETS["sync"])
        elif metric == "sync_threaded":
            what, kind, target = ("the same until its conversations are complete", "seconds",
                                  "-")
        else:
            what, kind, target = ("RSS growth of the Odoo server during it", "mb",
                                  TARGETS["memory"])
        values = samples.values[metric]
        cells = [describe(values.get(label, []), kind) for label in labels]
        if metric in ("sync", "sync_threaded") and floor:
            cells = [cell + f"; {headline(values[label], kind) / floor:.2f}x floor"
                     if values.get(label) else cell
                     for cell, label in zip(cells, labels, strict=True)]
        ratio = ""
        if len(labels) == 2:
            a, b = (headline(values.get(label, []), kind) for label in labels)
            if a and b is not None:
                ratio = f"{b / a:.2f}"
        if len(labels) == 1:
            cells.insert(0, "(not run)")
        rows.append((what, target, *cells, ratio))
    header = ("metric", "target", "baseline", "current", "ratio")
    widths = [max(len(str(row[i])) for row in (header, *rows)) for i in range(5)]
    lines = [" | ".join(str(c).ljust(w) for c, w in zip(header, widths, strict=True)).rstrip(),
             "-+-".join("-" * w for w in widths)]
    lines += [" | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
              for row in rows]
    return "\n".join(lines), rows


def rst_table(rows):
    out = [".. list-table::", "   :header-rows: 1", ""]
    for row in (("Metric", "Target", "Baseline", "Current", "Ratio"), *rows):
        for index, cell in enumerate(row):
            out.append((("   * - " if index == 0 else "     - ") + str(cell)).rstrip())
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# entry point


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", metavar="REV",
                        help="also measure this git revision's vt_webmail, interleaved")
    parser.add_argument("--sizes", default="30000,100000",
                        help="mails in each measured account, comma separated "
                             "(default: %(default)s)")
    parser.add_argument("--rows", type=int, default=1000000,
                        help="then fill the table to this many rows (ten users) and measure "
                             "again; 0: no such phase (default: %(default)s)")
    parser.add_argument("--sync-mails", type=int, default=30230,
                        help="mails in the Dovecot mailbox user 1 syncs (default: %(default)s, "
                             "5x the corpus)")
    parser.add_argument("--sync-runs", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=40, help="timed calls per metric and tree")
    parser.add_argument("--opens", type=int, default=30,
                        help="never-opened mails opened per tree and phase")
    parser.add_argument("--terms", default=",".join(DEFAULT_TERMS),
                        help="words typed in the search box, in turns (default: %(default)s)")
    parser.add_argument("--quiet-load", type=float, default=0,
                        help="before each measured block, wait until the 1-minute load average "
                             "is below this (default: do not wait)")
    parser.add_argument("--quiet-wait", type=float, default=300,
                        help="longest wait for --quiet-load, in seconds (default: %(default)s)")
    parser.add_argument("--quick", action="store_true",
                        help="small: --sizes 2000,5000 --rows 20000 --sync-mails 2000 "
                             "--repeat 10 --opens 6 --sync-runs 1")
    parser.add_argument("--explain", action="store_true",
                        help="print the plans of the list's queries in each database")
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    parser.add_argument("--rst", action="store_true", help="also print the table as RST")
    parser.add_argument("--json", type=Path, help="write the raw timings here")
    parser.add_argument("--log-level", default="warn", help="Odoo's log level")
    parser.add_argument("--cache-dir", type=Path, default=bench_corpus.DEFAULT_CACHE)
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.rows, args.sync_mails = "2000,5000", 20000, 2000
        args.repeat, args.opens, args.sync_runs = 10, 6, 1
    args.sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    args.terms = [t for t in args.terms.split(",") if t]
    if len(args.sizes) > USERS - 1:
        parser.error(f"at most {USERS - 1} sizes")
    return args


def _terminate(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def ensure_interpreter():
    """Re-execute in Odoo's interpreter when this one lacks what Odoo has."""
    try:
        import psutil  # noqa: F401
        import psycopg2  # noqa: F401
        import requests  # noqa: F401
    except ImportError:
        python, problem = odoo_python()
        if problem:
            raise SystemExit(problem) from None
        os.execv(str(python), [str(python), __file__, *sys.argv[1:]])


def main(argv=None):
    ensure_interpreter()
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    # vt_webmail.testing and .core of this tree, without Odoo (as tools/benchmark.py does)
    package = types.ModuleType("vt_webmail")
    package.__path__ = [str(REPO / "vt_webmail")]
    sys.modules.setdefault("vt_webmail", package)
    from vt_webmail.testing import DovecotServer

    WORK.mkdir(parents=True, exist_ok=True)
    tag = f"{os.getpid()}"
    trees = []
    info = {"date": datetime.date.today().isoformat(), "sync_mails": args.sync_mails,
            "sizes": args.sizes, "rows": args.rows, "command": " ".join(sys.argv)}
    if args.baseline:
        directory, sha = export_baseline(args.baseline)
        trees.append(Tree("baseline", directory, f"vtw_reads_base_{tag}"))
        info["baseline"] = f"{args.baseline} ({sha[:10]})"
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                          text=True, check=False).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "vt_webmail"], cwd=REPO,
                           capture_output=True, text=True, check=False).stdout.strip()
    info["current"] = head + (" + uncommitted changes" if dirty else "")
    trees.append(Tree("current", REPO, f"vtw_reads_cur_{tag}"))
    samples = Samples()
    dovecot = DovecotServer()
    explained = ""
    try:
        corpus, _mismatched = bench_corpus.load(bench_corpus.fetch(args.cache_dir))
        headers = corpus_rows(corpus)
        repeat = -(-args.sync_mails // len(corpus))
        mails = bench_corpus.copies(corpus, repeat)[:args.sync_mails]
        dovecot.start()
        start = time.perf_counter()
        for position, tree in enumerate(trees):
            # the same mail in one mailbox per tree (the floor reads the first)
            tree.mailbox = "bench" if position == 0 else f"bench{position + 1}"
            dovecot.add_user(tree.mailbox, "bench-pw")
            dovecot.append_many(tree.mailbox, "INBOX", mails)
        log(f"Dovecot: {len(mails):,} mails appended to {len(trees)} mailbox(es) in "
            f"{time.perf_counter() - start:.0f} s")
        del mails

        start = time.perf_counter()
        installs = [tree.install(args.log_level) for tree in trees]
        if any(process.wait() for process in installs):
            raise RuntimeError(f"installing vt_webmail failed; see {WORK}/*.log")
        log(f"vt_webmail installed in {time.perf_counter() - start:.0f} s")
        for tree in trees:
            tree.serve(args.log_level)
        for tree in trees:
            tree.wait_ready()
            setup_users(tree, dovecot)
            rpc = tree.rpc("reader1")
            fields_info = rpc.call("vt_webmail.message", "fields_get", attributes=["type"])
            tree.data["list_spec"] = specification(rpc, "list", fields_info)
            tree.data["form_spec"] = specification(rpc, "form", fields_info,
                                                  tree.body_dependencies)
            tree.data["per_page"] = rpc.call("vt_webmail.account", "default_get",
                                             ["emails_per_page"])["emails_per_page"]

        measure_sync(trees, dovecot, args, samples, args.sync_mails)

        accounts = {t.label: [] for t in trees}
        for tree in trees:
            start = time.perf_counter()
            for position, size in enumerate(args.sizes):
                accounts[tree.label].append(make_list_account(
                    tree, f"reader{position + 2}", f"list{size}@example.com", size, headers,
                    dovecot))
            rows, table_size = vacuum(tree)
            log(f"{tree.label}: list accounts filled ({rows:,} rows, {table_size}) in "
                f"{time.perf_counter() - start:.0f} s")
        # per phase: one mail opened first (see measure_opens), then --opens timed
        step = max(1, args.sync_mails // (args.opens * 2 + 3))
        uids = list(range(step, args.sync_mails + 1, step))
        phase = f"{rows:,} rows"
        measure_lists(trees, accounts, args, samples, phase)
        measure_opens(trees, dovecot, args, samples, phase, uids[0::2][:args.opens + 1])
        newest = [uid for uid in range(args.sync_mails, max(0, args.sync_mails - 10), -1)
                  if uid not in uids]
        measure_newest(trees, dovecot, args, samples, phase, newest)

        if args.rows > rows:
            taken = {1, *range(2, len(args.sizes) + 2)}
            fill_rows(trees, headers, dovecot, args.rows, taken, args)
            phase = f"{vacuum(trees[-1])[0]:,} rows"
            measure_lists(trees, accounts, args, samples, phase)
            measure_opens(trees, dovecot, args, samples, phase, uids[1::2][:args.opens + 1])
        if args.explain:
            for tree in trees:
                explained += f"\n##### {tree.label} ({tree.db})\n" + explain(
                    tree, accounts[tree.label], args)
    except KeyboardInterrupt:
        log("interrupted: cleaning up")
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for tree in trees:
            tree.stop()
        dovecot.close()
        if not args.keep:
            drop_databases(trees)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    text, rows = table(trees, samples, info)
    print()
    print(f"Reads over JSON-RPC, {info['date']}: baseline {info.get('baseline', '-')}, "
          f"current {info['current']}")
    print(text)
    if samples.notes.get("empty_bodies"):
        print(f"opened mails without a body: {samples.notes['empty_bodies']}")
    if samples.notes.get("load"):
        print("1-minute load average at the start of each measured block: "
              + ", ".join(f"{load:.1f}" for load in samples.notes["load"]))
    print(f"terms of the Text filter, in turns: {', '.join(args.terms)}; page size "
          f"{trees[-1].data.get('per_page')}; action_open: "
          + ", ".join(f"{t.label} {'yes' if t.has_action_open else 'no'}" for t in trees))
    if args.rst:
        print()
        print(rst_table(rows))
    if explained:
        print(explained)
    if args.json:
        args.json.write_text(json.dumps({"info": info, "samples": {
            str(k): v for k, v in samples.values.items()}}, indent=1))
    return 0


def drop_databases(trees):
    import psycopg2

    with contextlib.suppress(Exception), contextlib.closing(
            psycopg2.connect(dbname="postgres")) as conn:
        conn.autocommit = True
        with conn.cursor() as cr:
            for tree in trees:
                cr.execute(f'DROP DATABASE IF EXISTS "{tree.db}" WITH (FORCE)')
    for tree in trees:
        shutil.rmtree(WORK / "data" / "filestore" / tree.db, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
