"""Qualify preview: the record the rules chose and why, what else could be chosen, and the
report of a bulk qualification."""

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..core import qualify as qualify_rules

#: Choice kinds, in the order the preview lists them.
CHOICE_KINDS = [
    ("thread", "The record of the thread"),
    ("rules", "The rules' choice"),
    ("remembered", "Your choice for this sender last time"),
    ("candidate", "Another record with this address"),
    ("create_contact", "A new contact"),
    ("company", "The company of the sender's domain"),
    ("create_lead", "A new lead"),
    ("other", "Another record"),
]
#: The rule code remembered for a choice the user made instead of the rules' default.
RULE_CHOSEN = qualify_rules.RULE_CHOSEN
RULE_THREAD = qualify_rules.RULE_THREAD
RULE_CREATE_LEAD = qualify_rules.RULE_CREATE_LEAD
#: Choices that differ from the rules' (and the thread's): the user may remember them.
REMEMBERED_KINDS = ("remembered", "candidate", "company", "create_lead", "other")


class VtWebmailQualify(models.TransientModel):
    _name = "vt_webmail.qualify"
    _description = "Qualify mail"

    message_ids = fields.Many2many("vt_webmail.message", string="Mails", readonly=True)
    message_id = fields.Many2one("vt_webmail.message", string="Mail", readonly=True,
                                 help="The mail previewed, when there is one.")
    mode = fields.Selection([("one", "One mail"), ("bulk", "Several mails")], readonly=True,
                            required=True, default="one")
    state = fields.Selection([("preview", "Preview"), ("done", "Done")], default="preview",
                             required=True, readonly=True)
    email_from = fields.Char(related="message_id.email_from")
    subject = fields.Char(related="message_id.subject")
    explanation = fields.Text(readonly=True, help="Why the proposed record comes first.")
    current_placement = fields.Char(readonly=True,
                                    help="Where this mail was qualified already, if it was.")
    choice_ids = fields.One2many("vt_webmail.qualify.choice", "wizard_id", readonly=True)
    choice_id = fields.Many2one("vt_webmail.qualify.choice", string="Log it on",
                                domain="[('wizard_id', '=', id)]")
    choice_kind = fields.Selection(related="choice_id.kind")
    other_reference = fields.Reference(
        selection="_selection_offered_models", string="Record",
        help="Any record of the models offered (Settings > Webmail) that you may write to.")
    remember = fields.Boolean(
        string="Remember for this sender",
        help="Propose this record again, beside the rules' choice, for this sender's next "
             "mails.")
    line_ids = fields.One2many("vt_webmail.qualify.line", "wizard_id", readonly=True)
    summary = fields.Text(readonly=True)

    @api.model
    def _selection_offered_models(self):
        Message = self.env["vt_webmail.message"]
        return [(name, Message._qualify_kind_label(name))
                for name in Message._qualify_offered_models()]

    # -- opening -------------------------------------------------------------------------------

    @api.model
    def _open_for(self, messages):
        """Create the preview of ``messages`` (checked by the caller) and open it."""
        if not messages:
            raise UserError(self.env._("Select the mails to qualify."))
        wizard = self.create({
            "message_ids": [fields.Command.set(messages.ids)],
            "message_id": messages.id if len(messages) == 1 else False,
            "mode": "one" if len(messages) == 1 else "bulk",
        })
        if wizard.mode == "one":
            wizard._fill_choices()
        else:
            wizard._fill_lines()
        return wizard._action_reopen()

    def _action_reopen(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Qualify"),
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "new",
        }

    def _fill_choices(self):
        """One mail: the rules' choice first (or the thread's record, for a reply), then the
        other records with the address, then "create a lead instead"."""
        self.ensure_one()
        message = self.message_id
        proposal = message._qualify_proposal()
        party, rules_record = proposal["party"], proposal["target"]
        values, explanation = [], []
        if message.qualified_model:
            self.current_placement = self.env._(
                "Already qualified on %s. Choosing it again changes nothing.",
                message.qualified_record_name)
        suggestion = proposal["thread"]
        if suggestion:
            record = suggestion["record"]
            same = rules_record is not None and record == rules_record
            reason = self.env._(
                "This mail answers '%(subject)s', which was qualified on %(record)s.",
                subject=suggestion["subject"], record=self._record_label(record))
            explanation.append(reason + (" " + self.env._("The rules agree.") if same else ""))
            values.append(self._choice_values(record, "thread", RULE_THREAD, reason))
        if party is not None:
            rules_words = proposal["explanation"]
            if suggestion and not (rules_record and rules_record == suggestion["record"]):
                explanation.append(self.env._("By the rules alone: %s", rules_words))
            elif not suggestion:
                explanation.append(rules_words)
            if rules_record is not None:
                values.append(self._choice_values(rules_record, "rules", proposal["rule"],
                                                  rules_words))
            else:
                values.append({
                    "kind": "create_contact", "rule": proposal["rule"], "reason": rules_words,
                    "label": self.env._("New contact '%(name)s' <%(address)s> (the rules' "
                                        "choice)", name=party.name, address=party.address),
                })
            remembered = proposal["remembered"]
            if remembered is not None:
                values.append(self._choice_values(remembered, "remembered", RULE_CHOSEN, ""))
            for record in proposal["alternatives"]:
                values.append(self._choice_values(record, "candidate", RULE_CHOSEN, ""))
            company = proposal["company"]
            if company is not None:
                reason = self.env._(
                    "%(count)s of its contacts you can see write from @%(domain)s.",
                    count=company["contacts"], domain=company["domain"])
                values.append(dict(
                    self._choice_values(company["record"], "company",
                                        qualify_rules.RULE_COMPANY, reason),
                    label=self.env._("Company '%(name)s' (%(reason)s)",
                                     name=company["record"].display_name, reason=reason)))
            if self.env["crm.lead"].with_user(message.user_id).has_access("create"):
                values.append({
                    "kind": "create_lead", "rule": RULE_CREATE_LEAD, "reason": "",
                    "label": self.env._("Create a lead instead: '%s'",
                                        message.subject or party.name),
                })
        else:
            explanation.append(proposal["explanation"])
        if self._selection_offered_models():
            values.append({"kind": "other", "rule": RULE_CHOSEN, "reason": "",
                           "label": self.env._("Another record...")})
        # the same record once, at its first (best) place
        seen, unique = set(), []
        for value in values:
            key = (value.get("res_model"), value.get("res_id")) if value.get("res_id") else None
            if key and key in seen:
                continue
            seen.add(key)
            unique.append(value)
        self.write({
            "explanation": "\n".join(explanation),
            "choice_ids": [fields.Command.create(dict(v, sequence=i))
                           for i, v in enumerate(unique)],
        })
        self.choice_id = self.choice_ids[:1]

    def _choice_values(self, record, kind, rule, reason):
        suffix = {
            "thread": self.env._(" (the record of the thread)"),
            "rules": self.env._(" (the rules' choice)"),
            "remembered": self.env._(" (your choice for this sender last time)"),
        }.get(kind, "")
        return {
            "kind": kind, "rule": rule, "reason": reason,
            "res_model": record._name, "res_id": record.id,
            "label": self._record_label(record) + suffix,
        }

    def _record_label(self, record):
        kind = self.env["vt_webmail.message"]._qualify_kind_label(record._name)
        return f"{kind} '{record.display_name}'"

    def _fill_lines(self):
        """Several mails: what the rules would do with each (decided together: one search
        per model)."""
        self.ensure_one()
        lines = []
        todo = self.message_ids.filtered(lambda m: not m.qualified_model)
        decided = todo._qualify_decide_many()
        for message in self.message_ids:
            if message.qualified_model:
                lines.append({"message_id": message.id, "state": "already",
                              "proposal": message.qualified_record_name,
                              "reason": self.env._("Already qualified: it stays there.")})
                continue
            party, decision, records = decided[message.id]
            if decision.target:
                words = self._record_label(records[(decision.target.kind,
                                                    decision.target.id)])
            elif party:
                words = self.env._("New contact '%s'", party.name)
            else:
                words = self.env._("Nothing: this mail has no sender address")
            lines.append({"message_id": message.id, "state": "pending", "proposal": words,
                          "reason": message._qualify_explain(party, decision)})
        self.line_ids = [fields.Command.create(v) for v in lines]

    # -- confirming ----------------------------------------------------------------------------

    def action_confirm(self):
        """Qualify as previewed: the chosen record for one mail, the rules for several."""
        self.ensure_one()
        self.message_ids._check_owner()
        if self.state == "done":
            return {"type": "ir.actions.act_window_close"}
        if self.mode == "one":
            return self._confirm_one()
        return self._confirm_bulk()

    def _confirm_one(self):
        message = self.message_id
        choice = self.choice_id or self.choice_ids[:1]
        if not choice:
            raise UserError(self.env._("Choose where to log this mail."))
        res_model, res_id = choice.res_model, choice.res_id
        if choice.kind == "other":
            if not self.other_reference:
                raise UserError(self.env._("Choose the record to log this mail on."))
            res_model, res_id = self.other_reference._name, self.other_reference.id
        result = message._qualify_choose(choice.kind, choice.rule, res_model, res_id)
        if self.remember and choice.kind in REMEMBERED_KINDS and not result["error"]:
            record = message._qualified_record()
            if record:
                message._qualify_remember(record)
        return self._notify_done(message, result)

    def _notify_done(self, message, result):
        url = message.qualified_record_url
        # "%s" is where the web client puts the link
        words = self.env._("Qualified on %s.") if not result.get("already_qualified") \
            else self.env._("Already qualified on %s: nothing changed.")
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success",
                "message": words,
                "links": [{"label": message.qualified_record_name, "url": url}],
                "next": {"type": "ir.actions.act_window_close"},
            },
        }

    def _confirm_bulk(self):
        results = {r["id"]: r for r in self.message_ids.action_qualify()}
        counts = {"done": 0, "already": 0, "error": 0}
        for line in self.line_ids:
            result = results.get(line.message_id.id)
            if not result:
                continue
            if result["error"]:
                state = "error"
            elif result["already_qualified"]:
                state = "already"
            else:
                state = "done"
            counts[state] += 1
            line.write({
                "state": state,
                "result": line.message_id.qualified_record_name if not result["error"] else False,
                "result_reference": line.message_id.qualified_reference and
                f"{result['model']},{result['res_id']}",
                "rule": result["rule"],
                "created": result["created"],
                "error": result["error"] or False,
            })
        self.write({
            "state": "done",
            "summary": self.env._(
                "%(done)s qualified, %(already)s already qualified, %(error)s not qualified.",
                **counts),
        })
        return self._action_reopen()


