"""A private, real Cyrus IMAP 3.6 server for tests.

:class:`CyrusServer` writes an ``imapd.conf`` and a ``cyrus.conf`` under a temporary directory
and runs Cyrus's ``master`` in the foreground on two free loopback ports, like
:class:`~.dovecot.DovecotServer`:

* ``imap_port``: plain IMAP that offers STARTTLS, plaintext LOGIN allowed;
* ``imaps_port``: implicit TLS.

Cyrus comes from Debian 12's ``cyrus-common`` and ``cyrus-imapd`` packages, unpacked (not
installed: ``cyrus-imapd`` conflicts with ``dovecot-imapd``) by ``tools/imap-servers/get-cyrus``
into ``$VT_IMAP_SERVERS/cyrus`` (default ``/opt/vt-imap-servers/cyrus``); its shared libraries
are found there through ``LD_LIBRARY_PATH``.

Users and passwords live in a private sasldb (``saslpasswd2``); a user's INBOX is created by
Cyrus at the first login (``autocreate_quota``), and :meth:`CyrusServer.add_user` then logs in
once to CREATE the folders of :data:`~.imap_server.SPECIAL_FOLDERS` with their RFC 6154 flag
(``CREATE Sent (USE (\\Sent))``). The ``autocreate_inbox_folders`` + ``xlist-*`` options would
do it without a login but announce the flags in lower case (``\\sent``).

Run as root, every Cyrus process and all the mail belong to the system user ``cyrus`` (which the
get script creates); run as anyone else, everything runs as that user. Cyrus logs to syslog
only: ``stdout.log`` holds what ``master`` writes to its standard error.
Nothing is written outside the temporary directory, which :meth:`CyrusServer.close` removes.
"""

import contextlib
import grp
import imaplib
import os
import pwd
import re
import shutil
import subprocess
from pathlib import Path

from .imap_server import SPECIAL_FOLDERS, ImapTestServer, ServerUnavailable

__all__ = ["CyrusServer", "CyrusUnavailable", "cyrus_prefix", "find_cyrus"]

GET_SCRIPT = "tools/imap-servers/get-cyrus"
DEFAULT_SERVERS_DIR = "/opt/vt-imap-servers"
SASLPASSWD2_CANDIDATES = ("/usr/sbin/saslpasswd2", "/usr/bin/saslpasswd2")
# Cyrus user names here: no hierarchy separator, no whitespace, nothing saslpasswd2 would split
_LOGIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")


class CyrusUnavailable(ServerUnavailable):
    """Cyrus is not installed, or failed to start (the message carries its log)."""


def cyrus_prefix():
    """Where ``get-cyrus`` unpacks Cyrus: ``$VT_IMAP_SERVERS/cyrus``."""
    return Path(os.environ.get("VT_IMAP_SERVERS") or DEFAULT_SERVERS_DIR) / "cyrus"


def find_cyrus(prefix=None):
    """Return ``(bin_dir, lib_dir)`` of an unpacked Cyrus, or ``None`` when there is none.

    :param prefix: the directory ``get-cyrus`` installed into (default: :func:`cyrus_prefix`)
    """
    prefix = Path(prefix) if prefix else cyrus_prefix()
    bin_dir = prefix / "usr" / "lib" / "cyrus" / "bin"
    libraries = sorted(prefix.glob("usr/lib/*/libcyrus.so.0"))
    if not os.access(bin_dir / "master", os.X_OK) or not libraries:
        return None
    return bin_dir, libraries[0].parent


def _find_saslpasswd2():
    return shutil.which("saslpasswd2") or next(
        (path for path in SASLPASSWD2_CANDIDATES if os.access(path, os.X_OK)), None)


_versions = {}


def cyrus_version(bin_dir, config, environment, **as_user):
    """What ``cyr_info version`` prints after ``cyrus-imapd``: the version the server's
    greeting and ID response carry (``3.6.1-Debian-3.6.1-4+deb12u5``); cached per install."""
    if bin_dir not in _versions:
        done = subprocess.run(
            [str(Path(bin_dir) / "cyr_info"), "-C", str(config), "version"],
            capture_output=True, text=True, check=False, env=environment, timeout=30, **as_user,
        )
        words = done.stdout.split()
        _versions[bin_dir] = words[1] if len(words) >= 2 else "unknown"
    return _versions[bin_dir]


