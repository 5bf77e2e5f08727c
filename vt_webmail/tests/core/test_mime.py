"""mime: list headers (hot path) and whole messages, on every sample and on damaged input."""

import datetime
import email
import email.policy
import random
import time
from pathlib import Path

import pytest

from vt_webmail.core import addresses
from vt_webmail.core.mime import (
    ListHeaders,
    ParsedMessage,
    decode_text,
    format_addresses,
    merge_notes,
    parse_list_headers,
    parse_message,
    read_addresses,
)
from vt_webmail.testing import samples

SAMPLES_DIR = Path(__file__).resolve().parents[1] / "samples"
PARIS = datetime.timezone(datetime.timedelta(hours=1))


# -- parse_list_headers: the contract the sync relies on ----------------------------------------

def test_list_headers_decode_words_addresses_and_dates():
    block = (b"From: =?utf-8?q?J=C3=B6rg_M=C3=BCller?= <joerg@example.com>\r\n"
             b"To: Alice <alice@example.org>,\r\n bob@example.com\r\n"
             b"Cc: \"Doe, John\" <john@example.org>\r\n"
             b"Subject: =?utf-8?b?UsOpdW5pb24=?=\r\n =?utf-8?q?_d=27=C3=A9quipe?=\r\n"
             b"Date: Tue, 04 Mar 2025 09:15:00 +0100\r\n"
             b"Message-ID: <abc@example.com>\r\nIn-Reply-To: <parent@example.com>\r\n"
             b"References: <root@example.com>\r\n <parent@example.com>\r\n\r\n")
    headers = parse_list_headers(block)
    assert headers == ListHeaders(
        subject="Réunion d'équipe",
        email_from="Jörg Müller <joerg@example.com>",
        email_to="Alice <alice@example.org>, bob@example.com",
        email_cc='"Doe, John" <john@example.org>',
        date=datetime.datetime(2025, 3, 4, 9, 15, tzinfo=PARIS),
        message_id="<abc@example.com>",
        in_reply_to="<parent@example.com>",
        references="<root@example.com> <parent@example.com>",
        from_address="joerg@example.com",
    )


def test_list_headers_keep_raw_8bit_and_note_bad_dates():
    headers = parse_list_headers(b"Subject: caf\xe9 cr\xc3\xa8me\r\nFrom: x@example.com\r\n"
                                 b"Date: someday soon\r\n\r\n")
    # not UTF-8 as a whole: read as Windows-1252 (the UTF-8 pair becomes two characters)
    assert headers.subject == "café crÃ¨me"
    assert headers.date is None
    assert headers.notes == ["unreadable date header"]
    assert parse_list_headers(b"Subject: caf\xc3\xa9\r\n\r\n").subject == "café"


def test_list_headers_of_nothing():
    assert parse_list_headers(b"") == ListHeaders()
    assert parse_list_headers(None) == ListHeaders()
    assert parse_list_headers(b"To: undisclosed-recipients:;\r\n\r\n").email_to == ""


def test_format_addresses_is_cached_and_still_correct():
    read_addresses.cache_clear()
    text = "=?utf-8?q?=C3=89lodie?= <elodie@example.org>, bob@example.org"
    first = format_addresses(text)
    assert format_addresses(text) == first == "Élodie <elodie@example.org>, bob@example.org"
    assert read_addresses.cache_info().hits == 1
    assert read_addresses(text)[1] == "elodie@example.org"


# -- decode_text ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("data", "charset", "text", "noted"), [
    ("é€".encode(), "utf-8", "é€", False),
    ("é€".encode("cp1252"), "iso-8859-1", "é€", False),  # the label browsers read as cp1252
    ("é".encode(), "us-ascii", "é", False),  # 8-bit under an ASCII label: UTF-8 when valid
    ("é".encode("cp1252"), None, "é", False),
    ("é".encode("cp1252"), "utf-8", "\ufffd", True),  # a lying label
    ("é".encode(), "x-no-such-charset", "é", True),
    (b"\\u0041", "unicode_escape", "\\u0041", True),  # a codec, not a charset
    (b"x\x9c", "zlib", "x\u0153", True),
    ("é".encode(), '"UTF-8";', "é", False),  # a sloppy label
    ("日本".encode("shift_jis"), "Shift_JIS", "日本", False),
])
def test_decode_text(data, charset, text, noted):
    decoded, note = decode_text(data, charset)
    assert decoded == text
    assert bool(note) is noted


