"""What tools/run-tests and tools/demo share: finding Odoo 18 and 19, their interpreters,
PostgreSQL and Dovecot, and installing the addon's Python requirements into Odoo's interpreter.

Standard library only: both commands import this before any virtualenv exists. The variables
are the same for both: ``ODOO_PATH`` (Odoo 18, default /opt/odoo18), ``ODOO_PYTHON`` (default
/opt/odoo18-venv/bin/python), ``ODOO19_PATH`` (Odoo 19, default /opt/odoo19),
``ODOO19_PYTHON`` (default /opt/odoo19-venv/bin/python),
``PGHOST``/``PGPORT``/``PGUSER``/``PGPASSWORD``.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ADDON = "vt_webmail"
#: An Odoo version vt_webmail supports, and the variables that point at its tree and interpreter
OdooSeries = namedtuple("OdooSeries", "major path_variable python_variable default_path "
                                      "default_python")
#: The supported Odoo versions, oldest first: each has a source tree and an interpreter of its own
ODOO_SERIES = {
    18: OdooSeries(18, "ODOO_PATH", "ODOO_PYTHON", "/opt/odoo18", "/opt/odoo18-venv/bin/python"),
    19: OdooSeries(19, "ODOO19_PATH", "ODOO19_PYTHON", "/opt/odoo19",
                   "/opt/odoo19-venv/bin/python"),
}
DOVECOT_CANDIDATES = ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot")
# What the test servers of vt_webmail.testing (Dovecot, aiosmtpd, the throwaway PKI) need in
# Odoo's interpreter on top of requirements.txt. Unversioned on purpose: Odoo pins its own
# cryptography, never upgrade it here.
TESTING_EXTRAS = ("aiosmtpd", "cryptography")
#: pg_admin() exit status when PostgreSQL cannot be reached at all
PG_UNREACHABLE = 3


class SetupError(Exception):
    """A prerequisite is missing; the message says how to get it."""


def capture(cmd, timeout=120, env=None):
    """Run a short helper command; return (status, combined output)."""
    try:
        done = subprocess.run(
            [str(part) for part in cmd], cwd=REPO, stdin=subprocess.DEVNULL, env=env,
            capture_output=True, text=True, errors="replace", timeout=timeout, check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 1, str(exc)
    return done.returncode, (done.stdout + done.stderr).strip()


# ---------------------------------------------------------------------------------------------
# Python requirements


def read_requirements(path):
    """Requirement lines of a pip requirements file, following ``-r`` includes."""
    found = []
    for raw in Path(path).read_text().splitlines():
        line = re.sub(r"(^|\s)#.*", "", raw).strip()
        if not line:
            continue
        if line.startswith(("-r ", "--requirement ")):
            found += read_requirements(Path(path).parent / line.split(None, 1)[1])
        elif not line.startswith("-"):
            found.append(line)
    return found


_CHECK_REQUIREMENTS = r"""
import sys
from importlib import metadata
try:
    from packaging.requirements import Requirement
except ImportError:
    from pip._vendor.packaging.requirements import Requirement
for line in sys.argv[1:]:
    req = Requirement(line)
    try:
        version = metadata.version(req.name)
    except metadata.PackageNotFoundError:
        print(line)
        continue
    if req.specifier and not req.specifier.contains(version, prereleases=True):
        print(f"{line} (installed: {version})")
