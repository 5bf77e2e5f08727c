"""A scripted IMAP server that misbehaves on purpose, for the tests of the engine's bounds.

:class:`HostileImapServer` listens on a free loopback port (a real socket) and speaks just
enough IMAP4rev1 for the engine: the greeting, CAPABILITY, STARTTLS (with the test PKI of
:mod:`.certs`), LOGIN, LIST, SELECT/EXAMINE, STATUS, UID SEARCH, FETCH and UID FETCH, UID STORE,
UID EXPUNGE, NOOP, LOGOUT. Its mailbox is small: INBOX (UIDVALIDITY 1, mails with UIDs 1, 2,
3...), Sent and Trash. With the scenario ``"honest"`` the engine syncs it like any server;
every other scenario of :data:`SCENARIOS` breaks one thing, at the step of a refresh where it
hurts most.
A refresh runs, in order: greeting, CAPABILITY, (STARTTLS), LOGIN, LIST, STATUS INBOX, EXAMINE
INBOX, ``UID FETCH 1:n (UID FLAGS)`` over the cached mail, ``UID SEARCH`` for the new UIDs,
``UID FETCH`` of their summaries.

The scenario can be changed while the server runs (``server.scenario = "..."``, for the next
connections): a test fills a cache from ``"honest"``, adds a mail (:meth:`add_message`), then
refreshes against a hostile scenario, to check that the cache survives.

Each scenario says what the engine must make of it (:attr:`Scenario.expected`): the
:class:`~vt_webmail.core.exceptions.WebmailError` code a refresh must end with, or ``"ok"``
where the right thing is to read past the damage (a mail with broken headers, a folder with an
unusable name: the outside world can send those to an honest server).

Nothing here imports the engine: ``vt_webmail.tests.core.hostile_probe`` runs the engine
against it in a subprocess (time, peak memory), and ``tools/fuzz.py`` prints the table.
"""

import contextlib
import re
import socket
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .certs import make_test_pki

LOGIN = "hostile"
PASSWORD = "hostile-password"
#: Seconds between two bytes of a trickling (slowloris) scenario: below any read timeout.
TRICKLE = 0.25
_CHUNK = 64 * 1024
_COMMAND = re.compile(rb"^(?P<tag>[^ ]+) (?P<name>[A-Za-z]+)(?: (?P<rest>.*))?$", re.DOTALL)
_HEADER_FIELDS = re.compile(rb"BODY\.PEEK\[HEADER\.FIELDS \(([^)]*)\)\]", re.IGNORECASE)
_SEARCH_RANGE = re.compile(rb"UID (\d+):(\d+|\*)", re.IGNORECASE)


class Stop(Exception):
    """The session ends (the client left, or the scenario closes the connection)."""


def message_bytes(uid):
    """The mail of UID ``uid`` in the honest mailbox (CRLF)."""
    return (
        f"From: Sender {uid} <s{uid}@example.com>\r\nTo: me@example.com\r\n"
        f"Subject: mail {uid}\r\nMessage-Id: <m{uid}@example.com>\r\n"
        f"Date: Mon, 02 Nov 2026 10:00:00 +0000\r\n\r\nbody of mail {uid}\r\n"
    ).encode()


@dataclass
class Message:
    uid: int
    raw: bytes
    flags: tuple = ()


# -- the honest server ---------------------------------------------------------------------------

