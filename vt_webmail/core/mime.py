"""Mail parsing: header blocks for the message list.

:func:`parse_list_headers` turns the raw bytes of ``BODY.PEEK[HEADER.FIELDS (...)]`` into the
fields of the message list. It is on the sync's hot path (every message of a first sync), so it
unfolds and splits the block itself and leaves to the stdlib only what needs it: RFC 2047
encoded words (``email.header``), address lists and dates (``email.utils``). Raw 8-bit bytes are
kept (UTF-8 when they are, else Windows-1252), where ENVELOPE would drop them. A header that
cannot be decoded never loses the mail: the field keeps what could be read and ``note`` says
what went wrong.
"""

import email.header
import email.utils
import re
from dataclasses import dataclass, field

_ENCODED_WORD = re.compile(rb"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
_SPACE_BETWEEN_WORDS = re.compile(r"(\?=)\s+(=\?)")
_FOLD = re.compile(rb"\r?\n[ \t]")
_NEEDS_QUOTES = re.compile(r'[][()<>@,:;".\\]')


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
    notes: list = field(default_factory=list)

    @property
    def note(self):
        return "; ".join(self.notes)


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
    except (ValueError, AssertionError, IndexError):
        return text
    decoded = []
    for chunk, charset in parts:
        if isinstance(chunk, str):
            decoded.append(chunk)
            continue
        try:
            decoded.append(chunk.decode(charset or "ascii", "replace"))
        except LookupError:
            decoded.append(decode_bytes(chunk))
    return "".join(decoded)


def format_addresses(text):
    """Normalise an address list to ``Name <addr>, addr2`` (group syntax tolerated)."""
    if not text:
        return ""
    result = []
    for name, address in email.utils.getaddresses([text]):
        if not address and not name:
            continue
        name = decode_words(name).strip()
        # not email.utils.formataddr: it would encode a non-ASCII name back into =?utf-8?...
        if name and _NEEDS_QUOTES.search(name):
            name = '"{}"'.format(name.replace("\\", "\\\\").replace('"', '\\"'))
        result.append(f"{name} <{address}>" if name else address)
    return ", ".join(result)


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
    try:
        headers = split_header_block(raw or b"")
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
            setattr(result, attr, format_addresses(text))
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