"""


def missing_requirements(python, requirements):
    """The requirements ``python`` does not satisfy (all of them if it cannot tell)."""
    status, output = capture([python, "-c", _CHECK_REQUIREMENTS, *requirements], timeout=60)
    if status != 0:
        return list(requirements)
    return [line for line in output.splitlines() if line.strip()]


def ensure_requirements(python, requirements, *, say, run=None):
    """Install what ``python`` lacks of ``requirements`` with its own pip.

    :param say: callable for one progress line
    :param run: callable(cmd) -> exit status that runs pip (default: subprocess.call)
    :raises SetupError: pip failed, or the requirements are still not met afterwards
    """
    missing = missing_requirements(python, requirements)
    if not missing:
        return
    say(f"Odoo's interpreter {python} lacks {', '.join(missing)}: "
        "installing them into it with its pip")
    cmd = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
           *[line.split(" (installed")[0] for line in missing]]
    status = (run or subprocess.call)(cmd)
    if status != 0:
        raise SetupError(f"pip install into {python} failed")
    still = missing_requirements(python, requirements)
    if still:
        raise SetupError(f"{python} still lacks {', '.join(still)} after pip install")


def odoo_requirements(extras=()):
    """requirements.txt of the addon plus ``extras``."""
    return read_requirements(REPO / "requirements.txt") + list(extras)


# ---------------------------------------------------------------------------------------------
# Odoo


def odoo_tree(major=18):
    """(path, problem): the Odoo ``major`` tree ($ODOO_PATH for 18, $ODOO19_PATH for 19), or
    why there is none (problem starts with "no Odoo" when there is no tree at all, as opposed
    to a tree of another version)."""
    series = ODOO_SERIES[major]
    path = Path(os.environ.get(series.path_variable) or series.default_path).expanduser()
    if not (path / "odoo-bin").is_file():
        return path, f"no Odoo {major} tree at {path}; set {series.path_variable}"
    found = odoo_major(path)
    if found != major:
        return path, f"{path} is Odoo {found or '?'}, not {major}; set {series.path_variable}"
    return path, None


def odoo_major(path):
    """The major version of the Odoo tree at ``path`` (from odoo/release.py), or None."""
    try:
        text = (path / "odoo" / "release.py").read_text()
    except OSError:
        return None
    match = re.search(r"^version_info\s*=\s*\((\d+)", text, re.MULTILINE)
    return int(match.group(1)) if match else None


def odoo_python(major=18):
    """(path, problem): the interpreter that runs Odoo ``major`` ($ODOO_PYTHON for 18,
    $ODOO19_PYTHON for 19), or why it is unusable."""
    series = ODOO_SERIES[major]
    python = Path(os.environ.get(series.python_variable) or series.default_python).expanduser()
    if not os.access(python, os.X_OK):
        return python, f"no Odoo {major} interpreter {python}; set {series.python_variable}"
    return python, None


def without_demo_options(major):
    """odoo-bin's options for a database without demo data: Odoo 18 loads demo data unless
    told ``--without-demo=all``; Odoo 19 loads none unless told ``--with-demo`` (and warns
    about ``--without-demo=all``)."""
    return ["--without-demo=all"] if major < 19 else []


def addons_path(odoo_path, module=ADDON):
    """(list of addons directories, problem): Odoo's, this repository's, $VT_ADDONS_PATH_EXTRA;
    problem is set when ``module`` is on none of them."""
    paths = [f"{odoo_path}/addons", f"{odoo_path}/odoo/addons", str(REPO)]
    paths += [p for p in os.environ.get("VT_ADDONS_PATH_EXTRA", "").split(",") if p]
    if not any((Path(path) / module / "__manifest__.py").is_file() for path in paths):
        return paths, f"no {module}/__manifest__.py on the addons path"
    return paths, None


def db_options():
    """odoo-bin options for $PGHOST/$PGPORT/$PGUSER (libpq reads PGPASSWORD itself)."""
    options = []
    for variable, option in (("PGHOST", "--db_host"), ("PGPORT", "--db_port"),
                             ("PGUSER", "--db_user")):
        if os.environ.get(variable):
            options.append(f"{option}={os.environ[variable]}")
    return options


# ---------------------------------------------------------------------------------------------
# PostgreSQL, through Odoo's interpreter (which has psycopg2)


_PG_ADMIN = r"""
import sys
import psycopg2
from psycopg2 import sql
action, name = sys.argv[1:3]
try:
    conn = psycopg2.connect(dbname="postgres", connect_timeout=10)
except psycopg2.OperationalError as exc:
    print(str(exc).strip())
    sys.exit(3)
conn.autocommit = True
try:
    with conn.cursor() as cr:
        if action == "create":
            # the same database Odoo itself would create (odoo/service/db.py)
            cr.execute(sql.SQL("CREATE DATABASE {} ENCODING 'unicode' LC_COLLATE 'C' "
                               "TEMPLATE template0").format(sql.Identifier(name)))
        elif action == "exists":
            cr.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            print("yes" if cr.fetchone() else "no")
        else:
            cr.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                       .format(sql.Identifier(name)))
except psycopg2.Error as exc:
    print(str(exc).strip())
    sys.exit(4)
"""


def pg_admin(python, action, name, timeout=120):
    """``create``, ``drop`` (if it exists, even in use) or ``exists`` database ``name``.

    Returns (status, output): 0 on success (``exists`` prints yes/no), :data:`PG_UNREACHABLE`
    when PostgreSQL cannot be reached, 4 when PostgreSQL refused the command.
    """
    return capture([python, "-c", _PG_ADMIN, action, name], timeout=timeout)


def pg_unreachable_hint(output):
    """A paragraph explaining how to make PostgreSQL reachable."""
    where = f"host {os.environ['PGHOST']}" if os.environ.get("PGHOST") else "the local socket"
    return (f"PostgreSQL is unreachable on {where} as "
            f"{os.environ.get('PGUSER') or 'the current user'}: {output}\n"
            "    start it (pg_ctlcluster 15 main start), create a superuser role for this "
            "user (su postgres -c 'createuser -s USER'), or set PGHOST/PGUSER")


# ---------------------------------------------------------------------------------------------
# misc


def find_dovecot():
    """The ``dovecot`` binary, or None."""
    return shutil.which("dovecot") or next(
        (path for path in DOVECOT_CANDIDATES if os.access(path, os.X_OK)), None)


def free_port():
    """A TCP port on 127.0.0.1 nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_in_use(port, host="127.0.0.1"):
    """True when something accepts connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


class Terminated(BaseException):
    """SIGTERM or SIGHUP: unwind like Ctrl-C, so that everything started is removed."""


def _raise_terminated(signum, _frame):
    raise Terminated(signum)


def run_in_odoo_python(script, run, marker, *, say, major=18):
    """A benchmark's ``main``: re-execute ``script`` (its ``__file__``) in Odoo's interpreter
    (once: ``marker`` is the environment variable that says it is done), then call ``run()``;
    Ctrl-C, SIGTERM and SIGHUP unwind it (its ``finally`` clauses remove what it started).

    :returns: the exit status: ``run()``'s (``None`` is 0), 1 without Odoo's interpreter,
        130 on Ctrl-C, 143 on SIGTERM or SIGHUP
    """
    # also when started with SIGINT ignored (a background job)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_terminated)
    if not os.environ.get(marker):
        python, problem = odoo_python(major)
        if problem:
            say(problem)
            return 1
        os.environ[marker] = "1"
        os.execv(str(python), [str(python), script, *sys.argv[1:]])
    try:
        return run() or 0
    except KeyboardInterrupt:
        return 130
    except Terminated:
        return 143
