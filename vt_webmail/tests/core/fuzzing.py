"""Seeded random inputs for the engine's parsers, and the checks they must pass.

Three targets, each a generator (``random.Random`` in, one case out) and a check (the case in,
``None`` or what went wrong):

* ``fetch``: FETCH answers, valid and broken, in the shape imaplib gives them (bytes lines and
  ``(line, literal)`` tuples, cut exactly where imaplib cuts them: :func:`imaplib_shape`).
  :func:`check_fetch` runs :func:`~vt_webmail.core.fetch_parser.parse_fetch` and imapclient's
  ``parse_fetch_response``: where imapclient reads the input, both must give the same result;
  where imapclient fails, ours must fail with ``FetchParseError``, never another exception.
  The disagreements documented in :mod:`vt_webmail.core.fetch_parser` are recognised and
  counted apart (:data:`DOCUMENTED`).
* ``mime``: messages, well-formed, damaged and pure garbage, for
  :func:`~vt_webmail.core.mime.parse_message` and ``parse_list_headers``, which never raise.
* ``compose``: received mails whose display names, subject, addresses, Message-ID, In-Reply-To,
  References and Reply-To carry CR, LF, NUL, encoded line breaks and header lines; the reply
  built from them (:mod:`vt_webmail.core.compose`, as the Odoo layer builds it) must have
  exactly the expected header fields.

``test_fuzz.py`` runs a few hundred cases of each with a fixed seed; ``tools/fuzz.py`` runs as
many as asked.
"""

import email
import email.policy
import io
import os
import pickle
import random
import re
import time
import warnings

from imapclient.response_parser import parse_fetch_response

from vt_webmail.core import addresses, compose
from vt_webmail.core.fetch_parser import (
    MAX_DEPTH,
    FetchLimitError,
    FetchParseError,
    canonical_keys,
    parse_fetch,
    section_key,
)
from vt_webmail.core.mime import parse_list_headers, parse_message
from vt_webmail.tests.core.hostile_probe import memory_kb, reset_peak

#: Documented disagreements with imapclient (see core/fetch_parser.py), by name.
DOCUMENTED = {
    "multipart_without_subtype": "imapclient repeats the last part of a multipart "
                                 "BODYSTRUCTURE that has no subtype",
    "string_body_structure": "imapclient reads a string BODY/BODYSTRUCTURE as a tuple of "
                             "its bytes' values",
    "zone_of_a_day": "imapclient gives an INTERNALDATE whose zone is 24 h or more, as a "
                     "datetime that raises when used",
    "section_twice": "one section under two spellings in one message (BODY[HEADER.FIELDS "
                     "(FROM)] and BODY[HEADER.FIELDS (\"FROM\")]): which value is kept "
                     "depends on where imapclient first met each spelling",
    "limit": f"ours refuses parentheses nested deeper than {MAX_DEPTH} (imapclient recurses "
             "until ~490)",
}


# -- FETCH ---------------------------------------------------------------------------------------

_LITERAL_AT_END = re.compile(rb".*{(?P<size>\d+)}$", re.DOTALL)
_FETCH_LINE = re.compile(rb"\* (?P<number>\d+) FETCH(?: (?P<rest>.*))?$", re.DOTALL)
_ATOM_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcxyz0123456789.-_\\$*+!#&'`|~<>:;=?/,@^"
_SPECIALS = [b"(", b")", b'"', b"{", b"}", b"[", b"]", b"\\", b"%", b"\x00", b"\x01", b"\x7f",
             b"\xff", b" ", b"\t", b"*", b"{5}", b"NIL", b"0", b"-1"]


def imaplib_shape(wire):
    """The untagged FETCH data imaplib would return for the bytes ``wire`` (what
    ``IMAP4._get_response`` stores: a line ending in ``{n}`` becomes ``(line, n bytes)`` and
    the rest of the response is read as the next line)."""
    items = []
    stream = io.BytesIO(wire)
    while True:
        line = stream.readline()
        if not line:
            return items
        match = _FETCH_LINE.match(line[:-2] if line.endswith(b"\r\n") else line)
        if not match:
            continue
        data = match.group("number") + (b" " + match.group("rest")
                                        if match.group("rest") else b"")
        while (literal := _LITERAL_AT_END.match(data)) is not None:
            items.append((data, stream.read(int(literal.group("size")))))
            line = stream.readline()
            data = line[:-2] if line.endswith(b"\r\n") else line
        items.append(data)


