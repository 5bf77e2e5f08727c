from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL

from ..compat import Constraint
from ..core.quotes import fold_quotes


class VtWebmailConversation(models.Model):
    """A conversation of one account (core/threading.py): the mails of all its synced folders,
    Sent included, that reply to each other. Rows are written by the threading of the sync
    (``vt_webmail.message._thread_*``), never by users."""

    _name = "vt_webmail.conversation"
    _description = "Webmail conversation"
    _order = "date_last desc, id desc"
    _rec_name = "subject"

    account_id = fields.Many2one("vt_webmail.account", required=True, ondelete="cascade",
                                 index=True, readonly=True)
    user_id = fields.Many2one("res.users", required=True, index=True, readonly=True)
    key = fields.Char(required=True, readonly=True,
                      help="core.threading's key: a hash of the oldest mail's Message-Id.")
    subject = fields.Char(readonly=True, help="The subject of its oldest mail (of a mail that "
                          "replies to none, among mails of the same date).")
    participants = fields.Char(readonly=True, help="The senders of its mails, oldest first.")
    message_count = fields.Integer(string="Mails", readonly=True,
                                   help="Its mails, a mail kept in two folders counted once.")
    date_last = fields.Datetime(string="Last mail", readonly=True)
    message_ids = fields.One2many("vt_webmail.message", "conversation_id", string="Its mails",
                                  readonly=True)
    has_unread = fields.Boolean(string="Unread", compute="_compute_states",
                                search="_search_has_unread")
    has_flagged = fields.Boolean(string="Flagged", compute="_compute_states",
                                 search="_search_has_flagged")

    _account_key_unique = Constraint("UNIQUE(account_id, key)",
                                     "A conversation key is unique per account.")

    def init(self):
        """The index of the Conversations list: the rule asks for user_id = U, the list orders
        by date_last DESC, id DESC, and shows the account; so the page, a page far down and the
        pager's count are index-only scans (as ``vt_webmail.message``'s list index; figures:
        ``tools/bench_threading.py --db``). And beside it, the unread and flagged states of a
        page of conversations read from an index of their mails (``_compute_states``)."""
        result = super().init()
        self.env.cr.execute(
            "CREATE INDEX IF NOT EXISTS vt_webmail_conversation_list_idx "
            "ON vt_webmail_conversation (user_id, date_last DESC, id DESC) INCLUDE (account_id)")
        self.env.cr.execute(
            "CREATE INDEX IF NOT EXISTS vt_webmail_message_conversation_states_idx "
            "ON vt_webmail_message (conversation_id) INCLUDE (is_seen, is_flagged) "
            "WHERE conversation_id IS NOT NULL")
        return result

    def _compute_states(self):
        # one grouped read for the page shown; flags change too often to be stored here
        rows = {}
        if self.ids:
            self.env["vt_webmail.message"].flush_model(["is_seen", "is_flagged",
                                                        "conversation_id"])
            self.env.cr.execute(SQL(
                "SELECT conversation_id, bool_or(NOT is_seen), bool_or(is_flagged) "
                "FROM vt_webmail_message WHERE conversation_id = ANY(%s) "
                "GROUP BY conversation_id", self.ids))
            rows = {row[0]: row[1:] for row in self.env.cr.fetchall()}
        for conversation in self:
            conversation.has_unread, conversation.has_flagged = rows.get(
                conversation.id, (False, False))

    def _search_has_unread(self, operator, value):
        return self._search_state("is_seen", False, operator, value)

    def _search_has_flagged(self, operator, value):
        return self._search_state("is_flagged", True, operator, value)

    def _search_state(self, field, wanted, operator, value):
        # Odoo 18 passes '=' / '!=' and a value; Odoo 19 normalises a condition on a boolean
        # to 'in' / 'not in' and a collection (``= False`` arrives as ``not in [True]``)
        if operator in ("=", "!="):
            values, negate = {bool(value)}, operator == "!="
        elif operator in ("in", "not in"):
            values, negate = {bool(item) for item in value}, operator == "not in"
        else:
            raise UserError(self.env._("Unsupported search on this field: %s", operator))
        matching = {True, False} - values if negate else values
        if len(matching) != 1:
            return [] if matching else [("id", "=", False)]
        positive = matching == {True}
        self.env["vt_webmail.message"].flush_model([field, "conversation_id"])
        inner = SQL("(SELECT conversation_id FROM vt_webmail_message "
                    "WHERE conversation_id IS NOT NULL AND %s = %s)",
                    SQL.identifier(field), wanted)
        return [("id", "in" if positive else "not in", inner)]

    def action_open(self):
        """The conversation's reader: its mails oldest first, in every folder (the user's
        replies in Sent included), their quoted text folded, each with its actions
        (``vt_webmail_conversation_view_form``, which calls :meth:`action_read` and
        :meth:`read_mails`)."""
        self.ensure_one()
        self.check_access("read")
        return {
            "type": "ir.actions.act_window",
            "name": self.subject or self.env._("Conversation"),
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "views": [[self.env.ref("vt_webmail.vt_webmail_conversation_view_form").id, "form"]],
            "context": {"vt_webmail_account_id": self.account_id.id, "vt_webmail_mark_read": True},
            "target": "current",
        }

    def action_open_list(self):
        """The conversation's mails as a list, oldest first."""
        self.ensure_one()
        self.check_access("read")
        return {
            "type": "ir.actions.act_window",
            "name": self.subject or self.env._("Conversation"),
            "res_model": "vt_webmail.message",
            "view_mode": "list,form",
            "views": [[self.env.ref("vt_webmail.vt_webmail_message_view_list_conversation").id,
                       "list"], [False, "form"]],
            "domain": [("conversation_id", "=", self.id)],
            "context": {"vt_webmail_account_id": self.account_id.id, "vt_webmail_mark_read": True},
            "target": "current",
        }

    def action_read(self):
        """Read these conversations as the reader shows them: the bodies of their mails are
        fetched if they never were, and their mails marked read (\\Seen), in one IMAP session
        per account (``vt_webmail.message.action_open``). Never raises because of the server.

        :returns: True
        """
        self._check_owner()
        self._reading_mails().action_open()
        return True

    def read_mails(self):
        """The mails of this conversation as the reader shows them, oldest first; a mail kept
        in two folders once (in its Inbox or Sent copy first). A pure read: nothing is fetched
        (see :meth:`action_read`).

        :returns: a list of dicts: ``id``, ``subject``, ``email_from``, ``email_to``,
            ``email_cc``, ``date`` (UTC, ``YYYY-MM-DD HH:MM:SS``), ``folder`` (its name as
            shown), ``folder_role``, ``account`` (its address), ``is_seen``, ``is_flagged``,
            ``has_attachments``, ``body`` (sanitized HTML, quoted text folded, or False when
            the body was never fetched), ``quotes`` (how many folds); ``[]`` when the
            conversation is gone (its last mail was deleted or moved out of the synced
            folders)
        """
        if not self.exists():
            return []
        self.ensure_one()
        self._check_owner()
        summary = self.env._("Show quoted text")
        result = []
        for mail in self._reading_mails():
            body, quotes = fold_quotes(mail.body_html or "", summary)
            result.append({
                "id": mail.id,
                "subject": mail.subject or "",
                "email_from": mail.email_from or "",
                "email_to": mail.email_to or "",
                "email_cc": mail.email_cc or "",
                "date": fields.Datetime.to_string(mail.date) if mail.date else False,
                "folder": mail.folder_id.display_name,
                "folder_role": mail.folder_id.role or False,
                "account": mail.account_id.email,
                "is_seen": mail.is_seen,
                "is_flagged": mail.is_flagged,
                "has_attachments": mail.has_attachments,
                "body": body or False,
                "quotes": quotes,
            })
        return result

    def _check_owner(self):
        self.check_access("read")
        if not self.env.su and any(c.user_id != self.env.user for c in self):
            raise AccessError(self.env._("You can only act on your own mail."))

    def _reading_mails(self):
        """The mails of these conversations in reading order, one copy of each."""
        ranks = {"inbox": 0, "sent": 1}
        mails = self.env["vt_webmail.message"].search(
            [("conversation_id", "in", self.ids)], order="date, id")
        seen = {}
        for mail in mails:
            key = (mail.conversation_id.id, mail.message_id or mail.id)
            kept = seen.get(key)
            if kept is None or ranks.get(mail.folder_id.role, 2) < \
                    ranks.get(kept.folder_id.role, 2):
                seen[key] = mail
        kept_ids = {mail.id for mail in seen.values()}
        return mails.filtered(lambda m: m.id in kept_ids)

    @api.model
    def _refresh_summaries(self, conversation_ids):
        """Recompute the stored summary of these conversations from their mails; delete those
        left with no mail."""
        ids = [cid for cid in set(conversation_ids) if cid]
        if not ids:
            return
        self.env.cr.execute(SQL(
            """
            WITH m AS (
                SELECT conversation_id, subject, date, id, email_from_normalized,
                       (in_reply_to IS NULL AND "references" IS NULL) AS original,
                       coalesce(message_id, id::text) AS mail
                  FROM vt_webmail_message WHERE conversation_id = ANY(%(ids)s)
            ), agg AS (
                SELECT conversation_id, count(DISTINCT mail) AS n, max(date) AS last,
                       (array_agg(subject ORDER BY date NULLS LAST, original DESC, id))[1]
                           AS subject
                  FROM m GROUP BY conversation_id
            ), who AS (
                SELECT conversation_id,
                       string_agg(email_from_normalized, ', ' ORDER BY first) AS participants
                  FROM (SELECT conversation_id, email_from_normalized, min(date) AS first
                          FROM m WHERE email_from_normalized IS NOT NULL
                         GROUP BY conversation_id, email_from_normalized) s
                 GROUP BY conversation_id
            )
            UPDATE vt_webmail_conversation c
               SET message_count = agg.n, date_last = agg.last, subject = agg.subject,
                   participants = left(who.participants, 500)
              FROM agg LEFT JOIN who USING (conversation_id)
             WHERE c.id = agg.conversation_id
            """, ids=ids))
        self.env.cr.execute(SQL(
            "DELETE FROM vt_webmail_conversation c WHERE c.id = ANY(%s) AND NOT EXISTS "
            "(SELECT 1 FROM vt_webmail_message m WHERE m.conversation_id = c.id)", ids))
        self.invalidate_model()
