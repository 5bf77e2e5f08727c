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

import datetime
import io
import zlib

from odoo import fields
from odoo.tools import SQL

from ..core.sync import FolderState, SyncStore

#: A batch is threaded at once (its mails join their conversations before it is committed) when
#: its account has at most this many mails not threaded yet; beyond, and in a folder's first
#: sync past its first this-many mails, the mails are stored unthreaded and the account's
#: threading backlog is worked off after the refresh, in batches
#: (vt_webmail.account._cron_thread_backlog).
THREAD_AT_ONCE = 2000


def commit(cr):
    """Commit the sync's own cursor: the addon's single commit point (see the module doc).

    Only ever called on a cursor opened for a refresh (``vt_webmail.account._refresh_one``) or
    by the push worker for a sync (``service/push.py``), never on a request's or a scheduled
    job's own cursor.
    """
    cr.commit()  # pylint: disable=invalid-commit


#: Columns of a cached message written by the sync (see :func:`summary_row`).
SUMMARY_COLUMNS = (
    "account_id", "folder_id", "user_id", "uidvalidity", "uid", "message_id", "subject",
    "email_from", "email_from_normalized", "email_to", "email_cc", "date", "in_reply_to",
    "references", "is_seen", "is_flagged", "is_answered", "is_draft", "size",
    "has_attachments", "parse_note", "body_state",
)


INSERT_COLUMNS = (*SUMMARY_COLUMNS, "create_uid", "create_date", "write_uid", "write_date")
_COLUMN_LIST = ", ".join(f'"{column}"' for column in INSERT_COLUMNS)
#: A session's staging table for COPY; its name changes with the column list, so a pooled
#: connection that made it for an older version of the module never reuses a stale one.
STAGING_TABLE = f"vt_webmail_incoming_{zlib.crc32(_COLUMN_LIST.encode()):08x}"
_STAGING_CREATE = (
    f"CREATE TEMP TABLE IF NOT EXISTS {STAGING_TABLE} ON COMMIT DELETE ROWS AS "
    f"SELECT {_COLUMN_LIST} FROM vt_webmail_message WITH NO DATA"
)
_STAGING_COPY = f"COPY {STAGING_TABLE} ({_COLUMN_LIST}) FROM STDIN"
# moves the staged rows and empties the table in one statement: nothing staged can linger
# into the next batch, whether or not a commit came in between
_STAGING_MOVE = (
    f"WITH staged AS (DELETE FROM {STAGING_TABLE} RETURNING *) "
    f"INSERT INTO vt_webmail_message ({_COLUMN_LIST}) SELECT {_COLUMN_LIST} FROM staged "
    f"ON CONFLICT (folder_id, uidvalidity, uid) DO NOTHING"
)
#: COPY's text format: backslash, tab and line breaks escaped; NUL, which PostgreSQL refuses
#: in text (a hostile or broken mail may have some), dropped.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r",
                               "\x00": ""})


def _copy_field(value):
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, str):
        return value.translate(_COPY_ESCAPES)
    return str(value)


def summary_row(head, summary):
    """The row of a new cached message, in ``SUMMARY_COLUMNS`` order (``None`` for
    NULL): ``head`` is (account id, folder id, user id, UIDVALIDITY). On the first sync's
    hot path, in the fetching thread: no ORM in here."""
    date = summary.date or summary.internal_date
    if date is not None and date.tzinfo is not None:
        # Odoo keeps naive UTC datetimes
        date = date.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return (
        *head,
        summary.uid,
        _text(summary.message_id) if summary.message_id != "<>" else None,
        _text(summary.subject),
        _text(summary.email_from),
        # the sender as compared everywhere: first address, lower case (core.mime)
        _text(summary.from_address),
        _text(summary.email_to),
        _text(summary.email_cc),
        date,
        _text(summary.in_reply_to),
        _text(summary.references),
        summary.is_seen,
        summary.is_flagged,
        summary.is_answered,
        summary.is_draft,
        min(summary.size, 2**31 - 1),
        summary.has_attachments,
        _text(summary.note[:500]),
        "none",
    )


def _text(value):
    """A header value for PostgreSQL, which refuses NUL characters in text (a hostile or
    broken mail may have some); ``None`` for an empty value."""
    return value.replace("\x00", "") or None if value else None


