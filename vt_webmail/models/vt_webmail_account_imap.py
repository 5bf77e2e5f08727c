"""The account's IMAP server: its connection settings, the session of a request (one login
per request, or none with a pooled session: ``core/imap_pool.py``), the connection test, and
engine errors in plain words."""

import contextlib
import dataclasses
import logging

from odoo import api, models, tools

from ..core import exceptions as core_errors
from ..core import imap_pool, net_policy
from ..core.imap_session import ServerSettings, connect
from ..core.session_scope import SESSIONS
from .vt_webmail_account import ALLOWED_HOSTS_OPTION, ALLOWED_HOSTS_PARAMETER, DEFAULT_PORTS

_logger = logging.getLogger(__name__)

#: Connection tests a user may run per minute (they probe a host and port of their choice);
#: the system parameter vt_webmail.connection_tests_per_minute changes it.
CONNECTION_TESTS_PER_MINUTE = 10
#: Extensions the connection test reports, offered or missing (see _missing_feature_messages).
SERVER_FEATURES = ("IDLE", "CONDSTORE", "QRESYNC", "MOVE", "UIDPLUS", "SPECIAL-USE", "ESEARCH")
#: Fields whose change makes the pooled sessions of an account unusable.
CONNECTION_FIELDS = frozenset({
    "active", "user_id", "imap_host", "imap_port", "security", "login", "password",
    "verify_certificate", "ca_certificate", "auth_method", "oauth_identity",
})
#: The process's logged-in sessions, shared by its threads (see core/imap_pool.py).
POOL = imap_pool.ImapPool()


