"""A real SMTP server for tests and the demo: ``aiosmtpd`` on a free loopback port.

:class:`SMTPServer` speaks ESMTP with STARTTLS (or implicit TLS with ``implicit_tls=True``) and
AUTH PLAIN/LOGIN, checks the credentials it was given, and keeps every message it accepted in
:attr:`SMTPServer.messages` so a test can assert on what was really sent, byte for byte.
"""

import logging
import ssl
import tempfile
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from .certs import make_test_pki
from .imap_server import free_port


@dataclass
class ReceivedMessage:
    """One accepted message: the envelope, the login that sent it, the raw bytes."""

    mail_from: str
    rcpt_tos: list
    data: bytes
    login: str = None
    peer: tuple = field(default=None, repr=False)


class _Handler:
    def __init__(self, server):
        self.server = server

    async def handle_DATA(self, smtp, session, envelope):
        login = session.auth_data if isinstance(session.auth_data, str) else None
        message = ReceivedMessage(
            mail_from=envelope.mail_from,
            rcpt_tos=list(envelope.rcpt_tos),
            data=envelope.original_content or envelope.content,
            login=login,
            peer=session.peer,
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
        return SMTP(
            self.handler,
            hostname="localhost",
            tls_context=self.owner.starttls_context,
            require_starttls=False,
            auth_required=self.owner.auth_required,
            auth_require_tls=self.owner.auth_require_tls,
            authenticator=self.owner.authenticate,
            timeout=30,
        )


class SMTPServer:
    """An ESMTP server with STARTTLS and AUTH on 127.0.0.1; a context manager.

    :param users: ``{login: password}`` accepted by AUTH
    :param implicit_tls: serve TLS from the first byte (port 465 style) instead of STARTTLS
    :param auth_required: refuse MAIL FROM before a successful AUTH
    :param auth_require_tls: refuse AUTH on a connection that is not encrypted
    """

    host = "127.0.0.1"
    hostname = "localhost"

    def __init__(self, users=None, *, implicit_tls=False, auth_required=True,
                 auth_require_tls=False, pki=None):
        self.users = dict(users or {"sender": "sender-password"})
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
        return AuthResult(success=ok, handled=False, auth_data=login if ok else None)

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
