"""The Outbox: mails waiting to leave, kept in the database so that they survive a restart of
Odoo. A mail waits there for the user's *Undo send* delay (0 to 30 s) or until the date and
time it was scheduled for; the browser sends it when the Undo countdown ends, and the scheduled
action (every minute) sends every mail that is due, so a closed browser or a restarted Odoo
loses nothing.

Each mail is sent at most once: it is taken (``queued`` -> ``sending``, row locked with
``SKIP LOCKED`` so that the browser and the scheduled action of any number of Odoo processes
never take the same mail) and that state committed *before* the SMTP conversation, on a cursor
of its own (:meth:`VtWebmailOutbox._deliver_queued`, the one place that does so). A process
killed during those few seconds leaves the mail ``sending``: after
:data:`STUCK_AFTER` the scheduled action marks it ``failed``, asking the user to check their
Sent folder rather than sending a second copy behind their back. A send that fails keeps the
mail: the Outbox shows why, a copy goes to the Drafts folder, *Edit* reopens it.
"""

import datetime
import logging

import psycopg2

from odoo import api, fields, models
from odoo.api import SUPERUSER_ID
from odoo.exceptions import AccessError, UserError

from ..core import compose
from ..core import exceptions as core_errors
from ..tools.bigint_field import BigInteger

_logger = logging.getLogger(__name__)

#: A mail still ``sending`` after this long was interrupted (a process killed mid-send).
STUCK_AFTER = datetime.timedelta(minutes=10)
#: Sent mail stays listed (filter *Sent*) this long, then the scheduled action forgets it.
KEEP_SENT = datetime.timedelta(days=7)
#: Mails sent by one run of the scheduled action; the rest wait for the next minute.
CRON_BATCH = 50


