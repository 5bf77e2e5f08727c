"""Mail parsing: header blocks for the message list, whole messages for reading.

:func:`parse_list_headers` turns the raw bytes of ``BODY.PEEK[HEADER.FIELDS (...)]`` into the
fields of the message list. It is on the sync's hot path (every message of a first sync), so it
unfolds and splits the block itself and leaves to others only what needs them: RFC 2047
encoded words (``email.header``), address lists (:mod:`.addresses`) and dates
(``email.utils``). Raw 8-bit bytes are
kept (UTF-8 when they are, else Windows-1252), where ENVELOPE would drop them. A header that
cannot be decoded never loses the mail: the field keeps what could be read and ``note`` says
what went wrong.

:func:`parse_message` reads a whole message (``BODY.PEEK[]``) into a :class:`ParsedMessage`:
the list headers again, the HTML and text bodies, the attachments and inline images, and notes
on whatever was damaged. It uses the modern ``email`` API (``policy.default``, ``get_body``) for
the MIME tree but decodes payloads and charsets itself, so that no mail, however broken, makes
it raise.
"""

import base64
import binascii
import codecs
import email
import email.errors
import email.header
import email.policy
import email.utils
import functools
import mimetypes
import re
import urllib.parse
from dataclasses import dataclass, field

from . import addresses
from .html import html_to_text, text_to_html

