import datetime

from odoo import api, fields, models
from odoo.exceptions import AccessError
from odoo.tools import SQL

from ..compat import Constraint
from ..core.sync import FolderState
from ..tools.bigint_field import BigInteger

#: The special folders, in their order in the folder list.
ROLE_ORDER = {"inbox": 0, "drafts": 1, "sent": 2, "archive": 3, "junk": 4, "trash": 5, "all": 6}
#: Roles synced by default: not Gmail's All Mail, which holds a copy of every other mail.
SYNCED_ROLES = frozenset(ROLE_ORDER) - {"all"}
ROLES = [
    ("inbox", "Inbox"),
    ("sent", "Sent"),
    ("drafts", "Drafts"),
    ("trash", "Trash"),
    ("junk", "Junk"),
    ("archive", "Archive"),
    ("all", "All mail"),
]
#: Fields the owner may change through ``write``; everything else mirrors the server.
USER_WRITABLE = {"is_synced"}


class VtWebmailFolder(models.Model):
    _name = "vt_webmail.folder"
    _description = "Webmail folder"
    _order = "account_id, sequence, name"

    account_id = fields.Many2one("vt_webmail.account", required=True, ondelete="cascade",
                                 index=True, readonly=True)
    user_id = fields.Many2one(related="account_id.user_id", store=True, index=True)
    name = fields.Char(string="IMAP name", required=True, readonly=True,
                       help="The folder's full name on the server.")
    label = fields.Char(compute="_compute_label", help="The last part of the folder's name.")
    delimiter = fields.Char(readonly=True)
    role = fields.Selection(ROLES, readonly=True)
    sequence = fields.Integer(default=10, readonly=True)
    is_synced = fields.Boolean(
        string="Synced", default=False,
        help="Synced folders are refreshed automatically. The inbox and the special folders "
             "(sent, drafts, trash, junk, archive) are synced by default; Gmail's All Mail, "
             "which holds a copy of every mail, is not.",
    )
    uidvalidity = BigInteger(string="UIDVALIDITY", readonly=True, copy=False)
    uidnext = BigInteger(string="UIDNEXT", readonly=True, copy=False,
                         help="UIDNEXT when the last complete refresh ended.")
    highestmodseq = BigInteger(string="HIGHESTMODSEQ", readonly=True, copy=False)
    server_message_count = fields.Integer(
        string="Messages on the server", readonly=True, copy=False,
        help="How many messages the server said the folder held at the last complete refresh.")
    server_unseen_count = fields.Integer(
        readonly=True, copy=False,
        help="Unread messages by the server's STATUS at the last complete refresh (servers "
             "without CONDSTORE only).")
    flags_read_at = fields.Datetime(
        readonly=True, copy=False,
        help="When the flags of every message were last read (servers without CONDSTORE).")
    message_count = fields.Integer(readonly=True)
    unread_count = fields.Integer(readonly=True)
    last_sync_at = fields.Datetime(readonly=True)

    _account_name_unique = Constraint("UNIQUE(account_id, name)",
                                      "A folder name appears once per account.")

    @api.depends("name", "delimiter")
    def _compute_label(self):
        for folder in self:
            name = folder.name or ""
            folder.label = name.rsplit(folder.delimiter, 1)[-1] if folder.delimiter else name

    @api.depends("label", "role")
    def _compute_display_name(self):
        # the name only: the unread count has a column of its own in the folder list, and
        # the Webmail search panel shows it beside the name (static/src/webmail/message_list.js)
        role_labels = dict(self._fields["role"]._description_selection(self.env))
        # these columns only: every page of the mail list names its folders
        self.filtered("id").fetch(["name", "delimiter", "role"])
        for folder in self:
            folder.display_name = role_labels[folder.role] if folder.role else folder.label

    def write(self, vals):
        if not self.env.su and set(vals) - USER_WRITABLE:
            raise AccessError(self.env._(
                "Folders mirror the mail server; only their synchronisation can be turned on "
                "or off here."))
        return super().write(vals)

    def unlink(self):
        messages = self.env["vt_webmail.message"].sudo().search([("folder_id", "in", self.ids)])
        messages._purge_attachments()
        return super().unlink()

    # -- helpers ---------------------------------------------------------------------------------

    def _sync_state(self):
        self.ensure_one()
        flags_read_at = self.flags_read_at
        return FolderState(
            uidvalidity=self.uidvalidity or None,
            uidnext=self.uidnext or None,
            highestmodseq=self.highestmodseq or None,
            messages=self.server_message_count if self.uidnext else None,
            unseen=self.server_unseen_count if self.flags_read_at else None,
            flags_read_at=flags_read_at.replace(tzinfo=datetime.timezone.utc).timestamp()
            if flags_read_at else None,
        )

    @staticmethod
    def _state_values(state):
        """The folder's fields for a :class:`FolderState` (see :meth:`_sync_state`)."""
        read_at = state.flags_read_at
        return {
            "uidvalidity": state.uidvalidity or False,
            "uidnext": state.uidnext or False,
            "highestmodseq": state.highestmodseq or False,
            "server_message_count": state.messages or 0,
            "server_unseen_count": state.unseen or 0,
            "flags_read_at": datetime.datetime.fromtimestamp(
                read_at, datetime.timezone.utc).replace(tzinfo=None) if read_at else False,
        }

    def _adjust_counts(self, changes):
        """Add to the counts of folders what a change of their mail made of them, without a
        recount (a recount reads the folder: 37 ms for 30,000 mails, 180 for 100,000). The
        next refresh that changes a folder recounts it (:meth:`_update_counts`).

        :param changes: ``{folder_id: (messages, unread)}``, differences (negative: fewer)
        """
        for folder_id, (messages, unread) in changes.items():
            if not (messages or unread):
                continue
            self.env.cr.execute(SQL(
                "UPDATE vt_webmail_folder SET message_count = GREATEST(message_count + %s, 0), "
                "unread_count = GREATEST(unread_count + %s, 0) WHERE id = %s",
                messages, unread, folder_id,
            ))
        self.browse(list(changes)).invalidate_recordset(["message_count", "unread_count"])

    def _update_counts(self):
        """Recount messages and unread ones from the cache (one query)."""
        if not self:
            return
        # flags written through the ORM (marking read ...) must be in the table counted
        self.env["vt_webmail.message"].flush_model(["folder_id", "is_seen"])
        self.env.cr.execute(SQL(
            """
            UPDATE vt_webmail_folder f
               SET message_count = COALESCE(c.total, 0), unread_count = COALESCE(c.unread, 0)
              FROM vt_webmail_folder f2
         LEFT JOIN (SELECT folder_id, count(*) AS total,
                           count(*) FILTER (WHERE NOT is_seen) AS unread
                      FROM vt_webmail_message WHERE folder_id IN %(ids)s
                  GROUP BY folder_id) c ON c.folder_id = f2.id
             WHERE f.id = f2.id AND f.id IN %(ids)s
               AND (f.message_count IS DISTINCT FROM COALESCE(c.total, 0)
                    OR f.unread_count IS DISTINCT FROM COALESCE(c.unread, 0))
            """,
            ids=tuple(self.ids),
        ))
        self.invalidate_recordset(["message_count", "unread_count"])
