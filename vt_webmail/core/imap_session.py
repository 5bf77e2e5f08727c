"""IMAP sessions: connect, log in, and the few commands the engine needs.

:func:`connect` opens a session in one of three security modes (``ssl``: implicit TLS,
``starttls``, ``none``), verifying the certificate and the host name unless told not to, and
turns every failure into a typed :mod:`.exceptions` error. :class:`ImapSession` wraps an
``imapclient.IMAPClient`` and adds what imapclient 4.x lacks or gets wrong for a sync engine:

* UID sets are always compressed into ranges and split so that no command line exceeds
  :data:`MAX_COMMAND_BYTES` (imapclient joins UID lists without ranges: 30,000 UIDs make a
  ~180 KB line that Dovecot refuses with "Too long argument");
* FETCH takes a UID set *string* such as ``"1:*"`` (imapclient's ``fetch()`` raises ValueError
  on ranges);
* UID SEARCH is run in UID windows (imaplib reads at most 1 MB per line, so ``SEARCH ALL`` on a
  very large folder fails), or with ESEARCH when offered (RFC 4731, one compact answer);
* QRESYNC ``VANISHED`` responses, which imapclient does not parse, are read from imaplib's
  untagged responses;
* FETCH responses are parsed by :mod:`.fetch_parser` (same result as imapclient's parser, twice
  as fast), with imapclient's parser as the fallback; section names are canonical whatever
  the server echoed (Courier quotes header field names);
* nothing a server sends is trusted: every session has an overall deadline, and sizes, counts
  and numbers are bounded (:mod:`.imap_limits`); an answer that names a UID nobody asked for,
  a number no RFC allows, or contradicts itself is a :class:`~.exceptions.ProtocolError`.

Answers are read the way RFC 3501, 7162 and 4315 allow, not the way one server happens to give
them: SELECT's ``[UIDNEXT]`` and ``[HIGHESTMODSEQ]`` codes are optional (Courier sends no UIDNEXT;
STATUS, then the last message's UID, stand in), ``*`` in a UID set means the highest UID *now* in
the folder (so the engine names explicit upper bounds), ENABLE is used only when offered, and a
command's status is always checked.

Nothing here changes a flag unless asked: folders are opened read-only (EXAMINE) for syncing and
message bodies are fetched with ``BODY.PEEK``.
"""

import contextlib
import functools
import imaplib
import re
import socket
import ssl
from dataclasses import dataclass, field

from imapclient import exceptions as imapclient_errors
from imapclient.imap_utf7 import decode as decode_utf7
from imapclient.imap_utf7 import encode as encode_utf7
from imapclient.imapclient import SocketTimeout
from imapclient.response_parser import parse_fetch_response

from . import exceptions, oauth
from .fetch_parser import FetchLimitError, FetchParseError, canonical_keys, parse_fetch
from .imap_limits import (
    DEFAULT_DEADLINE,
    HEADER_LITERAL_KEEP,
    MAX_CAPABILITIES,
    MAX_FOLDERS,
    MAX_NUMBER32,
    MAX_NUMBER63,
    Guard,
    GuardedIMAPClient,
    SequenceSet,
    checked_number,
)

#: Longest command line we send. Dovecot accepts 64 KB, some servers 8 KB (RFC 7162 asks
#: clients to stay under 8192 octets).
MAX_COMMAND_BYTES = 8000
#: UIDs per UID SEARCH window when ESEARCH is not offered: at most ~11 bytes per UID in the
#: answer, far below imaplib's 1 MB line limit.
SEARCH_WINDOW = 50_000
#: What STATUS is asked for a folder: enough to tell, without selecting it, that nothing changed
#: (servers without CONDSTORE), and UIDNEXT for servers whose SELECT does not say it.
STATUS_ITEMS = ("MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN")
DEFAULT_TIMEOUT = 30.0
#: Messages in one folder: above, a SELECT is refused (the UID lists of a sync are in memory).
MAX_MESSAGES = 2_000_000
#: Text of the FETCH answers that imapclient's (slow, recursive) parser may still be given when
#: the fast one refuses them.
FALLBACK_PARSE_BYTES = 1024 * 1024

#: Header fields the message list needs, fetched with BODY.PEEK[HEADER.FIELDS (...)]: raw bytes
#: keep every character (ENVELOPE drops 8-bit bytes) and parse faster than ENVELOPE.
LIST_HEADERS = (
    "FROM", "TO", "CC", "SUBJECT", "DATE", "MESSAGE-ID", "IN-REPLY-TO", "REFERENCES",
)
HEADER_ITEM = "BODY.PEEK[HEADER.FIELDS ({})]".format(" ".join(LIST_HEADERS))
HEADER_KEY = "BODY[HEADER.FIELDS ({})]".format(" ".join(LIST_HEADERS)).encode()
SUMMARY_ITEMS = ("UID", "FLAGS", "INTERNALDATE", "RFC822.SIZE", "BODYSTRUCTURE", HEADER_ITEM)

ROLE_BY_FLAG = {
    b"\\sent": "sent", b"\\drafts": "drafts", b"\\trash": "trash", b"\\junk": "junk",
    b"\\archive": "archive",
    # Gmail's "All Mail" holds every mail of every other folder: a role of its own, which is
    # not synced by default (it would cache each mail twice)
    b"\\all": "all",
}
ROLE_BY_NAME = {
    "sent": "sent", "sent items": "sent", "sent mail": "sent", "sent messages": "sent",
    "drafts": "drafts", "draft": "drafts",
    "trash": "trash", "deleted items": "trash", "deleted messages": "trash", "bin": "trash",
    "junk": "junk", "spam": "junk", "junk e-mail": "junk", "junk email": "junk",
    "archive": "archive", "archives": "archive", "all mail": "all",
}