# -- parse_message on the samples ----------------------------------------------------------------

def test_plain_text():
    parsed = parse_message(samples.plain_text())
    assert parsed.headers.subject == "Lunch on Thursday?"
    assert parsed.headers.email_from == "Alice Martin <alice@example.com>"
    assert parsed.headers.email_to == "Bob Stone <bob@example.org>"
    assert parsed.headers.date == datetime.datetime(2025, 3, 4, 9, 15, tzinfo=PARIS)
    assert parsed.text.startswith("Hi Bob,\n\nShall we try")
    assert "\r" not in parsed.text
    assert '<a href="https://example.org/menu?day=thu&amp;time=12">' in parsed.html
    assert '<a href="mailto:alice@example.com">' in parsed.html
    assert "Fish &amp; chips &lt;3" in parsed.html
    assert "<blockquote" in parsed.html and "Are you free this week?" in parsed.html
    assert parsed.html_from_text  # written here, not by the sender
    assert parsed.attachments == []
    assert parsed.notes == []


def test_html_with_inline_image():
    parsed = parse_message(samples.html_with_inline_image())
    assert parsed.html.startswith("<html><body><h1>March newsletter</h1>")
    assert not parsed.html_from_text
    assert 'src="cid:logo@example.org"' in parsed.html
    assert parsed.text == "March newsletter\n\nThe garden is open again.\n"
    [image] = parsed.attachments
    assert (image.filename, image.content_type, image.content_id, image.inline) == (
        "logo.png", "image/png", "logo@example.org", True)
    assert image.data == samples.png_image()
    assert image.size == len(samples.png_image())
    assert parsed.find_cid("<LOGO@example.org>") is image
    assert parsed.find_cid("other@example.org") is None
    assert parsed.notes == []


def test_png_is_a_real_png():
    data = samples.png_image(4, 3)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR" and data[16:24] == b"\x00\x00\x00\x04\x00\x00\x00\x03"
    assert data.endswith(b"IEND\xaeB`\x82")


def test_with_attachments():
    parsed = parse_message(samples.with_attachments())
    assert parsed.text == "Hello Bob,\n\nThe report and the raw figures are attached.\n\nCarol\n"
    assert [(p.filename, p.content_type, p.data, p.content_id, p.inline)
            for p in parsed.attachments] == [
        ("report-q1.pdf", "application/pdf", samples.pdf_document(), None, False),
        ("chiffres-été.csv", "text/csv", samples.csv_document(), None, False),
    ]
    assert parsed.notes == []


def test_non_utf8():
    parsed = parse_message(samples.non_utf8())
    assert parsed.headers.subject == samples.NON_UTF8_SUBJECT
    assert parsed.headers.email_from == "François Lévêque <francois@example.org>"
    assert parsed.text == samples.NON_UTF8_TEXT
    assert "12 500 €" in parsed.html and "« nouvelles »" in parsed.html
    assert parsed.notes == []


def test_hostile_html_is_returned_as_sent():
    # parse_message does not sanitise (prepare_body does): the body must arrive whole
    parsed = parse_message(samples.hostile_html())
    assert parsed.html.strip() == samples.HOSTILE_BODY
    assert parsed.text.startswith("Hello, this is the visible text.")
    assert "alert" not in parsed.text


def test_forwarded_message_is_one_eml_attachment():
    parsed = parse_message(samples.forwarded_as_attachment())
    assert parsed.text == "Carol, see Alice's message below.\n"
    [attached] = parsed.attachments
    assert (attached.filename, attached.content_type) == ("Lunch on Thursday.eml",
                                                          "message/rfc822")
    inner = parse_message(attached.data)
    original = parse_message(samples.plain_text())
    assert inner.headers == original.headers
    assert inner.text == original.text


def test_broken_mime():
    parsed = parse_message(samples.broken_mime())
    assert parsed.headers.subject == "Broken café mail"  # unknown charset: cp1252 fallback
    assert parsed.headers.message_id == "<>"
    assert parsed.text.startswith("Caf\ufffd cr\ufffdme br\ufffdl\ufffde, said in Latin-1")
    # the multipart whose boundary never appears is shown as its raw text
    assert "<p>This HTML hides behind the wrong boundary.</p>" in parsed.text
    assert "&lt;p&gt;This HTML hides" in parsed.html
    [pdf] = parsed.attachments
    assert pdf.filename == "truncated.pdf"
    assert pdf.data and samples.pdf_document().startswith(pdf.data[:100])
    assert parsed.notes == [
        "the text is not valid utf-8: unreadable characters were replaced",
        "a base64-encoded part is damaged or truncated: what could be read is kept",
        "the message ends early (a MIME part is not closed)",
        "the MIME boundary was not found: the parts could not be separated",
    ]


