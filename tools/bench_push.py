#!/usr/bin/env python3
"""Push benchmark: new mail to the owner's list over RPC, one worker's memory and CPU, a
worker killed with -9, and the scheduled refresh by two servers; each figure beside its target.

What it starts (and removes at the end, also on error or Ctrl-C): a Dovecot with one
passwd-file user per account on loopback, a throwaway database with vt_webmail installed and
one user owning every account, an Odoo HTTP server for the RPC reads (no cron: the scheduled
refresh is off while push is measured), and the push workers as an administrator runs them
(``odoo-bin vt_webmail_idle``, default settings).

1. **Latency**, at each scale (1, 100, 1000 watched accounts by default): one worker; once it
   watches every account, mail is APPENDed at ``--rate`` mails per second to accounts chosen at
   random, and a reader polls ``vt_webmail.message.search_read`` over XML-RPC as the owner every
   50 ms. A mail's time is from the end of its APPEND to the end of the first poll that returns
   it (the poll adds up to ~50 ms plus its own duration).
2. **Memory and CPU** of the worker watching the largest scale: resident set size, and CPU time
   over ``--idle-seconds`` while no mail arrives.
3. **Failover**, at the largest scale: two workers share the accounts; the one holding half is
   killed with -9, one mail is delivered to every account at once, and the time until the last
   is cached is taken. Then every Message-Id delivered during the whole benchmark is looked up:
   none missing, none cached twice.
4. **Scheduled refresh by two servers**: the workers stop, every account is due, two Odoo
   servers with one cron worker each run the two lanes of the scheduled action; total time,
   IMAP round trips per account (the job's own log), and from Dovecot's log how many accounts
   were refreshed twice or not at all.

It is a script, not a test: figures depend on the machine and its load (printed with them).
Run from the repository; it re-executes itself in Odoo's interpreter::

    tools/bench_push.py                      # 1, 100 and 1000 accounts (about 15 minutes)
    tools/bench_push.py --scales 1 100       # a quicker look
    tools/bench_push.py --rst                # also the README's table
"""

import argparse
import contextlib
import datetime
import json
import os
import platform
import random
import re
import subprocess
import sys
import threading
import time
import types
import xmlrpc.client
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
from _odoo_env import ADDON, free_port, port_in_use, run_in_odoo_python  # noqa: E402

_IN_ODOO_PYTHON = "VT_BENCH_PUSH_IN_ODOO_PYTHON"
LOGIN = re.compile(r"imap-login: (?:Info: )?Login: user=<([^>]+)>")
CRON_LINE = re.compile(r"Webmail scheduled refresh: (\d+) accounts refreshed of (\d+) due, "
                       r"(\d+) IMAP round trips")
PASSWORD = "bench-password"


def say(message):
    print(f"bench_push: {message}", flush=True)


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="tools/bench_push.py", description=__doc__.split(
        "\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 100, 1000],
                        help="numbers of watched accounts (default: 1 100 1000)")
    parser.add_argument("--rate", type=float, default=10.0,
                        help="new mails per second during the latency runs (default 10)")
    parser.add_argument("--mails", type=int, default=200,
                        help="mails per latency run (default 200)")
    parser.add_argument("--idle-seconds", type=float, default=60.0,
                        help="how long the idle CPU is measured (default 60)")
    parser.add_argument("--quiet-load", type=float, metavar="LOAD",
                        help="before each timed part, wait (10 minutes at most) until the "
                             "1-minute load average is at most LOAD (a shared machine)")
    parser.add_argument("--no-failover", action="store_true", help="skip the failover part")
    parser.add_argument("--no-refresh", action="store_true",
                        help="skip the scheduled refresh part")
    parser.add_argument("--db", metavar="NAME",
                        help="reuse (and keep) this database instead of a throwaway one")
    parser.add_argument("--keep-logs", metavar="DIR", help="copy every process's log there")
    parser.add_argument("--json", metavar="FILE", help="write the figures there too")
    parser.add_argument("--rst", action="store_true", help="also print the README's table")
    args = parser.parse_args(argv)
    args.scales = sorted(set(args.scales))
    if args.scales[0] < 1 or args.rate <= 0 or args.mails < 1:
        parser.error("scales, rate and mails are positive")
    return args


