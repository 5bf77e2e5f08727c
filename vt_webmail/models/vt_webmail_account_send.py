"""Sending from an account: the public ``send_mail`` (XML-RPC, the compose window), the MIME
message built by ``core/compose.py``, its transmission (the account's SMTP server or Odoo's
outgoing mail server), then the copy in Sent and the original marked answered, in one IMAP
login (one request)."""

import base64
import binascii
import contextlib
import dataclasses
import email
import email.message
import logging
import mimetypes
import re
from xmlrpc.client import MAXINT

from markupsafe import Markup

from odoo import fields, models, tools
from odoo.exceptions import AccessError, MissingError, UserError

from odoo.addons.base.models.ir_mail_server import MailDeliveryException

from ..compat import mail_server_connect
from ..core import addresses, compose, smtp
from ..core import exceptions as core_errors
from ..core.sync import summary_from_fetch, sync_folder
from ..tools.sync_store import OdooSyncStore
from .vt_webmail_account import SMTP_DEFAULT_PORTS

#: Pictures of an outgoing body that only this server can serve (see ``_image_source``).
PART_URL = re.compile(r"^/vt_webmail/part/(\d+)/(\d+)(?:[/?#]|$)")
ATTACHMENT_URL = re.compile(r"^/web/(?:image|content)/(\d+)(?:[-/?#]|$)")
def _odoo_send_error(exc, host, *, connecting):
    """The engine error matching an exception of Odoo's ``ir.mail_server`` (None: a bug).

    Odoo's own exceptions are read here; smtplib's, the socket's and TLS's are mapped by the
    engine's one SMTP mapping (:func:`..core.smtp.error_for`; Odoo's ``connect`` logs in too,
    so a refusal there is a connection failure unless it is the login's).
    """
    if isinstance(exc, MailDeliveryException):
        # raised while handling the real error, which tells more than Odoo's summary
        cause = exc.__context__
        return (cause is not None and _odoo_send_error(cause, host, connecting=False)) \
            or core_errors.SendFailed(_text(exc.args[-1]), host=host)
    if isinstance(exc, UserError):  # no server configured, an unusable certificate
        return core_errors.SendFailed(_text(exc.args[0]), host=host)
    if isinstance(exc, AssertionError):  # Odoo's checks of the sender and recipients
        return core_errors.SendFailed(_text(exc.args[0] if exc.args else exc), host=host)
    return smtp.error_for(exc, host, stage="connect" if connecting else "send")

