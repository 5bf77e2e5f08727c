#!/usr/bin/env python3
"""Qualify benchmark: bulk Qualify of 100 and 1,000 mails, the time and the SQL queries per
model (issue #15: 1,000 mails under 20 s, one batch of queries per model, not one per mail).

What it starts (and removes at the end, also on error or Ctrl-C): a Dovecot on loopback and a
throwaway database with vt_webmail installed. For each scale, one user (a salesman with the
Contact Creation right, as in the tests) gets two accounts holding the same mix of mails: a
third from addresses of leads, a third from addresses of contacts, a third from senders nobody
knows (a contact is created for each), one mail in ten with a PDF attached. Then, as that user:

* **A**: ``action_qualify`` on the first account's mails, bodies never fetched: what a user
  waits for after "Qualify" on a selection (one IMAP session fetches the bodies first);
* **B**: on the second account, ``action_fetch_body`` first (timed on its own), then
  ``action_qualify``: Qualify's own work, and its SQL queries, counted per table and shown per
  model, side by side for the two scales.

It is a script, not a test: figures depend on the machine and its load (printed with them);
the ratios between the scales are the evidence. Queries are counted by wrapping the cursor's
``execute`` (a few microseconds each). Run from the repository; it re-executes itself in
Odoo's interpreter::

    tools/bench_qualify.py                  # 100 and 1,000 mails (a few minutes)
    tools/bench_qualify.py --scales 50 500
    tools/bench_qualify.py --rst            # also the README's table
    tools/bench_qualify.py --baseline 70b95bf   # then the same in that revision's tree

``--baseline REV`` runs this very script again, afterwards, in a ``git archive`` of ``REV``
(in ``var/bench_qualify/``, with its own database): the same mails, that revision's Qualify.
"""

import argparse
import collections
import contextlib
import datetime
import email.message
import email.utils
import os
import platform
import re
import subprocess
import sys
import time
import types
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
from _odoo_env import ADDON, run_in_odoo_python  # noqa: E402

_IN_ODOO_PYTHON = "VT_BENCH_QUALIFY_IN_ODOO_PYTHON"
PASSWORD = "bench-password"
TARGET_SECONDS = 20.0
TARGET_MAILS = 1000
#: the first table a statement reads or writes
TABLE = re.compile(r'\b(?:FROM|INTO|UPDATE)\s+"?([A-Za-z_][A-Za-z0-9_]*)"?', re.I)


def say(message):
    print(f"bench_qualify: {message}", flush=True)


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="tools/bench_qualify.py", description=__doc__.split(
        "\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", type=int, nargs="+", default=[100, 1000],
                        help="numbers of mails qualified at once (default: 100 1000)")
    parser.add_argument("--rst", action="store_true", help="also print the README's table")
    parser.add_argument("--statements", action="store_true",
                        help="also list B's statements (their first words) at each scale")
    parser.add_argument("--keep-logs", metavar="DIR", help="copy the Odoo logs there")
    parser.add_argument("--baseline", metavar="REV",
                        help="then run the same in a git archive of REV (its Qualify)")
    args = parser.parse_args(argv)
    args.scales = sorted(set(args.scales))
    if args.scales[0] < 3:
        parser.error("at least 3 mails per scale")
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
    from vt_webmail.testing import DovecotServer, samples
    from vt_webmail.tests.processes import harness
    return DovecotServer, samples, harness


# ---------------------------------------------------------------------------------------------
# the mail


def senders(scale, tag):
    """``[(kind, name, address)]``: a third leads', a third contacts', a third unknown."""
    result = []
    for index in range(scale):
        kind = ("lead", "contact", "new")[index % 3]
        result.append((kind, f"{kind.title()} {tag}{index}",
                       f"{kind}.{tag}{index}@{kind}s.example"))
    return result


def mail(samples, index, name, address, tag):
    message_id = f"<q-{tag}-{index}@bench.example>"
    date = datetime.datetime(2026, 11, 2, 9, 0, tzinfo=datetime.timezone.utc) \
        + datetime.timedelta(minutes=index)
    sender = email.utils.formataddr((name, address))
    if index % 10 == 9:
        return samples.with_attachments(message_id=message_id, sender=sender, date=date,
                                        subject=f"Figures {tag}{index}")
    message = email.message.EmailMessage()
    message["From"] = sender
    message["To"] = "bench@example.com"
    message["Subject"] = f"Mail {tag}{index}"
    message["Message-ID"] = message_id
    message["Date"] = email.utils.format_datetime(date)
    message.set_content(f"Hello,\n\nmail number {index} of the benchmark.\n\n-- \n{name}\n")
    return message.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


# ---------------------------------------------------------------------------------------------
# counting


