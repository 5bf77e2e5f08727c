"""Qualify: log a mail on CRM history, by vtiger's precedence.

The rules themselves live in core/qualify.py (no ORM). Here: finding the candidates with the
qualifying user's rights, creating a contact or a lead, and logging the mail in the record's
chatter without notifying anyone. The preview wizard (wizards/vt_webmail_qualify.py) uses
:meth:`_qualify_proposal` and :meth:`_qualify_choose`."""

import re

from markupsafe import Markup

from odoo import Command, api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import email_normalize, html2plaintext

from ..core import qualify as qualify_rules

#: Qualify: the models a mail may be logged on, and how the user calls them.
QUALIFY_MODELS = ("crm.lead", "res.partner")
QUALIFY_MODEL_SELECTION = [("crm.lead", "Lead/Opportunity"), ("res.partner", "Contact")]
#: Qualify: at most this many leads, and as many contacts, are weighed for one address.
QUALIFY_MAX_CANDIDATES = 50
#: Qualify: Message-Ids of a reply's thread looked up for the record it was qualified on.
QUALIFY_MAX_REFERENCES = 50


class VtWebmailMessage(models.Model):
    _inherit = "vt_webmail.message"

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

    # -- the preview's API (wizards/vt_webmail_qualify.py) ---------------------------------------

    def _qualify_proposal(self):
        """What Qualify would do with this mail, written nowhere: the preview's content.

        :returns: a dict: ``party`` (``core.qualify.Party``, None without an address),
            ``rule`` (the rules' rule code), ``target`` (the record the rules pick, None when
            a contact would be created), ``alternatives`` (the other records with the address,
            best first), ``explanation`` (the rules' choice in words) and ``thread`` (None, or
            ``{"record", "subject"}``: the record a mail of its thread was qualified on)
        """
        self.ensure_one()
        party, decision, records = self._qualify_decide()
        return {
            "party": party,
            "rule": decision.rule,
            "target": records[(decision.target.kind, decision.target.id)]
            if decision.target else None,
            "alternatives": [records[(candidate.kind, candidate.id)]
                             for candidate in decision.alternatives],
            "explanation": self._qualify_explain(party, decision),
            "thread": self._qualify_thread_suggestion(),
        }

    def _qualify_choose(self, kind, rule, res_model=False, res_id=False):
        """Qualify this mail on the user's choice in the preview.

        :param kind: ``create_contact``, ``create_lead``, or the kind of a record choice
            (``rules``, ``thread``, ``candidate``) with ``res_model`` and ``res_id``
        :param rule: the rule code kept with the mail (``qualified_rule``)
        :returns: the result dict of :meth:`action_qualify` for this mail
        :raises UserError: the mail has no sender address
        :raises AccessError: the record chosen cannot be seen any more
        """
        self.ensure_one()
        self._check_owner()
        if res_id and res_model == self.qualified_model and res_id == self.qualified_res_id:
            return dict(self._qualify_result(self), already_qualified=True)
        party = self._qualify_party()
        if party is None:
            raise UserError(self.env._("This mail has no sender address."))
        created = False
        if kind == "create_contact":
            target, created = self._qualify_create_contact(party), True
        elif kind == "create_lead":
            target = self._qualify_create_lead(party)
        else:
            target = self._qualify_readable(res_model, res_id)
            if not target:
                raise AccessError(self.env._("You cannot see the record chosen for this mail "
                                             "any more."))
        return self._qualify_to(target, rule, party=party, created=created)

    # -- deciding ------------------------------------------------------------------------------

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
