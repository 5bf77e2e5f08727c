"""core.addresses: how the addon reads, compares and writes e-mail addresses."""

import email.utils

import pytest

from vt_webmail.core import addresses, compose, mime, qualify

# -- split: every entry, as written ----------------------------------------------------------------

STDLIB_SHAPES = [
    "John   Smith <j@x.com>", '"John Smith" <j@x.com>', "  j@x.com ", "<j@x.com>",
    "=?utf-8?q?Ren=C3=A9?= <r@x.com>", "John <j@x.com> (comment)", '"" <j@x.com>',
    "John Smith<j@x.com>", "a@b.c, d@e.f", "undisclosed-recipients:;", '"a\\"b" <c@d.e>',
    "<j@x.com", "j@x.com>", "(c) j@x.com", '"Doe, Jane" <JANE@Example.COM>',
    "group: a@b.c, d@e.f;", "", "x@y.z,\r\n\tSecond <s@y.z>", "not an address",
]


@pytest.mark.parametrize("text", STDLIB_SHAPES)
def test_split_reads_as_the_stdlib_does(text):
    """The fast path for the common shapes gives what ``email.utils.getaddresses`` gives, on
    the text with its runs of white space made single spaces (a folded header)."""
    assert addresses.split(text) == (
        email.utils.getaddresses([" ".join(text.split())]) if text else [])


@pytest.mark.parametrize(("text", "expected"), [
    ("Doe, John <john@example.com>", [("Doe, John", "john@example.com")]),
    ("Smith,   John\r\n <j@x.com>", [("Smith, John", "j@x.com")]),
])
def test_split_keeps_a_name_with_a_comma_as_people_type_it(text, expected):
    """getaddresses would read a nameless ``Doe`` and a ``John <john@example.com>``."""
    assert addresses.split(text) == expected


def test_split_takes_several_values_and_skips_empty_ones():
    assert addresses.split(["a@x.org", None, "", "B <b@y.org>, c@z.org"]) == [
        ("", "a@x.org"), ("B", "b@y.org"), ("", "c@z.org")]
    assert addresses.split(None) == addresses.split("") == addresses.split([]) == []


# -- parse: the addresses --------------------------------------------------------------------------

def test_parse_keeps_the_entries_that_are_addresses():
    assert addresses.parse(
        'Team:;, "Doe,  Jane"  < jane@example.com >, bob, Carol <carol@example.net>') == [
        ("Doe, Jane", "jane@example.com"), ("Carol", "carol@example.net")]
    assert addresses.parse("undisclosed-recipients:;") == []


# -- normalize: the form addresses are compared and stored in --------------------------------------

@pytest.mark.parametrize(("value", "normalised"), [
    ("Jane Doe <Jane.Doe@Example.COM>", "jane.doe@example.com"),
    ("  JANE@EXAMPLE.COM ", "jane@example.com"),
    ("a@x.org, b@y.org", "a@x.org"),
    (["", "Bob <BOB@Y.ORG>"], "bob@y.org"),
    ("Élodie <Élodie@Exemple.FR>", "Élodie@exemple.fr"),  # RFC 6531: its case is its own
    ("Mia <mia@BÜCHER.example>", "mia@bücher.example"),
    ("nobody", ""), ("", ""), (None, ""),
])
def test_normalize_is_odoos_rule(value, normalised):
    assert addresses.normalize(value) == normalised
    # that it is Odoo's email_normalize: tests/test_qualify.py, where Odoo is


def test_strict_normalize_wants_exactly_one_address():
    assert addresses.normalize("a@x.org, b@y.org", strict=True) == ""
    assert addresses.normalize("A <A@X.org>", strict=True) == "a@x.org"


# -- format_address --------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "address", "formatted"), [
    ("Jane Doe", "jane@example.com", "Jane Doe <jane@example.com>"),
    ("Doe, Jane", "jane@example.com", '"Doe, Jane" <jane@example.com>'),
    ('Say "hi"', "a@x.org", '"Say \\"hi\\"" <a@x.org>'),
    ("Dr. No", "no@x.org", '"Dr. No" <no@x.org>'),
    ("  Line\r\nbreak ", " a@x.org ", "Line break <a@x.org>"),
    ("", "a@x.org", "a@x.org"), (None, "a@x.org", "a@x.org"),
])
def test_format_address_quotes_a_name_that_needs_it(name, address, formatted):
    assert addresses.format_address(name, address) == formatted


@pytest.mark.parametrize("name", ["Doe, Jane", 'Say "hi" \\ bye', "Dr. No", "Élodie"])
def test_what_format_address_writes_reads_back(name):
    assert addresses.parse(addresses.format_address(name, "x@y.org")) == [(name, "x@y.org")]


# -- one meaning everywhere ------------------------------------------------------------------------

def test_every_module_reads_an_address_the_same_way():
    """The message list's sender, Qualify's party, a reply's recipient and an envelope
    recipient of the same header are the same address."""
    header = 'Doe, John <John.Doe@Example.org>'
    listed, first = mime.read_addresses(header)
    assert listed == '"Doe, John" <John.Doe@Example.org>'
    assert first == addresses.normalize(header) == "john.doe@example.org"
    party = qualify.parse_party(listed)
    assert (party.name, party.address) == ("Doe, John", first)
    to, _cc = compose.reply_recipients(listed, "me@example.com", "", "me@example.com", False)
    assert to == [listed]
    message = compose.build_message(from_addr="me@example.com", to=listed, subject="x",
                                    html="<p>x</p>", domain="example.com")
    assert compose.recipients(message) == ["John.Doe@Example.org"]
