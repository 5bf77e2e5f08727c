"""Real servers for tests and the demo (no ORM): Dovecot, Cyrus, Courier, aiosmtpd, an OAuth 2.0
authorization server, a throwaway PKI, and a scripted IMAP server that misbehaves on purpose.

Usable from plain pytest (``vt_webmail/tests/core``) and from Odoo test cases
(``vt_webmail/tests/common.py``) alike. Importing this package needs ``imapclient``,
``cryptography`` and, for :mod:`.smtpd`, ``aiosmtpd``; nothing here imports Odoo.
"""

from .certs import TestPKI, make_test_pki
from .courier import CourierServer, CourierUnavailable, find_courier
from .cyrus import CyrusServer, CyrusUnavailable
from .dovecot import DovecotServer, DovecotUnavailable, find_dovecot
from .hostile_imap import SCENARIOS, HostileImapServer
from .imap_server import ImapTestServer, ServerUnavailable, free_port, server_required
from .net import SilentServer, closed_port
from .oauth_server import OAuthServer

#: Every IMAP server software the tests run against, by name.
IMAP_SERVERS = {
    "dovecot": DovecotServer,
    "cyrus": CyrusServer,
    "courier": CourierServer,
}

__all__ = [
    "IMAP_SERVERS",
    "CourierServer",
    "CourierUnavailable",
    "CyrusServer",
    "CyrusUnavailable",
    "DovecotServer",
    "DovecotUnavailable",
    "HostileImapServer",
    "ImapTestServer",
    "OAuthServer",
    "SCENARIOS",
    "ServerUnavailable",
    "SilentServer",
    "TestPKI",
    "closed_port",
    "find_courier",
    "find_dovecot",
    "free_port",
    "make_test_pki",
    "server_required",
]
