"""A private, real Dovecot IMAP server for tests and the demo.

:class:`DovecotServer` writes a configuration under a temporary directory, starts Debian's
``dovecot`` binary in the foreground on two free loopback ports and stops it again:

* ``imap_port``: plain IMAP that offers STARTTLS (security modes ``none`` and ``starttls``);
* ``imaps_port``: implicit TLS (security mode ``ssl``).

The server certificate is made at start by :func:`~.certs.make_test_pki` for ``localhost`` only,
so a client can verify it for real against :attr:`DovecotServer.ca_path`, and connecting to
``127.0.0.1`` with verification on is a host name mismatch. Users live in a passwd-file; mail is
seeded with APPEND, exactly as any other client would do it.

Run as root, Dovecot's own unprivileged users (``dovecot``, ``dovenull``) own the processes and
the mail; run as anyone else, everything runs as that user. Nothing is written outside the
temporary directory, which :meth:`DovecotServer.close` removes.
"""

import atexit
import contextlib
import grp
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from pathlib import Path

from imapclient import IMAPClient

from .certs import make_test_pki

DOVECOT_CANDIDATES = ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot")

#: Folders every test user gets, with their RFC 6154 special-use flag.
SPECIAL_FOLDERS = {
    "Sent": r"\Sent",
    "Drafts": r"\Drafts",
    "Trash": r"\Trash",
    "Junk": r"\Junk",
    "Archive": r"\Archive",
}

_APPENDUID = re.compile(rb"APPENDUID (\d+) ([\d:,]+)")
_live_servers = weakref.WeakSet()


class DovecotUnavailable(RuntimeError):
    """Dovecot is not installed, or failed to start (the message carries its log)."""


def find_dovecot():
    """Return the path of the ``dovecot`` binary, or ``None`` when it is not installed."""
    found = shutil.which("dovecot")
    if found:
        return found
    return next((path for path in DOVECOT_CANDIDATES if os.access(path, os.X_OK)), None)


