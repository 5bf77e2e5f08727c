"""IMAP IDLE (RFC 2177) for many mailboxes at once: one asyncio event loop, one socket each.

:class:`IdleConnection` logs in to one mailbox (password, or an OAuth 2.0 access token with
SASL OAUTHBEARER / XOAUTH2), EXAMINEs a folder and IDLEs on it. Whenever the server says the
folder changed (an untagged ``EXISTS``, ``EXPUNGE``, ``FETCH`` or ``VANISHED``), it calls its
``on_change`` callback: at once for the first change, then at most once more per
:data:`DEBOUNCE` seconds (a delivery of ten mails is one or two calls). It re-issues IDLE every
:data:`REIDLE_AFTER` seconds, before the 29 minutes after which RFC 2177 lets a server drop an
idle client, and ends with a typed :mod:`.exceptions` error when anything goes wrong; the
caller decides when to try again.

Nothing here syncs mail: the callback's owner runs the ordinary incremental sync
(:mod:`.sync`) on a connection of its own. This module speaks only the little IMAP that
watching needs, so that a thousand watchers cost a thousand sockets and a few coroutines, not a
thousand threads: every read has a timeout, every line and literal a size limit.

The outgoing-connection policy applies here too: the addresses the policy checked are the ones
connected to, and TLS is verified against the host name.
"""

import asyncio
import base64
import contextlib
import re
import socket
import ssl
import time

from . import exceptions, oauth
from .imap_session import make_ssl_context

#: Seconds between two IDLE commands (RFC 2177: a server may drop a client idle for 30 min).
REIDLE_AFTER = 25 * 60
#: Changes within this many seconds are reported once.
DEBOUNCE = 0.2
#: Longest line or literal accepted while watching (a watcher needs no large answer).
MAX_LINE = 64 * 1024
MAX_LITERAL = 1024 * 1024

_TAGGED = re.compile(rb"^(?P<tag>[A-Za-z0-9]+) (?P<status>OK|NO|BAD)\b(?P<text>.*)$",
                     re.IGNORECASE)
_CHANGE = re.compile(rb"^\* (?:\d+ (?:EXISTS|EXPUNGE|FETCH)\b|VANISHED\b)", re.IGNORECASE)
_LITERAL = re.compile(rb"\{(\d+)\+?\}$")
_CAPABILITY = re.compile(rb"\[CAPABILITY ([^\]]*)\]|^\* CAPABILITY (.*)$", re.IGNORECASE)


class IdleUnsupported(exceptions.WebmailError):
    """The server does not offer IDLE: its mailboxes are left to the scheduled refresh."""

    code = "idle_unsupported"
    summary = "The server does not offer IDLE"


