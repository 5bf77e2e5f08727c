"""compose: outgoing messages, and the reply/forward conventions."""

import datetime
import email
import email.policy

import pytest

from vt_webmail.core import compose
from vt_webmail.core.mime import ListHeaders, parse_message
from vt_webmail.testing import samples

PARIS = datetime.timezone(datetime.timedelta(hours=1))
DATE = datetime.datetime(2025, 3, 4, 10, 30, tzinfo=PARIS)


def _build(**overrides):
    values = {
        "from_addr": "Élodie Dupré <elodie@example.com>",
        "to": ["Alice Martin <alice@example.org>"],
        "subject": "Réunion — ordre du jour",
        "html": "<p>Bonjour <b>Alice</b>, ça va ? €</p>",
        "date": DATE,
        "domain": "example.com",
    }
    values.update(overrides)
    return compose.build_message(**values)


def _structure(message):
    return [(part.get_content_type(), part.get_filename()) for part in message.walk()]


def test_alternative_with_attachments_round_trip():
    message = _build(
        cc="Bob <bob@example.org>, carol@example.org",
        bcc=["hidden@example.net"],
        attachments=[("rapport-été.pdf", "application/pdf", samples.pdf_document()),
                     ("data.csv", "text/csv; charset=utf-8", samples.csv_document())],
        in_reply_to="<parent@example.org>",
        references="<root@example.org> <parent@example.org>",
    )
    assert _structure(message) == [
        ("multipart/mixed", None), ("multipart/alternative", None), ("text/plain", None),
        ("text/html", None), ("application/pdf", "rapport-été.pdf"), ("text/csv", "data.csv")]
    raw = bytes(message)
    assert max(raw) < 128, "7-bit clean"
    assert raw.count(b"\n") == raw.count(b"\r\n")
    assert b"hidden@example.net" not in raw and b"Bcc" not in raw
    assert b"=?utf-8?" in raw  # the name and the subject are encoded words

    parsed = parse_message(raw)
    assert parsed.headers == ListHeaders(
        subject="Réunion — ordre du jour",
        email_from="Élodie Dupré <elodie@example.com>",
        from_address="elodie@example.com",
        email_to="Alice Martin <alice@example.org>",
        email_cc="Bob <bob@example.org>, carol@example.org",
        date=DATE,
        message_id=message["Message-ID"],
        in_reply_to="<parent@example.org>",
        references="<root@example.org> <parent@example.org>",
    )
    assert parsed.html.strip() == "<p>Bonjour <b>Alice</b>, ça va ? €</p>"
    assert parsed.text == "Bonjour Alice, ça va ? €\n"
    assert [(p.filename, p.content_type, p.data) for p in parsed.attachments] == [
        ("rapport-été.pdf", "application/pdf", samples.pdf_document()),
        ("data.csv", "text/csv", samples.csv_document())]
    assert parsed.notes == []


def test_without_attachments_is_alternative_and_text_can_be_given():
    message = _build(text="My own text version")
    assert _structure(message) == [("multipart/alternative", None), ("text/plain", None),
                                   ("text/html", None)]
    assert parse_message(bytes(message)).text == "My own text version\n"


def test_text_only_message():
    message = _build(html="", text="Just text")
    assert message.get_content_type() == "text/plain"
    assert parse_message(bytes(message)).text == "Just text\n"


def test_message_id_date_and_domain():
    generated = _build(domain=None)["Message-ID"]
    assert generated.startswith("<") and generated.endswith("@example.com>")
    assert _build(domain="mail.example.net")["Message-ID"].endswith("@mail.example.net>")
    assert _build()["Message-ID"] != _build()["Message-ID"]
    assert _build(message_id="given@example.com")["Message-ID"] == "<given@example.com>"
    assert _build()["Date"] == "Tue, 04 Mar 2025 10:30:00 +0100"
    now = email.utils.parsedate_to_datetime(_build(date=None)["Date"])
    assert abs(now - datetime.datetime.now(datetime.timezone.utc)) < datetime.timedelta(
        minutes=1)


def test_subject_cannot_inject_headers():
    raw = bytes(_build(subject="Hello\r\nBcc: victim@example.net\r\n\r\nbody"))
    head = raw.partition(b"\r\n\r\n")[0]
    assert not any(line.lower().startswith(b"bcc") for line in head.split(b"\r\n"))
    assert parse_message(raw).headers.subject == "Hello Bcc: victim@example.net body"


