import contextlib
import dataclasses
import datetime
import logging
import time

from odoo import api, fields, models, tools
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tools import SQL

from ..compat import Constraint, cron_progress
from ..core import exceptions as core_errors
from ..core import net_policy
from ..core.imap_session import ServerSettings, connect
from ..core.session_scope import SESSIONS
from ..core.sync import sync_folder
from ..tools import secret_box
from ..tools.sync_store import OdooSyncStore, commit
from .vt_webmail_folder import ROLE_ORDER, SYNCED_ROLES

_logger = logging.getLogger(__name__)

DEFAULT_PORTS = {"ssl": 993, "starttls": 143, "none": 143}
SMTP_DEFAULT_PORTS = {"ssl": 465, "starttls": 587, "none": 25}
SECURITY_MODES = [
    ("ssl", "SSL/TLS"),
    ("starttls", "STARTTLS"),
    ("none", "None (unencrypted)"),
]
#: Columns holding encrypted secrets: no ORM field maps them, so no RPC call can read them.
SECRET_COLUMNS = {"password": "password_crypt", "smtp_password": "smtp_password_crypt"}
#: First key of the PostgreSQL advisory lock that serialises refreshes of one account
#: (the second key is the account id). Any constant unlikely to collide will do.
SYNC_LOCK_CLASS = 0x76776D  # "vwm"
#: The outgoing-connection policy (core/net_policy.py): the Odoo configuration file's option,
#: when set, else the system parameter an administrator sets in Settings.
ALLOWED_HOSTS_OPTION = "vt_webmail_allowed_hosts"
ALLOWED_HOSTS_PARAMETER = "vt_webmail.allowed_hosts"
#: Connection tests a user may run per minute (they probe a host and port of their choice);
#: the system parameter vt_webmail.connection_tests_per_minute changes it.
CONNECTION_TESTS_PER_MINUTE = 10
#: Extensions the connection test reports, offered or missing (see _missing_feature_messages).
SERVER_FEATURES = ("IDLE", "CONDSTORE", "QRESYNC", "MOVE", "UIDPLUS", "SPECIAL-USE", "ESEARCH")
#: Folders are listed again (LIST) at most this often by scheduled refreshes.
FOLDER_LIST_MAX_AGE = datetime.timedelta(hours=1)
#: A scheduled refresh may start this much before its interval has fully elapsed, so an
#: account with a 5-minute interval is not pushed to 6 minutes by the cron's own jitter.
SCHEDULE_SLACK = datetime.timedelta(seconds=30)
#: A scheduled refresh stops after this many seconds and says what remains (Odoo runs it again
#: at once, up to 10 times per job run: a run stays under Odoo's 120 s thread time limit).
CRON_BATCH_SECONDS = 10


