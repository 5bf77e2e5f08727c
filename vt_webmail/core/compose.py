"""Outgoing mail: build a message, and the conventions of replying and forwarding.

:func:`build_message` makes an RFC 5322 message with the modern ``email`` API: ``text/plain``
and ``text/html`` alternatives (the text made from the HTML when not given), in a
``multipart/mixed`` with the attachments, 7-bit clean (quoted-printable or base64 bodies,
RFC 2047 names and subject, RFC 2231 file names) so any SMTP or IMAP server takes it as is.

**Header injection**: every piece of foreign text that reaches a header (a subject, a display
name, a file name, Message-IDs, all possibly from a received mail) is made one line without
control characters, and cannot carry an RFC 2047 encoded word: the ``email`` package decodes
those again when it writes a header, and writes a decoded CR/LF as is, which starts a new header
(CPython before 3.11.10 / 3.12.5, CVE-2024-6923). Message-IDs are printable ASCII only. As a
last check, every header of every part is folded before the message is handed over: a line
that is not a continuation refuses the message (``ValueError``).

**Bcc** is never written into the message: a header travels with every copy, and each To/Cc
recipient would see who was blind-copied. Blind recipients exist only in the SMTP envelope:
give them to :func:`recipients` (``bcc=``) to get the envelope list for :func:`.smtp.send`, and
to :func:`message_bytes` (``bcc=``) for the copy kept in the Sent folder, where the sender may
see them (as Thunderbird does).
"""

import base64
import binascii
import datetime
import email
import email.policy
import email.utils
import html as std_html
import re
import secrets
from email.headerregistry import Address
from email.message import EmailMessage

import lxml.html
from lxml import etree

from . import addresses
from .html import html_to_text
from .mime import decode_words

#: The policy of built messages: CRLF line ends, and 7-bit clean bodies (never raw 8-bit).
POLICY = email.policy.SMTP.clone(cte_type="7bit")
#: For internationalised addresses (a non-ASCII local part): headers in raw UTF-8, which needs
#: a server with SMTPUTF8 (RFC 6531).
UTF8_POLICY = email.policy.SMTP.clone(utf8=True)
#: References kept in a reply: the thread's first message and the most recent ones (RFC 5322
#: 3.6.4 lets a client trim; very long headers are refused by some servers).
MAX_REFERENCES = 20

_REPLY_PREFIX = re.compile(
    r"^\s*(?:(?:re|aw|sv|vs|antw|odp|rif|res|ynt|atb|απ|回复|答复)\s*(?:\[\d+\]|\(\d+\))?"
    r"\s*[:：]\s*)+", re.IGNORECASE)
_FORWARD_PREFIX = re.compile(
    r"^\s*(?:(?:fwd?|wg|tr|rv|enc|doorst|vl|vb|pd|πρθ|转发)\s*(?:\[\d+\]|\(\d+\))?"
    r"\s*[:：]\s*)+", re.IGNORECASE)
_LIST_TAG = re.compile(r"^\[[^\]]{1,60}\]\s*")
#: A Message-ID as RFC 5322 writes it (printable ASCII, no space, no angle bracket inside)
_MESSAGE_ID = re.compile(r"<[!-;=?-~]+>")
_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")
_MIME_TOKEN = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_QUOTE_STYLE = "margin:0 0 0 0.8ex;border-left:1px solid #ccc;padding-left:1ex"
_DATA_IMAGE = re.compile(r"^data:(image/[a-z0-9.+-]+)(?:;[^,;]*)*;base64,(.*)$",
                         re.IGNORECASE | re.DOTALL)


