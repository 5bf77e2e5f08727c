"""One refresh against a :class:`~vt_webmail.testing.hostile_imap.HostileImapServer`, in a
process of its own: how it ended, how long it took, how much memory it took, what the cache
holds afterwards.

A refresh here is what the Odoo layer does for an account (``_refresh_locked``): connect, LIST,
sync INBOX, into a cache that already holds mails 1 to 5 (as if synced before mail 6 arrived).
Run in a subprocess so that the peak resident memory (``ru_maxrss``) is the refresh's alone::

    python vt_webmail/tests/core/hostile_probe.py PORT [--security none] [--timeout 1]
        [--deadline 3] [--ca FILE]

prints one JSON object (see :func:`probe`). :func:`run_probe` does that from Python, used by
``test_hostile.py`` and ``tools/fuzz.py``.
"""

import contextlib
import datetime
import json
import subprocess
import sys
import time
from pathlib import Path

CACHED_UIDS = (1, 2, 3, 4, 5)
ROOT = Path(__file__).resolve().parents[3]


def memory_kb():
    """``(resident, peak resident)`` of this process in KB (``VmRSS``, ``VmHWM``).

    Not ``ru_maxrss``: Linux carries it over ``fork`` and ``exec``, so a child of a big process
    starts with its parent's peak.
    """
    with open("/proc/self/status") as status:
        values = dict(line.split(":", 1) for line in status if ":" in line)
    return int(values["VmRSS"].split()[0]), int(values["VmHWM"].split()[0])


def reset_peak():
    """Start the peak resident memory (``VmHWM``) again from the current one."""
    # an older kernel refuses: the peak then includes what came before
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def prefilled_store():
    """A cache holding mails 1 to 5 of the hostile server's INBOX (UIDVALIDITY 1, UIDNEXT 6),
    as a complete pass left it."""
    from vt_webmail.core.sync import FolderState, MessageSummary
    from vt_webmail.tests.core.stores import DictStore

    store = DictStore()
    when = datetime.datetime(2026, 11, 2, 10, tzinfo=datetime.timezone.utc)
    store.messages["INBOX"] = {
        uid: MessageSummary(uid=uid, flags=(), internal_date=when, size=200,
                            has_attachments=False, subject=f"mail {uid}", date=when)
        for uid in CACHED_UIDS}
    store.states["INBOX"] = FolderState(uidvalidity=1, uidnext=6, messages=5, unseen=5,
                                        flags_read_at=time.time())
    return store


def refresh(settings, store):
    """Connect, list the folders, sync INBOX; returns the folders' names and the sync result."""
    from vt_webmail.core.imap_session import connect
    from vt_webmail.core.sync import sync_folder

    with connect(settings) as session:
        folders = [info.name for info in session.list_folders()]
        result = sync_folder(session, "INBOX", store.state("INBOX"), store)
    return folders, result


def probe(port, *, security="none", timeout=1.0, deadline=3.0, ca_pem=None,
          hostname="localhost"):
    """Refresh the account of the server on ``port`` (in this process).

    :returns: dict: ``code`` (``"ok"``, a :class:`~vt_webmail.core.exceptions.WebmailError`
        code, or ``"crash: <exception type>"``), ``detail``, ``seconds``, ``growth_mb`` (peak
        resident memory above what the process used before the refresh), ``cached_before`` /
        ``cached_after`` (INBOX's cached UIDs), ``folders``, ``new``
    """
    from vt_webmail.core import exceptions
    from vt_webmail.core.imap_session import ServerSettings

    store = prefilled_store()
    settings = ServerSettings(hostname, port, "hostile", "hostile-password", security=security,
                              ca_pem=ca_pem, timeout=timeout, deadline=deadline)
    before = sorted(store.messages["INBOX"])
    reset_peak()
    rss, _peak = memory_kb()
    started = time.monotonic()
    outcome = {"code": "ok", "detail": "", "folders": [], "new": 0}
    try:
        folders, result = refresh(settings, store)
        outcome.update(folders=folders, new=result.new)
    except exceptions.WebmailError as exc:
        outcome.update(code=exc.code, detail=str(exc)[:300])
    except Exception as exc:  # what the test is there to catch: anything untyped
        outcome.update(code=f"crash: {type(exc).__name__}", detail=str(exc)[:300])
    seconds = time.monotonic() - started
    _rss, peak = memory_kb()
    outcome.update(seconds=round(seconds, 3), growth_mb=round(max(peak - rss, 0) / 1024, 1),
                   cached_before=before, cached_after=sorted(store.messages["INBOX"]))
    return outcome


def run_probe(port, *, security="none", timeout=1.0, deadline=3.0, ca_path=None,
              python=None, limit=60):
    """:func:`probe` in a new process (``python``, by default this one); returns its dict.

    :param limit: seconds after which the subprocess is killed (a hang is reported as
        ``code="hang"``)
    """
    command = [python or sys.executable, str(Path(__file__).resolve()), str(port),
               "--security", security, "--timeout", str(timeout), "--deadline", str(deadline)]
    if ca_path:
        command += ["--ca", str(ca_path)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=limit,
                              check=False)
    except subprocess.TimeoutExpired:
        return {"code": "hang", "detail": f"no answer in {limit} s", "seconds": limit,
                "growth_mb": None, "cached_before": list(CACHED_UIDS), "cached_after": None}
    lines = done.stdout.strip().splitlines()
    if done.returncode or not lines:
        return {"code": f"crash: exit {done.returncode}", "detail": done.stderr[-500:],
                "seconds": None, "growth_mb": None, "cached_before": list(CACHED_UIDS),
                "cached_after": None}
    return json.loads(lines[-1])


def _bare_packages():
    """Import ``vt_webmail.core`` without Odoo (as the repository's conftest.py does)."""
    import types

    for name, directory in (("vt_webmail", ROOT / "vt_webmail"),
                            ("vt_webmail.tests", ROOT / "vt_webmail" / "tests")):
        if name not in sys.modules:
            package = types.ModuleType(name)
            package.__path__ = [str(directory)]
            sys.modules[name] = package


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", type=int)
    parser.add_argument("--security", default="none")
    parser.add_argument("--timeout", type=float, default=1.0)
    parser.add_argument("--deadline", type=float, default=3.0)
    parser.add_argument("--ca")
    args = parser.parse_args(argv)
    _bare_packages()
    # everything the refresh may import, imported before memory is measured
    import vt_webmail.core.imap_session
    import vt_webmail.core.sync  # noqa: F401

    ca_pem = Path(args.ca).read_text() if args.ca else None
    outcome = probe(args.port, security=args.security, timeout=args.timeout,
                    deadline=args.deadline, ca_pem=ca_pem)
    sys.stdout.write(json.dumps(outcome) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