class Scenario:
    """One connection, served honestly; subclasses break one thing.

    :attr expected: the error code a refresh must end with, or ``"ok"``
    :attr also: for a flood, the other end a slow (loaded) machine may reach first: the
        session deadline (``"too_slow"``) before the limit on the answer's size
    :attr security: the security mode a client must use (``"none"`` or ``"starttls"``)
    """

    name = "honest"
    expected = "ok"
    also = None
    security = "none"
    #: capabilities after LOGIN
    capabilities = ("IMAP4rev1", "LITERAL+", "UIDPLUS", "UNSELECT")

    def __init__(self, server, conn):
        self.server = server
        self.conn = conn
        self.rfile = conn.makefile("rb")
        self.tls = False
        self.selected = None
        self.selects = 0

    # -- plumbing ----------------------------------------------------------------------------

    def send(self, data):
        if self.server.closing.is_set():
            raise Stop
        try:
            self.conn.sendall(data)
        except (OSError, ValueError):
            raise Stop from None

    def line(self, text):
        self.send((text if isinstance(text, bytes) else text.encode()) + b"\r\n")

    def trickle(self, data, *, forever=False):
        """Send ``data`` one byte every :data:`TRICKLE` seconds (then nothing, or more of it)."""
        while True:
            for byte in data:
                self.send(bytes([byte]))
                if self.server.closing.wait(TRICKLE):
                    raise Stop
            if not forever:
                return

    def flood(self, chunk):
        """Send ``chunk`` again and again, as fast as the client reads."""
        chunk = chunk * max(1, _CHUNK // len(chunk))
        while True:
            self.send(chunk)

    def stall(self):
        """Say nothing until the client leaves or the server stops."""
        self.conn.settimeout(0.2)
        while not self.server.closing.is_set():
            try:
                if not self.conn.recv(_CHUNK):
                    raise Stop
            except TimeoutError:
                continue
            except OSError:
                raise Stop from None
        raise Stop

    def run(self):
        try:
            self.greet()
            while True:
                raw = self.rfile.readline(1024 * 1024)
                if not raw:
                    raise Stop
                match = _COMMAND.match(raw.rstrip(b"\r\n"))
                if not match:
                    self.line(b"* BAD unreadable command")
                    continue
                tag, name, rest = match.group("tag"), match.group("name").upper(), \
                    match.group("rest") or b""
                if name == b"UID":
                    sub, _sep, rest = rest.partition(b" ")
                    name = b"UID " + sub.upper()
                handler = getattr(self, "cmd_" + name.decode().replace(" ", "_").lower(), None)
                if handler is None:
                    self.line(tag + b" BAD unknown command")
                else:
                    handler(tag, rest)
        except (Stop, OSError, ValueError, ssl.SSLError):
            return  # the client left, or the scenario hung up
        finally:
            self.hang_up()

    def hang_up(self):
        with contextlib.suppress(OSError):
            self.conn.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.rfile.close()
            self.conn.close()

    # -- the commands ----------------------------------------------------------------------

    def greet(self):
        self.line("* OK [CAPABILITY IMAP4rev1 LITERAL+] hostile test server ready")

    def pre_login_capabilities(self):
        caps = ["IMAP4rev1", "LITERAL+", "AUTH=PLAIN"]
        if not self.tls and self.server.tls_context is not None:
            caps.append("STARTTLS")
        return " ".join(caps)

    def cmd_capability(self, tag, rest):
        self.line("* CAPABILITY " + self.pre_login_capabilities())
        self.line(tag + b" OK done")

    def cmd_starttls(self, tag, rest):
        self.line(tag + b" OK begin TLS")
        self.conn = self.server.tls_context.wrap_socket(self.conn, server_side=True)
        self.rfile = self.conn.makefile("rb")
        self.tls = True

    def cmd_login(self, tag, rest):
        self.line(tag + b" OK [CAPABILITY " + " ".join(self.capabilities).encode()
                  + b"] logged in")

    def cmd_noop(self, tag, rest):
        self.line(tag + b" OK done")

    def cmd_logout(self, tag, rest):
        self.line(b"* BYE see you")
        self.line(tag + b" OK done")
        raise Stop

    def cmd_enable(self, tag, rest):
        self.line(tag + b" OK done")

    def folders(self):
        """The LIST answer lines."""
        return [b'* LIST (\\HasNoChildren) "/" INBOX',
                b'* LIST (\\HasNoChildren \\Sent) "/" Sent',
                b'* LIST (\\HasNoChildren \\Trash) "/" Trash']

    def cmd_list(self, tag, rest):
        for line in self.folders():
            self.line(line)
        self.line(tag + b" OK done")

    def mailbox(self, name):
        return self.server.messages if name.strip(b'"').upper() == b"INBOX" else []

    def uidvalidity(self):
        return 1

    def uidnext(self, messages):
        return max((m.uid for m in messages), default=0) + 1

    def cmd_status(self, tag, rest):
        name = rest.split(b" ", 1)[0]
        messages = self.mailbox(name)
        unseen = sum(1 for m in messages if "\\Seen" not in m.flags)
        self.line(f"* STATUS {name.decode()} (MESSAGES {len(messages)} UIDNEXT "
                  f"{self.uidnext(messages)} UIDVALIDITY {self.uidvalidity()} UNSEEN {unseen})")
        self.line(tag + b" OK done")

    def cmd_select(self, tag, rest, *, mode=b"READ-WRITE"):
        self.selects += 1
        name = rest.split(b" ", 1)[0]
        if name.strip(b'"').upper() not in (b"INBOX", b"SENT", b"TRASH"):
            self.line(tag + b" NO [NONEXISTENT] no such folder")
            return
        self.selected = self.mailbox(name)
        for line in self.select_lines(self.selected):
            self.line(line)
        self.line(tag + b" OK [" + mode + b"] done")

    def cmd_examine(self, tag, rest):
        self.cmd_select(tag, rest, mode=b"READ-ONLY")

    def select_lines(self, messages):
        return [b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)",
                f"* {len(messages)} EXISTS".encode(), b"* 0 RECENT",
                f"* OK [UIDVALIDITY {self.uidvalidity()}] ok".encode(),
                f"* OK [UIDNEXT {self.uidnext(messages)}] ok".encode(),
                b"* OK [PERMANENTFLAGS ()] ok"]

    def cmd_append(self, tag, rest):
        size = re.search(rb"\{(\d+)(\+?)\}$", rest)
        if not size:
            self.line(tag + b" BAD no literal")
            return
        if not size.group(2):
            self.line(b"+ go ahead")
        raw = self.rfile.read(int(size.group(1)))
        self.rfile.readline()
        uid = self.server.add_message(raw)
        self.line(tag + b" OK [APPENDUID %s] done" % self.appenduid(uid))

    def appenduid(self, uid):
        return b"%d %d" % (self.uidvalidity(), uid)

    def cmd_uid_search(self, tag, rest):
        match = _SEARCH_RANGE.search(rest)
        low, high = (int(match.group(1)), match.group(2)) if match else (1, b"*")
        high = 2**32 if high == b"*" else int(high)
        uids = [m.uid for m in self.selected or () if low <= m.uid <= high]
        self.search_answer(uids)
        self.line(tag + b" OK done")

    def search_answer(self, uids):
        self.line(b"* SEARCH" + b"".join(b" %d" % uid for uid in uids))

    def _pick(self, set_text, key):
        picked = []
        for part in set_text.split(b","):
            low, _sep, high = part.partition(b":")
            low = int(low)
            high = 2**32 if high == b"*" else int(high or low)
            picked += [(number, m) for number, m in enumerate(self.selected or (), 1)
                       if low <= key(number, m) <= high]
        return picked

    def cmd_uid_fetch(self, tag, rest):
        set_text, _sep, items = rest.partition(b" ")
        picked = self._pick(set_text, lambda number, m: m.uid)
        if b"BODYSTRUCTURE" in items.upper():
            self.summaries(picked, items)
        else:
            for number, message in picked:
                self.send(self.fetch_response(number, message, items, uid=True))
        self.line(tag + b" OK done")

    def cmd_uid_store(self, tag, rest):
        set_text, _sep, rest = rest.partition(b" ")
        action, _sep, flags = rest.partition(b" ")
        names = tuple(flags.strip(b"()").decode().split())
        for _number, message in self._pick(set_text, lambda number, m: m.uid):
            if action.startswith(b"+"):
                message.flags = tuple(dict.fromkeys(message.flags + names))
            else:
                message.flags = tuple(flag for flag in message.flags if flag not in names)
        self.line(tag + b" OK done")

    def cmd_uid_expunge(self, tag, rest):
        gone = [(number, message) for number, message
                in self._pick(rest.strip(), lambda number, m: m.uid)
                if "\\Deleted" in message.flags]
        for number, message in reversed(gone):
            self.line(b"* %d EXPUNGE" % number)
            self.selected.remove(message)
        self.line(tag + b" OK done")

    def cmd_fetch(self, tag, rest):
        set_text, _sep, items = rest.partition(b" ")
        for number, message in self._pick(set_text, lambda number, m: number):
            self.send(self.fetch_response(number, message, items, uid=b"UID" in items.upper()))
        self.line(tag + b" OK done")

    def summaries(self, picked, items):
        """The answer to the summaries FETCH (what a first sync asks for each new mail)."""
        for number, message in picked:
            self.send(self.fetch_response(number, message, items, uid=True))

    def fetch_response(self, number, message, items, *, uid):
        """``* n FETCH (...)`` for ``message`` and the requested ``items``, as bytes."""
        upper = items.upper()
        parts = []
        if uid:
            parts.append(b"UID %d" % message.uid)
        if b"FLAGS" in upper:
            parts.append(b"FLAGS (" + " ".join(message.flags).encode() + b")")
        if b"INTERNALDATE" in upper:
            parts.append(b'INTERNALDATE "' + self.internaldate(message) + b'"')
        if b"RFC822.SIZE" in upper:
            parts.append(b"RFC822.SIZE " + str(self.size(message)).encode())
        if b"BODYSTRUCTURE" in upper:
            parts.append(b"BODYSTRUCTURE " + self.bodystructure(message))
        fields = _HEADER_FIELDS.search(items)
        if fields:
            wanted = {name.upper() for name in fields.group(1).split()}
            header = self.header_fields(message, wanted)
            parts.append(b"BODY[HEADER.FIELDS (" + fields.group(1).upper() + b")] "
                         + self.literal(header))
        if b"BODY.PEEK[]" in upper:
            parts.append(b"BODY[] " + self.literal(message.raw))
        return b"* %d FETCH (" % number + b" ".join(parts) + b")\r\n"

    @staticmethod
    def literal(data):
        return b"{%d}\r\n" % len(data) + data

    def internaldate(self, message):
        return b" 2-Nov-2026 10:00:00 +0000"

    def size(self, message):
        return len(message.raw)

    def bodystructure(self, message):
        body = message.raw.partition(b"\r\n\r\n")[2]
        return (b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" %d %d NIL NIL NIL NIL)'
                % (len(body), body.count(b"\n")))

    def header_fields(self, message, wanted):
        head = message.raw.partition(b"\r\n\r\n")[0]
        lines = [line for line in head.split(b"\r\n")
                 if line.partition(b":")[0].strip().upper() in wanted]
        return b"".join(line + b"\r\n" for line in lines) + b"\r\n"


