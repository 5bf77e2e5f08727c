"""A private, real Courier-IMAP server (with courier-authlib) for tests.

:class:`CourierServer` runs Debian 12's Courier-IMAP 5.0.13 from a private prefix, unpacked by
``tools/imap-servers/get-courier`` into ``$VT_IMAP_SERVERS/courier`` (default
``/opt/vt-imap-servers/courier``): the Debian package cannot be installed next to Dovecot (both
provide ``imap-server``), so it never is.

How it runs (``courier-ns.sh``, next to this module): Courier has its paths compiled in
(``/usr/lib/courier``, ``/etc/courier``, ``/run/courier/authdaemon/socket``,
``/usr/lib/courier-authlib``), so the server starts under ``unshare --mount --pid``: in that
private mount namespace only, the prefix's ``/usr`` is overlaid on the real one, and the
temporary root's ``etc/courier`` and ``run`` are bound on ``/etc/courier`` and ``/run/courier``.
Nothing is written outside the temporary root, and servers run side by side. Inside, the
wrapper starts what Debian's init scripts start, with Debian's configuration files plus a few
overrides at their end (loopback address, free ports, connection limits, certificate):

* ``authdaemond`` with the ``authuserdb`` module: real courier-authlib authentication against
  ``/etc/courier/userdb.dat``, rebuilt by ``makeuserdb`` for every :meth:`CourierServer.add_user`;
* ``couriertcpd`` → ``imaplogin`` → ``imapd`` on ``imap_port``: plain IMAP, plaintext LOGIN
  allowed, STARTTLS offered (``couriertls``);
* ``couriertcpd`` → ``couriertls`` → ``imaplogin`` → ``imapd`` on ``imaps_port``: implicit TLS.

Every Courier process runs as the system user ``courier`` (the wrapper only mounts as root), and
so does every user's Maildir. The wrapper is PID 1 of its PID namespace: when it ends, the
kernel kills every process left in it, including ``couriertcpd``, which starts sessions of its
own that a process-group kill would miss.

Running it needs root (mount namespaces); without root, or without the prefix,
:class:`CourierServer` raises :class:`CourierUnavailable` (a :class:`ServerUnavailable`).
"""

import base64
import contextlib
import functools
import hashlib
import os
import pwd
import re
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

from .imap_server import SPECIAL_FOLDERS, ImapTestServer, ServerUnavailable

__all__ = ["CourierServer", "CourierUnavailable", "courier_prefix", "find_courier"]

#: the script that installs Courier where :func:`find_courier` looks
GET_COURIER = "tools/imap-servers/get-courier"
DEFAULT_SERVERS_DIR = "/opt/vt-imap-servers"
WRAPPER = Path(__file__).with_name("courier-ns.sh")
#: the system user every Courier process and every Maildir belongs to (created by get-courier)
COURIER_USER = "courier"
#: the folder hierarchy of Courier's default namespace (``NAMESPACE (("INBOX." ".")) ...``)
FOLDER_PREFIX = "INBOX."
_LOGIN_FORBIDDEN = re.compile(r"[\s|/]|^\.|^$")


class CourierUnavailable(ServerUnavailable):
    """Courier is not installed, cannot run here, or failed to start (the message says why)."""


def courier_prefix():
    """Where ``get-courier`` installs Courier: ``$VT_IMAP_SERVERS/courier``."""
    return Path(os.environ.get("VT_IMAP_SERVERS") or DEFAULT_SERVERS_DIR) / "courier"


def find_courier():
    """Return the prefix Courier is unpacked in, or ``None`` when it is not installed."""
    prefix = courier_prefix()
    if all(os.access(prefix / program, os.X_OK) for program in (
            "usr/bin/imapd", "usr/sbin/couriertcpd", "usr/lib/courier/courier/imaplogin",
            "usr/lib/courier/courier-authlib/authdaemond", "usr/sbin/makeuserdb")):
        return prefix
    return None