def test_names_with_commas_and_idn_domains():
    message = _build(to=["Doe, John <john@example.org>", "Ünal <unal@bücher.example>"])
    assert message["To"] == '"Doe, John" <john@example.org>, Ünal <unal@xn--bcher-kva.example>'
    assert compose.recipients(message) == ["john@example.org", "unal@xn--bcher-kva.example"]


def test_international_local_part_uses_utf8_headers():
    message = _build(to=["José <josé@example.org>"])
    raw = bytes(message)
    assert "josé@example.org".encode() in raw
    assert message.policy.utf8


@pytest.mark.parametrize(("overrides", "error"), [
    ({"from_addr": "a@example.com, b@example.com"}, "exactly one sender"),
    ({"from_addr": ""}, "exactly one sender"),
    ({"to": [], "cc": (), "bcc": ()}, "at least one recipient"),
    ({"to": ["not an address"]}, "not an e-mail address"),
    ({"to": ["Bob <bob@>"]}, "not an e-mail address"),
    ({"cc": ["x@exa mple.org"]}, "not an e-mail address"),
])
def test_invalid_input_is_refused(overrides, error):
    with pytest.raises(ValueError, match=error):
        _build(**overrides)


def test_bcc_alone_is_enough_and_stays_out_of_the_message():
    message = _build(to=(), bcc=["hidden@example.net"])
    assert "To" not in message
    assert compose.recipients(message, bcc=["hidden@example.net"]) == ["hidden@example.net"]


def test_recipients_merges_and_deduplicates():
    message = _build(to=["Alice <alice@example.org>", "BOB@example.org"],
                     cc=["bob@example.org", "carol@example.org"])
    assert compose.recipients(message, bcc=["Carol@Example.org", "dan@example.org"]) == [
        "alice@example.org", "BOB@example.org", "carol@example.org", "dan@example.org"]
    assert compose.recipients(message, bcc="eve@example.org, dan@example.org")[-2:] == [
        "eve@example.org", "dan@example.org"]


def test_message_bytes_records_bcc_only_in_that_copy():
    message = _build()
    copy = compose.message_bytes(message, bcc=["Hidden <hidden@example.net>"])
    assert copy.startswith(b"Bcc: Hidden <hidden@example.net>\r\nFrom: ")
    assert copy.endswith(bytes(message))
    assert b"hidden" not in bytes(message)
    assert compose.message_bytes(message) == bytes(message)


def test_forward_as_attachment_embeds_the_message():
    original = samples.non_utf8()
    message = _build(subject="Fwd: réunion",
                     attachments=[("original.eml", "message/rfc822", original)])
    [attached] = parse_message(bytes(message)).attachments
    assert (attached.filename, attached.content_type) == (
        "Réunion d'équipe ordre du jour.eml", "message/rfc822")  # no ":" in file names
    inner = parse_message(attached.data)
    assert inner.headers.subject == samples.NON_UTF8_SUBJECT
    assert inner.text == samples.NON_UTF8_TEXT


def test_odd_attachment_types_become_octet_stream():
    message = _build(attachments=[("a.bin", "bogus", b"\x00"), ("b", "", b"\x01"),
                                  ("c/d\\e.txt", "multipart/mixed", b"\x02")])
    assert [(part.get_content_type(), part.get_filename())
            for part in message.iter_attachments()] == [
        ("application/octet-stream", "a.bin"), ("application/octet-stream", "b"),
        ("application/octet-stream", "c_d_e.txt")]


# -- subjects ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("subject", "reply"), [
    ("Hello", "Re: Hello"),
    ("Re: Hello", "Re: Hello"),
    ("RE: Re: re:Hello", "Re: Hello"),
    ("Aw: Hello", "Re: Hello"),
    ("SV: Hello", "Re: Hello"),
    ("Re[2]: Hello", "Re: Hello"),
    ("Re : Hello", "Re: Hello"),
    ("Fwd: Hello", "Re: Fwd: Hello"),
    ("[dev] Re: patch", "Re: [dev] patch"),
    ("[dev] patch", "Re: [dev] patch"),
    ("Reply needed", "Re: Reply needed"),
    ("Regarding: Hello", "Re: Regarding: Hello"),
    ("", "Re:"),
    (None, "Re:"),
    ("  Re:   spaced \t out ", "Re: spaced out"),
])
def test_reply_subject(subject, reply):
    assert compose.reply_subject(subject) == reply