class QueryCounter:
    """Counts the statements of every cursor, by the first table each names."""

    def __init__(self):
        self.tables = collections.Counter()
        self.statements = collections.Counter()

    @contextlib.contextmanager
    def counting(self):
        from odoo.sql_db import Cursor

        original = Cursor.execute
        tables, statements = self.tables, self.statements

        def execute(cr, query, params=None, log_exceptions=True):
            text = query.code if hasattr(query, "code") else str(query)
            match = TABLE.search(text)
            tables[match.group(1) if match else "(other)"] += 1
            statements[" ".join(text.split())[:90]] += 1
            return original(cr, query, params, log_exceptions)

        Cursor.execute = execute
        try:
            yield self
        finally:
            Cursor.execute = original

    def by_model(self, env):
        names = {model._table: name for name, model in env.registry.items()
                 if not model._abstract and getattr(model, "_table", None)}
        result = collections.Counter()
        for table, count in self.tables.items():
            result[names.get(table, table)] += count
        return result


# ---------------------------------------------------------------------------------------------
# one scale


def prepare(database, dovecot, samples, scale):
    """The scale's user, its CRM records and its two accounts, refreshed.

    :returns: ``(user id, [account id A, account id B])``
    """
    logins = [dovecot.add_user(f"q{scale}{part}", PASSWORD) for part in "ab"]
    with database.env() as env:
        salesman = env.ref("sales_team.group_sale_salesman")
        partner_manager = env.ref("base.group_partner_manager")
        groups = "group_ids" if "group_ids" in env["res.users"]._fields else "groups_id"
        user = env["res.users"].create({
            "name": f"Bench {scale}", "login": f"bench{scale}", "email": f"b{scale}@example.com",
            groups: [(4, env.ref("base.group_user").id), (4, salesman.id),
                     (4, partner_manager.id)]})
        account_ids = []
        for part, login in zip("ab", logins, strict=True):
            tag = f"{part}{scale}-"
            people = senders(scale, tag)
            env["crm.lead"].create([{"name": f"Deal {name}", "email_from": address,
                                     "user_id": user.id, "type": "lead"}
                                    for kind, name, address in people if kind == "lead"])
            env["res.partner"].create([{"name": name, "email": address}
                                       for kind, name, address in people if kind == "contact"])
            dovecot.append_many(login, "INBOX", [mail(samples, i, name, address, tag)
                                                 for i, (_kind, name, address)
                                                 in enumerate(people)])
            account = env["vt_webmail.account"].with_user(user).create({
                "email": f"{login}@example.com", "imap_host": dovecot.hostname,
                "imap_port": dovecot.imaps_port, "security": "ssl", "login": login,
                "password": PASSWORD, "ca_certificate": dovecot.ca_path.read_text()})
            account_ids.append(account.id)
        user_id = user.id
    # the refresh works on a cursor of its own: the accounts are committed first
    with database.env() as env:
        for account in env["vt_webmail.account"].browse(account_ids):
            outcome = account.with_user(user_id).action_refresh()
            if outcome["error"] or outcome["new"] != scale:
                raise RuntimeError(f"refresh of {account.email}: {outcome}")
    return user_id, account_ids


def measure(database, user_id, account_ids, scale):
    figures = {"scale": scale}
    with database.env() as env:
        Message = env["vt_webmail.message"].with_user(user_id)
        first = Message.search([("account_id", "=", account_ids[0])])
        assert len(first) == scale, len(first)
        counter = QueryCounter()
        start = time.perf_counter()
        with counter.counting():
            results = first.action_qualify()
            env.flush_all()
        figures["full"] = time.perf_counter() - start
        figures["full_queries"] = sum(counter.tables.values())
        check(results, scale)
    with database.env() as env:
        Message = env["vt_webmail.message"].with_user(user_id)
        second = Message.search([("account_id", "=", account_ids[1])])
        start = time.perf_counter()
        second.action_fetch_body()
        env.flush_all()
        figures["bodies"] = time.perf_counter() - start
    with database.env() as env:
        env.invalidate_all()
        Message = env["vt_webmail.message"].with_user(user_id)
        second = Message.search([("account_id", "=", account_ids[1])])
        counter = QueryCounter()
        start = time.perf_counter()
        with counter.counting():
            results = second.action_qualify()
            env.flush_all()
        figures["qualify"] = time.perf_counter() - start
        figures["queries"] = sum(counter.tables.values())
        figures["by_model"] = dict(counter.by_model(env))
        figures["statements"] = dict(counter.statements)
        check(results, scale)
        figures["rules"] = dict(collections.Counter(r["rule"] for r in results))
        figures["entries"] = env["mail.message"].search_count([
            ("message_id", "in", second.mapped("message_id")), ("message_type", "=", "email")])
    return figures


def check(results, scale):
    errors = [r["error"] for r in results if r["error"]]
    if errors or len(results) != scale:
        raise RuntimeError(f"{len(errors)} mails not qualified: {errors[:3]}")


# ---------------------------------------------------------------------------------------------
# the report


def seconds(value):
    return f"{value:.2f} s"


