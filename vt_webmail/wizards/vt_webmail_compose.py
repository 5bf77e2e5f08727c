import datetime
import logging
import re

from markupsafe import Markup

from odoo import Command, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import escape_psql

from ..core import addresses, compose
from ..core import exceptions as core_errors
from ..core.mime import ListHeaders
from ..tools.bigint_field import BigInteger

_logger = logging.getLogger(__name__)

#: At most this many contacts are proposed while typing an address.
MAX_SUGGESTIONS = 50
#: Recipients are suggested from the user's mail of this many days (besides contacts, leads).
RECENT_DAYS = 180
#: Contacts and leads are searched from this many characters on (recent correspondents from 1).
MIN_SEARCH_LENGTH = 3
#: An empty first line above a quoted original, for the editor's cursor.
EMPTY_LINE = Markup("<p><br></p>")


def _best_first(records, needle, name_field, email_field):
    """``records`` with those whose name (a word of it) or address starts with ``needle``
    first, then by name."""
    def key(record):
        name = (record[name_field] or "").casefold()
        email = (record[email_field] or "").casefold()
        starts = email.startswith(needle) or any(word.startswith(needle)
                                                 for word in name.split())
        return (not starts, name, email)
    return records.sorted(key)


class VtWebmailCompose(models.TransientModel):
    """The compose window: a new mail, a reply, a reply to all, a forward.

    Sending is :meth:`vt_webmail.account.send_mail`'s engine (``_send``); this window only
    prefills, keeps the user's text while they write (and when sending fails), and saves
    drafts on request.
    """

    _name = "vt_webmail.compose"
    _description = "Webmail: compose a mail"
    # the window is saved when a button is clicked, not while the user writes: Odoo's default
    # (one hour since the last save) could delete a long mail being written, and its text
    _transient_max_hours = 24.0

    account_id = fields.Many2one(
        "vt_webmail.account", string="From", required=True, ondelete="cascade",
        domain=lambda self: [("user_id", "=", self.env.uid)],
        default=lambda self: self._default_account(),
    )
    email_to = fields.Char(string="To", help="Addresses separated by commas.")
    email_cc = fields.Char(string="Cc")
    email_bcc = fields.Char(string="Bcc",
                            help="Blind copies: these recipients are hidden from the others.")
    subject = fields.Char()
    body_html = fields.Html(string="Message", sanitize_style=True)
    attachment_ids = fields.Many2many(
        "ir.attachment", "vt_webmail_compose_ir_attachment_rel", "compose_id",
        "attachment_id", string="Attachments",
    )
    mode = fields.Selection(
        [("new", "New mail"), ("reply", "Reply"), ("reply_all", "Reply all"),
         ("forward", "Forward")], default="new", required=True, readonly=True,
    )
    reply_to_message_id = fields.Many2one(
        "vt_webmail.message", string="In reply to", readonly=True, ondelete="set null",
        help="The mail this one answers (it is marked answered once this one is sent).",
    )
    forward_message_id = fields.Many2one(
        "vt_webmail.message", string="Forwarded mail", readonly=True, ondelete="set null",
    )
    # the copy last saved in the Drafts folder, replaced by the next save and removed on send
    draft_folder = fields.Char(readonly=True)
    draft_uidvalidity = BigInteger(readonly=True)
    draft_uid = BigInteger(readonly=True)
    # a reopened draft's threading headers when the mail it answers is not in the cache
    in_reply_to = fields.Char(string="In-Reply-To", readonly=True)
    references = fields.Text(readonly=True)
    scheduled_at = fields.Datetime(
        string="Send at", help="Send later: the mail waits in the Outbox until then.")

    def _default_account(self):
        return self.env["vt_webmail.account"].search(
            [("user_id", "=", self.env.uid)], order="is_default desc, id", limit=1)

    def unlink(self):
        # the files uploaded into these windows (their copies of forwarded files too)
        # sudo: attachments of the window records being deleted, found by their res_id
        self.env["ir.attachment"].sudo().search([
            ("res_model", "=", self._name), ("res_id", "in", self.ids),
        ]).unlink()
        return super().unlink()

    # -- actions -------------------------------------------------------------------------------

    @api.model
    def action_new(self):
        """Open an empty compose window on the user's default account (the Compose menu)."""
        if not self._default_account():
            raise UserError(self.env._(
                "You have no mail account yet. Add one in Webmail > Mail accounts."))
        return self.create({})._action_open()

    @api.model_create_multi
    def create(self, vals_list):
        # a new mail starts with the account's signature (a reply or forward places it
        # itself, see _create_from_message; a draft or an undone mail has it already)
        for vals in vals_list:
            if "body_html" not in vals:
                account = self.env["vt_webmail.account"].browse(
                    vals.get("account_id") or self._default_account().id)
                if account:
                    signature = account._signature()
                    if signature:
                        vals["body_html"] = EMPTY_LINE + signature
        return super().create(vals_list)

    def action_send(self):
        """Send the mail; on failure the window stays open with everything in it.

        With an Undo delay (the user's preference) the mail waits in the Outbox for that
        long, in a window counting down with an *Undo* button; the browser sends it when the
        countdown ends (the scheduled action, if the browser went away)."""
        self.ensure_one()
        originals = self.reply_to_message_id | self.forward_message_id
        originals._check_owner()
        delay = self.env.user.vt_webmail_undo_delay
        if delay > 0:
            outbox = self._to_outbox(
                fields.Datetime.now() + datetime.timedelta(seconds=delay), is_undo=True)
            return outbox._action_open_undo()
        files = self._files()
        # a malformed address, no recipient, files too large: said at once, nothing saved
        self.account_id._build_outgoing(
            to=self.email_to, cc=self.email_cc, bcc=self.email_bcc, subject=self.subject,
            body_html=self.body_html, files=files, original=self.reply_to_message_id,
            **self._threading())
        self.account_id._check_size(files)
        try:
            result = self.account_id._send(
                to=self.email_to, cc=self.email_cc, bcc=self.email_bcc, subject=self.subject,
                body_html=self.body_html, files=files, original=self.reply_to_message_id,
                forwarded=self.forward_message_id, **self._threading(),
            )
        except UserError as exc:
            return self._not_sent(exc.args[0])
        warnings = [result["warning"]] if result["warning"] else []
        warnings += self.account_id._log_sent_on(result["message_id"], *self._log_target())
        if self.draft_uid:
            try:
                self.account_id._remove_copy(self.draft_folder, self.draft_uidvalidity,
                                             self.draft_uid)
            except (core_errors.WebmailError, UserError) as exc:
                _logger.info("Draft copy of compose %s not removed: %s", self.id, exc)
                warnings.append(self.env._(
                    "The draft saved earlier is still in the Drafts folder."))
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": self.env._("Mail sent"),
                "message": "\n".join(warnings) or self.env._("Your mail was sent."),
                "type": "warning" if warnings else "success",
                "sticky": bool(warnings),
                "next": {"type": "ir.actions.act_window_close"},
            },
        }

    def _not_sent(self, reason):
        """The mail could not be sent: keep it as a draft on the server (nothing lost, also
        if the window is closed) and say why, the window staying open. A notification rather
        than an error, so that the draft's bookkeeping is committed with it."""
        try:
            with self.env.cr.savepoint():
                self._save_draft()
            kept = self.env._("Your message is still here, and a copy was saved in your "
                              "Drafts folder: correct it and send it again.")
        except UserError as exc:
            _logger.info("Compose %s: unsent mail not saved as a draft: %s", self.id, exc)
            kept = self.env._("Your message is still here: correct it and send it again, or "
                              "save it as a draft.")
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": self.env._("Mail not sent"),
                "message": f"{reason}\n\n{kept}",
                "type": "danger",
                "sticky": True,
            },
        }

    def action_schedule(self):
        """Send later: the mail waits in the Outbox until ``scheduled_at``, then the scheduled
        action sends it (Odoo may be restarted meanwhile)."""
        self.ensure_one()
        (self.reply_to_message_id | self.forward_message_id)._check_owner()
        if not self.scheduled_at:
            raise UserError(self.env._("Choose when to send the mail."))
        if self.scheduled_at <= fields.Datetime.now():
            raise UserError(self.env._("Choose a time in the future to send the mail later."))
        outbox = self._to_outbox(self.scheduled_at, is_undo=False)
        when = fields.Datetime.context_timestamp(self, outbox.send_at)
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": self.env._("Mail scheduled"),
                "message": self.env._("Your mail will be sent on %s. Until then it is in the "
                                      "Outbox.", when.strftime("%Y-%m-%d %H:%M")),
                "type": "success",
                "next": {"type": "ir.actions.act_window_close"},
            },
        }

    def _to_outbox(self, send_at, *, is_undo):
        """Move this mail into the Outbox (checked first: a bad address or a file the user
        may not read is refused now, not when it is due); the window is deleted."""
        account = self.account_id
        account._check_sender()
        files = self._files()
        # built once to check it; the Outbox builds it again when sending
        account._build_outgoing(
            to=self.email_to, cc=self.email_cc, bcc=self.email_bcc, subject=self.subject,
            body_html=self.body_html, files=files, original=self.reply_to_message_id,
            **self._threading())
        account._check_size(files)
        outbox = self.env["vt_webmail.outbox"]._queue(account, {
            "email_to": self.email_to, "email_cc": self.email_cc, "email_bcc": self.email_bcc,
            "subject": self.subject, "body_html": self.body_html,
            "reply_to_message_id": self.reply_to_message_id.id,
            "forward_message_id": self.forward_message_id.id,
            "in_reply_to": self.in_reply_to, "references": self.references,
            "draft_folder": self.draft_folder, "draft_uidvalidity": self.draft_uidvalidity,
            "draft_uid": self.draft_uid,
            **dict(zip(("log_model", "log_res_id"), self._log_target(), strict=True)),
        }, files, send_at, is_undo=is_undo)
        # the window's other files (pictures pasted in the body, shown from /web/image/<id>)
        # move with the mail: deleting the window would delete them before it is sent
        # sudo: files of this window, the caller's (checked above), found by their res_id
        self.env["ir.attachment"].sudo().search([
            ("res_model", "=", self._name), ("res_id", "=", self.id),
            ("id", "not in", self.attachment_ids.ids),
        ]).write({"res_model": outbox._name, "res_id": outbox.id})
        self.unlink()
        return outbox

    def action_save_draft(self):
        """Save the mail in the account's Drafts folder (replacing the copy saved before)."""
        self._save_draft()
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": self.env._("Draft saved"),
                "message": self.env._("Your mail was saved in the Drafts folder."),
                "type": "success",
            },
        }

    def action_autosave(self):
        """Save the draft while the user writes (the composer calls it every so often when
        something changed): like *Save draft*, without a message.

        :returns: ``{"draft_uid": int or False}``
        """
        self._save_draft()
        return {"draft_uid": self.draft_uid or False}

    def _save_draft(self):
        """APPEND the mail to Drafts, then delete the copy saved before: exactly one copy
        stays on the server (the new one is there before the old one goes)."""
        self.ensure_one()
        account = self.account_id
        account._check_sender()
        (self.reply_to_message_id | self.forward_message_id)._check_owner()
        files = self._files()
        message = account._build_outgoing(
            to=self.email_to, cc=self.email_cc, bcc=self.email_bcc, subject=self.subject,
            body_html=self.body_html, files=files, original=self.reply_to_message_id,
            draft=True, **self._threading(),
        )
        data = compose.message_bytes(message, bcc=self.email_bcc or ())
        try:
            folder, uidvalidity, uid = account._append_copy("drafts", data,
                                                            ("\\Draft", "\\Seen"))
        except core_errors.WebmailError as exc:
            raise UserError(self.env._("The draft was not saved. %s",
                                       account._error_message(exc))) from exc
        if not folder:
            raise UserError(self.env._("The draft was not saved: the mail server has no "
                                       "Drafts folder."))
        previous = (self.draft_folder, self.draft_uidvalidity, self.draft_uid)
        self.write({"draft_folder": folder, "draft_uidvalidity": uidvalidity,
                    "draft_uid": uid or False})
        if previous[2] and previous != (folder, uidvalidity, uid):
            try:
                account._remove_copy(*previous)
            except (core_errors.WebmailError, UserError) as exc:
                _logger.info("Older draft of compose %s not removed: %s", self.id, exc)

    def _threading(self):
        """In-Reply-To and References of a reopened draft whose original is not cached."""
        if self.reply_to_message_id or not self.in_reply_to:
            return {}
        return {"in_reply_to": self.in_reply_to, "references": self.references or None}

    def _files(self):
        """The attached files, in the order they were added, read with the user's rights
        (a file they may not read cannot be attached by writing its id here), then the
        documents chosen from the qualified record."""
        return [(attachment.name, attachment.mimetype, attachment.raw)
                for attachment in self.attachment_ids.sorted("id")] + self._record_files()

    # -- recipients ------------------------------------------------------------------------------

    @api.model
    def search_recipients(self, term, limit=8):
        """Addresses containing ``term`` (in the name or the address), for the To/Cc/Bcc
        fields: first the people you recently wrote to or heard from (your mail of the last
        :data:`RECENT_DAYS` days, newest first), then your contacts, then leads (if you may read
        them). One suggestion per address; only what the user may read; nothing is created:
        an address typed in full is sent to as it is.

        :returns: list of ``{"label": "Name <address>", "name": str, "email": str,
            "source": "recent" | "contact" | "lead"}``
        """
        if not isinstance(term, str) or not term.strip():
            return []
        term = term.strip()[:200]
        try:
            limit = min(max(int(limit), 1), MAX_SUGGESTIONS)
        except (TypeError, ValueError):
            limit = 8
        needle = term.casefold()
        pattern = escape_psql(term)  # '%' and '_' typed are characters, not wildcards
        suggestions, seen = [], set()

        def offer(name, address, source):
            key = addresses.normalize_address(address)
            if not key or key in seen or len(suggestions) >= limit:
                return
            seen.add(key)
            suggestions.append({"label": addresses.format_address(name, address),
                                "name": name or "", "email": address, "source": source})

        own = {addresses.normalize_address(a) for a in self.env["vt_webmail.account"].search(
            [("user_id", "=", self.env.uid)]).mapped("email") if a}
        seen |= own
        for name, address in self._recent_correspondents(term, limit * 3):
            if needle in name.casefold() or needle in address.casefold():
                offer(name, address, "recent")
        if len(term) < MIN_SEARCH_LENGTH:
            # one or two characters match a good part of 100,000 contacts and no index helps:
            # only the user's own correspondents until a third character is typed
            return suggestions
        if len(suggestions) < limit:
            partners = self._first_matches("res.partner", [
                "&", ("email", "!=", False),
                "|", ("name", "ilike", pattern), ("email", "ilike", pattern),
            ], (limit - len(suggestions)) * 2, ["name", "email"])
            for partner in _best_first(partners, needle, "name", "email"):
                for _name, address in addresses.parse(partner.email):
                    offer(partner.name, address, "contact")
        Lead = self.env["crm.lead"]
        if len(suggestions) < limit and Lead.has_access("read"):
            leads = self._first_matches("crm.lead", [
                "&", ("email_from", "!=", False),
                "|", ("email_from", "ilike", pattern), ("contact_name", "ilike", pattern),
            ], (limit - len(suggestions)) * 2, ["contact_name", "partner_name", "email_from"])
            for lead in _best_first(leads, needle, "contact_name", "email_from"):
                for name, address in addresses.parse(lead.email_from):
                    offer(lead.contact_name or name or lead.partner_name, address, "lead")
        return suggestions

    def _first_matches(self, model, domain, limit, field_names):
        """The first ``limit`` records of ``model`` matching ``domain`` (record rules
        applied), in no order: without ORDER BY, PostgreSQL stops reading as soon as it has
        ``limit`` of them (a frequent name) and finds rare ones through the trigram indexes
        (see models/res_partner.py); sorted by an order, it read every match first, or
        walked the whole table in that order looking for a few rare ones. The best are put
        first by the caller (:func:`_best_first`)."""
        Model = self.env[model]
        query = Model._search(domain, limit=limit)
        query.order = None
        records = Model.browse(row[0] for row in self.env.execute_query(query.select()))
        records.fetch(field_names)
        return records

    def _recent_correspondents(self, term, limit):
        """``[(name, address)]`` of the user's recent mail whose From or To contains ``term``,
        newest first (the caller keeps the addresses that match)."""
        # the user's own mail only (the record rule's condition, written out)
        self.env.cr.execute(
            """
            SELECT email_from, email_to FROM vt_webmail_message
             WHERE user_id = %s AND date > (now() AT TIME ZONE 'UTC') - %s * interval '1 day'
               AND (email_from ILIKE %s OR email_to ILIKE %s)
             ORDER BY date DESC LIMIT %s
            """,
            (self.env.uid, RECENT_DAYS, *[f"%{escape_psql(term)}%"] * 2, limit))
        result = []
        for email_from, email_to in self.env.cr.fetchall():
            result += addresses.parse(email_from or "") + addresses.parse(email_to or "")
        return result

    # -- prefill ---------------------------------------------------------------------------------

    @api.model
    def _create_from_message(self, message, mode):
        """A compose window answering or forwarding ``message`` (the caller's, checked)."""
        message.ensure_one()
        message._check_owner()
        original_html = message.body_html or ""  # fetched by the caller (_open_compose)
        date = message.date and fields.Datetime.context_timestamp(self, message.date)
        values = {"account_id": message.account_id.id, "mode": mode}
        signature = message.account_id._signature()
        above = self.env.user.vt_webmail_signature_position != "below"
        top, bottom = (signature, Markup()) if above else (Markup(), signature)
        if mode == "forward":
            headers = ListHeaders(subject=message.subject or "",
                                  email_from=message.email_from or "",
                                  email_to=message.email_to or "",
                                  email_cc=message.email_cc or "", date=date)
            values.update(
                subject=compose.forward_subject(message.subject),
                body_html=EMPTY_LINE + top + Markup(compose.forward_html(
                    headers=headers, html=original_html)) + bottom,
                forward_message_id=message.id,
            )
        else:
            to, cc = message._reply_recipients(mode == "reply_all")
            values.update(
                email_to=", ".join(to) or False, email_cc=", ".join(cc) or False,
                subject=compose.reply_subject(message.subject),
                body_html=EMPTY_LINE + top + Markup(compose.quote_html(
                    author=message.email_from or "", date=date, html=original_html)) + bottom,
                reply_to_message_id=message.id,
            )
        wizard = self.create(values)
        if mode == "forward":
            copies = self.env["ir.attachment"].create([{
                "name": attachment.name,
                "mimetype": attachment.mimetype,
                "raw": attachment.raw,
                "res_model": self._name,
                "res_id": wizard.id,
            } for attachment in message._forward_attachments()])
            wizard.attachment_ids = [Command.set(copies.ids)]
        return wizard

    @api.model
    def _create_from_draft(self, message, raw):
        """A compose window reopening the draft ``message`` (the caller's, checked) whose
        bytes are ``raw``; its pictures and files become the window's attachments."""
        message._check_owner()
        values, files, inline, html = message._draft_values(raw)
        wizard = self.create(values)
        Attachment = self.env["ir.attachment"]
        copies = Attachment.create([{
            "name": part.filename, "mimetype": part.content_type, "raw": part.data,
            "res_model": self._name, "res_id": wizard.id,
        } for part in files])
        for part in inline:
            picture = Attachment.create({
                "name": part.filename, "mimetype": part.content_type, "raw": part.data,
                "res_model": self._name, "res_id": wizard.id,
            })
            # the editor shows it from here; sending embeds it again (account._image_source)
            html = re.sub(r"""(["'])cid:%s\1""" % re.escape(part.content_id),
                          rf"\1/web/image/{picture.id}\1", html, flags=re.IGNORECASE)
        wizard.write({"body_html": html, "attachment_ids": [Command.set(copies.ids)]})
        return wizard

    def _action_open(self):
        self.ensure_one()
        titles = dict(self._fields["mode"]._description_selection(self.env))
        return {
            "type": "ir.actions.act_window",
            "name": titles[self.mode],
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "views": [(self.env.ref("vt_webmail.vt_webmail_compose_view_form").id, "form")],
            "target": "new",
            "context": {"dialog_size": "extra-large"},
        }
