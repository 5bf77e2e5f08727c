"""html: hostile mail made harmless, remote content blocked, cid images served, text <-> HTML."""

import random
import re
from pathlib import Path

import lxml.html
import pytest

from vt_webmail.core import html as html_module
from vt_webmail.core import html_tree
from vt_webmail.core.html import (
    BODY_MARKER,
    CONTROL_MARKER,
    FORM_MARKER,
    FRAME_SANDBOX,
    MISSING_IMAGE,
    PreparedBody,
    frame_document,
    frame_headers,
    frame_inline_document,
    frame_meta_policy,
    frame_policy,
    html_to_text,
    page_body,
    prepare_body,
    text_to_html,
)
from vt_webmail.core.mime import parse_message
from vt_webmail.testing import samples

URL_ATTRIBUTES = ("src", "href", "srcset", "background", "poster", "action", "formaction",
                  "data", "lowsrc", "dynsrc")


def _tree(html):
    return lxml.html.fragment_fromstring(html, create_parent="div")


def _loaded_urls(html):
    """Every URL the browser would fetch by itself from ``html``."""
    tree = _tree(html)
    urls = []
    for element in tree.iter():
        if not isinstance(element.tag, str):
            continue
        for name in ("src", "background", "poster", "lowsrc", "dynsrc"):
            if element.get(name):
                urls.append(element.get(name))
        if element.get("srcset"):
            urls += [part.split()[0] for part in element.get("srcset").split(",")]
        for match in re.finditer(r"url\(\s*['\"]?([^'\")]*)", element.get("style") or ""):
            urls.append(match.group(1))
        if element.tag == "style":
            urls += re.findall(r"url\(\s*['\"]?([^'\")]*)", element.text or "")
    return urls


# -- hostile mail --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def hostile():
    return prepare_body(parse_message(samples.hostile_html()).html, {}, False)


def test_hostile_visible_content_survives(hostile):
    tree = _tree(hostile.html)
    assert "Hello, this is the visible text." in tree.text_content()
    [safe] = [a for a in tree.iter("a") if a.get("href")]
    assert (safe.get("href"), safe.get("target"), safe.get("rel")) == (
        "https://example.org/safe", "_blank", "noopener noreferrer")
    assert safe.text == "safe link"


@pytest.mark.parametrize("vector", [
    "<script", "alert", "onerror", "onload", "<iframe", "<form", "<input", "<button", "password",
    "javascript", "<meta", "refresh", "<base", "<link", "<object", "<embed", "<svg", "<xmp",
    "expression", "evil.example.net", "@import", "data:text/html", "position",
])
def test_hostile_vector_is_gone(hostile, vector):
    assert vector not in hostile.html.lower()


def test_hostile_leaves_no_handler_or_script_url(hostile):
    for element in _tree(hostile.html).iter():
        for name, value in element.attrib.items():
            assert not name.lower().startswith("on")
            if name in URL_ATTRIBUTES:
                assert value.startswith(("https://", "http://", "mailto:", "tel:", "/")), value


def test_hostile_tracking_is_blocked_and_reported(hostile):
    assert hostile.has_remote_images
    assert _loaded_urls(hostile.html) == []
    tree = _tree(hostile.html)
    assert [img.get("data-vt-remote-src") for img in tree.iter("img")
            if img.get("data-vt-remote-src")] == ["https://tracker.example.net/pixel.gif?u=42"]
    [styled] = [div for div in tree.iter("div") if div.text == "styled"]
    assert styled.get("style") == "background-image: none"
    assert styled.get("data-vt-remote-style") == (
        'background-image: url("https://tracker.example.net/bg.png")')


@pytest.mark.parametrize("payload", samples.XSS_PAYLOADS)
@pytest.mark.parametrize("keep_style", [False, True], ids=["page", "frame"])
def test_classic_xss_payloads_are_neutralised(payload, keep_style):
    # even with remote content allowed
    result = prepare_body(payload, {}, True, keep_style=keep_style)
    lowered = result.html.lower()
    assert "<script" not in lowered
    assert "javascript" not in lowered and "vbscript" not in lowered
    assert "alert(1)" not in lowered or "onerror" not in lowered
    for element in _tree(result.html).iter():
        assert not any(name.lower().startswith("on") for name in element.attrib)
        assert element.tag not in ("iframe", "object", "embed", "svg", "math", "form")
        if element.tag == "style":
            assert keep_style and "<" not in element.text


def test_dom_clobbering_and_widget_attributes_are_dropped():
    result = prepare_body('<img name="cookie" id="body" data-oe-model="res.users" '
                          'data-vt-remote-src="https://x.example.net/" class="o_hidden" '
                          'alt="kept">', {}, False)
    assert result.html == '<div><img alt="kept"></div>'


# -- remote content ------------------------------------------------------------------------------

REMOTE_URLS = [
    "https://images.example.net/banner.jpg",
    "http://images.example.net/plain-http.png",
    "//images.example.net/protocol-relative.png",
    "https://images.example.net/small.png",
]


def test_remote_images_blocked():
    result = prepare_body(samples.REMOTE_BODY, {}, allow_remote_images=False)
    assert result.has_remote_images
    assert _loaded_urls(result.html) == []
    tree = _tree(result.html)
    assert [img.get("data-vt-remote-src") for img in tree.iter("img")] == REMOTE_URLS
    assert all(img.get("src") is None for img in tree.iter("img"))
    [responsive] = [img for img in tree.iter("img") if img.get("data-vt-remote-srcset")]
    assert responsive.get("data-vt-remote-srcset") == (
        "https://images.example.net/small.png 1x, https://images.example.net/big.png 2x")
    [table] = tree.iter("table")
    assert table.get("data-vt-remote-background") == "https://images.example.net/table-bg.png"
    [cell] = tree.iter("td")
    assert cell.get("style") == "background-image:none"
    # the link stays: clicking is the user's choice
    [link] = tree.iter("a")
    assert link.get("href") == "https://shop.example.net/spring"


def test_remote_images_allowed():
    result = prepare_body(samples.REMOTE_BODY, {}, allow_remote_images=True)
    assert result.has_remote_images
    assert _loaded_urls(result.html) == [
        *REMOTE_URLS, "https://images.example.net/small.png",
        "https://images.example.net/big.png", "https://images.example.net/table-bg.png",
        "https://images.example.net/cell.png"]
    assert "data-vt-remote" not in result.html


