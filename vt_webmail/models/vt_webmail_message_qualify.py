"""Qualify: log a mail on CRM history, by vtiger's precedence, or on any record the user picks.

The rules themselves live in core/qualify.py (no ORM). Here: deciding (the candidates with
the qualifying user's rights, for many mails at once), the choices beside the rules (any
offered record, the record remembered for a sender, the company of the sender's domain), the
public actions, and reading where a mail went. Logging, and un-qualifying, are in
vt_webmail_message_qualify_log.py; the conversation followed in
vt_webmail_message_qualify_follow.py. The preview wizard (wizards/vt_webmail_qualify.py) uses
:meth:`_qualify_proposal`, :meth:`_qualify_choose` and :meth:`_qualify_kind_label`.
"""

from collections import defaultdict

from odoo import api, fields, models, tools
from odoo.exceptions import AccessError, UserError
from odoo.tools import email_normalize, html2plaintext

from ..core import qualify as qualify_rules

#: Qualify: the models the rules log on (always allowed, whatever the administrator offers).
QUALIFY_MODELS = ("crm.lead", "res.partner")
#: Qualify: the models offered in the preview when the administrator chose none (those
#: installed; system parameter :data:`OFFERED_MODELS_PARAMETER`, set in Settings).
DEFAULT_OFFERED_MODELS = ("crm.lead", "res.partner", "sale.order", "project.task",
                          "helpdesk.ticket")
OFFERED_MODELS_PARAMETER = "vt_webmail.qualify_models"
#: Domains of public mail providers added by the administrator (comma-separated) to
#: core.qualify.PUBLIC_MAIL_DOMAINS: no company is offered for them.
PUBLIC_DOMAINS_PARAMETER = "vt_webmail.public_mail_domains"
#: Qualify: at most this many leads, and as many contacts, are weighed for one address.
QUALIFY_MAX_CANDIDATES = 50
#: Qualify: Message-Ids of a reply's thread looked up for the record it was qualified on.
QUALIFY_MAX_REFERENCES = 50
#: Company suggestion: at most this many records at the domain are looked at.
COMPANY_MAX_CONTACTS = 200


def _error_text(exc):
    return exc.args[0] if exc.args else str(exc)


