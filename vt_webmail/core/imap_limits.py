"""Bounds on what an IMAP server can make the engine do: time, memory, numbers.

The engine talks to servers it does not control. A broken or hostile one may announce a 2 GB
literal, never end a line, send one byte every few seconds (the per-read timeout never fires),
flood untagged responses, or answer with numbers no RFC allows. Everything the engine reads
from a server goes through the bounds of this module, in one place:

* **Deadline.** A session lasts at most :attr:`Guard.seconds` (``ServerSettings.deadline``,
  :data:`DEFAULT_DEADLINE` by default), on top of the per-read timeout. A watchdog thread shuts
  the socket down at the deadline; whatever was waiting on it then fails at once, and the
  session raises :class:`~.exceptions.ServerTooSlow`.
* **Sizes.** imaplib reads a literal ``{N}`` with a single ``read(N)`` (2 GB announced, 2 GB
  allocated) and keeps every untagged response of a command. imaplib documents ``read()``,
  ``readline()`` and ``send()`` as the methods to override: :class:`GuardedIMAP4` does, and
  refuses (:class:`~.exceptions.ResponseTooLarge`) a literal above :attr:`Limits.literal`
  before reading a byte of it, a line above :attr:`Limits.line`, and an answer to one command
  of more than :attr:`Limits.records` lines and literals, :attr:`Limits.text` bytes of lines
  or :attr:`Limits.literals` bytes of literals. A command may change them for its own answer
  (:meth:`Guard.limits`): LIST stops at :data:`MAX_FOLDERS` folders; the list headers keep
  :data:`HEADER_LITERAL_KEEP` bytes of each header block and read the rest without keeping it
  (one mail with a huge header block must not stop its folder's sync); a message body is
  refused above its size limit.
* **Leftovers.** The untagged responses left by one command are dropped when the next one is
  sent (the engine and imapclient read what they need as soon as a command completes), so a
  flood spread over many commands does not pile up either.
* **Numbers.** UIDs, UIDVALIDITY, UIDNEXT and message counts are 32-bit (RFC 3501), RFC822.SIZE
  at most 63-bit (RFC 9051), mod-sequences 63-bit (RFC 7162): :func:`checked_number` refuses
  anything else. A sequence set (:class:`SequenceSet`) is counted and tested without being
  expanded: ``1:4294967295`` is 12 bytes on the wire and four billion integers in a list.

imapclient has no public way to choose its imaplib class: :class:`GuardedIMAPClient` extends its
``_create_IMAP4``, here only; the same class holds the three raw commands imapclient has no
method for (UID FETCH of a range, ESEARCH, reading VANISHED), so that nothing else in the engine
touches imapclient's private ``_imap``. A refused answer leaves the connection in the middle of a
response: :attr:`Guard.broken` is set, and the session closes the socket instead of sending
LOGOUT.
"""

import bisect
import contextlib
import dataclasses
import logging
import socket
import threading
import time

from imapclient import IMAPClient, imap4, tls
from imapclient.exceptions import IMAPClientError

from . import exceptions, net_policy

#: Seconds a whole session (connect, log in, every command) may last, unless told otherwise.
DEFAULT_DEADLINE = 60.0
#: Longest line accepted from a server (imaplib's own limit, ``imaplib._MAXLINE``).
MAX_LINE = 1_000_000
#: Largest literal accepted (a message body fetch lowers it to the message size limit).
MAX_LITERAL = 64 * 1024 * 1024
#: Bytes kept of each header literal of the list headers; the rest is read and dropped.
HEADER_LITERAL_KEEP = 1024 * 1024
#: Lines and literals in the answer to one command. The engine asks for at most
#: :data:`~.imap_session.SEARCH_WINDOW` messages per command, plus unsolicited updates.
MAX_RECORDS = 200_000
#: Bytes of lines (everything but literals) in the answer to one command: what the parsers
#: turn into Python objects, at up to ~15 times the size.
MAX_COMMAND_TEXT = 16 * 1024 * 1024
#: Bytes of literals kept from the answer to one command.
MAX_COMMAND_LITERALS = 64 * 1024 * 1024
#: Folders of one account (LIST answer lines).
MAX_FOLDERS = 10_000
#: Capabilities a server may announce (real servers announce 10 to 60).
MAX_CAPABILITIES = 1_000
#: Highest UID, UIDVALIDITY, UIDNEXT or message count (RFC 3501 nz-number / number: 32 bits).
MAX_NUMBER32 = 2**32 - 1
#: Highest mod-sequence (RFC 7162) and RFC822.SIZE (RFC 9051 number64): 63 bits.
MAX_NUMBER63 = 2**63 - 1

_logger = logging.getLogger(__name__)
_DRAIN_CHUNK = 64 * 1024


