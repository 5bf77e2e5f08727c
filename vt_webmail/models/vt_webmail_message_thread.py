"""Conversations of the cache: core/threading.py over an account's stored mails, updated as the
sync stores or forgets mail (tools/sync_store.py) and as the user's moves and deletes forget it.

Nothing is recomputed for a whole account: a change loads only the conversations it can touch
(those holding an id the new mails name, found through a GIN index on ``thread_ids``, or a mail
of the same subject base) and threads that closed set again. A mail not threaded yet has no
``conversation_id``: whatever stored it, the next update picks it up.
"""

from odoo import api, fields, models
from odoo.tools import SQL

from ..core.threading import Mail, Threader, lookup_terms

#: up to this many ids, the conversations naming them are looked up id by id in the GIN index
#: (a refresh's new mails: milliseconds); beyond, in one pass over the account's mails
LOOKUP_PER_ID = 2000


class VtWebmailMessage(models.Model):
    _inherit = "vt_webmail.message"

    conversation_id = fields.Many2one("vt_webmail.conversation", index="btree_not_null",
                                      readonly=True, ondelete="set null")
    thread_ids = fields.Text(readonly=True, prefetch=False,
                             help="The message ids this mail names, its own first, one a line.")
    thread_subject = fields.Char(readonly=True, prefetch=False,
                                 help="The subject as conversations compare it.")

    def init(self):
        result = super().init()
        self.env.cr.execute(
            "CREATE INDEX IF NOT EXISTS vt_webmail_message_thread_ids_idx ON vt_webmail_message "
            "USING gin (string_to_array(thread_ids, E'\\n')) WHERE thread_ids IS NOT NULL")
        self.env.cr.execute(
            "CREATE INDEX IF NOT EXISTS vt_webmail_message_thread_subject_idx "
            "ON vt_webmail_message (account_id, thread_subject) WHERE thread_subject IS NOT NULL")
        # the mails not threaded yet (_thread_pending): a handful, found without reading the
        # account's other mails
        self.env.cr.execute(
            "CREATE INDEX IF NOT EXISTS vt_webmail_message_unthreaded_idx "
            "ON vt_webmail_message (account_id) WHERE conversation_id IS NULL")
        return result

    # -- the sync's hooks ------------------------------------------------------------------

    @api.model
    def _thread_pending(self, account_ids, limit=None):
        """Thread the mails of these accounts not threaded yet (just stored).

        :param limit: thread an account's mails only if it has at most this many unthreaded
            (its backlog is then left to :meth:`_thread_backlog`)
        :returns: whether every account's mails were threaded
        """
        done = True
        for account_id in set(account_ids):
            rows = self._thread_rows(SQL(
                "account_id = %s AND conversation_id IS NULL ORDER BY id %s", account_id,
                SQL("LIMIT %s", limit + 1) if limit is not None else SQL()))
            if limit is not None and len(rows) > limit:
                done = False
                continue
            if rows:
                self._thread_update(account_id, rows, [], [])
        return done

    @api.model
    def _thread_backlog_batch(self, account_id, size):
        """Thread the oldest ``size`` unthreaded mails of the account (by id: in the order they
        were stored). The threading is incremental: batch after batch, the conversations come
        out as one threading of all the mails at once would make them.

        :returns: how many mails were threaded
        """
        rows = self._thread_rows(SQL(
            "account_id = %s AND conversation_id IS NULL ORDER BY id LIMIT %s",
            account_id, size))
        if rows:
            self._thread_update(account_id, rows, [], [])
        return len(rows)

    @api.model
    def _thread_forget(self, ids):
        """Call before deleting these mails: what their leaving will touch, for
        :meth:`_thread_after_forget`."""
        if not ids:
            return {}
        self.env.cr.execute(SQL(
            "SELECT account_id, conversation_id, thread_subject FROM vt_webmail_message "
            "WHERE id = ANY(%s)", list(ids)))
        gone = {}
        for account_id, conversation_id, base in self.env.cr.fetchall():
            convs, bases = gone.setdefault(account_id, (set(), set()))
            if conversation_id:
                convs.add(conversation_id)
            if base:
                bases.add(base)
        return gone

    @api.model
    def _thread_after_forget(self, gone):
        """Thread again what the mails deleted since :meth:`_thread_forget` left behind."""
        for account_id, (convs, bases) in gone.items():
            self._thread_update(account_id, [], list(convs), list(bases))

    def _forget(self):
        gone = self._thread_forget(self.ids)
        result = super()._forget()
        self._thread_after_forget(gone)
        return result

    # -- helpers ---------------------------------------------------------------------------

    def _thread_rows(self, where):
        self.env.cr.execute(SQL(
            "SELECT id, message_id, in_reply_to, \"references\", subject, date, conversation_id "
            "FROM vt_webmail_message WHERE %s", where))
        return self.env.cr.fetchall()

    @api.model
    def _thread_update(self, account_id, new_rows, conversation_ids, bases):
        """Thread ``new_rows`` into the account's conversations; ``conversation_ids`` and
        ``bases`` name conversations and subject groups that lost mail and are threaded again."""
        cr = self.env.cr
        self.flush_model()
        new_mails = [Mail(row[0], row[1] or "", row[2] or "", row[3] or "", row[4] or "", row[5])
                     for row in new_rows]
        terms = {mail.key: lookup_terms(mail) for mail in new_mails}
        ids = sorted({i.replace("\n", " ") for node_ids, _base in terms.values()
                      for i in node_ids})
        bases = sorted(set(bases) | {base for _ids, base in terms.values() if base})
        # the conversations the change can reach: a closed set (each is whole), see core
        convs = set(conversation_ids)
        if ids:
            if len(ids) <= LOOKUP_PER_ID:
                # one GIN lookup per id (a nested loop): PostgreSQL cannot estimate ``&&``
                # with a long array, takes it for a third of the table and reads all of it
                cr.execute(SQL(
                    "SELECT DISTINCT m.conversation_id FROM unnest(%s::text[]) AS t(id) "
                    "CROSS JOIN LATERAL (SELECT conversation_id FROM vt_webmail_message "
                    "WHERE thread_ids IS NOT NULL "
                    "AND string_to_array(thread_ids, E'\\n') @> ARRAY[t.id] "
                    "AND account_id = %s AND conversation_id IS NOT NULL) m", ids, account_id))
            else:
                # a first sync's thousands of ids: one pass over the account's mails
                cr.execute(SQL(
                    "SELECT DISTINCT conversation_id FROM vt_webmail_message "
                    "WHERE account_id = %s AND thread_ids IS NOT NULL "
                    "AND string_to_array(thread_ids, E'\\n') && %s "
                    "AND conversation_id IS NOT NULL", account_id, ids))
            convs.update(row[0] for row in cr.fetchall())
        if bases:
            cr.execute(SQL(
                "SELECT DISTINCT conversation_id FROM vt_webmail_message WHERE account_id = %s "
                "AND thread_subject = ANY(%s) AND conversation_id IS NOT NULL",
                account_id, bases))
            convs.update(row[0] for row in cr.fetchall())
        new_keys = {mail.key for mail in new_mails}
        loaded = [row for row in self._thread_rows(SQL(
            "conversation_id = ANY(%s)", sorted(convs))) if row[0] not in new_keys] \
            if convs else []
        threader = Threader()
        threader.add(Mail(row[0], row[1] or "", row[2] or "", row[3] or "", row[4] or "", row[5])
                     for row in loaded)
        threader.add(new_mails)
        assignment = threader.conversations()
        if not assignment:
            self.env["vt_webmail.conversation"]._refresh_summaries(convs)
            return
        # one conversation row per key, made when first needed
        Conversation = self.env["vt_webmail.conversation"].sudo()
        keys = sorted(set(assignment.values()))
        existing = dict(Conversation.search([("account_id", "=", account_id),
                                             ("key", "in", keys)]).mapped(lambda c: (c.key, c.id)))
        missing = [key for key in keys if key not in existing]
        if missing:
            user_id = self.env["vt_webmail.account"].sudo().browse(account_id).user_id.id
            for record in Conversation.create([{"account_id": account_id, "user_id": user_id,
                                                "key": key} for key in missing]):
                existing[record.key] = record.id
        current = {row[0]: row[6] for row in loaded}
        changes = [(key, existing[conv]) for key, conv in assignment.items()
                   if current.get(key) != existing[conv]]
        if changes:
            values = SQL(", ").join(SQL("(%s, %s)", key, cid) for key, cid in changes)
            cr.execute(SQL(
                "UPDATE vt_webmail_message m SET conversation_id = v.cid FROM (VALUES %s) "
                "AS v(id, cid) WHERE m.id = v.id", values))
        if new_mails:
            values = SQL(", ").join(
                SQL("(%s, %s, %s)", key, "\n".join(i.replace("\n", " ") for i in node_ids)
                    or None, base or None)
                for key, (node_ids, base) in terms.items())
            cr.execute(SQL(
                "UPDATE vt_webmail_message m SET thread_ids = v.ids, thread_subject = v.base "
                "FROM (VALUES %s) AS v(id, ids, base) WHERE m.id = v.id", values))
        self.env["vt_webmail.conversation"]._refresh_summaries(
            convs | {existing[conv] for conv in keys})
        self.invalidate_model(["conversation_id", "thread_ids", "thread_subject"])
