"""What every private IMAP test server shares: ports, lifecycle, users' mail by APPEND.

:class:`ImapTestServer` is the base of :class:`~.dovecot.DovecotServer`, and of the Cyrus and
Courier servers: a subclass writes its configuration and says how to start the server
(:meth:`ImapTestServer._command`) and how to add a user; starting, stopping, killing, logging
in as "another mail client" and seeding mail with APPEND are the same for all of them.

Every server listens on two free loopback ports: ``imap_port`` (plain IMAP offering STARTTLS)
and ``imaps_port`` (implicit TLS), with a certificate made at start by
:func:`~.certs.make_test_pki` for ``localhost``, so a client verifies it for real against
:attr:`ImapTestServer.ca_path`.
"""

import atexit
import contextlib
import os
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


class ServerUnavailable(RuntimeError):
    """The server is not installed, or failed to start (the message says how to get it, or
    carries its log)."""


def server_required(name):
    """True when ``VT_REQUIRE_IMAP_SERVERS`` (``all``, or a comma list of names; ``.ci/run``
    sets it) names the server: its absence must then fail the tests, not skip them."""
    wanted = {part.strip().lower() for part in
              os.environ.get("VT_REQUIRE_IMAP_SERVERS", "").split(",") if part.strip()}
    return "all" in wanted or name in wanted


def free_port(host="127.0.0.1"):
    """Return a TCP port on ``host`` that nothing listens on right now."""
    return free_ports(1, host)[0]


def free_ports(count, host="127.0.0.1"):
    """``count`` different TCP ports on ``host`` that nothing listens on right now.

    The sockets are held until all are chosen: asked one after the other, the kernel may hand
    out the same port twice (seen: Dovecot then refuses "duplicate listener").
    """
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((host, 0))
            ports.append(sock.getsockname()[1])
        return ports


def wait_for_port(host, port, deadline):
    """True once ``host:port`` accepts a connection, False at ``deadline`` (monotonic)."""
    while True:
        try:
            with socket.create_connection((host, port), timeout=1):
                return True
        except OSError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)


def wait_for_port_closed(host, port, deadline):
    """True once ``host:port`` refuses connections, False at ``deadline`` (monotonic).

    A server's children killed with their process group may still hold a listening socket for
    a moment after the parent has been reaped.
    """
    while time.monotonic() <= deadline:
        try:
            with socket.create_connection((host, port), timeout=1):
                time.sleep(0.02)
        except ConnectionRefusedError:
            return True
        except OSError:
            time.sleep(0.02)  # reset by a process on its way out: look again
    return False


