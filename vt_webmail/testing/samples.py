"""Sample mails for tests and the demo: raw RFC 5322 bytes with CRLF line ends.

Made with the standard library only (no ORM, nothing of the addon), so the Odoo tests, the plain
pytest suite and a demo command can all use them. Every function is deterministic: fixed dates,
Message-IDs and MIME boundaries, seeded random data; :func:`demo_messages` depends only on its
``now`` and ``seed``. A few are kept as ``.eml`` files in ``vt_webmail/tests/samples``
(:func:`write_eml_files`), with a test checking the files still match.

Senders and recipients live on ``example.com``, ``example.org`` and ``example.net``.
"""

import base64
import datetime
import email.header
import email.utils
import random
import struct
import zlib
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

#: The date of the fixed samples.
SAMPLE_DATE = datetime.datetime(2025, 3, 4, 9, 15, tzinfo=datetime.timezone(
    datetime.timedelta(hours=1)))
ALICE = "Alice Martin <alice@example.com>"
BOB = "Bob Stone <bob@example.org>"
CAROL = "Carol Diaz <carol@example.com>"
DEMO_ADDRESS = "demo@example.com"
#: the demo's second account (a shared team mailbox), for "All inboxes"
TEAM_ADDRESS = "team@example.com"

PEOPLE = (
    ("Alice Martin", "alice@example.com"),
    ("Bob Stone", "bob@example.org"),
    ("Carol Diaz", "carol@example.com"),
    ("Dan Okafor", "dan@example.org"),
    ("Élodie Dupré", "elodie@example.org"),
    ("Frank Li", "frank@example.com"),
    ("Grace Hopper Fan Club", "club@example.org"),
)


# -- building blocks ----------------------------------------------------------------------------

def png_image(width=16, height=16):
    """A real PNG (an RGB gradient), built with zlib: the inline image of the samples."""
    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1),
                                  128)) for x in range(width))
        for y in range(height)
    )

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


def pdf_document():
    """A small PDF-looking file (binary bytes included, as in real PDFs)."""
    return (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
            b"1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
            b"2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n"
            b"3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 200 100] >> endobj\n"
            b"trailer << /Root 1 0 R >>\n%%EOF\n")


def csv_document():
    """A small UTF-8 CSV file."""
    return ("date,city,amount\n2025-03-01,Zürich,12.50\n2025-03-02,Kraków,7.25\n"
            "2025-03-03,Québec,30.00\n").encode()


def _message(*, subject, sender, to, date=None, message_id, cc=None, extra=()):
    message = EmailMessage(policy=SMTP)
    message["From"] = sender
    message["To"] = to
    if cc:
        message["Cc"] = cc
    message["Subject"] = subject
    message["Date"] = email.utils.format_datetime(date or SAMPLE_DATE)
    message["Message-ID"] = message_id
    for name, value in extra:
        message[name] = value
    return message


def _finish(message, name):
    """The message's bytes, with boundaries chosen here rather than at random."""
    for index, part in enumerate(message.walk()):
        if part.is_multipart() and not part.get_boundary():
            part.set_boundary(f"=_vt-{name}-{index}")
    return message.as_bytes(policy=SMTP)


def _crlf(text):
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


# -- the samples --------------------------------------------------------------------------------

def plain_text(*, date=None, message_id="<plain-1@example.com>", to=BOB, sender=ALICE,
               subject="Lunch on Thursday?"):
    """A text/plain mail with a link, a mailto, characters to escape and a quoted part."""
    message = _message(subject=subject, sender=sender, to=to, date=date, message_id=message_id)
    message.set_content(
        "Hi Bob,\n\n"
        "Shall we try the new place on Thursday? Menu: https://example.org/menu?day=thu&time=12\n"
        "Fish & chips <3, or the \"veggie\" bowl.\n\n"
        "Write to mailto:alice@example.com if the link is down.\n\n"
        "Alice\n\n"
        "> Are you free this week?\n"
        "> -- Bob\n"
    )
    return _finish(message, "plain")


