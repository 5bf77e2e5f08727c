"""Answering and forwarding a cached mail: the compose window prefilled (``vt_webmail.compose``,
wizards/), its recipients, the Reply-To asked from the server, the attachments a forward
carries. Sending itself is ``vt_webmail.account.send_mail``."""

import logging
from email import message_from_bytes
from email.policy import default as default_email_policy

from odoo import models
from odoo.exceptions import UserError

from ..core import compose
from ..core import exceptions as core_errors
from ..core.mime import parse_message
from .vt_webmail_message_imap import MAX_BODY_FETCH

_logger = logging.getLogger(__name__)


class VtWebmailMessage(models.Model):
    _inherit = "vt_webmail.message"

    def action_reply(self):
        """Open the compose window with a reply to this mail's sender (or its Reply-To)."""
        return self._open_compose("reply")

    def action_reply_all(self):
        """Open the compose window with a reply to the sender and everyone else it went to."""
        return self._open_compose("reply_all")

    def action_forward(self):
        """Open the compose window with this mail and its attachments, to forward."""
        return self._open_compose("forward")

    def action_edit_draft(self):
        """Reopen this draft (a mail of the Drafts folder, or flagged ``\\Draft``) in the
        compose window: recipients (Bcc too), subject, body with its pictures, attachments and
        In-Reply-To/References as saved. Saving it again replaces this copy on the server;
        sending it removes it."""
        self.ensure_one()
        self._check_owner()
        if not (self.is_draft or self.folder_id.role == "drafts"):
            raise UserError(self.env._("Only a draft can be edited; reply or forward instead."))
        with self.env["vt_webmail.account"]._imap_request():
            try:
                with self.account_id._imap_connect() as session:
                    session.select(self.folder_id.name, readonly=True)
                    raw = session.fetch_message(self.uid, max_size=MAX_BODY_FETCH)
            except core_errors.WebmailError as exc:
                raise UserError(self.env._("The draft cannot be opened. %s",
                                           self.account_id._error_message(exc))) from exc
            wizard = self.env["vt_webmail.compose"]._create_from_draft(self, raw)
        return wizard._action_open()

    def _draft_values(self, raw):
        """``(values, files, inline)`` of the compose window reopening the draft ``raw``:
        the window's field values, the attached files and the pictures its body shows, as
        ``(filename, content_type, bytes[, content_id])``."""
        self.ensure_one()
        parsed = parse_message(raw)
        headers = parsed.headers
        end = raw.find(b"\r\n\r\n")
        try:
            bcc = message_from_bytes(raw[: end + 4] if end >= 0 else raw,
                                     policy=default_email_policy).get_all("Bcc") or []
            bcc = ", ".join(" ".join(str(value).split()) for value in bcc)
        except (ValueError, TypeError, IndexError, AttributeError):
            bcc = ""
        values = {
            "account_id": self.account_id.id,
            "email_to": " ".join(headers.email_to.split()) or False,
            "email_cc": " ".join(headers.email_cc.split()) or False,
            "email_bcc": bcc or False,
            "subject": headers.subject or False,
            "draft_folder": self.folder_id.name,
            "draft_uidvalidity": self.uidvalidity,
            "draft_uid": self.uid,
            "in_reply_to": headers.in_reply_to or False,
            "references": headers.references or False,
        }
        if headers.in_reply_to:
            # the mail it answers, when it is in the cache: marked answered once sent
            original = self.search([("user_id", "=", self.env.uid),
                                    ("message_id", "=", headers.in_reply_to.strip())], limit=1)
            if original:
                values.update(mode="reply", reply_to_message_id=original.id)
        inline = [part for part in parsed.attachments if part.inline and part.content_id]
        files = [part for part in parsed.attachments if part not in inline]
        return values, files, inline, parsed.html or ""

    def _open_compose(self, mode):
        self.ensure_one()
        self._check_owner()
        # the quoted body, its parts and the Reply-To come from the server: one session
        with self.env["vt_webmail.account"]._imap_request():
            self._fetch_bodies()
            wizard = self.env["vt_webmail.compose"]._create_from_message(self, mode)
        return wizard._action_open()

    def _reply_recipients(self, reply_all):
        """``(to, cc)`` lists of a reply (see ``core.compose.reply_recipients``); the user's
        addresses (all their accounts) are left out."""
        self.ensure_one()
        # sudo: only the addresses of the caller's own accounts are read
        own = self.env["vt_webmail.account"].sudo().search(
            [("user_id", "=", self.user_id.id)]).mapped("email")
        return compose.reply_recipients(
            self.email_from, self.email_to, self.email_cc, own + [self.account_id.email],
            reply_all, reply_to=self._fetch_reply_to())

    def _fetch_reply_to(self):
        """The Reply-To header of this mail, asked from the server (the cache keeps only the
        list headers); empty when it has none or the server cannot be reached."""
        self.ensure_one()
        item = "BODY.PEEK[HEADER.FIELDS (REPLY-TO)]"
        try:
            with self.account_id._imap_connect() as session:
                session.ensure_selected(self.folder_id.name)
                fetched = session.fetch([self.uid], [item]).get(self.uid) or {}
        except core_errors.WebmailError as exc:
            _logger.info("Reply-To of message %s not read: %s", self.id, exc)
            return ""
        raw = fetched.get(b"BODY[HEADER.FIELDS (REPLY-TO)]") or b""
        try:
            header = message_from_bytes(raw, policy=default_email_policy)["Reply-To"]
            return " ".join(str(header or "").split())
        except (ValueError, TypeError, IndexError, AttributeError):
            # a malformed header: answer the sender rather than a guess
            return ""

    def _inline_attachment_ids(self):
        """Ids of this mail's attachments its body shows (inline images)."""
        self.ensure_one()
        body = self.body_html or ""
        return {attachment.id for attachment in self.attachment_ids
                if f"/vt_webmail/part/{self.id}/{attachment.id}" in body}

    def _forward_attachments(self):
        """The attachments a forward carries: every part but the inline images (which the
        quoted body embeds anyway). Reading the body fetches them first if needed."""
        self.ensure_one()
        inline = self._inline_attachment_ids()
        return self.attachment_ids.filtered(lambda a: a.id not in inline).sorted("id")

    def _forward_files(self):
        """``[(filename, content_type, bytes)]`` of :meth:`_forward_attachments`."""
        return [(attachment.name, attachment.mimetype, attachment.raw)
                for attachment in self._forward_attachments()]