class CyrusServer(ImapTestServer):
    """One Cyrus IMAP instance on loopback; a context manager.

    :param hostnames: names the server certificate is valid for (the first one is also
        Cyrus's ``servername`` and the SASL realm)
    :param tls: ``False`` for a server without any TLS: no STARTTLS offered, no implicit-TLS
        port (``imaps_port`` is ``None``)
    :param prefix: the directory ``get-cyrus`` installed into (default: :func:`cyrus_prefix`)
    :raises CyrusUnavailable: Cyrus is not installed (the message names the get script)
    """

    name = "cyrus"

    def __init__(self, *, hostnames=("localhost",), tls=True, prefix=None):
        found = find_cyrus(prefix)
        if not found:
            raise CyrusUnavailable(
                f"Cyrus IMAP is not installed in {Path(prefix) if prefix else cyrus_prefix()}: "
                f"run {GET_SCRIPT} (as root; VT_IMAP_SERVERS chooses the directory)"
            )
        self.saslpasswd2 = _find_saslpasswd2()
        if not self.saslpasswd2:
            raise CyrusUnavailable(f"saslpasswd2 is not installed: run {GET_SCRIPT}")
        self.bin_dir, self.lib_dir = found
        self._ids = self._process_ids()
        super().__init__(hostnames=hostnames, tls=tls, prefix="vt-cyrus-")
        #: Cyrus's name for itself (greeting) and the SASL realm of its users
        self.servername = hostnames[0]
        self._unprovisioned = []
        for directory in ("config", "config/socket", "spool", "sieve", "sasl"):
            path = self.root / directory
            path.mkdir()
            self._own(path)
        self._own(self.pki.key_path)
        self._write_config()

    @property
    def config_path(self):
        """The ``imapd.conf`` every Cyrus program of this server reads."""
        return self.root / "imapd.conf"

    @property
    def sasldb_path(self):
        return self.root / "sasl" / "sasldb2"

    @property
    def version(self):
        return cyrus_version(str(self.bin_dir), self.config_path, self._environment(),
                             **self._as_cyrus())

    def _environment(self):
        environment = dict(os.environ)
        inherited = environment.get("LD_LIBRARY_PATH")
        environment["LD_LIBRARY_PATH"] = (
            f"{self.lib_dir}:{inherited}" if inherited else str(self.lib_dir))
        return environment

    def _command(self):
        # env(1) execs master, so the process the base class watches and kills is master itself
        return [
            "env", f"LD_LIBRARY_PATH={self._environment()['LD_LIBRARY_PATH']}",
            str(self.bin_dir / "master"), "-D",
            "-C", str(self.config_path), "-M", str(self.root / "cyrus.conf"),
            "-p", str(self.root / "master.pid"),
        ]

    def _before_start(self):
        with contextlib.suppress(FileNotFoundError):
            (self.root / "master.pid").unlink()

    def start(self, timeout=15):
        try:
            super().start(timeout)
        except ServerUnavailable as exc:
            if isinstance(exc, CyrusUnavailable):
                raise
            raise CyrusUnavailable(str(exc)) from None
        while self._unprovisioned:
            self._provision(*self._unprovisioned[0])
            self._unprovisioned.pop(0)
        return self

    # -- users -------------------------------------------------------------------------------

    def add_user(self, login, password):
        """Create a mail user (sasldb entry, INBOX and the special folders); return ``login``.

        Works before :meth:`start` too (the folders are then created at start). Adding a
        user again changes the password.
        """
        if not _LOGIN.fullmatch(login):
            raise ValueError(f"not a Cyrus user name for these tests: {login!r}")
        if not password or "\n" in password or "\r" in password:
            raise ValueError("the password must be one non-empty line")
        done = subprocess.run(
            [self.saslpasswd2, "-f", str(self.sasldb_path), "-u", self.servername, "-p", "-c",
             login],
            input=password, capture_output=True, text=True, check=False, timeout=30,
            **self._as_cyrus(),
        )
        if done.returncode:
            raise CyrusUnavailable(f"saslpasswd2 failed for {login}: {done.stderr.strip()}")
        self.users[login] = password
        if self.running:
            self._provision(login, password)
        else:
            self._unprovisioned.append((login, password))
        return login

    def _provision(self, login, password):
        """Log in as the user (Cyrus creates the INBOX) and create the special folders."""
        imap = imaplib.IMAP4(self.host, self.imap_port, timeout=10)
        try:
            imap.login(login, password)
            existing = {line.rsplit(b' "/" ', 1)[-1].strip(b'"').decode()
                        for line in imap.list()[1] if line}
            for folder, flag in SPECIAL_FOLDERS.items():
                if folder in existing:
                    continue
                status, answer = imap.xatom("CREATE", f"{folder} (USE ({flag}))")
                if status != "OK":
                    raise CyrusUnavailable(f"CREATE {folder} for {login}: {answer!r}")
                imap.subscribe(folder)
        finally:
            with contextlib.suppress(Exception):
                imap.logout()

    # -- internals ---------------------------------------------------------------------------

    @staticmethod
    def _process_ids():
        """The user and group Cyrus runs as (the ``cyrus_user`` and ``cyrus_group`` options)."""
        if os.geteuid() != 0:
            return {
                "user": pwd.getpwuid(os.geteuid()).pw_name,
                "group": grp.getgrgid(os.getegid()).gr_name,
                "uid": os.geteuid(), "gid": os.getegid(),
            }
        # Started as root, Cyrus switches to cyrus_user; never let it run (or own mail) as root
        try:
            cyrus = pwd.getpwnam("cyrus")
        except KeyError:
            raise CyrusUnavailable(f"no system user cyrus: run {GET_SCRIPT}") from None
        return {
            "user": cyrus.pw_name, "group": grp.getgrgid(cyrus.pw_gid).gr_name,
            "uid": cyrus.pw_uid, "gid": cyrus.pw_gid,
        }

    def _as_cyrus(self):
        """subprocess arguments that run a Cyrus tool as the user Cyrus runs as."""
        if os.geteuid() != 0:
            return {}
        return {"user": self._ids["uid"], "group": self._ids["gid"], "extra_groups": []}

    def _own(self, path):
        if os.geteuid() == 0:
            os.chown(path, self._ids["uid"], self._ids["gid"])

    def _write_config(self):
        root, bin_dir, config = self.root, self.bin_dir, self.config_path
        tls = (f"tls_server_cert: {self.pki.cert_path}\ntls_server_key: {self.pki.key_path}\n"
               if self.tls else "")
        imaps = (f'  imaps cmd="{bin_dir}/imapd -s -C {config}" '
                 f'listen="{self.host}:{self.imaps_port}" prefork=1\n' if self.tls else "")
        config.write_text(f"""# generated by vt_webmail.testing.cyrus
configdirectory: {root}/config
defaultpartition: default
partition-default: {root}/spool
sievedir: {root}/sieve
servername: {self.servername}
cyrus_user: {self._ids['user']}
cyrus_group: {self._ids['group']}
# plaintext LOGIN on the plain port too, as the tests' "none" security mode needs
allowplaintext: yes
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: {self.sasldb_path}
sasl_mech_list: PLAIN LOGIN
# tests use wrong passwords on purpose: no 3 s pause after each
failedloginpause: 0
# folders as in Dovecot: "/" separates levels, "Sent" is a sibling of INBOX
unixhierarchysep: yes
altnamespace: yes
# create the INBOX at the first login (0: no quota)
autocreate_quota: 0
{tls}# without idled (not run here) IDLE polls the mailbox: every second, not every minute
imapidlepoll: 1s
# LMTP is not run: no duplicate-delivery database
duplicatesuppression: no
# keep 8-bit header bytes as appended (Cyrus turns them into "X" by default): the tests give
# the engine raw Latin-1 headers on purpose
munge8bit: no
""")
        (root / "cyrus.conf").write_text(f"""# generated by vt_webmail.testing.cyrus
START {{
  # after kill(): recover the databases before serving
  recover cmd="{bin_dir}/ctl_cyrusdb -C {config} -r"
}}
SERVICES {{
  imap cmd="{bin_dir}/imapd -C {config}" listen="{self.host}:{self.imap_port}" prefork=1
{imaps}}}
EVENTS {{
}}
""")
