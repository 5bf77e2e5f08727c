"""Typed errors of the engine.

Every failure the engine can meet on the network or in a mail is one of these classes, each with
a stable :attr:`WebmailError.code` that the ORM layer turns into a translated, plain-words message
(``models/vt_webmail_account.py``). The English text in ``str(error)`` is for logs and for code
that runs without Odoo. No error message ever contains a password.
"""


class WebmailError(Exception):
    """Base class. ``code`` names the failure; ``host`` and ``detail`` say where and what."""

    code = "error"
    summary = "The mail server could not be used"

    def __init__(self, detail=None, *, host=None):
        self.detail = detail
        self.host = host
        text = self.summary
        if host:
            text = f"{text} ({host})"
        if detail:
            text = f"{text}: {detail}"
        super().__init__(text)


# -- reaching the server ------------------------------------------------------------------------

class ConnectionFailed(WebmailError):
    """The server could not be reached or the secure channel could not be set up."""

    code = "connection_failed"
    summary = "Could not connect to the mail server"


class HostNotFound(ConnectionFailed):
    code = "host_not_found"
    summary = "Host not found"


class HostRefused(ConnectionFailed):
    """The outgoing-connection policy does not allow this host and port: nothing was tried
    (see :mod:`.net_policy`). Said the same way whatever is, or is not, listening there."""

    code = "host_refused"
    summary = "Connections to this server are not allowed here"


class ConnectionRefused(ConnectionFailed):
    code = "connection_refused"
    summary = "Connection refused"


class ConnectionTimeout(ConnectionFailed):
    code = "timeout"
    summary = "The server did not answer in time"


class TLSHandshakeFailed(ConnectionFailed):
    code = "tls_failed"
    summary = "TLS handshake failed"


class CertificateUntrusted(TLSHandshakeFailed):
    code = "certificate_untrusted"
    summary = "The server certificate is not trusted"


class HostnameMismatch(TLSHandshakeFailed):
    code = "hostname_mismatch"
    summary = "The server certificate is not valid for this host name"


class StartTLSUnavailable(TLSHandshakeFailed):
    code = "starttls_unavailable"
    summary = "The server does not offer STARTTLS"


# -- talking to it ------------------------------------------------------------------------------

class LoginRejected(WebmailError):
    code = "login_rejected"
    summary = "The server rejected the login or password"


class TokenRejected(LoginRejected):
    """The server refused the OAuth 2.0 access token (expired, revoked, wrong scope): a fresh
    one may do (:func:`~.oauth.refresh`)."""

    code = "token_rejected"
    summary = "The server rejected the sign-in token"


class ServerGone(WebmailError):
    """The connection dropped in the middle of a session (server stopped, network cut)."""

    code = "server_gone"
    summary = "The connection to the mail server was lost"


class ProtocolError(WebmailError):
    """The server answered something the engine cannot use (a malformed or refused command)."""

    code = "protocol_error"
    summary = "The mail server sent an unexpected answer"


class ResponseTooLarge(ProtocolError):
    """The server sent more than the engine accepts for one command: a literal, a line, a
    number of responses, folders or capabilities above the limits of :mod:`.imap_limits`.
    The connection is dropped; nothing already cached is touched."""

    code = "response_too_large"
    summary = "The mail server sent more than is accepted"


class ServerTooSlow(WebmailError):
    """The session outlived its overall deadline (:attr:`.imap_session.ServerSettings.deadline`):
    a server that keeps sending a trickle of bytes never trips the per-read timeout, so the
    session is cut at the deadline. What was stored before stays stored."""

    code = "too_slow"
    summary = "The mail server took too long"


class FolderReadOnly(ProtocolError):
    """The server opens the folder read-only (``[READ-ONLY]`` to a SELECT: a shared folder the
    user may only read): nothing in it can be changed."""

    code = "folder_read_only"
    summary = "The folder can only be read on the server"


class FolderNotFound(WebmailError):
    code = "folder_not_found"
    summary = "The folder does not exist on the server"


class MessageGone(WebmailError):
    """The message is no longer on the server (expunged or moved by another client)."""

    code = "message_gone"
    summary = "The message is no longer on the server"


class MessageTooLarge(WebmailError):
    code = "message_too_large"
    summary = "The message is too large to be shown here"


# -- OAuth 2.0 ----------------------------------------------------------------------------------

class OAuthError(WebmailError):
    """The OAuth provider refused a request, or answered something unusable."""

    code = "oauth_failed"
    summary = "The sign-in provider refused the request"


class GrantRevoked(OAuthError):
    """The refresh token is no longer valid (revoked, expired, password changed): the user must
    sign in again."""

    code = "oauth_grant_revoked"
    summary = "The sign-in is no longer valid"


# -- sending ------------------------------------------------------------------------------------

class SendFailed(WebmailError):
    """The outgoing server refused or dropped the message."""

    code = "send_failed"
    summary = "The mail could not be sent"


class RecipientsRefused(SendFailed):
    code = "recipients_refused"
    summary = "The outgoing server refused the recipients"