class IdleConnection:
    """One watched folder of one mailbox.

    :param settings: :class:`~.imap_session.ServerSettings` (its ``policy`` applies)
    :param folder: the folder's full name (default INBOX)
    :param on_change: callable (no argument) run in the event loop when the folder changed;
        it must not block (hand the sync to a thread)
    """

    def __init__(self, settings, folder="INBOX", on_change=None, *, reidle_after=None):
        self.settings = settings
        self.folder = folder
        self.on_change = on_change or (lambda: None)
        self.reidle_after = reidle_after or REIDLE_AFTER
        self.capabilities = frozenset()
        #: untagged change responses seen, and IDLE commands sent (for tests and figures)
        self.changes = 0
        self.idles = 0
        self._reader = self._writer = None
        self._tag = 0
        self._last_change = 0.0
        self._trailing = False
        self._idling = False
        # changes count once the folder is examined: what it held before is the caller's
        # to read (it syncs once when the watch begins)
        self._watching = False

    # -- lifecycle ---------------------------------------------------------------------------

    async def run(self):
        """Connect, log in, examine the folder and IDLE until cancelled or failed.

        :raises exceptions.WebmailError: every failure, typed (the connection is closed)
        :raises asyncio.CancelledError: when the task is cancelled (the connection is closed)
        """
        try:
            await self.open()
            while True:
                await self.idle_once()
        finally:
            await self.close()

    async def open(self):
        """Connect, secure, log in and EXAMINE: ready to IDLE."""
        settings = self.settings
        with _translated(settings.host, connecting=True):
            addresses = [settings.host]
            if settings.policy is not None:
                # getaddrinfo blocks: in a thread, so that one slow resolver stalls no watcher
                addresses = await asyncio.get_running_loop().run_in_executor(
                    None, settings.policy.resolve, settings.host, settings.port)
            context = make_ssl_context(settings) if settings.security != "none" else None
            self._reader, self._writer = await self._connect(addresses, context)
            greeting = await self._line()
            if not greeting.upper().startswith((b"* OK", b"* PREAUTH")):
                raise exceptions.ProtocolError(f"unexpected greeting {greeting[:80]!r}",
                                               host=settings.host)
            self._capabilities_from(greeting)
            if settings.security == "starttls":
                await self._starttls(context)
        with _translated(settings.host):
            if not self.capabilities:
                await self._command(b"CAPABILITY")
            await self._login()
            if "IDLE" not in self.capabilities:
                await self._command(b"CAPABILITY")
            if "IDLE" not in self.capabilities:
                raise IdleUnsupported(host=settings.host)
            await self._command(b"EXAMINE " + _quoted(self.folder))
            self._watching = True

    async def close(self):
        writer, self._writer = self._writer, None
        if writer is None:
            return
        with contextlib.suppress(Exception):
            # ends an IDLE under way first: a server reads anything else as a bad DONE
            writer.write((b"DONE\r\n" if self._idling else b"") + b"Z LOGOUT\r\n")
            await asyncio.wait_for(writer.drain(), 2)
        self._idling = False
        writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer.wait_closed(), 2)

    async def idle_once(self):
        """One IDLE command: wait for changes until :attr:`reidle_after`, then DONE."""
        with _translated(self.settings.host):
            tag = self._next_tag()
            self.idles += 1
            self._writer.write(tag + b" IDLE\r\n")
            await self._writer.drain()
            self._idling = True
            while True:  # until the continuation
                line = await self._line()
                if line.startswith(b"+"):
                    break
                self._untagged(line)
                if line.startswith(tag + b" "):
                    self._idling = False
                    raise exceptions.ProtocolError(f"IDLE refused: {line[:120]!r}",
                                                   host=self.settings.host)
            deadline = time.monotonic() + self.reidle_after
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    # the server's lines while idling; none for a while is normal
                    line = await asyncio.wait_for(self._line(timeout=None), remaining)
                except asyncio.TimeoutError:
                    break
                self._untagged(line)
            self._writer.write(b"DONE\r\n")
            self._idling = False
            await self._writer.drain()
            await self._until_tagged(tag)

    # -- protocol ------------------------------------------------------------------------------

    async def _connect(self, addresses, context):
        settings = self.settings
        loop = asyncio.get_running_loop()
        error = None
        for address in addresses:
            try:
                _transport, stream = await asyncio.wait_for(loop.create_connection(
                    lambda: _Stream(MAX_LINE), address, settings.port), settings.timeout)
            except (OSError, asyncio.TimeoutError) as exc:
                error = exc
                continue
            if settings.security == "ssl":
                try:
                    await asyncio.wait_for(stream.start_tls(context, settings.host),
                                           settings.timeout)
                except BaseException:
                    stream.close()
                    raise
            return stream, stream
        raise error or OSError("no address to connect to")

    async def _starttls(self, context):
        if "STARTTLS" not in self.capabilities:
            raise exceptions.StartTLSUnavailable(host=self.settings.host)
        await self._command(b"STARTTLS")
        await asyncio.wait_for(self._writer.start_tls(context, self.settings.host),
                               self.settings.timeout)
        self.capabilities = frozenset()

    async def _login(self):
        settings = self.settings
        if settings.access_token:
            if "AUTH=OAUTHBEARER" in self.capabilities:
                mechanism, response = "OAUTHBEARER", oauth.oauthbearer_response(
                    settings.login, settings.access_token, settings.host, settings.port)
            else:
                mechanism, response = "XOAUTH2", oauth.xoauth2_response(
                    settings.login, settings.access_token)
            payload = base64.b64encode(response.encode())
            tag = self._next_tag()
            self._writer.write(tag + b" AUTHENTICATE " + mechanism.encode() + b"\r\n")
            await self._writer.drain()
            while True:
                line = await self._line()
                if line.startswith(b"+"):
                    # the client response, then an empty answer to an error challenge
                    self._writer.write((payload if payload else b"") + b"\r\n")
                    payload = b""
                    await self._writer.drain()
                    continue
                if line.startswith(tag + b" "):
                    if not _TAGGED.match(line) or _TAGGED.match(line)["status"].upper() != b"OK":
                        raise exceptions.TokenRejected(line[len(tag) + 1:][:200].decode(
                            "utf-8", "replace"), host=settings.host)
                    self._capabilities_from(line)
                    return
                self._untagged(line)
        if "LOGINDISABLED" in self.capabilities:
            raise exceptions.LoginRejected("the server refuses LOGIN here", host=settings.host)
        try:
            await self._command(b"LOGIN " + _astring(settings.login) + b" "
                                + _astring(settings.password or ""), literal_ok=True)
        except exceptions.ProtocolError as exc:
            raise exceptions.LoginRejected(exc.detail, host=settings.host)

    async def _command(self, command, *, literal_ok=False):
        """Send ``command`` (bytes, literals in ``{n}\\r\\n`` form allowed) and wait for its
        tagged OK; raise ProtocolError on NO/BAD."""
        tag = self._next_tag()
        parts = re.split(rb"(\{\d+\}\r\n)", command) if literal_ok else [command]
        self._writer.write(tag + b" " + parts[0])
        for index in range(1, len(parts), 2):
            self._writer.write(parts[index])
            await self._writer.drain()
            line = await self._line()  # the server's go-ahead for the literal
            if not line.startswith(b"+"):
                raise exceptions.ProtocolError(f"literal refused: {line[:80]!r}",
                                               host=self.settings.host)
            self._writer.write(parts[index + 1])
        self._writer.write(b"\r\n")
        await self._writer.drain()
        line = await self._until_tagged(tag)
        status = _TAGGED.match(line)
        if not status or status["status"].upper() != b"OK":
            raise exceptions.ProtocolError(
                f"{command.split(b' ', 1)[0].decode()} failed: "
                f"{line[len(tag) + 1:][:200].decode('utf-8', 'replace')}",
                host=self.settings.host)
        self._capabilities_from(line)
        return line

    async def _until_tagged(self, tag):
        while True:
            line = await self._line()
            if line.startswith(tag + b" "):
                return line
            self._untagged(line)

    async def _line(self, timeout=...):
        """One response line without CRLF (a trailing literal read and appended)."""
        timeout = self.settings.timeout if timeout is ... else timeout
        try:
            line = await asyncio.wait_for(self._reader.readuntil(b"\r\n"), timeout)
        except asyncio.LimitOverrunError:
            raise exceptions.ProtocolError(f"a line longer than {MAX_LINE} bytes",
                                           host=self.settings.host)
        except asyncio.IncompleteReadError:
            raise exceptions.ServerGone("the server closed the connection",
                                        host=self.settings.host)
        line = line[:-2]
        literal = _LITERAL.search(line)
        if literal:
            size = int(literal.group(1))
            if size > MAX_LITERAL:
                raise exceptions.ProtocolError(f"a {size}-byte literal while watching",
                                               host=self.settings.host)
            data = await asyncio.wait_for(self._reader.readexactly(size), timeout)
            line += data + await self._line(timeout)
        if line.upper().startswith(b"* BYE"):
            raise exceptions.ServerGone(line[6:][:200].decode("utf-8", "replace"),
                                        host=self.settings.host)
        return line

    def _untagged(self, line):
        self._capabilities_from(line)
        if self._watching and _CHANGE.match(line):
            self.changes += 1
            now = time.monotonic()
            if now - self._last_change >= DEBOUNCE:
                # the first change is told at once; those within DEBOUNCE after it, once at
                # its end (a delivery of ten mails, a hundred flags changed: two calls)
                self._last_change = now
                asyncio.get_running_loop().call_soon(self.on_change)
            elif not self._trailing:
                self._trailing = True
                asyncio.get_running_loop().call_later(
                    DEBOUNCE - (now - self._last_change), self._trailing_change)

    def _trailing_change(self):
        self._trailing = False
        self._last_change = time.monotonic()
        self.on_change()

    def _capabilities_from(self, line):
        match = _CAPABILITY.search(line)
        if match:
            words = (match.group(1) or match.group(2) or b"").decode("ascii", "replace")
            self.capabilities = frozenset(word.upper() for word in words.split())

    def _next_tag(self):
        self._tag += 1
        return b"V%d" % self._tag