def html_with_inline_image(*, date=None, message_id="<html-inline-1@example.org>", to=ALICE,
                           sender="Example News <news@example.org>",
                           subject="Our March newsletter"):
    """multipart/alternative: text, and HTML in a multipart/related with a PNG by ``cid:``."""
    message = _message(subject=subject, sender=sender, to=to, date=date, message_id=message_id)
    message.set_content("March newsletter\n\nThe garden is open again.\n")
    message.add_alternative(
        '<html><body><h1>March newsletter</h1>'
        '<p><img src="cid:logo@example.org" alt="Logo" width="16" height="16"></p>'
        "<p>The garden is <b>open</b> again.</p></body></html>\n",
        subtype="html",
    )
    html_part = message.get_payload()[1]
    html_part.add_related(png_image(), "image", "png", cid="<logo@example.org>",
                          filename="logo.png", disposition="inline")
    return _finish(message, "inline")


def with_attachments(*, date=None, message_id="<attachments-1@example.com>", to=BOB,
                     sender=CAROL, subject="Figures for Q1"):
    """A text mail with a PDF and a CSV whose file name is not ASCII (RFC 2231)."""
    message = _message(subject=subject, sender=sender, to=to, date=date, message_id=message_id)
    message.set_content("Hello Bob,\n\nThe report and the raw figures are attached.\n\nCarol\n")
    message.add_attachment(pdf_document(), "application", "pdf", filename="report-q1.pdf")
    message.add_attachment(csv_document(), "text", "csv", filename="chiffres-été.csv")
    return _finish(message, "attachments")


#: The body of :func:`non_utf8`, sent as Windows-1252 bytes.
NON_UTF8_TEXT = (
    "Bonjour à tous,\n\n"
    "Voici l’ordre du jour de la réunion de jeudi :\n"
    " – budget 2025 : 12 500 €\n"
    " – « nouvelles » recrues\n"
    " – œuvres d’art du hall\n\n"
    "Cordialement,\nFrançois\n"
)
NON_UTF8_SUBJECT = "Réunion d'équipe : ordre du jour"


def non_utf8(*, date=None, message_id="<cp1252-1@example.org>", to=ALICE):
    """A French mail: an 8-bit Windows-1252 body and ISO-8859-1 encoded words in the headers."""
    sender = email.header.Header("François Lévêque", "iso-8859-1").encode()
    subject = email.header.Header(NON_UTF8_SUBJECT, "iso-8859-1").encode()
    head = (
        f"From: {sender} <francois@example.org>\n"
        f"To: {to}\n"
        f"Subject: {subject}\n"
        f"Date: {email.utils.format_datetime(date or SAMPLE_DATE)}\n"
        f"Message-ID: {message_id}\n"
        "MIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=windows-1252\n"
        "Content-Transfer-Encoding: 8bit\n\n"
    )
    return _crlf(head).encode("ascii") + _crlf(NON_UTF8_TEXT).encode("cp1252")


#: Everything :func:`hostile_html` tries; tests prove each is gone after preparation.
HOSTILE_BODY = (
    "<html><head>"
    '<meta http-equiv="refresh" content="0;url=https://evil.example.net/refresh">'
    '<base href="https://evil.example.net/base/">'
    '<link rel="stylesheet" href="https://evil.example.net/sheet.css">'
    "<style>body { background: url(https://tracker.example.net/style.png) }"
    " @import url(https://evil.example.net/import.css);</style>"
    "<script>alert('head script')</script>"
    "</head>"
    '<body onload="alert(\'body onload\')">'
    "<p>Hello, this is the visible text.</p>"
    "<script>alert('script')</script>"
    '<img src="x" onerror="alert(\'onerror\')" alt="broken">'
    '<iframe src="https://evil.example.net/frame"></iframe>'
    '<form action="https://evil.example.net/phish" method="post">'
    '<input type="password" name="password"><button type="submit">Log in</button></form>'
    "<a href=\"javascript:alert('link')\">first link</a>"
    '<a href="JaVaScRiPt&#x3A;alert(\'entity\')">second link</a>'
    '<a href=" java&#x09;script:alert(\'tab\')">third link</a>'
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">fourth link</a>'
    '<a href="https://example.org/safe">safe link</a>'
    '<img src="https://tracker.example.net/pixel.gif?u=42" width="1" height="1" alt="">'
    '<div style="background-image: url(\'https://tracker.example.net/bg.png\')">styled</div>'
    '<div style="width: expression(alert(\'expression\'))">css trick</div>'
    '<div style="position: fixed; top: 0; left: 0">overlay</div>'
    '<object data="https://evil.example.net/object.swf"></object>'
    '<embed src="https://evil.example.net/embed.swf">'
    "<svg onload=\"alert('svg')\"><script>alert('svg script')</script></svg>"
    '<xmp><img title="</xmp><img src=x onerror=alert(\'mxss\')>"></xmp>'
    "</body></html>"
)


