"""Qualify's logging: the chatter entries of qualified mail, made in batches, and removed
again by un-qualifying.

:meth:`_qualify_apply` is the one way a mail is logged (the rules, a choice in the preview,
the follow-up of a conversation, Qualify on a conversation): one access check per owner and
model, one search for the entries there already, one creation per model for the new entries
and their attachments, one UPDATE for the mails (``tools/bench_qualify.py`` counts them).
"""

import re
import uuid
from collections import defaultdict

from markupsafe import Markup

from odoo import Command, api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL, email_normalize

from ..core import qualify as qualify_rules


class VtWebmailMessage(models.Model):
    _inherit = "vt_webmail.message"

    def _qualify_to(self, target, rule, party=None, created=False, records=None):
        """Log this mail on ``target`` and remember where it went (see :meth:`_qualify_apply`).

        :returns: the result dict of :meth:`action_qualify`
        :raises UserError: the mail cannot be read, or ``target`` is not one record of a model
            mail is logged on
        :raises AccessError: the owner may not read or write ``target``
        """
        self.ensure_one()
        self._check_owner()
        if len(target) != 1:
            raise UserError(self.env._("A mail is qualified on one record."))
        outcome = self._qualify_apply([{"message": self, "target": target, "rule": rule,
                                        "party": party, "created": created,
                                        "records": records}], raise_errors=True)
        return outcome[self.id]

    def _qualify_apply(self, plans, raise_errors=False):
        """Log each plan's mail on its target, and remember where it went, all plans in one
        batch (see the module docstring).

        A plan is a dict: ``message``, ``target`` (a record), ``rule`` and optionally
        ``party``, ``created`` (for the result) and ``records`` (the candidates weighed, for
        the entry's author). A mail that cannot be logged (no right to the record, body
        unreadable) gets its error and the others go on.

        :param raise_errors: raise a plan's error instead of returning it (one plan)
        :returns: ``{mail id: result dict}`` (see :meth:`action_qualify`)
        """
        if not plans:
            return {}
        outcome = self._qualify_apply_batch(plans)
        results = {}
        for plan in plans:
            message = plan["message"]
            result = outcome[message.id]
            if isinstance(result, Exception):
                if raise_errors:
                    raise result
                result = self._qualify_error_result(message, result)
            results[message.id] = result
        return results

    def _qualify_apply_batch(self, plans):
        """:meth:`_qualify_apply`'s work: ``{mail id: result dict or the exception that says
        why it was not logged}``."""
        outcome, ready = {}, []
        # 1. the targets, as each mail's owner: a model mail is logged on, readable, writable
        allowed = self._qualify_target_models()
        groups = defaultdict(list)
        for plan in plans:
            groups[(plan["message"].user_id, plan["target"]._name)].append(plan)
        for (owner, model), group in groups.items():
            if model not in allowed:
                for plan in group:
                    outcome[plan["message"].id] = UserError(self.env._(
                        "Mail cannot be logged on records of %s: ask an administrator to offer "
                        "it (Settings > Webmail).", model))
                continue
            Model = self.env[model].with_user(owner)
            targets = Model.browse(sorted({plan["target"].id for plan in group})).exists()
            readable = targets._filtered_access("read")
            post_right = getattr(Model, "_mail_post_access", "write")
            writable = readable._filtered_access("write")
            if post_right != "write":
                writable = writable._filtered_access(post_right)
            for plan in group:
                target = Model.browse(plan["target"].id)
                if target not in readable:
                    outcome[plan["message"].id] = AccessError(self.env._(
                        "You cannot see the record chosen for this mail."))
                elif target not in writable:
                    outcome[plan["message"].id] = AccessError(self.env._(
                        "You may not add to the history of %(kind)s '%(name)s', so this mail "
                        "cannot be logged on it.", kind=self._qualify_kind_label(model),
                        name=target.display_name))
                else:
                    plan["target"] = target
                    ready.append(plan)
        # 2. the chatter entries there already: the same mail (Message-Id) on the same record
        entries = self._qualify_existing_entries(ready)
        makers = {}  # entry key -> the plan that logs it (the first with a readable body)
        for plan in ready:
            key = self._qualify_entry_key(plan)
            plan["key"] = key
            if key in entries or key in makers:
                continue
            if key is None or plan["message"].body_state == "done" \
                    or not self.env.context.get("vt_webmail_bodies_fetched"):
                makers[key if key is not None else ("mail", plan["message"].id)] = plan
        to_log = list(makers.values())
        if to_log and not self.env.context.get("vt_webmail_bodies_fetched"):
            # in the caller's request session, when it opened one
            self.browse([plan["message"].id for plan in to_log])._fetch_bodies()
        logged = {}
        for plan in to_log:
            if plan["message"].body_state != "done":
                outcome[plan["message"].id] = self._qualify_unreadable(plan["message"])
            else:
                logged[plan["message"].id] = plan
        # 3. the new entries, one creation per model, with their attachments
        created = self._qualify_log_many(list(logged.values()))
        for plan in logged.values():
            entries[plan["key"] if plan["key"] is not None
                    else ("mail", plan["message"].id)] = created[plan["message"].id]
        # 4. the mails say where they went (one statement)
        rows = []
        for plan in ready:
            message = plan["message"]
            if message.id in outcome:
                continue
            entry = entries.get(plan["key"] if plan["key"] is not None
                                else ("mail", message.id))
            if entry is None:
                # a copy whose maker could not be read: it cannot be logged either
                outcome[message.id] = self._qualify_unreadable(message)
                continue
            rows.append((message, plan, entry))
        self._qualify_store([(message.id, plan["target"]._name, plan["target"].id,
                              plan["rule"], entry.id) for message, plan, entry in rows])
        for message, plan, _entry in rows:
            outcome[message.id] = dict(
                self._qualify_result_empty(message), model=plan["target"]._name,
                res_id=plan["target"].id, name=plan["target"].display_name,
                rule=plan["rule"], created=bool(plan.get("created")),
                logged=message.id in logged)
        return outcome

    @api.model
    def _qualify_entry_key(self, plan):
        """What makes two mails one chatter entry: the record and the Message-Id (None: a
        mail without Message-Id, logged on its own)."""
        message_id = plan["message"].message_id
        if not message_id:
            return None
        return (plan["target"]._name, plan["target"].id, message_id)

    @api.model
    def _qualify_existing_entries(self, plans):
        """``{(model, res_id, Message-Id): mail.message}`` of the plans' mails already in
        their targets' chatter (one search)."""
        keys = {key for plan in plans if (key := self._qualify_entry_key(plan))}
        if not keys:
            return {}
        # sudo: one lookup by Message-Id on records the owners may write to (checked)
        found = self.env["mail.message"].sudo().search([
            ("message_id", "in", sorted({key[2] for key in keys})),
            ("model", "in", sorted({key[0] for key in keys})),
            ("res_id", "in", sorted({key[1] for key in keys})),
            ("message_type", "=", "email"),
        ], order="id")
        entries = {}
        for entry in found:
            key = (entry.model, entry.res_id, entry.message_id)
            if key in keys:
                entries.setdefault(key, entry)
        return entries

    def _qualify_log_many(self, plans):
        """Create the chatter entries of ``plans`` (bodies fetched): emails with the original
        date, subject, sanitized body, attachments and Message-Id, their author the sender's
        contact. Nobody is notified: the messages are created directly (``_message_create``),
        as mail.thread's own ``_message_log`` does, without ``_notify_thread`` and without
        subscribing anyone.

        :returns: ``{mail id: mail.message}``
        """
        if not plans:
            return {}
        attachments = self._qualify_copy_attachments_many(plans)
        authors = self._qualify_authors(plans)
        comment = self.env["ir.model.data"]._xmlid_to_res_id("mail.mt_comment")
        by_model = defaultdict(list)
        for plan in plans:
            message, target = plan["message"], plan["target"]
            files, urls = attachments[message.id]
            body = re.sub(rf"/vt_webmail/part/{message.id}/(\d+)",
                          lambda match, urls=urls: urls.get(int(match.group(1)),
                                                            match.group(0)),
                          message.body_html or "")
            values = {
                "model": target._name,
                "res_id": target.id,
                "message_type": "email",
                # like mail received by Odoo's own gateway: a discussion message, not a note
                "subtype_id": comment,
                "author_id": authors[message.id].id or False,
                "email_from": message.email_from or False,
                "subject": message.subject or False,
                "body": Markup(body),  # sanitized when the body was fetched
                "date": message.date or fields.Datetime.now(),
                "attachment_ids": [Command.link(a.id) for a in files],
                "email_add_signature": False,
            }
            if message.message_id:
                values["message_id"] = message.message_id
            by_model[target._name].append((message.id, values))
        created = {}
        for model, items in by_model.items():
            # the Reply-To mail.message would compute one entry at a time (an alias search
            # each): the targets' at once, with the sender as the default, as it does
            # sudo: the targets' aliases and catchall only, as mail.message itself reads them
            reply_tos = self.env[model].sudo().browse(
                sorted({values["res_id"] for _id, values in items}))._notify_get_reply_to()
            for _id, values in items:
                values["reply_to"] = reply_tos.get(values["res_id"]) or values["email_from"]
            # sudo: the owners may read and write the targets (checked by the caller); created
            # like mail.thread._message_log_batch, which is sudo too, and notifies nobody
            entries = self.env[model].sudo()._message_create([values for _id, values in items])
            # marked as Qualify's (un-qualify removes those only): one statement, where the
            # ORM's write would make one per 100 entries
            entries.flush_recordset()
            self.env.cr.execute(SQL(
                "UPDATE mail_message SET vt_webmail_qualified = TRUE WHERE id = ANY(%s)",
                entries.ids))
            entries.invalidate_recordset(["vt_webmail_qualified"])
            created.update(zip((mail_id for mail_id, _values in items), entries, strict=True))
        return created

    def _qualify_authors(self, plans):
        """``{mail id: res.partner}``: the author of each plan's entry: the user for a mail
        they sent, the target when it is a contact, else the sender's first created contact
        (the candidates the rules weighed, or one search per owner)."""
        authors, missing = {}, defaultdict(set)
        unknown = self.browse([p["message"].id for p in plans if p.get("party") is None])
        parties = unknown._qualify_parties() if unknown else {}
        for plan in plans:
            message, party = plan["message"], plan.get("party")
            if party is None:
                party = plan["party"] = parties[message.id]
            if party and party.basis == qualify_rules.BASIS_RECIPIENT:
                authors[message.id] = message.user_id.partner_id
            elif plan["target"]._name == "res.partner":
                authors[message.id] = plan["target"]
            elif plan.get("records") is not None:
                contacts = [r for (kind, _id), r in plan["records"].items()
                            if kind == qualify_rules.CONTACT]
                authors[message.id] = contacts[0] if contacts else self.env["res.partner"]
            elif party:
                missing[message.user_id].add(party.address)
        found = {user: self._qualify_candidates_many(user, addresses)
                 for user, addresses in missing.items()}
        for plan in plans:
            message = plan["message"]
            if message.id in authors:
                continue
            party = plan["party"]
            address = email_normalize(party.address) if party else ""
            _candidates, records = found.get(message.user_id, {}).get(address, ([], {}))
            contacts = [r for (kind, _id), r in records.items()
                        if kind == qualify_rules.CONTACT]
            authors[message.id] = contacts[0] if contacts else self.env["res.partner"]
        return authors

    def _qualify_copy_attachments_many(self, plans):
        """The files of each plan's mail, on its target: a file the target holds already (the
        same content and name, as a reply often carries again) is linked, not copied twice.

        :returns: ``{mail id: (attachments, {original id: URL of its copy})}``, the URLs for
            the inline images of the body
        """
        # sudo: the owners' own attachments, copied onto records they may write to (checked)
        Attachment = self.env["ir.attachment"].sudo()
        originals = Attachment.search([
            ("res_model", "=", self._name),
            ("res_id", "in", [plan["message"].id for plan in plans]),
        ], order="id")
        by_mail = defaultdict(list)
        for original in originals:
            by_mail[original.res_id].append(original)
        held = {}
        if originals:
            for attachment in Attachment.search([
                ("res_model", "in", sorted({plan["target"]._name for plan in plans})),
                ("res_id", "in", sorted({plan["target"].id for plan in plans})),
                ("checksum", "in", sorted(set(originals.mapped("checksum")))),
            ], order="id"):
                held.setdefault((attachment.res_model, attachment.res_id, attachment.checksum,
                                 attachment.name), attachment)
        values, slots = [], []
        result = {}
        for plan in plans:
            message, target = plan["message"], plan["target"]
            files, urls = [], {}
            result[message.id] = (files, urls)
            for original in by_mail.get(message.id, ()):
                key = (target._name, target.id, original.checksum, original.name)
                if key in held:
                    slots.append((files, urls, original, held[key]))
                    continue
                values.append({
                    "name": original.name,
                    "mimetype": original.mimetype,
                    "raw": original.raw,
                    "res_model": target._name,
                    "res_id": target.id,
                    # the inline images of the entry's body are shown with it
                    "access_token": str(uuid.uuid4()),
                })
                slots.append((files, urls, original, len(values) - 1))
                held[key] = len(values) - 1  # the same file again in this batch: linked
        copies = Attachment.create(values) if values else Attachment
        for files, urls, original, slot in slots:
            copy = copies[slot] if isinstance(slot, int) else slot
            files.append(copy)
            token = copy.access_token or copy.generate_access_token()[0]
            kind = "image" if (original.mimetype or "").startswith("image/") else "content"
            urls[original.id] = f"/web/{kind}/{copy.id}?access_token={token}"
        return result

    def _qualify_store(self, rows):
        """Write where each mail went, in one statement: ``rows`` of ``(mail id, model,
        res_id, rule, mail.message id)``. The fields are the addon's own bookkeeping, read-only
        to users (the callers checked the owners); SQL rather than one ORM UPDATE per mail."""
        if not rows:
            return
        self.flush_model()
        now = fields.Datetime.now()
        values = SQL(", ").join(SQL("(%s::int, %s::varchar, %s::int, %s::varchar, %s::int)",
                                    *row) for row in rows)
        self.env.cr.execute(SQL(
            "UPDATE vt_webmail_message m SET qualified_model = v.model, "
            "qualified_res_id = v.res_id, qualified_rule = v.rule, qualified_at = %s, "
            "qualified_mail_message_id = v.entry, write_uid = %s, write_date = %s "
            "FROM (VALUES %s) AS v(id, model, res_id, rule, entry) WHERE m.id = v.id",
            now, self.env.uid, now, values))
        # the stored fields and what is computed from them
        self.browse([row[0] for row in rows]).invalidate_recordset()

    # -- un-qualifying -----------------------------------------------------------------------

    def _unqualify_one(self):
        """Undo Qualify on this mail (rights checked by the caller): see
        :meth:`action_unqualify`. Also un-qualifies the owner's other copies of the mail
        logged by the same entry (``_siblings`` of the result)."""
        self.ensure_one()
        result = {"id": self.id, "model": self.qualified_model, "res_id": self.qualified_res_id,
                  "removed": False, "attachments_removed": 0, "_siblings": []}
        # sudo: the entry and the mails pointing at it are looked at by id only; the owner may
        # write to the record (checked by the caller)
        entry = self.sudo().qualified_mail_message_id
        mails = self
        if entry:
            pointing = self.sudo().search([("qualified_mail_message_id", "=", entry.id)])
            mine = pointing.filtered(lambda m: m.user_id == self.user_id)
            mails |= mine.with_env(self.env)
            result["_siblings"] = (mine - self).ids
            if entry.vt_webmail_qualified and not (pointing - mine):
                files = entry.attachment_ids.filtered(
                    lambda a: a.res_model == entry.model and a.res_id == entry.res_id)
                # files another entry shows stay with the record
                shared = self.env["mail.message"].sudo().search([
                    ("attachment_ids", "in", files.ids), ("id", "!=", entry.id)])
                files -= shared.attachment_ids
                result["attachments_removed"] = len(files)
                files.unlink()
                entry.unlink()
                result["removed"] = True
        # sudo: the owner was checked by the caller; the fields are read-only to users
        mails.sudo().write({
            "qualified_model": False, "qualified_res_id": False, "qualified_rule": False,
            "qualified_at": False, "qualified_mail_message_id": False,
        })
        return result