@functools.lru_cache(maxsize=4)
def courier_version_line(prefix):
    """``imapd --version``: "Courier 1.0.16 (Courier-IMAP 5.0.13)/x86_64-pc-linux-gnu/..."."""
    prefix = Path(prefix)
    library_path = ":".join(str(prefix / path) for path in (
        "usr/lib", "usr/lib/x86_64-linux-gnu", "usr/lib/courier-authlib"))
    done = subprocess.run(
        [prefix / "usr/bin/imapd", "--version"], capture_output=True, text=True, check=False,
        env={**os.environ, "LD_LIBRARY_PATH": library_path}, timeout=10,
    )
    return done.stdout.strip() or "unknown"


def userdb_password(password):
    """``password`` as a ``systempw`` value of courier-authlib's userdb (``{SHA512}``: one of
    the schemes authlib's checkpassword understands besides crypt())."""
    digest = hashlib.sha512(password.encode()).digest()
    return "{SHA512}" + base64.b64encode(digest).decode("ascii")


class CourierServer(ImapTestServer):
    """One Courier-IMAP instance on loopback; a context manager.

    Folders keep Courier's default naming, which a client must cope with: one personal
    namespace ``"INBOX."`` with ``.`` as separator, so every folder is below INBOX.
    :data:`~.imap_server.SPECIAL_FOLDERS` are ``INBOX.Sent``, ``INBOX.Drafts``,
    ``INBOX.Trash``, ``INBOX.Junk`` and ``INBOX.Archive`` (Courier has no SPECIAL-USE: LIST
    shows no ``\\Sent`` flag, only the names); :meth:`folder_name` gives a folder's real name, so
    a test is written once for every server.

    Other Courier defaults are kept as they are, and a client must cope with them too: no
    MULTIAPPEND (:meth:`append_many` APPENDs one message at a time), CONDSTORE, ESEARCH, MOVE
    or ID; no ``[UIDNEXT]`` in SELECT/EXAMINE answers (STATUS has it); field names quoted in
    FETCH answers (``BODY[HEADER.FIELDS ("SUBJECT")]``); ``UID SEARCH UID *`` matches
    nothing; every failed LOGIN is answered after 5 s (hard-coded in imaplogin); and
    ``IMAP_EMPTYTRASH=Trash:7`` purges messages older than 7 days (by internal date) from
    ``INBOX.Trash`` at logout.

    :param hostnames: names the server certificate is valid for
    :param tls: ``False`` for a server without any TLS: no STARTTLS offered, no implicit-TLS
        port (``imaps_port`` is ``None``)
    :raises CourierUnavailable: Courier is not installed (see ``tools/imap-servers/get-courier``),
        or this process is not root
    """

    name = "courier"
    log_files = ("stdout.log",)

    def __init__(self, *, hostnames=("localhost",), tls=True):
        self.prefix = find_courier()
        if self.prefix is None:
            raise CourierUnavailable(
                f"Courier-IMAP is not installed in {courier_prefix()}: run {GET_COURIER} "
                "(as root)"
            )
        if os.geteuid() != 0:
            raise CourierUnavailable(
                "Courier-IMAP runs in a private mount namespace, which needs root"
            )
        try:
            self._user = pwd.getpwnam(COURIER_USER)
        except KeyError:
            raise CourierUnavailable(
                f"no system user {COURIER_USER!r}: run {GET_COURIER} (as root)"
            ) from None
        for tool in ("unshare", "nsenter", "setpriv", "perl"):
            if not shutil.which(tool):
                raise CourierUnavailable(f"{tool} not found: run {GET_COURIER} (as root)")
        super().__init__(hostnames=hostnames, tls=tls, prefix="vt-courier-")
        self._users_lock = threading.Lock()
        self._userdb_entries = {}
        self._pid_namespace = None
        self.etc = self.root / "etc" / "courier"
        for directory in (self.etc, self.root / "run" / "authdaemon", self.root / "home"):
            directory.mkdir(parents=True)
        self._write_config()
        self._chown(self.root / "etc", self.root / "run", self.root / "home")
        (self.root / "run" / "authdaemon").chmod(0o750)

    @property
    def version(self):
        """Courier-IMAP's version, e.g. ``"5.0.13"`` (see :attr:`version_line`)."""
        match = re.search(r"Courier-IMAP ([\w.]+)", self.version_line)
        return match.group(1) if match else self.version_line

    @property
    def version_line(self):
        """What ``imapd --version`` says: Courier's and Courier-IMAP's versions, build date."""
        return courier_version_line(str(self.prefix))

    def folder_name(self, name):
        """The real name of the folder called ``name`` elsewhere: ``"Sent"`` is
        ``"INBOX.Sent"``; ``"INBOX"`` and names already below it are unchanged."""
        if name.upper() == "INBOX" or name.upper().startswith(FOLDER_PREFIX):
            return name
        return FOLDER_PREFIX + name.replace("/", ".")

    # -- lifecycle ---------------------------------------------------------------------------

    def _command(self):
        return [
            "unshare", "--mount", "--pid", "--fork", "--kill-child", "--propagation", "private",
            "sh", str(WRAPPER), str(self.prefix), str(self.root), COURIER_USER, "serve",
        ]

    def _before_start(self):
        for stale in ("socket", "pid", "socket.tmp"):
            with contextlib.suppress(FileNotFoundError):
                (self.root / "run" / "authdaemon" / stale).unlink()

    def start(self, timeout=15):
        """Start Courier (again, after :meth:`stop`, with the same ports and mail); return
        once both ports accept connections and authdaemond listens."""
        deadline = time.monotonic() + timeout
        try:
            super().start(timeout)
        except ServerUnavailable as exc:
            if isinstance(exc, CourierUnavailable):
                raise
            raise CourierUnavailable(str(exc)) from None
        self._pid_namespace = os.readlink(f"/proc/{self._process.pid}/ns/pid_for_children")
        socket_path = self.root / "run" / "authdaemon" / "socket"
        while not socket_path.exists():
            if time.monotonic() > deadline or not self.running:
                log = self.log_text()
                self.stop()
                raise CourierUnavailable(f"courier's authdaemond did not start:\n{log}")
            time.sleep(0.02)
        return self

    def stop(self, timeout=10):
        """Stop Courier (every process of its PID namespace), keeping ports and mail."""
        result = super().stop(timeout)
        # the kernel tears the namespace down after unshare has gone: wait for the last one
        deadline = time.monotonic() + timeout
        while self.pids() and time.monotonic() < deadline:
            time.sleep(0.02)
        self._pid_namespace = None
        return result

    def pids(self):
        """PIDs of the processes still running in the server's PID namespace (empty once it
        is stopped or killed)."""
        if self._pid_namespace is None:
            return []
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    if os.readlink(entry / "ns" / "pid") == self._pid_namespace:
                        found.append(int(entry.name))
        return found

    # -- users and mail ----------------------------------------------------------------------

    def client(self, login, *, password=None, timeout=10):
        """An IMAPClient logged in as ``login`` over plain loopback, with Nagle off.

        Without MULTIAPPEND, :meth:`append_many` sends one APPEND per message; with Nagle on,
        imaplib's literal and the CRLF after it go out as two small writes and the second
        waits for Courier's delayed ACK: about 40 ms per message instead of 3.
        """
        client = super().client(login, password=password, timeout=timeout)
        client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return client

    def add_user(self, login, password):
        """Create a mail user: a Maildir with INBOX and the folders of
        :data:`~.imap_server.SPECIAL_FOLDERS` (subscribed), a userdb entry, then
        ``makeuserdb``; authdaemond sees the new ``userdb.dat`` at the next login. Works
        whether the server runs or not."""
        if _LOGIN_FORBIDDEN.search(login) or "\x00" in password:
            raise ValueError(f"not a userdb login, or a NUL in the password: {login!r}")
        home = self.root / "home" / login
        maildir = home / "Maildir"
        folders = [maildir] + [maildir / f".{name}" for name in SPECIAL_FOLDERS]
        for folder in folders:
            for sub in ("cur", "new", "tmp"):
                (folder / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
        for folder in folders[1:]:
            (folder / "maildirfolder").touch()
        (maildir / "courierimapsubscribed").write_text(
            "".join(f"{self.folder_name(name)}\n" for name in SPECIAL_FOLDERS))
        self._chown(home)
        entry = (
            f"{login}\tuid={self._user.pw_uid}|gid={self._user.pw_gid}|home={home}"
            f"|systempw={userdb_password(password)}\n"
        )
        with self._users_lock:
            self._userdb_entries[login] = entry  # a login added again gets its new password
            userdb = self.etc / "userdb"
            userdb.write_text("".join(self._userdb_entries.values()))
            self._as_courier("/usr/sbin/makeuserdb")
            self.users[login] = password
        return login

    # -- internals ---------------------------------------------------------------------------

    def _as_courier(self, *command):
        """Run ``command`` as the courier user with the server's view of the file system: in
        the running server's mount namespace, or in a namespace of its own."""
        if self.running:
            argv = ["nsenter", f"--mount=/proc/{self._process.pid}/ns/mnt", "--",
                    "setpriv", f"--reuid={COURIER_USER}", f"--regid={COURIER_USER}",
                    "--init-groups", "--", *command]
        else:
            argv = ["unshare", "--mount", "--propagation", "private", "sh", str(WRAPPER),
                    str(self.prefix), str(self.root), COURIER_USER, "exec", *command]
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
        if done.returncode:
            raise CourierUnavailable(
                f"{' '.join(command)} failed ({done.returncode}): {done.stdout}{done.stderr}")

    def _chown(self, *paths):
        uid, gid = self._user.pw_uid, self._user.pw_gid
        for path in paths:
            os.chown(path, uid, gid)
            for parent, dirs, files in os.walk(path):
                for name in dirs + files:
                    os.chown(os.path.join(parent, name), uid, gid, follow_symlinks=False)

    def _write_config(self):
        """Debian's packaged configuration files, each with our overrides appended (the start
        scripts source them as shell, so the last assignment wins)."""
        packaged = self.prefix / "etc" / "courier"
        pem = self.etc / "imapd.pem"
        # Courier wants the certificate and its key in one file
        pem.write_bytes(self.pki.cert_path.read_bytes() + self.pki.key_path.read_bytes())
        pem.chmod(0o600)
        tls = "YES" if self.tls else "NO"
        overrides = {
            "imapd": f"""
ADDRESS={self.host}
PORT={self.imap_port}
# tests open many connections from one address
MAXDAEMONS=400
MAXPERIP=200
PIDFILE=/run/courier/imapd.pid
IMAPDSTART=YES
""",
            "imapd-ssl": f"""
SSLADDRESS={self.host}
SSLPORT={self.imaps_port or 0}
SSLPIDFILE=/run/courier/imapd-ssl.pid
IMAPDSSLSTART={tls}
IMAPDSTARTTLS={tls}
TLS_CERTFILE=/etc/courier/imapd.pem
TLS_CACHEFILE=/run/courier/couriersslcache
""",
            "authdaemonrc": """
authmodulelist="authuserdb"
authdaemonvar=/run/courier/authdaemon
""",
        }
        for name, extra in overrides.items():
            text = (packaged / name).read_text()
            (self.etc / name).write_text(
                f"{text}\n# overrides of vt_webmail.testing.courier\n{extra}")
        userdb = self.etc / "userdb"
        userdb.touch()
        userdb.chmod(0o600)  # makeuserdb refuses a userdb that others can read