#: Classic XSS payloads, one body each (tests/core/test_html.py, tools/bench_xss.py).
XSS_PAYLOADS = [
    '<a href="java\nscript:alert(1)">x</a>',
    '<a href="&#106;avascript:alert(1)">x</a>',
    '<a href="vbscript:msgbox(1)">x</a>',
    '<a href="  JAVASCRIPT:alert(1)">x</a>',
    '<a href="data:text/html,<script>alert(1)</script>">x</a>',
    '<a xlink:href="javascript:alert(1)">x</a>',
    '<img src="javascript:alert(1)">',
    '<img src=x:alert(1) onerror=eval(src)>',
    '<img src="data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=">',
    '<div style="behavior: url(x.htc)">x</div>',
    '<div style="-moz-binding: url(x.xml#xss)">x</div>',
    '<div style="background: url(javascript:alert(1))">x</div>',
    '<div style="width: \\65 xpression(alert(1))">x</div>',
    '<div style="background: u\\72l(javascript:alert(1))">x</div>',
    "<div style=\"background:url('http://a/b')\\\">x</div>",
    '<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>',
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>',
    '<svg><style><img src=x onerror=alert(1)></style></svg>',
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    '<object data="javascript:alert(1)"></object>',
    '<embed src="javascript:alert(1)">',
    '<form><button formaction="javascript:alert(1)">x</button></form>',
    '<isindex action="javascript:alert(1)" type="image">',
    '<body onload=alert(1)>',
    '<details open ontoggle=alert(1)>',
    '<video><source onerror="alert(1)"></video>',
    '<a href="#" onclick="alert(1)">x</a>',
    '<img src="x" ONERROR="alert(1)">',
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    '<!--[if gte IE 4]><script>alert(1)</script><![endif]-->',
    '<template><script>alert(1)</script></template>',
    '<a href="javascript&colon;alert(1)" cite="javascript&colon;alert(1)" '
    'code="java&Tab;script&colon;alert(1)">x</a><a href="https&colon;//x.example/">y</a>',
]


def hostile_html(*, date=None, message_id="<hostile-1@example.net>"):
    """An HTML-only mail with scripts, handlers, frames, a form, javascript: links, a tracking
    pixel, CSS url(), meta refresh, base, plugins, SVG and an mXSS attempt."""
    message = _message(subject="Your account needs attention",
                       sender="Security Team <security@example.net>", to=ALICE, date=date,
                       message_id=message_id)
    message.set_content(HOSTILE_BODY, subtype="html")
    return _finish(message, "hostile")


REMOTE_BODY = (
    "<html><body>"
    "<p>Spring collection</p>"
    '<img src="https://images.example.net/banner.jpg" alt="banner">'
    '<img src="http://images.example.net/plain-http.png" alt="http">'
    '<img src="//images.example.net/protocol-relative.png" alt="relative">'
    '<img src="https://images.example.net/small.png" '
    'srcset="https://images.example.net/small.png 1x, https://images.example.net/big.png 2x">'
    '<table background="https://images.example.net/table-bg.png"><tr>'
    '<td style="background-image:url(https://images.example.net/cell.png)">Shop now</td>'
    "</tr></table>"
    '<p><a href="https://shop.example.net/spring">Shop the collection</a></p>'
    "</body></html>"
)


def remote_images(*, date=None, message_id="<remote-1@example.net>", to=ALICE):
    """An HTML newsletter whose images all come from the network."""
    message = _message(subject="Spring collection is here",
                       sender="Example Shop <shop@example.net>", to=to, date=date,
                       message_id=message_id)
    message.set_content("Spring collection\n\nShop the collection: https://shop.example.net/spring\n")
    message.add_alternative(REMOTE_BODY, subtype="html")
    return _finish(message, "remote")


