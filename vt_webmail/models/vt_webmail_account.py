"""The mail account and its settings: the server, the login and its encrypted secrets, the
default account, opening Webmail on it.

Its other jobs have files of their own: talking to its IMAP server (sessions, the connection
test, errors in plain words) in ``vt_webmail_account_imap.py``, refreshing it in
``vt_webmail_account_sync.py``, sending in ``vt_webmail_account_send.py``, OAuth 2.0 in
``vt_webmail_account_oauth.py``, push in ``vt_webmail_account_push.py``.
"""

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tools import SQL

from ..compat import Constraint
from ..tools import secret_box

DEFAULT_PORTS = {"ssl": 993, "starttls": 143, "none": 143}
SMTP_DEFAULT_PORTS = {"ssl": 465, "starttls": 587, "none": 25}
SECURITY_MODES = [
    ("ssl", "SSL/TLS"),
    ("starttls", "STARTTLS"),
    ("none", "None (unencrypted)"),
]
#: Columns holding encrypted secrets: no ORM field maps them, so no RPC call can read them.
SECRET_COLUMNS = {"password": "password_crypt", "smtp_password": "smtp_password_crypt"}
#: The outgoing-connection policy (core/net_policy.py): the Odoo configuration file's option,
#: when set, else the system parameter an administrator sets in Settings.
ALLOWED_HOSTS_OPTION = "vt_webmail_allowed_hosts"
ALLOWED_HOSTS_PARAMETER = "vt_webmail.allowed_hosts"


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
        # these two columns only: a list of mails names its accounts on every page, and the
        # account's whole row (some fifty columns) is not needed for that
        self.filtered("id").fetch(["email", "from_name"])
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

    # -- opening Webmail -----------------------------------------------------------------------

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

    # -- secrets -------------------------------------------------------------------------------

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
