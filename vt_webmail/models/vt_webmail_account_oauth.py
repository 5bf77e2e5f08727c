"""Mail accounts that sign in with OAuth 2.0 (Google, Microsoft) instead of a password.

The OAuth client registration is Odoo's own: the client id and secret an administrator already
set for Odoo's Gmail and Outlook mail servers (system parameters of the ``google_gmail`` and
``microsoft_outlook`` modules, edited in their Settings), and Microsoft's endpoint
(``microsoft_outlook.endpoint``, for a single-tenant registration). Their token code is not
used: it stores tokens in plain fields and its confirm routes are for administrators. Here any
internal user signs in for their own account (``controllers/oauth.py``), and tokens are kept
like the passwords: encrypted, in columns no field maps.

A refreshed token is stored on a cursor of its own, committed at once: Microsoft rotates
refresh tokens, so a request that rolls back afterwards (a send that failed) must not take the
new one with it.
"""

import datetime
import logging

import psycopg2.errors

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL

from ..core import exceptions as core_errors
from ..core import net_policy, oauth
from ..tools import secret_box

_logger = logging.getLogger(__name__)

AUTH_METHODS = [
    ("password", "Password"),
    ("google", "Google (OAuth 2.0)"),
    ("microsoft", "Microsoft 365 (OAuth 2.0)"),
]
#: The encrypted token columns (no field maps them).
TOKEN_COLUMNS = ("oauth_refresh_token_crypt", "oauth_access_token_crypt")
#: First key of the advisory lock that serialises token refreshes of one account.
OAUTH_LOCK_CLASS = 0x76776F  # "vwo"
#: The route a provider sends the user back to (register it at the provider).
REDIRECT_PATH = "/vt_webmail/oauth/confirm"
#: System parameters of the OAuth client: Odoo's own (google_gmail, microsoft_outlook).
CLIENT_PARAMETERS = {
    "google": ("google_gmail_client_id", "google_gmail_client_secret"),
    "microsoft": ("microsoft_outlook_client_id", "microsoft_outlook_client_secret"),
}
#: Endpoints other than the providers' own (a tenant, a test server), by system parameter.
GOOGLE_AUTHORIZE_PARAMETER = "vt_webmail.google_authorize_url"
GOOGLE_TOKEN_PARAMETER = "vt_webmail.google_token_url"
MICROSOFT_ENDPOINT_PARAMETER = "microsoft_outlook.endpoint"