class VtWebmailOutbox(models.Model):
    _name = "vt_webmail.outbox"
    _description = "Webmail: a mail waiting to be sent"
    _order = "send_at, id"
    _rec_name = "subject"

    user_id = fields.Many2one("res.users", required=True, index=True, readonly=True,
                              ondelete="cascade", default=lambda self: self.env.user)
    account_id = fields.Many2one("vt_webmail.account", string="From", required=True,
                                 readonly=True, ondelete="cascade")
    state = fields.Selection(
        [("queued", "Waiting"), ("sending", "Sending"), ("sent", "Sent"),
         ("failed", "Failed")], default="queued", required=True, readonly=True, index=True)
    send_at = fields.Datetime(string="Sends at", required=True, readonly=True, index=True)
    is_undo = fields.Boolean(readonly=True,
                             help="Waiting for the Undo delay (not scheduled by the user).")
    email_to = fields.Char(string="To", readonly=True)
    email_cc = fields.Char(string="Cc", readonly=True)
    email_bcc = fields.Char(string="Bcc", readonly=True)
    subject = fields.Char(readonly=True)
    body_html = fields.Html(string="Message", readonly=True, sanitize_style=True)
    attachment_ids = fields.Many2many(
        "ir.attachment", "vt_webmail_outbox_ir_attachment_rel", "outbox_id", "attachment_id",
        string="Attachments", readonly=True)
    reply_to_message_id = fields.Many2one("vt_webmail.message", readonly=True,
                                          ondelete="set null")
    forward_message_id = fields.Many2one("vt_webmail.message", readonly=True,
                                         ondelete="set null")
    in_reply_to = fields.Char(readonly=True)
    references = fields.Text(readonly=True)
    # the draft the mail came from: removed from the server once sent
    draft_folder = fields.Char(readonly=True)
    draft_uidvalidity = BigInteger(readonly=True)
    draft_uid = BigInteger(readonly=True)
    log_model = fields.Char(readonly=True)
    log_res_id = fields.Many2oneReference(model_field="log_model", readonly=True)
    message_id = fields.Char(string="Message-Id", readonly=True, copy=False)
    error = fields.Text(readonly=True, copy=False)
    warning = fields.Text(readonly=True, copy=False)
    sent_at = fields.Datetime(readonly=True, copy=False)
    seconds_left = fields.Float(compute="_compute_seconds_left",
                                help="Seconds until the mail is due (0: due).")

    @api.depends_context("uid")
    def _compute_seconds_left(self):
        now = fields.Datetime.now()
        for record in self:
            record.seconds_left = max(0.0, (record.send_at - now).total_seconds()) \
                if record.send_at else 0.0

    def unlink(self):
        # sudo: the files of these outbox mails, found by their res_id (the caller could delete
        # the records themselves)
        self.env["ir.attachment"].sudo().search([
            ("res_model", "=", self._name), ("res_id", "in", self.ids),
        ]).unlink()
        return super().unlink()

    # -- queueing ------------------------------------------------------------------------------

    @api.model
    def _queue(self, account, values, files, send_at, *, is_undo):
        """Put a mail in the Outbox (the caller checked ``account`` is the user's and built the
        mail once, so a bad address was refused before this); return the record.

        :param values: the mail's fields (``email_to``, ``subject``, ``body_html`` ...)
        :param files: ``[(filename, content_type, bytes)]``, copied into the Outbox
        """
        # sudo: users only read their Outbox; the owner and the account were checked by the
        # caller, and nothing here comes from another user
        record = self.sudo().create(dict(values, user_id=self.env.uid, account_id=account.id,
                                         send_at=send_at, is_undo=is_undo))
        if files:
            attachments = self.env["ir.attachment"].sudo().create([{
                "name": name, "mimetype": mimetype, "raw": data,
                "res_model": self._name, "res_id": record.id,
            } for name, mimetype, data in files])
            record.attachment_ids = attachments
        return record.sudo(False)

    # -- the user's actions ----------------------------------------------------------------------

    def action_send_now(self):
        """Send these waiting mails now (the Undo countdown ended, or *Send now* in the
        Outbox). A mail already taken by another process, sent or undone is left alone.

        :returns: a notification action saying what happened
        """
        self._check_owner()
        ids = self.filtered(lambda r: r.state == "queued").ids
        results = self._deliver_queued(ids)
        sent = [result for result in results.values() if result.get("sent")]
        failed = [result["error"] for result in results.values() if result.get("error")]
        warnings = [result["warning"] for result in sent if result.get("warning")]
        if failed:
            message, kind = "\n".join(failed), "danger"
        elif warnings:
            message, kind = "\n".join(warnings), "warning"
        elif sent:
            message, kind = self.env._("Your mail was sent."), "success"
        else:
            message, kind = self.env._("Nothing was waiting to be sent."), "info"
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": self.env._("Mail not sent") if failed else self.env._("Mail sent"),
                "message": message, "type": kind, "sticky": bool(failed or warnings),
                "next": {"type": "ir.actions.act_window_close"},
            },
        }

    def action_undo(self):
        """Take a waiting (or failed) mail back into the composer, as it was; it leaves the
        Outbox. Too late once it is being sent or was sent.

        :returns: the compose window's action
        :raises UserError: the mail is already on its way
        """
        self.ensure_one()
        self._check_owner()
        try:
            # NOWAIT: a mail the scheduled action holds right now is on its way
            self.env.cr.execute(
                "SELECT state FROM vt_webmail_outbox WHERE id = %s FOR UPDATE NOWAIT",
                (self.id,))
            row = self.env.cr.fetchone()
        except psycopg2.errors.LockNotAvailable:
            row = ("sending",)
        if not row or row[0] not in ("queued", "failed"):
            raise UserError(self.env._("Too late: the mail is already on its way."))
        self.invalidate_recordset()
        Compose = self.env["vt_webmail.compose"]
        wizard = Compose.create({
            "account_id": self.account_id.id,
            "mode": "reply" if self.reply_to_message_id else
                    "forward" if self.forward_message_id else "new",
            **{name: self[name] for name in (
                "email_to", "email_cc", "email_bcc", "subject", "body_html", "in_reply_to",
                "references", "draft_folder", "draft_uidvalidity", "draft_uid")},
            "reply_to_message_id": self.reply_to_message_id.id,
            "forward_message_id": self.forward_message_id.id,
            "log_on_record": bool(self.log_model and self.log_res_id),
        })
        # sudo: the files of this Outbox mail (its owner's, checked) move to the composer,
        # the pictures its body shows too
        files = self.attachment_ids
        self.env["ir.attachment"].sudo().search([
            ("res_model", "=", self._name), ("res_id", "=", self.id),
        ]).write({"res_model": Compose._name, "res_id": wizard.id})
        wizard.attachment_ids = files
        # sudo: users cannot delete Outbox records themselves (their state is the system's)
        self.sudo().attachment_ids = False
        self.sudo().unlink()
        return wizard._action_open()

    def _check_owner(self):
        self.check_access("read")
        if not self.env.su and any(record.user_id != self.env.user for record in self):
            raise AccessError(self.env._("This mail is not yours."))

    # -- sending ---------------------------------------------------------------------------------

    @api.model
    def _cron_send_due(self):
        """Scheduled action (every minute): send the mails that are due; mark ``failed`` those
        left ``sending`` by a process that died; forget mail sent a week ago."""
        now = fields.Datetime.now()
        # sudo: the scheduler sends every user's mail, each as its owner (see _deliver)
        Outbox = self.sudo()
        stuck = Outbox.search([("state", "=", "sending"), ("write_date", "<", now - STUCK_AFTER)])
        stuck.write({"state": "failed", "error": self.env._(
            "Sending was interrupted (Odoo stopped). The mail may have left: check your Sent "
            "folder before sending it again.")})
        Outbox.search([("state", "=", "sent"), ("sent_at", "<", now - KEEP_SENT)]).unlink()
        due = Outbox.search([("state", "=", "queued"), ("send_at", "<=", now)],
                            limit=CRON_BATCH)
        if due:
            results = Outbox._deliver_queued(due.ids)
            _logger.info("Webmail Outbox: %d sent, %d failed",
                         sum(1 for r in results.values() if r.get("sent")),
                         sum(1 for r in results.values() if r.get("error")))

    def _deliver_queued(self, ids):
        """Send the Outbox mails ``ids`` that are still ``queued``, each at most once.

        The one place with cursors of its own: for each mail, one transaction takes it
        (``SKIP LOCKED``: a mail another process holds is skipped) and commits ``sending``;
        a second one sends it and commits the outcome. So a crash never sends a mail twice,
        and the caller's transaction (a request, the scheduled action) holds no lock meanwhile.

        :returns: ``{id: {"sent": bool, "warning": str, "error": str}}`` of the mails taken
        """
        results = {}
        registry = self.env.registry
        for outbox_id in ids:
            with registry.cursor() as cr:
                cr.execute(
                    "UPDATE vt_webmail_outbox SET state = 'sending', write_date = now() "
                    "AT TIME ZONE 'UTC' WHERE id = (SELECT id FROM vt_webmail_outbox "
                    "WHERE id = %s AND state = 'queued' FOR UPDATE SKIP LOCKED) RETURNING id",
                    (outbox_id,))
                taken = cr.fetchone()
            if not taken:
                continue
            with registry.cursor() as cr:
                env = api.Environment(cr, SUPERUSER_ID, dict(self.env.context))
                record = env[self._name].browse(outbox_id)
                results[outbox_id] = record._deliver()
        # the caller's transaction sees the outcome (its cache predates the other cursors)
        self.browse(ids).invalidate_recordset()
        return results

    def _deliver(self):
        """Send this mail (taken: ``sending``) as its owner; record the outcome. Never raises
        for a mail that cannot be sent: it is ``failed``, with why, and kept as a draft."""
        self.ensure_one()
        user = self.user_id
        mine = self.with_user(user).with_context(lang=user.lang or "en_US")
        account = self.account_id.with_user(user)
        files = [(a.name, a.mimetype, a.raw) for a in self.attachment_ids.sorted("id")]
        try:
            result = account._send(
                to=self.email_to, cc=self.email_cc, bcc=self.email_bcc, subject=self.subject,
                body_html=self.body_html, files=files,
                original=self.reply_to_message_id.with_user(user).exists(),
                forwarded=self.forward_message_id.with_user(user).exists(),
                in_reply_to=None if self.reply_to_message_id else self.in_reply_to,
                references=None if self.reply_to_message_id else self.references,
            )
        except (UserError, AccessError) as exc:
            error = exc.args[0]
            _logger.info("Outbox mail %s of user %s not sent: %s", self.id, user.id, error)
            saved = mine._keep_as_draft()
            self.write({"state": "failed", "error": error + (
                "\n" + self.env._("A copy was saved in your Drafts folder.") if saved else "")})
            return {"error": error}
        except Exception:
            # a bug: the mail may or may not have left; never send it again by itself
            _logger.exception("Outbox mail %s: sending failed", self.id)
            self.write({"state": "failed", "error": self.env._(
                "Sending failed unexpectedly. Check your Sent folder before sending it again.")})
            return {"error": self.error}
        warnings = [result["warning"]] if result["warning"] else []
        warnings += mine._after_sent(result)
        self.write({"state": "sent", "sent_at": fields.Datetime.now(),
                    "message_id": result["message_id"], "error": False,
                    "warning": "\n".join(warnings) or False})
        # sudo: the sent mail's files and pictures are not needed any more (it is in Sent)
        self.env["ir.attachment"].sudo().search([
            ("res_model", "=", self._name), ("res_id", "=", self.id)]).unlink()
        return {"sent": True, "warning": self.warning}

    def _after_sent(self, result):
        """After a sent mail: remove the draft it came from; log it on the record asked.
        Returns warnings (the mail is sent: nothing may raise)."""
        warnings = self.account_id._log_sent_on(result["message_id"], self.log_model,
                                                self.log_res_id)
        if self.draft_uid:
            try:
                self.account_id._remove_copy(self.draft_folder, self.draft_uidvalidity,
                                             self.draft_uid)
            except (core_errors.WebmailError, UserError) as exc:
                _logger.info("Draft of outbox mail %s not removed: %s", self.id, exc)
                warnings.append(self.env._(
                    "The draft saved earlier is still in the Drafts folder."))
        return warnings

    def _keep_as_draft(self):
        """Save this unsent mail in the account's Drafts folder (nothing lost); True when
        saved."""
        account = self.account_id
        try:
            message = account._build_outgoing(
                to=self.email_to, cc=self.email_cc, bcc=self.email_bcc, subject=self.subject,
                body_html=self.body_html,
                files=[(a.name, a.mimetype, a.raw) for a in self.attachment_ids.sorted("id")],
                original=self.reply_to_message_id.exists(), draft=True,
                in_reply_to=self.in_reply_to, references=self.references)
            folder, uidvalidity, uid = account._append_copy(
                "drafts", compose.message_bytes(message, bcc=self.email_bcc or ()),
                ("\\Draft", "\\Seen"))
        except (core_errors.WebmailError, UserError, ValueError) as exc:
            _logger.info("Outbox mail %s not saved as a draft: %s", self.id, exc)
            return False
        if not folder:
            return False
        old = (self.draft_folder, self.draft_uidvalidity, self.draft_uid)
        # sudo: the Outbox's bookkeeping, on the owner's own record
        self.sudo().write({"draft_folder": folder, "draft_uidvalidity": uidvalidity,
                           "draft_uid": uid or False})
        if old[2] and old != (folder, uidvalidity, uid):
            try:
                account._remove_copy(*old)
            except (core_errors.WebmailError, UserError) as exc:
                _logger.info("Older draft of outbox mail %s not removed: %s", self.id, exc)
        return True

    def _action_open_undo(self):
        """The small window of a mail waiting for its Undo delay: a countdown, *Undo*, *Send
        now*; when the countdown ends the browser sends it (``vt_webmail_undo_countdown``)."""
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Sending..."),
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "views": [(self.env.ref("vt_webmail.vt_webmail_outbox_view_form_undo").id, "form")],
            "target": "new",
        }