#: A newsletter built on a style sheet, whose sheet also tries to restyle the page around it.
STYLED_BODY = (
    '<!DOCTYPE html><html><head><style type="text/css">'
    "body { background-color: rgb(250, 240, 220); margin: 0 }"
    " .promo { color: rgb(200, 30, 40); font-weight: bold }"
    " #headline { font-size: 34px; letter-spacing: 2px }"
    " .hero { height: 60px; background: url(https://images.example.net/hero.png) }"
    " .o_form_view, .o_control_panel, .o_main_navbar, .btn { display: none !important }"
    " html { outline: 5px solid rgb(0, 255, 0) }"
    "</style></head>"
    '<body><h1 id="headline">Autumn sale</h1><div class="hero"></div>'
    '<p class="promo">Everything must go.</p>'
    '<img src="https://images.example.net/autumn.jpg" alt="autumn" width="40" height="40">'
    '<p><a class="btn" href="https://shop.example.net/autumn">Shop now</a></p>'
    "</body></html>"
)


def styled_newsletter(*, date=None, message_id="<styled-1@example.net>", to=ALICE):
    """An HTML newsletter with a style sheet (classes, ids, a remote CSS background and a
    remote image), whose sheet also tries to hide the web client around it."""
    message = _message(subject="Autumn sale starts today",
                       sender="Example Shop <shop@example.net>", to=to, date=date,
                       message_id=message_id)
    message.set_content("Autumn sale\n\nEverything must go: https://shop.example.net/autumn\n")
    message.add_alternative(STYLED_BODY, subtype="html")
    return _finish(message, "styled")


def broken_mime():
    """A damaged mail: a nested multipart whose boundary never appears, a part that says UTF-8
    but holds Latin-1, truncated base64, no closing boundary, ``Message-Id: <>`` and an
    encoded word in an unknown charset."""
    text = (
        "From: \"Broken Mailer\" <broken@example.com>\n"
        "To: alice@example.com\n"
        "Subject: Broken =?x-no-such-charset?q?caf=E9?= mail\n"
        "Message-Id: <>\n"
        "Date: Wed, 05 Mar 2025 08:00:00 +0000\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="outer"\n'
        "\n"
        "This is a multi-part message in MIME format.\n"
        "--outer\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: 8bit\n"
        "\n"
        "Caf\udce9 cr\udce8me br\udcfbl\udce9e, said in Latin-1 by a part that claims UTF-8.\n"
        "--outer\n"
        'Content-Type: multipart/alternative; boundary="declared-but-never-used"\n'
        "\n"
        "--another-boundary\n"
        "Content-Type: text/html\n"
        "\n"
        "<p>This HTML hides behind the wrong boundary.</p>\n"
        "--another-boundary--\n"
        "--outer\n"
        'Content-Type: application/pdf; name="truncated.pdf"\n'
        'Content-Disposition: attachment; filename="truncated.pdf"\n'
        "Content-Transfer-Encoding: base64\n"
        "\n"
        + base64.encodebytes(pdf_document()).decode("ascii")[:150] + "\n"
    )
    return _crlf(text).encode("ascii", "surrogateescape")