class VtWebmailAccount(models.Model):
    _inherit = "vt_webmail.account"

    auth_method = fields.Selection(
        AUTH_METHODS, string="Authentication", default="password", required=True,
        help="Password: the IMAP and SMTP login and password. Google or Microsoft 365: sign in "
             "with the provider (OAuth 2.0); no password is stored.",
    )
    oauth_identity = fields.Char(
        string="Signed in as", readonly=True, copy=False,
        help="The mailbox the provider said you signed in to.")
    oauth_expires_at = fields.Datetime(
        string="Access until", readonly=True, copy=False,
        help="When the current access token expires; it is renewed by itself.")
    oauth_signed_in = fields.Boolean(compute="_compute_oauth_signed_in")
    needs_sign_in = fields.Boolean(
        readonly=True, copy=False,
        help="The provider no longer accepts the sign-in (withdrawn, expired, password "
             "changed): sign in again.")
    server_saves_sent = fields.Boolean(
        string="The server saves sent mail",
        help="The mail server files the mail you send in Sent by itself (Gmail, Microsoft "
             "365): no second copy is added.")

    def init(self):
        result = super().init()
        # the tokens live in columns no field maps, like the passwords (see secret_box)
        for column in TOKEN_COLUMNS:
            self.env.cr.execute(SQL(
                "ALTER TABLE %s ADD COLUMN IF NOT EXISTS %s varchar",
                SQL.identifier(self._table), SQL.identifier(column),
            ))
        return result

    @api.model
    def _secret_columns(self):
        return (*super()._secret_columns(), *TOKEN_COLUMNS)

    # -- compute / onchange ---------------------------------------------------------------------

    def _compute_oauth_signed_in(self):
        if not self.ids:
            self.oauth_signed_in = False
            return
        self.env.cr.execute(SQL(
            "SELECT id FROM %s WHERE id IN %s AND oauth_refresh_token_crypt IS NOT NULL",
            SQL.identifier(self._table), tuple(self.ids),
        ))
        signed_in = {row[0] for row in self.env.cr.fetchall()}
        for account in self:
            account.oauth_signed_in = account.id in signed_in

    @api.onchange("auth_method")
    def _onchange_auth_method(self):
        """A provider fills in its servers, ports and security, and the Sent behaviour."""
        provider = oauth.PROVIDERS.get(self.auth_method)
        if not provider:
            return
        imap_host, imap_port, security = provider.imap
        smtp_host, smtp_port, smtp_security = provider.smtp
        self.update({
            "imap_host": imap_host, "security": security, "imap_port": imap_port,
            "smtp_mode": "account", "smtp_host": smtp_host, "smtp_security": smtp_security,
            "smtp_port": smtp_port, "verify_certificate": True,
            "server_saves_sent": provider.saves_sent, "login": self.email or self.login,
        })

    @api.onchange("email")
    def _onchange_email_oauth_login(self):
        if self.auth_method != "password" and self.email:
            self.login = self.email

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            # the login of a Google or Microsoft mailbox is its address
            if vals.get("auth_method", "password") != "password" and not vals.get("login"):
                vals["login"] = vals.get("email")
        return super().create(vals_list)

    # -- actions ---------------------------------------------------------------------------------

    def action_oauth_sign_in(self):
        """Open the provider's consent page for this account (its owner only).

        :returns: an ``ir.actions.act_url`` to ``/vt_webmail/oauth/start/<id>``, which sends
            the browser on to the provider
        """
        self.ensure_one()
        self._oauth_check_owner()
        if self.auth_method not in oauth.PROVIDERS:
            raise UserError(self.env._("This account signs in with a password."))
        self._oauth_client()  # configured? say so now rather than on the provider's page
        return {
            "type": "ir.actions.act_url",
            "url": f"/vt_webmail/oauth/start/{self.id}",
            "target": "self",
        }

    def action_oauth_sign_out(self):
        """Forget this account's tokens (the provider's grant stays until revoked there)."""
        self._oauth_check_owner()
        self._oauth_write_tokens(None)
        self.write({"oauth_identity": False, "oauth_expires_at": False})
        return True

    # -- tokens ----------------------------------------------------------------------------------

    def _oauth_check_owner(self):
        self.check_access("write")
        if not self.env.su and any(account.user_id != self.env.user for account in self):
            raise AccessError(self.env._("Only the owner of a mail account can sign in to it."))

    def _oauth_provider(self):
        """The :class:`~..core.oauth.Provider` of this account, with its configured endpoints."""
        self.ensure_one()
        provider = oauth.PROVIDERS[self.auth_method]
        # sudo: endpoints are technical settings, not secrets
        params = self.env["ir.config_parameter"].sudo()
        if provider.name == "google":
            return oauth.with_endpoints(
                provider, authorize_url=params.get_param(GOOGLE_AUTHORIZE_PARAMETER),
                token_url=params.get_param(GOOGLE_TOKEN_PARAMETER))
        endpoint = params.get_param(MICROSOFT_ENDPOINT_PARAMETER)
        if endpoint:
            endpoint = endpoint.rstrip("/") + "/"
            return oauth.with_endpoints(provider, authorize_url=endpoint + "authorize",
                                        token_url=endpoint + "token")
        return provider

    def _oauth_client(self):
        """Our registration at the provider (:class:`~..core.oauth.Client`).

        :raises UserError: no client id or secret configured: an administrator must set them
        """
        self.ensure_one()
        id_parameter, secret_parameter = CLIENT_PARAMETERS[self.auth_method]
        # sudo: the client secret is an administrator's setting; it is only sent to the
        # provider's token endpoint, never shown to the user
        params = self.env["ir.config_parameter"].sudo()
        client_id, secret = params.get_param(id_parameter), params.get_param(secret_parameter)
        if not client_id or not secret:
            raise UserError(self.env._(
                "Signing in with %(provider)s is not set up in this Odoo yet: ask an "
                "administrator to enter its OAuth client id and secret in Settings (Discuss, "
                "%(section)s).", provider=oauth.PROVIDERS[self.auth_method].label,
                section="Gmail" if self.auth_method == "google" else "Outlook"))
        base_url = self.get_base_url().rstrip("/")
        return oauth.Client(client_id, secret, base_url + REDIRECT_PATH)

    def _oauth_access_token(self, rejected=None):
        """A usable access token for this account, renewed when it expires within two minutes
        or when it is the ``rejected`` one (a server just refused it).

        Renewals of one account are serialised by an advisory lock, and the second one finds
        the token the first stored: one refresh per expiry, whatever runs at the same moment.

        :raises core_errors.GrantRevoked: the user must sign in again (``needs_sign_in`` and
            ``last_error`` are set and committed)
        :raises core_errors.OAuthError: the provider refused otherwise
        :raises core_errors.ConnectionFailed: the provider could not be reached
        """
        self.ensure_one()
        if not (self.env.su or self.user_id == self.env.user):
            raise AccessError(self.env._("Only the owner of a mail account can use it."))
        access, expires_at = self._oauth_stored_access()
        if access and access != rejected and not _expiring(expires_at):
            return access
        # flushed: the cursor below must see this transaction's settings (shared in tests)
        self.env.flush_all()
        try:
            with self.env.registry.cursor() as cr:
                # this transaction may hold the account's row already (it wrote it earlier):
                # then waiting for it here would wait for ourselves
                cr.execute("SET LOCAL lock_timeout = '5s'")
                return self.with_env(self.env(cr=cr, su=True))._oauth_renew(rejected, commit=True)
        except psycopg2.errors.LockNotAvailable:
            _logger.info("Webmail account %s: renewing the access token in the request's own "
                         "transaction (its row is locked by it)", self.id)
            return self.sudo()._oauth_renew(rejected, commit=False)
        finally:
            self.invalidate_recordset(["oauth_expires_at", "needs_sign_in", "last_error",
                                       "oauth_signed_in"])

    def _oauth_renew(self, rejected, *, commit):
        """Renew the access token, under the account's advisory lock, on this environment's
        cursor; ``commit`` when that is a cursor of its own (see the module doc)."""
        self.env.cr.execute("SELECT pg_advisory_xact_lock(%s, %s)", (OAUTH_LOCK_CLASS, self.id))
        access, expires_at = self._oauth_stored_access()
        if access and access != rejected and not _expiring(expires_at):
            return access  # another process renewed it meanwhile
        refresh_token = self._oauth_read_token("oauth_refresh_token_crypt")
        try:
            if not refresh_token:
                raise core_errors.GrantRevoked("not signed in")
            tokens = oauth.refresh(self._oauth_provider(), self._oauth_client(), refresh_token,
                                   timeout=self._network_timeout(),
                                   policy=self._net_policy(net_policy.HTTPS_PORTS))
        except core_errors.GrantRevoked as exc:
            self.write({"needs_sign_in": True, "last_error": self._error_message(exc)})
            if commit:
                # own cursor (see the module doc)
                self.env.cr.commit()  # pylint: disable=invalid-commit
            raise
        self._oauth_store_tokens(tokens)
        if commit:
            # own cursor (see the module doc)
            self.env.cr.commit()  # pylint: disable=invalid-commit
        _logger.info("Webmail account %s: access token renewed (%s)", self.id,
                     self.auth_method)
        return tokens.access_token

    def _oauth_stored_access(self):
        """``(access token, expiry datetime)`` as stored now (read from the table, not the
        cache: another process may have renewed it)."""
        self.env.cr.execute(SQL(
            "SELECT oauth_expires_at FROM %s WHERE id = %s", SQL.identifier(self._table), self.id,
        ))
        row = self.env.cr.fetchone()
        return self._oauth_read_token("oauth_access_token_crypt"), row and row[0]

    def _oauth_read_token(self, column):
        """A decrypted token column of this account, or None (none, or the encryption key
        changed: then the user signs in again, like a password entered again)."""
        self.env.cr.execute(SQL(
            "SELECT %s FROM %s WHERE id = %s",
            SQL.identifier(column), SQL.identifier(self._table), self.id,
        ))
        row = self.env.cr.fetchone()
        try:
            return secret_box.decrypt(self.env, row and row[0]) or None
        except secret_box.SecretUnavailable:
            return None

    def _oauth_store_tokens(self, tokens, identity=None):
        """Keep ``tokens`` (a :class:`~..core.oauth.Tokens`), encrypted; the sign-in is good."""
        self.ensure_one()
        self._oauth_write_tokens(tokens)
        values = {
            "oauth_expires_at": datetime.datetime.fromtimestamp(
                tokens.expires_at, datetime.timezone.utc).replace(tzinfo=None),
            "needs_sign_in": False,
        }
        if identity:
            values["oauth_identity"] = identity
        if self.needs_sign_in or (self.last_error and identity):
            values["last_error"] = False
        self.write(values)

    def _oauth_write_tokens(self, tokens):
        """Write (or, with None, clear) the encrypted token columns; a refresh answer without
        a refresh token keeps the stored one."""
        for account in self:
            if tokens is None:
                self.env.cr.execute(SQL(
                    "UPDATE %s SET oauth_access_token_crypt = NULL, "
                    "oauth_refresh_token_crypt = NULL WHERE id = %s",
                    SQL.identifier(self._table), account.id,
                ))
                continue
            self.env.cr.execute(SQL(
                "UPDATE %s SET oauth_access_token_crypt = %s WHERE id = %s",
                SQL.identifier(self._table),
                secret_box.encrypt(self.env, tokens.access_token), account.id,
            ))
            if tokens.refresh_token:
                self.env.cr.execute(SQL(
                    "UPDATE %s SET oauth_refresh_token_crypt = %s WHERE id = %s",
                    SQL.identifier(self._table),
                    secret_box.encrypt(self.env, tokens.refresh_token), account.id,
                ))
        self.invalidate_recordset(["oauth_signed_in"])


def _expiring(expires_at):
    if not expires_at:
        return True
    margin = datetime.timedelta(seconds=oauth.EXPIRY_MARGIN)
    return fields.Datetime.now() + margin >= expires_at
