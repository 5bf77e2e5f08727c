"""Sending mail over SMTP, with the same security modes and typed errors as the IMAP side.

:func:`send` connects in one of three modes (``ssl``: implicit TLS, usually port 465;
``starttls``: usually 587; ``none``), verifying the certificate and host name with the same
TLS context as IMAP (:func:`.imap_session.make_ssl_context`), logs in when a login is given, and
hands the message over. Every failure is one of the :mod:`.exceptions` classes, mapped like
IMAP's (:func:`.imap_session.translate_errors`) plus the SMTP-specific ones, in one place:
:func:`error_for`, which the Odoo layer also uses for Odoo's own outgoing mail server.

Recipients are all-or-nothing: if the server refuses any of them, the transaction is reset
before DATA and :class:`~.exceptions.RecipientsRefused` says which, so nobody gets a copy that
the sender believes was not sent (a partial send that is then retried would duplicate it).
"""

import contextlib
import re
import smtplib
import socket
from dataclasses import dataclass, field

from . import exceptions, net_policy, oauth
from .imap_session import ServerSettings, make_ssl_context, translate_errors

_BCC_HEADER = re.compile(rb"^(?:resent-)?bcc:.*(?:\r?\n[ \t].*)*\r?\n",
                         re.IGNORECASE | re.MULTILINE)
_LINE_END = re.compile(rb"\r?\n|\r")


@dataclass(frozen=True)
class SmtpSettings(ServerSettings):
    """Where and how to send: :class:`~.imap_session.ServerSettings` (same security modes,
    same validation, ``password`` never in ``repr()``) with SMTP's defaults.

    :attr login: empty or None: no AUTH (a relay that trusts the network)
    :attr security: ``"ssl"`` (implicit TLS), ``"starttls"`` (the default) or ``"none"``
    """

    login: str = None
    password: str = field(default=None, repr=False)
    security: str = "starttls"


def send(settings, message, *, envelope_from, recipients):
    """Send ``message`` to ``recipients``.

    :param settings: :class:`SmtpSettings`
    :param message: an :class:`email.message.EmailMessage` (see :func:`.compose.build_message`)
        or RFC 5322 bytes; ``Bcc`` headers are removed from what is sent
    :param envelope_from: the MAIL FROM address (bounces go there)
    :param recipients: the RCPT TO addresses, Bcc included (see :func:`.compose.recipients`)
    :raises exceptions.ConnectionFailed: and its subclasses (host not found, refused, timeout,
        TLS, untrusted certificate, host name mismatch, STARTTLS not offered)
    :raises exceptions.LoginRejected: the server refused the credentials, or offers no AUTH
    :raises exceptions.RecipientsRefused: the server refused at least one recipient (nothing
        was sent); ``error.refused`` is ``{address: (code, server's answer)}``
    :raises exceptions.SendFailed: the sender, the message or the connection failed at the
        sending stage
    """
    recipients = [str(address).strip() for address in recipients if str(address).strip()]
    if not recipients:
        raise exceptions.RecipientsRefused("no recipient given", host=settings.host)
    data = _wire_bytes(message)
    client = _connect(settings)
    try:
        if settings.access_token:
            with _errors(settings.host, stage="login"):
                _oauth_login(client, settings)
        elif settings.login:
            with _errors(settings.host, stage="login"):
                client.login(settings.login, settings.password or "")
        with _errors(settings.host, stage="send"):
            _transaction(client, settings.host, envelope_from, recipients, data)
    finally:
        _close(client)


def _oauth_login(client, settings):
    """AUTH with the access token: OAUTHBEARER when offered, else XOAUTH2; a refusal is
    :class:`~.exceptions.TokenRejected`."""
    offered = {name.upper() for name in (client.esmtp_features.get("auth") or "").split()}
    if "OAUTHBEARER" in offered:
        mechanism = "OAUTHBEARER"
        response = oauth.oauthbearer_response(settings.login, settings.access_token,
                                              settings.host, settings.port)
    elif "XOAUTH2" in offered:
        mechanism = "XOAUTH2"
        response = oauth.xoauth2_response(settings.login, settings.access_token)
    else:
        raise exceptions.LoginRejected(
            "the server offers no OAuth 2.0 login (AUTH XOAUTH2 or OAUTHBEARER)",
            host=settings.host)
    responder = oauth.SaslResponder(mechanism, response)
    try:
        client.auth(mechanism, responder)
    except smtplib.SMTPAuthenticationError as exc:
        raise exceptions.TokenRejected(
            responder.error or f"{exc.smtp_code} {_text(exc.smtp_error)}", host=settings.host)