def real_world_malformed():
    """Malformed the way real bulk mailers and old clients get it wrong: raw 8-bit Latin-1 in
    a header, an unreadable date, an ISO-8859-1 label on Windows-1252 text (the euro sign), a
    ``<meta>`` that claims UTF-8, a broken quoted-printable soft break, an encoded word inside a
    quoted file name, and an unquoted Outlook boundary folded with a tab."""
    boundary = "----=_NextPart_000_0012_01DB8D2A.5F6E4B20"
    gif = base64.b64encode(TRANSPARENT_GIF).decode("ascii")
    text = (
        "Return-Path: <bounce@example.net>\n"
        "Received: from mail.example.net (mail.example.net [192.0.2.10])\n"
        "\tby mx.example.com with ESMTP id 42; Wed, 5 Mar 2025 14:03:27 +0100\n"
        "From: Service Client <service@example.net>\n"
        "To: undisclosed-recipients:;\n"
        "Subject: Votre facture n\udcb0 2025-0042 est disponible\n"
        "Date: mercredi 5 mars 2025 14h03\n"
        "Message-ID: <20250305140327.42@example.net>\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/related; type="text/html";\n'
        f"\tboundary={boundary}\n"
        "Content-Transfer-Encoding: 7bit\n"
        "\n"
        "This is a multi-part message in MIME format.\n"
        "\n"
        f"--{boundary}\n"
        'Content-Type: text/html; charset="iso-8859-1"\n'
        "Content-Transfer-Encoding: quoted-printable\n"
        "\n"
        '<html><head><meta http-equiv=3D"Content-Type" content=3D"text/html; charset=3Dutf-8">'
        "</head>\n"
        "<body><p>Bonjour,</p><p>Votre facture n=B0 2025-0042 d'un montant de 149,90 =80 est "
        "disponible.</p>\n"
        '<img src=3D"cid:logo.gif@01DB8D2A" alt=3D"logo"><br>\n'
        '<a href=3D"https://example.net/facture?id=3D42">Voir la facture</a>\n'
        "<p>Une ligne coup=E9e par un saut =\n"
        " mal form=E9.</p>\n"
        "</body></html>\n"
        f"--{boundary}\n"
        'Content-Type: image/gif; name="logo.gif"\n'
        "Content-Transfer-Encoding: base64\n"
        "Content-ID: <logo.gif@01DB8D2A>\n"
        "\n"
        f"{gif}\n"
        f"--{boundary}\n"
        'Content-Type: application/octet-stream; name="=?iso-8859-1?Q?d=E9tail.txt?="\n'
        "Content-Disposition: attachment\n"
        "\n"
        "Ligne 1\n"
        "Ligne 2\n"
        f"--{boundary}--\n"
    )
    return _crlf(text).encode("ascii", "surrogateescape")


#: The 1x1 transparent GIF of web bugs and old mailers.
TRANSPARENT_GIF = base64.b64decode("R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==")


def forwarded_as_attachment(*, date=None, message_id="<forward-1@example.org>"):
    """A mail that carries :func:`plain_text` as a ``message/rfc822`` attachment."""
    message = _message(subject="Fwd: Lunch on Thursday?", sender=BOB, to=CAROL, date=date,
                       message_id=message_id)
    message.set_content("Carol, see Alice's message below.\n")
    inner = email.message_from_bytes(plain_text(), policy=SMTP)
    message.add_attachment(inner)
    return _finish(message, "forward")


def huge(size_mb):
    """A mail of about ``size_mb`` megabytes (MiB): a short text and a base64 attachment
    ``archive.bin`` of seeded random bytes (``size_mb`` * 0.73 MiB of them)."""
    size = int(size_mb * 1024 * 1024 * 57 / 78)  # base64 in 76-char lines: 78 bytes per 57
    data = random.Random(f"huge-{size_mb}").randbytes(size)
    encoded = base64.encodebytes(data).replace(b"\n", b"\r\n")
    head = _crlf(
        f"From: {ALICE}\n"
        f"To: {BOB}\n"
        f"Subject: The full archive ({size_mb} MB)\n"
        f"Date: {email.utils.format_datetime(SAMPLE_DATE)}\n"
        f"Message-ID: <huge-{size_mb}@example.com>\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="=_vt-huge"\n'
        "\n"
        "--=_vt-huge\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "\n"
        "The archive is attached.\n"
        "--=_vt-huge\n"
        "Content-Type: application/octet-stream\n"
        'Content-Disposition: attachment; filename="archive.bin"\n'
        "Content-Transfer-Encoding: base64\n"
        "\n"
    ).encode("ascii")
    return head + encoded + b"--=_vt-huge--\r\n"


def huge_payload(size_mb):
    """The attachment bytes of :func:`huge` (to compare with what was parsed)."""
    size = int(size_mb * 1024 * 1024 * 57 / 78)
    return random.Random(f"huge-{size_mb}").randbytes(size)


