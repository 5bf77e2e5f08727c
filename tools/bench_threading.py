#!/usr/bin/env python3
"""Threading benchmark: the SpamAssassin corpus x5 (30,230 mails) through core/threading.py.

Targets (issue #13): from scratch under 3 s; 50 new mails added incrementally under 50 ms.
Headers are read once before any timing (a cache has them in columns already); what is timed is
threading only. The 50 new mails are the 50 newest by date (a refresh brings the newest mail),
and each figure is the median of ``--repeat`` runs, with the worst shown too. The incremental
result is checked against a from-scratch run of the same 30,230 mails.

    tools/bench_threading.py [--copies 5] [--repeat 5] [--new 50]

``--db`` measures the same in Odoo (re-executed in Odoo's interpreter; a throwaway database
with vt_webmail installed, removed at the end): the corpus stored as one user's cached mails
(INBOX, and the mails whose sender is the user's own address in Sent), threaded in the
database from scratch (``_thread_pending``), then

* **incremental**: the 50 newest mails stored and threaded (``_thread_pending``: the
  conversations they can touch loaded, threaded again, written), beside the baseline of
  threading the whole account again for them (what a non-incremental cache would do) and the
  pure core figure; each run in a savepoint rolled back, median and worst of ``--repeat``;
* **the conversation list page** over JSON-RPC (an Odoo HTTP server started on loopback,
  logged in as the user): ``web_search_read`` of the Conversations list as the web client
  asks for it (80 rows, the pager's count), p50 and p95 of ``--requests`` requests, beside the
  mail list's page of the inbox (the baseline the index follows) and the same conversation page
  without its index (dropped for the run: the before).

    tools/bench_threading.py --db [--requests 200] [--explain]
"""

import argparse
import email.parser
import email.policy
import email.utils
import statistics
import sys
import time
from pathlib import Path

TOOLS = Path(__file__).resolve().parent
REPO = TOOLS.parent
sys.path.insert(0, str(TOOLS))
sys.path.insert(0, str(REPO))

from bench_corpus import copies, fetch, load  # noqa: E402

import conftest  # noqa: E402,F401  (vt_webmail.core importable without Odoo)
from vt_webmail.core.threading import Mail, Threader, thread  # noqa: E402

_PARSER = email.parser.BytesHeaderParser(policy=email.policy.compat32)


def header_tuple(key, raw):
    """(key, Message-Id, In-Reply-To, References, Subject, Date) of a raw mail, as a cache keeps
    them (decoded text, naive UTC date or None)."""
    head = _PARSER.parsebytes(raw.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n")

    def text(name):
        value = head.get(name)
        if value is None:
            return ""
        return str(value) if not isinstance(value, str) else value

    date = None
    try:
        date = email.utils.parsedate_to_datetime(text("date"))
        if date.tzinfo is not None:
            date = date.replace(tzinfo=None) - date.utcoffset()
    except (TypeError, ValueError, IndexError, OverflowError):
        date = None
    return Mail(key, text("message-id"), text("in-reply-to"), text("references"),
                text("subject"), date)


def timed(function, repeat):
    runs = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        runs.append(time.perf_counter() - start)
    return result, statistics.median(runs), max(runs)


def read_corpus(args):
    mails, _mismatched = load(fetch())
    corpus = copies(mails, args.copies)
    print(f"reading the headers of {len(corpus):,} mails (not timed)...", flush=True)
    return corpus, [header_tuple(key, raw) for key, raw in enumerate(corpus)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--new", type=int, default=50)
    parser.add_argument("--db", action="store_true",
                        help="in an Odoo database, and the conversation list over JSON-RPC")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--explain", action="store_true",
                        help="--db: also print the plan of the conversation list's query")
    args = parser.parse_args()
    if args.db:
        from _bench_threading_db import run_db
        from _odoo_env import run_in_odoo_python

        return run_in_odoo_python(__file__, lambda: run_db(args, read_corpus),
                                  "VT_BENCH_THREADING_IN_ODOO_PYTHON",
                                  say=lambda m: print(f"bench_threading: {m}", flush=True))

    _corpus, tuples = read_corpus(args)
    dated = sorted((m for m in tuples if m.date is not None), key=lambda m: (m.date, m.key))
    new = dated[-args.new:]
    new_keys = {m.key for m in new}
    base = [m for m in tuples if m.key not in new_keys]

    expected, scratch, scratch_worst = timed(lambda: thread(tuples), args.repeat)

    incremental_runs = []
    update = None
    for _ in range(args.repeat):
        threader = Threader()
        threader.add(base)
        start = time.perf_counter()
        update = threader.add(new)
        incremental_runs.append(time.perf_counter() - start)
        if threader.conversations() != expected:
            sys.exit("FAILURE: the incremental result differs from the from-scratch one")
    incremental = statistics.median(incremental_runs)

    removal_runs = []
    for _ in range(args.repeat):
        threader = Threader()
        threader.add(tuples)
        start = time.perf_counter()
        threader.remove(sorted(new_keys))
        removal_runs.append(time.perf_counter() - start)

    conversations = len(set(expected.values()))
    multi = sum(1 for count in _counts(expected).values() if count > 1)
    print(f"\n{len(tuples):,} mails, {conversations:,} conversations "
          f"({multi:,} of two mails or more); {args.repeat} runs each, median (worst)\n")
    rows = [
        ("from scratch", f"{len(tuples):,} mails", scratch, scratch_worst, 3.0),
        ("incremental add", f"{len(new)} new mails", incremental, max(incremental_runs), 0.050),
        ("incremental remove", f"{len(new)} mails", statistics.median(removal_runs),
         max(removal_runs), 0.050),
    ]
    print(f"{'':20} {'input':>14} {'median':>10} {'worst':>10} {'target':>9}  ")
    failed = False
    for name, what, median, worst, target in rows:
        ok = median < target
        failed |= not ok
        print(f"{name:20} {what:>14} {_ms(median):>10} {_ms(worst):>10} {'<' + _ms(target):>9}  "
              f"{'ok' if ok else 'MISSED'}")
    print(f"\nlast add reported {len(update.conversations)} mails in "
          f"{len(update.changed)} conversations changed, {len(update.removed)} gone")
    return 1 if failed else 0


def _counts(conversations):
    counts = {}
    for conv in conversations.values():
        counts[conv] = counts.get(conv, 0) + 1
    return counts


def _ms(seconds):
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


if __name__ == "__main__":
    sys.exit(main())
