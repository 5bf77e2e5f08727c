"""The fuzzers of :mod:`.fuzzing` with a fixed seed and a few hundred cases each (``tools/fuzz.py``
runs as many as asked), the MIME bombs once each, and the inputs that broke something once."""

import base64
import email
import email.policy

import pytest

from vt_webmail.core import compose
from vt_webmail.core.fetch_parser import parse_fetch
from vt_webmail.core.mime import decode_text, decode_words, parse_list_headers, parse_message
from vt_webmail.tests.core import fuzzing

CASES = {"fetch": 800, "mime": 300, "compose": 800}


@pytest.mark.parametrize("target", list(CASES))
def test_fuzz(target):
    report = fuzzing.run(target, CASES[target], seed=1)
    assert report["failures"] == [], report["failures"][:3]
    assert report["max_seconds"] < 2


@pytest.mark.parametrize("name", [name for name, _raw in fuzzing.mime_bombs()])
def test_mime_bombs_take_seconds_and_megabytes(name):
    raw = dict(fuzzing.mime_bombs())[name]

    def parse():
        parsed = parse_message(raw)
        return (fuzzing.check_mime(raw), len(parsed.attachments), parsed.notes,
                parsed.headers.subject)

    (problem, attachments, notes, subject), seconds, growth = fuzzing.in_child(parse)
    assert problem is None
    assert seconds < 10
    assert growth < 200
    if "header" in name:
        assert subject == "after"  # a main field found beyond the first 256 KB
        assert any("header block is" in note for note in notes)
    if name == "10,000 parts":
        assert attachments == 2000
        assert any("parts" in note for note in notes)


# -- what the fuzzers found ----------------------------------------------------------------------

def test_a_damaged_encoded_word_never_stops_the_sync():
    """``=?utf-8?b?É6k=?=`` made email.header raise HeaderParseError out of
    parse_list_headers, so out of the sync of the whole batch."""
    header = b"Subject: =?utf-8?b?\xc96k=?= x\r\nFrom: =?utf-8?b?!!?= <a@b.c>\r\n\r\n"
    headers = parse_list_headers(header)
    assert headers.subject.endswith(" x")
    assert headers.from_address == "a@b.c"
    assert isinstance(decode_words("=?utf-8?b?!!?= =?utf-8?b?\xc96k=?="), str)


def test_a_nul_in_a_charset_label_is_an_unknown_charset():
    """``codecs.lookup("u\\x00tf-8")`` raises ValueError, not LookupError."""
    assert decode_text(b"caf\xc3\xa9", "u\x00tf-8")[0] == "café"
    assert decode_words("=?[t\x00f-8?q?caf=C3=A9?=") == "café"


def test_trailing_white_space_of_a_record_is_no_token():
    data = [b"1 (UID 5 FLAGS ())\r \t"]
    assert parse_fetch(data)[1][b"UID"] == 5
    assert fuzzing.check_fetch(data) is None


INNER = "=?utf-8?q?=0D=0ABcc:_evil@example.net?="
DOUBLE = "=?utf-8?b?" + base64.b64encode(INNER.encode()).decode() + "?="


@pytest.mark.parametrize("field", ["subject", "name", "filename", "references"])
def test_an_encoded_line_break_never_becomes_a_header(field):
    """The email package decodes an encoded word in a header it writes, and writes the CR/LF it
    decoded (CVE-2024-6923): a Subject, a display name (double-encoded, so that decoding it
    once leaves an encoded word), an attachment's name or a Message-ID carrying one added a Bcc
    to the mail."""
    message = compose.build_message(
        from_addr="Me <me@example.com>",
        to=f"{DOUBLE} <you@example.com>" if field == "name" else "you@example.com",
        subject=f"hello {INNER}" if field == "subject" else "hello",
        html="", text="x",
        references=f"<a{INNER}@b.c> <ok@example.com>" if field == "references" else None,
        attachments=[(INNER, "text/plain", b"x")] if field == "filename" else ())
    data = compose.message_bytes(message)
    parsed = email.message_from_bytes(data, policy=email.policy.compat32)
    assert [part.get_all("Bcc") for part in parsed.walk()] == [None] * len(
        list(parsed.walk()))
    assert b"\nBcc" not in data
    if field == "subject":
        # what the user saw, to the last character (a zero width space breaks the "=?")
        shown = str(email.message_from_bytes(data, policy=email.policy.default)["Subject"])
        assert shown.replace("\u200b", "") == f"hello {INNER}"
    if field == "references":
        assert parsed["References"] == "<ok@example.com>"


def test_an_address_with_an_encoded_word_or_a_nul_is_refused():
    for address in (f"a{INNER}@example.com", "a\x00b@example.com"):
        with pytest.raises(ValueError, match="not an e-mail address"):
            compose.build_message(from_addr="me@example.com", to=address, subject="s",
                                  html="", text="x")
