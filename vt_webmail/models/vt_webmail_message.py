import contextlib
import logging
import re
from email import message_from_bytes
from email.policy import default as default_email_policy

import psycopg2
from markupsafe import Markup

from odoo import Command, api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.modules.db import FunctionStatus
from odoo.osv import expression
from odoo.tools import SQL, email_normalize, html2plaintext, html_escape, html_sanitize

from ..core import compose
from ..core import exceptions as core_errors
from ..core import qualify as qualify_rules
from ..core.html import page_body, prepare_body
from ..core.mime import merge_notes, parse_message
from ..core.search import imap_criteria
from ..core.sync import summary_from_fetch
from .bigint_field import BigInteger
from .sync_store import OdooSyncStore

_logger = logging.getLogger(__name__)

#: Largest message whose body is fetched for display (bytes).
MAX_BODY_FETCH = 25 * 1024 * 1024
#: A search on the server lists at most this many mails (the newest).
SERVER_SEARCH_LIMIT = 500
#: Image types served inline by the part route (never SVG: it can carry scripts).
INLINE_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp",
                                "image/bmp", "image/avif", "image/x-icon"})
#: Qualify: the models a mail may be logged on, and how the user calls them.
QUALIFY_MODELS = ("crm.lead", "res.partner")
QUALIFY_MODEL_SELECTION = [("crm.lead", "Lead/Opportunity"), ("res.partner", "Contact")]
#: The "Text" filter's fields (``_search_search_text``), in the text index of the list.
TEXT_INDEX_FIELDS = ("subject", "email_from", "email_to", "email_cc")
TEXT_INDEX = "vt_webmail_message_text_idx"
OWNER_STATISTICS = "vt_webmail_message_owner_stats"
#: Qualify: at most this many leads, and as many contacts, are weighed for one address.
QUALIFY_MAX_CANDIDATES = 50
#: Qualify: Message-Ids of a reply's thread looked up for the record it was qualified on.
QUALIFY_MAX_REFERENCES = 50


def _frame_html(html):
    """Odoo's sanitizer over a body cleaned for the sandboxed frame (``keep_style=True``).

    Without Odoo's tag whitelist (``sanitize_tags=False``): it is what kills ``<style>``, which
    the frame keeps; lxml's cleaner under it still removes scripts, frames, plugins, forms,
    ``<meta>``, ``<link>``, every ``on*`` attribute and ``javascript:`` URL, and empties a style
    sheet with script-like content. ``class``, ``id`` and inline styles are kept as they are.
    """
    return html_sanitize(html, sanitize_tags=False, sanitize_style=False, strip_classes=False)


def _page_html(html):
    """A body kept for the frame, cleaned for a page (``body_html``): ``core.html.page_body``,
    then Odoo's sanitizer as for any HTML put into a page (its tag whitelist, classes stripped,
    inline styles kept to its list of properties)."""
    if not html:
        return html
    return html_sanitize(page_body(html), sanitize_style=True, strip_classes=True)