# -- the scenarios ---------------------------------------------------------------------------

SCENARIOS = {}


def scenario(cls):
    SCENARIOS[cls.name] = cls
    return cls


scenario(Scenario)


@scenario
class GreetingNever(Scenario):
    """Accepts the connection and never says a word."""

    name, expected = "greeting_never", "timeout"

    def greet(self):
        self.stall()


@scenario
class GreetingSlowloris(Scenario):
    """Sends its greeting one byte every quarter second, forever: each read gets a byte in time,
    so the per-read timeout never fires."""

    name, expected = "greeting_slowloris", "too_slow"

    def greet(self):
        self.trickle(b"* OK hello " + b"." * 10_000, forever=True)


@scenario
class ByeAlways(Scenario):
    """Answers every command with BYE and hangs up."""

    name, expected = "bye_always", "connection_failed"

    def run(self):
        try:
            self.line(b"* OK hello")
            self.rfile.readline()
            self.line(b"* BYE go away")
        except (Stop, OSError):
            return
        finally:
            self.hang_up()


@scenario
class StartTLSRefused(Scenario):
    """Offers STARTTLS, then refuses it (a downgrade attempt: the client must not go on in
    clear text)."""

    name, expected, security = "starttls_refused", "tls_failed", "starttls"

    def cmd_starttls(self, tag, rest):
        self.line(tag + b" NO not today")