class VtWebmailQualifyChoice(models.TransientModel):
    _name = "vt_webmail.qualify.choice"
    _description = "Qualify mail: a possible record"
    _order = "sequence, id"
    _rec_name = "label"

    wizard_id = fields.Many2one("vt_webmail.qualify", required=True, ondelete="cascade")
    sequence = fields.Integer()
    kind = fields.Selection(CHOICE_KINDS, required=True)
    res_model = fields.Char()
    res_id = fields.Many2oneReference(model_field="res_model")
    rule = fields.Char(help="The rule code remembered when this choice is taken.")
    label = fields.Char(required=True)
    reason = fields.Text()


class VtWebmailQualifyLine(models.TransientModel):
    _name = "vt_webmail.qualify.line"
    _description = "Qualify mail: one mail of a bulk qualification"
    _order = "id"

    wizard_id = fields.Many2one("vt_webmail.qualify", required=True, ondelete="cascade")
    message_id = fields.Many2one("vt_webmail.message", string="Mail", required=True)
    subject = fields.Char(related="message_id.subject")
    email_from = fields.Char(related="message_id.email_from")
    state = fields.Selection([
        ("pending", "To qualify"), ("done", "Qualified"), ("already", "Already qualified"),
        ("error", "Not qualified"),
    ], required=True, default="pending")
    proposal = fields.Char(string="Goes to")
    reason = fields.Text(string="Why")
    result = fields.Char(string="Went to")
    result_reference = fields.Reference(selection="_selection_result_models", string="Record")
    rule = fields.Char()
    created = fields.Boolean(string="Contact created")
    error = fields.Text()

    @api.model
    def _selection_result_models(self):
        return self.env["vt_webmail.message"]._selection_qualify_models()
