"""The ORM side of :mod:`..core.sync`: a :class:`SyncStore` writing the Odoo cache.

A :class:`OdooSyncStore` works on the *sync's own cursor* (see
``vt_webmail.account._refresh_one``) and commits after every batch of new messages and after
every flag or expunge update. This is the one place of the addon that commits: a refresh of a
large mailbox takes seconds to minutes, and a crash or a killed worker must lose at most the
batch in flight, never what was fetched before.

New messages are inserted with one multi-row ``INSERT ... ON CONFLICT DO NOTHING`` per batch
rather than the ORM's ``create``: a first sync writes tens of thousands of rows, the ORM costs
about a millisecond per row, and the unique key (folder, UIDVALIDITY, UID) makes concurrent or
repeated inserts of the same UID harmless. The message model has no computed stored field, no
tracking and no translated field that the insert would bypass; caches are invalidated after.
"""

from odoo import fields
from odoo.tools import SQL

from ..core.sync import SyncStore


def commit(cr):
    """Commit the sync's own cursor: the addon's single commit point (see the module doc).

    Only ever called on a cursor opened by ``vt_webmail.account._refresh_one`` for a refresh,
    never on a request's or a scheduled job's own cursor.
    """
    cr.commit()  # pylint: disable=invalid-commit


BOOLEAN_COLUMNS = {"is_seen", "is_flagged", "is_answered", "is_draft", "has_attachments"}
INSERT_COLUMNS = (
    "account_id", "folder_id", "user_id", "uid", "uidvalidity", "message_id", "subject",
    "email_from", "email_from_normalized", "email_to", "email_cc", "date", "in_reply_to",
    "references", "is_seen", "is_flagged", "is_answered", "is_draft", "size",
    "has_attachments", "parse_note", "body_state",
)


class OdooSyncStore(SyncStore):
    """Cache of one folder (``folder``: a ``vt_webmail.folder`` record, as superuser, bound to
    the sync cursor). ``on_batch`` is called after each committed batch of new messages.

    With ``own_cursor=False`` the store writes in the caller's transaction and commits nothing
    (a server search or a sent mail adds a few messages within the request).
    """

    def __init__(self, folder, on_batch=None, *, own_cursor=True):
        self.folder = folder
        self.env = folder.env
        self.cr = folder.env.cr
        self.on_batch = on_batch
        self.own_cursor = own_cursor
        self.writes = 0

    def _commit(self):
        if self.own_cursor:
            commit(self.cr)

    def cached_uids(self, folder, min_uid=1):
        self.cr.execute(SQL(
            "SELECT uid FROM vt_webmail_message WHERE folder_id = %s AND uid >= %s",
            self.folder.id, min_uid,
        ))
        return {row[0] for row in self.cr.fetchall()}

    def cached_count(self, folder):
        self.cr.execute(SQL(
            "SELECT count(*) FROM vt_webmail_message WHERE folder_id = %s", self.folder.id,
        ))
        return self.cr.fetchone()[0]

    def reset(self, folder, uidvalidity):
        self.cr.execute(SQL(
            "SELECT id FROM vt_webmail_message WHERE folder_id = %s", self.folder.id,
        ))
        self._delete_messages([row[0] for row in self.cr.fetchall()])
        self.folder.write({"uidvalidity": uidvalidity, "uidnext": False,
                           "highestmodseq": False})
        self.writes += 1
        self._commit()

    def add(self, folder, uidvalidity, summaries):
        Message = self.env["vt_webmail.message"]
        now = fields.Datetime.now()
        uid = self.env.uid
        rows = []
        for summary in summaries:
            values = Message._summary_values(self.folder, uidvalidity, summary)
            row = [
                None if values[column] is False and column not in BOOLEAN_COLUMNS
                else values[column]
                for column in INSERT_COLUMNS
            ]
            rows.append(SQL("(%s)", SQL(", ").join([*row, uid, now, uid, now])))
        columns = SQL(", ").join(
            SQL.identifier(column)
            for column in (*INSERT_COLUMNS, "create_uid", "create_date", "write_uid",
                           "write_date")
        )
        self.cr.execute(SQL(
            "INSERT INTO vt_webmail_message (%s) VALUES %s "
            "ON CONFLICT (folder_id, uidvalidity, uid) DO NOTHING",
            columns, SQL(", ").join(rows),
        ))
        self.writes += 1
        self.folder._update_counts()
        Message.invalidate_model()
        self._commit()
        if self.on_batch:
            self.on_batch(self.folder, len(summaries))

    def set_flags(self, folder, flags_by_uid):
        values = SQL(", ").join(
            SQL("(%s::int8, %s, %s, %s, %s)", uid, "\\Seen" in flags, "\\Flagged" in flags,
                "\\Answered" in flags, "\\Draft" in flags)
            for uid, flags in flags_by_uid.items()
        )
        self.cr.execute(SQL(
            """
            UPDATE vt_webmail_message m
               SET is_seen = v.seen, is_flagged = v.flagged, is_answered = v.answered,
                   is_draft = v.draft, write_date = now() AT TIME ZONE 'UTC'
              FROM (VALUES %s) AS v(uid, seen, flagged, answered, draft)
             WHERE m.folder_id = %s AND m.uid = v.uid
               AND (m.is_seen, m.is_flagged, m.is_answered, m.is_draft)
                   IS DISTINCT FROM (v.seen, v.flagged, v.answered, v.draft)
            """,
            values, self.folder.id,
        ))
        changed = self.cr.rowcount
        self.writes += 1
        if changed:
            self.folder._update_counts()
            self.env["vt_webmail.message"].invalidate_model()
        self._commit()
        return changed

    def remove(self, folder, uids):
        self.cr.execute(SQL(
            "SELECT id FROM vt_webmail_message WHERE folder_id = %s AND uid = ANY(%s)",
            self.folder.id, list(uids),
        ))
        ids = [row[0] for row in self.cr.fetchall()]
        self._delete_messages(ids)
        self.folder._update_counts()
        self._commit()
        return len(ids)

    def save_state(self, folder, state):
        self.folder.write({
            "uidvalidity": state.uidvalidity,
            "uidnext": state.uidnext,
            "highestmodseq": state.highestmodseq or False,
            "last_sync_at": fields.Datetime.now(),
        })
        self.writes += 1
        self._commit()

    def _delete_messages(self, ids):
        if not ids:
            return
        # kept attachments (bodies read before) go with their message
        self.env["vt_webmail.message"].browse(ids)._purge_attachments()
        self.cr.execute(SQL("DELETE FROM vt_webmail_message WHERE id = ANY(%s)", ids))
        self.writes += 1
        self.env["vt_webmail.message"].invalidate_model()
