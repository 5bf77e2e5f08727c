"""What the process tests share (see ``conftest.py``): subprocesses with their logs, the
session's database (ORM here, SQL, Odoo subprocesses), mail to deliver, waiting."""

import contextlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "tools"))
import _odoo_env  # noqa: E402 (tools/ is not a package)

WATCH_LOCK_CLASS = 0x76776E  # service/push.py (not imported: that module needs Odoo loaded)
SYNC_LOCK_CLASS = 0x76776D
PUSH_APPLICATION = "vt_webmail_push"


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


def odoo_major():
    """The Odoo version these tests run on: $VT_ODOO_MAJOR (tools/run-tests sets it for each
    Odoo tree, 18 or 19), by default 18."""
    return int(os.environ.get("VT_ODOO_MAJOR") or 18)


def import_odoo():
    """``import odoo``, set up as odoo-bin sets it up: in ``odoo.init`` on Odoo 19 (``odoo`` is
    a namespace package there), in ``odoo/__init__.py`` on Odoo 18."""
    with contextlib.suppress(ImportError):  # Odoo 18 has no odoo.init
        import odoo.init  # Odoo 19
    import odoo

    return odoo


class OdooUnavailable(Exception):
    """No Odoo tree, interpreter or PostgreSQL here (the message says which)."""


class OdooDatabase:
    """A throwaway database with vt_webmail installed: the ORM in this process, SQL, and Odoo
    subprocesses (see :meth:`make`)."""

    @classmethod
    def make(cls, prefix, *, reuse=None):
        """Create a database (``reuse``: the one of that name, updated, when it exists) and
        install vt_webmail in it with ``odoo-bin -i vt_webmail --stop-after-init`` (about a
        minute); loopback mail servers are allowed in it.

        :raises OdooUnavailable: no Odoo tree of :func:`odoo_major`, interpreter or PostgreSQL
        """
        major = odoo_major()
        odoo_path, problem = _odoo_env.odoo_tree(major)
        python, problem = (None, problem) if problem else _odoo_env.odoo_python(major)
        addons, problem = (None, problem) if problem else _odoo_env.addons_path(odoo_path)
        if problem:
            raise OdooUnavailable(problem)
        name = reuse or f"{prefix}_{time.strftime('%Y%m%d_%H%M%S')}_{secrets.token_hex(3)}"
        status, output = _odoo_env.pg_admin(python, "exists", name, timeout=60)
        existing = status == 0 and output.strip() == "yes"
        if status == 0 and not existing:
            status, output = _odoo_env.pg_admin(python, "create", name, timeout=60)
        if status == _odoo_env.PG_UNREACHABLE:
            raise OdooUnavailable(f"PostgreSQL is unreachable: {output}")
        if status != 0:
            raise RuntimeError(f"cannot create the database {name}: {output}")
        database = cls(name, odoo_path, python, addons,
                       Path(tempfile.mkdtemp(prefix=f"{prefix}_")), keep=bool(reuse))
        try:
            install = database.start("-u" if existing else "-i", "vt_webmail",
                                     "--stop-after-init",
                                     *_odoo_env.without_demo_options(major), "--no-http",
                                     "--log-level=warn", label="install")
            if install.wait(900) != 0:
                raise RuntimeError(f"installing vt_webmail failed:\n{install.log()[-5000:]}")
            with database.env() as env:
                # the test servers are on loopback: allowed as an administrator allows them
                env["ir.config_parameter"].set_param("vt_webmail.allowed_hosts", "127.0.0.1")
        except BaseException:
            database.drop()
            raise
        return database

    def drop(self, keep_logs=None):
        """Stop every process started, drop the database (unless it was reused) and remove
        the logs (``keep_logs``: copy them into that directory first)."""
        self.stop_all()
        self.close()
        if not self.keep:
            _odoo_env.pg_admin(self.python, "drop", self.name, timeout=120)
        if keep_logs:
            shutil.copytree(self.workdir, Path(keep_logs) / self.name, dirs_exist_ok=True)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __init__(self, name, odoo_path, python, addons, workdir, *, keep=False):
        self.name = name
        self.keep = keep
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

    def start(self, *args, label="odoo", config=None, env=None):
        log = self.workdir / f"{label}-{len(self.processes)}.log"
        process = Process(self.odoo_command(*args, config=config), log,
                          env=dict(os.environ, **(env or {})))
        self.processes.append(process)
        return process

    def start_worker(self, *args, label="worker", rescan=2):
        """The push worker, as an administrator starts it: the command (``rescan`` None: its
        default census interval)."""
        options = [f"--rescan={rescan}"] if rescan is not None else []
        return self.start("vt_webmail_idle", *options, "--log-level=info", *args, label=label)

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
            import_odoo()
            from odoo.modules.registry import Registry
            from odoo.tools import config

            config.parse_config([f"--addons-path={self.addons}", "-d", self.name,
                                 "--log-level=warn", *_odoo_env.db_options()],
                                setup_logging=False)
            self._registry = Registry(self.name)
        return self._registry

    @contextlib.contextmanager
    def env(self):
        """An environment as superuser on a new cursor, committed at the end of the block."""
        registry = self.registry().check_signaling()
        from odoo.api import SUPERUSER_ID, Environment

        with registry.cursor() as cr:
            yield Environment(cr, SUPERUSER_ID, {})

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
try:
    import odoo.init  # Odoo 19 sets itself up there (Odoo 18: in odoo/__init__.py)
except ImportError:
    pass
import odoo
from odoo.api import SUPERUSER_ID, Environment
from odoo.modules.registry import Registry
from odoo.tools import config
config.parse_config([f"--addons-path={addons}", "-d", dbname, "--log-level=info",
                     *db_options], setup_logging=True)
registry = Registry(dbname)
with registry.cursor() as cr:
    env = Environment(cr, SUPERUSER_ID, {})
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