def test_no_remote_content():
    result = prepare_body('<p style="color: red">Hi <img src="data:image/png;base64,iVBORw0K">'
                          "</p>", {}, False)
    assert result == PreparedBody('<div><p style="color: red">Hi <img '
                                  'src="data:image/png;base64,iVBORw0K"></p></div>', False)


def test_relative_urls_never_reach_the_odoo_server():
    result = prepare_body('<img src="/web/session/logout"><a href="/odoo/action-1">x</a>'
                          '<div style="background: url(/web/image/1)">y</div>', {}, True)
    assert "/web/" not in result.html and "/odoo/" not in result.html
    assert not result.has_remote_images


@pytest.mark.parametrize("keep_style", [False, True])
def test_style_blocks(keep_style):
    html = ("<html><head><style><!-- p { color: red; background: url(https://t.example.net/a.png) }"
            "@import url(https://t.example.net/b.css); --></style>"
            "<style>p:after { content: '\\3c/style\\3e' }</style>"
            "</head><body><p class=\"intro\">x</p></body></html>")
    result = prepare_body(html, {}, False, keep_style=keep_style)
    assert "t.example.net/b.css" not in result.html
    assert "</style><" not in result.html.replace("</style><p", "")
    if keep_style:
        tree = _tree(result.html)
        [style] = tree.iter("style")
        assert style.text.startswith("p { color: red;") and "url(" not in style.text
        assert "<" not in style.text
        assert tree.find(".//p").get("class") == "intro"
        assert result.has_remote_images
    else:
        assert result.html == "<div><p>x</p></div>"
        assert not result.has_remote_images


# -- cid images ----------------------------------------------------------------------------------

@pytest.mark.parametrize("reference", [
    "cid:logo@example.org", "CID:logo@example.org", "cid:<logo@example.org>",
    "cid:logo%40example.org", " cid:LOGO@Example.org ",
])
def test_cid_references_are_rewritten(reference):
    result = prepare_body(f'<img src="{reference}" alt="logo">',
                          {"logo@example.org": "/vt_webmail/part/7/3"}, False)
    assert result.html == '<div><img src="/vt_webmail/part/7/3" alt="logo"></div>'
    assert not result.has_remote_images


def test_cid_keys_with_brackets_and_unknown_cids():
    result = prepare_body('<img src="cid:a@x"><img src="cid:unknown@x">'
                          '<table><tr><td background="cid:a@x" style="background:url(cid:a@x)">'
                          '<p style="background:url(cid:unknown@x)">t</p>',
                          {"<a@x>": "/part/a"}, False)
    tree = _tree(result.html)
    images = list(tree.iter("img"))
    assert images[0].get("src") == "/part/a"
    assert images[1].get("src") is None
    [cell] = tree.iter("td")
    assert cell.get("background") == "/part/a"
    assert cell.get("style") == 'background:url("/part/a")'
    assert tree.find(".//p").get("style") == "background:none"


def test_inline_image_sample_end_to_end():
    parsed = parse_message(samples.html_with_inline_image())
    urls = {part.content_id: f"/part/{index}" for index, part in enumerate(parsed.attachments)}
    result = prepare_body(parsed.html, urls, False)
    assert _loaded_urls(result.html) == ["/part/0"]
    assert "<h1>March newsletter</h1>" in result.html
    assert not result.has_remote_images


# -- shapes of input -----------------------------------------------------------------------------

def test_fragment_and_document():
    assert prepare_body("Hello <b>you", {}, False).html == "<div>Hello <b>you</b></div>"
    document = prepare_body('<!DOCTYPE html><html><head><title>T</title></head>'
                            '<body bgcolor="#eee" style="margin:0"><p>x</p></body></html>',
                            {}, False)
    assert document.html == '<div bgcolor="#eee" style="margin:0"><p>x</p></div>'


@pytest.mark.parametrize("value", [None, "", "   ", "<!-- only a comment -->", b"",
                                   "<html><head><title>no body</title></head></html>"])
def test_empty_bodies(value):
    assert prepare_body(value, None, False) == PreparedBody("", False)


def test_bytes_xml_declaration_and_control_characters():
    assert prepare_body('<?xml version="1.0" encoding="utf-8"?><p>a\x00b\x0bc</p>',
                        {}, False).html == "<div><p>abc</p></div>"
    assert prepare_body("<p>caf\u00e9</p>".encode(), {}, False).html == "<div><p>café</p></div>"


def test_random_garbage_never_raises():
    rng = random.Random(7)
    alphabet = "<>/=\"' abcdefghijklmnopqrstuvwxyz:;()&#\\\x00\n\ud800\uffff\u00e9-!?[]{}*"
    tokens = ["<script>", "<style>", "<img src=", "url(", "cid:", "javascript:", "<svg>",
              "</", "<!--", "-->", "<![CDATA[", "]]>", "<?xml", "&#x", "<table>", "<a href="]
    for _ in range(300):
        text = "".join(rng.choice(tokens) if rng.random() < 0.2 else rng.choice(alphabet)
                       for _ in range(rng.randint(0, 400)))
        result = prepare_body(text, {"x": "/p/x"}, rng.random() < 0.5)
        assert isinstance(result.html, str)
        assert "<script" not in result.html.lower()
        assert isinstance(html_to_text(text), str)


def test_deep_and_large_documents():
    deep = prepare_body("<div>" * 3000 + "deep" + "</div>" * 3000, {}, False)
    assert isinstance(deep.html, str)
    large = "<p>" + "word " * 400_000 + "</p>"
    assert len(prepare_body(large, {}, False).html) > 2_000_000


# -- text_to_html --------------------------------------------------------------------------------

def test_text_to_html_escapes_and_links():
    html = text_to_html('Menu: https://example.org/a?b=1&c=2. Or (see https://example.org/x_(y)).'
                        ' <b>not bold</b> "quoted" mailto:me@example.com, ftp://no.example.org')
    assert html == (
        '<div>Menu: <a href="https://example.org/a?b=1&amp;c=2">https://example.org/a?b=1&amp;c=2'
        '</a>. Or (see <a href="https://example.org/x_(y)">https://example.org/x_(y)</a>). '
        '&lt;b&gt;not bold&lt;/b&gt; "quoted" <a href="mailto:me@example.com">'
        "mailto:me@example.com</a>, ftp://no.example.org</div>")