class ImapTestServer:
    """One private IMAP server on loopback; a context manager.

    Subclasses set :attr:`name`, write their configuration in ``__init__`` (after calling
    this one) and implement :meth:`_command`, :meth:`add_user` and :attr:`version`.

    :param hostnames: names the server certificate is valid for
    :param tls: ``False`` for a server without any TLS: no STARTTLS offered, no implicit-TLS
        port (``imaps_port`` is ``None``)
    """

    #: short name of the software ("dovecot", "cyrus", "courier")
    name = None
    host = "127.0.0.1"
    hostname = "localhost"
    #: log files under :attr:`root` that :meth:`log_text` shows, in order
    log_files = ("stdout.log",)

    def __init__(self, *, hostnames=("localhost",), tls=True, prefix="vt-imap-"):
        self.hostnames = hostnames
        self.root = Path(tempfile.mkdtemp(prefix=prefix))
        # the servers' unprivileged processes must reach their files under root
        self.root.chmod(0o755)
        self.users = {}
        self.tls = tls
        self.imap_port, self.imaps_port = free_ports(2, self.host)
        if not tls:
            self.imaps_port = None
        self.pki = make_test_pki(self.root, hostnames)
        self._process = None
        self._log_file = None

    def __repr__(self):
        return f"<{type(self).__name__} {self.host}:{self.imap_port}/{self.imaps_port}>"

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
    def version(self):
        """The server software's version, as it reports it."""
        raise NotImplementedError

    @property
    def running(self):
        return self._process is not None and self._process.poll() is None

    def _command(self):
        """The command line that runs the server in the foreground."""
        raise NotImplementedError

    def _before_start(self):
        """Called before every start (clean stale pid files and the like)."""

    def start(self, timeout=15):
        """Start the server (again, after :meth:`stop`, with the same ports and mail)."""
        if self.running:
            return self
        self._before_start()
        self._log_file = open(self.root / "stdout.log", "ab")  # noqa: SIM115 (closed in stop())
        self._process = subprocess.Popen(
            self._command(),
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _live_servers.add(self)
        deadline = time.monotonic() + timeout
        for port in filter(None, (self.imap_port, self.imaps_port)):
            if not wait_for_port(self.host, port, deadline) or not self.running:
                log = self.log_text()
                self.stop()
                raise ServerUnavailable(f"{self.name} did not start on port {port}:\n{log}")
        return self

    def stop(self, timeout=10):
        """Stop the server, keeping its configuration, ports and mail for :meth:`start`."""
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
            deadline = time.monotonic() + timeout
            for port in filter(None, (self.imap_port, self.imaps_port)):
                wait_for_port_closed(self.host, port, deadline)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def kill(self):
        """Kill the server at once, as a crash or a pulled cable would (then :meth:`start`)."""
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)
        self.stop()

    def close(self):
        """Stop the server and remove every file it had."""
        self.stop()
        _live_servers.discard(self)
        shutil.rmtree(self.root, ignore_errors=True)

    def log_text(self):
        """The server's log so far (for failure messages)."""
        parts = []
        for name in self.log_files:
            with contextlib.suppress(FileNotFoundError):
                parts.append((self.root / name).read_text(errors="replace"))
        return "".join(parts)

    # -- users and mail --------------------------------------------------------------------

    def add_user(self, login, password):
        """Create a mail user with the special folders of :data:`SPECIAL_FOLDERS`; return
        ``login``."""
        raise NotImplementedError

    def folder_name(self, name):
        """The full name on this server of the folder called ``name`` ("Sent", "Projects/A")
        in a test: the same here, ``INBOX.Sent`` on a server that keeps folders under INBOX."""
        return name

    def client(self, login, *, password=None, timeout=10):
        """An IMAPClient logged in as ``login`` over plain loopback: "another mail client"."""
        client = IMAPClient(self.host, self.imap_port, ssl=False, timeout=timeout)
        try:
            client.login(login, password if password is not None else self.users[login])
        except BaseException:
            with contextlib.suppress(Exception):
                client.shutdown()
            raise
        return client

    def append(self, login, folder, message, *, flags=(), msg_time=None):
        """APPEND one message (bytes) and return its UID."""
        with contextlib.closing(_Closing(self.client(login))) as holder:
            response = holder.client.append(folder, message, flags=flags, msg_time=msg_time)
        return parse_appenduid(response)[0]

    def append_many(self, login, folder, messages, *, chunk=200):
        """APPEND many messages (bytes), ``chunk`` per MULTIAPPEND command when the server
        offers it (one by one otherwise); return their UIDs."""
        uids = []
        with contextlib.closing(_Closing(self.client(login, timeout=120))) as holder:
            client = holder.client
            if not client.has_capability("MULTIAPPEND"):
                return [parse_appenduid(client.append(folder, message))[0]
                        for message in messages]
            batch = []
            for message in messages:
                # An explicit empty flag list before each message: IMAPClient 4.1 sends two
                # spaces between two literals that follow each other ("{n+}\r\n... {m+}"),
                # which Dovecot tolerates and Cyrus answers with BAD.
                batch.append({"msg": message, "flags": ()})
                if len(batch) >= chunk:
                    uids += parse_appenduid(client.multiappend(folder, batch))
                    batch = []
            if batch:
                uids += parse_appenduid(client.multiappend(folder, batch))
        return uids


class _Closing:
    """Log out of an IMAPClient however the block ends."""

    def __init__(self, client):
        self.client = client

    def close(self):
        with contextlib.suppress(Exception):
            self.client.logout()


def parse_appenduid(response):
    """The UIDs of an APPENDUID response code (RFC 4315), as a list."""
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
    """A test run that crashes must not leave server processes behind."""
    for server in list(_live_servers):
        server.close()