def build_message(*, from_addr, to, cc=(), bcc=(), subject, html, text=None, attachments=(),
                  in_reply_to=None, references=None, message_id=None, date=None, domain=None,
                  related=(), draft=False):
    """Build an outgoing message.

    :param from_addr: the sender, ``"Name <addr>"`` or ``"addr"``
    :param to: recipients: one string (commas separate addresses) or an iterable of strings
    :param cc: same as ``to``
    :param bcc: same as ``to``; only checked here, never written (see the module docstring)
    :param subject: str (line breaks become spaces)
    :param html: the HTML body; empty for a text-only message
    :param text: the text alternative; made from ``html`` when None
    :param attachments: ``(filename, content_type, bytes)`` tuples; a ``message/rfc822`` one is
        embedded as a message (forward as attachment)
    :param in_reply_to: the parent's Message-ID (see :func:`reply_references`)
    :param references: the References of the reply (see :func:`reply_references`)
    :param message_id: the Message-ID to use; by default ``email.utils.make_msgid(domain)``
    :param date: datetime (naive: local time); by default now
    :param domain: the Message-ID's domain; by default the sender's domain (not this host's
        name: ``make_msgid`` would look it up in the DNS and publish it)
    :param related: ``(content_id, filename, content_type, bytes)`` tuples shown by the HTML
        body (``cid:`` images, see :func:`embed_images`): the HTML part becomes a
        ``multipart/related``; ignored without HTML
    :param draft: True for a draft (saved, not sent): no recipient needed
    :returns: :class:`email.message.EmailMessage` (policy :data:`POLICY` or
        :data:`UTF8_POLICY`); ``bytes(message)`` is ready for SMTP and IMAP APPEND
    :raises ValueError: no or several senders, no recipient, or a malformed address
    """
    senders = _addresses(from_addr)
    if len(senders) != 1:
        raise ValueError("a message needs exactly one sender")
    to_list, cc_list, bcc_list = _addresses(to), _addresses(cc), _addresses(bcc)
    if not (to_list or cc_list or bcc_list or draft):
        raise ValueError("a message needs at least one recipient")
    international = not all(address.username.isascii()
                            for address in senders + to_list + cc_list + bcc_list)
    message = EmailMessage(policy=UTF8_POLICY if international else POLICY)
    message["From"] = senders
    if to_list:
        message["To"] = to_list
    if cc_list:
        message["Cc"] = cc_list
    message["Subject"] = _header_text(subject)
    message["Date"] = email.utils.format_datetime(_aware(date))
    message["Message-ID"] = (_message_ids(message_id)[:1] or [None])[0] or email.utils.make_msgid(
        domain=domain or senders[0].domain)
    if in_reply_to and _message_ids(in_reply_to):
        message["In-Reply-To"] = _message_ids(in_reply_to)[0]
    if references and _message_ids(references):
        message["References"] = " ".join(_message_ids(references))

    if text is None:
        text = html_to_text(html) if html else ""
    message.set_content(_text_with_newline(text))
    if html:
        message.add_alternative(html, subtype="html")
        html_part = message.get_body(("html",))
        for content_id, filename, content_type, data in related:
            maintype, subtype = _image_type(content_type)
            html_part.add_related(bytes(data or b""), maintype=maintype, subtype=subtype,
                                  cid=f"<{str(content_id).strip('<>')}>",
                                  filename=_safe_filename(filename), disposition="inline")
    for filename, content_type, data in attachments:
        _attach(message, filename, content_type, data)
    _check_headers(message)
    return message


def message_bytes(message, *, bcc=()):
    """The RFC 5322 bytes (CRLF) of ``message``, e.g. for the copy APPENDed to Sent.

    :param bcc: blind recipients to record in a ``Bcc`` header of *this copy* (never give them
        for what is sent)
    """
    data = message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
    addresses = _addresses(bcc)
    if addresses:
        header = EmailMessage(policy=message.policy.clone(linesep="\r\n"))
        header["Bcc"] = addresses
        data = header.as_bytes().rstrip(b"\r\n") + b"\r\n" + data
    return data


def recipients(message, bcc=()):
    """The envelope recipients of ``message``: its To and Cc (and Bcc, if a header has one)
    addresses, then ``bcc``; bare addresses, without duplicates (case-insensitive).

    :param message: an :class:`email.message.Message` (e.g. from :func:`build_message`)
    :param bcc: the blind recipients, which :func:`build_message` does not write
    :returns: list of ``addr@domain`` strings, in order
    """
    values = [str(value) for name in ("To", "Cc", "Bcc") for value in message.get_all(name, [])]
    values += [bcc] if isinstance(bcc, str) else [str(value) for value in bcc]
    seen, result = set(), []
    for _name, address in addresses.parse(values):
        key = addresses.normalize_address(address)
        if key not in seen:
            seen.add(key)
            result.append(address)
    return result