def test_real_world_malformed():
    parsed = parse_message(samples.real_world_malformed())
    assert parsed.headers.subject == "Votre facture n° 2025-0042 est disponible"
    assert parsed.headers.email_to == ""
    assert parsed.headers.date is None
    # Outlook's unquoted boundary: read by the compat32 fallback, not shown as raw text
    assert "149,90 € est disponible" in parsed.html
    assert "Content-Type" not in parsed.text
    assert "Voir la facture <https://example.net/facture?id=42>" in parsed.text
    assert [(p.filename, p.content_type, p.content_id, p.inline, p.data)
            for p in parsed.attachments] == [
        ("logo.gif", "image/gif", "logo.gif@01DB8D2A", True, samples.TRANSPARENT_GIF),
        ("détail.txt", "application/octet-stream", None, False, b"Ligne 1\r\nLigne 2"),
    ]
    assert parsed.notes == ["unreadable date header"]


def test_a_mails_note_says_each_thing_once():
    """The note kept for a mail joins what its list headers said at sync and what reading it
    whole says later, which reads the same headers: "unreadable date header" once, not
    "unreadable date header; unreadable date header"."""
    raw = samples.real_world_malformed()
    at_sync = parse_list_headers(raw.partition(b"\r\n\r\n")[0]).note
    assert at_sync == "unreadable date header"
    assert merge_notes(at_sync, *parse_message(raw).notes) == "unreadable date header"
    assert merge_notes("a; b", "", None, "b", " c ", "a") == "a; b; c"
    assert merge_notes() == ""


def test_huge_message():
    raw = samples.huge(5)
    assert 4.9e6 < len(raw) < 5.5e6
    started = time.perf_counter()
    parsed = parse_message(raw)
    assert time.perf_counter() - started < 20
    [archive] = parsed.attachments
    assert archive.filename == "archive.bin"
    assert archive.data == samples.huge_payload(5)
    assert parsed.text == "The archive is attached."  # the last CRLF belongs to the boundary


def test_thread_headers_chain():
    messages = [parse_message(raw).headers for raw in samples.thread(25)]
    assert [h.message_id for h in messages[:3]] == [
        "<planning-1@example.org>", "<planning-2@example.org>", "<planning-3@example.org>"]
    assert messages[0].subject == "Quarterly planning" and messages[0].in_reply_to == ""
    for previous, current in zip(messages, messages[1:], strict=False):
        assert current.subject == "Re: Quarterly planning"
        assert current.in_reply_to == previous.message_id
        references = current.references.split()
        assert references[0] == "<planning-1@example.org>"
        assert references[-1] == previous.message_id
        assert len(references) <= 20
    # the 25th replies to 24 messages: the first one and the last 19 are kept
    assert messages[24].references.split()[:2] == ["<planning-1@example.org>",
                                                   "<planning-6@example.org>"]
    assert len(messages[24].references.split()) == 20


# -- the .eml files ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(samples.EML_FILES))
def test_eml_file_matches_its_generator_and_parses(name):
    raw = (SAMPLES_DIR / name).read_bytes()
    # CRLF intact: no bare LF, no bare CR (a checkout with autocrlf would break this)
    assert raw.count(b"\n") == raw.count(b"\r\n") == raw.count(b"\r") > 5
    assert raw == samples.EML_FILES[name](), "regenerate with samples.write_eml_files()"
    parsed = parse_message(raw)
    assert parsed.headers.email_from
    assert parsed.html and parsed.text


def test_every_eml_file_is_a_known_sample():
    assert sorted(path.name for path in SAMPLES_DIR.glob("*.eml")) == sorted(samples.EML_FILES)


# -- never raises ------------------------------------------------------------------------------

def _assert_sane(parsed):
    assert isinstance(parsed, ParsedMessage)
    assert isinstance(parsed.html, str) and isinstance(parsed.text, str)
    assert all(isinstance(part.data, bytes) and part.filename for part in parsed.attachments)
    assert all(isinstance(note, str) for note in parsed.notes)