def test_text_to_html_keeps_lines_spaces_and_quotes():
    html = text_to_html("Hi,\n\n  two  spaces\n> quoted\n>> deeper\n> back\nend")
    quote = '<blockquote style="margin:0 0 0 0.8ex;border-left:2px solid #ccc;padding-left:1ex">'
    assert html == (
        f"<div>Hi,<br>\n<br>\n&nbsp;&nbsp;two &nbsp;spaces{quote}quoted{quote}deeper</blockquote>"
        "back</blockquote>end</div>")
    assert text_to_html("") == "" and text_to_html(None) == ""


def test_text_to_html_output_survives_prepare_body():
    html = text_to_html("See https://example.org/x\n> quoted")
    prepared = prepare_body(html, {}, False).html
    assert 'href="https://example.org/x"' in prepared and "<blockquote" in prepared


# -- html_to_text --------------------------------------------------------------------------------

def test_html_to_text_structure():
    html = ("<html><head><style>p{color:red}</style><title>T</title></head><body>"
            "<h1>Title</h1><p>Hello,<br>world &amp; all.</p>"
            '<p>See <a href="https://example.org/">https://example.org</a> and '
            '<a href="https://example.org/p">this page</a> or '
            '<a href="mailto:a@example.com">a@example.com</a>.</p>'
            "<ul><li>one</li><li>two</li></ul>"
            "<blockquote><p>On Monday, Bob wrote:</p><blockquote>inner<br>line</blockquote>"
            "</blockquote>"
            "<table><tr><td>a</td><td>b</td></tr><tr><td>c</td><td>d</td></tr></table>"
            "<pre>  code\n    indented</pre><script>alert(1)</script>"
            '<p><img src="x.png" alt="logo">   spaced    out   </p></body></html>')
    assert html_to_text(html) == (
        "Title\n\n"
        "Hello,\nworld & all.\n\n"
        "See https://example.org and this page <https://example.org/p> or a@example.com.\n\n"
        "- one\n- two\n\n"
        "> On Monday, Bob wrote:\n>\n> > inner\n> > line\n\n"
        "a  b\nc  d\n\n"
        "  code\n    indented\n\n"
        "[logo] spaced out")


@pytest.mark.parametrize("value", [None, "", "   ", "<!-- x -->", b"<p>bytes</p>"])
def test_html_to_text_of_odd_input(value):
    assert html_to_text(value) == ("bytes" if value == b"<p>bytes</p>" else "")


# -- the sandboxed frame: style sheets, classes and ids kept -------------------------------------

def _frame(html, allow_remote=False, cid_urls=None):
    return prepare_body(html, cid_urls or {}, allow_remote, keep_style=True)


def _sheets(html):
    return [style.text for style in _tree(html).iter("style")]


def test_frame_keeps_classes_ids_and_positions_drops_names():
    result = _frame('<p class="intro big" id="top" name="cookie" data-oe-model="res.users" '
                    'style="position: absolute; top: 0; color: red">x</p>')
    [paragraph] = _tree(result.html).iter("p")
    assert paragraph.attrib == {"class": "intro big", "id": "top",
                                "style": "position: absolute; top: 0; color: red"}


def test_frame_style_sheet_cleaned():
    css = ("<!-- @import url(https://t.example.net/a.css); @import 'b.css';"
           " .a { color: red } .b { background: url(https://t.example.net/b.png) }"
           " .c { background: url('cid:logo@x') } .d { background: url(data:image/png;base64,AA) }"
           " .e { background: url(/web/image/1) } .f { background: url(file:///etc/passwd) }"
           " @font-face { src: url(https://f.example/x) } -->")
    html = (f"<html><head><style>{css}</style><style>.g {{ content: '\\3c/style\\3e' }}</style>"
            "</head><body><p class=a>x</p></body></html>")
    parts = {"logo@x": "/part/1"}
    blocked, allowed = _frame(html, False, parts), _frame(html, True, parts)
    assert blocked.has_remote_images and allowed.has_remote_images
    for result, remote in ((blocked, False), (allowed, True)):
        [sheet] = _sheets(result.html)  # the second one reads like markup: dropped
        assert sheet.startswith(".a { color: red }")
        assert "@import" not in sheet and "a.css" not in sheet and "b.css" not in sheet
        assert '.c { background: url("/part/1") }' in sheet
        assert '.d { background: url("data:image/png;base64,AA") }' in sheet
        assert ".e { background: none }" in sheet and ".f { background: none }" in sheet
        assert "<" not in sheet and ">" not in sheet
        assert ('url("https://t.example.net/b.png")' in sheet) is remote
        assert ("https://f.example/x" in sheet) is remote
    assert _loaded_urls(blocked.html) == ["/part/1", "data:image/png;base64,AA"]


@pytest.mark.parametrize("css", [
    "p { width: expression(alert(1)) }",
    "p { -moz-binding: url(x.xml#xss) }",
    "p { behavior: url(x.htc) }",
    "@namespace x url(http://x); p { color: red }",
    "p { background: u\\72l(javascript:alert(1)) }",
    "p { background: url(javascript:alert(1)) }",
    "p:after { content: '\\3c/style\\3e' }",
    "img src=x onerror=alert(1)>",
])
def test_frame_style_sheet_with_script_like_content_is_dropped(css):
    result = _frame(f"<style>{css}</style><p>x</p>")
    assert _sheets(result.html) == []
    assert "<p>x</p>" in result.html


def test_frame_style_sheet_hidden_in_a_comment_is_kept():
    # "<!-- ... //-->": the "//" is a script comment's, which CSS reads as a broken rule
    html = "<style>\n<!--\ntd { font-size: 12px }\na { color: white }\n//-->\n</style><p>x</p>"
    assert _sheets(_frame(html).html) == ["td { font-size: 12px }\na { color: white }"]


def test_frame_style_media_and_type():
    result = _frame('<style media="print">.a{color:red}</style>'
                    '<style media="all">.b{color:blue}</style>'
                    '<style media="screen{}">.c{color:red}</style>'
                    '<style type="text/x-template">.d{color:red}</style>'
                    '<style type="TEXT/CSS">.e{color:red}</style><p>x</p>')
    assert _sheets(result.html) == ["@media print {\n.a{color:red}\n}", ".b{color:blue}",
                                    ".e{color:red}"]