class _Stream(asyncio.Protocol):
    """One connection as lines and literals: plain, or TLS through an :class:`ssl.SSLObject`
    of its own.

    asyncio's own TLS transport keeps a 256 KB read buffer for every connection (a thousand
    watchers: 250 MB for buffers that hold a few bytes now and then); here a connection costs
    what OpenSSL keeps for it (it releases its buffers between records) and the bytes not read
    yet. Reads raise what ``asyncio.StreamReader`` raises (``IncompleteReadError`` at end of
    file, ``LimitOverrunError`` for a line longer than ``limit``).
    """

    def __init__(self, limit):
        self.limit = limit
        self._buffer = bytearray()
        self._transport = None
        self._waiter = None
        self._eof = False
        self._error = None
        self._tls = self._incoming = self._outgoing = None
        self._handshake = None
        self._closed = asyncio.get_running_loop().create_future()
        self._writable = None

    # -- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport):
        self._transport = transport

    def data_received(self, data):
        if self._tls is None:
            self._buffer += data
        else:
            self._incoming.write(data)
            self._decrypt()
        self._wake()

    def eof_received(self):
        self._eof = True
        self._wake()
        return False

    def connection_lost(self, exc):
        self._eof = True
        self._error = self._error or exc
        if self._handshake is not None and not self._handshake.done():
            self._handshake.set_exception(exc or ConnectionResetError("connection closed"))
        if not self._closed.done():
            self._closed.set_result(None)
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        self._wake()

    def pause_writing(self):
        self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self):
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        self._writable = None

    # -- TLS -------------------------------------------------------------------------------

    async def start_tls(self, context, server_hostname):
        """Upgrade to TLS (at once, or after STARTTLS's OK), verified against
        ``server_hostname`` as ``context`` says."""
        if self._buffer:
            # bytes after the OK of STARTTLS, before the handshake: injected in clear text
            raise exceptions.ProtocolError("data before the TLS handshake")
        self._incoming, self._outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing,
                                     server_hostname=server_hostname)
        self._handshake = asyncio.get_running_loop().create_future()
        self._decrypt()
        await self._handshake

    def _decrypt(self):
        if self._handshake is not None and not self._handshake.done():
            try:
                self._tls.do_handshake()
            except ssl.SSLWantReadError:
                self._flush()
                return
            except (ssl.SSLError, ssl.CertificateError) as exc:
                self._flush()
                self._handshake.set_exception(exc)
                return
            self._handshake.set_result(None)
        while True:
            try:
                chunk = self._tls.read(16384)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                self._eof = True
                break
            except ssl.SSLError as exc:
                self._error, self._eof = exc, True
                break
            if not chunk:
                self._eof = True
                break
            self._buffer += chunk
        self._flush()  # what TLS 1.3 answers by itself (key updates)

    def _flush(self):
        data = self._outgoing.read()
        if data and not self._transport.is_closing():
            self._transport.write(data)

    # -- the StreamReader / StreamWriter interface idle needs ------------------------------

    def write(self, data):  # pylint: disable=method-required-super  # not a model
        if self._eof or self._transport.is_closing():
            raise ConnectionResetError("the connection is closed")
        if self._tls is None:
            self._transport.write(data)
        else:
            self._tls.write(data)
            self._flush()

    async def drain(self):
        if self._error is not None:
            raise ConnectionResetError(str(self._error))
        if self._writable is not None:
            await self._writable

    async def readuntil(self, separator=b"\r\n"):
        while True:
            index = self._buffer.find(separator)
            if index >= 0:
                end = index + len(separator)
                if end > self.limit:
                    raise asyncio.LimitOverrunError("line too long", end)
                line = bytes(self._buffer[:end])
                del self._buffer[:end]
                return line
            if len(self._buffer) > self.limit:
                raise asyncio.LimitOverrunError("line too long", len(self._buffer))
            if self._eof:
                self._raise_eof()
            await self._wait()

    async def readexactly(self, size):
        while len(self._buffer) < size:
            if self._eof:
                self._raise_eof()
            await self._wait()
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def close(self):
        if self._transport is None or self._transport.is_closing():
            return
        if self._tls is not None and self._handshake is not None and self._handshake.done() \
                and not self._eof:
            with contextlib.suppress(ssl.SSLError):
                self._tls.unwrap()  # close_notify
            self._flush()
        self._transport.close()

    async def wait_closed(self):
        await self._closed

    def _raise_eof(self):
        if isinstance(self._error, ssl.SSLError):
            raise self._error
        raise asyncio.IncompleteReadError(bytes(self._buffer), None)

    async def _wait(self):
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def _wake(self):
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


