"""What the process tests share (see ``conftest.py``): subprocesses with their logs, the
session's database (ORM here, SQL, Odoo subprocesses), mail to deliver, waiting."""

import contextlib
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "tools"))
import _odoo_env  # noqa: E402 (tools/ is not a package)

WATCH_LOCK_CLASS = 0x76776E  # service/push.py (not imported: that module needs Odoo loaded)
SYNC_LOCK_CLASS = 0x76776D
PUSH_APPLICATION = "vt_webmail_push"


def unavailable(reason):
    if os.environ.get("VT_REQUIRE_ODOO"):
        pytest.fail(f"VT_REQUIRE_ODOO is set, but {reason}")
    pytest.skip(reason)


def parent_death_signal():
    """preexec_fn: the kernel SIGTERMs the child if this test process dies (Linux)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    return lambda: libc.prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


class Process:
    """A subprocess with its own log file."""

    def __init__(self, cmd, log_path, env=None):
        self.cmd = [str(part) for part in cmd]
        self.log_path = Path(log_path)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop())
        self.popen = subprocess.Popen(
            self.cmd, cwd=REPO, stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=subprocess.STDOUT, env=dict(env or os.environ, PYTHONUNBUFFERED="1"),
            preexec_fn=parent_death_signal(),
        )
        self.pid = self.popen.pid

    def running(self):
        return self.popen.poll() is None

    def log(self):
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout=20):
        """SIGTERM, then SIGKILL after ``timeout``; return the exit status."""
        if self.running():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        self._log.close()
        return self.popen.returncode

    def kill(self):
        """kill -9: no clean-up of any kind."""
        os.kill(self.pid, signal.SIGKILL)
        self.popen.wait(10)
        self._log.close()

    def wait(self, timeout):
        status = self.popen.wait(timeout)
        self._log.close()
        return status


class OdooDatabase:
    """The session's database: the ORM in this process, SQL, and Odoo subprocesses."""

    def __init__(self, name, odoo_path, python, addons, workdir):
        self.name = name
        self.odoo_path = odoo_path
        self.python = python
        self.addons = ",".join(addons)
        self.workdir = workdir
        self.config_path = workdir / "odoo.conf"
        self.config_path.write_text("[options]\n")
        self.processes = []
        self._registry = None
        self._sql = None

    # -- subprocesses ------------------------------------------------------------------------

    def odoo_command(self, *args, config=None):
        """``odoo-bin --addons-path=... <args> -c <config> -d <db>`` (args may start with a
        command's name)."""
        return [self.python, self.odoo_path / "odoo-bin", f"--addons-path={self.addons}",
                *args, f"--config={config or self.config_path}", "-d", self.name,
                f"--data-dir={self.workdir / 'data'}", *_odoo_env.db_options()]

    def start(self, *args, label="odoo", config=None):
        log = self.workdir / f"{label}-{len(self.processes)}.log"
        process = Process(self.odoo_command(*args, config=config), log)
        self.processes.append(process)
        return process

    def start_worker(self, *args, label="worker", rescan=2):
        """The push worker, as an administrator starts it: the command."""
        return self.start("vt_webmail_idle", f"--rescan={rescan}", "--log-level=info", *args,
                          label=label)

    def start_script(self, code, *, label="script"):
        """Start ``code`` (with ``env`` bound: superuser, committed at the end of the script) in
        a new Odoo process; return the process."""
        script = self.workdir / f"{label}-{secrets.token_hex(4)}.py"
        script.write_text(SCRIPT_PRELUDE + indented(code))
        log = self.workdir / f"{script.stem}.log"
        process = Process([self.python, script, self.odoo_path, self.addons, self.name,
                           *_odoo_env.db_options()], log)
        self.processes.append(process)
        return process

    def run_script(self, code, *, timeout=300, label="script"):
        """:meth:`start_script`, and wait for it; return the process (finished)."""
        process = self.start_script(code, label=label)
        process.wait(timeout)
        return process

    def stop_all(self):
        for process in self.processes:
            if process.running():
                process.stop()

    # -- the ORM here, and SQL -----------------------------------------------------------------

    def registry(self):
        if self._registry is None:
            sys.path.insert(0, str(self.odoo_path))
            import odoo
            from odoo.tools import config

            config.parse_config([f"--addons-path={self.addons}", "-d", self.name,
                                 "--log-level=warn", *_odoo_env.db_options()],
                                setup_logging=False)
            self._registry = odoo.modules.registry.Registry(self.name)
        return self._registry

    @contextlib.contextmanager
    def env(self):
        """An environment as superuser on a new cursor, committed at the end of the block."""
        registry = self.registry().check_signaling()
        import odoo

        with registry.cursor() as cr:
            yield odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})

    def sql(self, query, params=()):
        """Rows of one query, in autocommit (sees every commit at once)."""
        import psycopg2

        if self._sql is None or self._sql.closed:
            self._sql = psycopg2.connect(dbname=self.name)
            self._sql.autocommit = True
        with self._sql.cursor() as cr:
            cr.execute(query, params)
            return cr.fetchall() if cr.description else []

    def watchers(self):
        """{account id: OS pid of the push worker watching it}, from ``pg_locks``."""
        rows = self.sql(
            """
            SELECT l.objid, a.application_name FROM pg_locks l
              JOIN pg_stat_activity a ON a.pid = l.pid
             WHERE l.locktype = 'advisory' AND l.classid = %s AND l.granted
               AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
            """, (WATCH_LOCK_CLASS,))
        return {int(objid): int(re.search(r":(\d+)$", name).group(1)) for objid, name in rows}

    def message_ids(self, account_ids):
        """[(account id, Message-Id)] of the cached mail of those accounts, duplicates kept."""
        return self.sql("SELECT account_id, message_id FROM vt_webmail_message "
                        "WHERE account_id = ANY(%s) ORDER BY id", (list(account_ids),))

    def close(self):
        if self._sql is not None:
            self._sql.close()


#: The top of a script run by :meth:`OdooDatabase.run_script`.
SCRIPT_PRELUDE = '''\
import sys
odoo_path, addons, dbname, *db_options = sys.argv[1:]
sys.path.insert(0, odoo_path)
import odoo
from odoo.tools import config
config.parse_config([f"--addons-path={addons}", "-d", dbname, "--log-level=info",
                     *db_options], setup_logging=True)
registry = odoo.modules.registry.Registry(dbname)
with registry.cursor() as cr:
    env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
'''


def indented(code):
    return "".join(f"    {line}\n" if line.strip() else "\n" for line in code.splitlines())


def raw_mail(subject, message_id=None):
    message_id = message_id or f"<{secrets.token_hex(10)}@push.test>"
    return message_id, (
        f"From: Alice <alice@example.com>\r\nTo: bob@example.com\r\nSubject: {subject}\r\n"
        f"Message-Id: {message_id}\r\nDate: Mon, 02 Nov 2026 10:00:00 +0000\r\n\r\nHi.\r\n"
    ).encode()


def wait_for(predicate, timeout, step=0.1):
    """Poll ``predicate`` until it is true (return True) or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())