def _quoted(rng, text=None):
    text = text if text is not None else bytes(rng.choice(_ATOM_CHARS + b' "\\\xe9\t')
                                               for _ in range(rng.randint(0, 12)))
    if rng.random() < 0.9:
        text = text.replace(b"\\", b"\\\\").replace(b'"', b'\\"')
    return b'"' + text + b'"'


def _literal(rng, data=None):
    data = data if data is not None else bytes(rng.randrange(256)
                                               for _ in range(rng.randint(0, 40)))
    return b"{%d}\r\n" % len(data) + data


def _atom(rng):
    word = bytes(rng.choice(_ATOM_CHARS) for _ in range(rng.randint(1, 10)))
    if rng.random() < 0.1:
        word += b"[" + bytes(rng.choice(_ATOM_CHARS + b" ()") for _ in range(5)) + b"]"
    return word


def _number(rng):
    return str(rng.choice([0, 1, 7, 42, 2**31, 2**32 - 1, 2**32, 2**63, 2**64 + 1,
                           rng.randrange(10**6)])).encode() if rng.random() < 0.9 \
        else rng.choice([b"007", b"00", b"0"])


def _value(rng, depth=0):
    kind = rng.random()
    if kind < 0.2 and depth < 6:
        return b"(" + b" ".join(_value(rng, depth + 1)
                                for _ in range(rng.randint(0, 5))) + b")"
    if kind < 0.35:
        return _number(rng)
    if kind < 0.5:
        return b"NIL"
    if kind < 0.7:
        return _quoted(rng)
    if kind < 0.8:
        return _literal(rng)
    return _atom(rng)


def _body_part(rng, depth):
    if depth < 4 and rng.random() < 0.35:
        children = b"".join(_body_part(rng, depth + 1) for _ in range(rng.randint(1, 3)))
        subtype = b"" if rng.random() < 0.05 else b" " + _quoted(rng, b"mixed")
        extra = b' ("boundary" "b") NIL NIL' if rng.random() < 0.5 else b""
        return b"(" + children + subtype + extra + b")"
    maintype = rng.choice([b"text", b"image", b"application", b"message"])
    fields = [_quoted(rng, maintype), _quoted(rng, b"plain"),
              rng.choice([b'("charset" "utf-8")', b"NIL", b'("name" ' + _quoted(rng) + b")"]),
              b"NIL", b"NIL", _quoted(rng, b"base64"), _number(rng)]
    if maintype == b"text":
        fields.append(_number(rng))
    if rng.random() < 0.5:
        fields += [b"NIL", rng.choice([b'("attachment" ("filename" "a.pdf"))', b"NIL",
                                       b'("inline" NIL)']), b"NIL", b"NIL"]
    return b"(" + b" ".join(fields) + b")"


def _internaldate(rng):
    if rng.random() < 0.2:
        return _quoted(rng)
    day = rng.choice([b" 1", b"02", b"31", b"0", b"99", b"7"])
    month = rng.choice([b"Jan", b"feb", b"DEC", b"Xyz"])
    year = rng.choice([b"2026", b"0099", b"0001", b"9999", b"1970"])
    zone = rng.choice([b"+0000", b"-0000", b"-0130", b"+2359", b"+2400", b"+9999", b"-0060"])
    text = b"%s-%s-%s %s %s" % (day, month, year,
                                rng.choice([b"10:00:00", b"23:59:60", b"24:00:00"]), zone)
    if rng.random() < 0.1:
        text = rng.choice([b"Mon, 2 Nov 2026 10:00:00 +0000", b"2-Nov-26 10:00:00 +0000",
                           b"yesterday", b""])
    return _quoted(rng, text) if rng.random() < 0.9 else _literal(rng, text)