@pytest.mark.parametrize("name", sorted(samples.EML_FILES))
def test_truncated_and_mangled_samples_never_raise(name):
    raw = samples.EML_FILES[name]()
    rng = random.Random(name)
    for cut in sorted({rng.randrange(len(raw)) for _ in range(40)} | {0, 1, len(raw) - 1}):
        _assert_sane(parse_message(raw[:cut]))
    for _ in range(40):
        mangled = bytearray(raw)
        for _ in range(rng.randint(1, 30)):
            mangled[rng.randrange(len(mangled))] = rng.choice(b"\x00\r\n-=:;<>\"?\xff\xe9 ")
        _assert_sane(parse_message(bytes(mangled)))


@pytest.mark.parametrize("raw", [
    b"",
    b"\r\n\r\n",
    b"no header at all",
    b"Subject: headers only",
    b"Message-Id: <>\r\nSubject: empty id\r\n\r\nbody\r\n",
    b"Content-Type: multipart/mixed\r\n\r\n--x\r\n\r\nno boundary parameter\r\n",
    b"Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n\r\nempty boundary\r\n",
    b"Content-Type: text/plain; charset=\"\x00\xff\"\r\n\r\nodd charset\r\n",
    b"Content-Type: ;;;\r\nContent-Disposition: attachment; filename*=x''%ZZ\r\n\r\nbody",
    b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!!\r\n",
    b"Content-Type: text/plain\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 x\r\n",
    b"Content-Type: message/rfc822\r\n\r\nnot: really\r\n",
    b"Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n\r\nAction: failed\r\n",
    b"\xff\xfe\x00\x00" * 1000,
    "Subject: str input \u00e9\r\n\r\nhi".encode(),
])
def test_odd_messages_never_raise(raw):
    _assert_sane(parse_message(raw))


def test_str_and_none_input():
    _assert_sane(parse_message("Subject: given as str\r\n\r\nhi"))
    assert parse_message("Subject: given as str\r\n\r\nhi").headers.subject == "given as str"
    _assert_sane(parse_message(None))


def test_empty_message_id_does_not_break_python_311():
    raw = b"Message-Id: <>\r\nFrom: a@example.com\r\nSubject: x\r\n\r\nhello\r\n"
    with pytest.raises(IndexError):  # the stdlib bug this module works around
        str(email.message_from_bytes(raw, policy=email.policy.default)["Message-Id"])
    parsed = parse_message(raw)
    assert (parsed.headers.message_id, parsed.text) == ("<>", "hello\n")


def test_mail_bomb_nesting_is_cut_with_a_note():
    depth = 200
    head = "".join(f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n'
                   for i in range(depth))
    tail = "".join(f"\r\n--b{i}--" for i in reversed(range(depth)))
    raw = (head + "Content-Type: text/plain\r\n\r\ndeep down" + tail + "\r\n").encode()
    parsed = parse_message(raw)
    _assert_sane(parsed)
    assert any("nested deeper" in note for note in parsed.notes)


def test_many_parts():
    parts = "".join(
        f"--b\r\nContent-Type: application/octet-stream\r\n"
        f'Content-Disposition: attachment; filename="f{i}.bin"\r\n\r\n{i}\r\n'
        for i in range(2000))
    raw = (f'Content-Type: multipart/mixed; boundary="b"\r\n\r\n{parts}--b--\r\n').encode()
    parsed = parse_message(raw)
    assert len(parsed.attachments) == 2000
    assert parsed.attachments[1999].filename == "f1999.bin"
    assert parsed.attachments[1999].data == b"1999"


def test_mailing_list_footer_is_appended_to_the_body():
    raw = (b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
           b"--b\r\nContent-Type: text/plain\r\n\r\nThe message.\r\n"
           b"--b\r\nContent-Type: text/plain\r\nContent-Disposition: inline\r\n\r\n"
           b"-- \r\nlist footer: https://lists.example.org/\r\n--b--\r\n")
    parsed = parse_message(raw)
    assert parsed.attachments == []
    assert parsed.text == "The message.\n\n-- \nlist footer: https://lists.example.org/"
    assert 'href="https://lists.example.org/"' in parsed.html


def test_unreferenced_cid_image_is_not_inline():
    raw = (b'Content-Type: multipart/related; boundary="b"\r\n\r\n'
           b"--b\r\nContent-Type: text/html\r\n\r\n<p>no image here</p>\r\n"
           b"--b\r\nContent-Type: image/png\r\nContent-ID: <unused@x>\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--b--\r\n")
    [part] = parse_message(raw).attachments
    assert (part.filename, part.content_id, part.inline) == ("image-2.png", "unused@x", False)
    assert part.data == b"\x89PNG\r\n\x1a\n"