#: OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH, _EMAIL_MISMATCH and _IP_ADDRESS_MISMATCH
_NAME_MISMATCH_CODES = {62, 63, 64}
_ESEARCH_ALL = re.compile(rb"\bALL\s+([\d:,]+)", re.IGNORECASE)
_UNEXPECTED = re.compile(r"unexpected (tagged )?response", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: What an unsolicited FETCH response may carry (RFC 3501 7.4.2, RFC 7162 3.2.4).
_UNSOLICITED_ITEMS = {b"SEQ", b"FLAGS", b"MODSEQ"}
#: A NO for a folder that is not there: RFC 5530's [NONEXISTENT] code, RFC 3501's [TRYCREATE]
#: (COPY, MOVE and APPEND to a missing folder), or the words of servers
#: that do not send it (Cyrus: "Mailbox does not exist", Courier: "Mailbox does not exist, or
#: must be subscribed to.")
_NO_FOLDER = re.compile(
    r"\[NONEXISTENT\]|\[TRYCREATE\]|does ?n[o']t exist|no such (mailbox|folder)|unknown mailbox|"
    r"mailbox not found", re.IGNORECASE)


@dataclass(frozen=True)
class ServerSettings:
    """Where and how to connect. ``password`` never appears in ``repr()``."""

    host: str
    port: int
    login: str
    password: str = field(repr=False)
    security: str = "ssl"
    verify_certificate: bool = True
    ca_pem: str = None
    timeout: float = DEFAULT_TIMEOUT
    #: an OAuth 2.0 access token: log in with SASL OAUTHBEARER or XOAUTH2 instead of the
    #: password (see :mod:`.oauth`)
    access_token: str = field(default=None, repr=False)
    #: the outgoing-connection policy (:class:`.net_policy.Policy`); None: no check (the
    #: engine used on its own, in tests and tools)
    policy: object = field(default=None, repr=False, compare=False)
    #: seconds the whole session may last, whatever the server does (see :mod:`.imap_limits`);
    #: ``timeout`` bounds each read, this bounds them all
    deadline: float = DEFAULT_DEADLINE

    def __post_init__(self):
        if self.security not in ("ssl", "starttls", "none"):
            raise ValueError(f"unknown security mode {self.security!r}")


@dataclass(frozen=True)
class FolderInfo:
    """One LIST entry: the folder's full name, hierarchy delimiter, flags and role."""

    name: str
    delimiter: str
    flags: tuple
    role: str = None

    @property
    def selectable(self):
        return b"\\noselect" not in {flag.lower() for flag in self.flags}


@dataclass(frozen=True)
class SelectInfo:
    """What SELECT/EXAMINE says of a folder."""

    uidvalidity: int
    uidnext: int
    exists: int
    highestmodseq: int = None


@dataclass(frozen=True)
class FolderStatus:
    """What STATUS says of a folder (any item the server left out is ``None``)."""

    messages: int = None
    uidnext: int = None
    uidvalidity: int = None
    unseen: int = None


@dataclass
class FlagChanges:
    """Flags of changed messages (``{uid: (flag, ...)}``) and UIDs reported as vanished."""

    flags: dict
    vanished: list


def folder_role(name, flags):
    """The role of a folder from its SPECIAL-USE flags, else from common names, else None."""
    for flag in flags:
        role = ROLE_BY_FLAG.get(flag.lower() if isinstance(flag, bytes) else flag.encode().lower())
        if role:
            return role
    if name.upper() == "INBOX":
        return "inbox"
    leaf = re.split(r"[./]", name)[-1].strip().lower()
    return ROLE_BY_NAME.get(leaf)


def uid_sets(uids, max_bytes=MAX_COMMAND_BYTES - 200):
    """Compress ``uids`` into IMAP sequence sets (``"1:5,9"``), each under ``max_bytes``.

    :param uids: iterable of positive integers, in any order, duplicates allowed
    :returns: list of ``str`` sets; empty list for no UIDs
    """
    ordered = sorted(set(uids))
    sets, parts, size = [], [], 0
    index = 0
    while index < len(ordered):
        start = end = ordered[index]
        index += 1
        while index < len(ordered) and ordered[index] == end + 1:
            end = ordered[index]
            index += 1
        part = str(start) if start == end else f"{start}:{end}"
        if parts and size + len(part) + 1 > max_bytes:
            sets.append(",".join(parts))
            parts, size = [], 0
        parts.append(part)
        size += len(part) + 1
    if parts:
        sets.append(",".join(parts))
    return sets


def parse_sequence_set(text):
    """Expand an IMAP sequence set (``b"1:3,7"``) into a list of ints (no ``*`` allowed)."""
    result = []
    if isinstance(text, bytes):
        text = text.decode("ascii")
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        low, _, high = part.partition(":")
        low, high = int(low), int(high or low)
        if low > high:
            low, high = high, low
        result.extend(range(low, high + 1))
    return result


def make_ssl_context(settings):
    """The TLS context for ``settings``: system trust plus ``ca_pem``, or no checks at all.

    Contexts are shared (they are thread-safe and never changed after creation): loading the
    system's trusted certificates costs ~20 ms, most of a refresh that finds nothing new.
    """
    try:
        return _ssl_context(bool(settings.verify_certificate), settings.ca_pem or None)
    except (ssl.SSLError, ValueError) as exc:
        raise exceptions.TLSHandshakeFailed(
            f"the extra CA certificate cannot be read: {exc}", host=settings.host
        )


@functools.lru_cache(maxsize=64)
def _ssl_context(verify, ca_pem):
    context = ssl.create_default_context()
    if ca_pem:
        context.load_verify_locations(cadata=ca_pem)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


@contextlib.contextmanager
def translate_errors(host, *, connecting=False):
    """Turn socket, TLS, imaplib and imapclient errors into :mod:`.exceptions` errors."""
    try:
        yield
    except exceptions.WebmailError:
        raise
    except socket.gaierror as exc:
        raise exceptions.HostNotFound(exc.strerror, host=host)
    except ssl.SSLCertVerificationError as exc:
        if exc.verify_code in _NAME_MISMATCH_CODES:
            raise exceptions.HostnameMismatch(exc.verify_message, host=host)
        raise exceptions.CertificateUntrusted(exc.verify_message, host=host)
    except ssl.SSLError as exc:
        raise exceptions.TLSHandshakeFailed(exc.reason or str(exc), host=host)
    except ConnectionRefusedError:
        raise exceptions.ConnectionRefused(host=host)
    except TimeoutError:  # socket.timeout is an alias
        raise exceptions.ConnectionTimeout(host=host)
    except imapclient_errors.LoginError as exc:
        raise exceptions.LoginRejected(_text(exc), host=host)
    except imaplib.IMAP4.readonly as exc:
        # an abort for imaplib, which does not close anything: a SELECT answered [READ-ONLY]
        raise exceptions.FolderReadOnly(_text(exc), host=host)
    except (imaplib.IMAP4.abort, EOFError, ConnectionError) as exc:
        if _UNEXPECTED.search(_text(exc)):
            # imaplib's words for an answer to a command never sent, or not IMAP at all
            raise exceptions.ProtocolError(_text(exc)[:300], host=host)
        if connecting:
            raise exceptions.ConnectionFailed(_text(exc), host=host)
        raise exceptions.ServerGone(_text(exc), host=host)
    except OSError as exc:
        if connecting:
            raise exceptions.ConnectionFailed(exc.strerror or str(exc), host=host)
        raise exceptions.ServerGone(exc.strerror or str(exc), host=host)
    except (imaplib.IMAP4.error, imapclient_errors.IMAPClientError) as exc:
        raise exceptions.ProtocolError(_text(exc), host=host)
    except RecursionError:
        # imapclient's parsers recurse once per parenthesis
        raise exceptions.ProtocolError("parentheses nested too deeply", host=host)
    except (ValueError, AssertionError, IndexError, KeyError, TypeError, AttributeError) as exc:
        # imapclient's parsers raise these on malformed server responses
        raise exceptions.ProtocolError(f"malformed response ({str(exc)[:200]})", host=host)


def _raise_if_no_folder(exc, folder, host):
    if _NO_FOLDER.search(_text(exc)):
        raise exceptions.FolderNotFound(folder, host=host)


def _greeting_text(welcome):
    text = welcome.decode("utf-8", "replace") if isinstance(welcome, bytes) else str(welcome or "")
    text = re.sub(r"^\*?\s*(OK|PREAUTH)\s*", "", text.strip(), flags=re.IGNORECASE)
    return re.sub(r"^\[[^\]]*\]\s*", "", text)[:200]


def _folder_name(raw):
    """The name of a LIST entry as ``str``, or None when it cannot be used: not modified UTF-7
    that encodes back to the same bytes (SELECT would then name another folder), or with
    control characters."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return str(raw)  # imapclient reads the name "2024" as a number
    if not isinstance(raw, bytes):
        return None
    try:
        name = decode_utf7(raw)
        if encode_utf7(name) != raw:
            return None
    except (ValueError, UnicodeError):
        return None
    return name if name and not _CONTROL.search(name) else None


def _number(value):
    """An IMAP number as int (imapclient gives ints, or bytes for odd answers); None if absent
    or unreadable."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        value = value[-1] if value else None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _text(exc):
    value = exc.args[0] if exc.args else exc
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def connect(settings):
    """Open, secure and log in a session.

    :param settings: :class:`ServerSettings`
    :returns: a logged-in :class:`ImapSession` (also a context manager that logs out)
    :raises exceptions.ConnectionFailed: and its subclasses, for every way of not getting
        through (host not found, refused, timeout, TLS, certificate, host name)
    :raises exceptions.LoginRejected: when the server refuses the credentials
    :raises exceptions.ServerTooSlow: when ``settings.deadline`` passes first
    """
    timeout = SocketTimeout(connect=settings.timeout, read=settings.timeout)
    client = None
    # the session's deadline and size limits, from before the greeting (see .imap_limits)
    guard = Guard(settings.host, settings.deadline)
    with translate_errors(settings.host, connecting=True):
        # checked before anything is tried; then only the addresses checked are connected to
        addresses = settings.policy.resolve(settings.host, settings.port) \
            if settings.policy is not None else None
        context = make_ssl_context(settings) if settings.security != "none" else None
        client = GuardedIMAPClient(settings.host, settings.port, addresses=addresses,
                                   ssl=settings.security == "ssl", ssl_context=context,
                                   timeout=timeout, guard=guard)
    try:
        with translate_errors(settings.host, connecting=True):
            if settings.security == "starttls":
                if not client.has_capability("STARTTLS"):
                    raise exceptions.StartTLSUnavailable(host=settings.host)
                try:
                    client.starttls(context)
                except imaplib.IMAP4.error as exc:
                    # offered, then refused: never go on in clear text
                    raise exceptions.TLSHandshakeFailed(f"STARTTLS refused: {_text(exc)}",
                                                        host=settings.host)
        with translate_errors(settings.host):
            if settings.access_token:
                _oauth_login(client, settings)
            else:
                client.login(settings.login, settings.password)
            session = ImapSession(client, settings.host)
    except BaseException:
        with contextlib.suppress(Exception):
            client.shutdown()
        raise
    return session


def _oauth_login(client, settings):
    """Log in with the access token: SASL OAUTHBEARER (RFC 7628) when the server offers it,
    else XOAUTH2 (Google's and Microsoft's); a refusal is :class:`~.exceptions.TokenRejected`,
    with what the server said in its error challenge."""
    offered = {cap.decode().upper() if isinstance(cap, bytes) else str(cap).upper()
               for cap in client.capabilities()}
    if "AUTH=OAUTHBEARER" in offered:
        mechanism = "OAUTHBEARER"
        response = oauth.oauthbearer_response(settings.login, settings.access_token,
                                              settings.host, settings.port)
    elif "AUTH=XOAUTH2" in offered:
        mechanism = "XOAUTH2"
        response = oauth.xoauth2_response(settings.login, settings.access_token)
    else:
        raise exceptions.LoginRejected(
            "the server offers no OAuth 2.0 login (AUTH=XOAUTH2 or AUTH=OAUTHBEARER)",
            host=settings.host)
    responder = oauth.SaslResponder(mechanism, response)
    try:
        client.sasl_login(mechanism, responder)
    except imapclient_errors.LoginError as exc:
        raise exceptions.TokenRejected(responder.error or _text(exc), host=settings.host)


class ImapSession:
    """A logged-in IMAP connection with the engine's commands; a context manager.

    :attr capabilities: frozenset of upper-case capability names after login
    :attr round_trips: number of commands sent (for benchmarks and tests)
    """

    def __init__(self, client, host):
        self.client = client
        self.host = host
        #: the connection's deadline and limits (:mod:`.imap_limits`); a client made elsewhere
        #: gets the default deadline from now
        self.guard = getattr(client, "guard", None) or Guard(host)
        #: the text of the server's greeting, its response code left out (often names the
        #: software: "Courier-IMAP ready. ...")
        self.greeting = _greeting_text(getattr(client, "welcome", b""))
        self.round_trips = 0
        self.selected = None
        self.selected_readonly = True
        self.selected_exists = 0
        with translate_errors(host):
            # post-login list: from the LOGIN answer's [CAPABILITY] code when the server sent
            # one (Dovecot does), else imapclient asks with CAPABILITY
            announced = self.client.capabilities()
            if len(announced) > MAX_CAPABILITIES:
                raise self.guard.refuse(f"{len(announced):,} capabilities (at most "
                                        f"{MAX_CAPABILITIES:,} are accepted)")
            self.capabilities = frozenset(
                cap.decode("ascii", "replace").upper() for cap in announced
                if isinstance(cap, bytes))
            wanted = [cap for cap in ("QRESYNC", "CONDSTORE") if cap in self.capabilities]
            enabled = set()
            if wanted and "ENABLE" in self.capabilities:
                # QRESYNC implies CONDSTORE (RFC 7162 3.2.3)
                enabled = {cap.decode().upper() if isinstance(cap, bytes) else cap.upper()
                           for cap in self.client.enable(*wanted[:1])}
                self.round_trips += 1
        # CONDSTORE needs no ENABLE: a CHANGEDSINCE modifier turns it on (RFC 7162 3.1); QRESYNC
        # only works once enabled, and a server may refuse to enable what it announced
        self.qresync = "QRESYNC" in enabled
        self.condstore = self.qresync or "CONDSTORE" in self.capabilities

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc_info):
        if exc_type is None:
            self.logout()
        else:
            # after a failure, waiting for the server's LOGOUT answer would give a hostile
            # server one more chance to stall: close
            self.close()

    def logout(self):
        """Log out, or just close the socket if the server is already gone, or broke a
        limit (it may still be sending the rest of what was refused)."""
        if self.guard.broken or self.guard.expired:
            self.close()
            return
        try:
            self.client.logout()
        except Exception:  # any failure here means the connection is dead
            self.close()

    def close(self):
        """Close the connection without a word to the server."""
        with contextlib.suppress(Exception):
            self.client.shutdown()
        self.guard.disarm()

    def noop(self):
        """NOOP: one round trip that proves the connection alive (a pooled session's health
        check, see :mod:`.imap_pool`).

        :raises exceptions.WebmailError: when it is not (timeout, connection lost, BYE)
        """
        self.guard.check()
        with translate_errors(self.host):
            self.client.noop()
            self.round_trips += 1

    def ensure_selected(self, folder, *, readonly=True):
        """SELECT (EXAMINE when ``readonly``) ``folder`` unless it is selected already in a mode
        that allows what follows (a read-write selection serves reads too): a pooled session
        keeps its folder, and SELECT of a large folder is the costly part of opening a mail.

        :returns: True when a SELECT was sent
        """
        if self.selected == folder and (readonly or not self.selected_readonly):
            return False
        self.select(folder, readonly=readonly)
        return True

    def time_left(self):
        """Seconds before the session's deadline."""
        return self.guard.remaining()

    # -- folders -------------------------------------------------------------------------------

    def list_folders(self):
        """LIST every folder; returns :class:`FolderInfo` entries with their role.

        A folder whose name cannot be used is left out: not valid modified UTF-7 (RFC 3501
        5.1.3: the name would not round-trip, so SELECT would name another folder), or with
        control characters (NUL included, which no database text column takes).

        :raises exceptions.ResponseTooLarge: above :data:`.imap_limits.MAX_FOLDERS` folders
        :raises exceptions.ProtocolError: for a list without INBOX
        """
        # three records per folder at most: a name sent as a literal takes three
        with translate_errors(self.host), \
                self.guard.limits(records=3 * MAX_FOLDERS + 10,
                                  what=f"LIST responses ({MAX_FOLDERS:,} folders at most)"):
            self.client.folder_encode = False  # names come back as the bytes sent
            try:
                entries = self.client.list_folders()
            finally:
                self.client.folder_encode = True
            self.round_trips += 1
        if len(entries) > MAX_FOLDERS:
            raise exceptions.ResponseTooLarge(
                f"{len(entries):,} folders (at most {MAX_FOLDERS:,} are accepted)",
                host=self.host)
        if not any(isinstance(name, bytes) and name.upper() == b"INBOX"
                   for _flags, _delimiter, name in entries):
            # every account has an INBOX (RFC 3501 5.1): a list without it is not one to mirror
            # (the caller drops the cache of every folder it does not name)
            raise exceptions.ProtocolError("the folder list has no INBOX", host=self.host)
        folders = []
        for flags, delimiter, raw_name in entries:
            name = _folder_name(raw_name)
            if name is None:
                continue
            flags = tuple(flag for flag in flags if isinstance(flag, bytes)) \
                if isinstance(flags, tuple) else ()
            delimiter = delimiter.decode("ascii", "replace") if isinstance(delimiter, bytes) \
                else ""
            folders.append(FolderInfo(name, delimiter, flags, folder_role(name, flags)))
        return folders

    def select(self, folder, *, readonly=True):
        """SELECT (or EXAMINE when ``readonly``) ``folder``; returns :class:`SelectInfo`."""
        # a SELECT that fails leaves no folder selected (RFC 3501 6.3.1)
        self.selected = None
        with translate_errors(self.host):
            try:
                info = self.client.select_folder(folder, readonly=readonly)
            except imapclient_errors.IMAPClientError as exc:
                _raise_if_no_folder(exc, folder, self.host)
                raise
            self.round_trips += 1
        self.selected = folder
        self.selected_readonly = readonly
        if b"EXISTS" not in info:
            raise exceptions.ProtocolError(f"no EXISTS for {folder}", host=self.host)
        exists = self.selected_exists = self._checked(_number(info[b"EXISTS"]), "EXISTS", low=0)
        if exists > MAX_MESSAGES:
            raise exceptions.ResponseTooLarge(
                f"{exists:,} messages in {folder} (at most {MAX_MESSAGES:,} are accepted)",
                host=self.host)
        uidvalidity = _number(info.get(b"UIDVALIDITY"))
        if uidvalidity is None:
            # required by RFC 3501, but STATUS knows it too
            uidvalidity = self.status(folder, ("UIDVALIDITY",)).uidvalidity
            if uidvalidity is None:
                raise exceptions.ProtocolError(f"no UIDVALIDITY for {folder}", host=self.host)
        uidnext = _number(info.get(b"UIDNEXT"))
        # [HIGHESTMODSEQ] is absent from a folder without mod-sequences ([NOMODSEQ], RFC 7162)
        modseq = _number(info.get(b"HIGHESTMODSEQ")) if self.condstore else None
        return SelectInfo(
            uidvalidity=self._checked(uidvalidity, "UIDVALIDITY"),
            uidnext=None if uidnext is None else self._checked(uidnext, "UIDNEXT"),
            exists=exists,
            highestmodseq=None if not modseq else self._checked(
                modseq, "HIGHESTMODSEQ", high=MAX_NUMBER63),
        )

    def _checked(self, value, what, *, low=1, high=MAX_NUMBER32):
        """``value`` if an int in ``[low, high]``; a :class:`~.exceptions.ProtocolError` if
        not (``None`` included: a number the server sent but that could not be read)."""
        return checked_number(value, what, self.host, low=low, high=high)

    def status(self, folder, items=STATUS_ITEMS):
        """STATUS of ``folder`` (one round trip; the folder need not be selected).

        :returns: :class:`FolderStatus`; the items the server did not send are ``None``
        """
        with translate_errors(self.host):
            try:
                answer = self.client.folder_status(folder, list(items))
            except imapclient_errors.IMAPClientError as exc:
                _raise_if_no_folder(exc, folder, self.host)
                raise
            self.round_trips += 1
        values = {}
        for key, value in answer.items():
            key = (key.decode("ascii", "replace") if isinstance(key, bytes) else str(key)).upper()
            if key in ("MESSAGES", "UNSEEN", "UIDNEXT", "UIDVALIDITY"):
                values[key] = self._checked(_number(value), f"STATUS {key}",
                                            low=0 if key in ("MESSAGES", "UNSEEN") else 1)
        return FolderStatus(messages=values.get("MESSAGES"), uidnext=values.get("UIDNEXT"),
                            uidvalidity=values.get("UIDVALIDITY"), unseen=values.get("UNSEEN"))

    def next_uid(self, folder, exists):
        """UIDNEXT of the selected ``folder`` when its SELECT did not say it.

        STATUS first (Courier gives it there only); else the UID of the last message plus one,
        from ``FETCH <exists> (UID)``, a plain sequence number every server reads alike
        (``UID SEARCH UID *`` is answered empty by Courier and BAD by GNU Mailutils). That is a
        lower bound of the real UIDNEXT, which is all a sync needs: UIDs below it are listed.
        """
        uidnext = self.status(folder, ("UIDNEXT",)).uidnext
        if uidnext:
            return uidnext
        if not exists:
            return 1
        uids = self._uids_by_number(int(exists), int(exists))
        return max(uids) + 1 if uids else 1

    def server_id(self):
        """The server's ID answer (RFC 2971) as ``{field: value}``; ``{}`` when not offered.

        We identify as vt_webmail: some servers (Microsoft's, Yandex's) ask clients to.
        """
        if "ID" not in self.capabilities:
            return {}
        with translate_errors(self.host):
            try:
                answer = self.client.id_({"name": "vt_webmail"})
            except (imapclient_errors.IMAPClientError, imaplib.IMAP4.error):
                return {}
            finally:
                self.round_trips += 1
        # imapclient gives the parsed answer: ``((key, value, key, value ...),)``, or ``(None,)``
        # for a server that answers ``* ID NIL``
        while isinstance(answer, (tuple, list)) and len(answer) == 1:
            answer = answer[0]
        pairs = answer if isinstance(answer, (tuple, list)) else ()
        result = {}
        for key, value in zip(pairs[::2], pairs[1::2], strict=False):
            if value is None or key is None:
                continue
            key = key.decode("utf-8", "replace") if isinstance(key, bytes) else str(key)
            value = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
            result[key.lower()] = value
        return result

    def create_folder(self, folder):
        with translate_errors(self.host):
            self.client.create_folder(folder)
            self.round_trips += 1

    # -- searching -----------------------------------------------------------------------------

    def search_uids(self, low=1, high=None, *, max_count=MAX_MESSAGES):
        """UIDs of the selected folder in ``[low, high]`` (``high=None``: up to the last).

        Uses ESEARCH (one compact answer) when offered, else windows of :data:`SEARCH_WINDOW`
        UIDs up to ``high`` (give ``high`` as UIDNEXT - 1 then), so no answer line nears
        imaplib's 1 MB limit.

        :param max_count: how many UIDs the range can hold at most (the folder's EXISTS)
        :raises exceptions.ProtocolError: for an answer with more UIDs than ``max_count``, or
            UIDs outside a window asked for, or anything but UIDs
        """
        low = max(int(low), 1)
        if "ESEARCH" in self.capabilities:
            upper = "*" if high is None else str(int(high))
            answer = self._esearch(["UID", f"{low}:{upper}"])
            found = SequenceSet()
            for line in answer:
                match = _ESEARCH_ALL.search(line if isinstance(line, bytes) else line.encode())
                if match:
                    found |= self._sequence_set(match.group(1), "ESEARCH")
            if high is None:
                # "n:*" always matches the highest UID, even below n: clipped
                found = found.clip(low, MAX_NUMBER32)
            elif len(found.clip(low, high)) != len(found):
                raise exceptions.ProtocolError(
                    f"UIDs outside {low}:{high} in the answer to a search of {low}:{high}",
                    host=self.host)
            self._check_count(found, max_count)
            return list(found)
        if high is None:
            high = self.next_uid(self.selected, self.selected_exists) - 1
        uids = []
        start = low
        while start <= high:
            stop = min(start + SEARCH_WINDOW - 1, high)
            with translate_errors(self.host):
                found = self.client.search(["UID", f"{start}:{stop}"])
                self.round_trips += 1
            for number in found:
                uid = self._checked(_number(number), "UID in a SEARCH answer")
                if not start <= uid <= stop:
                    raise exceptions.ProtocolError(
                        f"UID {uid} in the answer to a search of {start}:{stop}",
                        host=self.host)
                uids.append(uid)
            self._check_count(uids, max_count)
            start = stop + 1
        return sorted(set(uids))

    def _sequence_set(self, text, what):
        try:
            return SequenceSet.parse(text)
        except ValueError as exc:
            raise exceptions.ProtocolError(f"{what}: {exc}", host=self.host)

    def _check_count(self, uids, max_count):
        if len(uids) > max_count:
            raise exceptions.ProtocolError(
                f"{len(uids):,} UIDs found where the folder has {max_count:,} messages",
                host=self.host)

    def search(self, criteria, charset="UTF-8"):
        """Server-side UID SEARCH with imapclient criteria (e.g. ``["TEXT", "invoice"]``)."""
        with translate_errors(self.host):
            result = self.client.search(criteria, charset=charset)
            self.round_trips += 1
        if len(result) > MAX_MESSAGES:
            raise exceptions.ResponseTooLarge(f"{len(result):,} messages found", host=self.host)
        return sorted({self._checked(_number(uid), "UID in a SEARCH answer") for uid in result})

    def list_uids(self, low, high):
        """Every UID of the selected folder in ``[low, high]``, from ``UID FETCH low:high
        (UID)``: slower than SEARCH, and what every server answers right (GNU Mailutils'
        SEARCH goes wrong after an expunge gap). Used to reconcile a cache whose count
        disagrees with the server's. A folder of more than :data:`SEARCH_WINDOW` messages is
        read in windows of message numbers (``FETCH 1:50000 (UID)``...), so that no answer is
        larger than a window."""
        if high < low:
            return []
        if self.selected_exists <= SEARCH_WINDOW:
            return sorted(self.fetch(f"{int(low)}:{int(high)}", ["UID"]))
        uids = set()
        for start in range(1, self.selected_exists + 1, SEARCH_WINDOW):
            stop = min(start + SEARCH_WINDOW - 1, self.selected_exists)
            uids.update(uid for uid in self._uids_by_number(start, stop) if low <= uid <= high)
        return sorted(uids)

    def _uids_by_number(self, start, stop):
        """UIDs of the messages numbered ``start`` to ``stop`` (``FETCH start:stop (UID)``)."""
        with translate_errors(self.host):
            data = self.client.fetch_numbers(f"{int(start)}:{int(stop)}", "(UID)")
            self.round_trips += 1
            parsed = self._parse_fetch([line for line in data if line is not None])
        return [self._checked(values[b"UID"], "UID") for values in parsed.values()
                if b"UID" in values]

    def _esearch(self, args):
        """The ESEARCH lines answering ``UID SEARCH RETURN (...) <args>`` (imapclient's
        ``search()`` does not know ESEARCH)."""
        with translate_errors(self.host):
            self.client.uid_command("SEARCH", "RETURN", "(ALL)", *args)
            self.round_trips += 1
            lines = self.client.pop_untagged("ESEARCH")
        return [line for line in lines if line is not None]

    # -- fetching ------------------------------------------------------------------------------

    def fetch(self, uid_set, items, modifiers=None):
        """UID FETCH ``items`` for a UID set string (``"1:*"``, ``"4,7:9"``) or UID iterable.

        :returns: ``{uid: {item: value}}`` as parsed by imapclient; responses without a UID
            (unsolicited ones) are dropped, and so are unsolicited flag updates of UIDs outside
            the set
        :raises exceptions.ProtocolError: for an answer about a UID outside the set that
            carries what was asked (only flag updates may come unasked, RFC 3501 7.4.2), a UID,
            RFC822.SIZE or MODSEQ out of range
        """
        result = {}
        sets = [uid_set] if isinstance(uid_set, str) else uid_sets(uid_set)
        for one_set in sets:
            result.update(self._fetch_one(one_set, items, modifiers))
        return result

    def _fetch_one(self, uid_set, items, modifiers):
        args = [uid_set, "(" + " ".join(items) + ")"]
        if modifiers:
            args.append("(" + " ".join(modifiers) + ")")
        asked = self._sequence_set(uid_set.replace("*", str(MAX_NUMBER32)), "UID set")
        with translate_errors(self.host):
            data = self.client.uid_command("FETCH", *args)
            self.round_trips += 1
            parsed = self._parse_fetch([line for line in data if line is not None])
        result = {}
        for values in parsed.values():
            if b"UID" not in values:
                # unsolicited FETCH responses (flag changes by another client) without a UID
                continue
            uid = self._checked(values.pop(b"UID"), "UID")
            if uid not in asked:
                if set(values) - _UNSOLICITED_ITEMS:
                    raise exceptions.ProtocolError(
                        f"an answer about UID {uid}, which was not asked for", host=self.host)
                continue
            if b"RFC822.SIZE" in values:
                values[b"RFC822.SIZE"] = self._checked(values[b"RFC822.SIZE"], "RFC822.SIZE",
                                                       low=0, high=MAX_NUMBER63)
            if b"MODSEQ" in values:
                modseq = values[b"MODSEQ"]
                self._checked(modseq[0] if isinstance(modseq, tuple) and len(modseq) == 1
                              else None, "MODSEQ", low=0, high=MAX_NUMBER63)
            result[uid] = values
        return result

    def _parse_fetch(self, lines):
        try:
            # header literals may have been cut (HEADER_LITERAL_KEEP): shorter than announced
            return parse_fetch(lines, short_literals=self.guard.current.literal_keep is not None,
                               check=self.guard.check)
        except FetchLimitError as exc:
            raise exceptions.ResponseTooLarge(str(exc), host=self.host)
        except FetchParseError as exc:
            # whatever the fast parser does not know, imapclient's may still read; it reads a
            # character at a time and recurses once per parenthesis: small answers only
            size = sum(len(item[0]) if isinstance(item, tuple) else len(item) for item in lines)
            if size > FALLBACK_PARSE_BYTES:
                raise exceptions.ProtocolError(f"unreadable FETCH answer ({exc})",
                                               host=self.host)
            return canonical_keys(
                parse_fetch_response(lines, normalise_times=False, uid_is_key=False))

    def fetch_summaries(self, uids):
        """FLAGS, INTERNALDATE, RFC822.SIZE, BODYSTRUCTURE and the list headers of ``uids``.

        A header block longer than :data:`.imap_limits.HEADER_LITERAL_KEEP` bytes is cut there
        (the rest is read and dropped): one mail with huge headers must not stop a folder.
        """
        with self.guard.limits(literal_keep=HEADER_LITERAL_KEEP):
            return self.fetch(uids, SUMMARY_ITEMS)

    def fetch_flag_changes(self, since_modseq, high, low=1):
        """Flags changed since ``since_modseq`` among UIDs ``low:high``, and the vanished ones.

        ``UID FETCH low:high (FLAGS) (CHANGEDSINCE m VANISHED)`` (VANISHED with QRESYNC only).
        The upper bound is explicit on purpose: in ``1:*`` the ``*`` is the highest UID *now*
        in the folder (RFC 3501 6.4.8), so a strict server (Cyrus) leaves out a top UID that
        was just expunged, and never reports it vanished. ``vanished`` is a
        :class:`~.imap_limits.SequenceSet` (``VANISHED (EARLIER) 1:4294967295`` is never
        expanded), clipped to ``low:high``.
        """
        if not self.condstore:
            raise ValueError("CHANGEDSINCE needs CONDSTORE")
        if high < low:
            return FlagChanges(flags={}, vanished=SequenceSet())
        modifiers = [f"CHANGEDSINCE {int(since_modseq)}"]
        if self.qresync:
            modifiers.append("VANISHED")
        flags = self.fetch(f"{int(low)}:{int(high)}", ["UID", "FLAGS"], modifiers)
        vanished = self._pop_vanished().clip(low, high)
        return FlagChanges(
            flags={uid: tuple(values.get(b"FLAGS", ())) for uid, values in flags.items()},
            vanished=vanished,
        )

    def fetch_flags(self, low, high):
        """``{uid: flags}`` of every message with a UID in ``[low, high]``: one
        ``UID FETCH low:high (FLAGS)``; with no CONDSTORE, how flag changes and expunged mail
        are found (a UID missing from the answer is gone)."""
        if high < low:
            return {}
        fetched = self.fetch(f"{int(low)}:{int(high)}", ["UID", "FLAGS"])
        return {uid: tuple(values.get(b"FLAGS", ())) for uid, values in fetched.items()}

    def fetch_message(self, uid, max_size=None):
        """The whole message (BODY.PEEK[]: no \\Seen flag set), as bytes.

        :raises exceptions.MessageGone: when the UID is no longer in the folder
        :raises exceptions.MessageTooLarge: when ``max_size`` is given and exceeded
        :raises exceptions.ResponseTooLarge: when the server sends a larger body than the size
            it gave (or than :data:`.imap_limits.MAX_LITERAL` without ``max_size``)
        """
        limits = {}
        if max_size is not None:
            sizes = self.fetch([uid], ["UID", "RFC822.SIZE"])
            if uid not in sizes:
                raise exceptions.MessageGone(f"UID {uid}", host=self.host)
            size = int(sizes[uid].get(b"RFC822.SIZE", 0))
            if size > max_size:
                raise exceptions.MessageTooLarge(
                    f"{size / 1e6:.1f} MB, above the {max_size / 1e6:.0f} MB limit",
                    host=self.host,
                )
            limits = {"literal": min(self.guard.current.literal, max_size + 64 * 1024)}
        with self.guard.limits(**limits):
            response = self.fetch([uid], ["UID", "BODY.PEEK[]"])
        if uid not in response or b"BODY[]" not in response[uid]:
            raise exceptions.MessageGone(f"UID {uid}", host=self.host)
        return response[uid][b"BODY[]"]

    def fetch_messages(self, uids, max_size, *, peek=True):
        """The whole messages of ``uids`` (BODY.PEEK[]: flags untouched) in one command, for
        mails known to be small (their RFC822.SIZE at most ``max_size``): the bodies a refresh
        fetches ahead. A UID gone from the folder is missing from the answer.

        With ``peek=False``, BODY[]: the server sets \\Seen on each message it sends, in a
        folder selected read-write (RFC 3501 6.4.5), so opening a mail needs no STORE.

        :returns: ``{uid: bytes}``
        :raises exceptions.ResponseTooLarge: when a body is larger than ``max_size`` after all
            (the connection is then unusable, as for any refused answer)
        """
        if not uids:
            return {}
        with self.guard.limits(literal=min(self.guard.current.literal, max_size + 64 * 1024)):
            response = self.fetch(uids, ["UID", "BODY.PEEK[]" if peek else "BODY[]"])
        return {uid: values[b"BODY[]"] for uid, values in response.items()
                if b"BODY[]" in values}

    def _pop_vanished(self):
        lines = self.client.pop_untagged("VANISHED")
        vanished = SequenceSet()
        for line in lines:
            if not isinstance(line, bytes):
                continue
            text = re.sub(rb"^\(EARLIER\)\s*", b"", line.strip(), flags=re.IGNORECASE)
            vanished |= self._sequence_set(text, "VANISHED")
        return vanished

    # -- changing mail -------------------------------------------------------------------------
    # imapclient's own methods, each given a compressed UID set string (``uid_sets``); each
    # checks the command's status (NO and BAD raise, and become typed errors here). The
    # untagged answers they leave (EXPUNGE, FETCH) are dropped when the next command is sent
    # (:meth:`.imap_limits.GuardedIMAP4.send`).

    def set_flags(self, uids, flags, *, add=True):
        """Add (or remove) ``flags`` on ``uids`` of the folder selected read-write
        (``UID STORE +FLAGS.SILENT``).

        :raises exceptions.ProtocolError: the server refused (a folder selected read-only)
        """
        store = self.client.add_flags if add else self.client.remove_flags
        with translate_errors(self.host):
            for one_set in uid_sets(uids):
                store(one_set, list(flags), silent=True)
                self.round_trips += 1

    def move(self, uids, destination):
        """Move ``uids`` to ``destination``: MOVE when offered, else COPY + delete + expunge.

        :raises exceptions.FolderNotFound: ``destination`` does not exist (nothing moved)
        :raises exceptions.ProtocolError: the server refused otherwise
        """
        atomic = "MOVE" in self.capabilities
        command = self.client.move if atomic else self.client.copy
        with translate_errors(self.host):
            for one_set in uid_sets(uids):
                try:
                    command(one_set, destination)
                except imapclient_errors.IMAPClientError as exc:
                    _raise_if_no_folder(exc, destination, self.host)
                    raise
                finally:
                    self.round_trips += 1
        if not atomic:
            self.delete(uids)

    def delete(self, uids):
        """Flag ``uids`` \\Deleted and expunge them (only them with UIDPLUS).

        :raises exceptions.ProtocolError: the server refused the STORE or the EXPUNGE
        """
        self.set_flags(uids, ["\\Deleted"])
        with translate_errors(self.host):
            if "UIDPLUS" in self.capabilities:
                for one_set in uid_sets(uids):
                    self.client.uid_expunge(one_set)
                    self.round_trips += 1
            else:
                # without UIDPLUS, EXPUNGE removes every \Deleted mail of the folder, ours and
                # any another client marked: there is no narrower command
                self.client.expunge()
                self.round_trips += 1

    def append(self, folder, message, flags=(), msg_time=None):
        """APPEND ``message`` (bytes) to ``folder``; return its UID when the server says it."""
        with translate_errors(self.host):
            if folder == self.selected and self.selected_readonly:
                # Courier refuses to APPEND to the folder it has open read-only; leaving it
                # first is harmless (CLOSE after EXAMINE expunges nothing, RFC 3501 6.4.2)
                if "UNSELECT" in self.capabilities:
                    self.client.unselect_folder()
                else:
                    self.client.close_folder()
                self.round_trips += 1
                self.selected = None
            response = self.client.append(folder, message, flags=flags, msg_time=msg_time)
            self.round_trips += 1
        match = re.search(rb"APPENDUID \d+ (\d+)", response or b"")
        uid = int(match.group(1)) if match and len(match.group(1)) <= 10 else None
        # a UID out of range is as good as none: the copy is found by the next refresh
        return uid if uid and uid <= MAX_NUMBER32 else None
