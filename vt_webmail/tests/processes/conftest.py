"""Fixtures for the tests that race real processes against one PostgreSQL database.

Odoo's test mode runs every cursor of a test in one transaction, so nothing that depends on
two transactions (advisory locks, LISTEN/NOTIFY, a worker killed with -9) can be shown by a
``TransactionCase``. These tests are plain pytest, run in Odoo's interpreter
(``tools/run-tests``' *processes* stage), and:

* make one throwaway database for the session with ``odoo-bin -i vt_webmail
  --stop-after-init`` (dropped at the end, also on failure or Ctrl-C);
* set up users and accounts in it through the ORM, in this process (real commits);
* start the push workers as the command (``odoo-bin vt_webmail_idle``), Odoo servers and
  scripts as subprocesses, each with its own log under the session's directory;
* look at the outcome in PostgreSQL itself: the cached mail, ``pg_locks``.

They run on Odoo 18 (``ODOO_PATH``), or on the Odoo named by ``VT_ODOO_MAJOR`` (19:
``ODOO19_PATH``; ``tools/run-tests`` sets it for each tree). Without that Odoo tree or
PostgreSQL the tests are skipped, unless
``VT_REQUIRE_ODOO`` is set (``tools/run-tests`` sets it when it found Odoo): then they fail.
"""

import os
import secrets
import sys
from pathlib import Path

import pytest

from vt_webmail.testing import DovecotServer
from vt_webmail.tests.processes.harness import (
    OdooDatabase,
    OdooUnavailable,
    _odoo_env,
    odoo_major,
)


def unavailable(reason):
    if os.environ.get("VT_REQUIRE_ODOO"):
        pytest.fail(f"VT_REQUIRE_ODOO is set, but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def odoo_db():
    """A database with vt_webmail installed (about a minute), for the whole session."""
    python, problem = _odoo_env.odoo_python(odoo_major())
    if not problem and Path(sys.executable).resolve() != Path(python).resolve() \
            and not os.environ.get("VT_PROCESSES_ANY_PYTHON"):
        problem = (f"these tests run in Odoo's interpreter {python} (tools/run-tests does it), "
                   f"not {sys.executable}")
    if problem:
        unavailable(problem)
    try:
        # VT_PROCESSES_DB: while working on these tests, keep (and reuse) one database
        database = OdooDatabase.make("vt_webmail_proc",
                                       reuse=os.environ.get("VT_PROCESSES_DB"))
    except OdooUnavailable as exc:
        unavailable(str(exc))
    try:
        with database.env() as env:
            # the scheduled refresh stays out of these tests' way (they call it themselves)
            (env.ref("vt_webmail.ir_cron_refresh_accounts")
             | env.ref("vt_webmail.ir_cron_refresh_accounts_2")).active = False
        yield database
    finally:
        database.drop(keep_logs=os.environ.get("VT_KEEP_PROCESS_LOGS"))


@pytest.fixture(scope="session")
def dovecot():
    with DovecotServer() as server:
        yield server


@pytest.fixture
def mail_accounts(odoo_db, dovecot):
    """``make(count, **values)`` -> list of (account id, mailbox login): accounts of one new
    Odoo user on fresh Dovecot mailboxes. Every account made is deleted after the test, once
    the processes the test started are stopped (a worker still syncing one of them would make
    the deletion fail on a concurrent update)."""
    made = []
    started = len(odoo_db.processes)

    def make(count, server=None, **values):
        server = server or dovecot
        tag = secrets.token_hex(3)
        logins = [server.add_user(f"p{tag}x{number}", f"pw-{tag}-{number}")
                  for number in range(count)]
        with odoo_db.env() as env:
            user = env["res.users"].create({"name": f"Pusher {tag}", "login": f"pusher-{tag}",
                                            "email": f"pusher-{tag}@example.com"})
            accounts = env["vt_webmail.account"].with_user(user).create([{
                "email": f"{login}@example.com", "imap_host": server.hostname,
                "imap_port": server.imaps_port, "security": "ssl", "login": login,
                "password": server.users[login], "ca_certificate": server.ca_path.read_text(),
                **values,
            } for login in logins])
            pairs = list(zip(accounts.ids, logins, strict=True))
        made.extend(pairs)
        return pairs

    yield make
    for process in odoo_db.processes[started:]:
        if process.running():
            process.stop()
    if made:
        with odoo_db.env() as env:
            env["vt_webmail.account"].browse([account for account, _login in made]) \
                .with_context(active_test=False).exists().unlink()




@pytest.fixture(autouse=True)
def _stop_processes(request):
    """Every process a test started is stopped after it (workers of one test would otherwise
    take the next test's accounts)."""
    if "odoo_db" not in request.fixturenames:
        yield
        return
    database = request.getfixturevalue("odoo_db")
    started = len(database.processes)
    yield
    for process in database.processes[started:]:
        if process.running():
            process.stop()