# One job per file (the project's convention): the IMAP server here, settings in
# vt_webmail_account.py, refreshing in vt_webmail_account_sync.py.
class VtWebmailAccount(models.Model):
    _inherit = "vt_webmail.account"  # pylint: disable=consider-merging-classes-inherited

    def write(self, vals):
        result = super().write(vals)
        if CONNECTION_FIELDS & set(vals):
            self._imap_pool_discard()
        return result

    def unlink(self):
        self._imap_pool_discard()
        return super().unlink()

    # -- the connection test -------------------------------------------------------------------

    def action_test_connection(self):
        """Connect and log in; answer in plain words: the server's software (ID, RFC 2971,
        else its greeting), what it offers, and what it lacks and what that costs.

        :returns: a ``display_notification`` client action whose ``params`` also carry
            ``ok`` (bool), ``error_code``, ``capabilities`` (the extensions of
            :data:`SERVER_FEATURES` offered), ``missing`` (those not offered) and ``server``
            (``{"name", "version", "greeting"}``) for XML-RPC callers
        """
        self.ensure_one()
        self.check_access("read")
        # sudo: a technical setting, not a secret
        limit = self.env["ir.config_parameter"].sudo().get_param(
            "vt_webmail.connection_tests_per_minute", CONNECTION_TESTS_PER_MINUTE)
        self.env["vt_webmail.connection.test"]._check_rate(int(limit))
        try:
            # a login of its own, never a pooled session: the test is that the login works
            with self._imap_open() as session:
                offered = [cap for cap in SERVER_FEATURES if cap in session.capabilities]
                identity = session.server_id()
                greeting = session.greeting
        except core_errors.WebmailError as exc:
            return self._notification(False, self._error_message(exc), error_code=exc.code)
        missing = [cap for cap in SERVER_FEATURES if cap not in offered]
        server = {
            "name": identity.get("name") or False,
            "version": identity.get("version") or False,
            "greeting": greeting or False,
        }
        software = " ".join(filter(None, (identity.get("name"), identity.get("version")))) \
            or greeting
        lines = [self.env._("Connection and login succeeded.")]
        if software:
            lines.append(self.env._("Server: %s.", software))
        lines.append(self.env._("The server offers: %s.", ", ".join(offered))
                     if offered else self.env._("The server offers none of %s.",
                                                ", ".join(SERVER_FEATURES)))
        consequences = self._missing_feature_messages()
        lines += [consequences[cap] for cap in missing]
        return self._notification(True, "\n".join(lines), capabilities=offered,
                                  missing=missing, server=server)

    def _missing_feature_messages(self):
        """What the lack of each extension of :data:`SERVER_FEATURES` means, in plain words."""
        return {
            "IDLE": self.env._(
                "No IDLE: new mail is found by the scheduled refresh, not pushed."),
            "CONDSTORE": self.env._(
                "No CONDSTORE: flag changes are read the slow way (every flag, when the folder "
                "changed, and every 15 minutes)."),
            "QRESYNC": self.env._(
                "No QRESYNC: mail deleted by another program is found by listing the folder."),
            "MOVE": self.env._(
                "No MOVE: moving a mail copies it, then deletes the original."),
            "UIDPLUS": self.env._(
                "No UIDPLUS: deleting for good also removes the mail another program marked "
                "as deleted in that folder, and a sent copy appears after the next refresh."),
            "SPECIAL-USE": self.env._(
                "No SPECIAL-USE: Sent, Drafts, Trash, Junk and Archive are recognised by "
                "their names."),
            "ESEARCH": self.env._(
                "No ESEARCH: listing a large folder takes a few more round trips."),
        }

    def _notification(self, ok, message, **extra):
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": self.env._("Connection test"),
                "message": message,
                "type": "success" if ok else "danger",
                "sticky": not ok,
                "ok": ok,
                "error_code": extra.get("error_code", False),
                "capabilities": extra.get("capabilities", []),
                "missing": extra.get("missing", []),
                "server": extra.get("server", False),
            },
        }

    # -- sessions ------------------------------------------------------------------------------

    def _imap_settings(self):
        """The engine's connection settings for this account (with a fresh access token when
        it signs in with OAuth 2.0)."""
        self.ensure_one()
        return ServerSettings(
            host=self.imap_host.strip(),
            port=self.imap_port or DEFAULT_PORTS[self.security],
            security=self.security,
            verify_certificate=self.verify_certificate,
            ca_pem=self.ca_certificate or None,
            timeout=self._network_timeout(),
            policy=self._net_policy(),
            deadline=self._session_deadline(),
            **self._credentials(self.login),
        )

    def _credentials(self, login, password_field="password"):
        """``login``/``password``/``access_token`` of the engine's settings: the stored
        password, or for OAuth 2.0 the signed-in mailbox and a valid access token."""
        if self.auth_method == "password":
            password = password_field != "password" and self._read_secret(password_field)
            return {"login": login, "password": password or self._read_secret("password")}
        return {"login": (self.oauth_identity or self.email or "").strip(), "password": "",
                "access_token": self._oauth_access_token()}

    def _imap_connect(self, settings=None):
        """A logged-in :class:`~..core.imap_session.ImapSession`, as a context manager.

        Inside :meth:`_imap_request` (one request) every block gets the request's session of
        this account, taken from the process's pool (:data:`POOL`) or logged in once, and given
        back at the end; outside one, a session of its own, given back at the end of the block.
        With explicit ``settings`` (a test of settings being edited): a new login, logged out
        at the end of the block, never pooled.
        """
        self.ensure_one()
        if settings is not None:
            return self._imap_open(settings)
        return self._imap_borrow()

    def _imap_sync_session(self, settings):
        """A sync's session, logged in with ``settings`` (or taken from the pool), and one
        request: what the sync calls afterwards (:meth:`_after_sync`) borrows it rather than
        log in again; given back to the pool at the end."""
        self.ensure_one()
        return self._imap_request_session(settings)

    @contextlib.contextmanager
    def _imap_request_session(self, settings):
        with self._imap_request(), self._imap_borrow(settings) as session:
            yield session

    def _imap_borrow(self, settings=None):
        """The request's session of this account (see ``core/session_scope.py``), opened from
        the pool (``core/imap_pool.py``) under the key (database, account) and the fingerprint
        of ``settings`` (default: :meth:`_imap_settings`, computed only when a session must be
        found: a request's second borrow costs nothing)."""
        key = (self.env.cr.dbname, self.id)
        found = {}

        def opener():
            current = settings or self._imap_settings()
            found["fingerprint"] = imap_pool.fingerprint(current)
            # a push worker's syncs (context vt_webmail_imap_pool=False) log in each time: it
            # serves no reader, and a password changed on the server must show at its next sync
            found["idle"] = self._pool_idle_seconds() \
                if self.env.context.get("vt_webmail_imap_pool", True) else 0
            if not found["idle"]:
                return self._imap_open(current)
            return POOL.acquire(key, found["fingerprint"], lambda: self._imap_open(current),
                                deadline=current.deadline)

        def release(session):
            POOL.release(key, found["fingerprint"], session, idle_seconds=found["idle"])

        return SESSIONS.borrow(key, opener, release)

    def _pool_idle_seconds(self):
        """Seconds a logged-in session waits in the pool for its next request (system
        parameter ``vt_webmail.imap_pool_idle_seconds``, default 60; 0 turns the pool off)."""
        # sudo: a technical setting, not a secret
        value = self.env["ir.config_parameter"].sudo().get_param(
            "vt_webmail.imap_pool_idle_seconds", str(imap_pool.DEFAULT_IDLE_SECONDS))
        try:
            return max(float(value), 0.0)
        except ValueError:
            return imap_pool.DEFAULT_IDLE_SECONDS

    def _imap_pool_discard(self):
        """Log out this process's pooled sessions of these accounts (their connection settings
        changed, or they are deleted or archived). Other processes' sessions are refused at
        their next use: the settings' fingerprint no longer matches."""
        for account in self:
            POOL.discard((self.env.cr.dbname, account.id))

    @api.model
    def _imap_request(self):
        """One request (a context manager): inside it, each account logs in at most once and
        its session is logged out at the end (see ``core/session_scope.py``). The public
        actions that talk to the server open one; helpers just call :meth:`_imap_connect`."""
        return SESSIONS.request()

    def _imap_open(self, settings=None):
        """Log in now. With OAuth 2.0, a token the server refuses is renewed once and the
        login tried again (a token revoked early, a clock off by minutes)."""
        self.ensure_one()
        settings = settings or self._imap_settings()
        try:
            return connect(settings)
        except core_errors.TokenRejected:
            if not settings.access_token:
                raise
            _logger.info("Webmail account %s: the IMAP server refused the access token; "
                         "renewing it once", self.id)
            token = self._oauth_access_token(rejected=settings.access_token)
            return connect(dataclasses.replace(settings, access_token=token))

    # -- settings of the connection --------------------------------------------------------------

    @api.model
    def _net_policy(self, default_ports=net_policy.MAIL_PORTS):
        """The outgoing-connection policy (see core/net_policy.py): the configuration file's
        ``vt_webmail_allowed_hosts``, else the system parameter ``vt_webmail.allowed_hosts``.

        :raises core_errors.HostRefused: the setting cannot be read (nothing is allowed then)
        """
        text = tools.config.get(ALLOWED_HOSTS_OPTION)
        if not text:
            # sudo: a technical setting, not a secret
            text = self.env["ir.config_parameter"].sudo().get_param(ALLOWED_HOSTS_PARAMETER)
        try:
            return net_policy.Policy.from_text(text or "", default_ports)
        except ValueError as exc:
            raise core_errors.HostRefused(
                f"the setting of the allowed mail servers cannot be read ({exc})")

    def _provider_label(self):
        """Google, Microsoft 365 (or "the provider") as the account's form names it."""
        label = dict(self._fields["auth_method"]._description_selection(self.env)).get(
            self.auth_method) or ""
        return label.split(" (")[0] or self.env._("the provider")

    def _network_timeout(self):
        """Seconds any IMAP or SMTP operation may wait (system parameter, default 30)."""
        # sudo: a technical setting, not a secret
        value = self.env["ir.config_parameter"].sudo().get_param("vt_webmail.timeout", "30")
        try:
            return max(float(value), 0.1)
        except ValueError:
            return 30.0

    def _session_deadline(self):
        """Seconds a whole IMAP session may last, whatever the server sends (system parameter
        ``vt_webmail.session_deadline``, default 60): a refresh cut there keeps what it stored,
        and the next one goes on."""
        # sudo: a technical setting, not a secret
        value = self.env["ir.config_parameter"].sudo().get_param(
            "vt_webmail.session_deadline", "60")
        try:
            return max(float(value), 1.0)
        except ValueError:
            return 60.0

    # -- errors ----------------------------------------------------------------------------------

    def _error_message(self, exc):
        """A translated, plain-words sentence for an engine error."""
        host = exc.host or self.imap_host
        messages = {
            "host_not_found": self.env._(
                "The server name %s could not be found. Check the spelling.", host),
            "host_refused": self.env._(
                "Connecting to %(host)s is not allowed on this Odoo server. An administrator "
                "chooses the mail servers accounts may use (Settings > Webmail > Allowed mail "
                "servers).%(detail)s", host=host,
                detail=f" ({exc.detail})" if exc.detail else ""),
            "connection_refused": self.env._(
                "%s refused the connection. Check the port and the security mode.", host),
            "timeout": self.env._(
                "%s did not answer in time. Check the server name, port and your network.", host),
            "tls_failed": self.env._(
                "The secure connection to %s could not be set up (TLS handshake failed). "
                "Check the security mode and port.", host),
            "certificate_untrusted": self.env._(
                "The certificate of %s is not trusted: it was not signed by a known authority. "
                "Add the authority's certificate or turn off certificate validation.", host),
            "hostname_mismatch": self.env._(
                "The certificate of the server is not valid for the name %s. Use the name "
                "written in the certificate.", host),
            "starttls_unavailable": self.env._(
                "%s does not offer STARTTLS. Choose SSL/TLS or no encryption.", host),
            "login_rejected": self.env._(
                "%s rejected the user name or password.", host),
            "token_rejected": self.env._(
                "%(host)s refused the sign-in of %(provider)s (%(detail)s). Sign in again if "
                "this goes on.", host=host, provider=self._provider_label(),
                detail=exc.detail or ""),
            "oauth_grant_revoked": self.env._(
                "Sign in to %s again: the access you gave to Odoo was withdrawn or has expired "
                "(the mailbox's password was changed, or access was removed).",
                self._provider_label()),
            "oauth_failed": self.env._(
                "%(provider)s refused the sign-in: %(detail)s", provider=self._provider_label(),
                detail=exc.detail or ""),
            "server_gone": self.env._(
                "The connection to %s was lost. The next refresh will continue where this "
                "one stopped.", host),
            "protocol_error": self.env._(
                "%(host)s sent an answer that could not be understood: %(detail)s",
                host=host, detail=exc.detail or ""),
            "response_too_large": self.env._(
                "%(host)s sent more than the webmail accepts (%(detail)s), so the connection "
                "was closed. The mail already here is kept.", host=host,
                detail=exc.detail or ""),
            "too_slow": self.env._(
                "%(host)s took longer than %(seconds)s seconds to answer, so the connection was "
                "closed. What was received is kept, and the next refresh goes on from there.",
                host=host, seconds=round(self._session_deadline())),
            "folder_not_found": self.env._(
                "The folder does not exist on %s any more.", host),
            "folder_read_only": self.env._(
                "%s lets you read this folder, not change it: nothing was changed.", host),
            "message_gone": self.env._(
                "This message is no longer on the server (another mail client moved or "
                "deleted it)."),
            "message_too_large": self.env._(
                "This message is too large to be shown here: %s", exc.detail or ""),
        }
        return messages.get(exc.code) or self.env._("Mail server error: %s", str(exc))