def _connect(settings):
    """An SMTP client, connected, greeted (EHLO) and encrypted as ``settings`` ask."""
    host = settings.host
    # smtplib would take socket.getfqdn() for EHLO: a reverse DNS lookup with no timeout
    local_name = socket.gethostname() or "localhost"
    with _errors(host, stage="connect"):
        # checked before anything is tried; then only the addresses checked are connected to
        addresses = settings.policy.resolve(host, settings.port) \
            if settings.policy is not None else None
        context = make_ssl_context(settings) if settings.security != "none" else None
        # the constructor connects and reads the greeting (smtplib verifies the certificate
        # against ``host``, the name it connected to)
        if settings.security == "ssl":
            client = _PinnedSMTP_SSL(host, settings.port, local_hostname=local_name,
                                     timeout=settings.timeout, context=context,
                                     addresses=addresses)
        else:
            client = _PinnedSMTP(host, settings.port, local_hostname=local_name,
                                 timeout=settings.timeout, addresses=addresses)
    try:
        with _errors(host, stage="connect"):
            client.ehlo_or_helo_if_needed()
            if settings.security == "starttls":
                if not client.has_extn("starttls"):
                    raise exceptions.StartTLSUnavailable(host=host)
                client.starttls(context=context)
                client.ehlo()
    except BaseException:
        _close(client)
        raise
    return client


class _PinnedSMTP(smtplib.SMTP):
    """smtplib's client connecting to the addresses the policy checked (see
    :mod:`.net_policy`); ``_get_socket`` is smtplib's own hook for this (SMTP_SSL uses it)."""

    def __init__(self, *args, addresses=None, **kwargs):
        self._addresses = addresses
        super().__init__(*args, **kwargs)

    def _get_socket(self, host, port, timeout):
        if self._addresses is None:
            return super()._get_socket(host, port, timeout)
        return net_policy.connect_pinned(self._addresses, port, timeout)


class _PinnedSMTP_SSL(_PinnedSMTP, smtplib.SMTP_SSL):
    def _get_socket(self, host, port, timeout):
        if self._addresses is None:
            return smtplib.SMTP_SSL._get_socket(self, host, port, timeout)
        sock = net_policy.connect_pinned(self._addresses, port, timeout)
        return self.context.wrap_socket(sock, server_hostname=self._host)


def _transaction(client, host, envelope_from, recipients, data):
    options = []
    if client.does_esmtp:
        if client.has_extn("size"):
            limit = int((client.esmtp_features.get("size") or "0").split()[0] or 0)
            if limit and len(data) > limit:
                raise exceptions.SendFailed(
                    f"the message is {len(data) / 1e6:.1f} MB, the server accepts at most "
                    f"{limit / 1e6:.1f} MB", host=host)
            options.append(f"SIZE={len(data)}")
        if client.has_extn("8bitmime") and max(data, default=0) > 127:
            options.append("BODY=8BITMIME")
    international = not envelope_from.isascii() or not all(r.isascii() for r in recipients)
    if international or _has_utf8_headers(data):
        if not client.has_extn("smtputf8"):
            raise exceptions.SendFailed(
                "the server cannot send to or from international (non-ASCII) addresses",
                host=host)
        options.append("SMTPUTF8")

    code, answer = client.mail(envelope_from, options)
    if code != 250:
        raise exceptions.SendFailed(f"sender {envelope_from} refused: {code} {_text(answer)}",
                                    host=host)
    refused = {}
    for address in recipients:
        code, answer = client.rcpt(address)
        if code not in (250, 251):
            refused[address] = (code, _text(answer))
    if refused:
        with contextlib.suppress(smtplib.SMTPException, OSError):
            client.rset()
        raise _recipients_refused(refused, host)
    client.data(data)  # raises SMTPDataError unless the server says 250


