"""html: hostile mail made harmless, remote content blocked, cid images served, text <-> HTML."""

import random
import re

import lxml.html
import pytest

from vt_webmail.core.html import PreparedBody, html_to_text, prepare_body, text_to_html
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


@pytest.mark.parametrize("payload", [
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
])
def test_classic_xss_payloads_are_neutralised(payload):
    result = prepare_body(payload, {}, True)  # even with remote content allowed
    lowered = result.html.lower()
    assert "<script" not in lowered
    assert "javascript" not in lowered and "vbscript" not in lowered
    assert "alert(1)" not in lowered or "onerror" not in lowered
    for element in _tree(result.html).iter():
        assert not any(name.lower().startswith("on") for name in element.attrib)
        assert element.tag not in ("iframe", "object", "embed", "svg", "math", "form", "style")


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
    html = ("<html><head><style>p { color: red; background: url(https://t.example.net/a.png) }"
            "@import url(https://t.example.net/b.css); p:after { content: '\\3c/style\\3e' }"
            "</style></head><body><p class=\"intro\">x</p></body></html>")
    result = prepare_body(html, {}, False, keep_style=keep_style)
    assert "t.example.net/b.css" not in result.html
    assert "</style><" not in result.html.replace("</style><p", "")
    if keep_style:
        tree = _tree(result.html)
        [style] = tree.iter("style")
        assert "color: red" in style.text and "url(" not in style.text
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
                          '<td background="cid:a@x" style="background:url(cid:a@x)">'
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