def embed_images(html, resolve, *, domain="vt-webmail.invalid"):
    """Make the images of an outgoing HTML body travel with the message.

    Pictures served by this application (a quoted mail's inline image, a picture pasted in the
    editor) need a login to load, and ``data:`` URLs are blocked by many mail readers: every
    ``<img>`` whose source ``resolve`` knows, and every ``data:image/...;base64`` source,
    becomes a ``cid:`` reference to a part of the message (RFC 2392). Other sources (remote
    ``https:`` images) are left as they are. The same source gives one part.

    :param html: the HTML body (str)
    :param resolve: callable ``src -> (filename, content_type, bytes)`` or None (leave it)
    :param domain: right-hand side of the generated Content-IDs
    :returns: ``(html, related)``: the rewritten HTML (``html`` itself when no image was
        embedded) and the ``related`` tuples for :func:`build_message`
    """
    if not html or "<img" not in html.lower():
        return html, []
    try:
        root = lxml.html.fragment_fromstring(html, create_parent="div")
    except (etree.ParserError, ValueError):
        return html, []
    related, by_source = [], {}
    for image in root.iter("img"):
        src = (image.get("src") or "").strip()
        if not src or src[:4].lower() == "cid:":
            continue
        if src not in by_source:
            found = _data_image(src) if src[:5].lower() == "data:" else resolve(src)
            content_id = None
            if found:
                filename, content_type, data = found
                content_id = f"{secrets.token_hex(8)}@{domain}"
                related.append((content_id, filename, content_type, data))
            by_source[src] = content_id
        if by_source[src]:
            image.set("src", f"cid:{by_source[src]}")
    if not related:
        return html, []
    inner = (std_html.escape(root.text, quote=False) if root.text else "") + "".join(
        lxml.html.tostring(child, encoding="unicode", method="html") for child in root)
    return inner, related


def reply_subject(subject):
    """``"Re: "`` and the subject without its reply prefixes (``Re:``, ``RE:``, ``Aw:``,
    ``SV:``, ``Re[2]:`` ...), so replies never pile up ``Re: Re:``. A mailing-list tag stays
    first after ``Re:`` (``[dev] Re: x`` gives ``Re: [dev] x``); a forward prefix stays
    (``Fwd: x`` gives ``Re: Fwd: x``).
    """
    subject = " ".join(str(subject or "").split())
    tag = ""
    match = _LIST_TAG.match(subject)
    if match and _REPLY_PREFIX.match(subject[match.end():]):
        tag, subject = match.group(0), subject[match.end():]
    return f"Re: {tag}{_REPLY_PREFIX.sub('', subject, count=1)}".strip()


def forward_subject(subject):
    """``"Fwd: "`` and the subject without its forward prefixes (``Fwd:``, ``FW:``, ``WG:``,
    ``TR:`` ...); reply prefixes stay (``Re: x`` gives ``Fwd: Re: x``)."""
    subject = " ".join(str(subject or "").split())
    return f"Fwd: {_FORWARD_PREFIX.sub('', subject, count=1)}".strip()


def reply_references(message_id, references, in_reply_to=None):
    """In-Reply-To and References of a reply, per RFC 5322 section 3.6.4.

    :param message_id: the parent's Message-ID
    :param references: the parent's References (may be empty)
    :param in_reply_to: the parent's In-Reply-To, used when it has no References and names a
        single message
    :returns: ``(in_reply_to, references)`` strings (``""`` when unknown); References is the
        parent's References (or In-Reply-To) followed by the parent's Message-ID, trimmed to
        the first and the last :data:`MAX_REFERENCES` - 1 identifiers
    """
    parent = _message_ids(message_id)[:1]
    chain = _message_ids(references)
    if not chain:
        replied = _message_ids(in_reply_to)
        chain = replied if len(replied) == 1 else []
    chain = list(dict.fromkeys(ref for ref in chain + parent))
    if parent:  # the parent's id last, even if it appeared earlier (a looped thread)
        chain = [ref for ref in chain if ref != parent[0]] + parent
    if len(chain) > MAX_REFERENCES:
        chain = chain[:1] + chain[-(MAX_REFERENCES - 1):]
    return (parent[0] if parent else ""), " ".join(chain)