def import_harness():
    """vt_webmail.testing and the process-test harness, without vt_webmail/__init__.py (which
    imports Odoo's models) or vt_webmail/tests/__init__.py (Odoo's test cases)."""
    for name, directory in (("vt_webmail", REPO / ADDON),
                            ("vt_webmail.tests", REPO / ADDON / "tests")):
        if name not in sys.modules:
            package = types.ModuleType(name)
            package.__path__ = [str(directory)]
            sys.modules[name] = package
    from vt_webmail.testing import DovecotServer
    from vt_webmail.tests.processes import harness
    return DovecotServer, harness


# ---------------------------------------------------------------------------------------------
# measuring


def percentile(values, fraction):
    ordered = sorted(values)
    if not ordered:
        return None
    index = min(int(round(fraction * (len(ordered) - 1))), len(ordered) - 1)
    return ordered[index]


def proc_rss_mb(pid):
    with open(f"/proc/{pid}/status") as status:
        kb = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return kb / 1024


def proc_cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Rpc:
    def __init__(self, url, db, login, password):
        self.db, self.password = db, password
        common = xmlrpc.client.ServerProxy(f"{url}/xmlrpc/2/common")
        self.uid = common.authenticate(db, login, password, {})
        self.models = xmlrpc.client.ServerProxy(f"{url}/xmlrpc/2/object", allow_none=True)

    def __call__(self, model, method, *args, **kwargs):
        return self.models.execute_kw(self.db, self.uid, self.password, model, method,
                                      list(args), kwargs)


class Deliveries:
    """Mail APPENDed, when, and when it was first seen over RPC."""

    def __init__(self, dovecot, raw_mail):
        self.dovecot = dovecot
        self.raw_mail = raw_mail
        self.appended = {}  # Message-Id -> (login, monotonic time the APPEND ended)
        self.seen = {}  # Message-Id -> monotonic time the poll that returned it ended
        self.lock = threading.Lock()

    def append(self, login, subject):
        message_id, data = self.raw_mail(subject)
        self.dovecot.append(login, "INBOX", data)
        with self.lock:
            self.appended[message_id] = (login, time.monotonic())
        return message_id

    def unseen(self):
        with self.lock:
            return [mid for mid in self.appended if mid not in self.seen]

    def poll(self, rpc, stop, interval=0.05):
        """Until ``stop`` is set and nothing is left unseen (or 30 s after ``stop``)."""
        stopped_at = None
        while True:
            if stop.is_set():
                stopped_at = stopped_at or time.monotonic()
                if not self.unseen() or time.monotonic() - stopped_at > 30:
                    return
            began = time.monotonic()
            wanted = self.unseen()
            if wanted:
                rows = rpc("vt_webmail.message", "search_read", [("message_id", "in", wanted)],
                           fields=["message_id"])
                now = time.monotonic()
                with self.lock:
                    for row in rows:
                        self.seen.setdefault(row["message_id"], now)
            time.sleep(max(interval - (time.monotonic() - began), 0))

    def latencies(self, message_ids):
        return [self.seen[mid] - self.appended[mid][1] for mid in message_ids
                if mid in self.seen]


def latency_run(deliveries, rpc, logins, count, rate):
    """``count`` mails at ``rate`` per second to random ``logins``; their latencies."""
    stop = threading.Event()
    before = set(deliveries.appended)
    poller = threading.Thread(target=deliveries.poll, args=(rpc, stop), daemon=True)
    poller.start()
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        futures = []
        for number in range(count):
            time.sleep(max(started + number / rate - time.monotonic(), 0))
            futures.append(pool.submit(deliveries.append, random.choice(logins),
                                       f"latency {number}"))
        for future in futures:
            future.result()
    pace = count / (time.monotonic() - started)
    stop.set()
    poller.join(60)
    sent = [mid for mid in deliveries.appended if mid not in before]
    values = deliveries.latencies(sent)
    return {"mails": len(sent), "seen": len(values), "rate": round(pace, 2),
            "p50": percentile(values, 0.5), "p95": percentile(values, 0.95),
            "max": max(values) if values else None}


# ---------------------------------------------------------------------------------------------
# the parts


QUIET = {"threshold": None, "loads": []}