@pytest.mark.parametrize(("subject", "forward"), [
    ("Hello", "Fwd: Hello"),
    ("Fwd: Hello", "Fwd: Hello"),
    ("FW: Fwd: Hello", "Fwd: Hello"),
    ("WG: Hello", "Fwd: Hello"),
    ("TR: Hello", "Fwd: Hello"),
    ("Re: Hello", "Fwd: Re: Hello"),
    ("", "Fwd:"),
])
def test_forward_subject(subject, forward):
    assert compose.forward_subject(subject) == forward


# -- threading -----------------------------------------------------------------------------------

def test_reply_references_follow_rfc_5322():
    assert compose.reply_references("<p@x>", "<a@x> <b@x>") == ("<p@x>", "<a@x> <b@x> <p@x>")
    # no References: the parent's single In-Reply-To starts the chain
    assert compose.reply_references("<p@x>", "", in_reply_to="<a@x>") == ("<p@x>", "<a@x> <p@x>")
    # an In-Reply-To that names several messages is no chain
    assert compose.reply_references("<p@x>", None, in_reply_to="<a@x> <b@x>") == (
        "<p@x>", "<p@x>")
    assert compose.reply_references("", "") == ("", "")
    assert compose.reply_references("p@x", "") == ("<p@x>", "<p@x>")
    # folded, duplicated, and the parent already listed
    assert compose.reply_references("<p@x>", "<a@x>\r\n <p@x> <a@x> <b@x>") == (
        "<p@x>", "<a@x> <b@x> <p@x>")


def test_reply_references_are_trimmed():
    chain = " ".join(f"<m{i}@x>" for i in range(50))
    in_reply_to, references = compose.reply_references("<p@x>", chain)
    ids = references.split()
    assert in_reply_to == "<p@x>"
    assert len(ids) == compose.MAX_REFERENCES
    # the first, then the last 19 of the 51 (m0..m49 and the parent)
    assert ids[0] == "<m0@x>" and ids[1] == "<m32@x>" and ids[-1] == "<p@x>"


def test_reply_to_the_thread_sample():
    last = parse_message(samples.thread(3)[-1]).headers
    in_reply_to, references = compose.reply_references(last.message_id, last.references)
    reply = _build(subject=compose.reply_subject(last.subject), in_reply_to=in_reply_to,
                   references=references)
    headers = parse_message(bytes(reply)).headers
    assert headers.subject == "Re: Quarterly planning"
    assert headers.in_reply_to == "<planning-3@example.org>"
    assert headers.references == (
        "<planning-1@example.org> <planning-2@example.org> <planning-3@example.org>")


# -- recipients of a reply -----------------------------------------------------------------------

ME = "me@example.com"


def test_reply_goes_to_the_sender_only():
    assert compose.reply_recipients("Alice <alice@example.org>", "Me <me@example.com>, "
                                    "bob@example.org", "carol@example.org", ME, False) == (
        ["Alice <alice@example.org>"], [])


def test_reply_all_copies_everyone_but_me_once():
    to, cc = compose.reply_recipients(
        "Alice <alice@example.org>",
        "Me <ME@Example.com>, Bob <bob@example.org>, ALICE@example.org",
        "carol@example.org, Bob Again <BOB@example.org>, me@example.com",
        ME, True)
    assert to == ["Alice <alice@example.org>"]
    assert cc == ["Bob <bob@example.org>", "carol@example.org"]


def test_reply_to_header_wins_and_names_are_decoded():
    to, cc = compose.reply_recipients(
        "Alice <alice@example.org>", ME, "", ME, True,
        reply_to="=?utf-8?q?Liste_D=C3=A9v?= <dev@lists.example.org>")
    assert (to, cc) == (["Liste Dév <dev@lists.example.org>"], [])


def test_reply_to_my_own_sent_message_goes_to_its_recipients():
    to, cc = compose.reply_recipients("Me <me@example.com>", "Alice <alice@example.org>",
                                      "bob@example.org", [ME, "alias@example.com"], True)
    assert (to, cc) == (["Alice <alice@example.org>"], ["bob@example.org"])


def test_aliases_and_note_to_self():
    to, cc = compose.reply_recipients("alice@example.org", "alias@example.com",
                                      "", [ME, "Alias@example.com"], True)
    assert (to, cc) == (["alice@example.org"], [])
    assert compose.reply_recipients(ME, ME, "", ME, True) == ([ME], [])


