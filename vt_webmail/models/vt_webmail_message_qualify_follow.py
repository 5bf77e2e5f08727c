"""Qualify follows the conversation: a mail that answers a qualified mail (its In-Reply-To or
References name it) goes to the same record.

* Automatically, on the accounts whose owner turned it on (``vt_webmail.account``'s
  ``qualify_follow_up``): the sync marks the new mails of such an account that answer
  something (:meth:`_thread_update`, one UPDATE per batch of new mail); at the end of the
  refresh or push sync, in the same IMAP session, the account logs those that answer one of
  the owner's qualified mails (``vt_webmail.account._after_sync``). A reply sent from Webmail
  is logged as soon as it is sent (``vt_webmail.account._qualify_after_send``, called by the
  send pipeline), or, when the server saves the Sent copy itself, when the next refresh brings
  that copy.
* Otherwise with one click: the form of such a mail offers to log it there
  (:meth:`action_qualify_follow_up`).

Never twice (a mail qualified already stays where it is, and the same mail is logged once on a
record), and never on a record the owner may not write to.
"""


from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from ..core import qualify as qualify_rules
from .vt_webmail_message_qualify import QUALIFY_MAX_REFERENCES

#: At most this many rounds of follow-ups in one go: a reply to a reply found in the same
#: refresh is logged in the next round, once the mail it answers is.
FOLLOW_UP_ROUNDS = 5


class VtWebmailMessage(models.Model):
    _inherit = "vt_webmail.message"

    # NULL unless the sync marked the mail (a partial index holds the few marked ones)
    qualify_follow_up_pending = fields.Boolean(index="btree_not_null", readonly=True,
                                               copy=False)
    qualify_thread_reference = fields.Reference(
        selection="_selection_qualify_models", string="Conversation logged on",
        compute="_compute_qualify_thread",
        help="The record the mail this one answers was qualified on (you may write to it).",
    )
    qualify_thread_name = fields.Char(compute="_compute_qualify_thread")

    @api.depends("in_reply_to", "references", "qualified_model")
    def _compute_qualify_thread(self):
        for message in self:
            suggestion = None
            if not message.qualified_model and (message.in_reply_to or message.references):
                suggestion = message._qualify_thread_suggestion(writable=True)
            record = suggestion["record"] if suggestion else None
            message.qualify_thread_reference = record if record else False
            message.qualify_thread_name = self.env._(
                "%(kind)s %(name)s", kind=self._qualify_kind_label(record._name),
                name=record.display_name) if record else False

    def action_qualify_follow_up(self):
        """Log these mails where the mails they answer were qualified (the form's one click,
        XML-RPC): the record of the nearest qualified mail of In-Reply-To/References (yours,
        or a mail in a record's history), if you may write to it.

        :returns: the result dicts of :meth:`action_qualify` (rule ``thread``); a mail that
            answers no qualified mail gets an ``error``
        """
        self._check_owner()
        results = []
        with self.env["vt_webmail.account"]._imap_request():
            for message in self:
                if message.qualified_model:
                    results.append(dict(self._qualify_result(message), already_qualified=True))
                    continue
                suggestion = message._qualify_thread_suggestion(writable=True)
                if not suggestion:
                    results.append(self._qualify_error_result(message, UserError(self.env._(
                        "The mail '%s' answers no qualified mail you may add to.",
                        message.subject or ""))))
                    continue
                results.extend(message._qualify_apply([{
                    "message": message, "target": suggestion["record"],
                    "rule": qualify_rules.RULE_THREAD}]).values())
        return results

    # -- the sync's hook -------------------------------------------------------------------

    @api.model
    def _thread_update(self, account_id, new_rows, conversation_ids, bases):
        result = super()._thread_update(account_id, new_rows, conversation_ids, bases)
        # the new mails that answer something, on an account that follows conversations
        replies = [row[0] for row in new_rows if row[2] or row[3]]
        if replies:
            self.env["vt_webmail.account"].flush_model(["qualify_follow_up"])
            self.env.cr.execute(SQL(
                "UPDATE vt_webmail_message m SET qualify_follow_up_pending = TRUE "
                "FROM vt_webmail_account a WHERE m.id = ANY(%s) AND a.id = m.account_id "
                "AND a.qualify_follow_up AND m.qualified_model IS NULL", replies))
            self.invalidate_model(["qualify_follow_up_pending"])
        return result

    # -- logging follow-ups ----------------------------------------------------------------

    def _qualify_follow_up(self):
        """Log each of these mails (one owner's) on the record of the qualified mail of its
        owner it answers, if the owner may write to it (rule ``follow_up``); the others are
        left as they are. Bodies are read in the caller's request session.

        :returns: ``{mail id: result dict}`` of the mails it tried
        """
        results = {}
        todo = self.filtered(lambda m: not m.qualified_model)
        for _round in range(FOLLOW_UP_ROUNDS):
            targets = todo._qualify_follow_up_targets()
            if not targets:
                break
            plans = [{"message": message, "target": targets[message.id],
                      "rule": qualify_rules.RULE_FOLLOW_UP}
                     for message in todo if message.id in targets]
            results.update(self._qualify_apply(plans))
            todo = todo.filtered(lambda m: not m.qualified_model and m.id not in results)
        return results

    def _qualify_follow_up_targets(self):
        """``{mail id: record}``: for each mail, the record of the nearest mail of its
        In-Reply-To/References that its owner qualified, still there and writable by them
        (one search, then one access check per owner and model)."""
        refs = {}
        for message in self:
            thread = qualify_rules.thread_references(message.in_reply_to, message.references)
            refs[message.id] = [ref for ref in thread
                                if ref != message.message_id][:QUALIFY_MAX_REFERENCES]
        wanted = sorted({ref for found in refs.values() for ref in found})
        if not wanted:
            return {}
        # sudo: the owners' own mail only (the same filter as the record rule)
        earlier = self.sudo().search([
            ("user_id", "in", self.user_id.ids), ("message_id", "in", wanted),
            ("qualified_model", "!=", False),
        ], order="qualified_at desc, id desc")
        records = earlier._qualified_records()
        writable = {}
        for record in records.values():
            key = (record.env.uid, record._name)
            if key not in writable:
                same = [r for r in records.values() if (r.env.uid, r._name) == key]
                group = record.browse(sorted({r.id for r in same}))
                writable[key] = group._filtered_access("write")
        by_ref = {}
        for mail in earlier:
            record = records.get(mail.id)
            if record is None or record not in writable[(record.env.uid, record._name)]:
                continue
            if "active" in record._fields and not record.active:
                continue
            by_ref.setdefault((mail.user_id.id, mail.message_id), record)
        targets = {}
        for message in self:
            for ref in refs[message.id]:
                record = by_ref.get((message.user_id.id, ref))
                if record is not None:
                    targets[message.id] = record
                    break
        return targets
