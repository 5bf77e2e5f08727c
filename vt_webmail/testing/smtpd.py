"""A real SMTP server for tests and the demo: ``aiosmtpd`` on a free loopback port.

:class:`SMTPServer` speaks ESMTP with STARTTLS (or implicit TLS with ``implicit_tls=True``) and
AUTH PLAIN/LOGIN, checks the credentials it was given, and keeps every message it accepted in
:attr:`SMTPServer.messages` so a test can assert on what was really sent, byte for byte.

Given an :class:`~.oauth_server.OAuthServer` (``oauth=``), it also offers AUTH XOAUTH2 (Google's)
and AUTH OAUTHBEARER (RFC 7628), and answers a bad token the way Gmail does: a ``334`` error
challenge (base64 JSON), then ``535 5.7.8`` after the client's reply to it.
"""

import base64
import binascii
import json
import logging
import ssl
import tempfile
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, SMTP, AuthResult, LoginPassword

from .certs import make_test_pki
from .imap_server import free_port

#: the SASL mechanisms offered with ``oauth=``
OAUTH_MECHANISMS = ("XOAUTH2", "OAUTHBEARER")
#: Gmail's answer to a refused OAuth token
CODE_OAUTH_REFUSED = "535 5.7.8 Username and Password not accepted"


@dataclass
class ReceivedMessage:
    """One accepted message: the envelope, the login that sent it (for OAuth: the identity
    the token was issued for) and the SASL mechanism it used, the raw bytes."""

    mail_from: str
    rcpt_tos: list
    data: bytes
    login: str = None
    peer: tuple = field(default=None, repr=False)
    mechanism: str = None


@dataclass(frozen=True)
class Login:
    """What a successful AUTH leaves on the session (``session.auth_data``)."""

    login: str
    mechanism: str


class _Handler:
    def __init__(self, server):
        self.server = server

    async def handle_RCPT(self, smtp, session, envelope, address, rcpt_options):
        # a mailbox the server does not have (``SMTPServer.refused``)
        if address.lower() in self.server.refused:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, smtp, session, envelope):
        auth = session.auth_data if isinstance(session.auth_data, Login) else None
        message = ReceivedMessage(
            mail_from=envelope.mail_from,
            rcpt_tos=list(envelope.rcpt_tos),
            data=envelope.original_content or envelope.content,
            login=auth.login if auth else None,
            peer=session.peer,
            mechanism=auth.mechanism if auth else None,
        )
        with self.server.lock:
            self.server.messages.append(message)
            self.server.received.notify_all()
        return "250 Message accepted for delivery"


class _Controller(Controller):
    def __init__(self, owner, **kwargs):
        self.owner = owner  # not "server": Controller keeps its asyncio server there
        super().__init__(_Handler(owner), **kwargs)

    def factory(self):
        with warnings.catch_warnings():
            # aiosmtpd warns about configurations the tests choose on purpose (AUTH without TLS)
            warnings.simplefilter("ignore")
            return self._make_smtp()

    def _make_smtp(self):
        return _SMTP(
            self.handler,
            oauth=self.owner.oauth,
            auth_exclude_mechanism=() if self.owner.oauth is not None else OAUTH_MECHANISMS,
            hostname="localhost",
            tls_context=self.owner.starttls_context,
            require_starttls=False,
            auth_required=self.owner.auth_required,
            auth_require_tls=self.owner.auth_require_tls,
            authenticator=self.owner.authenticate,
            timeout=30,
        )