def test_reply_recipients_quote_names_that_need_it():
    to, _cc = compose.reply_recipients('"Doe, John" <john@example.org>', ME, "", ME, False)
    assert to == ['"Doe, John" <john@example.org>']
    assert compose.recipients(_build(to=to)) == ["john@example.org"]


# -- quoting and forwarding ----------------------------------------------------------------------

def test_quote_html():
    quoted = compose.quote_html(author="Bob <bob@example.org>", date=DATE,
                                html="<p>Original</p>")
    assert quoted == (
        "<div>On Tue, 4 Mar 2025 at 10:30, Bob &lt;bob@example.org&gt; wrote:</div>"
        '<blockquote style="margin:0 0 0 0.8ex;border-left:1px solid #ccc;padding-left:1ex">'
        "<p>Original</p></blockquote>")
    assert compose.quote_html(author="Bob", date=None, html="").startswith("<div>Bob wrote:")
    assert "yesterday" in compose.quote_html(author="Bob", date="yesterday", html="x")


def test_forward_html():
    headers = parse_message(samples.plain_text()).headers
    block = compose.forward_html(headers=headers, html="<p>Body</p>")
    assert block == (
        "<div>---------- Forwarded message ----------"
        "<br>From: Alice Martin &lt;alice@example.com&gt;"
        "<br>Date: Tue, 4 Mar 2025 at 09:15"
        "<br>Subject: Lunch on Thursday?"
        "<br>To: Bob Stone &lt;bob@example.org&gt;</div><br><div><p>Body</p></div>")
    hostile = ListHeaders(subject="<script>alert(1)</script>", email_from="x@example.com")
    assert "<script>" not in compose.forward_html(headers=hostile, html="")


# -- images that travel with the message ----------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def test_embed_images_turns_known_and_data_sources_into_cid_parts():
    served = "/vt_webmail/part/7/42"
    data_url = "data:image/png;base64," + __import__("base64").b64encode(PNG).decode()
    html = (f'<p>Hi <img src="{served}" alt="logo"> and <img src="{served}"></p>'
            f'<p><img src="{data_url}"><img src="https://cdn.example.org/x.png">'
            '<img src="cid:already@there"><img src="/unknown"></p>')
    seen = []

    def resolve(src):
        seen.append(src)
        return ("logo.png", "image/png", PNG) if src == served else None

    result, related = compose.embed_images(html, resolve)
    assert seen == [served, "https://cdn.example.org/x.png", "/unknown"]  # once per source
    assert [(filename, kind, data) for _cid, filename, kind, data in related] == [
        ("logo.png", "image/png", PNG), ("image.png", "image/png", PNG)]
    logo_cid, inline_cid = related[0][0], related[1][0]
    assert result.count(f'src="cid:{logo_cid}"') == 2
    assert f'src="cid:{inline_cid}"' in result
    assert 'src="https://cdn.example.org/x.png"' in result
    assert 'src="cid:already@there"' in result and 'src="/unknown"' in result
    assert "data:" not in result and served not in result
    assert result.startswith("<p>Hi ")


def test_embed_images_leaves_html_without_images_untouched():
    html = "<p>Plain &amp; <b>simple</b></p>"
    assert compose.embed_images(html, lambda src: None) == (html, [])
    html = '<p><img src="https://example.org/a.png"></p>'
    assert compose.embed_images(html, lambda src: None) == (html, [])
    bad = '<img src="data:image/png;base64,@@not base64@@">'
    assert compose.embed_images(bad, lambda src: None) == (bad, [])


def test_related_images_round_trip():
    html, related = compose.embed_images(
        '<p>Logo: <img src="/logo"></p>', lambda src: ("logo.png", "image/png", PNG))
    message = _build(html=html, related=related,
                     attachments=[("a.txt", "text/plain", b"attached")])
    assert _structure(message) == [
        ("multipart/mixed", None), ("multipart/alternative", None), ("text/plain", None),
        ("multipart/related", None), ("text/html", None), ("image/png", "logo.png"),
        ("text/plain", "a.txt")]
    parsed = parse_message(bytes(message))
    part = parsed.find_cid(related[0][0])
    assert part is not None and part.data == PNG and part.inline
    assert [a.filename for a in parsed.attachments if not a.inline] == ["a.txt"]


def test_a_draft_needs_no_recipient():
    with pytest.raises(ValueError, match="recipient"):
        _build(to=[])
    message = _build(to=[], draft=True)
    assert message["To"] is None and message["Message-ID"]