_ITEMS = [
    lambda rng: b"UID " + _number(rng),
    lambda rng: b"FLAGS (" + b" ".join(rng.choice([b"\\Seen", b"\\Flagged", b"$Label", b"0123",
                                                   b"\\*", b"Junk"])
                                       for _ in range(rng.randint(0, 4))) + b")",
    lambda rng: b"INTERNALDATE " + _internaldate(rng),
    lambda rng: b"RFC822.SIZE " + _number(rng),
    lambda rng: b"BODYSTRUCTURE " + _body_part(rng, 0),
    lambda rng: b"BODY " + _body_part(rng, 0),
    lambda rng: rng.choice([b"BODY[HEADER.FIELDS (FROM SUBJECT)] ",
                            b'BODY[HEADER.FIELDS ("From" "Subject")] ',
                            b"body[header.fields (from  subject)] "])
    + rng.choice([_literal(rng, b"Subject: x\r\n\r\n"), b"NIL", _quoted(rng)]),
    lambda rng: b"BODY[] " + _literal(rng),
    lambda rng: b"BODY[]<0> " + _literal(rng),
    lambda rng: b"MODSEQ (" + _number(rng) + b")",
    lambda rng: _atom(rng) + b" " + _value(rng),
]


def fetch_wire(rng):
    """The bytes of a server's FETCH answer: 1 to 4 responses, sometimes damaged."""
    responses = []
    for _ in range(rng.randint(1, 4)):
        items = [rng.choice(_ITEMS)(rng) for _ in range(rng.randint(1, 6))]
        responses.append(b"* %d FETCH (" % rng.randint(1, 9) + b" ".join(items) + b")\r\n")
    wire = b"".join(responses)
    mutation = rng.random()
    if mutation < 0.5:
        return wire
    data = bytearray(wire)
    for _ in range(rng.randint(1, 3)):
        if not data:
            break
        position = rng.randrange(len(data))
        action = rng.random()
        if action < 0.4:
            data[position:position] = rng.choice(_SPECIALS)
        elif action < 0.7:
            del data[position:position + rng.randint(1, 4)]
        elif action < 0.85:
            data[position] = rng.randrange(256)
        else:
            data[position:position] = b"(" * rng.choice([1, 50, MAX_DEPTH + 10, 600]) \
                + b")" * rng.choice([0, 1, 50, MAX_DEPTH + 10, 600])
    return bytes(data)


def fetch_case(rng):
    return imaplib_shape(fetch_wire(rng))


def _plain(value):
    """imapclient wraps BODYSTRUCTURE in tuple/list subclasses: compare the plain shapes."""
    if isinstance(value, (tuple, list)):
        return tuple(_plain(item) for item in value)
    return value


def _comparable(parsed):
    return {number: {key: _plain(value) for key, value in values.items()}
            for number, values in parsed.items()}


def _fix_imapclient(parsed):
    """imapclient's result with its documented mistakes undone; the set of those met."""
    met = set()

    def body(value):
        if isinstance(value, tuple) and value and isinstance(value[0], list):
            children = [body(child) for child in value[0]]
            rest = value[1:]
            if rest and not isinstance(rest[0], bytes):
                met.add("multipart_without_subtype")  # the last part repeated
                rest = ()
            return (children, *rest)
        return value

    for values in parsed.values():
        for key in (b"BODY", b"BODYSTRUCTURE"):
            if key in values:
                values[key] = body(values[key])
        date = values.get(b"INTERNALDATE")
        if date is not None:
            try:
                offset = date.utcoffset()
            except ValueError:
                offset = None
                met.add("zone_of_a_day")
                values[b"INTERNALDATE"] = None
            if offset is not None and abs(offset.total_seconds()) >= 86400:
                met.add("zone_of_a_day")
                values[b"INTERNALDATE"] = None
    return parsed, met


def check_fetch(data):
    """``None`` when both parsers agree (or disagree as documented: then the name of the
    disagreement, prefixed ``documented:``), else what went wrong."""
    try:
        theirs = parse_fetch_response(data, normalise_times=False, uid_is_key=False)
        twice = any(len({section_key(key) for key in values}) < len(values)
                    for values in theirs.values())
        theirs = canonical_keys(theirs)
        their_error = None
    except Exception as exc:  # RecursionError included: imapclient fails
        theirs, their_error = None, exc
    try:
        mine, my_error = parse_fetch(data), None
    except FetchParseError as exc:
        mine, my_error = None, exc
    except Exception as exc:
        return f"ours raised {type(exc).__name__}: {exc}"
    if their_error is not None:
        if my_error is None:
            return f"ours reads what imapclient refuses ({type(their_error).__name__}: " \
                   f"{str(their_error)[:80]})"
        return None
    theirs, met = _fix_imapclient(theirs)
    if my_error is not None:
        if isinstance(my_error, FetchLimitError):
            return "documented:limit"
        if str(my_error).startswith("unreadable body structure"):
            # a NIL, number or empty list fails imapclient too: it read a string
            return "documented:string_body_structure"
        return f"ours fails ({my_error}) where imapclient reads it"
    if _comparable(mine) != _comparable(theirs):
        return "documented:section_twice" if twice else "different results"
    return f"documented:{sorted(met)[0]}" if met else None


