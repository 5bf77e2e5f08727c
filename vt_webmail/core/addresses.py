"""E-mail addresses: the one place they are split, normalised and written.

A header such as ``"Doe, John" <John.Doe@Example.com>, bob@example.org`` is read by
:func:`split` (every entry, as written) or :func:`parse` (the entries that are addresses, names
cleaned); :func:`normalize` gives the form addresses are compared and stored in
(``john.doe@example.com``), :func:`format_address` writes one back (``"Doe, John"
<John.Doe@example.com>``). The message list (:mod:`.mime`), Qualify (:mod:`.qualify`),
outgoing mail (:mod:`.compose`), OAuth identities (:mod:`.oauth`) and the Odoo layer all use
these, so an address means the same thing everywhere.

**Normalised** is Odoo's rule (``odoo.tools.email_normalize``), so that the engine's addresses
match Odoo's ``email_normalized`` columns: no display name, the domain in lower case, the local
part in lower case when it is ASCII; a non-ASCII local part (RFC 6531, SMTPUTF8) is kept as it
is, since mail systems that accept one treat its case as significant.

**Split** is ``email.utils.getaddresses``, with two differences: the common shapes (a bare
address, ``Name <address>``) are read by a regular expression, ten times faster (the message
list parses every header of every mail of a first sync; the results are the same, see
``tests/core/test_addresses.py``), and an entry ``Doe, John <john@example.com>`` is one address
named "Doe, John" when its name has a comma and no ``@`` (as people type it, and as some mail
programs write it), where ``getaddresses`` would read a nameless ``Doe`` and a ``John``.
"""

import email.utils
import re

#: An address as mail carries it: no white space, no angle bracket, quote, comma, semicolon,
#: colon, parenthesis, square bracket or backslash, one ``@`` between two non-empty parts.
#: (Quoted local parts, ``"john doe"@example.com``, are left to the stdlib parser.)
ADDR_SPEC = r'[^\s<>@",;:()\[\]\\]+@[^\s<>@",;:()\[\]\\]+'
#: A display name that contains one of these is written in quotes (RFC 5322 "specials").
NEEDS_QUOTES = re.compile(r'[][()<>@,:;".\\]')

_BARE_ADDRESS = re.compile(rf"\s*(?:<({ADDR_SPEC})>|({ADDR_SPEC}))\s*\Z")
_NAMED_ADDRESS = re.compile(
    rf'\s*(?:"([^"\\]*)"|([^"<>,;:@()\[\]\\]*?))\s*<({ADDR_SPEC})>\s*\Z')


def split(value):
    """Every entry of an address header, as written: ``[(display name, address), ...]``.

    :param value: a header value, or an iterable of them (``None`` and empty ones skipped)
    :returns: what ``email.utils.getaddresses`` gives (names not decoded, entries without an
        ``@`` kept, ``("", "")`` for what it cannot read), except that an entry
        ``Doe, John <john@example.com>`` is one address (see the module docstring)
    """
    if not value:
        return []
    values = [value] if isinstance(value, str) else [str(item) for item in value if item]
    pairs = []
    for text in values:
        text = " ".join(text.split())  # folded headers, and no line break in a name
        name, bracket, rest = text.partition("<")
        if (bracket and rest.endswith(">") and "<" not in rest and "@" not in name
                and "," in name):
            pairs.append((" ".join(name.strip().strip('"').split()), rest[:-1].strip()))
        else:
            pairs.extend(_split_one(text))
    return pairs


def _split_one(text):
    match = _BARE_ADDRESS.match(text)
    if match:
        return [("", match.group(1) or match.group(2))]
    match = _NAMED_ADDRESS.match(text)
    if match:
        quoted, plain, address = match.groups()
        return [(quoted if quoted is not None else " ".join(plain.split()), address)]
    return email.utils.getaddresses([text])


def parse(value):
    """The addresses of a header: ``[(display name, address), ...]`` of the entries that have
    an ``@``; names with their white space collapsed, addresses stripped (RFC 2047 encoded
    names are left as they are: :func:`.mime.decode_words` decodes them).

    :param value: a header value, or an iterable of them
    """
    return [(" ".join(name.split()), address.strip())
            for name, address in split(value) if "@" in address]


def normalize(value, *, strict=False):
    """The first address of ``value`` in its normalised form (see the module docstring), or
    ``""`` when it has none.

    ``"Jane Doe <Jane.Doe@Example.COM>"`` gives ``"jane.doe@example.com"``.

    :param value: an address, a header value, or an iterable of them
    :param strict: ``""`` unless ``value`` holds exactly one address
    """
    found = parse(value)
    if not found or (strict and len(found) != 1):
        return ""
    return normalize_address(found[0][1])


def normalize_address(address):
    """One bare address (``local@domain``) in its normalised form; no parsing."""
    local, at, domain = str(address or "").strip().rpartition("@")
    if not at:
        return ""
    if local.isascii():
        local = local.lower()
    return f"{local}@{domain.lower()}"


def format_address(name, address):
    """``Name <address>``, the name quoted when it needs it (``"Doe, John"
    <john@example.com>``); the bare address when there is no name. White space in the name is
    collapsed (no line break reaches a header)."""
    name = " ".join(str(name or "").split())
    address = str(address or "").strip()
    if not name:
        return address
    if NEEDS_QUOTES.search(name):
        name = '"{}"'.format(name.replace("\\", "\\\\").replace('"', '\\"'))
    return f"{name} <{address}>"