class _SMTP(SMTP):
    """aiosmtpd's SMTP with the OAuth mechanisms: aiosmtpd offers every ``auth_<MECH>``
    method of the SMTP class (and of the handler) in EHLO, minus ``auth_exclude_mechanism``."""

    def __init__(self, handler, *, oauth=None, **kwargs):
        self.oauth = oauth
        super().__init__(handler, **kwargs)

    async def auth_XOAUTH2(self, _, args):
        """``user=<login>^Aauth=Bearer <token>^A^A`` (Google's XOAUTH2)."""
        fields = await self._oauth_response(args)
        if fields is None:
            return AuthResult(success=False, handled=True)
        user = fields.get("user")
        error = {"status": "401", "schemes": "Bearer", "scope": "https://mail.google.com/"}
        return await self._oauth_check("XOAUTH2", user, fields.get("auth"), error)

    async def auth_OAUTHBEARER(self, _, args):
        """``n,a=<authzid>,^Ahost=...^Aport=...^Aauth=Bearer <token>^A^A`` (RFC 7628)."""
        fields = await self._oauth_response(args)
        if fields is None:
            return AuthResult(success=False, handled=True)
        user = _gs2_authzid(fields.get("gs2", ""))
        error = {"status": "invalid_token", "schemes": "bearer",
                 "scope": "https://mail.google.com/"}
        return await self._oauth_check("OAUTHBEARER", user, fields.get("auth"), error)

    async def _oauth_response(self, args):
        """The client's first response as ``{key: value}`` (the GS2 header, if any, under
        ``"gs2"``), or ``None`` once an error answer has been sent."""
        if len(args) == 1:  # no initial response: ask for it with an empty challenge
            raw = await self.challenge_auth("")
            if raw is MISSING:
                return None
        else:
            try:
                raw = base64.b64decode(args[1], validate=True)
            except binascii.Error:
                await self.push("501 5.5.2 Can't decode base64")
                return None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            await self.push("501 5.5.2 Invalid authentication response")
            return None
        parts = text.split("\x01")
        fields = {}
        if parts[0].startswith(("n,", "y,", "p=")):
            fields["gs2"] = parts.pop(0)
        for part in parts:
            key, sep, value = part.partition("=")
            if sep:
                fields[key] = value
        return fields

    async def _oauth_check(self, mechanism, user, authorization, error):
        token = ""
        if authorization and authorization[:7].lower() == "bearer ":
            token = authorization[7:].strip()
        identity = self.oauth.token_identity(token) if token else None
        if identity is not None and user and user.lower() == identity.lower():
            return AuthResult(success=True, auth_data=Login(identity, mechanism))
        # the error challenge; the client answers it (empty line, or ^A for OAUTHBEARER), and
        # only then comes the final 535, as Gmail does it
        reply = await self.challenge_auth(json.dumps(error, separators=(",", ":")))
        if reply is MISSING:  # "*", or not base64: aiosmtpd has already answered 501
            return AuthResult(success=False, handled=True)
        return AuthResult(success=False, handled=False, message=CODE_OAUTH_REFUSED)


def _gs2_authzid(header):
    """The authorization identity of a GS2 header ``n,a=<authzid>,`` (RFC 5801), decoded."""
    for part in header.split(",")[1:2]:
        if part.startswith("a="):
            return part[2:].replace("=2C", ",").replace("=3D", "=")
    return None


class SMTPServer:
    """An ESMTP server with STARTTLS and AUTH on 127.0.0.1; a context manager.

    :param users: ``{login: password}`` accepted by AUTH
    :param implicit_tls: serve TLS from the first byte (port 465 style) instead of STARTTLS
    :param auth_required: refuse MAIL FROM before a successful AUTH
    :param auth_require_tls: refuse AUTH on a connection that is not encrypted
    :param oauth: an :class:`~.oauth_server.OAuthServer`: then AUTH XOAUTH2 and OAUTHBEARER
        are offered too, and accept an access token of that server issued for the login
    """

    host = "127.0.0.1"
    hostname = "localhost"

    def __init__(self, users=None, *, implicit_tls=False, auth_required=True,
                 auth_require_tls=False, pki=None, oauth=None):
        self.users = dict(users or {"sender": "sender-password"})
        self.oauth = oauth
        self.implicit_tls = implicit_tls
        self.auth_required = auth_required
        self.auth_require_tls = auth_require_tls
        self._tmp = None
        if pki is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="vt-smtpd-")
            pki = make_test_pki(Path(self._tmp.name))
        self.pki = pki
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(pki.cert_path, pki.key_path)
        self.starttls_context = None if implicit_tls else context
        self._implicit_context = context if implicit_tls else None
        self.port = free_port(self.host)
        self.messages = []
        #: addresses (lower case) refused at RCPT TO with 550, as a server without them does
        self.refused = set()
        self.lock = threading.Lock()
        self.received = threading.Condition(self.lock)
        self._controller = None

    @property
    def ca_path(self):
        return self.pki.ca_path

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode()
        ok = self.users.get(login) == auth_data.password.decode()
        return AuthResult(success=ok, handled=False,
                          auth_data=Login(login, mechanism) if ok else None)

    def start(self):
        # aiosmtpd logs every session at INFO and warns about AUTH without TLS, on purpose here
        logging.getLogger("mail.log").setLevel(logging.ERROR)
        self._controller = _Controller(
            self, hostname=self.host, port=self.port, ssl_context=self._implicit_context,
        )
        self._controller.start()
        return self

    def stop(self):
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def close(self):
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.close()

    def wait_for(self, count=1, timeout=10):
        """Block until at least ``count`` messages arrived; return the list."""
        with self.received:
            self.received.wait_for(lambda: len(self.messages) >= count, timeout)
            return list(self.messages)

    def clear(self):
        with self.lock:
            self.messages.clear()