@scenario
class CapabilityFlood(Scenario):
    """Announces 100,000 capabilities after LOGIN."""

    name, expected = "capability_flood", "response_too_large"
    also = "too_slow"
    capabilities = ("IMAP4rev1", *(f"X{i}" for i in range(100_000)))


@scenario
class LineNeverEnds(Scenario):
    """Answers the summaries FETCH with a line that never ends (bytes forever, no CRLF)."""

    name, expected = "line_never_ends", "response_too_large"

    def summaries(self, picked, items):
        self.send(b"* 1 FETCH (UID 6 X-JUNK ")
        self.flood(b"x")


@scenario
class ListHundredThousand(Scenario):
    """Lists 100,000 folders."""

    name, expected = "list_100k_folders", "response_too_large"
    also = "too_slow"

    def cmd_list(self, tag, rest):
        for number in range(100_000):
            self.line(b'* LIST (\\HasNoChildren) "/" "Folder %d"' % number)
        self.line(tag + b" OK done")


@scenario
class ListWithoutInbox(Scenario):
    """Lists no folder at all (a client that mirrored it would drop every folder's cache)."""

    name, expected = "list_without_inbox", "protocol_error"

    def folders(self):
        return []


@scenario
class FolderNamesHostile(Scenario):
    """Lists folders whose names are not modified UTF-7, carry raw 8-bit bytes (not UTF-8),
    NUL and control characters, or 900 characters: the usable ones are kept, the others left
    out, and INBOX syncs."""

    name, expected = "folder_names_hostile", "ok"

    def folders(self):
        nul = b"A\x00B"
        return [*super().folders(),
                b'* LIST () "/" "&,,,-broken"',          # not base64
                b'* LIST () "/" "&Ti1Y-"',               # a partial character
                b'* LIST () "/" "Caf\xe9 \xff\xfe"',     # raw 8-bit, not UTF-8
                b'* LIST () "/" {%d}' % len(nul), nul,   # NUL, as a literal
                b'* LIST () "/" "Tab\tand\x01"',         # control characters
                b'* LIST (\\Noselect \\Foo) NIL "' + b"Long" * 225 + b'"',
                b'* LIST () "/" "Caf&AOk-"']             # good: "Café"


