"""Routes serving a user's own mail: its body in a sandboxed frame, inline images, attachments.

Threat model: the mail is written by anyone, so its body and parts are hostile; the caller is
a logged-in user who may try any id. Every route looks the mail up with the caller's rights
(record rules: owner only), so another user's mail, a mail that left the cache or a part of
another mail all answer 404, the same answer as for an id that never existed: nothing tells
them apart. The bytes of a part are then read as superuser (``ir.attachment`` of the addon's
cache), which is safe once the owner was checked.

The body (``/vt_webmail/body/<id>``) is the document of the Webmail form's sandboxed iframe:
the body kept when the mail was fetched, cleaned for the frame (style sheets kept, see
``core/html.py``), served with ``core.html.frame_headers``: a CSP that allows no script, form,
frame, plugin or ``<base>`` and no load but the part route, ``data:`` images and, for a mail
whose remote images the user allowed (or whose sender they trust), http(s) images; the CSP's
own ``sandbox``, ``frame-ancestors 'self'``, ``nosniff``, ``no-referrer``, ``no-store``. It is
a pure read: it never connects to the mail server and never writes (the form calls
``action_open``, which fetches the body if needed, before it loads the frame); a body never
fetched is a notice.

Parts: ``X-Content-Type-Options: nosniff`` always, and a ``Content-Security-Policy`` that
forbids any script or sub-resource, so a part is never run as a page of this site even when
opened directly. Only raster images of a known type are served ``inline`` (an SVG can carry
scripts); everything else is a download (``attachment``) typed ``application/octet-stream``
unless its type is harmless to save.
"""

from markupsafe import Markup, escape

from odoo import http
from odoo.exceptions import AccessError, MissingError
from odoo.http import content_disposition, request

from ..core.html import frame_document, frame_headers
from ..models.vt_webmail_message import INLINE_IMAGE_TYPES

#: Served under their own type when downloaded; anything else is application/octet-stream.
DOWNLOAD_TYPES_KEPT = frozenset({
    "application/pdf", "application/zip", "text/csv", "text/plain", "text/calendar",
    "message/rfc822", "application/msword", "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.oasis.opendocument.text", "application/vnd.oasis.opendocument.spreadsheet",
}) | INLINE_IMAGE_TYPES
SAFE_HEADERS = [
    ("X-Content-Type-Options", "nosniff"),
    ("Content-Security-Policy", "default-src 'none'; img-src 'self'; sandbox"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "private, max-age=3600"),
]


class VtWebmailController(http.Controller):

    @http.route("/vt_webmail/body/<int:message_id>", type="http", auth="user",
                methods=["GET"], readonly=True)
    def body(self, message_id, **kwargs):
        """The body of a mail, the whole document of the form's sandboxed frame.

        Query parameters are ignored: the web client adds some to reload the frame when the
        body changes, but whether remote images load is the mail's setting, read here.
        """
        message = self._owned_message(message_id)
        html, remote = message._frame_body()
        if html is None:
            html = Markup("<p><em>%s</em></p>") % escape(request.env._(
                "The body of this mail has not been read from the mail server yet: "
                "open the mail to read it."))
        headers = frame_headers(request.httprequest.host_url, allow_remote_images=remote)
        return request.make_response(frame_document(html), headers=headers)

    @http.route("/vt_webmail/part/<int:message_id>/<int:attachment_id>", type="http",
                auth="user", methods=["GET"], readonly=True)
    def part(self, message_id, attachment_id, **kwargs):
        """An inline part of a mail (``cid:`` image of its body), shown in the page."""
        attachment = self._owned_attachment(message_id, attachment_id)
        return self._serve(attachment, inline=True)

    @http.route("/vt_webmail/attachment/<int:message_id>/<int:attachment_id>", type="http",
                auth="user", methods=["GET"], readonly=True)
    def attachment(self, message_id, attachment_id, **kwargs):
        """An attachment of a mail, downloaded."""
        attachment = self._owned_attachment(message_id, attachment_id)
        return self._serve(attachment, inline=False)

    def _owned_message(self, message_id):
        """The caller's own mail ``message_id``, with the caller's rights.

        :raises NotFound: for anything else, whoever asks
        """
        Message = request.env["vt_webmail.message"]
        try:
            # search, not browse: the record rules decide, and say nothing of other users' ids
            message = Message.search([("id", "=", message_id),
                                      ("user_id", "=", request.env.user.id)], limit=1)
        except (AccessError, MissingError):
            message = Message
        if not message:
            raise request.not_found()
        return message

    def _owned_attachment(self, message_id, attachment_id):
        """The kept part ``attachment_id`` of the caller's own mail ``message_id``, as superuser.

        :raises NotFound: for anything else, whoever asks
        """
        Message = request.env["vt_webmail.message"]
        message = self._owned_message(message_id)
        # sudo: the message is the caller's (checked above); its parts belong to it
        attachment = request.env["ir.attachment"].sudo().search([
            ("id", "=", attachment_id), ("res_model", "=", Message._name),
            ("res_id", "=", message.id),
        ], limit=1)
        if not attachment:
            raise request.not_found()
        return attachment

    def _serve(self, attachment, inline):
        mimetype = (attachment.mimetype or "").split(";")[0].strip().lower()
        if inline and mimetype in INLINE_IMAGE_TYPES:
            content_type, disposition = mimetype, "inline"
        else:
            content_type = mimetype if mimetype in DOWNLOAD_TYPES_KEPT else \
                "application/octet-stream"
            disposition = "attachment"
        data = attachment.raw or b""
        # Odoo's helper quotes the name (RFC 6266) and always says "attachment"
        header = content_disposition(attachment.name or "attachment")
        if disposition == "inline":
            header = "inline" + header[len("attachment"):]
        headers = [
            ("Content-Type", content_type),
            ("Content-Length", str(len(data))),
            ("Content-Disposition", header),
            *SAFE_HEADERS,
        ]
        return request.make_response(data, headers=headers)