def test_frame_hostile_sample():
    result = _frame(parse_message(samples.hostile_html()).html, True)
    lowered = result.html.lower()
    for vector in ("<script", "alert", "onerror", "onload", "<iframe", "<form", "<input",
                   "javascript", "<meta", "<base", "<link", "<object", "<embed", "<svg",
                   "expression", "evil.example.net", "@import", "data:text/html"):
        assert vector not in lowered, vector
    [sheet] = _sheets(result.html)
    assert sheet == 'body { background: url("https://tracker.example.net/style.png") }'


@pytest.mark.parametrize(("doctype", "mode"), [
    ("", "quirks"),
    ("<!DOCTYPE html>", "no-quirks"),
    ("<!doctype HTML>", "no-quirks"),
    ('<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01//EN" '
     '"http://www.w3.org/TR/html4/strict.dtd">', "no-quirks"),
    ('<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN">', "quirks"),
    ('<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN" '
     '"http://www.w3.org/TR/html4/loose.dtd">', "limited-quirks"),
    ('<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" '
     '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">', "limited-quirks"),
    ('<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" '
     '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">', "no-quirks"),
    ('<!doctype html public "-//w3c//dtd html 4.0 transitional//en">', "quirks"),
    ('<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">', "quirks"),
])
def test_frame_body_marker_holds_the_rendering_mode(doctype, mode):
    result = _frame(f'{doctype}<html dir="rtl" lang="he"><body bgcolor="#eee" onload="x()" '
                    f'data-vt-body="no-quirks"><p>x</p></body></html>')
    [body] = _tree(result.html)
    assert body.attrib == {"bgcolor": "#eee", "dir": "rtl", "lang": "he", BODY_MARKER: mode}


def test_a_mail_cannot_forge_the_body_marker():
    result = _frame('<div data-vt-body="no-quirks" bgcolor="red">x</div>')
    assert result.html == f'<div {BODY_MARKER}="quirks"><div bgcolor="red">x</div></div>'
    assert "<body>" in frame_document(result.html)


def test_frame_images_not_loaded_show_as_broken_images():
    html = ('<img src="https://t.example.net/a.png" alt="a"><img src="cid:unknown@x" alt="b">'
            '<img src="cid:known@x"><div style="background: url(https://t.example.net/b.png)">')
    blocked = _frame(html, False, {"known@x": "/part/1"})
    assert [(img.get("src"), img.get("alt")) for img in _tree(blocked.html).iter("img")] == [
        (MISSING_IMAGE, "a"), (MISSING_IMAGE, "b"), ("/part/1", None)]
    assert _loaded_urls(blocked.html) == [MISSING_IMAGE, MISSING_IMAGE, "/part/1"]
    allowed = _frame(html, True, {"known@x": "/part/1"})
    assert [img.get("src") for img in _tree(allowed.html).iter("img")] == [
        "https://t.example.net/a.png", MISSING_IMAGE, "/part/1"]
    # in a page, the web client marks them itself
    assert MISSING_IMAGE not in prepare_body(html, {}, False).html
    assert MISSING_IMAGE not in page_body(blocked.html)


def test_frame_links_and_images_that_go_nowhere_keep_their_look():
    # relative URLs would reach the Odoo server: they go, but a mail on its own shows a link
    # and a broken image there, so the frame does too (a link to a fragment, an empty image)
    html = ('<a href="page.html">a</a> <a href="#top">b</a> <a href="//e.example/x">c</a> '
            '<a href="javascript:alert(1)">d</a> <img src="logo.gif" alt="e">')
    frame = _tree(_frame(html).html)
    assert [(a.get("href"), a.get("target")) for a in frame.iter("a")] == [
        ("#", None), ("#top", None), ("#", None), (None, None)]
    assert [img.get("src") for img in frame.iter("img")] == [MISSING_IMAGE]
    page = prepare_body(html, {}, False).html
    assert "href" not in page and "src" not in page
    assert page_body(_frame(html).html) == page


FORM = ('<form action="https://evil.example.net/collect" method="post" onsubmit="x()">'
        '<input type="hidden" name="id" value="42">'
        'Name <input name="n" size="12" value="<b>Ann</b>" class="field" onfocus="x()"> '
        '<input type="password" value="secret"> <input placeholder="Your email"> '
        '<input type="checkbox" checked> <input type="radio"> '
        '<select name="s"><option>a<option selected label="Longer option">b</select> '
        '<select multiple><option>x<option>y</select> '
        '<textarea cols="30" rows="4"><img src=x onerror=alert(1)></textarea> '
        '<button type="submit" onclick="x()"><b>Go</b><script>alert(1)</script></button> '
        '<input type="submit"> <input type="reset" value="Clear"> '
        '<input type="image" src="https://img.example.net/go.gif"></form>after')


def test_frame_form_controls_become_inert_look_alikes():
    # a form is part of a mail's layout: in the frame each control is a <span> that looks
    # like it; nothing can be typed, chosen, sent, and no name, value or action is left
    frame = _frame(FORM)
    tree = _tree(frame.html)
    for tag in ("form", "input", "select", "option", "textarea", "button", "script"):
        assert tree.find(f".//{tag}") is None, tag
    for element in tree.iter():
        assert not {"name", "value", "action", "method", "type", "onsubmit", "onfocus",
                    "onclick", "onerror"} & set(element.attrib), element.attrib
    [form] = tree.findall(f".//*[@{FORM_MARKER}]")
    assert form.tag == "div" and form.tail == "after"
    looks = [(element.tag, element.get(CONTROL_MARKER), element.text_content())
             for element in form.findall(f".//*[@{CONTROL_MARKER}]")]
    assert looks == [
        ("span", "text", "<b>Ann</b>"), ("span", "text", "\u2022" * 6),
        ("span", "text", "Your email"), ("span", "checkbox", ""), ("span", "radio", ""),
        ("span", "select", "aLonger optionLonger option"), ("span", "listbox", "xy"),
        ("span", "textarea", "<img src=x onerror=alert(1)>"), ("span", "button", "Go"),
        ("span", "button", "Submit"), ("span", "button", "Clear"), ("img", "image", "")]
    first = form.find(f".//*[@{CONTROL_MARKER}]")
    assert (first.get("class"), first.get("style")) == ("field", "--vt-size:12;")
    checkbox = form.findall(f".//*[@{CONTROL_MARKER}='checkbox']")[0]
    assert checkbox.get("data-vt-checked") == ""
    textarea = form.find(f".//*[@{CONTROL_MARKER}='textarea']")
    assert textarea.get("style") == "--vt-cols:30;--vt-rows:4;"
    image = form.find(f".//img[@{CONTROL_MARKER}]")
    assert (image.get("src"), image.get("alt"), image.get("data-vt-remote-src")) == (
        MISSING_IMAGE, "Submit", "https://img.example.net/go.gif")
    assert "<img src=x" not in frame.html and "&lt;img src=x" in frame.html
    # in a page a form shows nothing, as before; the frame's document draws the look-alikes
    assert page_body(frame.html) == prepare_body(FORM, {}, False).html
    document = frame_document(frame.html)
    assert f"<style>[{CONTROL_MARKER}]{{" in document
    assert "<style>" not in frame_document(_frame("<p>no form</p>").html)