@scenario
class UidNeverAsked(Scenario):
    """Answers the summaries FETCH with a mail of a UID nobody asked for."""

    name, expected = "uid_never_asked", "protocol_error"

    def summaries(self, picked, items):
        for number, message in picked:
            self.send(self.fetch_response(number, Message(999, message.raw), items, uid=True))


@scenario
class UidNegative(Scenario):
    """Gives the new mail UID -6."""

    name, expected = "uid_negative", "protocol_error"

    def summaries(self, picked, items):
        for number, message in picked:
            self.send(self.fetch_response(number, message, items, uid=True)
                      .replace(b"UID %d" % message.uid, b"UID -%d" % message.uid))


@scenario
class UidHuge(Scenario):
    """Gives the new mail UID 2**64."""

    name, expected = "uid_huge", "protocol_error"

    def summaries(self, picked, items):
        for number, message in picked:
            self.send(self.fetch_response(number, message, items, uid=True)
                      .replace(b"UID %d" % message.uid, b"UID %d" % 2**64))


@scenario
class SizeHuge(Scenario):
    """Says the new mail is 2**64 + 1 bytes long (RFC822.SIZE above 2**63)."""

    name, expected = "size_huge", "protocol_error"

    def size(self, message):
        return 2**64 + 1


@scenario
class ExistsHugeEmptySearch(Scenario):
    """Counts 2**31 messages in INBOX, and finds none of them."""

    name, expected = "exists_huge_empty_search", "response_too_large"

    def select_lines(self, messages):
        return [b"* 2147483648 EXISTS", b"* OK [UIDVALIDITY 1] ok",
                b"* OK [UIDNEXT 2147483649] ok"]

    def search_answer(self, uids):
        self.line(b"* SEARCH")


@scenario
class ExistsNegative(Scenario):
    """Counts -1 messages in INBOX."""

    name, expected = "exists_negative", "protocol_error"

    def select_lines(self, messages):
        return [b"* -1 EXISTS", b"* OK [UIDVALIDITY 1] ok", b"* OK [UIDNEXT 7] ok"]