def thread(n, *, key="planning", subject="Quarterly planning", start=None,
           participants=(ALICE, BOB, CAROL)):
    """``n`` messages of one thread, each replying to the one before, an hour apart.

    Message-IDs are ``<{key}-{i}@example.org>`` (i from 1); each reply has In-Reply-To and
    References (the first message and the last 19, as mail clients trim them).

    :returns: list of bytes, oldest first
    """
    start = start or SAMPLE_DATE
    messages, ids = [], []
    for index in range(n):
        sender = participants[index % len(participants)]
        others = list(dict.fromkeys(p for p in participants if p != sender))
        message_id = f"<{key}-{index + 1}@example.org>"
        extra = []
        if ids:
            chain = ids if len(ids) <= 20 else ids[:1] + ids[-19:]
            extra = [("In-Reply-To", ids[-1]), ("References", " ".join(chain))]
        message = _message(
            subject=subject if not index else f"Re: {subject}", sender=sender, to=others[0],
            cc=others[1:] or None, date=start + datetime.timedelta(hours=index),
            message_id=message_id, extra=extra)
        name = sender.split()[0]
        body = f"Message {index + 1} of the thread, from {name}.\n"
        if index:
            body += f"\n> Message {index} of the thread.\n"
        message.set_content(body)
        messages.append(_finish(message, f"{key}-{index + 1}"))
        ids.append(message_id)
    return messages


# -- the demo mailbox ---------------------------------------------------------------------------

_DEMO_NOTES = (
    ("Coffee machine is fixed", "Good news: the coffee machine on the 2nd floor works again."),
    ("Parking lot closed on Friday", "The parking lot will be closed on Friday for repainting."),
    ("Your order has shipped", "Your order #4471 left our warehouse today. Track it at "
                               "https://shop.example.net/track/4471"),
    ("Minutes of Monday's meeting", "Attendees: Alice, Bob, Dan.\nDecisions:\n- move the demo "
                                    "to April\n- hire a second designer"),
    ("Can you review my draft?", "I shared the draft in the usual folder. Comments welcome "
                                 "before Wednesday."),
    ("Holiday schedule", "The office is closed on the 1st and the 8th of May."),
    ("New VPN settings", "Please update your VPN profile before Monday: see the wiki."),
    ("Re: Budget question", "Yes, the travel budget includes the train tickets."),
    ("Lunch & learn: Python typing", "Thursday 12:30, room Ada. Bring your lunch!"),
    ("Invoice 2025-118", "Please find the details of invoice 2025-118 on the portal."),
    ("Welcome to the team!", "Welcome aboard! Your first week's schedule is on the intranet."),
    ("Server maintenance tonight", "The mail server restarts at 23:00 for about 5 minutes."),
)


def demo_messages(now=None, *, seed=20250304, own_address=DEMO_ADDRESS):
    """A varied demo mailbox: ``[(folder, raw bytes, flags)]``, a few dozen mails.

    Plain mails, HTML newsletters with inline images, attachments, a Windows-1252 mail,
    remote images, a forwarded mail, a malformed one, an 8-message thread whose replies from
    the demo user are in ``Sent``, and a few more sent mails; dates spread over the four weeks
    before ``now``; some ``\\Seen``, ``\\Flagged`` and ``\\Answered``.

    :param now: aware datetime the dates count back from (default: now); output depends only
        on ``now`` and ``seed``
    :param own_address: the demo user's address (the To of received mail, the From of sent)
    :returns: list of ``(folder, bytes, flags)``, folders ``"INBOX"`` and ``"Sent"``, flags a
        tuple of IMAP flag strings
    """
    now = (now or datetime.datetime.now(datetime.timezone.utc)).replace(microsecond=0)
    rng = random.Random(seed)
    me = f"Demo User <{own_address}>"
    result = []

    def when():
        return now - datetime.timedelta(days=rng.randint(0, 27), hours=rng.randint(0, 23),
                                        minutes=rng.randint(0, 59))

    def flags(answered=False):
        chosen = []
        if rng.random() < 0.65:
            chosen.append("\\Seen")
        if rng.random() < 0.15:
            chosen.append("\\Flagged")
        if answered:
            chosen.append("\\Answered")
        return tuple(chosen)

    for index, (subject, body) in enumerate(_DEMO_NOTES):
        name, address = rng.choice(PEOPLE)
        message = _message(subject=subject, sender=f"{name} <{address}>", to=me, date=when(),
                           message_id=f"<demo-note-{index}@example.com>")
        message.set_content(f"Hello,\n\n{body}\n\n{name.split()[0]}\n")
        result.append(("INBOX", _finish(message, f"note-{index}"), flags()))
    for index in range(3):
        result.append(("INBOX", html_with_inline_image(
            date=when(), message_id=f"<demo-news-{index}@example.org>", to=me,
            subject=f"Our newsletter #{index + 1}"), flags()))
    for index in range(3):
        result.append(("INBOX", with_attachments(
            date=when(), message_id=f"<demo-files-{index}@example.com>", to=me,
            subject=f"Figures, part {index + 1}"), flags()))
    for index in range(2):
        result.append(("INBOX", non_utf8(
            date=when(), message_id=f"<demo-cp1252-{index}@example.org>", to=me), flags()))
    result.append(("INBOX", remote_images(date=when(), message_id="<demo-remote@example.net>",
                                          to=me), flags()))
    result.append(("INBOX", forwarded_as_attachment(date=when(),
                                                    message_id="<demo-forward@example.org>"),
                   flags()))
    result.append(("INBOX", real_world_malformed(), ("\\Seen",)))

    start = now - datetime.timedelta(days=6, hours=3)
    for index, raw in enumerate(thread(8, key="demo-thread", subject="Launch checklist",
                                       start=start, participants=(ALICE, me, BOB, me))):
        mine = index % 2 == 1
        if mine:
            result.append(("Sent", raw, ("\\Seen",)))
        else:
            result.append(("INBOX", raw, ("\\Seen", "\\Answered") if index < 7 else ()))
    for index, (name, address) in enumerate(PEOPLE[:3]):
        raw = plain_text(date=when(), message_id=f"<demo-sent-{index}@example.com>",
                         to=f"{name} <{address}>", sender=me,
                         subject=("Agenda for next week", "Thanks!", "Slides attached?")[index])
        result.append(("Sent", raw, ("\\Seen",)))
    return result