_ENCODED_WORD = re.compile(rb"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
_SPACE_BETWEEN_WORDS = re.compile(r"(\?=)\s+(=\?)")
_FOLD = re.compile(rb"\r?\n[ \t]")


@dataclass
class ListHeaders:
    """The list fields of one message; strings are ``""`` when the header is missing."""

    subject: str = ""
    email_from: str = ""
    email_to: str = ""
    email_cc: str = ""
    date: object = None  # aware datetime, or None
    message_id: str = ""
    in_reply_to: str = ""
    references: str = ""
    from_address: str = ""  # the first From address, normalised (core.addresses)
    notes: list = field(default_factory=list)

    @property
    def note(self):
        return merge_notes(*self.notes)


def merge_notes(*notes):
    """One note from several: the parts of each (a note joins its parts with ``"; "``), in
    order, each said once, empty ones left out.

    A mail's stored note joins what the list headers said at sync and what reading the whole
    message says later, which reads the same headers again: "unreadable date header" once.
    """
    parts = (part.strip() for note in notes for part in str(note or "").split("; "))
    return "; ".join(dict.fromkeys(part for part in parts if part))


def decode_bytes(value):
    """Bytes of a header or a part of unknown charset: UTF-8 when valid, else Windows-1252."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("cp1252", "replace")


def decode_words(text):
    """Decode RFC 2047 encoded words in ``text``; unknown charsets give replacement chars."""
    if "=?" not in text:
        return text
    # encoded words separated by whitespace only are joined (RFC 2047 section 6.2)
    text = _SPACE_BETWEEN_WORDS.sub(r"\1\2", text)
    try:
        parts = email.header.decode_header(text)
    except Exception:  # HeaderParseError (damaged base64) and others: keep the raw text
        return text
    decoded = []
    for chunk, charset in parts:
        if isinstance(chunk, str):
            decoded.append(chunk)
        else:
            # as a body's text: never raises, whatever the label (NUL, "rot13", "x-unknown")
            decoded.append(decode_text(chunk, charset)[0])
    return "".join(decoded)


# A mailbox has few distinct From/To/Cc values (colleagues, lists, one's own address), and
# parsing an address list is most of this module's time on the sync's hot path: cache it.
@functools.lru_cache(maxsize=8192)
def read_addresses(text):
    """Normalise an address list; return ``("Name <addr>, addr2", first address normalised)``.

    Group syntax (``undisclosed-recipients:;``) is tolerated; an entry that is not an address
    is kept as written. The first address, normalised (:func:`.addresses.normalize_address`),
    is how a sender is compared everywhere (trusted senders, Qualify).
    """
    if not text:
        return "", ""
    result = []
    first = ""
    for name, address in addresses.split(text):
        if not address and not name:
            continue
        if not first and "@" in address:
            first = addresses.normalize_address(address)
        # not email.utils.formataddr: it would encode a non-ASCII name back into =?utf-8?...
        result.append(addresses.format_address(decode_words(name), address))
    return ", ".join(result), first


def format_addresses(text):
    """Normalise an address list to ``Name <addr>, addr2`` (group syntax tolerated)."""
    return read_addresses(text)[0]


def split_header_block(raw):
    """``{lower-case name: bytes value}`` of a raw header block (first occurrence wins)."""
    headers = {}
    for line in _FOLD.sub(b" ", raw).split(b"\n"):
        name, sep, value = line.partition(b":")
        if not sep or not name or b" " in name.strip():
            continue
        key = name.strip().lower().decode("ascii", "replace")
        headers.setdefault(key, value.strip())
    return headers


def parse_list_headers(raw):
    """Parse the header block of one message for the message list.

    :param raw: bytes of ``BODY[HEADER.FIELDS (...)]`` (or a whole header block)
    :returns: :class:`ListHeaders`; never raises on bad input
    """
    result = ListHeaders()
    raw, cut = bounded_header_block(raw or b"")
    if cut:
        result.notes.append(cut)
    try:
        headers = split_header_block(raw)
    except Exception as exc:  # nothing in a header block may lose the mail
        result.notes.append(f"unreadable header block: {exc}")
        return result
    for key, attr in (("subject", "subject"), ("message-id", "message_id"),
                      ("in-reply-to", "in_reply_to"), ("references", "references")):
        value = headers.get(key)
        if value is None:
            continue
        text = decode_bytes(value)
        if key == "subject":
            text = decode_words(text)
        setattr(result, attr, " ".join(text.split()))
    for key, attr in (("from", "email_from"), ("to", "email_to"), ("cc", "email_cc")):
        value = headers.get(key)
        if value is None:
            continue
        text = decode_bytes(value)
        try:
            formatted, first = read_addresses(text)
            setattr(result, attr, formatted)
            if key == "from":
                result.from_address = first
        except Exception as exc:  # same: keep the raw text
            setattr(result, attr, decode_words(text))
            result.notes.append(f"unreadable {key} header: {exc}")
    value = headers.get("date")
    if value:
        try:
            result.date = email.utils.parsedate_to_datetime(decode_bytes(value))
        except (TypeError, ValueError, IndexError, OverflowError):
            result.notes.append("unreadable date header")
    return result



def bounded_header_block(raw, limit=None):
    """``(header block, note)``: ``raw`` itself and None when it is at most ``limit`` bytes
    (:data:`MAX_HEADER_BYTES`); else its whole fields up to ``limit`` bytes, plus the MIME and
    list fields found beyond (up to :data:`MAX_FIELD_BYTES` each), and a note saying so."""
    limit = limit or MAX_HEADER_BYTES
    if len(raw) <= limit:
        return raw, None
    # cut where a field starts (after a line end not followed by a folding space)
    end = raw.rfind(b"\n", 0, limit)
    while end > 0 and raw[end + 1:end + 2] in (b" ", b"\t"):
        end = raw.rfind(b"\n", 0, end)
    head = raw[:end + 1] if end > 0 else b""
    wanted = [match.group(0) for match in _WANTED_FIELD.finditer(raw, len(head))
              if len(match.group(0)) <= MAX_FIELD_BYTES]
    kept = b"".join(field if field.endswith(b"\n") else field + b"\r\n" for field in wanted)
    return head + kept + b"\r\n", (
        f"the header block is {len(raw) / 1e6:.1f} MB long: only its first "
        f"{limit // 1024} KB and its main fields were read")


# -- whole messages -----------------------------------------------------------------------------

#: Multipart nesting deeper than this is not read (real mail nests 3 or 4 levels; a mail bomb
#: nests thousands).
MAX_DEPTH = 40
#: Parts of a message that are read (attachments listed): a mail bomb of 10,000 parts would
#: otherwise make as many attachments.
MAX_PARTS = 2000
#: A header block longer than this is cut (see :func:`bounded_header_block`): the stdlib keeps
#: each header line as objects many times its size (10 MB of headers: 200 MB, 2 s).
MAX_HEADER_BYTES = 256 * 1024
#: Longest single header field kept from beyond :data:`MAX_HEADER_BYTES`.
MAX_FIELD_BYTES = 64 * 1024
_MULTIPART = re.compile(rb"(?im)^content-type[ \t]*:[ \t]*multipart/")
#: Header fields kept from beyond :data:`MAX_HEADER_BYTES`: the MIME structure and the list's.
_WANTED_FIELD = re.compile(
    rb"(?im)^(?:content-[a-z0-9-]*|mime-version|from|to|cc|subject|date|message-id|"
    rb"in-reply-to|references|reply-to)[ \t]*:[^\r\n]*(?:\r?\n[ \t][^\r\n]*)*(?:\r?\n)?")

_CRLF_COMPAT = email.policy.compat32.clone(linesep="\r\n", max_line_length=0)
_CID_REFERENCE = re.compile(r"""cid:\s*([^"'\s)>]+)""", re.IGNORECASE)
_UNSAFE_FILENAME = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]+")
_BASE64_NOISE = re.compile(rb"[^A-Za-z0-9+/]")
_WHITESPACE = re.compile(rb"\s+")

#: Charset labels read the way browsers do (WHATWG Encoding Standard): mail says "ISO-8859-1"
#: or "us-ascii" and means Windows-1252, says "GB2312" and means GBK, and so on.
_CHARSET_ALIASES = {
    "iso-8859-1": "cp1252", "iso8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252",
    "l1": "cp1252", "iso_8859-1": "cp1252", "iso-8859-9": "cp1254", "latin5": "cp1254",
    "iso-8859-11": "cp874", "tis-620": "cp874", "windows-874": "cp874",
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030",
    "euc-kr": "cp949", "ks_c_5601-1987": "cp949",
    "shift_jis": "cp932", "shift-jis": "cp932", "sjis": "cp932", "x-sjis": "cp932",
    "big5": "big5hkscs", "x-mac-roman": "mac-roman",
}
_ASCII_LABELS = {"", "us-ascii", "ascii", "ansi_x3.4-1968", "iso646-us", "us", "default",
                 "unknown-8bit", "x-unknown", "unknown", "x-user-defined"}
#: Text codecs that are not character sets: a mail that names one gets the fallback.
_NOT_CHARSETS = {"unicode-escape", "raw-unicode-escape", "idna", "punycode", "undefined"}

_STRUCTURE_DEFECTS = (
    email.errors.NoBoundaryInMultipartDefect,
    email.errors.StartBoundaryNotFoundDefect,
    email.errors.MultipartInvariantViolationDefect,
)
_DEFECT_NOTES = {
    email.errors.NoBoundaryInMultipartDefect: "a multipart section has no boundary",
    email.errors.StartBoundaryNotFoundDefect:
        "the MIME boundary was not found: the parts could not be separated",
    email.errors.CloseBoundaryNotFoundDefect: "the message ends early (a MIME part is not closed)",
    email.errors.MultipartInvariantViolationDefect: "a multipart section has no parts",
    email.errors.FirstHeaderLineIsContinuationDefect: "the header block is malformed",
    email.errors.MissingHeaderBodySeparatorDefect: "the header block is malformed",
    email.errors.InvalidMultipartContentTransferEncodingDefect:
        "a multipart section declares a transfer encoding",
}


@dataclass
class MailPart:
    """One attachment or inline image of a message.

    :attr filename: a safe file name (no directory part); made up when the mail gives none
    :attr content_type: lower-case ``type/subtype``
    :attr data: the decoded bytes (an attached mail: its RFC 5322 bytes)
    :attr content_id: the ``Content-ID`` without ``<>``, or None
    :attr inline: True when the HTML body shows this part (``cid:`` reference), so a viewer
        need not list it among the downloads
    """

    filename: str
    content_type: str
    data: bytes = field(repr=False)
    content_id: str = None
    inline: bool = False

    @property
    def size(self):
        return len(self.data)


@dataclass
class ParsedMessage:
    """A message read by :func:`parse_message`.

    :attr headers: :class:`ListHeaders` of the message's header block
    :attr html: the HTML body as sent (not sanitised: see :func:`.html.prepare_body`); made
        from the text body when the mail has no HTML
    :attr html_from_text: True when ``html`` was made from the text body (the mail has no
        HTML): markup written here, for no rendering mode in particular
    :attr text: the text body; made from the HTML body when the mail has no text
    :attr attachments: :class:`MailPart` list, inline images included
    :attr notes: what could not be read, in plain English (header notes included)
    """

    headers: ListHeaders
    html: str = ""
    text: str = ""
    html_from_text: bool = False
    attachments: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    def find_cid(self, content_id):
        """The part whose Content-ID is ``content_id`` (with or without ``<>``), or None."""
        wanted = (content_id or "").strip().strip("<>").strip()
        if not wanted:
            return None
        for part in self.attachments:
            if part.content_id == wanted:
                return part
        lowered = wanted.lower()
        return next((part for part in self.attachments
                     if part.content_id and part.content_id.lower() == lowered), None)


def decode_text(data, charset):
    """Decode body bytes declared in ``charset``; never raises.

    Labels are read as browsers read them (``ISO-8859-1`` is Windows-1252, ...). No label,
    ``us-ascii`` or an unknown label: UTF-8 when the bytes are valid UTF-8, else Windows-1252.
    Bytes that are not valid in the declared charset become U+FFFD replacement characters.

    :param data: bytes
    :param charset: the declared charset label, or None
    :returns: ``(text, note)``; ``note`` is None, or says what was wrong in plain English
    """
    label = (charset or "").strip().strip("\"';").strip().lower()
    if label in _ASCII_LABELS:
        return decode_bytes(data), None
    name = _CHARSET_ALIASES.get(label, label)
    try:
        codec = codecs.lookup(name)
    except (LookupError, ValueError):  # ValueError: a NUL in the label
        codec = None
    if codec is None or not codec._is_text_encoding or codec.name in _NOT_CHARSETS:
        return decode_bytes(data), f"unknown charset {label[:40]!r}: read as UTF-8 or Windows-1252"
    try:
        return data.decode(codec.name), None
    except UnicodeDecodeError:
        return (data.decode(codec.name, "replace"),
                f"the text is not valid {label[:40]}: unreadable characters were replaced")
    except Exception:  # a few codecs raise other errors on bad input
        return decode_bytes(data), f"the text could not be decoded as {label[:40]}"


def parse_message(raw):
    """Parse a whole RFC 5322 message.

    Uses ``email.message_from_bytes(raw, policy=email.policy.default)`` and ``get_body`` to find
    the bodies, falling back to the ``compat32`` policy when the modern parser gives up; headers
    come from :func:`parse_list_headers`, so a header that ``policy.default`` cannot parse
    (``Message-Id: <>`` raises IndexError on Python 3.11) costs nothing.

    * bodies: ``html`` and ``text``; each is derived from the other when missing (text -> HTML
      with line breaks, quotes and clickable links, escaped). Inline text parts after the body
      (mailing-list footers, Apple Mail's split HTML) are appended to it.
    * attachments: every other leaf part; an attached mail (``message/rfc822``) is one part named
      after its subject plus ``.eml``, its sub-parts are not listed.
    * damage: charsets that lie (replacement characters), unknown charsets (UTF-8 or
      Windows-1252), truncated base64 (what can be decoded), missing boundaries (the raw text
      is shown), all said in ``notes``.

    :param raw: the message bytes (``BODY[]``)
    :returns: :class:`ParsedMessage`; never raises
    """
    result = ParsedMessage(headers=ListHeaders())
    try:
        _parse_into(result, raw)
    except Exception as exc:  # a mail must always be shown, even half read
        result.notes.append(f"the message could not be read completely ({type(exc).__name__})")
    try:
        if not result.html and result.text:
            result.html = text_to_html(result.text)
            result.html_from_text = True
        elif not result.text and result.html:
            result.text = html_to_text(result.html)
    except Exception:
        result.notes.append("the body could not be converted")
    result.notes = list(dict.fromkeys(result.notes))
    return result


def _parse_into(result, raw):
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogateescape")
    raw = bytes(raw or b"")
    header_block, body_start = _split_head(raw)
    if len(header_block) > MAX_HEADER_BYTES:
        header_block, note = bounded_header_block(header_block)
        result.notes.append(note)
        raw = header_block + raw[body_start:]
        body_start = len(header_block)
    result.headers = parse_list_headers(header_block)
    result.notes.extend(result.headers.notes)
    if _MULTIPART.search(header_block):
        raw = _bounded_parts(raw, body_start, result.notes)

    message = _message_from_bytes(raw, result.notes)
    if message is None:
        result.text = decode_text(raw[body_start:], None)[0]
        result.notes.append("the MIME structure could not be read: the raw text is shown")
        return

    nodes, leaves = _walk(message, result.notes)
    if len(leaves) > MAX_PARTS:
        result.notes.append(f"the message has {len(leaves):,} parts: only the first "
                            f"{MAX_PARTS:,} were read")
        del leaves[MAX_PARTS:]
    html_part, text_part = _find_bodies(message, leaves, many=len(nodes) > MAX_PARTS)
    extra_html, extra_text = [], []
    text_alternative = None  # the multipart/alternative that holds the text body
    for part, ancestors in leaves:
        if part is text_part:
            text_alternative = next((a for a in reversed(ancestors)
                                     if _content_type(a) == "multipart/alternative"), None)
    for index, (part, ancestors) in enumerate(leaves, 1):
        content_type = _content_type(part)
        if content_type.startswith("multipart/"):
            content_type = "text/plain"  # its boundary was not found: show its raw text
        if part is html_part:
            result.html = _part_text(part, result.notes)
            continue
        if part is text_part:
            result.text = _part_text(part, result.notes)
            continue
        parent_type = _content_type(ancestors[-1]) if ancestors else ""
        inline_text = (content_type in ("text/plain", "text/html")
                       and not _is_attachment(part) and not _safe(part.get_filename))
        if inline_text and parent_type in ("multipart/alternative", "multipart/related"):
            continue  # another rendering of the body already shown
        if inline_text and parent_type.startswith("multipart/") and (html_part or text_part):
            content = _part_text(part, result.notes)
            if content_type == "text/html":
                extra_html.append(content)
                if text_alternative is None or text_alternative not in ancestors:
                    extra_text.append(html_to_text(content))
            else:
                extra_html.append(text_to_html(content))
                if text_alternative is None or text_alternative not in ancestors:
                    extra_text.append(content)
            continue
        result.attachments.append(_attachment(part, content_type, index, result.notes))

    if extra_html:
        if not result.html and result.text:
            result.html = text_to_html(result.text)
        result.html = "\n".join([result.html, *extra_html])
    if extra_text and result.text:
        result.text = "\n\n".join([result.text, *extra_text])

    # a cid: URL is URL-encoded (RFC 2392); compare without case, as mail clients do
    referenced = {_strip_cid(urllib.parse.unquote(ref)).lower()
                  for ref in _CID_REFERENCE.findall(result.html)}
    for part in result.attachments:
        part.inline = bool(part.content_id) and part.content_id.lower() in referenced

    for node in nodes:
        for defect in getattr(node, "defects", ()):
            note = _DEFECT_NOTES.get(type(defect))
            if note:
                result.notes.append(note)


def _bounded_parts(raw, body_start, notes):
    """``raw`` cut before its part delimiter number 1.1 x :data:`MAX_PARTS` (a line that starts
    with ``--``; a tenth more for the closing delimiters of nested multiparts): the stdlib's
    parser spends ~0.5 ms on each part (25 MB of tiny parts: minutes); what follows is not
    read."""
    position = body_start
    for _count in range(MAX_PARTS + MAX_PARTS // 10):
        position = raw.find(b"\n--", position)
        if position < 0:
            return raw
        position += 3
    notes.append(f"the message has more than {MAX_PARTS:,} parts: the rest was not read")
    return raw[:position - 2]


def _split_head(raw):
    """``(header block, offset of the body)`` of a raw message."""
    if raw.startswith((b"\r\n", b"\n")):
        return b"", raw.index(b"\n") + 1
    ends = [(index, len(sep)) for sep in (b"\r\n\r\n", b"\n\n", b"\n\r\n")
            if (index := raw.find(sep)) >= 0]
    if not ends:
        return raw, len(raw)
    index, length = min(ends)
    return raw[:index + length], index + length


def _message_from_bytes(raw, notes):
    """The MIME tree of ``raw``: ``policy.default``, or ``compat32`` when that reads it better.

    The modern header parser loses some boundaries that the legacy one reads (Outlook's
    unquoted ``boundary=----=_NextPart_...``), and it has crashed on hostile input.
    """
    try:
        modern = email.message_from_bytes(raw, policy=email.policy.default)
    except RecursionError:
        # parts nested a thousand deep: the legacy parser recurses the same way
        return None
    except Exception:  # the modern parser has bugs on hostile input
        modern = None
    modern_damage = _structure_damage(modern) if modern is not None else None
    if modern_damage == 0:
        return modern
    try:
        legacy = email.message_from_bytes(raw, policy=email.policy.compat32)
    except Exception:
        legacy = None
    if modern is None:
        if legacy is not None:
            notes.append("the MIME structure is damaged: read in compatibility mode")
        return legacy
    if legacy is not None and _structure_damage(legacy) < modern_damage:
        return legacy
    return modern


def _structure_damage(message):
    """How many boundaries went missing in ``message`` (0: the tree is sound)."""
    try:
        return sum(isinstance(defect, _STRUCTURE_DEFECTS)
                   for part in message.walk() for defect in part.defects)
    except Exception:
        return 1_000_000


def _walk(message, notes):
    """All nodes and the leaf parts (``(part, ancestors)``) in document order, no recursion.

    An attached message (``message/*``) is a leaf; a multipart whose boundary was not found
    (its payload is a string) is a leaf too, shown as text.
    """
    nodes, leaves = [], []
    stack = [(message, ())]
    while stack:
        part, ancestors = stack.pop()
        nodes.append(part)
        payload = _safe(part.get_payload)
        maintype = _content_type(part).partition("/")[0]
        if maintype == "multipart" and isinstance(payload, list):
            if len(ancestors) >= MAX_DEPTH:
                notes.append(f"parts nested deeper than {MAX_DEPTH} levels were not read")
                continue
            stack.extend((child, (*ancestors, part)) for child in reversed(payload))
        else:
            leaves.append((part, ancestors))
    return nodes, leaves


def _find_bodies(message, leaves, many=False):
    """``(html part, text part)``: ``get_body`` first (not for ``many`` parts: it reads every
    part's headers again), then the first inline text leaves."""
    html_part = text_part = None
    found = False
    if hasattr(message, "get_body") and not many:
        try:
            html_part = message.get_body(("html",))
            text_part = message.get_body(("plain",))
            found = True
        except Exception:  # a broken header inside the tree
            html_part = text_part = None
    if found and (html_part is not None or text_part is not None):
        return html_part, text_part
    for part, ancestors in leaves:
        if _is_attachment(part) or any(_content_type(a) == "message/rfc822" for a in ancestors):
            continue
        content_type = _content_type(part)
        if content_type == "text/html" and html_part is None:
            html_part = part
        elif text_part is None and (content_type == "text/plain"
                                    or content_type.startswith("multipart/")):
            text_part = part  # a multipart without boundary: its raw text
    return html_part, text_part


def _part_text(part, notes):
    data = _payload_bytes(part, notes)
    charset = None if _content_type(part).startswith("multipart/") else _safe(
        part.get_content_charset)
    text, note = decode_text(data, charset)
    if note:
        notes.append(note)
    return text.replace("\r\n", "\n")


def _payload_bytes(part, notes):
    """The decoded payload; base64 that the stdlib gives up on is decoded as far as it goes."""
    cte = (str(_header(part, "content-transfer-encoding") or "")).strip().lower()
    if cte == "base64":
        payload = _safe(part.get_payload)
        if isinstance(payload, str):
            return _decode_base64(payload.encode("ascii", "surrogateescape"), notes)
    data = _safe(lambda: part.get_payload(decode=True))
    if isinstance(data, bytes):
        return data
    payload = _safe(part.get_payload)
    if isinstance(payload, str):
        return payload.encode("utf-8", "surrogateescape")
    return b""


def _decode_base64(encoded, notes):
    try:  # the common case, at C speed: clean base64 in lines
        return base64.b64decode(encoded.translate(None, b" \t\r\n"), validate=True)
    except (binascii.Error, ValueError):
        return _decode_damaged_base64(encoded, notes)


def _decode_damaged_base64(encoded, notes):
    """What can be read of base64 with stray characters or a missing end."""
    stripped = _WHITESPACE.sub(b"", encoded)
    data_chars = stripped.partition(b"=")[0]  # padding ends the data
    cleaned = _BASE64_NOISE.sub(b"", data_chars)
    damaged = cleaned != data_chars or len(stripped) % 4 != 0
    cleaned = cleaned[:len(cleaned) - (len(cleaned) % 4 == 1)]  # a lone char holds no byte
    try:
        data = base64.b64decode(cleaned + b"=" * (-len(cleaned) % 4))
    except (binascii.Error, ValueError):
        data, damaged = b"", True
    if damaged:
        notes.append("a base64-encoded part is damaged or truncated: what could be read is kept")
    return data


def _attachment(part, content_type, index, notes):
    content_id = _strip_cid(_header(part, "content-id")) or None
    if content_type.startswith("message/"):
        data = _message_bytes(part)
        name = _message_filename(data, content_type)
    else:
        data = _payload_bytes(part, notes)
        name = _clean_filename(_safe(part.get_filename))
        if not name:
            stem = "image" if content_type.startswith("image/") else "attachment"
            extension = mimetypes.guess_extension(content_type, strict=False) or ".bin"
            name = f"{stem}-{index}{extension}"
    return MailPart(filename=name, content_type=content_type, data=data, content_id=content_id)


def _message_bytes(part):
    """The RFC 5322 bytes of an attached message (regenerated; CRLF line ends)."""
    payload = _safe(part.get_payload)
    if isinstance(payload, list) and payload:
        chunks = []
        for sub in payload:
            # compat32 writes the headers back as they came; policy.default would parse them
            chunk = _safe(lambda sub=sub: sub.as_bytes(policy=_CRLF_COMPAT))
            if chunk is not None:
                chunks.append(chunk)
        data = b"\r\n".join(chunks)
    else:
        data = _safe(lambda: part.get_payload(decode=True)) or b""
    if data and not data.endswith(b"\n"):
        data += b"\r\n"
    return data


def _message_filename(data, content_type):
    if content_type == "message/delivery-status":
        return "delivery-status.txt"
    subject = parse_list_headers(_split_head(data)[0]).subject
    return (_clean_filename(subject)[:120].strip() or "message") + ".eml"


def _clean_filename(name):
    if not name or not isinstance(name, str):
        return ""
    if "=?" in name:
        name = decode_words(name)
    name = re.split(r"[/\\]", name)[-1]
    return " ".join(_UNSAFE_FILENAME.sub(" ", name).split())[:255].strip(" .") or ""


def _strip_cid(value):
    """A Content-ID without its ``<>`` and spaces (``""`` for none)."""
    return str(value or "").strip().strip("<>").strip()


def _content_type(part):
    # asked several times of each part, and policy.default parses the header at each call:
    # kept on the part
    cached = getattr(part, "_vt_content_type", None)
    if cached:
        return cached
    value = _safe(part.get_content_type)
    if not value:
        raw = _header(part, "content-type") or "text/plain"
        value = str(raw).partition(";")[0].strip().lower() or "text/plain"
    part._vt_content_type = value
    return value


def _is_attachment(part):
    return _safe(part.get_content_disposition) == "attachment"


def _header(part, name):
    """A header of ``part`` as text; the raw value when ``policy.default`` cannot parse it."""
    try:
        value = part.get(name)
    except Exception:  # policy.default could not parse it: read it raw
        return _raw_header(part, name)
    return None if value is None else str(value)


def _raw_header(part, name):
    for key, value in _safe(part.raw_items, ()) or ():
        if key.lower() == name:
            return decode_words(str(value))
    return None


def _safe(function, default=None):
    """``function()``, or ``default`` when the email package trips over the input."""
    try:
        return function()
    except Exception:  # parsing hostile mail: any error means "not readable"
        return default
