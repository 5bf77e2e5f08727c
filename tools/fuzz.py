#!/usr/bin/env python3
"""Fuzz the engine's parsers and play every hostile IMAP scenario; print the figures.

    .venv/bin/python tools/fuzz.py --cases 20000 --seed 1
    .venv/bin/python tools/fuzz.py --targets fetch,compose --cases 100000 --seed 7
    .venv/bin/python tools/fuzz.py --targets hostile --python /opt/odoo18-venv/bin/python

Targets (all by default):

fetch    core.fetch_parser.parse_fetch against imapclient's parse_fetch_response, on seeded
         random FETCH answers, valid and broken, in imaplib's shape: equal where imapclient
         reads them, FetchParseError (never another exception) where it fails; the documented
         disagreements are counted apart
mime     core.mime.parse_message and parse_list_headers on random, damaged and garbage mail:
         never an exception
compose  replies (core.compose, as the Odoo layer builds them) to mails whose names, subject,
         addresses and Message-IDs carry CR, LF, NUL and encoded line breaks: exactly the
         reply's own header fields
bombs    1,000 nested multiparts, 10,000 parts, a 50 MB header block, a 50 MB header line
hostile  every scenario of vt_webmail.testing.hostile_imap: one refresh each (connect, LIST,
         sync INBOX into a cache holding mails 1-5) in a process of its own

Each fuzz target and bomb runs in a forked process, so its peak memory is its own ("peak MB":
resident memory above the process's at the start). The inputs that fail are printed. Exit
status 1 when anything failed. Needs the packages of requirements.txt (run it with the
virtualenv's interpreter, or Odoo's).
"""

import argparse
import platform
import sys
import time
import types
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FUZZ_TARGETS = ("fetch", "mime", "compose")
ALL_TARGETS = (*FUZZ_TARGETS, "bombs", "hostile")


def bare_packages():
    """Import vt_webmail.core without Odoo (as the repository's conftest.py does)."""
    sys.path.insert(0, str(REPO))
    for name, directory in (("vt_webmail", REPO / "vt_webmail"),
                            ("vt_webmail.tests", REPO / "vt_webmail" / "tests")):
        if name not in sys.modules:
            package = types.ModuleType(name)
            package.__path__ = [str(directory)]
            sys.modules[name] = package


def table(rows, header):
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))
              .rstrip())


def run_fuzzers(fuzzing, targets, cases, seed, shown):
    print(f"\nFuzzers: {cases:,} cases per target, seed {seed}")
    rows, failed = [], False
    for target in targets:
        report, seconds, peak = fuzzing.in_child(
            lambda target=target: fuzzing.run(target, cases, seed))
        if isinstance(report, str):  # the child raised
            rows.append((target, "-", report, "-", "-", "-", "-"))
            failed = True
            continue
        documented = ", ".join(f"{name} {count}" for name, count in
                               sorted(report["documented"].items())) or "-"
        if target == "compose":
            documented = f"refused (not an address) {report['refused']}"
        rows.append((target, f"{report['cases']:,}", len(report["failures"]), documented,
                     f"{report['max_seconds'] * 1000:.1f}", f"{peak:.0f}", f"{seconds:.1f}"))
        for number, what, case in report["failures"][:shown]:
            print(f"  {target} case {number}: {what}\n    input: {repr(case)[:400]}")
        failed = failed or bool(report["failures"])
    table(rows, ("target", "cases", "failures", "documented disagreements / notes",
                 "max ms/case", "peak MB", "seconds"))
    return failed


def run_bombs(fuzzing):
    print("\nMIME bombs (parse_message and parse_list_headers, once each)")
    rows, failed = [], False
    for name, raw in fuzzing.mime_bombs():
        def parse(raw=raw):
            from vt_webmail.core.mime import parse_message
            problem = fuzzing.check_mime(raw)
            notes = parse_message(raw).notes
            return problem, notes
        result, seconds, peak = fuzzing.in_child(parse)
        if isinstance(result, str):
            problem, notes = result, []
        else:
            problem, notes = result
        failed = failed or problem is not None
        rows.append((name, f"{len(raw) / 1e6:.1f}", problem or "ok", f"{seconds:.2f}",
                     f"{peak:.0f}", "; ".join(notes)[:90]))
    table(rows, ("input", "MB", "outcome", "seconds", "peak MB", "notes"))
    return failed