def quiet(part):
    """Wait for a quiet machine (``--quiet-load``) before a timed part; note its load."""
    threshold = QUIET["threshold"]
    if threshold is not None and os.getloadavg()[0] > threshold:
        say(f"{part}: waiting for the load average to fall to {threshold:g} "
            f"(now {os.getloadavg()[0]:.1f})")
        wait_for(lambda: os.getloadavg()[0] <= threshold, 600, step=5)
    QUIET["loads"].append((part, round(os.getloadavg()[0], 1)))


def wait_for(predicate, timeout, step=0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


def synced_accounts(db, ids):
    """How many of ``ids`` have their inbox cached (their first sync is done)."""
    return db.sql("SELECT count(DISTINCT account_id) FROM vt_webmail_folder "
                  "WHERE role = 'inbox' AND last_sync_at IS NOT NULL AND account_id = ANY(%s)",
                  (list(ids),))[0][0]


def watched(db, ids, worker=None):
    holders = db.watchers()
    return sum(1 for account in ids if account in holders
               and (worker is None or holders[account] == worker.pid))


def set_active(db, accounts, count):
    with db.env() as env:
        records = env["vt_webmail.account"].with_context(active_test=False).browse(
            [account for account, _login in accounts])
        records[:count].filtered(lambda a: not a.active).write({"active": True})
        records[count:].filtered("active").write({"active": False})


def scale_run(db, deliveries, rpc, accounts, scale, args, measure_idle):
    say(f"{scale} accounts: starting a worker")
    set_active(db, accounts, scale)
    ids = [account for account, _login in accounts[:scale]]
    worker = db.start_worker(label=f"worker{scale}", rescan=None)
    started = time.monotonic()
    if not wait_for(lambda: watched(db, ids, worker) == scale
                    and synced_accounts(db, ids) == scale, 120 + scale):
        raise RuntimeError(f"the worker did not watch {scale} accounts:\n{worker.log()[-3000:]}")
    result = {"scale": scale, "watch_all_s": round(time.monotonic() - started, 1)}
    say(f"{scale} accounts watched and synced in {result['watch_all_s']} s")
    time.sleep(3)
    if measure_idle:
        quiet(f"idle worker, {scale} accounts")
        cpu_before, clock = proc_cpu_seconds(worker.pid), time.monotonic()
        say(f"measuring the idle worker for {args.idle_seconds:.0f} s")
        time.sleep(args.idle_seconds)
        result["idle_cpu_percent"] = round(100 * (proc_cpu_seconds(worker.pid) - cpu_before)
                                           / (time.monotonic() - clock), 2)
        result["rss_mb"] = round(proc_rss_mb(worker.pid), 1)
    quiet(f"latency, {scale} accounts")
    say(f"{scale} accounts: {args.mails} mails at {args.rate:g}/s")
    result.update(latency_run(deliveries, rpc, [login for _a, login in accounts[:scale]],
                              args.mails, args.rate))
    if measure_idle:
        result["rss_after_mb"] = round(proc_rss_mb(worker.pid), 1)
    worker.stop()
    say(f"{scale} accounts: p50 {result['p50']:.3f} s, p95 {result['p95']:.3f} s, "
        f"{result['seen']}/{result['mails']} seen")
    return result


def failover_run(db, deliveries, accounts, scale):
    say(f"failover: two workers share {scale} accounts")
    set_active(db, accounts, scale)
    ids = [account for account, _login in accounts[:scale]]
    first = db.start_worker(label="failover-a", rescan=None)
    second = db.start_worker(label="failover-b", rescan=None)
    # each its fair share, give or take the 5 % a worker keeps before handing accounts over
    least = int(scale * 0.45)
    if not wait_for(lambda: watched(db, ids) == scale
                    and watched(db, ids, first) >= least
                    and watched(db, ids, second) >= least, 120 + scale):
        raise RuntimeError(f"the two workers did not share the accounts: {db.watchers()}")
    time.sleep(3)
    quiet("failover")
    orphans = {account for account, pid in db.watchers().items()
               if pid == first.pid and account in set(ids)}
    logins = dict(accounts[:scale])
    orphan_logins = {logins[account] for account in orphans}
    mark = set(deliveries.appended)
    first.kill()
    killed = time.monotonic()
    say(f"killed -9 the worker holding {len(orphans)} accounts; one mail to each of {scale}")
    cached_at, taken_over_at = {}, []
    done = threading.Event()

    def watch_the_cache():
        """When each mail delivered from now on reaches the cache; when the survivor holds
        every account."""
        while time.monotonic() - killed < 300:
            pending = [mid for mid in list(deliveries.appended)
                       if mid not in mark and mid not in cached_at]
            if pending:
                rows = db.sql("SELECT DISTINCT message_id FROM vt_webmail_message "
                              "WHERE message_id = ANY(%s)", (pending,))
                now = time.monotonic()
                for (mid,) in rows:
                    cached_at[mid] = now
            if not taken_over_at and watched(db, ids, second) == scale:
                taken_over_at.append(time.monotonic())
            if done.is_set() and not pending and taken_over_at:
                return
            time.sleep(0.2)

    watcher = threading.Thread(target=watch_the_cache, daemon=True)
    watcher.start()
    with ThreadPoolExecutor(8) as pool:
        sent = list(pool.map(lambda login: deliveries.append(login, "failover"),
                             logins.values()))
    delivered = time.monotonic() - killed
    done.set()
    watcher.join(300)
    second.stop()
    lags = {mid: cached_at[mid] - deliveries.appended[mid][1] for mid in sent if mid in cached_at}
    orphan_lags = [lag for mid, lag in lags.items()
                   if deliveries.appended[mid][0] in orphan_logins]
    return {"scale": scale, "orphans": len(orphans), "delivery_s": round(delivered, 1),
            "all_cached_s": round(max(cached_at.values()) - killed, 1) if cached_at else None,
            "taken_over_s": round(taken_over_at[0] - killed, 1) if taken_over_at else None,
            "max_lag_s": round(max(lags.values()), 1) if lags else None,
            "max_orphan_lag_s": round(max(orphan_lags), 1) if orphan_lags else None,
            "cached": len(lags), "sent": len(sent)}


def integrity(db, deliveries):
    """Every Message-Id delivered: cached exactly once?"""
    ids = list(deliveries.appended)
    rows = db.sql("SELECT message_id, count(*) FROM vt_webmail_message "
                  "WHERE message_id = ANY(%s) GROUP BY message_id", (ids,))
    counts = dict(rows)
    return {"delivered": len(ids), "missing": sum(1 for mid in ids if mid not in counts),
            "duplicated": sum(1 for count in counts.values() if count > 1)}


def refresh_run(db, dovecot, accounts, scale):
    say(f"scheduled refresh of {scale} accounts by two servers")
    set_active(db, accounts, scale)
    ids = [account for account, _login in accounts[:scale]]
    logins = {login for _account, login in accounts[:scale]}
    db.sql("UPDATE vt_webmail_account SET last_attempt_at = NULL WHERE id = ANY(%s)", (ids,))
    mark = len(dovecot.log_path.read_text(errors="replace"))
    env = {"ODOO_NOTIFY_CRON_CHANGES": "1"}  # a job that says "more to do" is taken at once
    servers = [db.start("--no-http", "--max-cron-threads=1", "--log-level=info", env=env,
                        label=f"cron-server{number}") for number in (1, 2)]
    # both cron threads listening (they log nothing before: give them the registry load)
    wait_for(lambda: all("Registry loaded" in server.log() or "Modules loaded" in server.log()
                         for server in servers), 120)
    time.sleep(2)
    quiet("scheduled refresh")
    with db.env() as env_:
        lanes = env_.ref("vt_webmail.ir_cron_refresh_accounts") \
            | env_.ref("vt_webmail.ir_cron_refresh_accounts_2")
        lanes.write({"active": True})
        for lane in lanes:
            lane._trigger()
    started = time.monotonic()
    wait_for(lambda: db.sql("SELECT count(*) FROM vt_webmail_account WHERE id = ANY(%s) "
                            "AND last_attempt_at IS NOT NULL", (ids,))[0][0] == scale,
             600, step=0.25)
    total = time.monotonic() - started
    time.sleep(5)  # the lanes' last batches end
    with db.env() as env_:
        (env_.ref("vt_webmail.ir_cron_refresh_accounts")
         | env_.ref("vt_webmail.ir_cron_refresh_accounts_2")).write({"active": False})
    for server in servers:
        server.stop()
    text = dovecot.log_path.read_text(errors="replace")[mark:]
    counts = {}
    for login in LOGIN.findall(text):
        if login in logins:
            counts[login] = counts.get(login, 0) + 1
    per_server = []
    trips = refreshed = 0
    for server in servers:
        done = [tuple(map(int, match)) for match in CRON_LINE.findall(server.log())]
        per_server.append(sum(row[0] for row in done))
        refreshed += sum(row[0] for row in done)
        trips += sum(row[2] for row in done)
    return {"scale": scale, "total_s": round(total, 1),
            "round_trips_per_account": round(trips / refreshed, 2) if refreshed else None,
            "refreshed_twice": sum(1 for count in counts.values() if count > 1),
            "not_refreshed": sum(1 for login in logins if not counts.get(login)),
            "per_server": per_server, "errors": db.sql(
                "SELECT count(*) FROM vt_webmail_account WHERE id = ANY(%s) "
                "AND last_error IS NOT NULL", (ids,))[0][0]}


# ---------------------------------------------------------------------------------------------
# report


def seconds(value):
    return "-" if value is None else f"{value:.2f} s"


def report(figures, args):
    rows = []  # (metric, value per scale or one value, target, met)
    scales = args.scales
    latency = {row["scale"]: row for row in figures["latency"]}
    rows.append(("New mail to the owner's list over RPC, p95 (p50; max)",
                 [f"{seconds(latency[s]['p95'])} ({seconds(latency[s]['p50'])}; "
                  f"{seconds(latency[s]['max'])})" for s in scales], "p95 < 2 s",
                 all(latency[s]["p95"] is not None and latency[s]["p95"] < 2
                     and latency[s]["seen"] == latency[s]["mails"] for s in scales)))
    rows.append(("Mails delivered / seen; delivery rate",
                 [f"{latency[s]['mails']} / {latency[s]['seen']}; {latency[s]['rate']:g}/s"
                  for s in scales], f"{args.rate:g}/s, all seen",
                 all(latency[s]["seen"] == latency[s]["mails"] for s in scales)))
    rows.append(("Worker start to every account watched and synced",
                 [f"{latency[s]['watch_all_s']} s" for s in scales], "", None))
    top = latency[scales[-1]]
    if "rss_mb" in top:
        rows.append((f"One worker watching {scales[-1]}: resident memory (after the mail)",
                     f"{top['rss_mb']} MB ({top['rss_after_mb']} MB)", "< 250 MB",
                     top["rss_mb"] < 250))
        rows.append((f"One worker watching {scales[-1]}: CPU while nothing arrives",
                     f"{top['idle_cpu_percent']} % of one core", "< 5 %",
                     top["idle_cpu_percent"] < 5))
    if figures.get("failover"):
        fail = figures["failover"]
        lag = fail["max_orphan_lag_s"]
        rows.append((f"Failover: kill -9 the worker holding {fail['orphans']} of "
                     f"{fail['scale']}, then one mail to each account: longest from a mail's "
                     "delivery to the cache (its account orphaned; any)",
                     f"{lag} s; {fail['max_lag_s']} s ({fail['cached']}/{fail['sent']} cached)",
                     "<= 60 s", lag is not None and lag <= 60
                     and fail["cached"] == fail["sent"]))
        rows.append(("... kill to the orphaned accounts watched again; to the last mail "
                     "cached (delivering took)",
                     f"{fail['taken_over_s']} s; {fail['all_cached_s']} s "
                     f"({fail['delivery_s']} s)", "", None))
    check = figures["integrity"]
    rows.append(("Every Message-Id delivered: missing, cached twice",
                 f"{check['missing']}, {check['duplicated']} (of {check['delivered']})",
                 "0, 0", not check["missing"] and not check["duplicated"]))
    if figures.get("refresh"):
        ref = figures["refresh"]
        rows.append((f"Scheduled refresh of {ref['scale']} accounts, no new mail, 2 servers: "
                     "total; IMAP round trips per account",
                     f"{ref['total_s']} s; {ref['round_trips_per_account']} "
                     f"(servers: {' + '.join(map(str, ref['per_server']))})", "", None))
        rows.append(("... accounts refreshed twice; not refreshed; errors",
                     f"{ref['refreshed_twice']}; {ref['not_refreshed']}; {ref['errors']}",
                     "0; 0; 0", not ref["refreshed_twice"] and not ref["not_refreshed"]
                     and not ref["errors"]))
    header = ["Metric", *[f"{s} account{'s' if s > 1 else ''}" for s in scales], "Target",
              "Met?"]
    lines = []
    for metric, values, target, met in rows:
        if not isinstance(values, list):
            values = [values] + [""] * (len(scales) - 1)
        lines.append([metric, *values, target,
                      "-" if met is None else ("yes" if met else "NO")])
    widths = [max(len(str(row[i])) for row in [header, *lines]) for i in range(len(header))]
    print()
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for line in lines:
        print("  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)))
    if args.rst:
        print("\n.. list-table::\n   :header-rows: 1\n")
        for row in [header, *lines]:
            print(f"   * - {row[0]}")
            for cell in row[1:]:
                print(f"     - {cell}".rstrip())
    print()


def environment(dovecot):
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                            capture_output=True, text=True, check=False).stdout.strip()
    return {"date": datetime.date.today().isoformat(), "commit": commit,
            "cpus": os.cpu_count(), "load": [round(v, 2) for v in os.getloadavg()],
            "python": platform.python_version(), "dovecot": dovecot.version,
            "kernel": platform.release()}


# ---------------------------------------------------------------------------------------------


def run(args):
    QUIET["threshold"] = args.quiet_load
    DovecotServer, harness = import_harness()
    largest = args.scales[-1]
    dovecot = DovecotServer(max_connections=2 * largest + 200).start()
    database = None
    try:
        say(f"Dovecot {dovecot.version} on loopback; {largest} users (IDLE sessions beyond the "
            "kernel's inotify limit look for new mail every second)")
        logins = [dovecot.add_user(f"bench{number}", PASSWORD) for number in range(largest)]
        say("creating the database and installing vt_webmail (about a minute)")
        database = harness.OdooDatabase.make("vt_webmail_bench", reuse=args.db)
        with database.env() as env:
            # the scheduled refresh is off: what reaches the cache is pushed
            (env.ref("vt_webmail.ir_cron_refresh_accounts")
             | env.ref("vt_webmail.ir_cron_refresh_accounts_2")).write({"active": False})
            Account = env["vt_webmail.account"].with_context(active_test=False)
            Account.search([]).unlink()  # a reused database: start clean
            user = env["res.users"].search([("login", "=", "bench")]) or env["res.users"].create(
                {"name": "Bench", "login": "bench", "email": "bench@example.com"})
            user.password = PASSWORD
            ca_pem = dovecot.ca_path.read_text()
            records = Account.with_user(user).create([{
                "email": f"{login}@example.com", "imap_host": dovecot.hostname,
                "imap_port": dovecot.imaps_port, "security": "ssl", "login": login,
                "password": PASSWORD, "ca_certificate": ca_pem, "active": False,
                "refresh_interval": 5,
            } for login in logins])
            accounts = list(zip(records.ids, logins, strict=True))
        say(f"{largest} accounts made")
        port = free_port()
        http = database.start("--http-interface=127.0.0.1", f"--http-port={port}",
                              "--max-cron-threads=0", "--log-level=warn", label="http")
        if not wait_for(lambda: port_in_use(port), 120):
            raise RuntimeError(f"the HTTP server did not start:\n{http.log()[-3000:]}")
        rpc = Rpc(f"http://127.0.0.1:{port}", database.name, "bench", PASSWORD)
        deliveries = Deliveries(dovecot, harness.raw_mail)
        figures = {"environment": environment(dovecot), "latency": []}
        for scale in args.scales:
            figures["latency"].append(scale_run(database, deliveries, rpc, accounts, scale,
                                                args, measure_idle=scale == largest))
        if not args.no_failover:
            figures["failover"] = failover_run(database, deliveries, accounts, largest)
        figures["integrity"] = integrity(database, deliveries)
        if not args.no_refresh:
            figures["refresh"] = refresh_run(database, dovecot, accounts, largest)
        env_ = figures["environment"]
        figures["loads"] = QUIET["loads"]
        say(f"measured on {env_['date']}, commit {env_['commit']}, {env_['cpus']} CPUs, "
            f"Python {env_['python']}, Dovecot {env_['dovecot']}; 1-minute load average at "
            "the start of each part: "
            + ", ".join(f"{part} {load}" for part, load in QUIET["loads"]))
        report(figures, args)
        if args.json:
            Path(args.json).write_text(json.dumps(figures, indent=2))
    finally:
        if database is not None:
            database.drop(keep_logs=args.keep_logs)
        dovecot.close()


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    return run_in_odoo_python(__file__, lambda: run(args), _IN_ODOO_PYTHON, say=say)


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