class VtWebmailMessage(models.Model):
    _inherit = "vt_webmail.message"

    qualified_model = fields.Char(
        string="Qualified on (model)", readonly=True, copy=False,
        help="Model of the record this mail was logged on (crm.lead, res.partner, or another "
             "model the administrator offers).",
    )

    qualified_res_id = fields.Many2oneReference(
        string="Qualified on (id)", model_field="qualified_model", readonly=True, copy=False,
    )

    qualified_rule = fields.Char(
        readonly=True, copy=False,
        help="Why the mail went there: a rule code (lead, lead_over_contact, "
             "converted_lead_over_contact, contact, create_contact) or the user's choice "
             "(chosen, thread, create_lead, company, follow_up, conversation).",
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
        selection="_selection_qualify_models", string="Qualified on record",
        compute="_compute_qualified_record",
    )

    qualified_attachment_count = fields.Integer(
        string="Attachments logged", compute="_compute_qualified_attachment_count",
        help="How many files the record's history holds with this mail.",
    )

    @api.model
    def _selection_qualify_models(self):
        return [(name, self.env[name]._description or name)
                for name in self._qualify_mail_thread_models()]

    @api.depends("qualified_model", "qualified_res_id")
    def _compute_qualified_record(self):
        records = self._qualified_records()
        for message in self:
            record = records.get(message.id)
            message.qualified_reference = record if record else False
            message.qualified_record_url = (
                f"/odoo/{message.qualified_model}/{message.qualified_res_id}"
                if message.qualified_model and message.qualified_res_id
                and message.qualified_model in self.env else False)
            if record:
                message.qualified_record_name = self.env._(
                    "%(kind)s %(name)s", kind=self._qualify_kind_label(record._name),
                    name=record.display_name)
            elif message.qualified_model:
                message.qualified_record_name = self.env._(
                    "a record that was deleted or that you cannot see")
            else:
                message.qualified_record_name = False

    @api.depends("qualified_mail_message_id")
    def _compute_qualified_attachment_count(self):
        for message in self:
            # sudo: the chatter entry of the owner's own mail; only its files are counted
            entry = message.sudo().qualified_mail_message_id
            message.qualified_attachment_count = len(entry.attachment_ids)

    # -- actions (buttons and XML-RPC) -----------------------------------------------------------

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
        with self.env["vt_webmail.account"]._imap_request():
            # the bodies first, one session per account (not one per mail), tried once
            self.filtered(lambda m: not m.qualified_model)._fetch_bodies()
            return self.with_context(vt_webmail_bodies_fetched=True)._qualify_by_rules()

    def action_open_qualify(self):
        """Open the Qualify preview for these mails (one: the choices; several: a report)."""
        self._check_owner()
        return self.env["vt_webmail.qualify"]._open_for(self)

    def action_qualify_on(self, res_model, res_id, remember=False):
        """Log these mails on one record the user picked (XML-RPC; the preview's "another
        record"): a record of a model the administrator offers (:meth:`qualify_models`) or a
        lead or contact, that the user may write to.

        :param res_model: the record's model, e.g. ``"crm.lead"``, ``"sale.order"``
        :param res_id: the record's id
        :param remember: also remember this record for each mail's sender (the preview of the
            sender's next mail shows it as a suggestion; the rules do not change)
        :returns: the result dicts of :meth:`action_qualify` (rule ``chosen``); a mail
            qualified on that record already stays as it is
        :raises AccessError: the record does not exist, or the user may not read or write it
        :raises UserError: the model is not offered
        """
        self._check_owner()
        target = self._qualify_target_arg(res_model, res_id)
        results, plans = {}, []
        for message in self:
            if (message.qualified_model, message.qualified_res_id) == (target._name, target.id):
                results[message.id] = dict(self._qualify_result(message), already_qualified=True)
            else:
                plans.append({"message": message, "target": target,
                              "rule": qualify_rules.RULE_CHOSEN})
        with self.env["vt_webmail.account"]._imap_request():
            # one mail: its error is the call's (an access error over RPC)
            results.update(self._qualify_apply(plans, raise_errors=len(self) == 1))
        if remember:
            for message in self:
                if not results[message.id]["error"]:
                    message._qualify_remember(target)
        return [results[message.id] for message in self]

    def action_unqualify(self):
        """Undo Qualify on these mails (form button and XML-RPC): the chatter entry it made is
        removed from the record, with the files it brought (those no other entry shows), and
        the mails are no longer qualified. Needs the right to write to the record, as logging
        did. An entry Qualify did not make (the mail was in the history already), or that a
        colleague's qualified mail also points at, stays.

        :returns: one dict per mail qualified: ``id``, ``model``, ``res_id``, ``removed``
            (the chatter entry was deleted) and ``attachments_removed`` (how many files)
        :raises AccessError: the user may not write to one of the records (nothing changes)
        """
        self._check_owner()
        qualified = self.filtered("qualified_model")
        # the rights first, for every mail: all or nothing
        for message in qualified:
            record = message._qualified_record_any()
            if record is None:
                continue  # deleted since: nothing to remove there
            owner_record = record.with_user(message.user_id)
            if not owner_record.has_access("read"):
                raise AccessError(self.env._(
                    "You can no longer see the record the mail '%s' was qualified on, so it "
                    "stays qualified.", message.subject or ""))
            if not owner_record.has_access("write"):
                raise AccessError(self.env._(
                    "You may not change the history of %(kind)s '%(name)s', so the mail "
                    "'%(subject)s' stays qualified on it.",
                    kind=self._qualify_kind_label(record._name),
                    name=owner_record.display_name, subject=message.subject or ""))
        results = []
        done = self.browse()
        for message in qualified:
            if message in done:
                continue
            results.append(message._unqualify_one())
            # the owner's other copies logged by the same entry went with it
            done |= message | self.browse(results[-1].pop("_siblings"))
        return results

    def get_qualify_proposal(self):
        """What Qualify proposes for this mail, changing nothing (XML-RPC): what the preview
        shows.

        :returns: a dict: ``party`` (``{"name", "address", "basis"}`` or ``False``), ``rule``,
            ``explanation``, ``target`` (the rules' record, ``False`` when a contact would be
            created), ``alternatives``, ``thread`` (the record of the mail it answers),
            ``remembered`` (the record chosen last time for this sender), ``company`` (the
            company of the sender's domain, when nothing matched the address) and
            ``qualified`` (where it is now); each record as ``{"model", "res_id", "name"}``
            or ``False``
        """
        self.ensure_one()
        self._check_owner()
        proposal = self._qualify_proposal()
        party = proposal["party"]

        def ref(record):
            return {"model": record._name, "res_id": record.id, "name": record.display_name} \
                if record else False

        company = proposal["company"]
        return {
            "party": {"name": party.name, "address": party.address, "basis": party.basis}
            if party else False,
            "rule": proposal["rule"],
            "explanation": proposal["explanation"],
            "target": ref(proposal["target"]),
            "alternatives": [ref(record) for record in proposal["alternatives"]],
            "thread": ref(proposal["thread"]["record"]) if proposal["thread"] else False,
            "remembered": ref(proposal["remembered"]),
            "company": dict(ref(company["record"]), contacts=company["contacts"],
                            domain=company["domain"]) if company else False,
            "qualified": ref(self._qualified_record()) if self.qualified_model else False,
        }

    @api.model
    def qualify_models(self):
        """The models a mail may be logged on by choice (XML-RPC): those the administrator
        offers (Settings), as ``[{"model", "name"}]``. Leads and contacts are always possible
        (they are what the rules choose)."""
        return [{"model": name, "name": self._qualify_kind_label(name)}
                for name in self._qualify_offered_models()]

    # -- the preview's API (wizards/vt_webmail_qualify.py) ---------------------------------------

    def _qualify_proposal(self):
        """What Qualify would do with this mail, written nowhere: the preview's content.

        :returns: a dict: ``party`` (``core.qualify.Party``, None without an address),
            ``rule`` (the rules' rule code), ``target`` (the record the rules pick, None when
            a contact would be created), ``alternatives`` (the other records with the address,
            best first), ``explanation`` (the rules' choice in words), ``thread`` (None, or
            ``{"record", "subject"}``: the record a mail of its thread was qualified on),
            ``remembered`` (the record the user chose for this sender last time, or None) and
            ``company`` (None, or ``{"record", "contacts", "domain"}``: when nothing matches the
            address, the company of the address's domain)
        """
        self.ensure_one()
        party, decision, records = self._qualify_decide()
        target = records[(decision.target.kind, decision.target.id)] \
            if decision.target else None
        return {
            "party": party,
            "rule": decision.rule,
            "target": target,
            "alternatives": [records[(candidate.kind, candidate.id)]
                             for candidate in decision.alternatives],
            "explanation": self._qualify_explain(party, decision),
            "thread": self._qualify_thread_suggestion(),
            "remembered": self._qualify_remembered(party),
            "company": self._qualify_company_suggestion(party)
            if party and decision.creates_contact else None,
        }

    def _qualify_choose(self, kind, rule, res_model=False, res_id=False):
        """Qualify this mail on the user's choice in the preview.

        :param kind: ``create_contact``, ``create_lead``, or the kind of a record choice
            (``rules``, ``thread``, ``candidate``, ``company``...) with ``res_model`` and
            ``res_id``
        :param rule: the rule code kept with the mail (``qualified_rule``)
        :returns: the result dict of :meth:`action_qualify` for this mail
        :raises UserError: the mail has no sender address, or the model is not offered
        :raises AccessError: the record chosen cannot be seen or written to
        """
        self.ensure_one()
        self._check_owner()
        if res_id and res_model == self.qualified_model and res_id == self.qualified_res_id:
            return dict(self._qualify_result(self), already_qualified=True)
        party = self._qualify_party()
        if party is None and kind in ("create_contact", "create_lead"):
            raise UserError(self.env._("This mail has no sender address."))
        created = False
        if kind == "create_contact":
            target, created = self._qualify_create_contact(party), True
        elif kind == "create_lead":
            target = self._qualify_create_lead(party)
        else:
            target = self._qualify_target_arg(res_model, res_id)
        return self._qualify_to(target, rule, party=party, created=created)

    def _qualify_kind_label(self, model):
        """What the user calls a record of ``model``: Lead, Contact, or the model's name."""
        labels = {"crm.lead": self.env._("Lead"), "res.partner": self.env._("Contact")}
        if model in labels:
            return labels[model]
        if model in self.env:
            # sudo: the model's name only (ir.model is readable by administrators)
            return self.env["ir.model"].sudo()._get(model).name or model
        return model

    # -- the models --------------------------------------------------------------------------

    @api.model
    @tools.ormcache()
    def _qualify_mail_thread_models(self):
        """Every model with a chatter (``mail.thread``), not transient nor abstract (a tuple,
        cached with the registry)."""
        thread = self.env.registry["mail.thread"]
        return tuple(sorted(name for name, model in self.env.registry.items()
                            if issubclass(model, thread) and not model._abstract
                            and not model._transient))

    @api.model
    def _qualify_offered_models(self):
        """The models offered for a choice: the administrator's (Settings), else the installed
        ones of :data:`DEFAULT_OFFERED_MODELS`; only models with a chatter."""
        # sudo: a setting, not a secret
        text = self.env["ir.config_parameter"].sudo().get_param(OFFERED_MODELS_PARAMETER)
        names = [n.strip() for n in text.split(",")] if text else DEFAULT_OFFERED_MODELS
        threads = set(self._qualify_mail_thread_models())
        result = []
        for name in names:
            if name in threads and name not in result:
                result.append(name)
        return result

    @api.model
    def _qualify_target_models(self):
        """The models a mail may be logged on: the offered ones, and leads and contacts."""
        return set(self._qualify_offered_models()) | set(QUALIFY_MODELS)

    def _qualify_target_arg(self, res_model, res_id):
        """The record ``res_model(res_id)`` given over RPC or by the preview, browsed as the
        caller after checking the arguments (nothing else is trusted) and that the caller may
        read it (the right to write is checked when logging)."""
        if not isinstance(res_model, str) or isinstance(res_id, bool) \
                or not isinstance(res_id, int):
            raise UserError(self.env._("A record is given by its model and its id."))
        if res_model not in self._qualify_target_models():
            raise UserError(self.env._(
                "Mail cannot be logged on records of %s: ask an administrator to offer it "
                "(Settings > Webmail).", res_model))
        record = self.env[res_model].browse(res_id).exists()
        if not record or not record.has_access("read"):
            raise AccessError(self.env._("You cannot see the record chosen for this mail "
                                         "any more."))
        return record

    # -- deciding ------------------------------------------------------------------------------

    def _qualify_party(self):
        """The person this mail is qualified by: its sender, or for a mail the user sent, its
        first recipient (core ``counterpart``)."""
        self.ensure_one()
        return self._qualify_parties()[self.id]

    def _qualify_parties(self):
        """:meth:`_qualify_party` of each mail, as ``{mail id: Party or None}`` (one search)."""
        # sudo: only the addresses of the owners' own accounts are read
        accounts = self.env["vt_webmail.account"].sudo().with_context(active_test=False).search(
            [("user_id", "in", self.user_id.ids)])
        own = defaultdict(list)
        for account in accounts:
            own[account.user_id.id].append(account.email)
        parties = {}
        for message in self:
            addresses = own[message.user_id.id] + [message.account_id.sudo().email,
                                                    message.user_id.sudo().email]
            parties[message.id] = qualify_rules.counterpart(
                message.email_from, message.email_to, message.email_cc, addresses)
        return parties

    def _qualify_decide(self):
        """Apply the rules to this mail.

        :returns: ``(party, decision, records)``: ``records`` maps ``(kind, id)`` of every
            candidate to its record, browsed as the mail's owner
        """
        self.ensure_one()
        return self._qualify_decide_many()[self.id]

    def _qualify_decide_many(self):
        """:meth:`_qualify_decide` for each mail, as ``{mail id: (party, decision, records)}``:
        the candidates of every mail of one owner in one search per model."""
        parties = self._qualify_parties()
        decided = {}
        for user in self.user_id:
            mine = self.filtered(lambda m, user=user: m.user_id == user)
            found = self._qualify_candidates_many(
                user, {p.address for m in mine if (p := parties[m.id])})
            for message in mine:
                party = parties[message.id]
                address = party.address if party else ""
                candidates, records = found.get(email_normalize(address) if address else "",
                                                ([], {}))
                decided[message.id] = (party, qualify_rules.rank(address, candidates),
                                       records)
        return decided

    def _qualify_candidates(self, address):
        """Leads and contacts with ``address`` that the mail's owner may read: ``(candidates,
        records)`` (see :meth:`_qualify_candidates_many`)."""
        self.ensure_one()
        normalized = email_normalize(address) if address else False
        return self._qualify_candidates_many(self.user_id, {address}).get(normalized, ([], {}))

    @api.model
    def _qualify_candidates_many(self, user, addresses):
        """Leads and contacts with any of ``addresses`` that ``user`` may read.

        Searched as ``user``, never as superuser: record rules (own leads only, multi-company)
        decide what counts; archived records are left out (``active_test``). One search per
        model for all the addresses.

        :returns: ``{normalized address: (candidates, records)}``: ``candidates`` for
            ``core.qualify.rank`` and ``records`` mapping ``(kind, id)`` to the record, first
            created first within each kind
        """
        # Odoo's own normalisation, as its email_normalized columns are computed (the same rule
        # as core.addresses.normalize, which gave the addresses)
        wanted = {n for a in addresses if a and (n := email_normalize(a))}
        if not wanted:
            return {}
        as_owner = self.with_user(user).with_context(active_test=True).env
        found = {address: ([], {}) for address in wanted}
        for kind, model, names in (
                (qualify_rules.LEAD, "crm.lead",
                 ["email_normalized", "create_date", "active", "type", "partner_id"]),
                (qualify_rules.CONTACT, "res.partner",
                 ["email_normalized", "create_date", "active"])):
            Model = as_owner[model]
            if not Model.has_access("read"):
                continue
            is_lead = kind == qualify_rules.LEAD
            counts = defaultdict(int)
            for record in Model.search_fetch([("email_normalized", "in", sorted(wanted))],
                                             names, order="create_date, id"):
                address = record.email_normalized
                if address not in found or counts[address] >= QUALIFY_MAX_CANDIDATES:
                    continue
                counts[address] += 1
                candidates, records = found[address]
                candidates.append(qualify_rules.Candidate(
                    kind=kind, id=record.id, name=record.display_name or "",
                    email=address, create_date=record.create_date, active=record.active,
                    converted=bool(is_lead and (record.type == "opportunity"
                                                or record.partner_id)),
                    partner_id=record.partner_id.id if is_lead and record.partner_id else None,
                ))
                records[(kind, record.id)] = record
        return found

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

    def _qualify_thread_suggestion(self, writable=False):
        """Where the mail this one answers was qualified, if the owner can still see it (and
        with ``writable``, write to it).

        The nearest Message-Id of In-Reply-To/References wins: first among the owner's own
        qualified mails, then among the chatter of the models mail is logged on (a mail sent
        from Odoo, or qualified by a colleague).

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
            ("message_id", "in", refs), ("model", "in", sorted(self._qualify_target_models())),
            ("res_id", "!=", False),
        ], order="id desc")

        def usable(record):
            if not record or ("active" in record._fields and not record.active):
                return False
            return not writable or record.has_access("write")

        for ref in refs:
            for mail in earlier.filtered(lambda m, ref=ref: m.message_id == ref):
                record = mail.with_user(self.user_id)._qualified_record()
                if usable(record):
                    return {"record": record, "subject": mail.subject or "", "date": mail.date}
            for entry in logged.filtered(lambda m, ref=ref: m.message_id == ref):
                record = self._qualify_readable(entry.model, entry.res_id)
                if usable(record):
                    return {"record": record, "subject": entry.subject or "",
                            "date": entry.date}
        return None

    def _qualify_remembered(self, party):
        """The record the owner chose for this mail's sender last time (see
        ``vt_webmail.qualify.memory``), if they may still see it."""
        self.ensure_one()
        if party is None:
            return None
        memory = self.env["vt_webmail.qualify.memory"].sudo()._recall(self.user_id, party.address)
        if not memory:
            return None
        record = self._qualify_readable(memory.res_model, memory.res_id)
        if not record or ("active" in record._fields and not record.active):
            return None
        return record

    def _qualify_remember(self, target):
        """Remember ``target`` as the owner's choice for this mail's sender."""
        self.ensure_one()
        party = self._qualify_party()
        if party is not None:
            self.env["vt_webmail.qualify.memory"].with_user(self.user_id)._remember(
                party.address, target)

    def _qualify_company_suggestion(self, party):
        """The company whose contacts write from the party's domain (core ``pick_company``),
        among the contacts the owner may read; none for a public mail domain.

        :returns: ``{"record": company, "contacts": int, "domain": str}`` or ``None``
        """
        self.ensure_one()
        # sudo: a setting, not a secret
        extra = self.env["ir.config_parameter"].sudo().get_param(PUBLIC_DOMAINS_PARAMETER)
        domain = qualify_rules.company_domain(party.address if party else "",
                                              (extra or "").split(","))
        if not domain:
            return None
        Partner = self.env["res.partner"].with_user(self.user_id).with_context(
            active_test=True)
        if not Partner.has_access("read"):
            return None
        pattern = domain.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        found = Partner.search_fetch(
            [("email_normalized", "=like", f"%@{pattern}")],
            ["email_normalized", "commercial_partner_id"], limit=COMPANY_MAX_CONTACTS,
            order="id")
        companies = found.commercial_partner_id.filtered("is_company")._filtered_access("read")
        contacts = [
            qualify_rules.CompanyContact(
                company_id=record.commercial_partner_id.id,
                company_name=record.commercial_partner_id.display_name or "",
                company_create_date=record.commercial_partner_id.create_date,
                email=record.email_normalized or "")
            for record in found if record.commercial_partner_id in companies]
        choice = qualify_rules.pick_company(domain, contacts)
        if choice is None:
            return None
        return {"record": companies.browse(choice.company_id), "contacts": choice.contacts,
                "domain": domain}

    # -- qualifying ----------------------------------------------------------------------------

    def _qualify_by_rules(self):
        """Qualify these mails where the rules say; a mail qualified already stays where it
        is. Contacts for unknown senders are created in one go, one per address: a second mail
        from the same unknown sender goes to the contact made for the first (rule
        ``contact``), as if the mails had been qualified one after the other.

        :returns: the result dicts of :meth:`action_qualify`, in the order of ``self``
        """
        results = {}
        todo = self.browse()
        for message in self:
            if message.qualified_model:
                results[message.id] = dict(self._qualify_result(message),
                                           already_qualified=True)
            else:
                todo |= message
        plans = []
        waiting = {}  # (owner id, address) -> plans of the mails that need its contact
        decided = todo._qualify_decide_many()
        for message in todo:
            party, decision, records = decided[message.id]
            if party is None:
                results[message.id] = self._qualify_error_result(message, UserError(
                    self.env._("The mail '%s' has no sender address: it cannot be qualified.",
                               message.subject)))
                continue
            plan = {"message": message, "party": party, "rule": decision.rule,
                    "records": records, "created": False}
            if decision.creates_contact:
                if message.body_state != "done":
                    # nothing is created for a mail that cannot be logged
                    results[message.id] = self._qualify_error_result(
                        message, self._qualify_unreadable(message))
                    continue
                key = (message.user_id.id, party.address)
                if key in waiting:
                    plan["rule"] = qualify_rules.RULE_CONTACT  # the contact of an earlier mail
                else:
                    plan["created"] = True
                waiting.setdefault(key, []).append(plan)
            else:
                plan["target"] = records[(decision.target.kind, decision.target.id)]
            plans.append(plan)
        for error_id, exc in self._qualify_create_contacts(waiting).items():
            results[error_id] = self._qualify_error_result(self.browse(error_id), exc)
        plans = [plan for plan in plans if plan["message"].id not in results]
        results.update(self._qualify_apply(plans))
        return [results[message.id] for message in self]

    def _qualify_create_contacts(self, waiting):
        """Create the contacts the plans of ``waiting`` need (one creation per owner) and set
        them as the plans' targets.

        :returns: ``{mail id: exception}`` of the plans that could not get their contact
        """
        errors = {}
        by_owner = defaultdict(list)
        for (owner_id, _address), plans in waiting.items():
            by_owner[owner_id].append(plans)
        for owner_id, groups in by_owner.items():
            Partner = self.env["res.partner"].with_user(owner_id)
            if not Partner.has_access("create"):
                for plans in groups:
                    exc = self._qualify_no_contact_right(plans[0]["party"])
                    errors.update({plan["message"].id: exc for plan in plans})
                continue
            contacts = Partner.create([{"name": plans[0]["party"].name,
                                        "email": plans[0]["party"].address}
                                       for plans in groups])
            for contact, plans in zip(contacts, groups, strict=True):
                for plan in plans:
                    plan["target"] = contact
        return errors

    def _qualify_create_contact(self, party):
        """Rule 5: a contact for the party, created with the owner's rights (the "Contact
        Creation" right), shared by all companies like contacts Odoo makes from mail."""
        Partner = self.env["res.partner"].with_user(self.user_id)
        if not Partner.has_access("create"):
            raise self._qualify_no_contact_right(party)
        return Partner.create({"name": party.name, "email": party.address})

    def _qualify_no_contact_right(self, party):
        return AccessError(self.env._(
            "No lead or contact has the address %s, and you may not create contacts: ask "
            "an administrator for the Contact Creation right, or create the contact first.",
            party.address))

    def _qualify_unreadable(self, message):
        return UserError(self.env._(
            "The mail '%(subject)s' could not be read from the server, so it was not "
            "qualified: %(reason)s", subject=message.subject or "",
            reason=html2plaintext(message.body_html or "")))

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

    # -- reading -------------------------------------------------------------------------------

    def _qualify_readable(self, model, res_id):
        """``model(res_id)`` browsed as the mail's owner, if it exists, is of a model with a
        chatter and they may read it."""
        if not res_id or not isinstance(model, str) or model not in self.env \
                or model not in self._qualify_mail_thread_models():
            return None
        record = self.env[model].with_user(self.user_id).browse(res_id).exists()
        return record if record and record.has_access("read") else None

    def _qualified_record(self):
        """The record this mail was qualified on, as its owner sees it (``None`` if gone)."""
        self.ensure_one()
        return self._qualified_records().get(self.id)

    def _qualified_record_any(self):
        """The record this mail was qualified on, whoever may see it (``None`` if deleted),
        browsed as the caller."""
        self.ensure_one()
        model = self.qualified_model
        if not model or model not in self.env or not self.qualified_res_id:
            return None
        return self.env[model].browse(self.qualified_res_id).exists() or None

    def _qualified_records(self):
        """``{mail id: record}`` of the mails whose record their owner may still read (one
        lookup per owner and model)."""
        groups = defaultdict(list)
        threads = None
        for message in self:
            if message.qualified_model and message.qualified_res_id:
                groups[(message.user_id, message.qualified_model)].append(message)
        found = {}
        for (owner, model), messages in groups.items():
            if threads is None:
                threads = set(self._qualify_mail_thread_models())
            if model not in threads:
                continue
            records = self.env[model].with_user(owner).browse(
                sorted({m.qualified_res_id for m in messages})).exists()._filtered_access("read")
            for message in messages:
                record = records.browse(message.qualified_res_id)
                if record in records:
                    found[message.id] = record
        return found

    @api.model
    def _qualify_result(self, message):
        """The result dict of :meth:`action_qualify` for ``message`` as it is now."""
        record = message._qualified_record() if message.qualified_model else None
        return dict(self._qualify_result_empty(message),
                    model=message.qualified_model or False,
                    res_id=message.qualified_res_id or False,
                    name=record.display_name if record else False,
                    rule=message.qualified_rule or False)

    @api.model
    def _qualify_result_empty(self, message):
        return {"id": message.id, "model": False, "res_id": False, "name": False,
                "rule": False, "created": False, "logged": False, "already_qualified": False,
                "error": False}

    @api.model
    def _qualify_error_result(self, message, exc):
        return dict(self._qualify_result(message), error=_error_text(exc))