@dataclasses.dataclass(frozen=True)
class Limits:
    """What the answer to one command may hold (see the module docstring)."""

    line: int = MAX_LINE
    literal: int = MAX_LITERAL
    #: keep at most this many bytes of each literal, read and drop the rest (None: keep all)
    literal_keep: int = None
    records: int = MAX_RECORDS
    text: int = MAX_COMMAND_TEXT
    literals: int = MAX_COMMAND_LITERALS
    #: how to name the records in an error ("folders"); None: "responses"
    what: str = None


class Guard:
    """The bounds of one connection: its deadline, its limits, what the current command's answer
    has used of them so far.

    :param host: the server's name, for errors
    :param seconds: the session's overall deadline, from now; None or 0: none
    """

    def __init__(self, host, seconds=DEFAULT_DEADLINE):
        self.host = host
        self.seconds = seconds or None
        self.started = time.monotonic()
        self.expires_at = self.started + seconds if seconds else None
        #: the deadline passed: the socket was shut down
        self.expired = False
        #: a limit was exceeded in the middle of an answer: the connection is unusable
        self.broken = False
        self.current = Limits()
        self._imap = None
        self._timer = None
        self._lock = threading.Lock()
        self.new_command()

    # -- deadline ------------------------------------------------------------------------------

    def remaining(self):
        """Seconds left before the deadline (``inf`` without one)."""
        if self.expires_at is None:
            return float("inf")
        return max(self.expires_at - time.monotonic(), 0.0)

    def arm(self, imap):
        """Watch ``imap`` (an imaplib object with a ``sock``): shut its socket down at the
        deadline."""
        with self._lock:
            self._imap = imap
            if self.expires_at is None or self._timer is not None:
                return
            self._timer = threading.Timer(self.remaining(), self._expire)
            self._timer.name = "vt_webmail-imap-deadline"
            self._timer.daemon = True
            self._timer.start()

    def restart(self, seconds):
        """A new deadline, ``seconds`` from now (None or 0: none), for a connection that is
        used again (a pooled session's next request, see :mod:`.imap_pool`) or that waits
        idle (its idle time, after which the socket is shut down).

        :returns: False when the connection already expired or broke (unusable)
        """
        with self._lock:
            timer, self._timer = self._timer, None
            imap = self._imap
        if timer is not None:
            timer.cancel()
        if self.expired or self.broken:
            return False
        self.seconds = seconds or None
        self.started = time.monotonic()
        self.expires_at = self.started + seconds if seconds else None
        if imap is not None:
            self.arm(imap)
        return True

    def disarm(self):
        with self._lock:
            timer, self._timer = self._timer, None
            self._imap = None
        if timer is not None:
            timer.cancel()

    def _expire(self):
        with self._lock:
            if self._timer is None:  # disarmed meanwhile
                return
            self.expired = True
            sock = getattr(self._imap, "sock", None)
        if sock is not None:
            # the plain socket's shutdown, also under TLS: SSLSocket.shutdown() would drop the
            # TLS state under the feet of the thread reading it. The reader then gets EOF.
            with contextlib.suppress(OSError, ValueError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def too_slow(self):
        return exceptions.ServerTooSlow(
            f"no complete answer within {self.seconds:g} seconds", host=self.host)

    def check(self):
        """Raise if the connection may not be used any more."""
        if self.expired:
            raise self.too_slow()
        if self.broken:
            raise exceptions.ServerGone("the connection was dropped after a refused answer",
                                        host=self.host)

    # -- limits --------------------------------------------------------------------------------

    @contextlib.contextmanager
    def limits(self, **changes):
        """Change :class:`Limits` for the commands sent within the block."""
        before = self.current
        self.current = dataclasses.replace(before, **changes)
        try:
            yield self.current
        finally:
            self.current = before

    def new_command(self):
        """A command was sent: its answer starts with nothing used."""
        self.records = 0
        self.text = 0
        self.literal_bytes = 0

    def refuse(self, detail):
        """Mark the connection unusable and return the error to raise."""
        self.broken = True
        return exceptions.ResponseTooLarge(detail, host=self.host)

    def count_line(self, size):
        limits = self.current
        self.records += 1
        self.text += size
        if self.records > limits.records:
            raise self.refuse(f"more than {limits.records:,} {limits.what or 'responses'} "
                              "in one answer")
        if self.text > limits.text:
            raise self.refuse(f"more than {limits.text:,} bytes in one answer")

    def check_literal(self, size):
        """Refuse a literal of ``size`` bytes before reading it; return how many to keep."""
        limits = self.current
        if size > limits.literal:
            raise self.refuse(f"a literal of {size:,} bytes (at most {limits.literal:,} are "
                              "accepted)")
        keep = size if limits.literal_keep is None else min(size, limits.literal_keep)
        self.records += 1
        self.literal_bytes += keep
        if self.records > limits.records:
            raise self.refuse(f"more than {limits.records:,} {limits.what or 'responses'} "
                              "in one answer")
        if self.literal_bytes > limits.literals:
            raise self.refuse(f"more than {limits.literals:,} bytes of literals in one answer")
        return keep


class GuardedIMAP4:
    """Mixin for an ``imaplib.IMAP4`` class: every byte read or sent goes through a
    :class:`Guard` (see the module docstring). ``guard=`` is a keyword of the constructor."""

    def __init__(self, *args, guard, addresses=None, **kwargs):
        self.guard = guard
        #: the addresses the outgoing-connection policy checked (None: the host name's)
        self.addresses = addresses
        super().__init__(*args, **kwargs)

    def _pinned_socket(self, timeout):
        """A connection to the checked addresses (:mod:`.net_policy`), or None without any."""
        if self.addresses is None:
            return None
        return net_policy.connect_pinned(self.addresses, self.port, timeout)

    def open(self, *args, **kwargs):
        try:
            result = super().open(*args, **kwargs)
        except Exception:
            if self.guard.expired:
                raise self.guard.too_slow() from None
            raise
        self.guard.arm(self)
        return result

    def send(self, data):
        guard = self.guard
        guard.check()
        if data.startswith(self.tagpre):
            # a new command (a literal or a SASL answer continues the current one)
            guard.new_command()
            self.untagged_responses.clear()
        try:
            return super().send(data)
        except OSError:
            if guard.expired:
                raise guard.too_slow() from None
            raise

    def readline(self):
        guard = self.guard
        guard.check()
        limit = guard.current.line
        try:
            line = self.file.readline(limit + 1)
        except Exception:
            if guard.expired:
                raise guard.too_slow() from None
            raise
        if guard.expired and not line.endswith(b"\n"):
            raise guard.too_slow()  # cut by the watchdog
        if len(line) > limit:
            raise guard.refuse(f"a line longer than {limit:,} bytes")
        guard.count_line(len(line))
        return line

    def read(self, size):
        guard = self.guard
        guard.check()
        keep = guard.check_literal(size)
        data = self._read_exactly(super().read, keep)
        left = size - keep
        while left:  # beyond what is kept: read and dropped
            left -= len(self._read_exactly(super().read, min(left, _DRAIN_CHUNK)))
        return data

    def _read_exactly(self, read, size):
        guard = self.guard
        try:
            data = read(size)
        except Exception:
            if guard.expired:
                raise guard.too_slow() from None
            raise
        if len(data) < size:
            if guard.expired:
                raise guard.too_slow()
            raise exceptions.ServerGone(
                f"the connection closed in the middle of a literal ({len(data):,} of "
                f"{size:,} bytes)", host=guard.host)
        return data

    def shutdown(self):
        self.guard.disarm()
        return super().shutdown()


class _GuardedPlain(GuardedIMAP4, imap4.IMAP4WithTimeout):
    """Plain IMAP (or STARTTLS later), guarded."""

    def _create_socket(self, timeout=None):
        return self._pinned_socket(timeout if timeout is not None else self._timeout) \
            or super()._create_socket(timeout)


class _GuardedTLS(GuardedIMAP4, tls.IMAP4_TLS):
    """Implicit TLS, guarded; the certificate is verified against the host name even when the
    connection goes to an address the policy checked."""

    def _create_socket(self, timeout=None):
        sock = self._pinned_socket(timeout if timeout is not None else self._timeout)
        if sock is None:
            return super()._create_socket(timeout)
        return tls.wrap_socket(sock, self.ssl_context, self.host)


class GuardedIMAPClient(IMAPClient):
    """An IMAPClient whose imaplib object is a :class:`GuardedIMAP4` watched by ``guard``.

    imapclient's ``_create_IMAP4`` is the only way to choose that object: it is extended here,
    and nowhere else. Every command with a public imapclient method goes through that method;
    :meth:`uid_command`, :meth:`fetch_numbers` and :meth:`pop_untagged` are for the rest.
    """

    def __init__(self, host, port, *, guard, addresses=None, **kwargs):
        self.guard = guard
        self.addresses = addresses
        super().__init__(host, port, **kwargs)
        if not logging.getLogger("imapclient.imaplib").isEnabledFor(logging.DEBUG):
            # imapclient sets imaplib's debug level to 5, which formats every line and the
            # repr() of every literal (a 25 MB body: a 100 MB string) for a logger that
            # drops them
            self._imap.debug = 0

    def _create_IMAP4(self):
        connect_timeout = getattr(self._timeout, "connect", None)
        if self.ssl:
            return _GuardedTLS(self.host, self.port, self.ssl_context, connect_timeout,
                               guard=self.guard, addresses=self.addresses)
        return _GuardedPlain(self.host, self.port, connect_timeout, guard=self.guard,
                             addresses=self.addresses)

    # -- the three things imapclient has no public method for --------------------------------
    # Its fetch() takes no UID range ("1:*" raises ValueError) and parses with its recursive
    # parser (the engine has a faster one, :mod:`.fetch_parser`); its search() knows no ESEARCH
    # (RFC 4731); and it gives no access to untagged responses it does not parse (QRESYNC's
    # VANISHED, RFC 7162). These go through its imaplib object here, and nowhere else.

    def uid_command(self, command, *args):
        """Send ``UID <command> <args>`` (imaplib quoting) and return imaplib's data: the
        untagged responses named ``SEARCH`` for a SEARCH, ``FETCH`` for anything else.

        :raises IMAPClientError: when the server answers NO (imaplib raises its ``error`` on
            BAD)
        """
        typ, data = self._imap.uid(command, *args)
        if typ != "OK":
            raise IMAPClientError(f"UID {command} failed: {_first_text(data)}")
        return data

    def fetch_numbers(self, message_set, items):
        """``FETCH <message_set> <items>`` by message sequence numbers (imapclient always
        sends UID FETCH); returns imaplib's data, as :meth:`uid_command`."""
        typ, data = self._imap.fetch(message_set, items)
        if typ != "OK":
            raise IMAPClientError(f"FETCH failed: {_first_text(data)}")
        return data

    def pop_untagged(self, name):
        """The untagged responses ``name`` (``"VANISHED"``, ``"ESEARCH"``) of the command just
        completed, removed from imaplib's store; ``[]`` when there were none. (The store is
        emptied whenever a command is sent, see :meth:`GuardedIMAP4.send`.)"""
        return self._imap.untagged_responses.pop(name, [])


def _first_text(data):
    value = data[0] if isinstance(data, (list, tuple)) and data else data
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


# -- numbers and sequence sets ------------------------------------------------------------------

def checked_number(value, what, host, *, low=0, high=MAX_NUMBER32):
    """``value`` (int, or digits as bytes/str) as an int in ``[low, high]``.

    :raises exceptions.ProtocolError: for anything else (a negative number, 2**64, "x")
    """
    if isinstance(value, bool):
        value = None
    if isinstance(value, (bytes, str)) and value.isdigit() and len(value) <= 40:
        value = int(value)
    if not isinstance(value, int) or not low <= value <= high:
        shown = repr(value)[:40]
        raise exceptions.ProtocolError(f"{what} out of range: {shown}", host=host)
    return value


class SequenceSet:
    """A set of UIDs as the server wrote it (``b"1:3,7,9:*"`` without ``*``): sorted, merged
    ranges that are counted and tested without being expanded.

    :param ranges: ``(low, high)`` pairs, in any order, overlapping or not
    """

    def __init__(self, ranges=()):
        merged = []
        for low, high in sorted((min(a, b), max(a, b)) for a, b in ranges):
            if merged and low <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], high)
            else:
                merged.append([low, high])
        self._lows = [low for low, _high in merged]
        self._highs = [high for _low, high in merged]

    @classmethod
    def parse(cls, text, *, high=MAX_NUMBER32):
        """Read ``text`` (bytes or str); each number must be in ``[1, high]``.

        :raises ValueError: on anything else (``*``, a negative or huge number, garbage)
        """
        if isinstance(text, bytes):
            text = text.decode("ascii")
        ranges = []
        for part in text.strip().split(","):
            first, _sep, last = part.partition(":")
            numbers = []
            for token in (first, last or first):
                if not token.isdigit() or not token.isascii() or len(token) > 10 \
                        or not 1 <= int(token) <= high:
                    raise ValueError(f"not a UID: {token[:20]!r}")
                numbers.append(int(token))
            ranges.append(tuple(numbers))
        return cls(ranges)

    def __len__(self):
        return sum(high - low + 1 for low, high in zip(self._lows, self._highs, strict=True))

    def __bool__(self):
        return bool(self._lows)

    def __contains__(self, uid):
        index = bisect.bisect_right(self._lows, uid) - 1
        return index >= 0 and uid <= self._highs[index]

    def __iter__(self):
        for low, high in zip(self._lows, self._highs, strict=True):
            yield from range(low, high + 1)

    def clip(self, low, high):
        """The UIDs of this set in ``[low, high]``, still as ranges."""
        return SequenceSet([(max(a, low), min(b, high)) for a, b in self.ranges()
                            if a <= high and b >= low])

    def __or__(self, other):
        return SequenceSet([*self.ranges(), *other.ranges()])

    def ranges(self):
        return list(zip(self._lows, self._highs, strict=True))

    def __repr__(self):
        return "SequenceSet({})".format(
            ",".join(f"{a}:{b}" if a != b else str(a) for a, b in self.ranges()))