def run_hostile(timeout, deadline, python, workers):
    from vt_webmail.testing.hostile_imap import SCENARIOS, HostileImapServer
    from vt_webmail.tests.core.hostile_probe import CACHED_UIDS, run_probe

    print(f"\nHostile IMAP server: {len(SCENARIOS) - 1} scenarios and the honest one; read "
          f"timeout {timeout:g} s, session deadline {deadline:g} s, {workers} at a time, "
          f"each refresh in a process of its own ({python})")
    servers = {name: HostileImapServer(name, messages=6).start() for name in SCENARIOS}

    def run(name):
        server = servers[name]
        return name, run_probe(server.port, security=SCENARIOS[name].security,
                               timeout=timeout, deadline=deadline, ca_path=server.ca_path,
                               python=python, limit=deadline + 60)

    try:
        with ThreadPoolExecutor(workers) as pool:
            outcomes = dict(pool.map(run, SCENARIOS))
    finally:
        for server in servers.values():
            server.close()
    rows, failed = [], False
    for name, cls in SCENARIOS.items():
        outcome = outcomes[name]
        kept = outcome.get("cached_after") is not None and set(CACHED_UIDS) <= set(
            outcome["cached_after"])
        good = (outcome["code"] in (cls.expected, cls.also) and kept
                and (outcome["seconds"] or 1e9) < deadline + 3
                and (outcome["growth_mb"] if outcome["growth_mb"] is not None else 1e9) < 200)
        failed = failed or not good
        rows.append((name, cls.expected, outcome["code"], f"{outcome['seconds']}",
                     f"{outcome['growth_mb']}", "yes" if kept else "NO",
                     "ok" if good else "FAILED"))
    table(rows, ("scenario", "expected", "outcome", "seconds", "RSS +MB", "cache kept", ""))
    for name in SCENARIOS:
        detail = outcomes[name].get("detail")
        if detail:
            print(f"  {name}: {detail[:150]}")
    return failed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.partition("\n\n")[2],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=20000, help="cases per fuzz target")
    parser.add_argument("--seed", default="1")
    parser.add_argument("--targets", default=",".join(ALL_TARGETS),
                        help=f"comma list of {', '.join(ALL_TARGETS)}")
    parser.add_argument("--timeout", type=float, default=2.0,
                        help="hostile: the read timeout (s)")
    parser.add_argument("--deadline", type=float, default=10.0,
                        help="hostile: the session deadline (s)")
    parser.add_argument("--workers", type=int, default=6, help="hostile: refreshes at a time")
    parser.add_argument("--python", default=sys.executable,
                        help="hostile: the interpreter of the refreshes (default: this one)")
    parser.add_argument("--show", type=int, default=5, help="failing inputs shown per target")
    args = parser.parse_args()
    targets = [name.strip() for name in args.targets.split(",") if name.strip()]
    unknown = set(targets) - set(ALL_TARGETS)
    if unknown:
        parser.error(f"unknown targets: {', '.join(sorted(unknown))}")
    bare_packages()
    try:
        import imapclient
        import lxml.etree
    except ImportError as exc:
        sys.exit(f"fuzz: {exc}: run this with the virtualenv's interpreter "
                 "(.venv/bin/python tools/fuzz.py)")
    from vt_webmail.tests.core import fuzzing

    started = time.monotonic()
    print(f"vt_webmail fuzz: seed {args.seed}, Python {platform.python_version()}, "
          f"imapclient {imapclient.__version__}, lxml "
          f"{'.'.join(map(str, lxml.etree.LXML_VERSION[:3]))}")
    failed = False
    fuzz = [target for target in targets if target in FUZZ_TARGETS]
    if fuzz:
        failed |= run_fuzzers(fuzzing, fuzz, args.cases, args.seed, args.show)
    if "bombs" in targets:
        failed |= run_bombs(fuzzing)
    if "hostile" in targets:
        failed |= run_hostile(args.timeout, args.deadline, args.python, args.workers)
    print(f"\n{'FAILED' if failed else 'OK'} in {time.monotonic() - started:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
