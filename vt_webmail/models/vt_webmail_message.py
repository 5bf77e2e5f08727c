import logging
import re
import zlib

import psycopg2

from odoo import api, fields, models, tools
from odoo.exceptions import AccessError, UserError
from odoo.http import request
from odoo.modules.db import FunctionStatus
from odoo.tools import SQL, html_escape, html_sanitize

from ..compat import Constraint, domain_and, domain_or
from ..core.html import frame_inline_document, page_body
from ..tools.bigint_field import BigInteger

_logger = logging.getLogger(__name__)

#: Image types served inline by the part route (never SVG: it can carry scripts).
INLINE_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp",
                                "image/bmp", "image/avif", "image/x-icon"})
#: The "Text" filter's fields (``_search_search_text``), in the text index of the list.
TEXT_INDEX_FIELDS = ("subject", "email_from", "email_to", "email_cc")
#: The trigram index of those four columns, used when Odoo compares ``unaccent(...)``.
TEXT_INDEX = "vt_webmail_message_text_idx"
#: A column PostgreSQL generates from those four (``search_blob``), and its trigram index: one
#: scan and one ILIKE per match instead of four (see _init_search_blob).
TEXT_BLOB = "search_blob"
TEXT_BLOB_INDEX = "vt_webmail_message_search_blob_idx"
#: What a LIKE pattern may match across the line break that joins two texts in search_blob.
BLOB_INEXACT = re.compile(r"[%_\\\n\r]")
OWNER_STATISTICS = "vt_webmail_message_owner_stats"
#: From this offset on, a page of the list is read in two queries: its ids (an index-only scan
#: of the list index), then its rows; in one query PostgreSQL reads every row it skips.
DEEP_PAGE_OFFSET = 1000
#: A Text filter in a folder looks for its page among the folder's newest mails first, this
#: many (see _text_filter_recent_page); ...
TEXT_FILTER_WINDOW = 2000
#: ... else reads the ids of the folder's matches from the text index: up to this many, the
#: page is read among them (see _text_filter_narrowed).
TEXT_FILTER_IDS = 5000
#: Key of the ids of a Text filter's matches in the cursor's cache, during one web_search_read.
TEXT_IDS_MEMO = "vt_webmail_text_filter_ids"


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

    # no single-column index on account_id or user_id: see init()
    account_id = fields.Many2one("vt_webmail.account", required=True, ondelete="cascade",
                                 readonly=True)
    folder_id = fields.Many2one("vt_webmail.folder", required=True, ondelete="cascade",
                                readonly=True)
    user_id = fields.Many2one("res.users", required=True, readonly=True)
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
    body_frame_version = fields.Char(
        compute="_compute_body_frame",
        help="Changes when the body the frame shows (/vt_webmail/body/<id>) changes: fetched, "
             "or its remote images allowed; False while it was never fetched.",
    )
    body_frame_notice = fields.Html(
        compute="_compute_body_frame", sanitize=False,
        help="Why there is no body to show yet (the server could not be reached), as HTML.",
    )
    body_frame_document = fields.Text(
        compute="_compute_body_frame_document",
        help="The whole document of the frame, as /vt_webmail/body/<id> serves it, with the "
             "route's Content-Security-Policy in a <meta> first and the URLs of the mail's "
             "parts absolute: the Webmail form loads it in its sandboxed frame from a blob: "
             "URL, in the mode its doctype says, with no request of its own. False while the "
             "body was never fetched.",
    )
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
    # Not part of the API: PostgreSQL fills it (a generated column, see _init_search_blob);
    # nothing writes it, and the Text filter uses it only to narrow its four ILIKE.
    search_blob = fields.Text(string="Searched text", readonly=True, copy=False,
                              prefetch=False)

    _folder_uid_unique = Constraint("UNIQUE(folder_id, uidvalidity, uid)",
                                    "A message appears once per folder, UIDVALIDITY and UID.")

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
        # The single-column indexes of account_id and user_id (index=True on the fields once)
        # invited PostgreSQL to AND them into every bitmap of a folder's rows (100,000 entries
        # read to keep as many) and to walk the user's rows for a LIMIT: a Text filter's ids
        # took 36 to 72 ms with them, 3 to 7 without (EXPLAIN at 1,000,000 rows). An account's
        # list across its folders ("All" in the folder panel), and the removal of an account,
        # use this one instead; removing a user (rare) reads the table.
        cr.execute("DROP INDEX IF EXISTS vt_webmail_message__account_id_index")
        cr.execute("DROP INDEX IF EXISTS vt_webmail_message__user_id_index")
        cr.execute(
            "CREATE INDEX IF NOT EXISTS vt_webmail_message_account_date_idx ON "
            "vt_webmail_message (account_id, date DESC, id DESC) INCLUDE (folder_id, user_id)"
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
        self._init_search_blob()
        self._init_text_index()

    def _init_search_blob(self):
        """Make ``search_blob`` a column PostgreSQL generates: subject, from, to and cc joined
        by line breaks, in lower case (``lower()``, as ILIKE folds both sides in a UTF-8
        database: a LIKE on it with the pattern folded alike is the ILIKE, without folding
        every row it reads again). Odoo creates the field's column as a plain one; it is
        replaced once, and again when its expression changes (on an update, the table is
        rewritten then: about 30 s per 1,000,000 mails). Every INSERT and COPY of the addon
        names its columns, so PostgreSQL fills this one on its own; an UPDATE of the four
        texts updates it."""
        cr = self.env.cr
        cr.execute(
            "SELECT a.attgenerated, pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a "
            "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
            "WHERE a.attrelid = 'vt_webmail_message'::regclass AND a.attname = %s "
            "AND NOT a.attisdropped", [TEXT_BLOB])
        row = cr.fetchone()
        if row and row[0] == "s" and (row[1] or "").startswith("lower("):
            return
        parts = SQL(" || E'\\n' || ").join(
            SQL("coalesce(%s, '')", SQL.identifier(name)) for name in TEXT_INDEX_FIELDS)
        if row:
            # its index goes with it: _init_text_index makes it again
            cr.execute(SQL("ALTER TABLE vt_webmail_message DROP COLUMN %s",
                           SQL.identifier(TEXT_BLOB)))
        cr.execute(SQL("ALTER TABLE vt_webmail_message ADD COLUMN %s text "
                       "GENERATED ALWAYS AS (lower(%s)) STORED", SQL.identifier(TEXT_BLOB),
                       parts))

    def _text_blob_searched(self):
        """Whether the Text filter narrows by ``search_blob`` (its index): not when Odoo
        compares ``unaccent(...)``, which that index does not hold."""
        return not self.env.registry.has_unaccent

    def _init_text_index(self):
        """A GIN trigram index for the search view's "Text" filter (``_search_search_text``),
        the folder first, so that a search in a folder reads that folder's matches only: of
        ``search_blob``, or of the four columns when Odoo compares ``unaccent(...)`` (then on
        ``unaccent(column)`` where that function is immutable). The other one, if an earlier
        version or setting made it, is dropped.

        It needs the extensions pg_trgm (Odoo creates it in every database it creates) and, for
        the folder column, btree_gin; both are "trusted" since PostgreSQL 13, so the database's
        owner may create them. Without btree_gin the index holds the text only; without pg_trgm
        there is none, and a text filter reads the folder's rows (a warning says so). Made once:
        drop it and update the module to make it anew (after an extension became available).
        """
        cr = self.env.cr
        blob = self._text_blob_searched()
        name, other = (TEXT_BLOB_INDEX, TEXT_INDEX) if blob else (TEXT_INDEX, TEXT_BLOB_INDEX)
        cr.execute(SQL("DROP INDEX IF EXISTS %s", SQL.identifier(other)))
        cr.execute("SELECT 1 FROM pg_indexes WHERE indexname = %s", [name])
        if cr.fetchone():
            return
        if not self._ensure_extension("pg_trgm"):
            return
        if blob:
            columns = [SQL("%s gin_trgm_ops", SQL.identifier(TEXT_BLOB))]
        else:
            registry = self.env.registry
            if registry.has_unaccent == FunctionStatus.PRESENT:
                _logger.warning("PostgreSQL function 'unaccent' is present but not immutable: "
                                "the Webmail text index cannot follow it, text filters will "
                                "be slow.")
            columns = [SQL("%s gin_trgm_ops", self._trigram_column(field))
                       for field in TEXT_INDEX_FIELDS]
        if self._ensure_extension("btree_gin"):
            columns.insert(0, SQL.identifier("folder_id"))
        cr.execute(SQL("CREATE INDEX %s ON vt_webmail_message USING gin (%s)",
                       SQL.identifier(name), SQL(", ").join(columns)))

    def _trigram_column(self, name):
        """``name`` as Odoo's ``ilike`` compares it (``unaccent(name)`` when unaccent is on and
        indexable), for a trigram index."""
        registry = self.env.registry
        if registry.has_unaccent == FunctionStatus.INDEXABLE:
            return registry.unaccent(SQL.identifier(name))
        return SQL.identifier(name)

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
            message.body_html = _page_html(message._frame_body()[0]) or False

    @api.depends("body_cache", "body_cache_remote", "body_state", "body_notice",
                 "show_remote_images")
    def _compute_body_frame(self):
        # what the Webmail form needs of the body, which its frame shows: not body_html,
        # whose cleaning for a page parses the whole body twice on every read of the form
        for message in self:
            if message.body_state == "none":
                message.body_frame_version = False
                message.body_frame_notice = _notice_html(message.body_notice) \
                    if message.body_notice else False
                continue
            body, _remote = message._frame_body()
            message.body_frame_version = "%08x" % zlib.crc32(body.encode())
            message.body_frame_notice = False

    @api.depends("body_cache", "body_cache_remote", "body_state", "show_remote_images")
    def _compute_body_frame_document(self):
        # the route's document and policy (controllers/main.py), which the form's frame loads
        # from a blob: URL: the server's root as the browser reaches it, when a browser asked
        base_url = request.httprequest.host_url if request else ""
        for message in self:
            html, remote = message._frame_body()
            message.body_frame_document = False if html is None else frame_inline_document(
                html, base_url, allow_remote_images=remote)

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
        domain = domain_or([
            [(name, positive, value)] for name in TEXT_INDEX_FIELDS
        ])
        if positive != operator:
            return ["!", *domain]
        if positive in ("ilike", "like") and isinstance(value, str) and value \
                and self._text_blob_searched():
            # The four texts joined by line breaks and folded (search_blob), one index.
            # ILIKE folds both sides with lower() in a UTF-8 database, so LIKE on the folded
            # texts with the pattern folded by PostgreSQL is that ILIKE. A text without
            # wildcards nor line breaks is in the joined texts exactly when it is in one of
            # them; else (and for a case-sensitive LIKE) the blob only narrows, as a column
            # matching implies the blob does, and the four conditions keep the answer exact
            # ("a%b" could match across two columns).
            blob = [(TEXT_BLOB, "like", self._folded(value))]
            if positive == "ilike" and not BLOB_INEXACT.search(value):
                return blob
            return domain_and([blob, domain])
        return domain

    def _folded(self, text):
        """``text`` in lower case as PostgreSQL's ``lower()`` makes it (the database's
        collation: Python's ``str.lower`` differs for some letters, and in some locales),
        asked once per transaction and text."""
        memo = self.env.cr.cache.setdefault("vt_webmail_folded", {})
        if text not in memo:
            self.env.cr.execute("SELECT lower(%s)", [text])
            memo[text] = self.env.cr.fetchone()[0]
        return memo[text]

    # -- reading -------------------------------------------------------------------------------

    @api.model
    def _search(self, domain, *args, **kwargs):
        return super()._search(self._without_implied_account(domain), *args, **kwargs)

    @api.model
    def _without_implied_account(self, domain):
        """``domain`` without its ``account_id = A`` when it also asks for ``folder_id = F``
        and F is a folder of A (the Webmail list's action and its folder panel): the folder
        says it all, and PostgreSQL no longer ANDs the account's index into every bitmap of
        the folder's rows (3.5 ms of 100,000 entries read for each count of a Text filter).
        Any other domain is returned as it is."""
        if not isinstance(domain, (list, tuple)) or len(domain) < 2:
            return domain
        leaves = []
        for item in domain:
            if item == "&":
                continue
            if not isinstance(item, (list, tuple)) or len(item) != 3:
                return domain
            leaves.append(tuple(item))

        def single(name):
            found = [leaf for leaf in leaves if leaf[0] == name and leaf[1] == "="
                     and isinstance(leaf[2], int) and not isinstance(leaf[2], bool)]
            return found[0] if len(found) == 1 else None

        account, folder = single("account_id"), single("folder_id")
        if account is None or folder is None \
                or self._folder_account_id(folder[2]) != account[2]:
            return domain
        return [leaf for leaf in leaves if leaf is not account]

    @api.model
    @tools.ormcache("folder_id")
    def _folder_account_id(self, folder_id):
        """The account of folder ``folder_id`` (None when there is no such folder), cached
        per process: a folder never changes account, and ids are never reused, so nothing
        invalidates it (a deleted folder's entry names an account no mail of it has)."""
        self.env.cr.execute(SQL("SELECT account_id FROM vt_webmail_folder WHERE id = %s",
                                folder_id))
        row = self.env.cr.fetchone()
        return row[0] if row else None

    @api.model
    def search_fetch(self, domain, field_names=None, offset=0, limit=None, order=None):
        """The list's pages at scale (plans at 1,000,000 rows: README, "Speed").

        * A Text filter in a folder looks for its page among the folder's newest
          :data:`TEXT_FILTER_WINDOW` mails first (a frequent word: a short walk of the list
          index); failing that, among the folder's matches found in the text index
          (:meth:`_text_filter_narrowed`), rather than walk the whole folder from its newest
          mail testing each (a word frequent overall but absent from recent mail took 60 ms
          that way at 100,000 mails).
        * A page from :data:`DEEP_PAGE_OFFSET` on reads its ids first (an index-only scan of
          the list index), then those rows: one query would read every row it skips.
        """
        if field_names and "user_id" not in field_names:
            # the owner: read() checks the record rule (user_id = user) again on the page,
            # which would otherwise fetch every other column of its rows to find it
            field_names = [*field_names, "user_id"]
        if limit:
            page = None
            if not self._text_filter_known_rare(domain):
                page = self._text_filter_recent_page(domain, field_names, offset, limit, order)
            if page is None:
                page = self._text_filter_ids_page(domain, field_names, offset, limit, order)
            if page is not None:
                return page
            domain = self._text_filter_narrowed(domain)
        if limit and offset >= DEEP_PAGE_OFFSET and field_names != []:
            records = super().search_fetch(domain, [], offset=offset, limit=limit, order=order)
            if field_names is None:
                # Odoo 19: None asks for every field fetched by default
                records.fetch()
            else:
                records.fetch(field_names)
            return records
        return super().search_fetch(domain, field_names, offset=offset, limit=limit,
                                    order=order)

    @api.model
    def search_count(self, domain, limit=None):
        """The pager's count of a Text filter in a folder reads the text index's matches
        (a bitmap scan), whatever their number. Given a small ``limit`` (the pager's bound),
        PostgreSQL rather reads the folder's rows in table order, counting on matches spread
        evenly to stop soon, and they seldom are: 41 ms against 6 for "linux" (11,875
        matches in 100,000 mails), 185 ms against 3 for "razor" (3,724), EXPLAIN ANALYZE."""
        parts = self._text_filter_parts(domain) if limit else None
        if parts is None:
            return super().search_count(domain, limit=limit)
        memo = self.env.cr.cache.get(TEXT_IDS_MEMO)
        key = ("count", repr(domain), limit)
        if memo is not None and key in memo:
            return memo[key]
        cr = self.env.cr
        # for this query only (SET LOCAL would last until the transaction ends)
        cr.execute("SET LOCAL enable_seqscan = off")
        cr.execute("SET LOCAL enable_indexscan = off")
        try:
            count = super().search_count(domain, limit=limit)
        finally:
            cr.execute("RESET enable_seqscan")
            cr.execute("RESET enable_indexscan")
        if memo is not None:
            memo[key] = count
            if count < limit:
                # fewer matches than the bound: the page is read from their ids at once
                memo[("rare", *self._text_filter_key(parts))] = count <= TEXT_FILTER_IDS
        return count

    @api.model
    @api.readonly
    def web_search_read(self, domain, specification, offset=0, limit=None, order=None,
                        count_limit=None):
        """Odoo's, with two shortcuts:

        * Past Odoo's count bound the web client's bound is the page's end (``count_limit``
          is ``offset + limit + 1``): the pager only asks whether a mail follows the page.
          One more row says so, where the count would read every row before it (50,020
          index entries for the page in the middle of 100,000 mails).
        * The ids of a Text filter's matches are read once per call (see
          :meth:`_text_filter_ids`), and kept for this call only.
        """
        owner = TEXT_IDS_MEMO not in self.env.cr.cache
        if owner:
            self.env.cr.cache[TEXT_IDS_MEMO] = {}
        try:
            if limit and count_limit and count_limit > offset + limit + 1 \
                    and self._text_filter_parts(domain) is not None:
                # the pager's count of a Text filter first (a read of the text index, kept
                # for Odoo's count after the page): with fewer matches than its bound, the
                # page is read from their ids without looking among the newest mail first
                self.search_count(domain, limit=count_limit)
            if limit and count_limit == offset + limit + 1 \
                    and not self.env.context.get("force_search_count"):
                # limit + 1 rows: Odoo counts nothing (the bound is reached) when all come,
                # and knows the exact length when fewer do
                result = super().web_search_read(
                    domain, specification, offset=offset, limit=limit + 1, order=order,
                    count_limit=count_limit)
                result["records"] = result["records"][:limit]
                return result
            return super().web_search_read(domain, specification, offset=offset, limit=limit,
                                           order=order, count_limit=count_limit)
        finally:
            if owner:
                self.env.cr.cache.pop(TEXT_IDS_MEMO, None)

    @api.model
    def _text_filter_parts(self, domain):
        """``(leaves, folder leaf, text leaf)`` of a plain conjunction with one folder and one
        positive Text condition (what the Webmail list's search sends), else None."""
        if not isinstance(domain, (list, tuple)):
            return None
        leaves = []
        for item in domain:
            if item == "&":
                continue
            if not isinstance(item, (list, tuple)) or len(item) != 3:
                return None
            leaves.append(tuple(item))
        texts = [leaf for leaf in leaves if leaf[0] == "search_text"]
        folders = [leaf for leaf in leaves if leaf[0] == "folder_id" and leaf[1] == "="
                   and isinstance(leaf[2], int) and not isinstance(leaf[2], bool)]
        if len(texts) != 1 or len(folders) != 1 or texts[0][1] not in ("ilike", "like") \
                or not isinstance(texts[0][2], str) or not texts[0][2]:
            return None
        return leaves, folders[0], texts[0]

    @api.model
    def _text_filter_recent_page(self, domain, field_names, offset, limit, order):
        """The page of a Text filter (see :meth:`search_fetch`) when the folder's newest
        :data:`TEXT_FILTER_WINDOW` mails hold it, else None. Those mails are a prefix of the
        list's order (newest first; no date first, as PostgreSQL sorts NULL), so a full page
        found among them is the page."""
        parts = self._text_filter_parts(domain)
        if parts is None or not self._is_list_order(order):
            return None
        leaves, folder, _text = parts
        # where the window ends, from the list index alone (the caller's rules still apply to
        # the page: this only bounds the rows read)
        self.env.cr.execute(SQL(
            "SELECT date FROM vt_webmail_message WHERE folder_id = %s "
            "ORDER BY date DESC, id DESC OFFSET %s LIMIT 1", folder[2], TEXT_FILTER_WINDOW))
        row = self.env.cr.fetchone()
        if row is None or row[0] is None:
            # a small folder: reading it is short anyway
            return None
        window = [*leaves, "|", ("date", "=", False), ("date", ">=", row[0])]
        page = super().search_fetch(window, field_names, offset=offset, limit=limit,
                                    order=order)
        return page if len(page) == limit else None

    @api.model
    def _text_filter_narrowed(self, domain):
        """``domain`` with its Text filter (``search_text``) replaced by the ids of the
        matching mails of its folder when there are at most :data:`TEXT_FILTER_IDS` of them
        (:meth:`_text_filter_ids`); else, or when the domain is not a plain conjunction with
        one folder and one Text condition, ``domain`` unchanged."""
        parts = self._text_filter_parts(domain)
        if parts is None:
            return domain
        leaves, _folder, text = parts
        ids = self._text_filter_ids(parts)
        if len(ids) > TEXT_FILTER_IDS:
            # a frequent word: the newest mails of the folder hold a page of it soon
            return domain
        return [leaf for leaf in leaves if leaf is not text] + [("id", "in", ids)]

    @api.model
    def _text_filter_ids(self, parts):
        """The ids of the folder's mails matching the Text condition of ``parts`` (see
        :meth:`_text_filter_parts`), in the list's order (newest first), at most
        :data:`TEXT_FILTER_IDS` + 1 of them: a read of the text index and of those rows only,
        a few milliseconds. Kept for the rest of the ``web_search_read`` that asked (a page
        the ids do not make is read from the domain narrowed to them).
        """
        _leaves, folder, text = parts
        memo = self.env.cr.cache.get(TEXT_IDS_MEMO)
        key = self._text_filter_key(parts)
        if memo is not None and key in memo:
            return memo[key]
        # sudo: only narrows; the caller's whole domain and record rules still apply
        query = self.sudo()._search([folder, text], limit=TEXT_FILTER_IDS + 1)
        table = self._table
        self.env.cr.execute(SQL(
            "SELECT found.id FROM (%s) found ORDER BY found.date DESC, found.id DESC",
            query.select(SQL.identifier(table, "id"), SQL.identifier(table, "date"))))
        ids = [row[0] for row in self.env.cr.fetchall()]
        if memo is not None:
            memo[key] = ids
        return ids

    @api.model
    def _is_list_order(self, order):
        """Whether ``order`` is the list's (none given, or the model's)."""
        return not order or order.replace(" ", "").lower() == self._order.replace(" ", "").lower()

    @api.model
    def _text_filter_key(self, parts):
        """The memo's key of the Text condition of ``parts``: (folder, operator, value)."""
        _leaves, folder, text = parts
        return folder[2], text[1], text[2]

    @api.model
    def _text_filter_known_rare(self, domain):
        """True when this ``web_search_read`` counted fewer matches of the domain's Text
        condition than its bound, and at most :data:`TEXT_FILTER_IDS`."""
        memo = self.env.cr.cache.get(TEXT_IDS_MEMO)
        parts = self._text_filter_parts(domain) if memo else None
        return bool(parts) and memo.get(("rare", *self._text_filter_key(parts)), False)

    @api.model
    def _text_filter_ids_page(self, domain, field_names, offset, limit, order):
        """The page of a Text filter read from its matches' ids in the list's order
        (:meth:`_text_filter_ids`) when there are at most :data:`TEXT_FILTER_IDS`: the rows
        of the page's ids only, not of every match to sort them. None when the ids are too
        many, or when the rest of the domain (the caller's rules included) turned some of the
        ids before the page's end away (the page would move: the caller reads it otherwise)."""
        parts = self._text_filter_parts(domain)
        if parts is None or not self._is_list_order(order):
            return None
        ids = self._text_filter_ids(parts)
        if len(ids) > TEXT_FILTER_IDS:
            return None
        leaves, _folder, text = parts
        head = ids[:offset + limit]
        rest = [leaf for leaf in leaves if leaf is not text]
        found = super().search_fetch([*rest, ("id", "in", head)], field_names, order=order)
        if len(found) != len(head):
            return None
        return found[offset:offset + limit]

    @api.model
    def search_panel_select_range(self, field_name, **kwargs):
        """The folders of the search panel are those of the account shown (context key
        ``vt_webmail_account_id``, set by ``vt_webmail.account.action_open_webmail``). Their
        unread counts are not part of the answer, which Odoo 19's web client caches: the list
        reads them from ``vt_webmail.folder`` itself (static/src/webmail/message_list.js)."""
        account_id = self.env.context.get("vt_webmail_account_id")
        if field_name == "folder_id" and isinstance(account_id, int):
            kwargs["comodel_domain"] = domain_and([
                kwargs.get("comodel_domain") or [], [("account_id", "=", account_id)],
            ])
        return super().search_panel_select_range(field_name, **kwargs)

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

    def _by_folder(self):
        groups = {}
        for message in self:
            groups.setdefault((message.account_id, message.folder_id), self.browse())
            groups[(message.account_id, message.folder_id)] |= message
        return groups

    def _forget(self):
        """Drop these messages from the cache (they left their folder on the server)."""
        changes = {}
        for message in self:
            messages, unread = changes.get(message.folder_id.id, (0, 0))
            changes[message.folder_id.id] = (messages - 1, unread - (not message.is_seen))
        self._purge_attachments()
        self.sudo().unlink()
        # sudo: the owner was checked by the callers; the counts are the addon's own
        self.env["vt_webmail.folder"].sudo()._adjust_counts(changes)

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

    @api.model
    def _purge_attachments(self):
        """Remove the attachments kept for these messages (before they are deleted in SQL or
        by a database cascade, which would leave them behind)."""
        if self.ids:
            self.env["ir.attachment"].sudo().search([
                ("res_model", "=", self._name), ("res_id", "in", self.ids),
            ]).unlink()