def reply_recipients(original_from, original_to, original_cc, own_address, reply_all,
                     *, reply_to=None):
    """To and Cc of a reply.

    The reply goes to ``reply_to`` (the original's Reply-To) or else to the sender; replying to
    one's own message (from the Sent folder) goes to its recipients instead. With
    ``reply_all``, every other To and Cc recipient is copied. One's own addresses and
    duplicates are left out (case-insensitive); a note to oneself is answered to oneself.

    :param original_from: header string or iterable of ``"Name <addr>"`` strings (same for
        ``original_to``, ``original_cc``, ``reply_to``)
    :param own_address: the account's address, or an iterable of them (aliases)
    :param reply_all: bool
    :returns: ``(to, cc)``, two lists of ``"Name <addr>"`` strings
    """
    own = {addresses.normalize_address(address) for _name, address in _entries(own_address)}
    senders = _entries(reply_to) or _entries(original_from)
    if senders and all(addresses.normalize_address(address) in own
                       for _name, address in senders):
        to = _entries(original_to)
        cc = _entries(original_cc) if reply_all else []
    else:
        to = senders
        cc = _entries(original_to) + _entries(original_cc) if reply_all else []
    seen = set(own)
    result = ([], [])
    for target, entries in zip(result, (to, cc), strict=True):
        for name, address in entries:
            key = addresses.normalize_address(address)
            if key not in seen:
                seen.add(key)
                target.append(addresses.format_address(name, address))
    if not result[0] and not result[1] and senders:
        result[0].extend(addresses.format_address(name, address)
                         for name, address in senders[:1])
    return result


def quote_html(*, author, date, html):
    """The original message quoted below a reply: ``On <date>, <author> wrote:`` then the
    original in a ``<blockquote>``.

    :param author: the original's sender (escaped here)
    :param date: datetime, str, or None
    :param html: the original's HTML body, inserted as is: give the sanitised body
    :returns: HTML str
    """
    when = _format_date(date)
    intro = f"On {when}, {author} wrote:" if when else f"{author} wrote:"
    return (f"<div>{std_html.escape(intro)}</div>"
            f'<blockquote style="{_QUOTE_STYLE}">{html or ""}</blockquote>')


def forward_html(*, headers, html):
    """The original message below a forward: a "Forwarded message" block with its From, Date,
    Subject, To and Cc, then its body.

    :param headers: the original's :class:`.mime.ListHeaders`
    :param html: the original's HTML body, inserted as is: give the sanitised body
    :returns: HTML str
    """
    rows = [("From", headers.email_from), ("Date", _format_date(headers.date)),
            ("Subject", headers.subject), ("To", headers.email_to), ("Cc", headers.email_cc)]
    lines = "".join(f"<br>{name}: {std_html.escape(value)}" for name, value in rows if value)
    return (f"<div>---------- Forwarded message ----------{lines}</div><br>"
            f"<div>{html or ''}</div>")


# -- internals ----------------------------------------------------------------------------------

def _entries(value):
    """``[(name, addr)]`` of a header string or an iterable of them; names decoded."""
    return [(" ".join(decode_words(name).split()), address)
            for name, address in addresses.parse(value)]


def _addresses(value):
    """:class:`Address` objects of a header string or an iterable of strings.

    :raises ValueError: for an entry that is not an e-mail address
    """
    result = []
    values = [value] if isinstance(value, str) else [str(item) for item in value or () if item]
    typed = " ".join(" ".join(values).split())
    for name, address in addresses.split(value):
        if not name and not address:
            continue
        address = address.strip()
        local, _at, domain = address.rpartition("@")
        # the stdlib parser joins "a@exa mple.org" into "a@example.org": refuse what was not
        # typed as such rather than send to an address nobody wrote
        if (not local or not domain or address not in typed or "=?" in address
                or _CONTROLS.search(address)
                or any(char.isspace() or char in '<>,;"()[]\\' for char in address)):
            raise ValueError(f"not an e-mail address: {address or name!r}")
        if not domain.isascii():
            try:
                domain = domain.encode("idna").decode("ascii")
            except UnicodeError:
                raise ValueError(f"not an e-mail address: {address!r}")
        result.append(Address(display_name=_header_text(decode_words(name)),
                              username=local, domain=domain))
    return result


