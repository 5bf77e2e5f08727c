"""A private, real Dovecot IMAP server for tests and the demo.

:class:`DovecotServer` writes a configuration under a temporary directory, starts Debian's
``dovecot`` binary in the foreground on two free loopback ports and stops it again:

* ``imap_port``: plain IMAP that offers STARTTLS (security modes ``none`` and ``starttls``);
* ``imaps_port``: implicit TLS (security mode ``ssl``).

The server certificate is made at start by :func:`~.certs.make_test_pki` for ``localhost`` only,
so a client can verify it for real against :attr:`DovecotServer.ca_path`, and connecting to
``127.0.0.1`` with verification on is a host name mismatch. Users live in a passwd-file; mail is
seeded with APPEND, exactly as any other client would do it (see :mod:`.imap_server`).

Run as root, Dovecot's own unprivileged users (``dovecot``, ``dovenull``) own the processes and
the mail; run as anyone else, everything runs as that user. Nothing is written outside the
temporary directory, which :meth:`DovecotServer.close` removes.
"""

import contextlib
import functools
import grp
import os
import pwd
import shutil
import subprocess
import time

from .imap_server import SPECIAL_FOLDERS, ImapTestServer, ServerUnavailable, free_port

DOVECOT_CANDIDATES = ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot")
#: the SASL mechanisms Dovecot's oauth2 passdb serves
OAUTH_MECHANISMS = ("xoauth2", "oauthbearer")

__all__ = ["DovecotServer", "DovecotUnavailable", "find_dovecot", "free_port"]


class DovecotUnavailable(ServerUnavailable):
    """Dovecot is not installed, or failed to start (the message carries its log)."""


def find_dovecot():
    """Return the path of the ``dovecot`` binary, or ``None`` when it is not installed."""
    found = shutil.which("dovecot")
    if found:
        return found
    return next((path for path in DOVECOT_CANDIDATES if os.access(path, os.X_OK)), None)


@functools.lru_cache(maxsize=1)
def dovecot_version(binary):
    done = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    return done.stdout.strip().split()[0] if done.stdout.strip() else "unknown"