# -- real IMAP round trip ------------------------------------------------------------------------

def test_samples_survive_dovecot_byte_for_byte(mailbox):
    raws = [function() for function in samples.EML_FILES.values()] + [samples.huge(3)]
    uids = [mailbox.append(raw) for raw in raws]
    client = mailbox.client()
    try:
        client.select_folder("INBOX")
        fetched = client.fetch(uids, ["BODY.PEEK[]", "FLAGS"])
    finally:
        client.logout()
    for uid, raw in zip(uids, raws, strict=True):
        assert fetched[uid][b"BODY[]"] == raw
        assert b"\\Seen" not in fetched[uid][b"FLAGS"]
        assert parse_message(fetched[uid][b"BODY[]"]) == parse_message(raw)


def test_demo_mailbox_loads_into_dovecot(mailbox):
    now = datetime.datetime(2025, 6, 1, 12, 0, tzinfo=datetime.timezone.utc)
    demo = samples.demo_messages(now)
    assert demo == samples.demo_messages(now)  # deterministic
    assert 30 <= len(demo) <= 50
    assert {folder for folder, _raw, _flags in demo} == {"INBOX", "Sent"}
    for folder, raw, flags in demo:
        mailbox.append(raw, folder=folder, flags=flags)
    client = mailbox.client()
    try:
        for folder in ("INBOX", "Sent"):
            expected = [(raw, flags) for f, raw, flags in demo if f == folder]
            client.select_folder(folder, readonly=True)
            fetched = client.fetch(client.search("ALL"), ["BODY.PEEK[]", "FLAGS"])
            got = [(values[b"BODY[]"],
                    {flag.decode() for flag in values[b"FLAGS"]} - {"\\Recent"})
                   for _uid, values in sorted(fetched.items())]
            assert got == [(raw, set(flags)) for raw, flags in expected]
    finally:
        client.logout()

    parsed = [(folder, parse_message(raw)) for folder, raw, _flags in demo]
    kinds = {
        "inline images": any(p.inline for _f, m in parsed for p in m.attachments),
        "attachments": any(not p.inline for _f, m in parsed for p in m.attachments),
        "cp1252": any(m.headers.subject == samples.NON_UTF8_SUBJECT for _f, m in parsed),
        "thread": sum("Launch checklist" in m.headers.subject for _f, m in parsed) == 8,
        "flagged": any("\\Flagged" in flags for _f, _r, flags in demo),
        "unread": any("\\Seen" not in flags for _f, _r, flags in demo),
    }
    assert all(kinds.values()), kinds
    for folder, message in parsed:
        sender = message.headers.email_from
        assert sender.endswith(("@example.com>", "@example.org>", "@example.net>"))
        if folder == "Sent":
            assert "demo@example.com" in sender
        if message.headers.date and message.headers.subject != "Votre facture":
            assert now - datetime.timedelta(days=29) <= message.headers.date <= now


@pytest.mark.parametrize(("text", "formatted", "first"), [
    ("John   Smith <j@x.com>", "John Smith <j@x.com>", "j@x.com"),
    ("=?utf-8?q?Ren=C3=A9?= <r@x.com>, d@e.f", "René <r@x.com>, d@e.f", "r@x.com"),
    # as people type it (and some mail programs write it): one address, its name quoted
    ("Smith, John <J@x.com>", '"Smith, John" <J@x.com>', "j@x.com"),
    ('"Doe, Jane" <JANE@Example.COM>', '"Doe, Jane" <JANE@Example.COM>', "jane@example.com"),
    # a non-ASCII local part keeps its case (RFC 6531), as Odoo's email_normalize does
    ("Élodie <Élodie@Exemple.FR>", "Élodie <Élodie@Exemple.FR>", "Élodie@exemple.fr"),
    ("group: a@b.c, d@e.f;", "a@b.c, d@e.f", "a@b.c"),
    ("undisclosed-recipients:;", "", ""),
    ("me", "me", ""),  # not an address: kept as written, never the sender's address
])
def test_list_addresses(text, formatted, first):
    """The list's address fields: each entry written by core.addresses (names decoded), the
    first address normalised by it (how senders are compared)."""
    assert read_addresses(text) == (formatted, first)
    assert first == addresses.normalize(text)