def _message_ids(value):
    """The ``<id>`` tokens of a header value (bare ``id@host`` tokens get their brackets)."""
    if not value:
        return []
    text = " ".join(value) if isinstance(value, (list, tuple)) else str(value)
    found = _MESSAGE_ID.findall(text)
    if not found:
        found = [f"<{token.strip('<>')}>" for token in text.split() if "@" in token]
    # no encoded word (RFC 2047 5: never in a msg-id) for the email package to decode
    return [token for token in found if _MESSAGE_ID.fullmatch(token) and "=?" not in token]


def _aware(date):
    if date is None:
        return datetime.datetime.now().astimezone()
    if date.tzinfo is None:
        return date.astimezone()
    return date


def _format_date(value):
    if not value:
        return ""
    if isinstance(value, datetime.datetime):
        # English names whatever the server's locale: the quote header is English too
        return (f"{_DAYS[value.weekday()]}, {value.day} {_MONTHS[value.month - 1]} {value.year}"
                f" at {value:%H:%M}")
    return str(value)


def _text_with_newline(text):
    text = str(text or "")
    return text if text.endswith("\n") else text + "\n"


def _safe_filename(filename):
    return _header_text(str(filename or "attachment").replace("/", "_").replace("\\", "_")) \
        or "attachment"


def _header_text(value):
    """Foreign text for a header: one line (every kind of line break or white space a single
    space), no control character, and no RFC 2047 encoded word for the email package to decode
    into a line break (an invisible ZERO WIDTH SPACE goes between ``=`` and ``?``)."""
    text = _CONTROLS.sub("", " ".join(str(value or "").split()))
    return text.replace("=?", "=\u200b?")


def _check_headers(message):
    """Fold every header of every part as it will be written: a line that is not the header's
    own, or a NUL, raises ``ValueError`` (see the module docstring)."""
    for part in message.walk():
        linesep = part.policy.linesep
        for name, value in part.items():
            folded = part.policy.fold(name, value)
            lines = folded[:-len(linesep)].split(linesep) if folded.endswith(linesep) \
                else folded.split(linesep)
            if "\x00" in folded or any("\r" in line or "\n" in line for line in lines) \
                    or any(line[:1] not in (" ", "\t") for line in lines[1:]):
                raise ValueError(f"the {name} header would break the mail's structure")


def _image_type(content_type):
    kind = str(content_type or "").partition(";")[0].strip().lower()
    maintype, _slash, subtype = kind.partition("/")
    if maintype != "image" or not _MIME_TOKEN.fullmatch(subtype):
        return "application", "octet-stream"
    return maintype, subtype


def _data_image(src):
    """``(filename, content_type, bytes)`` of a ``data:image/...;base64,`` URL, or None."""
    match = _DATA_IMAGE.match(src)
    if not match:
        return None
    try:
        data = base64.b64decode("".join(match.group(2).split()), validate=True)
    except (binascii.Error, ValueError):
        return None
    content_type = match.group(1).lower()
    return f"image.{content_type.partition('/')[2].split('+')[0]}", content_type, data


def _attach(message, filename, content_type, data):
    filename = _safe_filename(filename)
    kind = str(content_type or "").partition(";")[0].strip().lower()
    maintype, _slash, subtype = kind.partition("/")
    if not (_MIME_TOKEN.fullmatch(maintype) and _MIME_TOKEN.fullmatch(subtype)):
        maintype, subtype = "application", "octet-stream"
    data = bytes(data or b"")
    if (maintype, subtype) == ("message", "rfc822"):
        embedded = email.message_from_bytes(data, policy=email.policy.compat32)
        message.add_attachment(embedded, filename=filename)
        return
    if maintype in ("multipart", "message"):
        maintype, subtype = "application", "octet-stream"
    message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