@scenario
class ExistsAboveUidnext(Scenario):
    """Counts 1,000 messages below UIDNEXT 7."""

    name, expected = "exists_above_uidnext", "protocol_error"

    def select_lines(self, messages):
        return [b"* 1000 EXISTS", b"* OK [UIDVALIDITY 1] ok", b"* OK [UIDNEXT 7] ok"]


@scenario
class UidvalidityEverySelect(Scenario):
    """Gives INBOX a new UIDVALIDITY in every answer (a cache that trusted it would be dropped
    at every refresh)."""

    name, expected = "uidvalidity_every_select", "protocol_error"
    _counter = iter(range(1000, 10**9))

    def uidvalidity(self):
        return next(self._counter)


@scenario
class UidvalidityHuge(Scenario):
    """Gives INBOX UIDVALIDITY 2**40."""

    name, expected = "uidvalidity_huge", "protocol_error"

    def uidvalidity(self):
        return 2**40


@scenario
class ModseqHuge(Scenario):
    """Offers CONDSTORE and gives INBOX HIGHESTMODSEQ 2**64."""

    name, expected = "modseq_huge", "protocol_error"
    capabilities = (*Scenario.capabilities, "CONDSTORE")

    def select_lines(self, messages):
        return [*super().select_lines(messages), b"* OK [HIGHESTMODSEQ %d] ok" % 2**64]


@scenario
class LiteralTwoGigabytes(Scenario):
    """Announces a 2 GB literal for the list headers, then sends bytes forever."""

    name, expected = "literal_2gb_header", "response_too_large"

    def summaries(self, picked, items):
        self.send(b"* 1 FETCH (UID 6 BODY[HEADER.FIELDS (FROM)] {2147483648}\r\n")
        self.flood(b"X-Junk: " + b"x" * 70 + b"\r\n")


@scenario
class LiteralShortThenEOF(Scenario):
    """Announces a 5,000-byte literal, sends 100 bytes and hangs up."""

    name, expected = "literal_short_eof", "server_gone"

    def summaries(self, picked, items):
        self.send(b"* 1 FETCH (UID 6 BODY[HEADER.FIELDS (FROM)] {5000}\r\n" + b"x" * 100)
        raise Stop


@scenario
class LiteralStall(Scenario):
    """Announces a 5,000-byte literal, sends 100 bytes and says nothing more."""

    name, expected = "literal_stall", "timeout"

    def summaries(self, picked, items):
        self.send(b"* 1 FETCH (UID 6 BODY[HEADER.FIELDS (FROM)] {5000}\r\n" + b"x" * 100)
        self.stall()


@scenario
class BodystructureMillion(Scenario):
    """A BODYSTRUCTURE nested a million parentheses deep."""

    name, expected = "bodystructure_million", "response_too_large"

    def bodystructure(self, message):
        return b"(" * 1_000_000 + b")" * 1_000_000


@scenario
class BodystructureDeep(Scenario):
    """A BODYSTRUCTURE nested 100,000 parentheses deep (a line short enough to be read)."""

    name, expected = "bodystructure_deep", "response_too_large"

    def bodystructure(self, message):
        return b"(" * 100_000 + b")" * 100_000


@scenario
class FetchTenMillionItems(Scenario):
    """Answers the summaries FETCH with 10 million tiny items in one response (lines joined by
    empty literals)."""

    name, expected = "fetch_10m_items", "response_too_large"
    also = "too_slow"

    def summaries(self, picked, items):
        self.send(b"* 1 FETCH (UID 6")
        line = b" X 1" * 200_000 + b" X {0}\r\n"
        for _ in range(50):
            self.send(line)
        self.send(b")\r\n")


@scenario
class AtEveryLimit(Scenario):
    """Answers the summaries FETCH with as much as every limit allows: 63 header literals of
    1 MB, then 15 MB of two-letter words (as many Python objects as bytes allow)."""

    name, expected = "at_every_limit", "response_too_large"
    also = "too_slow"

    def summaries(self, picked, items):
        self.send(b"* 1 FETCH (UID 6")
        for number in range(63):
            self.send(b" BODY[HEADER.FIELDS (X-%d)] {1000000}\r\n" % number + b"x" * 1_000_000)
        self.send(b" X (")
        line = b" XY" * 330_000 + b" {0}\r\n"
        for _ in range(15):
            self.send(line)
        self.send(b"))\r\n")


