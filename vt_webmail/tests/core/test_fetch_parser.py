"""core.fetch_parser gives exactly what imapclient's parser gives, on real Dovecot answers."""

import pytest
from imapclient.response_parser import parse_fetch_response

from vt_webmail.core.fetch_parser import FetchParseError, parse_fetch
from vt_webmail.core.imap_session import SUMMARY_ITEMS, ServerSettings, connect
from vt_webmail.testing import samples


def _plain(value):
    """imapclient wraps BODYSTRUCTURE in tuple/list subclasses: compare the plain shapes."""
    if isinstance(value, (tuple, list)):
        return tuple(_plain(item) for item in value)
    return value


def _same(mine, theirs):
    assert set(mine) == set(theirs)
    for number, values in theirs.items():
        assert {key: _plain(value) for key, value in mine[number].items()} == {
            key: _plain(value) for key, value in values.items()}


NASTY = [
    samples.plain_text(), samples.html_with_inline_image(), samples.with_attachments(),
    samples.non_utf8(), samples.hostile_html(), samples.broken_mime(),
    samples.real_world_malformed(), samples.forwarded_as_attachment(),
    # a file name with a quote and a backslash, and an 8-bit one (sent as a literal)
    (b'Subject: q\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n'
     b'Content-Type: text/plain\r\n\r\nx\r\n--B\r\nContent-Type: application/pdf; '
     b'name="we\\"ird\\\\.pdf"\r\nContent-Disposition: attachment; filename="r\xe9sum\xe9.pdf"'
     b'\r\n\r\nxx\r\n--B--\r\n'),
    b"Subject: empty flags and no body\r\n\r\n",
]


def test_same_result_as_imapclient_on_real_answers(mailbox):
    mailbox.server.append_many(mailbox.login, "INBOX", NASTY)
    mailbox.append(b"Subject: flagged\r\n\r\nx\r\n", flags=[b"\\Flagged", b"$Label1"])
    settings = ServerSettings(mailbox.server.hostname, mailbox.server.imaps_port,
                              mailbox.login, mailbox.password,
                              ca_pem=mailbox.server.ca_path.read_text(), timeout=5)
    with connect(settings) as session:
        session.select("INBOX")
        for items in (SUMMARY_ITEMS, ("UID", "FLAGS", "MODSEQ"), ("UID", "BODY.PEEK[]")):
            typ, data = session.client._imap.uid("FETCH", "1:*", "(" + " ".join(items) + ")")
            assert typ == "OK"
            lines = [line for line in data if line is not None]
            _same(parse_fetch(lines), parse_fetch_response(lines, False, False))


def test_literal_and_escapes():
    data = [
        (b'7 (UID 42 FLAGS (\\Seen) BODY[HEADER.FIELDS (SUBJECT)] {16}', b"Subject: a\r\n\r\n  "),
        b' INTERNALDATE " 2-Nov-2026 10:00:00 -0130" X-NAME "a \\"b\\" \\\\c" EMPTY "" NONE NIL)',
    ]
    parsed = parse_fetch(data)
    _same(parsed, parse_fetch_response(data, False, False))
    values = parsed[7]
    assert values[b"UID"] == 42
    assert values[b"X-NAME"] == b'a "b" \\c'
    assert values[b"INTERNALDATE"].utcoffset().total_seconds() == -5400


@pytest.mark.parametrize("data", [
    [b"1 (UID 1 FLAGS (\\Seen)"],                 # unbalanced
    [b"x (UID 1)"],                                # no message number
    [b"1 (UID 1 BODY[] {5}", b")"],                # a literal announced, its data missing
    [(b"1 (UID 1 BODY[] {5}", b"abc"), b")"],      # a literal shorter than announced
    [b"1 (UID one)"],                              # a UID that is not a number
    [b"1 (UID 1 BODYSTRUCTURE NIL)"],              # a body structure that is not a list
    [b'1 (UID 1 X ab"cd")'],                       # a quote inside a word
    [b'1 (UID 1 X "abc)'],                         # a quoted string left open
])
def test_malformed_raises(data):
    with pytest.raises(FetchParseError):
        parse_fetch(data)
    with pytest.raises(Exception):  # noqa: B017 (imapclient raises several kinds)
        parse_fetch_response(data, False, False)


def test_unreadable_internaldate_is_none_as_in_imapclient():
    data = [b'1 (UID 1 INTERNALDATE "yesterday")']
    assert parse_fetch(data)[1][b"INTERNALDATE"] is None
    _same(parse_fetch(data), parse_fetch_response(data, False, False))


def test_session_falls_back_to_imapclient(mailbox, monkeypatch):
    """What the fast parser refuses, imapclient's parser still gets a chance to read."""
    uid = mailbox.append(b"Subject: f\r\n\r\nx\r\n")
    calls = []

    def refuse(lines, **_options):
        calls.append(lines)
        raise FetchParseError("pretend")

    monkeypatch.setattr("vt_webmail.core.imap_session.parse_fetch", refuse)
    settings = ServerSettings(mailbox.server.hostname, mailbox.server.imaps_port,
                              mailbox.login, mailbox.password,
                              ca_pem=mailbox.server.ca_path.read_text(), timeout=5)
    with connect(settings) as session:
        session.select("INBOX")
        assert list(session.fetch([uid], ["UID", "FLAGS"])) == [uid]
    assert calls


def test_quoted_header_field_names_give_the_key_that_was_asked():
    """RFC 3501 lets a server echo the field names as quoted strings (Courier does), in any
    case: the result is keyed as the request was written, by both parsers."""
    from vt_webmail.core.fetch_parser import canonical_keys, section_key
    from vt_webmail.core.imap_session import HEADER_KEY

    echoed = (b'BODY[HEADER.FIELDS ("FROM" "TO" "CC" "SUBJECT" "DATE" "MESSAGE-ID" '
              b'"IN-REPLY-TO" "REFERENCES")]')
    data = [(b"3 (UID 9 " + echoed + b" {14}", b"Subject: q\r\n\r\n"), b")"]
    assert parse_fetch(data)[3][HEADER_KEY] == b"Subject: q\r\n\r\n"
    theirs = canonical_keys(parse_fetch_response(data, False, False))
    assert theirs[3][HEADER_KEY] == b"Subject: q\r\n\r\n"
    assert section_key(b'body[header.fields ( "Reply-To" )]') == (
        b"BODY[HEADER.FIELDS (REPLY-TO)]")
    assert section_key(b"BODY[]<0>") == b"BODY[]<0>"
    assert section_key(b"RFC822.SIZE") == b"RFC822.SIZE"
