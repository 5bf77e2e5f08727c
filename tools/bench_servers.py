#!/usr/bin/env python3
"""The sync engine against every IMAP server of the test harness: round trips and correctness.

For each server software (Dovecot, Cyrus, Courier; started on loopback by
``vt_webmail.testing`` exactly as the tests do), one user gets ``--mails`` mails (default 2,000),
then the engine, with an in-memory store, runs the refreshes a mail client meets:

* the first sync;
* a refresh with nothing new (the median of ``--repeat`` runs);
* a refresh after another client flagged, read and answered 10 mails;
* a refresh after another client expunged 5 mails, the newest one among them;
* a refresh after 20 new mails.

Each prints its time, its IMAP round trips (commands the engine sent: login and logout not
counted) and whether the cache then equals what a second client sees (UIDs and flags). With
``--baseline DIR`` (a ``vt_webmail`` directory of another commit, e.g. from ``git archive``)
the same runs are made with that engine, in the same run, and printed side by side: the
evidence that a change did what it says. Times are noise on a shared machine; round trips and
correctness are not.

    tools/bench_servers.py
    git archive cc056b9 vt_webmail | tar -x -C /tmp/base && \\
        tools/bench_servers.py --baseline /tmp/base/vt_webmail

Standard library plus what the tests need (imapclient, cryptography, aiosmtpd); Cyrus and
Courier come from ``tools/imap-servers/get-*`` (a server that is missing is reported as such).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SERVERS = ("dovecot", "cyrus", "courier")


def bare_packages(addon_dir):
    """Import ``vt_webmail.core`` and ``.testing`` from ``addon_dir`` without Odoo."""
    for name, directory in (("vt_webmail", addon_dir), ("vt_webmail.tests", addon_dir / "tests")):
        package = types.ModuleType(name)
        package.__path__ = [str(directory)]
        sys.modules[name] = package


# -- the child: one engine against one running server -------------------------------------------

def run_engine(spec):
    """Run the refresh scenarios with the engine found in ``spec["engine"]``; return results."""
    bare_packages(Path(spec["engine"]))
    from vt_webmail.core.imap_session import ServerSettings, connect
    from vt_webmail.core.sync import SyncStore, sync_folder

    class Store(SyncStore):
        """A dict cache that works with any version of the engine."""

        def __init__(self):
            self.messages, self.state = {}, None

        def cached_uids(self, folder, min_uid=1):
            return {uid for uid in self.messages if uid >= min_uid}

        def cached_count(self, folder):
            return len(self.messages)

        def reset(self, folder, uidvalidity):
            self.messages = {}

        def add(self, folder, uidvalidity, summaries):
            for summary in summaries:
                self.messages.setdefault(summary.uid, summary)

        def set_flags(self, folder, flags_by_uid):
            changed = 0
            for uid, flags in flags_by_uid.items():
                if uid in self.messages and set(self.messages[uid].flags) != set(flags):
                    self.messages[uid].flags = flags
                    changed += 1
            return changed

        def remove(self, folder, uids):
            return sum(1 for uid in uids if self.messages.pop(uid, None) is not None)

        def save_state(self, folder, state):
            self.state = state

    settings = ServerSettings(spec["host"], spec["port"], spec["login"], spec["password"],
                              security="ssl", ca_pem=Path(spec["ca"]).read_text(), timeout=60)
    store = Store()

    def refresh():
        started = time.perf_counter()
        try:
            with connect(settings) as session:
                before = session.round_trips
                result = sync_folder(session, "INBOX", store.state, store)
                trips = session.round_trips - before
        except Exception as exc:  # a baseline engine may fail where the new one does not
            return {"error": f"{type(exc).__name__}: {exc}"[:200]}
        return {"seconds": time.perf_counter() - started, "trips": trips, "new": result.new,
                "changed": result.changed, "removed": result.removed}

    def snapshot():
        return {str(uid): sorted(f for f in summary.flags if f != "\\Recent")
                for uid, summary in store.messages.items()}

    def empty_headers():
        return sum(1 for summary in store.messages.values()
                   if not (summary.subject and summary.email_from and summary.message_id))

    steps = {}
    step = sys.stdin.readline  # the parent says when the server side of each step is done
    for name in ("first", "no_change", "flags", "expunge", "new"):
        if step().strip() != name:
            raise SystemExit(f"out of step: expected {name}")
        if name == "no_change":
            runs = [refresh() for _ in range(spec["repeat"])]
            good = [run for run in runs if "error" not in run]
            outcome = dict(good[len(good) // 2]) if good else runs[0]
            if good:
                outcome["seconds"] = statistics.median(run["seconds"] for run in good)
        else:
            outcome = refresh()
        outcome["cache"] = snapshot()
        outcome["empty_headers"] = empty_headers()
        steps[name] = outcome
        print(json.dumps({"step": name}), flush=True)
    return steps


# -- the parent: servers, mail, the other client ------------------------------------------------

def mails(count, start=0):
    for number in range(start, start + count):
        yield (f"From: Sender {number} <s{number}@example.com>\r\n"
               f"To: me@example.com\r\nSubject: benchmark mail {number}\r\n"
               f"Message-Id: <bench{number}@example.com>\r\n"
               f"Date: Mon, 2 Nov 2026 10:00:00 +0000\r\n\r\n"
               f"{'body line ' * (1 + number % 40)}\r\n").encode()


def server_view(server, login):
    client = server.client(login)
    try:
        client.select_folder("INBOX", readonly=True)
        uids = client.search(["ALL"])
        fetched = client.fetch(uids, ["FLAGS"]) if uids else {}
    finally:
        client.logout()
    return {str(uid): sorted(flag.decode() for flag in values[b"FLAGS"] if flag != b"\\Recent")
            for uid, values in fetched.items()}


def bench_server(name, engines, args):
    bare_packages(REPO / "vt_webmail")
    from vt_webmail.testing import IMAP_SERVERS, ServerUnavailable

    try:
        server = IMAP_SERVERS[name]().start()
    except ServerUnavailable as exc:
        return {"error": str(exc).splitlines()[0]}
    results = {"version": server.version, "engines": {}}
    try:
        for number, (label, engine) in enumerate(engines.items()):
            login = f"bench{number}"
            server.add_user(login, "bench-password")
            uids = server.append_many(login, "INBOX", mails(args.mails))
            spec = {"engine": str(engine), "host": server.hostname, "port": server.imaps_port,
                    "login": login, "password": "bench-password", "ca": str(server.ca_path),
                    "repeat": args.repeat}
            child = subprocess.Popen(
                [sys.executable, __file__, "--child", json.dumps(spec)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            views = {}

            def step(step_name, child=child, login=login, views=views, label=label):
                child.stdin.write(step_name + "\n")
                child.stdin.flush()
                line = child.stdout.readline()
                if not line:
                    raise RuntimeError(f"the {label} engine stopped at {step_name}")
                views[step_name] = server_view(server, login)

            step("first")
            step("no_change")
            other = server.client(login)
            other.select_folder("INBOX")
            other.add_flags(uids[:4], [b"\\Seen"])
            other.add_flags(uids[4:7], [b"\\Flagged"])
            other.add_flags(uids[7:10], [b"\\Answered"])
            other.logout()
            step("flags")
            other = server.client(login)
            other.select_folder("INBOX")
            other.delete_messages([*uids[10:14], uids[-1]])
            other.expunge()
            other.logout()
            step("expunge")
            server.append_many(login, "INBOX", mails(20, start=args.mails))
            step("new")
            # read through the same buffered reader as the steps (communicate() would read the
            # pipe underneath it and miss what that reader already holds)
            child.stdin.close()
            out = child.stdout.read()
            child.wait(timeout=300)
            steps = json.loads(out.strip().splitlines()[-1])
            for step_name, outcome in steps.items():
                outcome["correct"] = outcome.pop("cache") == views[step_name]
            results["engines"][label] = steps
    finally:
        server.close()
    return results


EXPECTED = {"first": "new", "flags": "changed", "expunge": "removed", "new": "new"}


def report(all_results, labels, args):
    steps = (("first", f"first sync of {args.mails:,}"), ("no_change", "nothing new"),
             ("flags", "10 flags changed elsewhere"), ("expunge", "5 expunged, newest too"),
             ("new", "20 new mails"))
    header = f"{'server':<34} {'refresh':<27}" + "".join(
        f" {label + ': trips  time   result':<42}" for label in labels)
    print(header)
    print("-" * len(header))
    for name, result in all_results.items():
        if "error" in result:
            print(f"{name:<34} not run: {result['error']}")
            continue
        title = f"{name} {result['version']}"[:33]
        for key, text in steps:
            row = f"{title:<34} {text:<27}"
            title = ""
            for label in labels:
                outcome = result["engines"][label][key]
                if "error" in outcome:
                    row += f" {'FAILED: ' + outcome['error'][:33]:<42}"
                    continue
                counts = (f"+{outcome['new']} ~{outcome['changed']} -{outcome['removed']}")
                verdict = "ok" if outcome["correct"] else "WRONG cache"
                if outcome["empty_headers"]:
                    verdict += f", {outcome['empty_headers']} empty headers"
                row += (f" {outcome['trips']:>5} {outcome['seconds'] * 1000:>7.0f} ms "
                        f"{counts:<13} {verdict:<10}")
            print(row)
        if len(labels) == 2:
            base, new = (result["engines"][label]["no_change"] for label in labels)
            if "trips" in base and "trips" in new and new["trips"]:
                print(f"{'':<34} {'no-change round trips':<27} {base['trips']} -> "
                      f"{new['trips']} ({base['trips'] / new['trips']:.1f}x fewer)")
        print()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mails", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5,
                        help="no-change refreshes, of which the median is shown")
    parser.add_argument("--servers", nargs="+", default=list(SERVERS), choices=SERVERS)
    parser.add_argument("--baseline", type=Path, metavar="DIR",
                        help="a vt_webmail directory of another commit to compare with")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run_engine(json.loads(args.child))), flush=True)
        return 0
    engines = {}
    if args.baseline:
        engines["baseline"] = args.baseline.resolve()
    engines["this tree"] = REPO / "vt_webmail"
    print(f"vt_webmail engine against IMAP servers, {time.strftime('%Y-%m-%d')}, "
          f"{args.mails:,} mails, Python {sys.version.split()[0]}, load "
          f"{os.getloadavg()[0]:.1f}")
    print("trips: IMAP commands of the refresh (login/logout excluded); result: +new "
          "~changed -removed, and whether the cache then equals a second client's view\n")
    results = {name: bench_server(name, engines, args) for name in args.servers}
    report(results, list(engines), args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    failed = any("error" not in result and not all(
        outcome.get("correct") for outcome in result["engines"]["this tree"].values())
        for result in results.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