class VtWebmailAccount(models.Model):
    _name = "vt_webmail.account"
    _description = "Webmail account"
    _order = "user_id, is_default desc, id"

    user_id = fields.Many2one(
        "res.users", required=True, index=True, ondelete="cascade",
        default=lambda self: self.env.user,
    )
    active = fields.Boolean(default=True)
    is_default = fields.Boolean(
        string="Default account", copy=False,
        help="The account Webmail opens first. Each user has one default account.",
    )
    from_name = fields.Char(string="Display name", help="The name your recipients see.")
    email = fields.Char(required=True, help="Your address, used as the sender of your mail.")
    imap_host = fields.Char(string="IMAP server", required=True, help="Server name or IP address.")
    imap_port = fields.Integer(
        string="IMAP port", compute="_compute_imap_port", store=True, readonly=False,
        help="993 for SSL/TLS, 143 for STARTTLS or no encryption.",
    )
    login = fields.Char(string="User name", required=True)
    password = fields.Char(
        compute="_compute_password", inverse="_inverse_password", copy=False,
        help="Stored encrypted. It can be replaced, never read back.",
    )
    has_password = fields.Boolean(compute="_compute_has_password")
    protocol = fields.Selection(
        [("imap4", "IMAP4"), ("imap2", "IMAP2")], default="imap4", required=True,
        help="vtiger offered IMAP2 and IMAP4; both speak IMAP4rev1 (RFC 3501) today.",
    )
    security = fields.Selection(SECURITY_MODES, default="ssl", required=True)
    verify_certificate = fields.Boolean(
        default=True,
        help="Check that the server certificate is trusted and valid for the server name. "
             "Turn off only for a server you trust on a network you trust.",
    )
    ca_certificate = fields.Text(
        string="Extra trusted CA (PEM)",
        help="Certificate of a private certificate authority that signed the server's "
             "certificate, in PEM. The system's trusted authorities are used as well.",
    )
    refresh_interval = fields.Integer(
        string="Refresh every (minutes)", default=5, required=True,
    )
    emails_per_page = fields.Integer(default=20, required=True)
    last_sync_at = fields.Datetime(string="Last refresh", readonly=True, copy=False,
                                   help="When the last successful refresh ended.")
    last_attempt_at = fields.Datetime(readonly=True, copy=False,
                                      help="When the last refresh, successful or not, ended.")
    last_error = fields.Text(readonly=True, copy=False)
    folders_listed_at = fields.Datetime(readonly=True, copy=False)

    # outgoing mail
    smtp_mode = fields.Selection(
        [("account", "This account's SMTP server"), ("odoo", "Odoo's outgoing mail server")],
        string="Send with", default="account", required=True,
    )
    smtp_host = fields.Char(
        string="SMTP server", help="Leave empty to use the IMAP server name.",
    )
    smtp_port = fields.Integer(string="SMTP port", compute="_compute_smtp_port", store=True,
                               readonly=False)
    smtp_security = fields.Selection(SECURITY_MODES, string="SMTP security", default="starttls",
                                     required=True)
    smtp_login = fields.Char(string="SMTP user name", help="Leave empty to use the IMAP login.")
    smtp_password = fields.Char(
        string="SMTP password", compute="_compute_password", inverse="_inverse_smtp_password",
        copy=False, help="Leave empty to use the IMAP password. Stored encrypted.",
    )

    folder_ids = fields.One2many("vt_webmail.folder", "account_id", string="Folders")
    message_ids = fields.One2many("vt_webmail.message", "account_id", string="Messages")

    _refresh_interval_min = Constraint("CHECK(refresh_interval >= 1)",
                                       "The refresh interval is at least one minute.")
    _emails_per_page_range = Constraint("CHECK(emails_per_page BETWEEN 1 AND 500)",
                                        "Emails per page must be between 1 and 500.")
    _imap_port_range = Constraint("CHECK(imap_port BETWEEN 1 AND 65535)",
                                  "The IMAP port must be between 1 and 65535.")

    @api.model
    def _secret_columns(self):
        """The encrypted columns of the table (see secret_box): passwords, and OAuth tokens
        (``vt_webmail_account_oauth``)."""
        return tuple(SECRET_COLUMNS.values())

    def init(self):
        # the encrypted secrets live in columns no field maps (see secret_box)
        for column in SECRET_COLUMNS.values():
            self.env.cr.execute(SQL(
                "ALTER TABLE %s ADD COLUMN IF NOT EXISTS %s varchar",
                SQL.identifier(self._table), SQL.identifier(column),
            ))

    # -- compute / inverse ------------------------------------------------------------------

    @api.depends("email", "from_name")
    def _compute_display_name(self):
        for account in self:
            if account.from_name and account.email:
                account.display_name = f"{account.from_name} <{account.email}>"
            else:
                account.display_name = account.email or account.from_name or ""

    @api.depends("security")
    def _compute_imap_port(self):
        for account in self:
            if not account.imap_port or account.imap_port in DEFAULT_PORTS.values():
                account.imap_port = DEFAULT_PORTS[account.security or "ssl"]

    @api.depends("smtp_security")
    def _compute_smtp_port(self):
        for account in self:
            if not account.smtp_port or account.smtp_port in SMTP_DEFAULT_PORTS.values():
                account.smtp_port = SMTP_DEFAULT_PORTS[account.smtp_security or "starttls"]

    def _compute_password(self):
        for account in self:
            account.password = False
            account.smtp_password = False

    def _compute_has_password(self):
        if not self.ids:
            self.has_password = False
            return
        self.env.cr.execute(SQL(
            "SELECT id FROM %s WHERE id IN %s AND password_crypt IS NOT NULL",
            SQL.identifier(self._table), tuple(self.ids),
        ))
        with_password = {row[0] for row in self.env.cr.fetchall()}
        for account in self:
            account.has_password = account.id in with_password

    def _inverse_password(self):
        self._store_secret("password")

    def _inverse_smtp_password(self):
        self._store_secret("smtp_password")

    def _store_secret(self, field_name):
        column = SECRET_COLUMNS[field_name]
        for account in self:
            value = account[field_name]
            if not value:
                # the web client sends False for an untouched password field: keep the old one
                continue
            self.env.cr.execute(SQL(
                "UPDATE %s SET %s = %s WHERE id = %s",
                SQL.identifier(self._table), SQL.identifier(column),
                secret_box.encrypt(self.env, value), account.id,
            ))
        # the clear value written by the caller must not linger in the cache for a read
        self.invalidate_recordset([field_name, "has_password"])

    # -- constraints and CRUD ------------------------------------------------------------------

    @api.constrains("email")
    def _check_email(self):
        for account in self:
            if "@" not in (account.email or ""):
                raise ValidationError(self.env._("%s is not an email address.", account.email))

    @api.model_create_multi
    def create(self, vals_list):
        accounts = super().create(vals_list)
        accounts._ensure_one_default(prefer=accounts.filtered("is_default"))
        # a new account is synced at once by the scheduler, not at its next minute
        self.env.ref("vt_webmail.ir_cron_refresh_accounts", raise_if_not_found=False) \
            and self.env.ref("vt_webmail.ir_cron_refresh_accounts").sudo()._trigger()
        return accounts

    def unlink(self):
        # sudo: the owner (or an administrator allowed to delete) may drop the cached mail too
        self.sudo().folder_ids.unlink()
        return super().unlink()

    def write(self, vals):
        if vals.get("is_default") and len(self) > 1:
            raise UserError(self.env._("Only one account can be the default."))
        result = super().write(vals)
        if self.env.context.get("vt_webmail_default_fixed"):
            return result
        if "is_default" in vals or "user_id" in vals or "active" in vals:
            self._ensure_one_default(prefer=self if vals.get("is_default") else None)
        return result

    def _ensure_one_default(self, prefer=None):
        """Keep exactly one default among each user's active accounts (``prefer`` wins)."""
        prefer = (prefer or self.browse()).sudo()
        # sudo: only the is_default flag of the same users' accounts is touched
        accounts = self.sudo().search([("user_id", "in", self.user_id.ids)])
        for user in self.user_id:
            mine = accounts.filtered(lambda a, user=user: a.user_id == user)
            chosen = (prefer & mine)[:1] or mine.filtered("is_default")[:1] or mine[:1]
            for account in mine | self.sudo().filtered(lambda a: not a.active):
                wanted = account == chosen
                if account.is_default != wanted:
                    account.with_context(vt_webmail_default_fixed=True).write(
                        {"is_default": wanted})

    # -- actions -------------------------------------------------------------------------------

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
            with self._imap_connect() as session:
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

    def action_refresh(self):
        """Refresh these accounts now (button and XML-RPC).

        :returns: ``{"new": n, "changed": n, "removed": n, "running": bool, "error": str|False}``
            summed over the accounts; ``running`` is true when a refresh of one of them was
            already under way elsewhere (this call then did nothing for it)
        """
        totals = {"new": 0, "changed": 0, "removed": 0, "running": False, "error": False}
        errors = []
        for account in self:
            outcome = account._refresh_one(list_folders=not account.folder_ids)
            for key in ("new", "changed", "removed"):
                totals[key] += outcome[key]
            totals["running"] = totals["running"] or outcome["running"]
            if outcome["error"]:
                errors.append(outcome["error"])
        totals["error"] = "\n".join(errors) or False
        return totals

    def action_refresh_folders(self):
        """List the account's folders on the server again, then refresh."""
        return self._refresh_one(list_folders=True) if len(self) == 1 else {
            account.id: account._refresh_one(list_folders=True) for account in self
        }

    def action_open_webmail(self):
        """Open Webmail: this account's mail (the default account's when called on no
        record), its inbox first; the account form when the user has no account yet.

        :returns: a window action on ``vt_webmail.message`` (list limit: the account's
            ``emails_per_page``; context ``vt_webmail_mark_read`` so opening a mail marks it
            read) or, with no account, the creation form of one
        """
        if len(self) > 1:
            raise UserError(self.env._("Open one mail account at a time."))
        account = self
        if account:
            account.check_access("read")
            if account.user_id != self.env.user:
                raise AccessError(self.env._("You can only read your own mail."))
        else:
            account = self.search([("user_id", "=", self.env.user.id), ("active", "=", True)],
                                  order="is_default desc, id", limit=1)
        if not account:
            return {
                "type": "ir.actions.act_window",
                "name": self.env._("Add your mail account"),
                "res_model": self._name,
                "view_mode": "form",
                "views": [[False, "form"]],
                "target": "current",
                "context": {"default_user_id": self.env.user.id,
                            "default_email": self.env.user.email or False},
            }
        if not account.folder_ids:
            # never refreshed yet (a new account): list its folders and read its inbox now
            account.action_refresh()
        inbox = account.folder_ids.filtered(lambda f: f.role == "inbox")[:1] \
            or account.folder_ids[:1]
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "vt_webmail.vt_webmail_message_action")
        action.update({
            # the breadcrumb shows display_name first
            "name": account.email,
            "display_name": account.email,
            # a reload of the page runs the menu's server action again (it has this path)
            "path": "webmail",
            "domain": [("account_id", "=", account.id)],
            "context": {
                "vt_webmail_mark_read": True,
                "vt_webmail_account_id": account.id,
                "searchpanel_default_folder_id": inbox.id or False,
            },
            "limit": account.emails_per_page,
        })
        return action

    @api.model
    def _cron_refresh(self):
        """Scheduled action (every minute): refresh the accounts whose interval has elapsed.

        Accounts are taken least recently refreshed first; a failing account records its
        error and the next one goes on. Each refresh takes the account's advisory lock, so a
        button click or another process running the same job at the same moment skips it,
        and checks under the lock that the account is still due, so one that another process
        refreshed since this one listed it is not refreshed twice. After
        :data:`CRON_BATCH_SECONDS` the job stops and reports what remains: Odoo runs it again
        at once, on whichever server's cron worker is free, and no run holds a worker long
        enough to be killed for it.
        """
        started = time.monotonic()
        now = fields.Datetime.now()
        # sudo: the scheduler refreshes every user's account with their own stored settings
        accounts = self.sudo().search([("active", "=", True)])
        due = accounts.filtered(
            lambda a: not a.last_attempt_at
            or a.last_attempt_at + datetime.timedelta(minutes=a.refresh_interval)
            <= now + SCHEDULE_SLACK
        ).sorted(lambda a: a.last_attempt_at or datetime.datetime.min)
        round_trips = refreshed = 0
        for done, account in enumerate(due, start=1):
            try:
                outcome = account._refresh_one(only_if_due=True)
                if not outcome.get("skipped") and not outcome["running"]:
                    refreshed += 1
                    round_trips += outcome.get("round_trips", 0)
            except Exception:
                # one broken account must never stop the others (its error is logged)
                _logger.exception("Webmail refresh of account %s failed", account.id)
            cron_progress(self.env["ir.cron"], done=done, remaining=len(due) - done)
            if time.monotonic() - started > CRON_BATCH_SECONDS:
                break
        if due:
            _logger.info("Webmail scheduled refresh: %d accounts refreshed of %d due, %d IMAP "
                         "round trips, %.1f s", refreshed, len(due), round_trips,
                         time.monotonic() - started)

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

    # -- refresh -----------------------------------------------------------------------------------

    def _refresh_one(self, list_folders=None, only_if_due=False):
        """Refresh one account on a cursor of its own, under its advisory lock.

        Access is checked here, with the caller's rights (only the owner, or the scheduler,
        can use the stored password); the work then runs as superuser on the new cursor, which
        commits batch by batch (see ``sync_store``). Returns the counts dict of
        :meth:`action_refresh` for this account (plus ``skipped``: ``only_if_due`` and another
        process refreshed it since it was found due; ``round_trips``: IMAP round trips).
        """
        self.ensure_one()
        outcome = {"new": 0, "changed": 0, "removed": 0, "running": False, "error": False}
        try:
            settings = self._imap_settings()
        except core_errors.WebmailError as exc:
            # no sign-in token (the provider refused or could not be reached): nothing to do
            # with the server; the account says why
            outcome["error"] = self._error_message(exc)
            # sudo: the bookkeeping fields are read-only to users; the owner was checked
            self.sudo().write({"last_error": outcome["error"],
                               "last_attempt_at": fields.Datetime.now()})
            return outcome
        # the sync cursor must see what this transaction wrote so far (same connection in tests)
        self.env.flush_all()
        with self.env.registry.cursor() as cr:
            cr.execute("SELECT pg_try_advisory_lock(%s, %s)", (SYNC_LOCK_CLASS, self.id))
            if not cr.fetchone()[0]:
                outcome["running"] = True
                outcome["error"] = self.env._("A refresh of %s is already running.", self.email)
                return outcome
            try:
                if only_if_due and not self._still_due(cr):
                    outcome["skipped"] = True
                    return outcome
                account = self.with_env(self.env(cr=cr, su=True))
                outcome.update(account._refresh_locked(settings, list_folders))
            finally:
                cr.execute("SELECT pg_advisory_unlock(%s, %s)", (SYNC_LOCK_CLASS, self.id))
        # what the sync cursor wrote is not in this environment's cache
        self.env.invalidate_all()
        return outcome

    def _still_due(self, cr):
        """Whether the account's interval has elapsed, as the database says now (under its
        lock: a refresh that ended in another process meanwhile is seen)."""
        # the lock was taken in this transaction's first statement, whose snapshot may predate
        # the commit of the refresh that released it: a new transaction sees it
        commit(cr)
        cr.execute("SELECT active, last_attempt_at, refresh_interval FROM vt_webmail_account "
                   "WHERE id = %s", (self.id,))
        row = cr.fetchone()
        if not row or not row[0]:
            return False
        return not row[1] or row[1] + datetime.timedelta(minutes=row[2]) \
            <= fields.Datetime.now() + SCHEDULE_SLACK

    def _refresh_locked(self, settings, list_folders):
        counts = {"new": 0, "changed": 0, "removed": 0, "error": False, "round_trips": 0}
        cr = self.env.cr
        try:
            with self._imap_sync_session(settings) as session:
                stale = not self.folders_listed_at or (
                    fields.Datetime.now() - self.folders_listed_at > FOLDER_LIST_MAX_AGE)
                if list_folders or (list_folders is None and stale) or not self.folder_ids:
                    self._sync_folder_list(session)
                    commit(cr)
                for folder in self.folder_ids.filtered("is_synced"):
                    store = OdooSyncStore(folder)
                    try:
                        result = sync_folder(session, folder.name, folder._sync_state(), store)
                        counts["round_trips"] += result.round_trips
                    except core_errors.FolderNotFound:
                        # deleted on the server by another client since the last LIST
                        folder.unlink()
                        commit(cr)
                        continue
                    counts["new"] += result.new
                    counts["changed"] += result.changed
                    counts["removed"] += result.removed
                self._after_sync()
        except core_errors.WebmailError as exc:
            cr.rollback()
            counts["error"] = self._error_message(exc)
            _logger.info("Webmail refresh of account %s stopped: %s", self.id, exc)
        now = fields.Datetime.now()
        values = {"last_attempt_at": now, "last_error": counts["error"]}
        if not counts["error"]:
            values["last_sync_at"] = now
        self.write(values)
        if counts["new"] or counts["changed"] or counts["removed"]:
            self.user_id._bus_send("vt_webmail.refreshed", {
                "account_id": self.id,
                "new": counts["new"], "changed": counts["changed"], "removed": counts["removed"],
            })
        commit(cr)
        return counts

    def _sync_folder_list(self, session):
        """Mirror the server's folder list (LIST); INBOX and special-use folders are synced."""
        self.ensure_one()
        listed = {info.name: info for info in session.list_folders() if info.selectable}
        existing = {folder.name: folder for folder in self.folder_ids}
        for name, info in listed.items():
            values = {
                "delimiter": info.delimiter,
                "role": info.role or False,
                "sequence": ROLE_ORDER.get(info.role, 10),
            }
            if name in existing:
                folder = existing[name]
                changed = {k: v for k, v in values.items() if folder[k] != v}
                if changed:
                    folder.write(changed)
            else:
                self.env["vt_webmail.folder"].create(dict(
                    values, account_id=self.id, name=name, is_synced=info.role in SYNCED_ROLES,
                ))
        self.folder_ids.filtered(lambda f: f.name not in listed).unlink()
        self.folders_listed_at = fields.Datetime.now()

    # -- helpers -------------------------------------------------------------------------------

    def _read_secret(self, field_name):
        """Decrypt one of this account's secrets, for its owner or the server's own jobs."""
        self.ensure_one()
        if not (self.env.su or self.user_id == self.env.user):
            # administrators may fix settings, never use or read someone else's password
            raise AccessError(self.env._("Only the owner of a mail account can use it."))
        self.env.cr.execute(SQL(
            "SELECT %s FROM %s WHERE id = %s",
            SQL.identifier(SECRET_COLUMNS[field_name]), SQL.identifier(self._table), self.id,
        ))
        row = self.env.cr.fetchone()
        try:
            return secret_box.decrypt(self.env, row and row[0])
        except secret_box.SecretUnavailable:
            raise UserError(self.env._(
                "The stored password of %s can no longer be decrypted (the encryption key "
                "changed). Please enter it again.", self.email,
            ))

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
        this account, logged in once; outside one, or with explicit ``settings`` (a test of
        settings being edited), a session of its own, logged out at the end of the block.
        """
        self.ensure_one()
        if settings is not None:
            return self._imap_open(settings)
        return SESSIONS.borrow((self.env.cr.dbname, self.id), self._imap_open)

    @contextlib.contextmanager
    def _imap_sync_session(self, settings):
        """A sync's session, logged in with ``settings``, and one request: what the sync calls
        afterwards (:meth:`_after_sync`) borrows it rather than log in again."""
        self.ensure_one()
        with self._imap_request(), SESSIONS.borrow(
                (self.env.cr.dbname, self.id), lambda: self._imap_open(settings)) as session:
            yield session

    def _after_sync(self):
        """What a refresh or a push sync does once its folders are up to date, in its IMAP
        session, on its cursor (committed after), as superuser: nothing here; Qualify logs
        the follow-ups of qualified conversations (vt_webmail_account_qualify.py)."""

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