class OdooSyncStore(SyncStore):
    """Cache of one folder (``folder``: a ``vt_webmail.folder`` record, as superuser, bound to
    the sync cursor).

    With ``own_cursor=False`` the store writes in the caller's transaction and commits nothing
    (a server search or a sent mail adds a few messages within the request).
    """

    def __init__(self, folder, *, own_cursor=True):
        self.folder = folder
        self.env = folder.env
        self.cr = folder.env.cr
        self.own_cursor = own_cursor
        self.writes = 0
        self._counted = False
        #: set when this store left mails unthreaded (the account's backlog)
        self.threading_deferred = False
        # a folder's first sync (nothing cached yet) stores its mails unthreaded past its first
        # THREAD_AT_ONCE: threading every mail of a large account batch by batch inside the
        # sync costs more than the sync itself
        self._first_sync = own_cursor and not self._has_mails()
        self._stored = 0
        # row constants, read here so that prepare() needs no ORM (it runs in another thread)
        account = folder.account_id
        self._head = (account.id, folder.id, account.user_id.id)
        now = fields.Datetime.now()
        self._tail = (self.env.uid, now, self.env.uid, now)

    def _commit(self):
        if self.own_cursor:
            commit(self.cr)

    def _begin(self):
        """Start a write transaction of the sync's own cursor.

        Its commits need not wait for the disk (``synchronous_commit off``): the cache is a
        copy of the mail server, and PostgreSQL loses only a suffix of such transactions in a
        crash, never one in the middle, so the folder's state (written last) never claims mail
        that is not stored; the next refresh fetches whatever was lost.
        """
        if self.own_cursor:
            self.cr.execute("SET LOCAL synchronous_commit TO OFF")
        # "CREATE TEMP TABLE IF NOT EXISTS" says NOTICE every batch: not worth hearing
        self.cr.execute("SET LOCAL client_min_messages TO WARNING")

    def _has_mails(self):
        self.cr.execute(SQL(
            "SELECT 1 FROM vt_webmail_message WHERE folder_id = %s LIMIT 1", self.folder.id))
        return bool(self.cr.fetchone())

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
        self._begin()
        self.cr.execute(SQL(
            "SELECT id FROM vt_webmail_message WHERE folder_id = %s", self.folder.id,
        ))
        self._delete_messages([row[0] for row in self.cr.fetchall()])
        self.folder.write(self.folder._state_values(FolderState(uidvalidity=uidvalidity)))
        self.writes += 1
        self._commit()

    def prepare(self, folder, uidvalidity, summaries):
        """The batch as COPY text (no database work: runs in the fetching thread)."""
        tail = self._tail
        return "".join(
            "\t".join(map(_copy_field, summary_row(self._head + (uidvalidity,), summary) + tail))
            + "\n"
            for summary in summaries
        )

    def add(self, folder, uidvalidity, batch):
        """Store a batch: summaries, or the COPY text :meth:`prepare` made of them."""
        if not isinstance(batch, str):
            batch = self.prepare(folder, uidvalidity, batch)
        # COPY into a session table, then one INSERT ... SELECT: about twice as fast as a
        # multi-row INSERT for the database, and little Python work per row
        self._begin()
        self.cr.execute(_STAGING_CREATE)
        self.cr.copy_expert(_STAGING_COPY, io.StringIO(batch))
        self.cr.execute(_STAGING_MOVE)
        self._stored += batch.count("\n")
        # conversations: the new mails join theirs (core.threading, incremental), unless this
        # is a large first sync or the account has a backlog: then after the refresh, in batches
        if (self._first_sync and self._stored > THREAD_AT_ONCE) \
                or not self.env["vt_webmail.message"]._thread_pending(
                    [self._head[0]], limit=THREAD_AT_ONCE):
            self._mark_backlog()
        self.writes += 1
        if not self._counted:
            # the first batch of a pass shows its counts at once; the rest at the pass's end
            self.folder._update_counts()
            self._counted = True
        self.env["vt_webmail.message"].invalidate_model()
        self._commit()

    def _mark_backlog(self):
        if not self.threading_deferred:
            self.cr.execute(SQL(
                "UPDATE vt_webmail_account SET threading_pending = TRUE "
                "WHERE id = %s AND threading_pending IS NOT TRUE", self._head[0]))
            self.threading_deferred = True

    def set_flags(self, folder, flags_by_uid):
        self._begin()
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
        self._begin()
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
        self._begin()
        self.folder._update_counts()
        self.folder.write(dict(self.folder._state_values(state),
                               last_sync_at=fields.Datetime.now()))
        self.writes += 1
        self._commit()

    def _delete_messages(self, ids):
        if not ids:
            return
        Message = self.env["vt_webmail.message"]
        gone = Message._thread_forget(ids)
        # kept attachments (bodies read before) go with their message
        Message.browse(ids)._purge_attachments()
        self.cr.execute(SQL("DELETE FROM vt_webmail_message WHERE id = ANY(%s)", ids))
        # the conversations they leave are threaded again (they may split)
        Message._thread_after_forget(gone)
        self.writes += 1
        self.env["vt_webmail.message"].invalidate_model()
