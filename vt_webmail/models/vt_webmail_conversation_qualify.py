"""Qualify on a conversation: each of its mails logged once, on one record."""

import datetime

from odoo import models
from odoo.exceptions import AccessError, UserError

from ..core import qualify as qualify_rules


class VtWebmailConversation(models.Model):
    _inherit = "vt_webmail.conversation"

    def action_qualify(self, res_model=None, res_id=None):
        """Log every mail of these conversations on one record each (XML-RPC; the list's
        Qualify button calls :meth:`action_qualify_button`).

        The record: ``res_model`` and ``res_id`` when given (a lead, a contact or a record of
        a model the administrator offers, that you may write to); otherwise the record the
        conversation was qualified on already (its first mail qualified, if you may still
        write to it); otherwise the one the rules choose for its oldest mail with an address.
        Each mail is logged once: a mail qualified already stays where it is, and a mail kept
        in two folders makes one entry. Calling it again changes nothing.

        :returns: one result dict per mail (see ``vt_webmail.message.action_qualify``; rule
            ``conversation`` for the mails logged by it), oldest first, conversation by
            conversation
        """
        self.check_access("read")
        if not self.env.su and any(c.user_id != self.env.user for c in self):
            raise AccessError(self.env._("You can only act on your own mail."))
        Message = self.env["vt_webmail.message"]
        explicit = Message._qualify_target_arg(res_model, res_id) \
            if res_model is not None or res_id is not None else None
        results = []
        with self.env["vt_webmail.account"]._imap_request():
            for conversation in self:
                results += conversation._qualify_conversation(explicit)
        return results

    def action_qualify_button(self):
        """The list's Qualify button: :meth:`action_qualify`, and a notification of what it
        did."""
        results = self.action_qualify()
        logged = sum(1 for r in results if r["model"] and not r["error"]
                     and not r["already_qualified"])
        errors = [r["error"] for r in results if r["error"]]
        names = sorted({r["name"] for r in results if r["name"] and not r["error"]})
        message = self.env._("%(count)s mails logged on %(records)s.", count=logged,
                             records=", ".join(names) or "-")
        if errors:
            message += "\n" + "\n".join(sorted(set(errors)))
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {"type": "warning" if errors else "success", "message": message,
                       "sticky": bool(errors)},
        }

    def _qualify_conversation(self, target=None):
        """Qualify this conversation's mails on ``target`` (see :meth:`action_qualify`)."""
        self.ensure_one()
        Message = self.env["vt_webmail.message"]
        # oldest first; of mails of the same date, the one that answers nothing first
        mails = self.message_ids.with_env(self.env).sorted(
            lambda m: (m.date or datetime.datetime.min, bool(m.in_reply_to or m.references),
                       m.id))
        if not mails:
            return []
        mails.filtered(lambda m: not m.qualified_model)._fetch_bodies()
        mails = mails.with_context(vt_webmail_bodies_fetched=True)
        results = {}
        if target is None:
            target = self._qualify_conversation_record(mails)
        if target is None:
            # nothing qualified yet: the rules, on the oldest mail with an address
            parties = mails._qualify_parties()
            first = mails.filtered(lambda m: parties[m.id] is not None)[:1]
            if not first:
                raise UserError(self.env._(
                    "No mail of this conversation has an address: choose the record to log "
                    "it on."))
            (results[first.id],) = first._qualify_by_rules()
            if results[first.id]["error"]:
                # the others would fail the same way: say so for each
                return [dict(Message._qualify_result(m), error=results[first.id]["error"])
                        if m != first else results[first.id] for m in mails]
            target = first._qualified_record()
        plans = []
        for mail in mails:
            if mail.id in results:
                continue
            if mail.qualified_model:
                results[mail.id] = dict(Message._qualify_result(mail), already_qualified=True)
            else:
                plans.append({"message": mail, "target": target,
                              "rule": qualify_rules.RULE_CONVERSATION})
        results.update(mails._qualify_apply(plans))
        return [results[mail.id] for mail in mails]

    def _qualify_conversation_record(self, mails):
        """The record the first qualified of ``mails`` went to, if its owner may still write
        to it (else the next one's)."""
        records = mails._qualified_records()
        for mail in mails:
            record = records.get(mail.id)
            if record is not None and record.has_access("write"):
                return record
        return None