@pytest.mark.parametrize(("html", "margins"), [
    # Chromium's quirky form margin: none for an empty form meeting the top of the body or
    # the top or bottom of a table cell; a form among a table's rows is no element at all
    ("<form></form><p>a</p><form></form><p>b</p><form>c</form>", ["", "quirk", "quirk"]),
    ("<table><tr><td><form></form>a<form>b</form><form></form></td></tr></table>",
     ["", "quirk", ""]),
    ("<table><tr><td><div><form></form>a</div></td></tr></table>", [""]),
    ("<table><tr><form><td>a</td></form></tr></table>", []),
    ("<!DOCTYPE html><form>a</form><form></form>", ["", ""]),
])
def test_frame_forms_keep_the_bottom_margin_of_quirks_mode(html, margins):
    tree = _tree(_frame(html).html)
    assert [form.get(FORM_MARKER) for form in tree.iter("div")
            if form.get(FORM_MARKER) is not None] == margins


# -- what browsers do and libxml2 does not ------------------------------------------------------

def test_windows_1252_references_read_as_browsers_read_them():
    result = prepare_body("<p>&#149; &#x96; &#0150; &#151 &#128;&#160;&#8226;</p>", {}, False)
    assert result.html == "<div><p>\u2022 \u2013 \u2013 \u2014 \u20ac\xa0\u2022</p></div>"


def test_a_later_body_tag_gives_its_attributes():
    html = ('<table><tr><td><img src="https://t.example.net/pixel.gif"></td></tr></table>'
            '<html><head><title>x</title></head><body bgcolor="#000000" text="white" '
            'onload="alert(1)"><p>Offer</p></body></html>')
    [body] = _tree(_frame(html).html)
    assert (body.get("bgcolor"), body.get("text"), body.get("onload")) == (
        "#000000", "white", None)


def test_text_before_a_late_body_gets_no_paragraph():
    html = "Date: Tuesday<br><!DOCTYPE html><html><body bgcolor=red><p>x</p></body></html>"
    assert prepare_body(html, {}, False).html == (
        '<div bgcolor="red">Date: Tuesday<br><p>x</p></div>')


# -- the tree a browser builds (core/html_tree.py) ----------------------------------------------

#: Markup libxml2 reads differently from browsers, and the tree Chromium 156 builds from it
#: (``document.documentElement.outerHTML``, scripting off as in the frame).
BROWSER_TREES = [
    # a </u> opened outside the heading does not end it (adoption agency)
    ("<u><h1>Below</u> <u>Wholesale</h1></u>after",
     "<u></u><h1><u>Below</u> <u>Wholesale</u></h1>after"),
    # formatting left open at a paragraph's end carries into the next one
    ("<p><font color=red><b>one</p><p>two",
     '<p><font color="red"><b>one</b></font></p><p><font color="red"><b>two</b></font></p>'),
    # a paragraph inside bold stays bold (libxml2 closes the <b>)
    ("<b><p>x</p></b>", "<b><p>x</p></b>"),
    # text inside a table, outside its cells, goes before the table (foster parenting)
    ("<table><tr><td>a</td></tr>junk<tr><td>b</table>",
     "junk<table><tbody><tr><td>a</td></tr><tr><td>b</td></tr></tbody></table>"),
    ("<a href=x>1<div>2</a>3", '<a href="x">1</a><div><a href="x">2</a>3</div>'),
    # a table inside a paragraph: kept there in quirks mode, after it otherwise
    ("<p>a<table><tr><td>x</td></tr></table>b",
     "<p>a<table><tbody><tr><td>x</td></tr></tbody></table>b</p>"),
    ("<!DOCTYPE html><p>a<table><tr><td>x</td></tr></table>b",
     "<p>a</p><table><tbody><tr><td>x</td></tr></tbody></table>b"),
    # white space after </body> goes into the body, without formatting rebuilt for it
    ("<body><p><font>x</p></body>\n\nmore",
     "<p><font>x</font></p>\n\n<font>more</font>"),
    # the line break opening a <pre> is dropped, not one after a comment
    ("<pre><!---->\nx</pre><pre>\ny</pre>", "<pre>\nx</pre><pre>y</pre>"),
    # a named reference without ";" before "=" or a letter stays as written in an attribute
    ('<a href="?a=1&copy=2&amp;b=3&notit;">&copy=2 &notit; &#149;</a>',
     '<a href="?a=1&amp;copy=2&amp;b=3&amp;notit;">\xa9=2 \xacit; \u2022</a>'),
    ("<table><tr><td>a<b>b</td><td>c</b>d</table>",
     "<table><tbody><tr><td>a<b>b</b></td><td>cd</td></tr></tbody></table>"),
    ("<ul><li>a<li>b<div><li>c</div></ul>",
     "<ul><li>a</li><li>b<div></div></li><li>c</li></ul>"),
    ("<h1>a<h2>b</h1>c", "<h1>a</h1><h2>b</h2>c"),
    ("</p>x</br><p>y</p></p>", "x<br><p>y</p><p></p>"),
    ("<table><caption>c<tr><td>x</table>",
     "<table><caption>c</caption><tbody><tr><td>x</td></tr></tbody></table>"),
]