def _quoted(text):
    data = text.encode("utf-8") if isinstance(text, str) else text
    return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def _astring(text):
    """A quoted string, or a literal when the text holds CR, LF, NUL or 8-bit bytes."""
    data = text.encode("utf-8")
    if any(byte in data for byte in (0x0A, 0x0D, 0x00)) or not data.isascii():
        return b"{%d}\r\n" % len(data) + data
    return _quoted(data)


@contextlib.contextmanager
def _translated(host, *, connecting=False):
    """Network and TLS errors of the asyncio streams as :mod:`.exceptions` errors."""
    try:
        yield
    except exceptions.WebmailError:
        raise
    except asyncio.CancelledError:
        raise
    except socket.gaierror as exc:
        raise exceptions.HostNotFound(exc.strerror, host=host)
    except ssl.SSLCertVerificationError as exc:
        raise exceptions.CertificateUntrusted(exc.verify_message, host=host)
    except ssl.SSLError as exc:
        raise exceptions.TLSHandshakeFailed(exc.reason or str(exc), host=host)
    except ConnectionRefusedError:
        raise exceptions.ConnectionRefused(host=host)
    except (asyncio.TimeoutError, TimeoutError):
        raise exceptions.ConnectionTimeout(host=host)
    except (ConnectionError, EOFError, asyncio.IncompleteReadError) as exc:
        raise exceptions.ServerGone(str(exc), host=host)
    except OSError as exc:
        if connecting:
            raise exceptions.ConnectionFailed(exc.strerror or str(exc), host=host)
        raise exceptions.ServerGone(exc.strerror or str(exc), host=host)