# -- MIME ----------------------------------------------------------------------------------------

_CHARSETS = ["utf-8", "iso-8859-1", "windows-1252", "koi8-r", "x-unknown", "utf-7",
             "unicode-escape", "", "shift_jis", "gb2312"]
_ENCODINGS = ["7bit", "8bit", "base64", "quoted-printable", "x-uuencode", "binary", "bogus"]


def _mime_part(rng, depth):
    if depth < 5 and rng.random() < 0.3:
        boundary = f"b{depth}{rng.randrange(1000)}"
        children = [_mime_part(rng, depth + 1) for _ in range(rng.randint(0, 4))]
        subtype = rng.choice(["mixed", "alternative", "related", "digest", "report"])
        body = "".join(f"--{boundary}\r\n{child}\r\n" for child in children)
        closing = f"--{boundary}--\r\n" if rng.random() < 0.9 else ""
        return (f'Content-Type: multipart/{subtype}; boundary="{boundary}"\r\n\r\n'
                f"preamble\r\n{body}{closing}")
    kind = rng.choice(["text/plain", "text/html", "image/png", "application/pdf",
                       "message/rfc822", "text/calendar", "garbage"])
    charset = rng.choice(_CHARSETS)
    encoding = rng.choice(_ENCODINGS)
    disposition = rng.choice(["", "Content-Disposition: attachment; filename=\"a/../b.pdf\"\r\n",
                              "Content-Disposition: inline\r\n",
                              "Content-Disposition: attachment; filename*=utf-8''%E9t%C3\r\n"])
    cid = f"Content-ID: <c{rng.randrange(100)}@x>\r\n" if rng.random() < 0.3 else ""
    payload = rng.choice([
        "hello <b>world</b> <img src=\"cid:c1@x\">", "SGVsbG8gd29ybGQ=", "SGVsbG8=\r\n===",
        "caf=E9 =\r\n=XX", "\u00e9t\u00e9 \u4e2d\u6587", "<script>alert(1)</script>",
        "From: inner@x\r\nSubject: inner\r\n\r\ninner body"])
    return (f"Content-Type: {kind}; charset=\"{charset}\"\r\n"
            f"Content-Transfer-Encoding: {encoding}\r\n{disposition}{cid}\r\n{payload}")


def mime_case(rng):
    """One message: a random MIME tree with random damage, or random bytes."""
    if rng.random() < 0.1:
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 3000)))
    headers = "".join(rng.sample([
        "From: =?utf-8?b?w6k=?= <a@example.com>\r\n", "To: undisclosed-recipients:;\r\n",
        "Subject: =?x-bogus?q?=E9?= =?utf-8?q?caf=C3=A9?=\r\n", "Date: not a date\r\n",
        "Message-Id: <>\r\n", "Cc: \"a, b\" <c@d>, (comment) e@f\r\n",
        "References: <a@b> <c@d\r\n", "X-Long: " + "x" * rng.choice([10, 2000]) + "\r\n",
        " folded first line\r\n", "MIME-Version: 1.0\r\n"], rng.randint(0, 10)))
    raw = (headers + _mime_part(rng, 0)).encode("utf-8", "surrogateescape")
    if rng.random() < 0.5:
        data = bytearray(raw)
        for _ in range(rng.randint(1, 5)):
            if not data:
                break
            position = rng.randrange(len(data))
            action = rng.random()
            if action < 0.4:
                data[position:position] = rng.choice(
                    [b"\r\n", b"\n--", b"\x00", b"=?", b"?=", b"\r", b"\xff", b":", b";"])
            elif action < 0.7:
                del data[position:position + rng.randint(1, 20)]
            else:
                data[position] = rng.randrange(256)
        raw = bytes(data)
    return raw