@pytest.mark.parametrize(("html", "body"), BROWSER_TREES)
def test_html_tree_builds_the_browsers_tree(html, body):
    root, _mode = html_tree.parse(html)
    assert lxml.html.tostring(root, encoding="unicode") == (
        f"<html><head></head><body>{body}</body></html>")


@pytest.mark.parametrize(("doctype", "mode"), [
    ("", "quirks"), ("<!DOCTYPE html>", "no-quirks"), ("<!doctype HTML >", "no-quirks"),
    ('<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.0 Transitional//EN">', "quirks"),
    ('<!DOCTYPE html PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN">', "quirks"),
    ('<!DOCTYPE html PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN" '
     '"http://www.w3.org/TR/html4/loose.dtd">', "limited-quirks"),
    ("<!DOCTYPE html SYSTEM>", "quirks"), ('<!DOCTYPE html PUBLIC "unterminated>', "quirks"),
])
def test_html_tree_reads_the_rendering_mode_from_the_doctype(doctype, mode):
    assert html_tree.parse(f"{doctype}<p>x")[1] == mode


def test_html_tree_reads_a_tag_at_once_as_state_by_state(monkeypatch):
    # most tags are read by one pattern; it must never read one otherwise than the
    # tokenizer's states do (an unclosed quote drops the tag; "name =value" is one attribute)
    rng = random.Random(5)
    pieces = ["<a ", "<td ", "<b>", "</b>", "<p>", "<img src=", " href=", "'", '"', "/>", " / ",
              "=", " =", "<table>", "<!--", "-->", "&amp;", "&copy", "x=y", "<br/>", "\t", "\n"]
    documents = ["<td =\"a b\" c>x", "<a b ='c>d", "<a href=x/>y", "<img src=a / >z"] + [
        "".join(rng.choice(pieces) if rng.random() < 0.4 else rng.choice("ab<>/=' ")
                for _ in range(rng.randint(0, 120))) for _ in range(1500)]

    def trees():
        return [lxml.html.tostring(html_tree.parse(document)[0]) for document in documents]

    at_once = trees()
    monkeypatch.setattr(html_tree._Tokenizer, "_tag", html_tree._Tokenizer._tag_slowly)
    assert trees() == at_once


def test_misnested_mail_keeps_its_look():
    # FrontPage mail of 2002: the heading goes on after "</u>", the bold after "</p>"
    html = ('<font color="#0000ff"><h1 align="center">BELOW</font></u><font color="#0000ff">'
            " <u>WHOLESALE</h1></u></font>"
            '<p><font face="Arial"><b>Gain access to</p><p>a vast network</b></font></p>')
    tree = _tree(_frame(html).html)
    [heading] = tree.iter("h1")
    assert heading.text_content() == "BELOW WHOLESALE"
    second = tree.findall(".//p")[1]
    assert [element.tag for element in second.iter()] == ["p", "font", "b"]


@pytest.mark.parametrize(("html", "expected"), [
    ("<b><p>x</p></b>", "<div><b><span><p>x</p></span></b></div>"),
    ('<a href="https://e.example/"><table><tr><td>x</td></tr></table></a>',
     '<div><a href="https://e.example/" target="_blank" rel="noopener noreferrer"><span><table>'
     "<tbody><tr><td>x</td></tr></tbody></table></span></a></div>"),
    ("<h1>x<p>y</p></h1>", "<div><h1>x<span><p>y</p></span></h1></div>"),
    ("<p>a<table><tr><td>x</td></tr></table>b</p>",
     "<div><p>a<span><table><tbody><tr><td>x</td></tr></tbody></table></span>b</p></div>"),
])
def test_what_libxml2_would_close_is_wrapped_so_the_sanitizer_keeps_it(html, expected):
    # Odoo's sanitizer parses the body again with libxml2, which closes <b> at <p>, <a> at
    # <table>, <h1> at <p>, <p> at <table>: a <span> in between keeps the tree as it is
    result = prepare_body(html, {}, False).html
    assert result == expected
    reparsed = lxml.html.fragment_fromstring(result)
    assert lxml.html.tostring(reparsed, encoding="unicode") == expected


def test_libxml2_closes_what_html_tree_says_it_does():
    # read from the installed libxml2: <old><new>x</new></old> leaves <new> outside <old>
    names = sorted({name for pair in html_tree.LIBXML2_CLOSES for name in pair} | {
        "span", "em", "strong", "code", "nobr", "article", "section", "img", "br", "input"})
    void = {"col", "hr", "img", "br", "input"}
    not_containers = void | {"xmp", "title", "frameset"}  # no markup inside them
    parser = lxml.html.HTMLParser(default_doctype=False)
    closes = set()
    for old in sorted(set(names) - not_containers):
        for new in names:
            end = "" if new in void else f"x</{new}>"
            root = lxml.html.document_fromstring(f"<body><div><{old}><{new}>{end}</{old}></div>",
                                                 parser=parser)
            element = root.find(f"body/div/{old}")
            if element is None or element.find(new) is None:
                closes.add((old, new))
    assert closes == {pair for pair in html_tree.LIBXML2_CLOSES if pair[0] not in not_containers}


def test_a_leading_line_break_in_pre_survives_every_parse():
    frame = _frame("<pre>\n\nTwo blank lines? One: the first is the tag's.</pre>")
    assert "<pre>\n\nTwo" in frame.html  # serialised for a browser's parser: doubled
    assert lxml.html.fragment_fromstring(frame.html).find("pre").text.startswith("\n\nTwo")
    document = frame_document(frame.html)
    assert "<pre>\n\nTwo" in document  # the frame's parser drops one, as the browser will


def test_markup_too_deep_or_too_costly_for_the_tree_is_read_by_libxml2():
    deep = prepare_body("<div>" * 600 + "&#149; deep" + "</div>" * 600, {}, False).html
    assert "\u2022 deep" in deep  # libxml2, with its corrections
    # formatting elements rebuilt for every paragraph: the browser's algorithm, made quadratic
    costly = "<p>" + "".join(f"<b id={i}>" for i in range(400)) + "</p>" + "<p>x</p>" * 20000
    with pytest.raises(html_tree.TreeLimitError):
        html_tree.parse(costly)
    assert prepare_body(costly, {}, False).html.count("x") == 20000


# -- page_body: a frame's body fit for a page ----------------------------------------------------

