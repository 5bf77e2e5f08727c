import contextlib
import datetime
import logging

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import email_normalize, html_escape, html_sanitize

from ..core import exceptions as core_errors
from ..core.html import prepare_body
from ..core.imap_session import connect
from ..core.mime import parse_message
from .bigint_field import BigInteger

_logger = logging.getLogger(__name__)

#: Largest message whose body is fetched for display (bytes).
MAX_BODY_FETCH = 25 * 1024 * 1024


class VtWebmailMessage(models.Model):
    _name = "vt_webmail.message"
    _description = "Webmail message"
    _order = "date desc, id desc"
    _rec_name = "subject"

    account_id = fields.Many2one("vt_webmail.account", required=True, ondelete="cascade",
                                 index=True, readonly=True)
    folder_id = fields.Many2one("vt_webmail.folder", required=True, ondelete="cascade",
                                readonly=True)
    user_id = fields.Many2one("res.users", required=True, index=True, readonly=True)
    uid = BigInteger(string="UID", required=True, readonly=True)
    uidvalidity = BigInteger(string="UIDVALIDITY", required=True, readonly=True)
    message_id = fields.Char(string="Message-Id", index="btree_not_null", readonly=True)
    subject = fields.Char(readonly=True)
    email_from = fields.Char(string="From", readonly=True)
    email_from_normalized = fields.Char(string="Sender address", index="btree_not_null",
                                        readonly=True)
    email_to = fields.Char(string="To", readonly=True)
    email_cc = fields.Char(string="Cc", readonly=True)
    date = fields.Datetime(readonly=True)
    in_reply_to = fields.Char(string="In-Reply-To", readonly=True)
    references = fields.Text(readonly=True)
    is_seen = fields.Boolean(string="Read", readonly=True)
    is_flagged = fields.Boolean(string="Flagged", readonly=True)
    is_answered = fields.Boolean(string="Answered", readonly=True)
    is_draft = fields.Boolean(string="Draft", readonly=True)
    size = fields.Integer(readonly=True, help="Size on the server, in bytes.")
    has_attachments = fields.Boolean(readonly=True)
    parse_note = fields.Char(readonly=True,
                             help="What could not be read in this mail, if anything.")

    body_html = fields.Html(
        string="Body", compute="_compute_body_html", sanitize=False,
        help="The sanitized body, fetched from the server on first read and then kept.",
    )
    body_cache = fields.Html(sanitize=False, readonly=True, prefetch=False, copy=False)
    body_state = fields.Selection(
        [("none", "Not fetched"), ("done", "Fetched"), ("error", "Could not be fetched")],
        default="none", required=True, readonly=True,
    )
    has_remote_images = fields.Boolean(readonly=True)
    attachment_ids = fields.One2many(
        "ir.attachment", "res_id", string="Attachments", readonly=True,
        domain=[("res_model", "=", "vt_webmail.message")],
    )

    _sql_constraints = [
        ("folder_uid_unique", "UNIQUE(folder_id, uidvalidity, uid)",
         "A message appears once per folder, UIDVALIDITY and UID."),
    ]

    def init(self):
        # the list is read newest first per folder
        self.env.cr.execute(
            "CREATE INDEX IF NOT EXISTS vt_webmail_message_folder_date_idx "
            "ON vt_webmail_message (folder_id, date DESC, id DESC)"
        )

    # -- compute ---------------------------------------------------------------------------------

    @api.depends("body_cache", "body_state")
    def _compute_body_html(self):
        notices = self.filtered(lambda m: m.body_state == "none")._fetch_bodies()
        for message in self:
            message.body_html = notices.get(message.id) or message.body_cache or False

    # -- reading -------------------------------------------------------------------------------

    def web_read(self, specification):
        """Opening a mail in the web client marks it read, as every webmail does.

        Only the Webmail views ask for it (context key ``vt_webmail_mark_read``); ``read``,
        ``search_read`` and XML-RPC never change a flag.
        """
        if self.env.context.get("vt_webmail_mark_read") and len(self) == 1 \
                and not self.is_seen:
            try:
                self._set_flag("\\Seen", True)
            except UserError:
                # the mail stays readable from the cache when the server is unreachable
                _logger.info("Could not mark message %s read on the server", self.id)
        return super().web_read(specification)

    # marking read writes: the web client must not call this on a read-only cursor
    web_read._readonly = False

    # -- actions (written back to the IMAP server) ------------------------------------------

    def action_mark_read(self):
        """Set \\Seen on the server and in the cache."""
        self._set_flag("\\Seen", True)
        return True

    def action_mark_unread(self):
        self._set_flag("\\Seen", False)
        return True

    def action_flag(self):
        self._set_flag("\\Flagged", True)
        return True

    def action_unflag(self):
        self._set_flag("\\Flagged", False)
        return True

    def action_move(self, folder_id):
        """Move these messages to another folder of the same account.

        :param folder_id: id of a ``vt_webmail.folder`` of the messages' account
        """
        self._check_owner()
        destination = self.env["vt_webmail.folder"].browse(int(folder_id)).exists()
        destination.check_access("read")
        if not destination or set(self.account_id.ids) != set(destination.account_id.ids):
            raise UserError(self.env._("Mail can only be moved to a folder of its own account."))
        moving = self.filtered(lambda m: m.folder_id != destination)
        for (account, folder), messages in moving._by_folder().items():
            with self._imap_errors(account), connect(account._imap_settings()) as session:
                session.select(folder.name, readonly=False)
                session.move(messages.mapped("uid"), destination.name)
        moving._forget()
        return True

    def action_delete(self):
        """Delete these messages: to the account's Trash, or for good when they are in the
        Trash already or the account has none (\\Deleted, then EXPUNGE)."""
        self._check_owner()
        for (account, folder), messages in self._by_folder().items():
            trash = account.folder_ids.filtered(lambda f: f.role == "trash")[:1]
            with self._imap_errors(account), connect(account._imap_settings()) as session:
                session.select(folder.name, readonly=False)
                if trash and folder != trash:
                    session.move(messages.mapped("uid"), trash.name)
                else:
                    session.delete(messages.mapped("uid"))
        self._forget()
        return True

    # -- helpers -----------------------------------------------------------------------------

    def _check_owner(self):
        """Only the owner acts on mail; record rules already hide the rest, this also covers
        sudo-less calls on ids guessed over RPC."""
        self.check_access("read")
        if not self.env.su and any(m.user_id != self.env.user for m in self):
            raise AccessError(self.env._("You can only act on your own mail."))

    def _by_folder(self):
        groups = {}
        for message in self:
            groups.setdefault((message.account_id, message.folder_id), self.browse())
            groups[(message.account_id, message.folder_id)] |= message
        return groups

    @contextlib.contextmanager
    def _imap_errors(self, account):
        """Turn engine errors into a UserError the user can read."""
        try:
            yield
        except core_errors.WebmailError as exc:
            raise UserError(account._error_message(exc)) from exc

    def _set_flag(self, flag, value):
        """Add or remove one IMAP flag on the server, then in the cache."""
        self._check_owner()
        field_name = {"\\Seen": "is_seen", "\\Flagged": "is_flagged",
                      "\\Answered": "is_answered"}[flag]
        todo = self.filtered(lambda m: m[field_name] != value)
        for (account, folder), messages in todo._by_folder().items():
            with self._imap_errors(account), connect(account._imap_settings()) as session:
                session.select(folder.name, readonly=False)
                session.set_flags(messages.mapped("uid"), [flag], add=value)
        # sudo: the owner was checked above; users have no write access to the cache itself
        todo.sudo().write({field_name: value})
        todo.folder_id.sudo()._update_counts()

    def _forget(self):
        """Drop these messages from the cache (they left their folder on the server)."""
        folders = self.folder_id.sudo()
        self._purge_attachments()
        self.sudo().unlink()
        folders._update_counts()

    def _fetch_bodies(self):
        """Fetch, parse and keep the bodies of these messages (BODY.PEEK: flags untouched).

        One IMAP session per account; reading never raises. A message that cannot be shown
        for good (gone from the server, too large) keeps a short notice as its body with
        ``body_state = 'error'``; when the server cannot be reached or refuses the login, the
        notice is returned for this read only and the next read tries again.

        :returns: ``{message id: notice}`` for the messages not fetched this time
        """
        notices = {}
        if not self:
            return notices
        # the caller could read these messages (record rules): the cache may be filled as sudo
        messages = self.sudo()
        for account in messages.account_id:
            mine = messages.filtered(lambda m, account=account: m.account_id == account)
            try:
                with connect(account._imap_settings()) as session:
                    for folder in mine.folder_id:
                        session.select(folder.name, readonly=True)
                        for message in mine.filtered(lambda m, f=folder: m.folder_id == f):
                            message._fetch_one_body(session)
            except (core_errors.WebmailError, UserError) as exc:
                notice = account._error_message(exc) \
                    if isinstance(exc, core_errors.WebmailError) else str(exc)
                body = html_sanitize(f"<p><em>{html_escape(notice)}</em></p>")
                for message in mine.filtered(lambda m: m.body_state == "none"):
                    notices[message.id] = body
        return notices

    def _fetch_one_body(self, session):
        self.ensure_one()
        try:
            raw = session.fetch_message(self.uid, max_size=MAX_BODY_FETCH)
        except (core_errors.MessageGone, core_errors.MessageTooLarge) as exc:
            self._store_body_error(self.account_id._error_message(exc))
            return
        self._store_parsed_body(raw)

    def _store_parsed_body(self, raw):
        """Parse ``raw``, keep its attachments and its sanitized body."""
        parsed = parse_message(raw)
        Attachment = self.env["ir.attachment"].sudo()
        self.attachment_ids.sudo().unlink()
        cid_urls = {}
        for part in parsed.attachments:
            attachment = Attachment.create({
                "name": part.filename or self.env._("attachment"),
                "mimetype": part.content_type,
                "raw": part.data,
                "res_model": self._name,
                "res_id": self.id,
            })
            if part.content_id:
                cid_urls[part.content_id] = f"/vt_webmail/part/{self.id}/{attachment.id}"
        prepared = prepare_body(parsed.html, cid_urls, allow_remote_images=False)
        body = html_sanitize(prepared.html, sanitize_style=True, strip_classes=True)
        notes = "; ".join(filter(None, [self.parse_note] + list(parsed.notes)))
        self.sudo().write({
            "body_cache": body,
            "body_state": "done",
            "has_remote_images": prepared.has_remote_images,
            "parse_note": notes[:500] or False,
        })

    def _store_body_error(self, notice):
        self.sudo().write({
            "body_cache": html_sanitize(f"<p><em>{html_escape(notice)}</em></p>"),
            "body_state": "error",
        })

    @api.model
    def _summary_values(self, folder, uidvalidity, summary):
        """Column values of a new cached message from a core ``MessageSummary``."""
        date = summary.date or summary.internal_date
        if date is not None and date.tzinfo is not None:
            # Odoo keeps naive UTC datetimes
            date = date.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        message_id = summary.message_id if summary.message_id not in ("<>", "") else False
        return {
            "account_id": folder.account_id.id,
            "folder_id": folder.id,
            "user_id": folder.account_id.user_id.id,
            "uid": summary.uid,
            "uidvalidity": uidvalidity,
            "message_id": message_id,
            "subject": summary.subject or False,
            "email_from": summary.email_from or False,
            "email_from_normalized": email_normalize(summary.email_from) or False,
            "email_to": summary.email_to or False,
            "email_cc": summary.email_cc or False,
            "date": date,
            "in_reply_to": summary.in_reply_to or False,
            "references": summary.references or False,
            "is_seen": summary.is_seen,
            "is_flagged": summary.is_flagged,
            "is_answered": summary.is_answered,
            "is_draft": summary.is_draft,
            "size": min(summary.size, 2**31 - 1),
            "has_attachments": summary.has_attachments,
            "parse_note": summary.note[:500] or False,
            "body_state": "none",
        }

    def _purge_attachments(self):
        """Remove the attachments kept for these messages (before they are deleted in SQL or
        by a database cascade, which would leave them behind)."""
        if self.ids:
            self.env["ir.attachment"].sudo().search([
                ("res_model", "=", self._name), ("res_id", "in", self.ids),
            ]).unlink()