def mime_bombs():
    """The big ones, once each: ``(name, bytes)``."""
    nested = [b"From: a@example.com\r\nSubject: deep\r\n"]
    for level in range(1000):
        nested.append(b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n"
                      % (level, level))
    nested.append(b"Content-Type: text/plain\r\n\r\nhello\r\n")
    nested.extend(b"--b%d--\r\n" % level for level in reversed(range(1000)))
    parts = [b"From: a@example.com\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"]
    parts.extend(b"--B\r\nContent-Type: application/octet-stream; name=f%d.bin\r\n\r\nAA\r\n"
                 % number for number in range(10_000))
    parts.append(b"--B--\r\n")
    return [
        ("1,000 nested multiparts", b"".join(nested)),
        ("10,000 parts", b"".join(parts)),
        ("a 50 MB header block", b"From: a@example.com\r\n" + b"X-H: abcdefghijklmn\r\n"
         * (50 * 1024 * 1024 // 20) + b"Subject: after\r\n\r\nbody\r\n"),
        ("a 50 MB header line", b"From: a@example.com\r\nX-Big: " + b"a" * 50 * 1024 * 1024
         + b"\r\nSubject: after\r\n\r\nbody\r\n"),
    ]


def check_mime(raw):
    """``None``, or what went wrong (an exception escaped, or a result of the wrong type)."""
    try:
        with warnings.catch_warnings():
            # the stdlib decodes with the charset a part declares, "unicode-escape" included,
            # which warns about the escapes it meets
            warnings.simplefilter("ignore", DeprecationWarning)
            parsed = parse_message(raw)
            headers = parse_list_headers(raw)
    except Exception as exc:  # parse_message and parse_list_headers never raise
        return f"raised {type(exc).__name__}: {exc}"
    if not (isinstance(parsed.html, str) and isinstance(parsed.text, str)
            and isinstance(headers.subject, str)):
        return "a body or a header is not text"
    return None


# -- compose: header injection in replies --------------------------------------------------------

# "=?utf-8?q?=0D=0ABcc:_evil@example.net?=" encoded once more: what is left after one decoding
_DOUBLE_ENCODED = "=?utf-8?b?PT91dGYtOD9xPz0wRD0wQUJjYzpfZXZpbEBleGFtcGxlLm5ldD89?="
_INJECTIONS = [
    "\r\nBcc: evil@example.net", "\nX-Injected: 1", "\rX-Injected: 1", "\r\n\r\n<body>",
    "=?utf-8?b?DQpCY2M6IGV2aWxAZXhhbXBsZS5uZXQ=?=",  # "\r\nBcc: evil@example.net"
    "=?utf-8?q?=0D=0AX-Injected:_1?=", _DOUBLE_ENCODED, "\x00", "\u2028X-Injected: 1",
    "\x85X-Injected: 1", "\x0bX-Injected: 1", "\x0c", "\tX-Injected: 1", " ", "", '"',
    "\\", "<", ">", ",", ";", "é", "=?", "?=",
]


def _hostile(rng, text):
    for _ in range(rng.randint(0, 3)):
        position = rng.randint(0, len(text))
        text = text[:position] + rng.choice(_INJECTIONS) + text[position:]
    return text


def compose_case(rng):
    """The header fields of a hostile received mail, as the cache and Reply-To give them."""
    return {
        "from": _hostile(rng, f"{_hostile(rng, 'Eve Sender')} <eve@example.com>"),
        "to": _hostile(rng, "Me <me@example.com>, Other <other@example.org>"),
        "cc": _hostile(rng, "cc@example.org"),
        "reply_to": _hostile(rng, "Replies <replies@example.com>") if rng.random() < 0.5
        else "",
        "subject": _hostile(rng, "Re: [list] a subject"),
        "message_id": _hostile(rng, "<m1@example.com>"),
        "in_reply_to": _hostile(rng, "<m0@example.com>"),
        "references": _hostile(rng, "<r1@example.com> <r2@example.com>"),
    }


_REPLY_FIELDS = {"from", "to", "cc", "subject", "date", "message-id", "in-reply-to",
                 "references", "mime-version", "content-type"}
_FIELD_NAME = re.compile(rb"^([!-9;-~]+):")


def check_compose(fields):
    """Build the reply the Odoo layer would build, and read its bytes back: every header line
    must be one of the reply's own fields, each once. ``None``, ``"refused"`` (a clean
    ValueError for an unusable address, shown to the user), or what went wrong."""
    received = (
        "".join(f"{name}: {fields[key]}\r\n" for name, key in (
            ("From", "from"), ("To", "to"), ("Cc", "cc"), ("Subject", "subject"),
            ("Message-Id", "message_id"), ("In-Reply-To", "in_reply_to"),
            ("References", "references")))
    ).encode("utf-8", "surrogateescape") + b"\r\n"
    headers = parse_list_headers(received)
    reply_to = fields["reply_to"]
    if reply_to:  # as vt_webmail.message._fetch_reply_to reads it
        try:
            parsed = email.message_from_bytes(
                b"Reply-To: " + reply_to.encode("utf-8", "surrogateescape") + b"\r\n\r\n",
                policy=email.policy.default)["Reply-To"]
            reply_to = " ".join(str(parsed or "").split())
        except (ValueError, TypeError, IndexError, AttributeError):
            reply_to = ""
    try:
        to, cc = compose.reply_recipients(headers.email_from, headers.email_to,
                                          headers.email_cc, ["me@example.com"], True,
                                          reply_to=reply_to)
        in_reply_to, references = compose.reply_references(
            headers.message_id, headers.references, headers.in_reply_to)
        message = compose.build_message(
            from_addr=addresses.format_address("Me", "me@example.com"), to=", ".join(to),
            cc=", ".join(cc), subject=compose.reply_subject(headers.subject),
            html="<p>Hello</p>", in_reply_to=in_reply_to, references=references)
        data = compose.message_bytes(message)
    except ValueError as exc:
        if str(exc).startswith(("not an e-mail address", "a message needs")):
            return "refused"
        return f"raised ValueError: {exc}"
    except Exception as exc:
        return f"raised {type(exc).__name__}: {exc}"
    head = data.partition(b"\r\n\r\n")[0]
    names = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t"):
            continue  # folded
        match = _FIELD_NAME.match(line)
        if not match:
            return f"a header line that is no field: {line[:60]!r}"
        names.append(match.group(1).decode().lower())
    if len(names) != len(set(names)):
        return f"a field twice: {names}"
    expected = {"from", "subject", "date", "message-id", "mime-version", "content-type"}
    expected |= {"to"} if to else set()
    expected |= {"cc"} if cc else set()
    expected |= {"in-reply-to"} if in_reply_to else set()
    expected |= {"references"} if references else set()
    if set(names) != expected:
        return f"header fields {sorted(set(names) ^ expected)} unexpected"
    if b"\x00" in head or re.search(rb"\r(?!\n)|(?<!\r)\n", head):
        return "a bare CR, LF or NUL in the header block"
    return None


def in_child(function):
    """``(result, seconds, peak resident growth in MB)`` of ``function()`` run in a forked
    process, so that its peak memory is its own (a result that cannot be pickled, or an
    exception, comes back as a ``"raised ..."`` string)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        try:
            reset_peak()
            before, _peak = memory_kb()
            started = time.monotonic()
            result = function()
            seconds = time.monotonic() - started
            _rss, peak = memory_kb()
            payload = pickle.dumps((result, seconds, (peak - before) / 1024))
        except BaseException as exc:  # reported to the parent, which decides
            payload = pickle.dumps((f"raised {type(exc).__name__}: {exc}", None, None))
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(payload)
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    return pickle.loads(data)


TARGETS = {
    "fetch": (fetch_case, check_fetch),
    "mime": (mime_case, check_mime),
    "compose": (compose_case, check_compose),
}


def run(target, cases, seed, *, on_case=None):
    """Run ``cases`` cases of ``target`` from ``seed``.

    :returns: dict: ``cases``, ``failures`` (``[(case number, what, input)]``), ``documented``
        (``{name: count}``), ``refused`` (compose), ``max_seconds``
    """
    generate, check = TARGETS[target]
    rng = random.Random(f"{target}-{seed}")
    report = {"cases": 0, "failures": [], "documented": {}, "refused": 0, "max_seconds": 0.0}
    for number in range(cases):
        case = generate(rng)
        started = time.perf_counter()
        outcome = check(case)
        seconds = time.perf_counter() - started
        report["cases"] += 1
        report["max_seconds"] = max(report["max_seconds"], seconds)
        if outcome is None:
            pass
        elif outcome.startswith("documented:"):
            name = outcome.partition(":")[2]
            report["documented"][name] = report["documented"].get(name, 0) + 1
        elif outcome == "refused":
            report["refused"] += 1
        else:
            report["failures"].append((number, outcome, case))
        if on_case:
            on_case(number)
    return report
