"""``tools/bench_threading.py --db``: threading and the conversation list in an Odoo database.

See bench_threading.py's docstring for what is measured. Runs in Odoo's interpreter.
"""

import contextlib
import datetime
import email.utils
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import types
import urllib.request
from pathlib import Path

from _odoo_env import ADDON, free_port

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "bench-password"
OWN_ADDRESS = "bench@example.com"
INDEX = "vt_webmail_conversation_list_idx"
#: the Conversations list as the web client reads it (vt_webmail_conversation_view_list)
CONVERSATION_SPEC = {"has_flagged": {}, "participants": {}, "subject": {}, "message_count": {},
                     "has_unread": {}, "account_id": {"fields": {"display_name": {}}},
                     "date_last": {}}
#: the mail list's columns shown by default (vt_webmail_message_view_list)
MESSAGE_SPEC = {"is_seen": {}, "is_flagged": {}, "email_from": {}, "subject": {},
                "has_attachments": {}, "date": {}}


def say(message):
    print(f"bench_threading: {message}", flush=True)


def import_harness():
    for name, directory in (("vt_webmail", REPO / ADDON),
                            ("vt_webmail.tests", REPO / ADDON / "tests")):
        if name not in sys.modules:
            package = types.ModuleType(name)
            package.__path__ = [str(directory)]
            sys.modules[name] = package
    from vt_webmail.tests.processes import harness
    return harness


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def ms(seconds):
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def senders(corpus):
    """The normalised From address of each mail (not timed)."""
    from email.parser import BytesHeaderParser
    from email.policy import compat32
    parser = BytesHeaderParser(policy=compat32)
    result = []
    for raw in corpus:
        head = parser.parsebytes(raw.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n")
        address = email.utils.parseaddr(str(head.get("from") or ""))[1].lower()
        result.append(address or None)
    return result


def rows_of(mails, froms, ids):
    """Cache rows: (key, Message-Id, In-Reply-To, References, Subject, Date, From, to_sent)."""
    rows = []
    for mail in mails:
        # a seventh of the replies are the user's own, kept in Sent
        own = bool(mail.in_reply_to) and mail.key % 7 == 0
        rows.append((mail.key, mail.message_id or None, mail.in_reply_to or None,
                     mail.references or None, (mail.subject or "")[:1000], mail.date,
                     OWN_ADDRESS if own else froms[mail.key], own))
    return rows


def insert(cr, rows, account_id, user_id, folders):
    from psycopg2.extras import execute_values
    now = datetime.datetime.utcnow()
    values = [(account_id, folders["sent" if own else "inbox"], user_id, key + 1, 1, mid, subject,
               sender, sender, date, irt, refs, own, key % 11 == 0, "none", now, now,
               user_id, user_id)
              for key, mid, irt, refs, subject, date, sender, own in rows]
    execute_values(cr._obj, """
        INSERT INTO vt_webmail_message (account_id, folder_id, user_id, uid, uidvalidity,
            message_id, subject, email_from, email_from_normalized, date, in_reply_to,
            "references", is_seen, is_flagged, body_state, create_date, write_date, create_uid,
            write_uid) VALUES %s""", values, page_size=1000)


class Rpc:
    def __init__(self, url, db, login):
        self.url = url
        self.cookie = None
        result = self.call("/web/session/authenticate",
                           {"db": db, "login": login, "password": PASSWORD})
        self.uid = result["uid"]

    def call(self, path, params):
        body = json.dumps({"jsonrpc": "2.0", "method": "call", "params": params}).encode()
        request = urllib.request.Request(self.url + path, body,
                                         {"Content-Type": "application/json"})
        if self.cookie:
            request.add_header("Cookie", f"session_id={self.cookie}")
        with urllib.request.urlopen(request, timeout=60) as response:
            for header in response.headers.get_all("Set-Cookie") or ():
                if header.startswith("session_id="):
                    self.cookie = header.split(";")[0].split("=", 1)[1]
            answer = json.load(response)
        if "error" in answer:
            raise RuntimeError(f"{path}: {answer['error']['data']['message']}")
        return answer["result"]

    def call_kw(self, model, method, args, kwargs):
        return self.call(f"/web/dataset/call_kw/{model}/{method}",
                         {"model": model, "method": method, "args": args, "kwargs": kwargs})


def wait_http(url, process, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.running():
            raise RuntimeError(f"the Odoo server stopped:\n{process.log()[-3000:]}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url + "/web/login", timeout=5):
            return
        time.sleep(0.5)
    raise RuntimeError("the Odoo server did not answer in time")


def page_times(rpc, calls, requests):
    """Run each call ``requests`` times, interleaved; {name: [seconds]}."""
    times = {name: [] for name in calls}
    for call in calls.values():
        for _ in range(10):  # warm-up: caches, prepared plans
            call()
    for _ in range(requests):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return times


def run_db(args, read_corpus):
    from vt_webmail.core.threading import Threader

    corpus, tuples = read_corpus(args)
    froms = senders(corpus)
    dated = sorted((m for m in tuples if m.date is not None), key=lambda m: (m.date, m.key))
    new = dated[-args.new:]
    new_keys = {m.key for m in new}
    base = [m for m in tuples if m.key not in new_keys]
    base_rows, new_rows = rows_of(base, froms, None), rows_of(new, froms, None)

    # the pure core figure, beside the database's
    core_runs = []
    for _ in range(args.repeat):
        threader = Threader()
        threader.add(base)
        start = time.perf_counter()
        threader.add(new)
        core_runs.append(time.perf_counter() - start)

    harness = import_harness()
    say("creating the database and installing vt_webmail (about a minute)")
    database = harness.OdooDatabase.make("vt_webmail_bench_threading")
    try:
        with database.env() as env:
            groups = "group_ids" if "group_ids" in env["res.users"]._fields else "groups_id"
            user = env["res.users"].create({
                "name": "Bench", "login": "bench", "password": PASSWORD, "email": OWN_ADDRESS,
                groups: [(4, env.ref("base.group_user").id)]})
            account = env["vt_webmail.account"].create({
                "user_id": user.id, "email": OWN_ADDRESS, "imap_host": "127.0.0.1",
                "imap_port": 9, "security": "ssl", "login": "bench", "password": PASSWORD})
            Folder = env["vt_webmail.folder"]
            folders = {role: Folder.create({"account_id": account.id, "name": name,
                                            "role": role, "is_synced": True}).id
                       for role, name in (("inbox", "INBOX"), ("sent", "Sent"))}
            user_id, account_id = user.id, account.id
            say(f"storing {len(base_rows):,} mails")
            insert(env.cr, base_rows, account_id, user_id, folders)
            env.invalidate_all()
            say("threading them in the database, from scratch")
            start = time.perf_counter()
            env["vt_webmail.message"]._thread_pending([account_id])
            scratch_db = time.perf_counter() - start
        database.sql("VACUUM ANALYZE vt_webmail_message")
        database.sql("VACUUM ANALYZE vt_webmail_conversation")
        conversations = database.sql(
            "SELECT count(*) FROM vt_webmail_conversation WHERE user_id = %s", (user_id,))[0][0]

        def incremental(full):
            runs = []
            for _ in range(args.repeat):
                with database.env() as env:
                    cr = env.cr
                    insert(cr, new_rows, account_id, user_id, folders)
                    if full:
                        # the baseline: the whole account threaded again for them
                        cr.execute("UPDATE vt_webmail_message SET conversation_id = NULL "
                                   "WHERE account_id = %s", (account_id,))
                    env.invalidate_all()
                    start = time.perf_counter()
                    env["vt_webmail.message"]._thread_pending([account_id])
                    runs.append(time.perf_counter() - start)
                    cr.execute("SELECT count(*) FROM vt_webmail_message WHERE account_id = %s "
                               "AND conversation_id IS NULL", (account_id,))
                    if cr.fetchone()[0]:
                        raise RuntimeError("mails left unthreaded")
                    cr.rollback()
            return runs

        if os.environ.get("VT_BENCH_PROFILE"):
            import cProfile
            import pstats
            with database.env() as env:
                insert(env.cr, new_rows, account_id, user_id, folders)
                env.invalidate_all()
                statements = []
                execute = type(env.cr).execute

                def timed_execute(cr, query, params=None, log_exceptions=True):
                    start = time.perf_counter()
                    try:
                        return execute(cr, query, params, log_exceptions)
                    finally:
                        statements.append((time.perf_counter() - start, str(query)[:160],
                                           query, params))
                type(env.cr).execute = timed_execute
                profile = cProfile.Profile()
                profile.enable()
                env["vt_webmail.message"]._thread_pending([account_id])
                profile.disable()
                type(env.cr).execute = execute
                pstats.Stats(profile).sort_stats("cumulative").print_stats(30)
                ranked = sorted(statements, key=lambda item: -item[0])
                for seconds, text, _query, _params in ranked[:15]:
                    print(f"{seconds * 1000:8.2f} ms  {text}")
                _seconds, _text, query, params = ranked[0]
                if hasattr(query, "code"):
                    query, params = query.code, query.params
                env.cr.execute("EXPLAIN (ANALYZE, BUFFERS) " + query, params)
                print("\n".join(row[0] for row in env.cr.fetchall()))
                env.cr.rollback()
        say(f"{args.new} new mails, incremental, {args.repeat} runs (each rolled back)")
        incremental_runs = incremental(False)
        say(f"{args.new} new mails, the whole account threaded again (baseline)")
        full_runs = incremental(True)

        if args.explain:
            with database.env() as env:
                query = env["vt_webmail.conversation"].with_user(user_id)._search(
                    [], order="date_last desc, id desc", limit=80)
                env.cr.execute("EXPLAIN (ANALYZE, BUFFERS) " + query.select().code,
                               query.select().params)
                say("the conversation page's query:\n  " + env.cr.mogrify(
                    query.select().code, query.select().params).decode())
                print("\n".join(row[0] for row in env.cr.fetchall()))
                env.cr.rollback()

        # the rolled-back runs left dead rows behind: as autovacuum would, before the lists
        database.sql("VACUUM ANALYZE vt_webmail_message")
        database.sql("VACUUM ANALYZE vt_webmail_conversation")
        port = free_port()
        server = database.start("--http-interface=127.0.0.1", f"--http-port={port}",
                                "--workers=0", "--max-cron-threads=0", "--log-level=warn",
                                label="http")
        url = f"http://127.0.0.1:{port}"
        wait_http(url, server)
        rpc = Rpc(url, database.name, "bench")
        context = {"lang": "en_US", "tz": "UTC", "uid": user_id}

        def conversation_page():
            return rpc.call_kw("vt_webmail.conversation", "web_search_read", [], {
                "specification": CONVERSATION_SPEC, "domain": [], "offset": 0, "limit": 80,
                "order": "", "count_limit": 10001, "context": context})

        def message_page():
            return rpc.call_kw("vt_webmail.message", "web_search_read", [], {
                "specification": MESSAGE_SPEC, "offset": 0, "limit": 80, "order": "",
                "count_limit": 10001,
                "domain": [["account_id", "=", account_id], ["folder_id", "=", folders["inbox"]]],
                "context": dict(context, vt_webmail_account_id=account_id)})

        say(f"the list pages over JSON-RPC, {args.requests} requests each")
        times = page_times(rpc, {"conversations": conversation_page, "mails": message_page},
                           args.requests)
        database.sql(f"DROP INDEX IF EXISTS {INDEX}")
        say("the conversation page again, without its index (the before), beside the mails'")
        again = page_times(rpc, {"conversations, no index": conversation_page,
                                 "mails (again)": message_page}, args.requests)
        times.update(again)
        server.stop()
    finally:
        database.drop()

    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True, check=False).stdout.strip()
    print(f"\n{len(tuples):,} mails of one user ({len(new)} held back as the new ones), "
          f"{conversations:,} conversations; {datetime.date.today()}, commit {commit}, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}, 1-minute load "
          f"{os.getloadavg()[0]:.2f}\n")
    print(f"{'threading':44} {'median':>10} {'worst':>10} {'target':>9}")
    failed = False
    for name, runs, target in (
            (f"{args.new} new mails, in the database (incremental)", incremental_runs, 0.050),
            ("  baseline: the whole account again", full_runs, None),
            ("  the same in core alone (no database)", core_runs, None),
            (f"{len(base):,} mails from scratch, in the database", [scratch_db], None)):
        median = statistics.median(runs)
        verdict = ""
        if target:
            verdict = "ok" if median < target else "MISSED"
            failed |= median >= target
        print(f"{name:44} {ms(median):>10} {ms(max(runs)):>10} "
              f"{'<' + ms(target) if target else '':>9}  {verdict}")
    ratio = statistics.median(full_runs) / statistics.median(incremental_runs)
    print(f"{'':44} incremental: {ratio:.0f}x faster than the baseline\n")
    print(f"{'list page over JSON-RPC (80 rows + count)':44} {'p50':>10} {'p95':>10} "
          f"{'target':>9}")
    for name in ("conversations", "mails", "conversations, no index", "mails (again)"):
        p95 = percentile(times[name], 0.95)
        verdict = ""
        if name == "conversations":
            verdict = "ok" if p95 < 0.030 else "MISSED"
            failed |= p95 >= 0.030
        print(f"{name:44} {ms(statistics.median(times[name])):>10} {ms(p95):>10} "
              f"{'<30.0 ms' if name == 'conversations' else '':>9}  {verdict}")
    return 1 if failed else 0