def report(all_figures, args):
    small, large = all_figures[0], all_figures[-1]
    print()
    header = f"{'mails':>6} {'A: qualify':>12} {'queries':>8} {'bodies':>9} " \
             f"{'B: qualify':>11} {'queries':>8} {'per mail':>9}"
    print(header)
    for figures in all_figures:
        print(f"{figures['scale']:>6} {seconds(figures['full']):>12} "
              f"{figures['full_queries']:>8} {seconds(figures['bodies']):>9} "
              f"{seconds(figures['qualify']):>11} {figures['queries']:>8} "
              f"{figures['queries'] / figures['scale']:>9.2f}")
    if len(all_figures) > 1:
        factor = large["scale"] / small["scale"]
        print(f"\n{large['scale']} / {small['scale']} mails (x{factor:g}): A x"
              f"{large['full'] / small['full']:.2f}, B x{large['qualify'] / small['qualify']:.2f}"
              f", queries x{large['queries'] / small['queries']:.2f}")
    print(f"\nqueries of B per model ({', '.join(str(f['scale']) for f in all_figures)} mails):")
    models = sorted(set().union(*(f["by_model"] for f in all_figures)),
                    key=lambda m: (-large["by_model"].get(m, 0), m))
    for model in models:
        counts = "  ".join(f"{f['by_model'].get(model, 0):>6}" for f in all_figures)
        print(f"  {model:<40} {counts}")
    print(f"\nrules of B at {large['scale']}: {large['rules']}; chatter entries: "
          f"{large['entries']}")
    verdict = [f for f in all_figures if f["scale"] >= TARGET_MAILS]
    for figures in verdict:
        ok = figures["full"] < TARGET_SECONDS
        print(f"target: {figures['scale']} mails under {TARGET_SECONDS:g} s (A): "
              f"{seconds(figures['full'])} {'ok' if ok else 'MISSED'}")
    if args.statements:
        print(f"\nB's statements ({', '.join(str(f['scale']) for f in all_figures)} mails):")
        texts = sorted(set().union(*(f["statements"] for f in all_figures)))
        for text in texts:
            counts = "  ".join(f"{f['statements'].get(text, 0):>5}" for f in all_figures)
            print(f"  {counts}  {text}")
    if args.rst:
        print_rst(all_figures)


def print_rst(all_figures):
    rows = [("Mails", "A: Qualify, bodies fetched by it", "Its queries", "Bodies alone",
             "B: Qualify, bodies kept", "Its queries")]
    for f in all_figures:
        rows.append((f"{f['scale']:,}", seconds(f["full"]), str(f["full_queries"]),
                     seconds(f["bodies"]), seconds(f["qualify"]), str(f["queries"])))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    rule = " ".join("=" * w for w in widths)
    print()
    print(rule)
    for index, row in enumerate(rows):
        print(" ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if index == 0:
            print(rule)
    print(rule)


def environment(dovecot):
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True, check=False).stdout.strip()
    return (f"{datetime.date.today().isoformat()}, commit {commit}, {os.cpu_count()} CPUs, "
            f"Python {platform.python_version()}, Dovecot {dovecot.version}, 1-minute load "
            f"average {os.getloadavg()[0]:.2f}")


# ---------------------------------------------------------------------------------------------


def run(args):
    DovecotServer, samples, harness = import_harness()
    dovecot = DovecotServer().start()
    database = None
    try:
        say("creating the database and installing vt_webmail (about a minute)")
        database = harness.OdooDatabase.make("vt_webmail_bench_qualify")
        all_figures = []
        for scale in args.scales:
            say(f"{scale} mails: seeding two accounts and refreshing them")
            user_id, account_ids = prepare(database, dovecot, samples, scale)
            say(f"{scale} mails: qualifying")
            all_figures.append(measure(database, user_id, account_ids, scale))
        say(f"measured on {environment(dovecot)}")
        report(all_figures, args)
    finally:
        if database is not None:
            database.drop(keep_logs=args.keep_logs)
        dovecot.close()


def run_baseline(args):
    """This script again, in a ``git archive`` of ``args.baseline`` (its addon, its tools)."""
    rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", args.baseline],
                         capture_output=True, text=True, check=True).stdout.strip()
    tree = REPO / "var" / "bench_qualify" / rev
    if not (tree / ADDON / "__manifest__.py").is_file():
        tree.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(REPO), "archive", rev], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    script = tree / "tools" / "bench_qualify.py"
    script.write_bytes(Path(__file__).read_bytes())
    say(f"baseline: the same in revision {rev} ({tree})")
    command = [sys.executable, str(script), "--scales", *map(str, args.scales)]
    if args.rst:
        command.append("--rst")
    return subprocess.run(command, check=False).returncode


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)

    def measure():
        run(args)
        return run_baseline(args) if args.baseline else 0
    return run_in_odoo_python(__file__, measure, _IN_ODOO_PYTHON, say=say)


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