def error_for(exc, host, *, stage):
    """The :mod:`.exceptions` error for an exception met while sending mail: smtplib's, or a
    socket or TLS error (mapped as for IMAP, :func:`.imap_session.translate_errors`).

    The one SMTP error mapping of the addon: :func:`send` uses it, and so does the Odoo layer
    for the errors of Odoo's own outgoing mail server (``ir.mail_server``).

    :param stage: ``"connect"`` (up to and including STARTTLS; with Odoo's server, the login
        too), ``"login"`` or ``"send"`` (MAIL, RCPT, DATA): a refusal is a
        :class:`~.exceptions.ConnectionFailed`, :class:`~.exceptions.LoginRejected` or
        :class:`~.exceptions.SendFailed` accordingly
    :returns: a :class:`~.exceptions.WebmailError` (``exc`` itself when it is one already),
        or None for any other exception: a bug, to be let through
    """
    if isinstance(exc, exceptions.WebmailError):
        return exc
    failed = {"connect": exceptions.ConnectionFailed,
              "login": exceptions.LoginRejected}.get(stage, exceptions.SendFailed)
    # smtplib's exceptions are OSError subclasses: they are matched before the socket errors
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        cause = exc.__context__
        if isinstance(cause, OSError) and not isinstance(cause, smtplib.SMTPException):
            # smtplib reports a read timeout (a silent server) or a reset as a disconnection
            return error_for(cause, host, stage=stage)
        if stage == "send":
            return exceptions.SendFailed(f"the connection was lost: {_text(exc)}", host=host)
        return exceptions.ConnectionFailed(_text(exc), host=host)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return exceptions.LoginRejected(f"{exc.smtp_code} {_text(exc.smtp_error)}", host=host)
    if isinstance(exc, smtplib.SMTPNotSupportedError) and stage == "login":
        return exceptions.LoginRejected("the server offers no login (AUTH)", host=host)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return _recipients_refused(
            {address: (code, _text(answer))
             for address, (code, answer) in exc.recipients.items()}, host)
    if isinstance(exc, smtplib.SMTPResponseException):
        # SMTPConnectError, SMTPHeloError, SMTPSenderRefused, SMTPDataError, AUTH errors
        return failed(f"{exc.smtp_code} {_text(exc.smtp_error)}", host=host)
    if isinstance(exc, smtplib.SMTPException):
        return failed(_text(exc), host=host)
    if isinstance(exc, OSError):
        try:
            with translate_errors(host, connecting=stage == "connect"):
                raise exc
        except exceptions.WebmailError as mapped:
            return mapped
    return None


@contextlib.contextmanager
def _errors(host, *, stage):
    """:func:`error_for` around a block; anything else as
    :func:`.imap_session.translate_errors` maps it (malformed answers included)."""
    with translate_errors(host, connecting=stage == "connect"):
        try:
            yield
        except smtplib.SMTPException as exc:
            raise error_for(exc, host, stage=stage) from exc


def _recipients_refused(refused, host):
    """:class:`~.exceptions.RecipientsRefused` for ``{address: (code, answer)}``; the dict is
    its ``refused`` attribute."""
    error = exceptions.RecipientsRefused(
        ", ".join(f"{address} ({code} {answer})" for address, (code, answer)
                  in refused.items()), host=host)
    error.refused = refused
    return error


def _wire_bytes(message):
    """The bytes to send: CRLF line ends, no Bcc header."""
    if isinstance(message, (bytes, bytearray, memoryview)):
        data = bytes(message)
    else:
        data = message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
    data = _LINE_END.sub(b"\r\n", data)
    head, separator, body = data.partition(b"\r\n\r\n")
    head = _BCC_HEADER.sub(b"", head + b"\r\n")[:-2]
    return head + separator + body


def _has_utf8_headers(data):
    head = data.partition(b"\r\n\r\n")[0]
    return max(head, default=0) > 127


def _close(client):
    try:
        client.quit()
    except Exception:  # the connection is unusable: just drop it
        with contextlib.suppress(Exception):
            client.close()


def _text(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, BaseException):
        return str(value.args[0] if len(value.args) == 1 else value)
    return str(value)