#: the team mailbox's mail: (subject, body)
_TEAM_NOTES = (
    ("New support request: login page", "A customer cannot log in since this morning."),
    ("Team lunch on Friday", "Who is in? Same place as last time."),
    ("Invoice 2026-118 paid", "The payment came in today, thanks for the follow-up."),
    ("Trade fair booth", "The booth is confirmed: hall 3, stand 12."),
    ("Holiday schedule", "Please add your days off to the shared calendar."),
)


def team_messages(now=None, *, seed=20250305, own_address=TEAM_ADDRESS):
    """The demo's second mailbox (a team address): a few mails in its ``INBOX``, some unread
    or flagged, dated over the two weeks before ``now``.

    :returns: list of ``(folder, bytes, flags)`` as :func:`demo_messages`
    """
    now = (now or datetime.datetime.now(datetime.timezone.utc)).replace(microsecond=0)
    rng = random.Random(seed)
    result = []
    for index, (subject, body) in enumerate(_TEAM_NOTES):
        name, address = rng.choice(PEOPLE)
        date = now - datetime.timedelta(days=rng.randint(0, 13), hours=rng.randint(0, 23))
        message = _message(subject=subject, sender=f"{name} <{address}>",
                           to=f"Team <{own_address}>", date=date,
                           message_id=f"<team-note-{index}@example.com>")
        message.set_content(f"Hello team,\n\n{body}\n\n{name.split()[0]}\n")
        flags = ("\\Seen",) if index % 2 else ()
        if index == 0:
            flags += ("\\Flagged",)
        result.append(("INBOX", _finish(message, f"team-{index}"), flags))
    return result


# -- .eml fixtures ------------------------------------------------------------------------------

#: The samples kept as files in ``vt_webmail/tests/samples``: file name -> function.
EML_FILES = {
    "plain_text.eml": plain_text,
    "html_with_inline_image.eml": html_with_inline_image,
    "with_attachments.eml": with_attachments,
    "non_utf8.eml": non_utf8,
    "hostile_html.eml": hostile_html,
    "broken_mime.eml": broken_mime,
    "forwarded_as_attachment.eml": forwarded_as_attachment,
    "real_world_malformed.eml": real_world_malformed,
}


def write_eml_files(directory):
    """(Re)write the :data:`EML_FILES` in ``directory``, bytes exactly as made (CRLF)."""
    directory = Path(directory)
    paths = []
    for name, function in EML_FILES.items():
        path = directory / name
        path.write_bytes(function())
        paths.append(path)
    return paths