def _text(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


_logger = logging.getLogger(__name__)


class VtWebmailAccount(models.Model):
    _inherit = "vt_webmail.account"

    max_message_size = fields.Integer(
        string="Largest mail (MB)", default=25,
        help="Attachments making a mail larger than this are refused before anything is sent "
             "(most servers take 25 MB at most; 0: no limit).")
    signature_html = fields.Html(
        string="Signature", sanitize_style=True,
        help="Added to new mails, replies and forwards from this account; when empty, the "
             "company's signature (Settings > Webmail).")

    def action_compose(self):
        """Open the compose window with this account as the sender."""
        self.ensure_one()
        self._check_sender()
        return self.env["vt_webmail.compose"].create({"account_id": self.id})._action_open()

    def send_mail(self, to, subject, body_html, cc=None, bcc=None, attachments=None,
                  reply_to_message_id=None, forward_message_id=None, reply_all=False,
                  send_at=None):
        """Send a mail from this account (XML-RPC: ``execute_kw(db, uid, password,
        'vt_webmail.account', 'send_mail', [[account_id]], {'to': ..., ...})``).

        The mail goes out through the account's SMTP server (or Odoo's outgoing mail server
        when the account says so), then a copy is saved in the account's Sent folder, marked
        read; a replied mail is marked answered. Only the owner of the account can send.

        :param to: recipients, ``"a@example.com, Bee <b@example.org>"``; when replying and
            both ``to`` and ``cc`` are empty, the reply's recipients (the original's Reply-To
            or sender; with ``reply_all``, everyone else it was sent to)
        :param subject: the subject; when empty for a reply or a forward, ``Re:`` or ``Fwd:``
            and the original's subject
        :param body_html: the body, in HTML (a text alternative is made from it); pictures
            of this Odoo and ``data:`` images are sent inside the mail
        :param cc: recipients, as ``to``
        :param bcc: blind recipients, as ``to``: they receive the mail and appear in no
            header of what is sent (only in the copy in Sent)
        :param attachments: list of ``[filename, base64 data, mimetype]`` (the mimetype may be
            left out: it is guessed from the file name)
        :param reply_to_message_id: id of a ``vt_webmail.message`` this mail answers: sets
            In-Reply-To and References, and marks the original answered (``\\Answered``)
        :param forward_message_id: id of a ``vt_webmail.message`` forwarded: its attachments
            are sent along (give the forwarded text in ``body_html``)
        :param reply_all: with ``reply_to_message_id`` and no ``to``/``cc``: answer everyone
        :param send_at: send later: ``"YYYY-MM-DD HH:MM:SS"`` (UTC); the mail is checked now
            and waits in the Outbox (``vt_webmail.outbox``), then the scheduled action sends
            it; the result's ``outbox_id`` names it (``message_id`` is False until sent)
        :returns: ``{"message_id": "<...>", "sent_uid": int or False, "warning": str or
            False}``: the Message-Id sent, the UID of the copy in Sent (False when no copy
            could be saved; a float above 2**31 - 1, like every large integer Odoo returns over
            XML-RPC), and what went wrong after the mail was sent, if anything (the mail is
            sent then: do not send it again)
        :raises UserError: the mail was not sent, and why in plain words (wrong address, no
            recipient, server unreachable, password refused, recipient refused ...)
        :raises AccessError: the account or a message is not the caller's
        """
        self.ensure_one()
        self._check_sender()
        original = self._sending_original(reply_to_message_id)
        forwarded = self._sending_original(forward_message_id)
        if original and forwarded:
            raise UserError(self.env._("A mail is either a reply or a forward, not both."))
        files = self._decode_attachments(attachments)
        when = self._send_at_arg(send_at)
        with self._imap_request():  # one login for the original's body, Reply-To, Sent copy
            return self._send_mail_in_request(original, forwarded, files, to, cc, bcc, subject,
                                              body_html, reply_all, when)

    def _send_at_arg(self, send_at):
        if send_at in (None, False, ""):
            return None
        try:
            return fields.Datetime.to_datetime(send_at)
        except (ValueError, TypeError):
            raise UserError(self.env._(
                "send_at is a date and time as \"YYYY-MM-DD HH:MM:SS\" (UTC)."))

    def _send_mail_in_request(self, original, forwarded, files, to, cc, bcc, subject, body_html,
                              reply_all, send_at=None):
        if forwarded:
            forwarded._fetch_bodies()
            files = forwarded._forward_files() + files
        to, cc, bcc = (self._text_arg(to, "to"), self._text_arg(cc, "cc"),
                       self._text_arg(bcc, "bcc"))
        subject = self._text_arg(subject, "subject")
        if original and not to.strip() and not cc.strip():
            to, cc = (", ".join(addresses) for addresses in original._reply_recipients(reply_all))
        if not subject.strip() and (original or forwarded):
            subject = (compose.reply_subject(original.subject) if original
                       else compose.forward_subject(forwarded.subject))
        body_html = self._text_arg(body_html, "body_html")
        if send_at:
            # checked now (addresses, size), sent when due by the scheduled action
            self._build_outgoing(to=to, cc=cc, bcc=bcc, subject=subject, body_html=body_html,
                                 files=files, original=original)
            self._check_size(files)
            outbox = self.env["vt_webmail.outbox"]._queue(self, {
                "email_to": to, "email_cc": cc, "email_bcc": bcc, "subject": subject,
                "body_html": body_html, "reply_to_message_id": original.id,
                "forward_message_id": forwarded.id}, files, send_at, is_undo=False)
            return {"message_id": False, "sent_uid": False, "warning": False,
                    "outbox_id": outbox.id}
        return self._send(to=to, cc=cc, bcc=bcc, subject=subject, body_html=body_html,
                          files=files, original=original, forwarded=forwarded)

    def _send(self, *, to, cc, bcc, subject, body_html, files, original=None, forwarded=None,
              in_reply_to=None, references=None):
        """Send, then keep a copy in Sent and mark ``original`` answered.

        Once the server has taken the mail nothing may raise: a failure to save the copy or to
        flag the original becomes the ``warning`` of the result, because an error would make
        the mail look unsent and be sent again.
        """
        self.ensure_one()
        self._check_sender()
        with self._imap_request():  # the Sent copy and the \\Answered flag: one login
            return self._send_in_request(to=to, cc=cc, bcc=bcc, subject=subject,
                                         body_html=body_html, files=files, original=original,
                                         forwarded=forwarded, in_reply_to=in_reply_to,
                                         references=references)

    def _send_in_request(self, *, to, cc, bcc, subject, body_html, files, original,
                         forwarded=None, in_reply_to=None, references=None):
        to, cc, bcc = to or "", cc or "", bcc or ""
        self._check_size(files)
        message = self._build_outgoing(to=to, cc=cc, bcc=bcc, subject=subject,
                                       body_html=body_html, files=files, original=original,
                                       in_reply_to=in_reply_to, references=references)
        try:
            if self.smtp_mode == "odoo":
                self._transmit_with_odoo(message, bcc)
            else:
                self._smtp_send(message, bcc)
        except core_errors.WebmailError as exc:
            _logger.info("Webmail account %s could not send a mail: %s", self.id, exc)
            raise UserError(self._send_error_message(exc)) from exc
        _logger.info("Webmail account %s sent %s", self.id, message["Message-ID"])

        warnings = []
        sent_uid = False
        try:
            if not self.server_saves_sent:
                sent_uid = self._append_copy(
                    "sent", compose.message_bytes(message, bcc=bcc), ("\\Seen",))[2]
                if not sent_uid:
                    warnings.append(self.env._(
                        "No Sent folder was found on the mail server: no copy was kept."))
        except (core_errors.WebmailError, UserError) as exc:
            warnings.append(self.env._(
                "The mail was sent, but no copy could be saved in the Sent folder: %s",
                self._error_message(exc) if isinstance(exc, core_errors.WebmailError)
                else exc.args[0]))
        except Exception:
            # a bug must not make a sent mail look unsent (it would be sent twice)
            _logger.exception("Webmail account %s: saving a sent copy failed", self.id)
            warnings.append(self.env._(
                "The mail was sent, but no copy could be saved in the Sent folder."))
        # \Answered on the answered mail; $Forwarded (RFC 5788, which Thunderbird, Apple Mail
        # and Roundcube show) on the forwarded one
        for mail, flag, failed in (
            (original, "\\Answered", self.env._(
                "The mail was sent, but the original could not be marked as answered: %s")),
            (forwarded, "$Forwarded", self.env._(
                "The mail was sent, but the original could not be marked as forwarded: %s")),
        ):
            if not mail:
                continue
            try:
                mail._set_flag(flag, True)
            except UserError as exc:
                _logger.info("Could not set %s on message %s: %s", flag, mail.id, exc)
                warnings.append(failed % exc.args[0])
        # Qualify: a reply to a qualified mail follows it (vt_webmail_account_qualify.py)
        warnings += self._qualify_after_send(str(message["Message-ID"]),
                                             in_reply_to=message["In-Reply-To"],
                                             references=message["References"])
        return {
            "message_id": str(message["Message-ID"]),
            # XML-RPC integers stop at 2**31 - 1: above, a float, as Odoo reads large integers
            "sent_uid": (float(sent_uid) if sent_uid and sent_uid > MAXINT else sent_uid) or False,
            "warning": "\n".join(warnings) or False,
        }

    def _build_outgoing(self, *, to, cc, bcc, subject, body_html, files, original=None,
                        draft=False, in_reply_to=None, references=None):
        """The :class:`email.message.EmailMessage` of a mail from this account.

        :param in_reply_to: with ``references``, the threading headers as they are (a
            reopened draft whose original is not cached); ``original`` wins
        :raises UserError: a malformed address, or no recipient (unless ``draft``)
        """
        self.ensure_one()
        html, related = compose.embed_images(body_html or "", self._image_source)
        if original:
            in_reply_to, references = compose.reply_references(
                original.message_id, original.references, original.in_reply_to)
        try:
            return compose.build_message(
                from_addr=self._sender_address(), to=to or (), cc=cc or (), bcc=bcc or (),
                subject=subject or "", html=html, attachments=files, related=related,
                in_reply_to=in_reply_to, references=references, draft=draft,
            )
        except ValueError as exc:
            detail = str(exc)
            if "recipient" in detail:
                raise UserError(self.env._("Add at least one recipient."))
            if detail.startswith("not an e-mail address: "):
                raise UserError(self.env._(
                    "%s is not an e-mail address. Check the recipients.",
                    detail.removeprefix("not an e-mail address: ").strip("'\"")))
            raise UserError(self.env._("The mail cannot be built: %s", detail))

    def _signature(self):
        """The signature of a mail from this account (its own, else its owner's company's),
        as a block the composer inserts; empty Markup when there is none."""
        self.ensure_one()
        html = self.signature_html
        if tools.is_html_empty(html):
            # sudo: the company's signature is meant for all its users' mail
            html = (self.user_id.company_id or self.env.company).sudo().vt_webmail_signature_html
        if tools.is_html_empty(html):
            return Markup()
        return Markup('<div class="o_vt_webmail_signature">-- <br>%s</div>') % html

    def _check_size(self, files):
        """Refuse attachments that make the mail larger than the account's limit, saying how
        large they are (base64 makes a file a third larger on the wire)."""
        self.ensure_one()
        if not self.max_message_size or not files:
            return
        total = sum(len(data or b"") for _name, _type, data in files)
        limit = self.max_message_size * 1024 * 1024
        if total * 4 // 3 > limit:
            raise UserError(self.env._(
                "The attachments are too large: %(size)s MB, sent as about %(wire)s MB, above "
                "the %(limit)s MB this account allows. Send a link instead, or fewer files.",
                size=f"{total / 1048576:.1f}", wire=f"{total * 4 / 3 / 1048576:.1f}",
                limit=self.max_message_size))

    def _sender_address(self):
        return addresses.format_address(self.from_name, self.email)

    def _smtp_settings(self):
        """The engine's SMTP settings: the account's own, or its IMAP ones where left empty."""
        self.ensure_one()
        security = self.smtp_security or "starttls"
        return smtp.SmtpSettings(
            host=(self.smtp_host or self.imap_host or "").strip(),
            port=self.smtp_port or SMTP_DEFAULT_PORTS[security],
            security=security,
            verify_certificate=self.verify_certificate,
            ca_pem=self.ca_certificate or None,
            timeout=self._network_timeout(),
            policy=self._net_policy(),
            **self._credentials((self.smtp_login or self.login or "").strip() or None,
                                "smtp_password"),
        )

    def _smtp_send(self, message, bcc):
        """Send through the account's SMTP server; with OAuth 2.0 a refused token is renewed
        once and the login tried again (nothing is sent before the login)."""
        settings = self._smtp_settings()
        envelope = {"envelope_from": self.email.strip(),
                    "recipients": compose.recipients(message, bcc=bcc)}
        try:
            smtp.send(settings, message, **envelope)
        except core_errors.TokenRejected:
            if not settings.access_token:
                raise
            token = self._oauth_access_token(rejected=settings.access_token)
            smtp.send(dataclasses.replace(settings, access_token=token), message, **envelope)

    def _transmit_with_odoo(self, message, bcc):
        """Send through Odoo's outgoing mail server (``ir.mail_server``), unchanged.

        The server is the one Odoo would pick for the sender's address; unlike Odoo's own
        mail, the From header stays the user's (no "on behalf of" rewriting), so what is sent
        is the copy saved in Sent, with the same Message-Id; bounces go to the account.
        Odoo's errors become the engine's, so they read like the account's own SMTP ones.
        """
        # sudo: ir.mail_server is readable by system administrators only; the user neither
        # reads nor changes it here, Odoo's own code uses it to send the user's mail
        # a language in the context: without one, Odoo 18's _() in connect() looks for the uid
        # in the caller's locals and fails on its ``user=None`` parameter
        MailServer = self.env["ir.mail_server"].sudo().with_context(
            domain_bounce_address=self.email.strip(),
            lang=self.env.lang or self.env.user.lang or "en_US")
        sender = str(message["From"])
        server = MailServer._find_mail_server(sender)[0]
        if not server and not tools.config.get("smtp_server"):
            raise UserError(self.env._(
                "Your mail was not sent. Odoo has no outgoing mail server: ask an administrator "
                "to set one up (Settings > Technical > Outgoing Mail Servers), or send with "
                "this account's own SMTP server."))
        host = (server.smtp_host if server else None) or self.env._("Odoo's mail server")
        outgoing = email.message_from_bytes(compose.message_bytes(message), policy=message.policy)
        blind = compose.recipients(email.message.EmailMessage(), bcc=bcc)
        if blind:
            outgoing["Bcc"] = ", ".join(blind)  # Odoo reads then removes it before sending
        stage = "connect"
        try:
            connection = mail_server_connect(MailServer,
                                             mail_server_id=server.id if server else None,
                                             smtp_from=sender)
            if connection is None:
                # ir.mail_server sends nothing while Odoo runs its tests (see its connect())
                return
            try:
                # keep the user's From: Odoo would otherwise rewrite it for the server's
                # from_filter (an "on behalf of" address)
                connection.smtp_from = sender
                stage = "send"
                MailServer.send_email(outgoing, smtp_session=connection)
            finally:
                with contextlib.suppress(Exception):
                    connection.quit()
        except Exception as exc:
            mapped = _odoo_send_error(exc, host, connecting=stage == "connect")
            if mapped is None:
                raise
            raise mapped from exc

    def _send_error_message(self, exc):
        """Why a mail was not sent, in plain words."""
        host = exc.host or self.smtp_host or self.imap_host
        if exc.code == "recipients_refused":
            reason = self.env._("%(host)s refused the recipients: %(detail)s",
                                host=host, detail=exc.detail or "")
        elif exc.code == "send_failed":
            reason = self.env._("%(host)s did not accept the mail: %(detail)s",
                                host=host, detail=exc.detail or "")
        elif exc.code == "server_gone":
            reason = self.env._("The connection to %s was lost.", host)
        else:
            reason = self._error_message(exc)
        return self.env._("Your mail was not sent. %s", reason)

    def _append_copy(self, role, data, flags):
        """APPEND ``data`` to this account's folder of ``role`` and cache it there.

        :returns: ``(folder name, UIDVALIDITY, UID)``; ``(None, None, None)`` when the account
            has no such folder, UID None when the server does not tell it (no UIDPLUS)
        """
        self.ensure_one()
        folder = self.folder_ids.filtered(lambda f: f.role == role)[:1]
        with self._imap_connect() as session:
            name = folder.name
            if not folder:
                # folders not listed yet (a new account): ask the server
                name = next((info.name for info in session.list_folders()
                             if info.selectable and info.role == role), None)
                if not name:
                    return None, None, None
            uid = session.append(name, data, flags=flags)
            info = session.select(name, readonly=True)
            if uid and folder.is_synced:
                # sudo: the owner was checked by the caller; users cannot write the cache.
                # On the request's transaction, committing nothing; its INSERT ... ON
                # CONFLICT DO NOTHING makes a refresh caching the same UID harmless.
                store = OdooSyncStore(folder.sudo(), own_cursor=False)
                if folder.uidvalidity == info.uidvalidity:
                    fetched = session.fetch_summaries([uid])
                    if uid in fetched:
                        store.add(folder.name, info.uidvalidity,
                                  [summary_from_fetch(uid, fetched[uid])])
                else:
                    # the folder's UIDVALIDITY moved since the last refresh (Courier gives an
                    # empty folder a new one in every session): bring it up to date now
                    sync_folder(session, name, folder._sync_state(), store)
        return name, info.uidvalidity, uid

    def _remove_copy(self, folder_name, uidvalidity, uid):
        """Delete a message this account APPENDed (a replaced draft), on the server and in the
        cache; nothing when its folder changed UIDVALIDITY since."""
        self.ensure_one()
        with self._imap_connect() as session:
            info = session.select(folder_name, readonly=False)
            if info.uidvalidity != uidvalidity:
                return
            session.delete([uid])
        # sudo: the owner was checked by the caller; users cannot write the cache
        self.env["vt_webmail.message"].sudo().search([
            ("account_id", "=", self.id), ("folder_id.name", "=", folder_name),
            ("uidvalidity", "=", uidvalidity), ("uid", "=", uid),
        ])._forget()

    def _text_arg(self, value, name):
        """A text argument of :meth:`send_mail` (None and False: empty; a list of addresses is
        joined)."""
        if value in (None, False):
            return ""
        if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
            return ", ".join(value)
        if not isinstance(value, str):
            raise UserError(self.env._("%s must be a text.", name))
        return value

    def _check_sender(self):
        """Only the owner of an account sends from it (administrators may see its settings)."""
        self.check_access("read")
        if not self.env.su and any(account.user_id != self.env.user for account in self):
            raise AccessError(self.env._("Only the owner of a mail account can send from it."))

    def _sending_original(self, message_id):
        """The message a reply or a forward refers to, after checking it is the caller's."""
        if message_id in (None, False):
            return self.env["vt_webmail.message"]
        if isinstance(message_id, bool) or not isinstance(message_id, int):
            raise UserError(self.env._("A message is given by its id (a number)."))
        message = self.env["vt_webmail.message"].browse(message_id).exists()
        if not message:
            raise MissingError(self.env._("The message %s does not exist (any more).",
                                          message_id))
        message._check_owner()
        return message

    def _decode_attachments(self, attachments):
        """``[(filename, content_type, bytes)]`` of the XML-RPC ``attachments`` argument."""
        if not attachments:
            return []
        if not isinstance(attachments, (list, tuple)):
            raise UserError(self.env._(
                "Attachments are a list of [file name, base64 data, mimetype]."))
        files = []
        for entry in attachments:
            if not (isinstance(entry, (list, tuple)) and len(entry) in (2, 3)
                    and all(isinstance(item, str) for item in entry if item is not None)
                    and entry[0] and isinstance(entry[1], str)):
                raise UserError(self.env._(
                    "Attachments are a list of [file name, base64 data, mimetype]."))
            filename, data = entry[0], entry[1]
            try:
                content = base64.b64decode("".join(data.split()), validate=True)
            except (binascii.Error, ValueError):
                raise UserError(self.env._("The data of the attachment %s is not valid "
                                           "base64.", filename))
            content_type = (entry[2] if len(entry) == 3 else None) \
                or mimetypes.guess_type(filename)[0] or "application/octet-stream"
            files.append((filename, content_type, content))
        return files

    def _image_source(self, src):
        """``(filename, content_type, bytes)`` of a picture this server shows in a body being
        sent (a mail's inline image, an attachment pasted in the editor), read with the
        caller's rights; None for anything else (left as it is)."""
        base = (self.env["ir.config_parameter"].sudo().get_param("web.base.url") or "")
        path = src[len(base.rstrip("/")):] if base and src.startswith(base) else src
        Message = self.env["vt_webmail.message"]
        Attachment = self.env["ir.attachment"]
        with contextlib.suppress(AccessError, MissingError):
            if match := PART_URL.match(path):
                message = Message.browse(int(match.group(1))).exists()
                if not message or message.user_id != self.env.user:
                    return None
                attachment = message.attachment_ids.filtered(
                    lambda a: a.id == int(match.group(2)))
                if attachment:
                    return attachment.name, attachment.mimetype, attachment.raw
            elif match := ATTACHMENT_URL.match(path):
                attachment = Attachment.browse(int(match.group(1))).exists()
                if attachment:
                    attachment.check_access("read")
                    return attachment.name, attachment.mimetype, attachment.raw
        return None