@scenario
class UntaggedFlood(Scenario):
    """Answers EXAMINE with untagged responses, as fast as they are read, forever."""

    name, expected = "untagged_flood", "response_too_large"
    also = "too_slow"

    def cmd_select(self, tag, rest):
        self.flood(b"* 1 RECENT\r\n")

    cmd_examine = cmd_select


@scenario
class UntaggedTrickle(Scenario):
    """Answers EXAMINE with one untagged response every quarter second, forever."""

    name, expected = "untagged_trickle", "too_slow"

    def cmd_select(self, tag, rest):
        while True:
            self.line(b"* OK still looking")
            if self.server.closing.wait(TRICKLE):
                raise Stop

    cmd_examine = cmd_select


@scenario
class TaggedNeverSent(Scenario):
    """Answers EXAMINE with a tagged OK for a command the client never sent."""

    name, expected = "tagged_never_sent", "protocol_error"

    def cmd_select(self, tag, rest):
        # the client's own tag prefix, with a number it has not used yet
        self.line(tag.rstrip(b"0123456789") + b"999 OK done")
        self.stall()

    cmd_examine = cmd_select


@scenario
class SlowlorisFetch(Scenario):
    """Sends the summaries one byte every quarter second."""

    name, expected = "slowloris_fetch", "too_slow"

    def summaries(self, picked, items):
        for number, message in picked:
            self.trickle(self.fetch_response(number, message, items, uid=True) * 100)


@scenario
class SearchOutOfRange(Scenario):
    """Finds UIDs 0 and 2**32 in a search of 6:6."""

    name, expected = "search_out_of_range", "protocol_error"

    def search_answer(self, uids):
        self.line(b"* SEARCH 6 0 %d" % 2**32)


@scenario
class AppenduidHuge(Scenario):
    """Gives a mail just appended (a Sent copy) UID 10**20: the copy is kept without its UID,
    the next refresh finds it."""

    name, expected = "appenduid_huge", "ok"

    def appenduid(self, uid):
        return b"1 %d" % 10**20


@scenario
class EsearchEverything(Scenario):
    """Offers ESEARCH and finds every UID there can be (``ALL 1:4294967295``)."""

    name, expected = "esearch_everything", "protocol_error"
    capabilities = (*Scenario.capabilities, "ESEARCH")

    def cmd_uid_search(self, tag, rest):
        self.line(b'* ESEARCH (TAG "x") UID ALL 1:4294967295')
        self.line(tag + b" OK done")


@scenario
class FetchAnswersNothing(Scenario):
    """Answers every UID FETCH with nothing but OK: the cached mail would look expunged."""

    name, expected = "fetch_answers_nothing", "protocol_error"

    def cmd_uid_fetch(self, tag, rest):
        self.line(tag + b" OK done")


@scenario
class Garbage(Scenario):
    """Answers every command with lines that are not IMAP."""

    name, expected = "garbage", "protocol_error"

    def cmd_capability(self, tag, rest):
        self.line(b"\x00\xff\xfe garbage \x1b[31m")
        self.line(b"HTTP/1.1 400 Bad Request")


@scenario
class InternalDateExtreme(Scenario):
    """Dates at the ends of the calendar: an INTERNALDATE of 31 Dec 9999 at -23:59 (in UTC,
    beyond what a datetime holds), a Date header of year 100."""

    name, expected = "internaldate_extreme", "ok"

    def internaldate(self, message):
        return b"31-Dec-9999 23:59:59 -2359"

    def header_fields(self, message, wanted):
        return super().header_fields(message, wanted).replace(
            b"Mon, 02 Nov 2026 10:00:00 +0000", b"Mon, 1 Jan 0100 00:00:00 +2359")