def _notice_html(notice):
    """A short notice shown in place of a body."""
    return html_sanitize(f"<p><em>{html_escape(notice)}</em></p>")


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
        help="The sanitized body as kept (False when it was never fetched: action_open or "
             "action_fetch_body fetch it); without the mail's style sheets, classes and ids, "
             "fit to put inside a page.",
    )
    # the body as the sandboxed frame shows it (/vt_webmail/body/<id>): style sheets kept;
    # body_html is made from it (see _page_html)
    body_cache = fields.Html(sanitize=False, readonly=True, prefetch=False, copy=False)
    body_notice = fields.Char(
        readonly=True, copy=False,
        help="Why the body could not be fetched the last time it was tried (the server could "
             "not be reached); the next open tries again.",
    )
    body_state = fields.Selection(
        [("none", "Not fetched"), ("done", "Fetched"), ("error", "Could not be fetched")],
        default="none", required=True, readonly=True,
    )
    has_remote_images = fields.Boolean(readonly=True)
    body_cache_remote = fields.Html(
        sanitize=False, readonly=True, prefetch=False, copy=False,
        help="The sanitized body with its remote images, kept for mails that have some "
             "(as the frame shows it, like body_cache).",
    )
    images_allowed = fields.Boolean(
        string="Remote images allowed", readonly=True, copy=False,
        help="The user chose to show the remote images of this mail.",
    )
    show_remote_images = fields.Boolean(
        compute="_compute_show_remote_images",
        help="Remote images are shown: allowed for this mail, or its sender is trusted.",
    )
    sender_trusted = fields.Boolean(compute="_compute_show_remote_images")
    attachment_ids = fields.One2many(
        "ir.attachment", "res_id", string="Attachments", readonly=True,
        domain=[("res_model", "=", "vt_webmail.message")],
    )
    file_attachment_ids = fields.Many2many(
        "ir.attachment", string="Files", compute="_compute_file_attachment_ids",
        help="The attachments to download: those the body does not show inline.",
    )
    search_text = fields.Char(
        string="Text", compute="_compute_search_text", search="_search_search_text",
        help="Searches the subject and the addresses here; on the server, the body too.",
    )

    # == Qualify: fields (see the "Qualify" section below) =========================================
    qualified_model = fields.Char(
        string="Qualified on (model)", readonly=True, copy=False,
        help="Model of the record this mail was logged on: crm.lead or res.partner.",
    )
    qualified_res_id = fields.Many2oneReference(
        string="Qualified on (id)", model_field="qualified_model", readonly=True, copy=False,
    )
    qualified_rule = fields.Char(
        readonly=True, copy=False,
        help="Why the mail went there: a rule code (lead, lead_over_contact, "
             "converted_lead_over_contact, contact, create_contact) or the user's choice "
             "(chosen, thread, create_lead).",
    )
    qualified_at = fields.Datetime(readonly=True, copy=False)
    qualified_mail_message_id = fields.Many2one(
        "mail.message", string="Logged as", readonly=True, copy=False, ondelete="set null",
    )
    qualified_record_name = fields.Char(
        string="Qualified on", compute="_compute_qualified_record",
        help="The record this mail was logged on, as you see it.",
    )
    qualified_record_url = fields.Char(compute="_compute_qualified_record")
    qualified_reference = fields.Reference(
        QUALIFY_MODEL_SELECTION, string="Qualified on record",
        compute="_compute_qualified_record",
    )
    # == end of Qualify fields ====================================================================

    _sql_constraints = [
        ("folder_uid_unique", "UNIQUE(folder_id, uidvalidity, uid)",
         "A message appears once per folder, UIDVALIDITY and UID."),
    ]

    def init(self):
        """The indexes and statistics the Webmail list needs at scale (measured with
        ``tools/bench_reads.py --explain``; README, "Speed")."""
        cr = self.env.cr
        # The list asks for account_id = A AND folder_id = F AND user_id = U (the action, the
        # search panel, the owner rule) ORDER BY date DESC, id DESC: the folder's rows in that
        # order, with the account and the owner carried along, make the page, a page far down
        # and the pager's count index-only scans.
        cr.execute("DROP INDEX IF EXISTS vt_webmail_message_folder_date_idx")
        cr.execute(
            "CREATE INDEX IF NOT EXISTS vt_webmail_message_list_idx ON vt_webmail_message "
            "(folder_id, date DESC, id DESC) INCLUDE (account_id, user_id)"
        )
        # A folder belongs to one account, an account to one user. Without saying so,
        # PostgreSQL multiplies the three conditions' selectivities, expects a few dozen rows
        # of a 30,000-mail folder, and reads and sorts all of them instead of the index above.
        cr.execute("SELECT 1 FROM pg_statistic_ext WHERE stxname = %s", [OWNER_STATISTICS])
        if not cr.fetchone():
            cr.execute(SQL(
                "CREATE STATISTICS %s (dependencies, ndistinct) ON user_id, account_id, "
                "folder_id FROM vt_webmail_message", SQL.identifier(OWNER_STATISTICS)))
            cr.execute("ANALYZE vt_webmail_message")
        self._init_text_index()

    def _init_text_index(self):
        """A GIN trigram index of the search view's "Text" fields (``_search_search_text``),
        the folder first, so that a search in a folder reads that folder's matches only.

        It needs the extensions pg_trgm (Odoo creates it in every database it creates) and, for
        the folder column, btree_gin; both are "trusted" since PostgreSQL 13, so the database's
        owner may create them. Without btree_gin the index holds the text only; without pg_trgm
        there is none, and a text filter reads the folder's rows (a warning says so). Made once:
        drop ``vt_webmail_message_text_idx`` and update the module to make it anew (after an
        extension became available, or ``unaccent`` was turned on).
        """
        cr = self.env.cr
        cr.execute("SELECT 1 FROM pg_indexes WHERE indexname = %s", [TEXT_INDEX])
        if cr.fetchone():
            return
        if not self._ensure_extension("pg_trgm"):
            return
        registry = self.env.registry
        if registry.has_unaccent == FunctionStatus.PRESENT:
            _logger.warning("PostgreSQL function 'unaccent' is present but not immutable: the "
                            "Webmail text index cannot follow it, text filters will be slow.")
        # Odoo compares unaccent(column) with ilike when unaccent is on (see _condition_to_sql)
        indexable = registry.has_unaccent == FunctionStatus.INDEXABLE
        columns = [
            SQL("%s gin_trgm_ops", registry.unaccent(SQL.identifier(name)) if indexable
                else SQL.identifier(name))
            for name in TEXT_INDEX_FIELDS
        ]
        if self._ensure_extension("btree_gin"):
            columns.insert(0, SQL.identifier("folder_id"))
        cr.execute(SQL("CREATE INDEX %s ON vt_webmail_message USING gin (%s)",
                       SQL.identifier(TEXT_INDEX), SQL(", ").join(columns)))

    def _ensure_extension(self, name):
        """True when the PostgreSQL extension ``name`` is there or could be created."""
        cr = self.env.cr
        cr.execute("SELECT 1 FROM pg_extension WHERE extname = %s", [name])
        if cr.fetchone():
            return True
        try:
            with cr.savepoint(flush=False):
                cr.execute(SQL("CREATE EXTENSION IF NOT EXISTS %s", SQL.identifier(name)))
        except psycopg2.Error as exc:
            _logger.warning("Webmail: the PostgreSQL extension %s could not be created (%s); "
                            "text filters on mail will be slower without it.", name,
                            str(exc).strip())
            return False
        return True

    # -- compute ---------------------------------------------------------------------------------

    @api.depends("body_cache", "body_cache_remote", "body_state", "body_notice",
                 "show_remote_images")
    def _compute_body_html(self):
        # a pure read: what is kept, never a fetch (action_open and action_fetch_body fetch)
        for message in self:
            if message.body_state == "none":
                message.body_html = _notice_html(message.body_notice) \
                    if message.body_notice else False
                continue
            body = message.body_cache
            if message.show_remote_images and message.body_cache_remote:
                body = message.body_cache_remote
            message.body_html = _page_html(body) or False

    @api.depends("images_allowed", "email_from_normalized", "user_id")
    def _compute_show_remote_images(self):
        trusted = self.env["vt_webmail.trusted.sender"]._trusted_pairs(
            self.user_id, self.mapped("email_from_normalized"))
        for message in self:
            message.sender_trusted = bool(message.email_from_normalized) and (
                (message.user_id.id, message.email_from_normalized) in trusted)
            message.show_remote_images = message.images_allowed or message.sender_trusted

    @api.depends("attachment_ids", "body_cache")
    def _compute_file_attachment_ids(self):
        # the attachments are kept when the body is fetched (action_open, action_fetch_body)
        for message in self:
            shown = {int(part_id) for part_id in re.findall(
                rf"/vt_webmail/part/{message.id}/(\d+)(?!\d)", message.body_cache or "")}
            message.file_attachment_ids = message.attachment_ids.filtered(
                lambda a, shown=shown: a.id not in shown)

    def _compute_search_text(self):
        for message in self:
            message.search_text = False

    def _search_search_text(self, operator, value):
        if operator not in ("ilike", "not ilike", "like", "not like", "=", "!="):
            raise UserError(self.env._("Unsupported search on the text of mail: %s", operator))
        positive = {"not ilike": "ilike", "not like": "like", "!=": "="}.get(operator, operator)
        domain = expression.OR([
            [(name, positive, value)] for name in ("subject", "email_from", "email_to", "email_cc")
        ])
        return ["!", *domain] if positive != operator else domain

    # -- reading -------------------------------------------------------------------------------

    @api.model
    def search_panel_select_range(self, field_name, **kwargs):
        """The folders of the search panel are those of the account shown (context key
        ``vt_webmail_account_id``, set by ``vt_webmail.account.action_open_webmail``), each
        named with its unread count (``Inbox (3)``): a folder's own name has no count."""
        account_id = self.env.context.get("vt_webmail_account_id")
        if field_name == "folder_id" and isinstance(account_id, int):
            kwargs["comodel_domain"] = expression.AND([
                kwargs.get("comodel_domain") or [], [("account_id", "=", account_id)],
            ])
        result = super().search_panel_select_range(field_name, **kwargs)
        if field_name == "folder_id":
            values = result.get("values") or []
            # the panel lists only folders the user may read (super searched them so)
            unread = dict(self.env["vt_webmail.folder"].browse(
                [value["id"] for value in values if isinstance(value.get("id"), int)]
            ).exists().mapped(lambda folder: (folder.id, folder.unread_count)))
            for value in values:
                if unread.get(value.get("id")):
                    value["display_name"] = f"{value['display_name']} ({unread[value['id']]})"
        return result

    def action_open(self):
        """Open these mails, as the Webmail form does when it shows one (part of the XML-RPC
        API): the body and its parts are fetched if they were never fetched, and \\Seen is
        set, in one IMAP session per account. Reads (``read``, ``web_read``, ``search_read``)
        never do either: they return what is kept.

        Never raises because of the server: a mail stays readable from the cache; when its
        body could not be fetched, ``body_html`` says why (``body_notice``) and the next call
        tries again, and the flag is left for then too.

        :returns: True
        """
        self._check_owner()
        with self.env["vt_webmail.account"]._imap_request():
            unreachable = self._fetch_bodies()
            unseen = self.filtered(lambda m: not m.is_seen and m.account_id not in unreachable)
            try:
                unseen._set_flag("\\Seen", True)
            except UserError:
                # the mail stays readable from the cache when the server is unreachable
                _logger.info("Could not mark messages %s read on the server", unseen.ids)
        return True

    def action_fetch_body(self):
        """Fetch the bodies and parts of these mails if they were never fetched, with
        BODY.PEEK (flags untouched), in one IMAP session per account (part of the XML-RPC API;
        Qualify and replies use it too). Never raises because of the server: see
        :meth:`action_open`.

        :returns: True
        """
        self._check_owner()
        with self.env["vt_webmail.account"]._imap_request():
            self._fetch_bodies()
        return True

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
        with self.env["vt_webmail.account"]._imap_request():
            for (account, folder), messages in moving._by_folder().items():
                with self._imap_errors(account), account._imap_connect() as session:
                    session.select(folder.name, readonly=False)
                    session.move(messages.mapped("uid"), destination.name)
        moving._forget()
        return True

    def action_delete(self):
        """Delete these messages: to the account's Trash, or for good when they are in the
        Trash already or the account has none (\\Deleted, then EXPUNGE)."""
        self._check_owner()
        with self.env["vt_webmail.account"]._imap_request():
            for (account, folder), messages in self._by_folder().items():
                trash = account.folder_ids.filtered(lambda f: f.role == "trash")[:1]
                with self._imap_errors(account), account._imap_connect() as session:
                    session.select(folder.name, readonly=False)
                    if trash and folder != trash:
                        session.move(messages.mapped("uid"), trash.name)
                    else:
                        session.delete(messages.mapped("uid"))
        self._forget()
        return True

    def action_open_move_wizard(self):
        """The "Move to" dialog for these messages."""
        self._check_owner()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Move to"),
            "res_model": "vt_webmail.message.move",
            "view_mode": "form",
            "views": [[False, "form"]],
            "target": "new",
            "context": {"default_message_ids": self.ids},
        }

    # -- display -------------------------------------------------------------------------------

    def action_show_images(self):
        """Show the remote images of these mails (this mail only, not its sender's others)."""
        self._check_owner()
        # a body kept before both versions were stored is fetched again, with both
        self.filtered(lambda m: m.has_remote_images and m.body_state == "done"
                      and not m.body_cache_remote)._reset_body()
        # sudo: the owner was checked above; the flag only changes how their mail is shown
        self.sudo().write({"images_allowed": True})
        return True

    def action_trust_sender(self):
        """Always show remote images in mail from these mails' senders."""
        self._check_owner()
        Trusted = self.env["vt_webmail.trusted.sender"]
        emails = set(self.mapped("email_from_normalized"))
        known = {pair[1] for pair in Trusted._trusted_pairs(self.env.user, list(emails))}
        for email in sorted(emails - known):
            Trusted.create({"email": email})
        self.filtered(lambda m: m.has_remote_images and m.body_state == "done"
                      and not m.body_cache_remote)._reset_body()
        self.invalidate_recordset(["show_remote_images", "sender_trusted", "body_html"])
        return True

    def action_untrust_sender(self):
        """Stop trusting these mails' senders: their remote images are blocked again."""
        self._check_owner()
        self.env["vt_webmail.trusted.sender"].search([
            ("user_id", "=", self.env.user.id),
            ("email", "in", self.mapped("email_from_normalized")),
        ]).unlink()
        # sudo: the owner was checked above; the flag only changes how their mail is shown
        self.sudo().write({"images_allowed": False})
        self.invalidate_recordset(["show_remote_images", "sender_trusted", "body_html"])
        return True

    # -- search on the server ------------------------------------------------------------------

    @api.model
    def action_search_server(self, domain=None):
        """Run a search of the Webmail list on the mail server (IMAP SEARCH).

        The cache knows only the headers of the synced folders; the server also searches
        bodies (the "Text" field becomes ``TEXT``) and folders that are not synced. Mails found
        there and missing from the cache are added to it (their headers only).

        :param domain: the list's domain. Its ``folder_id`` condition names the folder (else
            the inbox of the account in the domain or the context, else of the default
            account); subject, addresses, text, read/flagged/answered and date conditions
            become IMAP SEARCH keys (``core/search.py``); what the server cannot test exactly
            is applied to the cache afterwards
        :returns: a window action listing what was found (at most the newest
            :data:`SERVER_SEARCH_LIMIT`), or a notification when nothing was
        """
        domain = list(domain or [])
        folder = self._server_search_folder(domain)
        account = folder.account_id
        try:
            criteria, residual = imap_criteria(domain)
        except ValueError as exc:
            raise UserError(self.env._("This search cannot be run on the server: %s", exc))
        with self._imap_errors(account), account._imap_connect() as session:
            info = session.select(folder.name, readonly=True)
            if folder.uidvalidity and folder.uidvalidity != info.uidvalidity:
                raise UserError(self.env._(
                    "The folder %s was renumbered on the server: click Check now, then search "
                    "again.", folder.display_name))
            uids = session.search(criteria or ["ALL"])[-SERVER_SEARCH_LIMIT:]
            cached = set(self.sudo().search([
                ("folder_id", "=", folder.id), ("uidvalidity", "=", info.uidvalidity),
                ("uid", "in", uids),
            ]).mapped("uid")) if uids else set()
            missing = [uid for uid in uids if uid not in cached]
            if missing:
                fetched = session.fetch_summaries(missing)
                summaries = [summary_from_fetch(uid, fetched[uid])
                             for uid in missing if uid in fetched]
                if summaries:
                    # sudo: the owner's folder (checked above) gets the headers of their mail
                    OdooSyncStore(folder.sudo(), own_cursor=False).add(
                        folder.name, info.uidvalidity, summaries)
        found = self.search(expression.AND([
            [("folder_id", "=", folder.id), ("uidvalidity", "=", info.uidvalidity),
             ("uid", "in", uids or [0])],
            residual,
        ])) if uids else self.browse()
        if not found:
            return {
                "type": "ir.actions.client",
                "tag": "display_notification",
                "params": {
                    "title": self.env._("Search on the server"),
                    "message": self.env._("Nothing found in %s on the server either.",
                                          folder.display_name),
                    "type": "info",
                    "found": 0,
                },
            }
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Found on the server in %s", folder.display_name),
            "res_model": self._name,
            "view_mode": "list,form",
            "views": [[self.env.ref("vt_webmail.vt_webmail_message_view_list").id, "list"],
                      [self.env.ref("vt_webmail.vt_webmail_message_view_form").id, "form"]],
            "domain": [("id", "in", found.ids)],
            "context": {
                "vt_webmail_mark_read": True,
                "vt_webmail_account_id": account.id,
                "vt_webmail_server_search": True,
            },
            "limit": account.emails_per_page,
            "found": len(found),
        }

    # -- helpers -----------------------------------------------------------------------------

    def _check_owner(self):
        """Only the owner acts on mail; record rules already hide the rest, this also covers
        sudo-less calls on ids guessed over RPC."""
        self.check_access("read")
        if not self.env.su and any(m.user_id != self.env.user for m in self):
            raise AccessError(self.env._("You can only act on your own mail."))

    def _reset_body(self):
        """Forget the kept bodies (and their parts): the next read fetches them again."""
        self._purge_attachments()
        # sudo: callers checked the owner; the cache is the addon's own
        self.sudo().write({"body_cache": False, "body_cache_remote": False, "body_state": "none",
                           "body_notice": False})

    @api.model
    def _server_search_folder(self, domain):
        """The folder a server search runs in (see :meth:`action_search_server`)."""
        Folder = self.env["vt_webmail.folder"]
        folder_ids, account_ids = [], []
        for leaf in domain:
            if not isinstance(leaf, (list, tuple)) or len(leaf) != 3:
                continue
            name, operator, value = leaf
            values = value if isinstance(value, (list, tuple)) else [value]
            if operator not in ("=", "in") or not all(isinstance(v, int) for v in values):
                continue
            if name == "folder_id":
                folder_ids += values
            elif name == "account_id":
                account_ids += values
        if folder_ids:
            folder = Folder.browse(folder_ids[0]).exists()
        else:
            account_id = (account_ids or [self.env.context.get("vt_webmail_account_id")])[0]
            Account = self.env["vt_webmail.account"]
            account = Account.browse(int(account_id)).exists() if account_id else \
                Account.search([("user_id", "=", self.env.user.id), ("is_default", "=", True)],
                               limit=1)
            folder = account.folder_ids.filtered(lambda f: f.role == "inbox")[:1] \
                if account and account.user_id == self.env.user else Folder
        if not folder:
            raise UserError(self.env._("Choose a folder of one of your mail accounts first."))
        folder.check_access("read")
        if folder.user_id != self.env.user:
            raise AccessError(self.env._("You can only search your own mail."))
        return folder

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
        with self.env["vt_webmail.account"]._imap_request():
            for (account, folder), messages in todo._by_folder().items():
                with self._imap_errors(account), account._imap_connect() as session:
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
        """Fetch, parse and keep the bodies of these messages that were never fetched
        (BODY.PEEK: flags untouched), in the request's IMAP session of each account (see
        ``vt_webmail.account._imap_request``); never raises because of the server.

        A message that cannot be shown for good (gone from the server, too large) keeps a
        short notice as its body with ``body_state = 'error'``; when the server cannot be
        reached or refuses the login, ``body_notice`` says so and the next call tries again.

        :returns: the accounts whose server could not be reached (a recordset)
        """
        unreachable = self.env["vt_webmail.account"]
        # the caller could read these messages (record rules): the cache may be filled as sudo
        messages = self.sudo().filtered(lambda m: m.body_state == "none")
        for account in messages.account_id:
            mine = messages.filtered(lambda m, account=account: m.account_id == account)
            try:
                with account._imap_connect() as session:
                    for folder in mine.folder_id:
                        session.select(folder.name, readonly=True)
                        for message in mine.filtered(lambda m, f=folder: m.folder_id == f):
                            message._fetch_one_body(session)
            except (core_errors.WebmailError, UserError) as exc:
                notice = account._error_message(exc) \
                    if isinstance(exc, core_errors.WebmailError) else str(exc)
                mine.filtered(lambda m: m.body_state == "none").write(
                    {"body_notice": notice[:500]})
                unreachable |= account
        return unreachable.with_env(self.env)

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
        prepared = prepare_body(parsed.html, cid_urls, allow_remote_images=False,
                                keep_style=True)
        body = _frame_html(prepared.html)
        body_remote = False
        if prepared.has_remote_images:
            # the same body with its remote images, for "Show images" and trusted senders;
            # Odoo's sanitizer has the last word on this one too
            allowed = prepare_body(parsed.html, cid_urls, allow_remote_images=True,
                                   keep_style=True)
            body_remote = _frame_html(allowed.html)
        notes = merge_notes(self.parse_note, *parsed.notes)
        self.sudo().write({
            "body_cache": body,
            "body_cache_remote": body_remote,
            "body_state": "done",
            "body_notice": False,
            "has_remote_images": prepared.has_remote_images,
            "parse_note": notes[:500] or False,
        })

    def _frame_body(self):
        """The kept body as the sandboxed frame shows it; a pure read, never a fetch.

        :returns: ``(html, remote)``: ``html`` is None when the body was never fetched;
            ``remote`` is True when it is the version with remote images (allowed for this
            mail, or its sender is trusted)
        """
        self.ensure_one()
        if self.body_state == "none":
            return None, False
        if self.show_remote_images and self.body_cache_remote:
            return self.body_cache_remote, True
        return self.body_cache or "", False

    def _store_body_error(self, notice):
        self.sudo().write({
            "body_cache": _notice_html(notice),
            "body_state": "error",
            "body_notice": False,
        })

    @api.model
    def _purge_attachments(self):
        """Remove the attachments kept for these messages (before they are deleted in SQL or
        by a database cascade, which would leave them behind)."""
        if self.ids:
            self.env["ir.attachment"].sudo().search([
                ("res_model", "=", self._name), ("res_id", "in", self.ids),
            ]).unlink()

    # == Compose: reply, reply all, forward =================================================
    # The compose window is vt_webmail.compose (wizards/); sending is vt_webmail.account.send_mail.

    def action_reply(self):
        """Open the compose window with a reply to this mail's sender (or its Reply-To)."""
        return self._open_compose("reply")

    def action_reply_all(self):
        """Open the compose window with a reply to the sender and everyone else it went to."""
        return self._open_compose("reply_all")

    def action_forward(self):
        """Open the compose window with this mail and its attachments, to forward."""
        return self._open_compose("forward")

    def _open_compose(self, mode):
        self.ensure_one()
        self._check_owner()
        # the quoted body, its parts and the Reply-To come from the server: one session
        with self.env["vt_webmail.account"]._imap_request():
            self._fetch_bodies()
            wizard = self.env["vt_webmail.compose"]._create_from_message(self, mode)
        return wizard._action_open()

    def _reply_recipients(self, reply_all):
        """``(to, cc)`` lists of a reply (see ``core.compose.reply_recipients``); the user's
        addresses (all their accounts) are left out."""
        self.ensure_one()
        # sudo: only the addresses of the caller's own accounts are read
        own = self.env["vt_webmail.account"].sudo().search(
            [("user_id", "=", self.user_id.id)]).mapped("email")
        return compose.reply_recipients(
            self.email_from, self.email_to, self.email_cc, own + [self.account_id.email],
            reply_all, reply_to=self._fetch_reply_to())

    def _fetch_reply_to(self):
        """The Reply-To header of this mail, asked from the server (the cache keeps only the
        list headers); empty when it has none or the server cannot be reached."""
        self.ensure_one()
        item = "BODY.PEEK[HEADER.FIELDS (REPLY-TO)]"
        try:
            with self.account_id._imap_connect() as session:
                session.select(self.folder_id.name, readonly=True)
                fetched = session.fetch([self.uid], [item]).get(self.uid) or {}
        except core_errors.WebmailError as exc:
            _logger.info("Reply-To of message %s not read: %s", self.id, exc)
            return ""
        raw = fetched.get(b"BODY[HEADER.FIELDS (REPLY-TO)]") or b""
        try:
            header = message_from_bytes(raw, policy=default_email_policy)["Reply-To"]
            return " ".join(str(header or "").split())
        except (ValueError, TypeError, IndexError, AttributeError):
            # a malformed header: answer the sender rather than a guess
            return ""

    def _inline_attachment_ids(self):
        """Ids of this mail's attachments its body shows (inline images)."""
        self.ensure_one()
        body = self.body_html or ""
        return {attachment.id for attachment in self.attachment_ids
                if f"/vt_webmail/part/{self.id}/{attachment.id}" in body}

    def _forward_attachments(self):
        """The attachments a forward carries: every part but the inline images (which the
        quoted body embeds anyway). Reading the body fetches them first if needed."""
        self.ensure_one()
        inline = self._inline_attachment_ids()
        return self.attachment_ids.filtered(lambda a: a.id not in inline).sorted("id")

    def _forward_files(self):
        """``[(filename, content_type, bytes)]`` of :meth:`_forward_attachments`."""
        return [(attachment.name, attachment.mimetype, attachment.raw)
                for attachment in self._forward_attachments()]

    # == end of Compose ===========================================================================

    # == Qualify: log a mail on CRM history, by vtiger's precedence ================================
    # The rules themselves live in core/qualify.py (no ORM). Here: finding the candidates with the
    # qualifying user's rights, creating a contact or a lead, and logging the mail in the
    # record's chatter without notifying anyone.

    @api.depends("qualified_model", "qualified_res_id")
    def _compute_qualified_record(self):
        for message in self:
            record = message._qualified_record()
            message.qualified_reference = record if record else False
            message.qualified_record_url = (
                f"/odoo/{message.qualified_model}/{message.qualified_res_id}"
                if message.qualified_model in QUALIFY_MODELS and message.qualified_res_id
                else False)
            if record:
                message.qualified_record_name = self.env._(
                    "%(kind)s %(name)s", kind=self._qualify_kind_label(record._name),
                    name=record.display_name)
            elif message.qualified_model:
                message.qualified_record_name = self.env._(
                    "a record that was deleted or that you cannot see")
            else:
                message.qualified_record_name = False

    def action_qualify(self):
        """Log these mails on CRM history by the rules (button, bulk and XML-RPC).

        For each mail, the first rule that matches decides (see ``core/qualify.py``): a lead
        with the sender's address, else the first created contact with it, else a new contact.
        Only records the mail's owner may read count; archived ones count as deleted. A mail
        already qualified stays where it is and nothing is logged again.

        :returns: one dict per mail, in the order of the ids: ``id``, ``model`` and ``res_id``
            (where it went, ``False`` on error), ``name`` (the record as the user sees it),
            ``rule`` (the rule code, see ``qualified_rule``), ``created`` (a contact was
            created for it), ``logged`` (a chatter entry was created now; ``False`` when it
            was there already), ``already_qualified`` and ``error`` (``False``, or why this
            mail could not be qualified; the others are qualified anyway)
        """
        self._check_owner()
        results = []
        with self.env["vt_webmail.account"]._imap_request():
            # the bodies first, one session per account (not one per mail), tried once
            self.filtered(lambda m: not m.qualified_model)._fetch_bodies()
            for message in self.with_context(vt_webmail_bodies_fetched=True):
                try:
                    # one mail failing (server gone, no right to post) must not undo the others
                    with self.env.cr.savepoint():
                        results.append(message._qualify_by_rules())
                except (UserError, AccessError) as exc:
                    results.append(dict(self._qualify_result(message), error=str(exc)))
        return results

    def action_open_qualify(self):
        """Open the Qualify preview for these mails (one: the choices; several: a report)."""
        self._check_owner()
        return self.env["vt_webmail.qualify"]._open_for(self)

    # -- Qualify: deciding ---------------------------------------------------------------------

    def _qualify_party(self):
        """The person this mail is qualified by: its sender, or for a mail the user sent, its
        first recipient (core ``counterpart``)."""
        self.ensure_one()
        # sudo: only the addresses of the owner's own accounts are read
        own = self.env["vt_webmail.account"].sudo().with_context(active_test=False).search(
            [("user_id", "=", self.user_id.id)]).mapped("email")
        own += [self.account_id.sudo().email, self.user_id.sudo().email]
        return qualify_rules.counterpart(self.email_from, self.email_to, self.email_cc, own)

    def _qualify_decide(self):
        """Apply the rules to this mail.

        :returns: ``(party, decision, records)``: ``records`` maps ``(kind, id)`` of every
            candidate to its record, browsed as the mail's owner
        """
        self.ensure_one()
        party = self._qualify_party()
        candidates, records = self._qualify_candidates(party.address if party else "")
        decision = qualify_rules.rank(party.address if party else "", candidates)
        return party, decision, records

    def _qualify_candidates(self, address):
        """Leads and contacts with ``address`` that the mail's owner may read.

        Searched as the owner, never as superuser: record rules (own leads only, multi-company)
        decide what counts; archived records are left out (``active_test``).
        """
        self.ensure_one()
        # Odoo's own normalisation, as its email_normalized columns are computed (the same rule
        # as core.addresses.normalize, which gave ``address``)
        address = email_normalize(address) if address else False
        if not address:
            return [], {}
        as_owner = self.with_user(self.user_id).with_context(active_test=True).env
        candidates, records = [], {}
        for kind, model in ((qualify_rules.LEAD, "crm.lead"),
                            (qualify_rules.CONTACT, "res.partner")):
            Model = as_owner[model]
            if not Model.has_access("read"):
                continue
            found = Model.search([("email_normalized", "=", address)], order="create_date, id",
                                 limit=QUALIFY_MAX_CANDIDATES)
            for record in found:
                is_lead = kind == qualify_rules.LEAD
                candidates.append(qualify_rules.Candidate(
                    kind=kind, id=record.id, name=record.display_name or "",
                    email=record.email_normalized or "", create_date=record.create_date,
                    active=record.active,
                    converted=bool(is_lead and (record.type == "opportunity"
                                                or record.partner_id)),
                    partner_id=record.partner_id.id if is_lead and record.partner_id else None,
                ))
                records[(kind, record.id)] = record
        return candidates, records

    def _qualify_explain(self, party, decision):
        """The rule that chose, in plain words (translated)."""
        self.ensure_one()
        facts = decision.facts
        if party is None:
            return self.env._(
                "This mail has no sender address: it cannot be qualified by the rules.")
        parts = []
        if party.basis == qualify_rules.BASIS_RECIPIENT:
            parts.append(self.env._(
                "You sent this mail: it is qualified by its recipient %s.", party.address))
        rule = decision.rule
        if rule == qualify_rules.RULE_CREATE_CONTACT:
            parts.append(self.env._(
                "No lead or contact you can see has the address %(address)s: a new contact "
                "'%(name)s' will be created and the mail logged on it.",
                address=party.address, name=party.name))
        elif rule == qualify_rules.RULE_CONVERTED_LEAD and facts["contact_is_own"]:
            parts.append(self.env._(
                "Lead '%(lead)s' was converted into contact '%(contact)s' and still wins over "
                "it: a converted lead comes before the contact it produced.",
                lead=facts["target_name"], contact=facts["contact_name"]))
        elif rule in (qualify_rules.RULE_CONVERTED_LEAD, qualify_rules.RULE_LEAD_OVER_CONTACT):
            parts.append(self.env._(
                "Lead '%(lead)s' wins over contact '%(contact)s', which has the same address.",
                lead=facts["target_name"], contact=facts["contact_name"]))
        elif rule == qualify_rules.RULE_LEAD:
            parts.append(self.env._(
                "Lead '%(lead)s' has the address %(address)s.",
                lead=facts["target_name"], address=party.address))
        else:
            parts.append(self.env._(
                "Contact '%(contact)s' has the address %(address)s and no lead has it.",
                contact=facts["target_name"], address=party.address))
        if facts.get("first_of", 0) > 1:
            if decision.target.kind == qualify_rules.LEAD:
                parts.append(self.env._(
                    "It is the first created of %s leads with this address.", facts["first_of"]))
            else:
                parts.append(self.env._(
                    "It is the first created of %s contacts with this address.",
                    facts["first_of"]))
        return " ".join(parts)

    def _qualify_thread_suggestion(self):
        """Where the mail this one answers was qualified, if the owner can still see it.

        The nearest Message-Id of In-Reply-To/References wins: first among the owner's own
        qualified mails, then among the CRM chatter (a mail sent from Odoo, or qualified by a
        colleague).

        :returns: ``{"record": record, "subject": str, "date": datetime}`` or ``None``
        """
        self.ensure_one()
        refs = qualify_rules.thread_references(self.in_reply_to, self.references)
        refs = [ref for ref in refs if ref != self.message_id][:QUALIFY_MAX_REFERENCES]
        if not refs:
            return None
        # sudo: the owner's own mail only (same filter as the record rule)
        earlier = self.sudo().search([
            ("user_id", "=", self.user_id.id), ("message_id", "in", refs),
            ("qualified_model", "!=", False), ("id", "!=", self.id),
        ], order="qualified_at desc, id desc")
        # sudo: only ids are taken from it; each record is then checked as the owner
        logged = self.env["mail.message"].sudo().search([
            ("message_id", "in", refs), ("model", "in", QUALIFY_MODELS),
            ("res_id", "!=", False),
        ], order="id desc")
        for ref in refs:
            for mail in earlier.filtered(lambda m, ref=ref: m.message_id == ref):
                record = mail.with_user(self.user_id)._qualified_record()
                if record and record.active:
                    return {"record": record, "subject": mail.subject or "", "date": mail.date}
            for entry in logged.filtered(lambda m, ref=ref: m.message_id == ref):
                record = self._qualify_readable(entry.model, entry.res_id)
                if record and record.active:
                    return {"record": record, "subject": entry.subject or "",
                            "date": entry.date}
        return None

    # -- Qualify: acting -----------------------------------------------------------------------

    def _qualify_by_rules(self):
        """Qualify this mail where the rules say (nothing happens if it is qualified already)."""
        self.ensure_one()
        if self.qualified_model:
            return dict(self._qualify_result(self), already_qualified=True)
        party, decision, records = self._qualify_decide()
        if party is None:
            raise UserError(self.env._(
                "The mail '%s' has no sender address: it cannot be qualified.", self.subject))
        if decision.creates_contact:
            return self._qualify_to(self._qualify_create_contact(party), decision.rule,
                                    party=party, created=True)
        target = records[(decision.target.kind, decision.target.id)]
        return self._qualify_to(target, decision.rule, party=party, records=records)

    def _qualify_to(self, target, rule, party=None, created=False, records=None):
        """Log this mail on ``target`` (a lead or a contact) and remember where it went.

        The same mail (same Message-Id) already in ``target``'s chatter is not logged again.
        ``records``: the candidates the rules weighed, when known (spares searching them again
        for the entry's author).

        :returns: the result dict of :meth:`action_qualify`
        """
        self.ensure_one()
        self._check_owner()
        if target._name not in QUALIFY_MODELS or len(target) != 1:
            raise UserError(self.env._("A mail can only be qualified on one lead or contact."))
        target = self._qualify_readable(target._name, target.id)
        if not target:
            raise AccessError(self.env._("You cannot see the record chosen for this mail."))
        post_right = getattr(target, "_mail_post_access", "write")
        if not target.has_access(post_right):
            raise AccessError(self.env._(
                "You may not add to the history of %(kind)s '%(name)s', so this mail cannot be "
                "logged on it.", kind=self._qualify_kind_label(target._name),
                name=target.display_name))
        party = party or self._qualify_party()
        entry = self._qualify_existing_entry(target)
        logged = not entry
        if not entry:
            entry = self._qualify_log(target, party, records)
        # sudo: the owner was checked above; the cache fields are not writable by users
        self.sudo().write({
            "qualified_model": target._name,
            "qualified_res_id": target.id,
            "qualified_rule": rule,
            "qualified_at": fields.Datetime.now(),
            "qualified_mail_message_id": entry.id,
        })
        return dict(self._qualify_result(self), created=created, logged=logged)

    def _qualify_existing_entry(self, target):
        """The chatter entry of this same mail on ``target``, if it was logged there already."""
        if not self.message_id:
            return self.env["mail.message"]
        # sudo: one lookup by Message-Id on a record the owner may post on (checked)
        return self.env["mail.message"].sudo().search([
            ("model", "=", target._name), ("res_id", "=", target.id),
            ("message_id", "=", self.message_id), ("message_type", "=", "email"),
        ], limit=1)

    def _qualify_log(self, target, party, records=None):
        """Create the chatter entry: an email with the original date, subject, sanitized body,
        attachments and Message-Id, its author the sender's contact. Nobody is notified: the
        message is created directly (``_message_create``), as mail.thread's own ``_message_log``
        does, without ``_notify_thread`` and without subscribing anyone."""
        self.ensure_one()
        if not self.env.context.get("vt_webmail_bodies_fetched"):
            self._fetch_bodies()  # in the caller's request session, when it opened one
        body = self.body_html
        if self.body_state != "done":
            raise UserError(self.env._(
                "The mail '%(subject)s' could not be read from the server, so it was not "
                "qualified: %(reason)s", subject=self.subject or "",
                reason=html2plaintext(body or "")))
        attachments, body = self._qualify_copy_attachments(target, body or "")
        values = {
            "model": target._name,
            "res_id": target.id,
            "record_name": target.display_name,
            "message_type": "email",
            # like mail received by Odoo's own gateway: a discussion message, not a note
            "subtype_id": self.env["ir.model.data"]._xmlid_to_res_id("mail.mt_comment"),
            "author_id": self._qualify_author(target, party, records).id or False,
            "email_from": self.email_from or False,
            "subject": self.subject or False,
            "body": Markup(body),  # sanitized when the body was fetched (_store_parsed_body)
            "date": self.date or fields.Datetime.now(),
            "attachment_ids": [Command.link(a.id) for a in attachments],
            "email_add_signature": False,
        }
        if self.message_id:
            values["message_id"] = self.message_id
        # sudo: the owner may read and post on target (checked in _qualify_to); created like
        # mail.thread._message_log_batch, which is sudo too, and notifies nobody
        return target.sudo()._message_create([values])

    def _qualify_author(self, target, party, records=None):
        """The sender's contact: the target itself, the contact the rules would pick for the
        sender, or the user for a mail they sent."""
        if party and party.basis == qualify_rules.BASIS_RECIPIENT:
            return self.user_id.partner_id
        if target._name == "res.partner":
            return target
        if records is None:
            _candidates, records = self._qualify_candidates(party.address if party else "")
        contacts = [r for (kind, _id), r in records.items() if kind == qualify_rules.CONTACT]
        return contacts[0] if contacts else self.env["res.partner"]

    def _qualify_copy_attachments(self, target, body):
        """Copy this mail's attachments to ``target``; point inline images at the copies.

        :returns: ``(attachments, body)``
        """
        # sudo: the owner's own attachments, copied onto a record they may post on (checked)
        originals = self.sudo().attachment_ids
        copies = self.env["ir.attachment"].sudo()
        urls = {}
        for original in originals:
            copy = copies.create({
                "name": original.name,
                "mimetype": original.mimetype,
                "raw": original.raw,
                "res_model": target._name,
                "res_id": target.id,
            })
            copies |= copy
            token = copy.generate_access_token()[0]
            kind = "image" if (original.mimetype or "").startswith("image/") else "content"
            urls[original.id] = f"/web/{kind}/{copy.id}?access_token={token}"

        def replace(match):
            return urls.get(int(match.group(1)), match.group(0))

        body = re.sub(rf"/vt_webmail/part/{self.id}/(\d+)", replace, body)
        return copies, body

    def _qualify_create_contact(self, party):
        """Rule 5: a contact for the party, created with the owner's rights (the "Contact
        Creation" right), shared by all companies like contacts Odoo makes from mail."""
        Partner = self.env["res.partner"].with_user(self.user_id)
        if not Partner.has_access("create"):
            raise AccessError(self.env._(
                "No lead or contact has the address %s, and you may not create contacts: ask "
                "an administrator for the Contact Creation right, or create the contact first.",
                party.address))
        return Partner.create({"name": party.name, "email": party.address})

    def _qualify_create_lead(self, party):
        """"Create a lead instead": a lead for the party, named after the mail's subject,
        assigned to the owner."""
        Lead = self.env["crm.lead"].with_user(self.user_id)
        if not Lead.has_access("create"):
            raise AccessError(self.env._("You may not create leads."))
        contact_name = party.name if party.name != party.address else False
        return Lead.create({
            "name": self.subject or self.env._("Mail from %s", party.name),
            "email_from": party.address,
            "contact_name": contact_name,
            "user_id": self.user_id.id,
        })

    def _qualify_readable(self, model, res_id):
        """``model(res_id)`` browsed as the mail's owner, if it exists and they may read it."""
        if model not in QUALIFY_MODELS or not res_id:
            return None
        record = self.env[model].with_user(self.user_id).browse(res_id).exists()
        return record if record and record.has_access("read") else None

    def _qualified_record(self):
        """The record this mail was qualified on, as its owner sees it (``None`` if gone)."""
        self.ensure_one()
        return self._qualify_readable(self.qualified_model, self.qualified_res_id)

    def _qualify_kind_label(self, model):
        return {"crm.lead": self.env._("Lead"), "res.partner": self.env._("Contact")}.get(
            model, model)

    @api.model
    def _qualify_result(self, message):
        """The result dict of :meth:`action_qualify` for ``message`` as it is now."""
        record = message._qualified_record() if message.qualified_model else None
        return {
            "id": message.id,
            "model": message.qualified_model or False,
            "res_id": message.qualified_res_id or False,
            "name": record.display_name if record else False,
            "rule": message.qualified_rule or False,
            "created": False,
            "logged": False,
            "already_qualified": False,
            "error": False,
        }

    # == end of Qualify ===========================================================================