@pytest.mark.parametrize("raw", [samples.hostile_html, samples.remote_images,
                                 samples.html_with_inline_image, samples.styled_newsletter])
@pytest.mark.parametrize("allow_remote", [False, True])
def test_page_body_of_the_frame_version_is_the_page_version(raw, allow_remote):
    html = parse_message(raw()).html
    frame = _frame(html, allow_remote)
    page = prepare_body(html, {}, allow_remote)
    assert page_body(frame.html) == page.html
    assert page_body(page.html) == page.html  # nothing left to remove


def test_page_body_removes_what_only_the_frame_makes_harmless():
    frame = _frame(samples.STYLED_BODY, True)
    assert "<style>" in frame.html and 'class="promo"' in frame.html
    page = page_body(frame.html)
    for marker in ("<style", "class=", "id=", BODY_MARKER, "o_form_view"):
        assert marker not in page
    positioned = '<div style="position: fixed; top: 0" data-vt-remote-style="position:fixed">x'
    assert page_body(positioned) == '<div style="top: 0">x</div>'
    assert page_body("") == "" and page_body(None) == ""


# -- the frame's document and headers -----------------------------------------------------------

def test_frame_document_gives_the_body_back():
    frame = _frame('<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" '
                   '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">'
                   '<html><head><style>.a{color:red}</style></head>'
                   '<body bgcolor="#eeeeee" leftmargin="0"><p class="a">x</p></body></html>')
    document = frame_document(frame.html)
    assert document == (
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" '
        '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n'
        '<html><head><meta charset="utf-8"><meta name="color-scheme" content="light"></head>'
        '<body bgcolor="#eeeeee" leftmargin="0"><style>.a{color:red}</style>'
        '<p class="a">x</p></body></html>')
    assert frame_document(_frame("<p>x</p>").html).startswith("<html><head>")  # quirks