@scenario
class ExpungeRefused(Scenario):
    """Refuses UID EXPUNGE (``NO [NOPERM]``, RFC 5530) after accepting the \\Deleted flag: a
    delete must fail, not pass for done. A refresh is not concerned."""

    name, expected = "expunge_refused", "ok"

    def cmd_uid_expunge(self, tag, rest):
        self.line(tag + b" NO [NOPERM] you may not expunge here")


@scenario
class ReadOnlyFolders(Scenario):
    """Opens every folder read-only, SELECT included (``OK [READ-ONLY]``, RFC 3501 6.3.1: a
    shared mailbox the user may only read). A refresh only reads; a change must be refused
    in words that say so, not as a lost connection."""

    name, expected = "read_only_folders", "ok"

    def cmd_select(self, tag, rest, *, mode=b"READ-ONLY"):
        return super().cmd_select(tag, rest, mode=b"READ-ONLY")


@scenario
class HeadersBadUtf8Nul(Scenario):
    """Headers with invalid UTF-8, NUL bytes, an unknown charset, CR/LF in encoded words."""

    name, expected = "headers_bad_utf8_nul", "ok"

    def header_fields(self, message, wanted):
        return (b"From: \xff\xfe Evil\x00 <evil@example.com>\r\n"
                b"Subject: =?x-unknown?q?caf=E9?= \xc3\x28 \x00nul "
                b"=?utf-8?b?aGkNCkJjYzogeEBleGFtcGxlLmNvbQ==?=\r\n"
                b"Message-Id: <a\x00b@example.com>\r\n\r\n")


# -- the server ----------------------------------------------------------------------------------

class HostileImapServer:
    """A scripted IMAP server on loopback playing one of :data:`SCENARIOS`; a context manager.

    :param scenario: the name of the scenario (changeable later, for new connections)
    :param messages: how many mails INBOX holds (UIDs 1 to ``messages``)
    :param tls: offer STARTTLS, with a certificate for ``localhost`` signed by :attr:`ca_path`
    """

    host = "127.0.0.1"
    hostname = "localhost"

    def __init__(self, scenario="honest", *, messages=5, tls=True):
        self.scenario = scenario
        self.messages = [Message(uid, message_bytes(uid)) for uid in range(1, messages + 1)]
        self.closing = threading.Event()
        self._tmp = tempfile.TemporaryDirectory(prefix="vt-hostile-")
        self.tls_context = None
        self.pki = None
        if tls:
            self.pki = make_test_pki(Path(self._tmp.name))
            self.tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.tls_context.load_cert_chain(self.pki.cert_path, self.pki.key_path)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind((self.host, 0))
        self._sock.listen(64)
        self.port = self._sock.getsockname()[1]
        self._threads = []
        self._conns = []
        self._thread = None

    def __repr__(self):
        return f"<HostileImapServer {self.scenario} {self.host}:{self.port}>"

    @property
    def scenario(self):
        return self._scenario

    @scenario.setter
    def scenario(self, name):
        if name not in SCENARIOS:
            raise ValueError(f"unknown scenario {name!r}: choose among {sorted(SCENARIOS)}")
        self._scenario = name

    @property
    def ca_path(self):
        return self.pki.ca_path if self.pki else None

    def add_message(self, raw=None, flags=()):
        """Add a mail to INBOX (the next UID); return its UID."""
        uid = max((m.uid for m in self.messages), default=0) + 1
        self.messages.append(Message(uid, raw or message_bytes(uid), tuple(flags)))
        return uid

    def start(self):
        self._thread = threading.Thread(target=self._serve, name="hostile-imap", daemon=True)
        self._thread.start()
        return self

    def _serve(self):
        while not self.closing.is_set():
            try:
                conn, _addr = self._sock.accept()
            except OSError:
                return
            self._conns.append(conn)
            session = SCENARIOS[self.scenario](self, conn)
            thread = threading.Thread(target=session.run, name="hostile-imap-session",
                                      daemon=True)
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
            thread.start()

    def close(self):
        self.closing.set()
        with contextlib.suppress(OSError):
            self._sock.close()
        for conn in self._conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + 5
        for thread in self._threads:
            thread.join(max(deadline - time.monotonic(), 0))
        self._tmp.cleanup()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.close()