class DovecotServer(ImapTestServer):
    """One Dovecot instance on loopback; a context manager.

    :param capabilities: when given, the post-login CAPABILITY list Dovecot announces (for
        example without ``CONDSTORE QRESYNC`` to exercise a client's fallbacks)
    :param hostnames: names the server certificate is valid for
    :param tls: ``False`` for a server without any TLS: no STARTTLS offered, no implicit-TLS
        port (``imaps_port`` is ``None``)
    :param oauth: an :class:`~.oauth_server.OAuthServer` (or anything with an
        ``introspection_url``): Dovecot then also accepts the SASL mechanisms
        ``oauth_mechanisms`` and checks their bearer token by RFC 7662 introspection there
    :param oauth_mechanisms: the OAuth SASL mechanisms offered with ``oauth``, of
        ``"xoauth2"`` and ``"oauthbearer"``
    :param max_connections: when given, sessions the server holds at once (Dovecot's defaults
        stop at about 100 TLS sessions: one login process each); the login processes then
        serve many clients each, as Dovecot's "high-performance" setup does

    With ``oauth``, an OAuth user logs in under the address the token was issued for: add the
    user under that address (``add_user("alice@example.com", password)``); LOGIN and PLAIN still
    check the passwd-file, and the ``oauth2`` passdb serves only the OAuth mechanisms. Nothing is
    cached: a token revoked or expired at the OAuth server fails at the next login.
    """

    name = "dovecot"
    log_files = ("stdout.log", "dovecot.log")

    def __init__(self, *, capabilities=None, hostnames=("localhost",), tls=True, oauth=None,
                 oauth_mechanisms=OAUTH_MECHANISMS, max_connections=None):
        self.binary = find_dovecot()
        if not self.binary:
            raise DovecotUnavailable(
                "dovecot is not installed: apt-get install dovecot-imapd"
            )
        oauth_mechanisms = tuple(mech.lower() for mech in oauth_mechanisms)
        if set(oauth_mechanisms) - set(OAUTH_MECHANISMS) or (oauth and not oauth_mechanisms):
            # before super().__init__(), which makes the temporary directory
            raise ValueError(f"oauth_mechanisms: choose among {OAUTH_MECHANISMS}")
        super().__init__(hostnames=hostnames, tls=tls, prefix="vt-dovecot-")
        self.capabilities = capabilities
        self.max_connections = max_connections
        self.oauth = oauth
        self.oauth_mechanisms = oauth_mechanisms
        self._ids = self._process_ids()
        (self.root / "home").mkdir()
        (self.root / "passwd.d").mkdir()
        self._write_config()

    @property
    def version(self):
        return dovecot_version(self.binary)

    @property
    def log_path(self):
        return self.root / "dovecot.log"

    def logins(self, login, expected=None, wait=3.0):
        """How many times ``login`` has logged in so far (Dovecot's log; for counting the
        sessions a piece of code opens). With ``expected``, waits up to ``wait`` seconds for
        that count: Dovecot writes its log a moment after the login."""
        needle = f"Login: user=<{login}>,"
        deadline = time.monotonic() + wait
        while True:
            count = 0
            with contextlib.suppress(FileNotFoundError):
                count = sum(needle in line for line in self.log_path.read_text().splitlines())
            if expected is None or count == expected or time.monotonic() >= deadline:
                return count
            time.sleep(0.05)

    def _command(self):
        return [self.binary, "-F", "-c", str(self.root / "dovecot.conf")]

    def _before_start(self):
        with contextlib.suppress(FileNotFoundError):
            (self.root / "run" / "master.pid").unlink()

    def start(self, timeout=15):
        try:
            return super().start(timeout)
        except ServerUnavailable as exc:
            if isinstance(exc, DovecotUnavailable):
                raise
            raise DovecotUnavailable(str(exc)) from None

    # -- users -------------------------------------------------------------------------------

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
        mechanisms, password_passdb, oauth_passdb = "plain login", "", ""
        if self.oauth is not None:
            oauth_mechs = " ".join(self.oauth_mechanisms)
            mechanisms = f"plain login {oauth_mechs}"
            # without this filter an OAuth login would first be tried as a password
            password_passdb = "  mechanisms = plain login\n"
            oauth_passdb = (f"passdb {{\n  driver = oauth2\n  mechanisms = {oauth_mechs}\n"
                            f"  args = {root}/oauth2.conf.ext\n}}\n")
            self._write_oauth2_config()
        ids = self._ids
        login_limits, imap_limits = "", ""
        if self.max_connections:
            many = int(self.max_connections)
            login_limits = (f"\n  service_count = 0\n  process_min_avail = 2\n"
                            f"  process_limit = 8\n  client_limit = {many + 100}")
            imap_limits = (f"service imap {{\n  process_limit = {many + 100}\n}}\n"
                           f"default_client_limit = {2 * many + 200}\n")
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
auth_mechanisms = {mechanisms}
auth_failure_delay = 0
# no auth cache (the default, said out loud): a revoked token must fail at the next login
auth_cache_size = 0
mail_max_userip_connections = 200
# IDLE learns of new mail through inotify, but the kernel allows 128 inotify instances per user
# by default and every session here runs as one user (tests running side by side share them):
# beyond that Dovecot looks every mailbox_idle_check_interval (30 s by default); 1 s here
mailbox_idle_check_interval = 1 secs
{tls}mail_location = maildir:~/Maildir
{capability}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd.d/%u
{password_passdb}}}
{oauth_passdb}userdb {{
  driver = passwd-file
  args = username_format=%u {root}/passwd.d/%u
}}
namespace inbox {{
  inbox = yes
  separator = /
{folders}
}}
service imap-login {{
  chroot ={login_limits}
  inet_listener imap {{
    port = {self.imap_port}
  }}
{imaps}}}
{imap_limits}service anvil {{
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

    def _write_oauth2_config(self):
        # Dovecot 2.3's oauth2 passdb: with no tokeninfo_url it validates by introspection
        # alone. "post" sends token=<token> as a form, as RFC 7662 says; the answer's "email"
        # must equal the login name (lowercased by the default username_format %Lu).
        (self.root / "oauth2.conf.ext").write_text(
            f"""# generated by vt_webmail.testing.dovecot
introspection_mode = post
introspection_url = {self.oauth.introspection_url}
username_attribute = email
active_attribute = active
active_value = true
timeout_msecs = 5000
"""
        )