@pytest.mark.parametrize("html", [None, "", "<p><em>A notice</em></p>"])
def test_frame_document_of_anything_else_is_a_standards_page(html):
    document = frame_document(html)
    assert document.startswith("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">")
    assert document.endswith(f"<body>{html or ''}</body></html>")


def test_frame_policy():
    assert frame_policy("https://odoo.example.com/") == (
        "default-src 'none'; style-src 'unsafe-inline'; "
        "img-src https://odoo.example.com/vt_webmail/part/ data:; form-action 'none'; "
        "base-uri 'none'; frame-ancestors 'self'; "
        "sandbox allow-same-origin allow-popups allow-popups-to-escape-sandbox")
    assert "img-src http://[::1]:8069/vt_webmail/part/ data: http: https:;" in frame_policy(
        "http://[::1]:8069/", allow_remote_images=True)
    for odd in ("https://a.example/; script-src *", "javascript:x/", "", None):
        assert "img-src 'self' data:;" in frame_policy(odd)
    headers = dict(frame_headers("http://127.0.0.1:8069/"))
    assert headers == {
        "Content-Type": "text/html; charset=utf-8",
        "Content-Security-Policy": frame_policy("http://127.0.0.1:8069/"),
        "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "SAMEORIGIN", "Cache-Control": "no-store"}


def test_frame_meta_policy_is_the_header_without_what_a_meta_cannot_carry():
    for base, remote in (("https://odoo.example.com/", False), ("http://[::1]:8069/", True),
                         ("javascript:x/", False)):
        meta = frame_meta_policy(base, remote)
        assert frame_policy(base, remote) == (
            f"{meta}; frame-ancestors 'self'; sandbox {FRAME_SANDBOX}")
        assert "frame-ancestors" not in meta and "sandbox" not in meta


def test_frame_document_inline_carries_its_policy_first():
    """The document given to the frame inline (a blob: URL) has no HTTP headers: its policy is
    the first element of its <head>, before anything of the mail (a <meta> CSP applies from
    where it is), with no-referrer; the rest is the document served by the route."""
    policy = frame_meta_policy("http://127.0.0.1:8069/")
    body = _frame('<html><head><style>.a{color:red}</style></head>'
                  '<body bgcolor="#eeeeee"><p class="a">x</p><img src="http://evil.example/x">'
                  '<meta http-equiv="refresh" content="0;url=http://evil.example/">'
                  '</body></html>').html
    served = frame_document(body)
    inline = frame_document(body, policy=policy)
    head = lxml.html.document_fromstring(inline).find("head")
    first, second = list(head)[:2]
    assert (first.tag, first.get("http-equiv"), first.get("content")) == (
        "meta", "Content-Security-Policy", policy)
    assert (second.tag, second.get("name"), second.get("content")) == (
        "meta", "referrer", "no-referrer")
    assert inline.replace(
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
        '<meta name="referrer" content="no-referrer">', "") == served
    # the mail's own <meta> never reaches either
    assert inline.count("<meta") == 4 and "refresh" not in inline
    assert ' src="http://evil.example' not in inline  # kept aside, in data-vt-remote-src


@pytest.mark.parametrize(("html", "doctype"), [
    ("<!DOCTYPE html><html><body><p>x</p></body></html>", "<!DOCTYPE html>\n"),
    ("<p>No doctype: quirks mode</p>", ""),
    ('<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" '
     '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd"><p>limited quirks</p>',
     '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"'),
], ids=["standards", "quirks", "limited-quirks"])
def test_frame_inline_document_keeps_the_mails_mode(html, doctype):
    """The document the form reads is the route's, in every mode (the web client loads it from
    a blob: URL, which keeps the mode its doctype says), with the policy first."""
    body = _frame(html).html
    document = frame_inline_document(body, "http://127.0.0.1:8069/")
    assert document == frame_document(
        body, policy=frame_meta_policy("http://127.0.0.1:8069/"),
        parts_url="http://127.0.0.1:8069/vt_webmail/part/")
    assert document.startswith(doctype)
    assert frame_document(body).startswith(doctype)
    if not doctype:
        assert document.startswith("<html><head><meta http-equiv=\"Content-Security-Policy\"")
    # a notice, or plain text made HTML, is a standards-mode page
    assert frame_inline_document(None, "http://127.0.0.1:8069/").startswith("<!DOCTYPE html>")
    assert frame_inline_document("<p>A notice</p>", "", True).startswith("<!DOCTYPE html>")


def test_frame_inline_document_makes_part_urls_absolute():
    """A blob: document resolves no relative URL: the parts' URLs that prepare_body wrote
    become absolute, in attributes, style attributes and sheets, under the policy's
    img-src; text, other URLs and a document without a usable base are left alone."""
    raw = ('<html><head><style>.h{background:url("cid:bg@x")}</style></head>'
           '<body background="cid:bg@x"><img src="cid:logo@x" srcset="cid:logo@x 1x, '
           'cid:bg@x 2x"><p style="background-image:url(cid:bg@x)">See /vt_webmail/part/7/8 '
           'and <a href="https://example.com/vt_webmail/part/7/8">this</a></p></body></html>')
    body = _frame(raw, cid_urls={"logo@x": "/vt_webmail/part/7/8",
                                 "bg@x": "/vt_webmail/part/7/9"}).html
    assert body.count("/vt_webmail/part/7/") == 6
    base = "https://odoo.example.com/"
    document = frame_inline_document(body, base)
    root = lxml.html.document_fromstring(document)
    assert root.find(".//img").get("src") == f"{base}vt_webmail/part/7/8"
    assert root.find("body").get("background") == f"{base}vt_webmail/part/7/9"
    assert f"url({base}vt_webmail/part/7/9)" in root.find(".//p").get("style").replace(
        '"', "").replace("'", "")
    assert f"{base}vt_webmail/part/7/9" in root.find(".//style").text
    assert "See /vt_webmail/part/7/8 and" in root.find(".//p").text_content()
    assert root.find(".//a").get("href") == "https://example.com/vt_webmail/part/7/8"
    policy = frame_meta_policy(base)
    assert f"img-src {base}vt_webmail/part/ data:" in policy
    # the route's document, and one read without a browser's host, keep them relative
    for relative in (frame_document(body), frame_inline_document(body, "")):
        assert 'src="/vt_webmail/part/7/8"' in relative
        assert "odoo.example.com" not in relative


_TRICKY_BODIES = [
    samples.hostile_html(), samples.styled_newsletter(), samples.remote_images(),
    samples.html_with_inline_image(), samples.real_world_malformed(),
    "<!DOCTYPE html><pre>\nkept line\n</pre><p>a<table><tr><td>cell</td></tr></table></p>",
    "<p>No doctype <b><p>bold</p></b><a href='https://x.example/'><table><tr><td>t",
    '<div title="a > b &lt;div&gt;" style=\'font-family:"x>y"\'><!-- <div> --><p>x</p></div>'
    '<style>/* </div><div> */ .a{color:red}</style><div><div>nested</div></div>',
    '<form><input type="text" value="v"><select><option>o</option></select></form>'
    '<textarea>t</textarea><button>b</button>',
    "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Transitional//EN\" \"http://www.w3.org/"
    "TR/xhtml1/DTD/xhtml1-transitional.dtd\"><body bgcolor='#fff' text=red><p>x &amp; y</p>",
]


@pytest.mark.parametrize("source", _TRICKY_BODIES)
def test_frame_document_without_a_parse_is_the_parses_document(source, monkeypatch):
    """A kept body is made into the frame's document without parsing it again: a browser
    parses that document into the very tree it makes of the parse's (mode included)."""
    if isinstance(source, bytes):
        parsed = parse_message(source)
        source = parsed.html
    body = _frame(source, cid_urls={"logo@example.org": "/vt_webmail/part/3/4"}).html
    base = "https://odoo.example.com/"
    parse = html_module._parse
    with monkeypatch.context() as patched:
        patched.setattr(html_module, "_parse", None)  # would fail if called
        fast = frame_inline_document(body, base), frame_document(body)
    monkeypatch.setattr(html_module, "_marked_body", lambda *args: None)
    slow = frame_inline_document(body, base), frame_document(body)
    for built, parsed in zip(fast, slow, strict=True):
        assert built.split("<html")[0] == parsed.split("<html")[0]  # one mode ...
        assert _browser_tree(built, parse) == _browser_tree(parsed, parse)  # ... one tree
    assert 'src="https://odoo.example.com/vt_webmail/part/3/4"' in fast[0] \
        or "/vt_webmail/part/" not in body


def _browser_tree(document, parse):
    return lxml.html.tostring(parse(document), encoding="unicode")


def test_frame_document_reads_the_marker_attribute_by_attribute():
    """The marker's text inside another attribute's value is neither the mode nor removed."""
    body = ('<div title=\' data-vt-body="quirks"\' data-vt-body="no-quirks" bgcolor="#fff">'
            "<p>x</p></div>")
    mode, attributes, inner, controls = html_module._marked_body(body, None)
    assert (mode, inner, controls) == ("no-quirks", "<p>x</p>", False)
    assert attributes == ' title=\' data-vt-body="quirks"\' bgcolor="#fff"'
    document = frame_document(body)
    assert document.startswith("<!DOCTYPE html>\n")
    assert lxml.html.document_fromstring(document).find("body").get("title") == (
        ' data-vt-body="quirks"')


@pytest.mark.parametrize("body", [
    '<div data-vt-body="no-quirks">a</div><div>b</div>',  # the marked <div> is not all of it
    '<div data-vt-body="no-quirks">a < b</div>',  # a "<" of text: not a serialization
    '<div data-vt-body="quirks"><script>x("</div>")</script></div>',
    '<div data-vt-body="odd">a</div>',
    '<div title=\' data-vt-body="quirks"\'>a</div>',  # in another attribute's value: not it
    '<div>a</div>',
    "<p>A notice</p>",
])
def test_frame_document_parses_what_is_not_a_kept_body(body):
    assert html_module._marked_body(body, None) is None
    assert frame_document(body).startswith(("<!DOCTYPE html>\n", "<html>"))


def test_web_client_frame_has_the_same_sandbox():
    template = Path(__file__).resolve().parents[2] / "static/src/webmail/fields.xml"
    text = template.read_text()
    frames = re.findall(r"<iframe\b[^>]*>", text, re.DOTALL)
    assert len(frames) == 1  # the document read with the form (a blob: URL), or the route
    for frame in frames:
        [flags] = re.findall(r'\ssandbox="([^"]*)"', frame)
        assert flags == FRAME_SANDBOX
        assert "allow-scripts" not in flags and "allow-forms" not in flags
        assert 'referrerpolicy="no-referrer"' in frame