def free_port(host="127.0.0.1"):
    """Return a TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _wait_for_port(host, port, deadline):
    while True:
        try:
            with socket.create_connection((host, port), timeout=1):
                return True
        except OSError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)


class DovecotServer:
    """One Dovecot instance on loopback; a context manager.

    :param capabilities: when given, the post-login CAPABILITY list Dovecot announces (for
        example without ``CONDSTORE QRESYNC`` to exercise a client's fallbacks)
    :param hostnames: names the server certificate is valid for
    :param tls: ``False`` for a server without any TLS: no STARTTLS offered, no implicit-TLS
        port (``imaps_port`` is ``None``)
    """

    host = "127.0.0.1"
    hostname = "localhost"

    def __init__(self, *, capabilities=None, hostnames=("localhost",), tls=True):
        self.binary = find_dovecot()
        if not self.binary:
            raise DovecotUnavailable(
                "dovecot is not installed: apt-get install dovecot-imapd"
            )
        self.capabilities = capabilities
        self.hostnames = hostnames
        self.root = Path(tempfile.mkdtemp(prefix="vt-dovecot-"))
        # Dovecot's login processes run as an unprivileged user that must reach base_dir.
        self.root.chmod(0o755)
        self.users = {}
        self.imap_port = free_port(self.host)
        self.tls = tls
        self.imaps_port = free_port(self.host) if tls else None
        self.pki = make_test_pki(self.root, hostnames)
        self._process = None
        self._log_file = None
        self._ids = self._process_ids()
        (self.root / "home").mkdir()
        (self.root / "passwd.d").mkdir()
        self._write_config()

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.close()

    @property
    def ca_path(self):
        """PEM file of the CA that signed the server certificate."""
        return self.pki.ca_path

    @property
    def log_path(self):
        return self.root / "dovecot.log"

    @property
    def running(self):
        return self._process is not None and self._process.poll() is None

    def start(self, timeout=15):
        """Start Dovecot (again, after :meth:`stop`, with the same ports and mail)."""
        if self.running:
            return self
        with contextlib.suppress(FileNotFoundError):
            (self.root / "run" / "master.pid").unlink()
        self._log_file = open(self.root / "stdout.log", "ab")  # noqa: SIM115 (closed in stop())
        self._process = subprocess.Popen(
            [self.binary, "-F", "-c", str(self.root / "dovecot.conf")],
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _live_servers.add(self)
        deadline = time.monotonic() + timeout
        for port in filter(None, (self.imap_port, self.imaps_port)):
            if not _wait_for_port(self.host, port, deadline) or not self.running:
                log = self.log_text()
                self.stop()
                raise DovecotUnavailable(f"dovecot did not start on port {port}:\n{log}")
        return self

    def stop(self, timeout=10):
        """Stop Dovecot, keeping its configuration, ports and mail for :meth:`start`."""
        process, self._process = self._process, None
        if process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout)
            # children left by the master (login processes) die with their session
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def kill(self):
        """Kill Dovecot at once, as a crash or a pulled cable would (then :meth:`start` again)."""
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)
        self.stop()

    def close(self):
        """Stop Dovecot and remove every file it had."""
        self.stop()
        _live_servers.discard(self)
        shutil.rmtree(self.root, ignore_errors=True)

    def log_text(self):
        """Dovecot's log so far (for failure messages)."""
        parts = []
        for name in ("stdout.log", "dovecot.log"):
            with contextlib.suppress(FileNotFoundError):
                parts.append((self.root / name).read_text(errors="replace"))
        return "".join(parts)

    # -- users and mail --------------------------------------------------------------------

    def add_user(self, login, password):
        """Create a mail user (passwd-file; Dovecot rereads it on change)."""
        if ":" in login or ":" in password or "\n" in login + password:
            raise ValueError("passwd-file fields cannot hold ':' or newlines")
        home = self.root / "home" / login
        home.mkdir(exist_ok=True)
        os.chown(home, self._ids["mail_uid"], self._ids["mail_gid"])
        self.users[login] = password
        # One passwd-file per user: Dovecot notices a rewritten shared file by mtime and size
        # only, so two users added within a second could be missed.
        entry = self.root / "passwd.d" / login
        entry.write_text(
            f"{login}:{{PLAIN}}{password}:{self._ids['mail_uid']}:{self._ids['mail_gid']}::"
            f"{home}\n"
        )
        entry.chmod(0o644)
        return login

    def client(self, login, *, password=None, timeout=10):
        """An IMAPClient logged in as ``login`` over plain loopback: "another mail client"."""
        client = IMAPClient(self.host, self.imap_port, ssl=False, timeout=timeout)
        client.login(login, password if password is not None else self.users[login])
        return client

    def append(self, login, folder, message, *, flags=(), msg_time=None):
        """APPEND one message (bytes) and return its UID."""
        with contextlib.closing(_Closing(self.client(login))) as holder:
            response = holder.client.append(folder, message, flags=flags, msg_time=msg_time)
        return _parse_appenduid(response)[0]

    def append_many(self, login, folder, messages, *, chunk=200):
        """APPEND many messages (bytes), ``chunk`` per MULTIAPPEND command when the server
        offers it (one by one otherwise); return their UIDs."""
        uids = []
        with contextlib.closing(_Closing(self.client(login, timeout=120))) as holder:
            client = holder.client
            if not client.has_capability("MULTIAPPEND"):
                return [_parse_appenduid(client.append(folder, message))[0]
                        for message in messages]
            batch = []
            for message in messages:
                batch.append(message)
                if len(batch) >= chunk:
                    uids += _parse_appenduid(client.multiappend(folder, batch))
                    batch = []
            if batch:
                uids += _parse_appenduid(client.multiappend(folder, batch))
        return uids

    # -- internals ---------------------------------------------------------------------------

    @staticmethod
    def _process_ids():
        if os.geteuid() != 0:
            user = pwd.getpwuid(os.geteuid()).pw_name
            group = grp.getgrgid(os.getegid()).gr_name
            return {
                "internal_user": user, "internal_group": group, "login_user": user,
                "mail_uid": os.geteuid(), "mail_gid": os.getegid(),
            }
        # Dovecot refuses to run its login processes, or mail of uid 0, as root.
        try:
            internal = pwd.getpwnam("dovecot")
            login = pwd.getpwnam("dovenull").pw_name
        except KeyError:
            internal = pwd.getpwnam("nobody")
            login = internal.pw_name
        return {
            "internal_user": internal.pw_name,
            "internal_group": grp.getgrgid(internal.pw_gid).gr_name,
            "login_user": login,
            "mail_uid": internal.pw_uid,
            "mail_gid": internal.pw_gid,
        }

    def _write_config(self):
        root = self.root
        folders = "\n".join(
            f"  mailbox {name} {{\n    special_use = {flag}\n    auto = subscribe\n  }}"
            for name, flag in SPECIAL_FOLDERS.items()
        )
        if self.tls:
            tls = (f"ssl = yes\nssl_cert = <{self.pki.cert_path}\n"
                   f"ssl_key = <{self.pki.key_path}\n")
            imaps = f"  inet_listener imaps {{\n    port = {self.imaps_port}\n    ssl = yes\n  }}\n"
        else:
            tls, imaps = "ssl = no\n", ""
        capability = (
            f"imap_capability = {' '.join(self.capabilities)}\n" if self.capabilities else ""
        )
        ids = self._ids
        config = f"""# generated by vt_webmail.testing.dovecot
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap
listen = {self.host}
default_internal_user = {ids['internal_user']}
default_internal_group = {ids['internal_group']}
default_login_user = {ids['login_user']}
first_valid_uid = 1
first_valid_gid = 1
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
mail_max_userip_connections = 200
{tls}mail_location = maildir:~/Maildir
{capability}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd.d/%u
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/passwd.d/%u
}}
namespace inbox {{
  inbox = yes
  separator = /
{folders}
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    port = {self.imap_port}
  }}
{imaps}}}
service anvil {{
  chroot =
  # no growing delay after failed logins: tests use wrong passwords on purpose, and the
  # penalty (by client IP, up to 15 s) would slow every later login from loopback
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""
        (root / "dovecot.conf").write_text(config)


class _Closing:
    """Log out of an IMAPClient however the block ends."""

    def __init__(self, client):
        self.client = client

    def close(self):
        with contextlib.suppress(Exception):
            self.client.logout()


def _parse_appenduid(response):
    if isinstance(response, tuple):  # multiappend() answers imaplib's (type, data)
        response = b" ".join(item for item in response[1] if isinstance(item, bytes))
    match = _APPENDUID.search(response or b"")
    if not match:
        raise RuntimeError(f"no APPENDUID in {response!r}")
    uids = []
    for part in match.group(2).split(b","):
        low, _, high = part.partition(b":")
        uids.extend(range(int(low), int(high or low) + 1))
    return uids


@atexit.register
def _stop_leftovers():
    """A test run that crashes must not leave Dovecot processes behind."""
    for server in list(_live_servers):
        server.close()
