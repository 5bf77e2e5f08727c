"""Mail HTML made safe to show inside the web client, and plain text <-> HTML.

:func:`prepare_body` is the mail-specific pass over an HTML body, before Odoo's generic
``html_sanitize`` has the last word. It removes what runs code or submits data (scripts, frames,
plugins, forms and their controls, ``on*`` handlers, ``javascript:`` and other non-web URLs,
``<meta>`` refresh, ``<base>``), points ``cid:`` images at the URLs that serve the attached parts,
and, unless remote images are allowed, keeps the browser from loading anything from the network
by itself: no tracking pixel fires and no read receipt is leaked by merely opening a mail.

A body is shown in two places, cleaned for each:

* **In a sandboxed frame** (``keep_style=True``, what the Webmail form shows): the frame is a
  document of its own (:func:`frame_document`), served with :func:`frame_headers`: a
  Content-Security-Policy that allows no script, form, frame, plugin or ``<base>``, and loads
  nothing but the addon's part route, ``data:`` images and, once allowed, remote images; and
  the iframe's ``sandbox`` (:data:`FRAME_SANDBOX`) without ``allow-scripts``. There a mail's
  CSS can only restyle the mail, so its ``<style>`` sheets (cleaned: no ``@import``, no
  ``url()`` loads but parts, ``data:`` images and allowed remote images), ``class`` and ``id``
  attributes and positioned inline styles stay: it looks as its sender meant it to. For the
  same reason what cannot work there keeps its look: a form's controls become inert
  look-alikes (:data:`CONTROL_MARKER`), a link to nowhere (relative, a fragment) a link to a
  fragment of the frame's document, an image that cannot load an empty, broken one.
* **Inside a page** (:func:`page_body`: the ``body_html`` field over XML-RPC, quoted replies,
  the chatter after Qualify): a mail's style sheet would apply to the whole page it is put into
  and could restyle or hide it, so ``<style>`` blocks are dropped, and ``class`` attributes
  with them (they only meant something to those sheets, and would pick up the web client's
  Bootstrap classes); inline ``position: fixed|sticky|absolute`` goes too (a mail must not
  overlay the page). ``keep_style=False`` cleans this way from the start.

Decisions that hold in both, and why:

* Inline ``style`` attributes stay, cleaned of ``url()`` loads (as for the sheets),
  ``expression()`` and bindings.
* ``name`` and ``data-*`` attributes are dropped: names of injected markup can clobber DOM
  names (``document.cookie`` shadowed by ``<img name=cookie>``; in the frame,
  ``document.body`` read by the page that sizes it), and ``data-*`` attributes may mean
  something to the web client's widgets. ``id`` only clobbers the page's own names when the
  mail is injected into it: :func:`page_body` drops it, the frame keeps it (mail style sheets
  select on it: ``#bodyTable``).
* Only ``http``, ``https``, ``mailto`` and ``tel`` links are kept; relative links would point at
  the Odoo server itself. Links open in a new tab without a referrer.
* The HTML is parsed as browsers parse it (:mod:`html_tree`, the HTML Standard's tree
  construction): libxml2's HTML 4 rules read misnested mail markup differently, and the body
  is written back in a form libxml2 (Odoo's sanitizer, after this pass) reads the same.
* Blocked resources are kept in ``data-vt-remote-<attribute>`` (``src``, ``srcset``,
  ``background``, ``poster``, ``style``) so a viewer can load them later on request.
* For the frame, the mail's ``<body>`` becomes a ``<div data-vt-body="MODE">`` that keeps the
  body's attributes (``bgcolor``, ``text``, ``link``, margins...), MODE being the rendering
  mode its doctype asked for (``quirks``, ``limited-quirks``, ``no-quirks``, as HTML defines
  them); :func:`frame_document` gives both back to the frame's own ``<body>`` and doctype, so
  the mail renders as it would on its own.
"""

import html as std_html
import re
import urllib.parse
from dataclasses import dataclass

import lxml.html
from lxml import etree

from . import html_tree

#: Elements removed with everything inside them.
KILL_TAGS = frozenset({
    "script", "noscript", "iframe", "frame", "frameset", "noframes", "object", "embed",
    "applet", "param", "base", "meta", "link", "title", "head", "template", "portal",
    "fencedframe", "svg", "math", "xmp", "plaintext", "noembed", "input", "button", "select",
    "option", "optgroup", "datalist", "textarea", "keygen", "isindex", "style",
})
#: Elements replaced by their content.
UNWRAP_TAGS = frozenset({"form", "fieldset", "legend", "label", "html"})
#: Attributes dropped wherever they appear.
DROP_ATTRIBUTES = frozenset({
    "id", "name", "form", "formaction", "action", "srcdoc", "ping", "http-equiv", "autofocus",
    "autoplay", "contenteditable", "manifest", "integrity", "crossorigin", "nonce", "is",
    "accesskey", "tabindex", "codebase", "classid", "archive", "profile", "data", "target",
    "rel", "download", "usemap", "xmlns", "allow", "sandbox", "popover", "popovertarget",
})
#: Attributes whose value the browser loads by itself.
RESOURCE_ATTRIBUTES = ("src", "background", "poster", "lowsrc", "dynsrc")
LINK_SCHEMES = frozenset({"http", "https", "mailto", "tel"})
REMOTE_ATTRIBUTE = "data-vt-remote-{}"
#: The ``src`` of an image not loaded (remote and blocked, or an unknown ``cid:``) in the frame:
#: an empty GIF that loads nothing and shows as a broken image.
MISSING_IMAGE = "data:image/gif;base64,"
#: The attribute that marks the mail's ``<body>`` (a ``<div>`` in the cleaned HTML) and holds
#: its rendering mode: one of :data:`DOCUMENT_MODES`.
BODY_MARKER = "data-vt-body"
#: In the frame, the ``<span>`` a form control became (see :func:`_control_look_alike`), and
#: what it looks like: ``text``, ``button``, ``checkbox``, ``radio``, ``select``,
#: ``listbox``, ``textarea``, ``image`` (an ``<img>``); ``FORM_MARKER``: the ``<div>`` a
#: ``<form>`` became. A mail cannot set either: its ``data-*`` attributes are dropped.
CONTROL_MARKER = "data-vt-control"
FORM_MARKER = "data-vt-form"
DOCUMENT_MODES = ("quirks", "limited-quirks", "no-quirks")

#: The iframe's ``sandbox`` flags, in the web client and in the frame route's CSP ``sandbox``
#: (which applies when the route is opened on its own). Without ``allow-scripts`` nothing in the
#: frame ever runs, and without ``allow-forms``, ``allow-modals`` or ``allow-top-navigation*``
#: it cannot submit, prompt or navigate the page. ``allow-same-origin`` is needed twice: the
#: page reads the mail's height to size the frame (an opaque-origin frame would have to tell
#: it with a script, which is what the frame must never run), and the inline images come from
#: the owner-only part route, which wants the session cookie and answers same-origin requests
#: only (``Cross-Origin-Resource-Policy``). It gives the frame nothing to use that origin
#: with: no script runs there (``allow-scripts`` together with ``allow-same-origin`` would be
#: the dangerous pair, letting a script lift its own sandbox). ``allow-popups`` and
#: ``allow-popups-to-escape-sandbox``: links open in a new tab, as a normal page.
FRAME_SANDBOX = "allow-same-origin allow-popups allow-popups-to-escape-sandbox"

_IMAGE_DATA = re.compile(r"data:image/(png|gif|jpe?g|webp|bmp|avif|x-icon)[;,]", re.IGNORECASE)
_URL_NOISE = re.compile(r"[\x00-\x20\x7f]+")
_SCHEME = re.compile(r"^([a-z][a-z0-9+.\-]*):", re.IGNORECASE)
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*>", re.IGNORECASE)
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_TAG_NAME = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
_ATTRIBUTE_NAME = re.compile(r"[a-z][a-z0-9_-]*")
_DANGEROUS_VALUE = re.compile(r"^(javascript|vbscript|livescript|data):", re.IGNORECASE)

_CSS_COMMENT = re.compile(r"/\*.*?(\*/|$)", re.DOTALL)
_CSS_ESCAPE = re.compile(r"\\([0-9a-fA-F]{1,6})[ \t\r\n\f]?|\\(.)", re.DOTALL)
_CSS_URL = re.compile(
    r"""url\(\s*(?:"([^"]*)"?|'([^']*)'?|([^)'"\s]*))\s*\)?""", re.IGNORECASE)
_CSS_IMAGE_SET = re.compile(r"(?:-webkit-)?image-set\((?:[^()]|\([^()]*\))*\)?", re.IGNORECASE)
_CSS_STRING = re.compile(r""""([^"]*)"|'([^']*)'""")
_CSS_IMPORT = re.compile(r"@import[^;]*;?", re.IGNORECASE)
_CSS_DANGER = re.compile(
    r"expression\s*\(|javascript:|vbscript:|-moz-binding|behaviou?r\s*:|@import|@namespace",
    re.IGNORECASE)
_CSS_POSITION = re.compile(
    r"position\s*:\s*(?:fixed|sticky|absolute)\s*(?:!\s*important)?\s*;?", re.IGNORECASE)
_CSS_CDO_CDC = re.compile(r"<!--|(?://[ \t]*)?-->")
_CSS_MARKUP = re.compile(r"<|\son[a-z]+\s*=", re.IGNORECASE)
#: Left in a cleaned style only if something escaped the rewriting: then nothing is kept.
_CSS_RESIDUE = re.compile(r"url\(|image-set\(|//|\\", re.IGNORECASE)
_PLACEHOLDER = re.compile("\x00(\\d+)\x00")

#: A stored body as :func:`prepare_body` and a sanitizer after it write it (a serialization):
#: its marked ``<div>``'s start tag; the parts of its markup the frame's document is built of
#: without parsing it again (see :func:`_marked_body`)
_ATTRIBUTES = r"""(?:\s+[^\s"'>/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?)*"""
_MARKED_START = re.compile(rf"<div({_ATTRIBUTES})\s*>")
_ATTRIBUTE = re.compile(r"""\s+([^\s"'>/=]+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s"'=<>`]+))?""")
_MARKUP = re.compile(
    rf"<!--.*?-->|(?P<style><style\b{_ATTRIBUTES}\s*>.*?</style\s*>)"
    rf"|<(?P<end>/?)(?P<tag>[a-zA-Z][^\s/>]*)(?P<attributes>{_ATTRIBUTES})\s*/?>",
    re.DOTALL | re.IGNORECASE)
#: Elements whose content is not markup to a browser, but for <style>: such a body (none that
#: the cleaning writes) takes the parse
_RAW_TEXT = re.compile(r"<(?:script|textarea|title|xmp|plaintext|iframe|noembed|noframes|"
                       r"noscript|template|svg|math)\b", re.IGNORECASE)
#: (in some tag's attributes: inside another attribute's value it only adds the control sheet,
#: which selects on these attributes alone)
_CONTROL_ATTRIBUTE = re.compile(rf"\s(?:{CONTROL_MARKER}|{FORM_MARKER})(?:[\s=]|$)")
#: The URL of one of the mail's parts in the frame's document, where it starts (an attribute's
#: value, a ``url(``, a ``srcset`` candidate): made absolute in the document given inline
_PART_PATH = re.compile(r"(?<![\w/.:%-])/vt_webmail/part/(?=\d+/\d+)")
_BODY_TAG = re.compile(r"<body(?:[\s/][^>]*)?>", re.IGNORECASE)
_HEAD_PART = re.compile(r"\A\s*(?:<!DOCTYPE[^>]*>\s*)?(?:<html(?:\s[^>]*)?>\s*)?"
                        r"(?:<head(?:\s[^>]*)?>.*?</head\s*>\s*)?", re.IGNORECASE | re.DOTALL)
_C1_REFERENCE = re.compile(r"&#(?:[xX]0*([89][0-9a-fA-F])|0*(1[2-5][0-9]));?")
_MEDIA_QUERY = re.compile(r"[a-zA-Z0-9 ,():.\-]+")
_HTML_DIR = frozenset({"ltr", "rtl", "auto"})
_HTML_LANG = re.compile(r"[a-zA-Z0-9\-]{1,35}")
_DOCTYPE_NAME = re.compile(r"<!DOCTYPE\s+([^\s>]+)", re.IGNORECASE)
_SAFE_BASE_URL = re.compile(r"https?://[a-zA-Z0-9.\-\[\]:]+/(?:[a-zA-Z0-9._~\-]+/)*")
#: Elements whose first line break a browser's parser drops (so a serializer doubles it).
_LEADING_NEWLINE_TAGS = ("pre", "textarea", "listing")
#: What the frame's document starts with, to render in each mode.
_DOCTYPES = {
    "quirks": "",
    "limited-quirks": '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" '
                      '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n',
    "no-quirks": "<!DOCTYPE html>\n",
}

#: Attributes a form control's look-alike keeps (the mail's style sheets select on them).
_CONTROL_ATTRIBUTES = frozenset({"class", "id", "style", "title", "dir", "lang"})
_IMAGE_BUTTON_ATTRIBUTES = _CONTROL_ATTRIBUTES | {"src", "alt", "width", "height", "border",
                                                  "align", "hspace", "vspace"}
#: Chromium's labels for buttons without a value (in English, as in the frame's tests).
_BUTTON_LABELS = {"submit": "Submit", "reset": "Reset", "file": "Choose File"}
_CONTROL_LOOK = f"[{CONTROL_MARKER}]"
#: The look-alikes drawn as Chromium draws form controls with its default fonts (13.33px
#: Arial, monospace for a textarea): sizes, borders, colours. Attribute selectors, so that the
#: mail's own rules on a control's class or id still apply after them.
_CONTROL_SHEET = (
    f"{_CONTROL_LOOK}{{display:inline-block;box-sizing:border-box;margin:0;"
    "border:1px solid #767676;border-radius:2px;background:#fff;color:#000;"
    "font:13.3333px Arial,sans-serif;line-height:normal;text-align:start;text-indent:0;"
    "text-transform:none;letter-spacing:normal;word-spacing:normal;text-shadow:none;"
    "white-space:pre;vertical-align:baseline;cursor:default}"
    # 7px a character plus 39px at 13.33px, in em: the width follows a font size set by a class
    f"{_CONTROL_LOOK[:-1]}=text]{{width:calc(var(--vt-size,20)*.525em + 2.925em);"
    "padding:2px 3px;"
    "overflow-wrap:normal}"
    f"{_CONTROL_LOOK[:-1]}=button]{{padding:2px 7px;background:#efefef;text-align:center}}"
    # a check box stands on its border, not on its bottom margin
    f"{_CONTROL_LOOK[:-1]}=checkbox],{_CONTROL_LOOK[:-1]}=radio]{{width:13px;height:13px;"
    "margin:3px 3px 3px 4px;vertical-align:-3px}"
    f"{_CONTROL_LOOK[:-1]}=radio]{{margin:3px 3px 0 5px;border-radius:50%;"
    "vertical-align:baseline}"
    f"{_CONTROL_LOOK}[data-vt-checked]{{background:#0075ff;border-color:#0075ff;"
    "box-shadow:inset 0 0 0 2px #fff}"
    f"{_CONTROL_LOOK[:-1]}=select]{{position:relative;padding:1px 16px 1px 4px}}"
    f"{_CONTROL_LOOK[:-1]}=select]::after{{content:\"\";position:absolute;right:6px;top:4px;"
    "width:5px;height:5px;border:solid #000;border-width:0 1px 1px 0;transform:rotate(45deg)}"
    f"{_CONTROL_LOOK[:-1]}=listbox]{{height:calc(var(--vt-size,4)*17px + 2px);"
    "padding:0 2px;overflow:hidden;vertical-align:text-bottom}"
    f"{_CONTROL_LOOK[:-1]}=listbox] [data-vt-option]{{display:block;height:auto;"
    "visibility:visible}"
    f"{_CONTROL_LOOK[:-1]}=textarea]{{width:calc(var(--vt-cols,20)*1ch + 21px);"
    "height:calc(var(--vt-rows,2)*15px + 6px);padding:2px;font:13.3333px monospace;"
    "white-space:pre-wrap;overflow:hidden}"
    "[data-vt-option]{display:block;height:0;overflow:hidden;visibility:hidden}"
    "[data-vt-placeholder]{color:#757575}"
    f"[{FORM_MARKER}]{{display:block;margin-top:0}}"
    f"[{FORM_MARKER}=quirk]{{margin-bottom:1em}}"
)

_LINK = re.compile(r"""(?:https?://|mailto:)[^\s<>"'\x00-\x1f]+""", re.IGNORECASE)
_TRAILING_PUNCTUATION = ".,;:!?'\"*_]}>"
_QUOTE_PREFIX = re.compile(r"^((?:[ \t]?>)+)[ \t]?")
_BLOCKQUOTE_STYLE = "margin:0 0 0 0.8ex;border-left:2px solid #ccc;padding-left:1ex"

_BLOCK_TAGS = frozenset({
    "address", "article", "aside", "blockquote", "center", "dd", "details", "div", "dl", "dt",
    "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li",
    "main", "nav", "ol", "p", "pre", "section", "summary", "table", "tbody", "tfoot", "thead",
    "tr", "ul", "caption",
})
_PARAGRAPH_TAGS = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol",
                             "blockquote", "pre", "dl", "hr"})
_SKIP_TEXT_TAGS = frozenset({"script", "style", "head", "title", "template", "noscript"})


@dataclass
class PreparedBody:
    """The result of :func:`prepare_body`.

    :attr html: the cleaned HTML, one ``<div>`` (``""`` for an empty body)
    :attr has_remote_images: the body refers to remote resources (images, backgrounds, CSS
        images), whether they were blocked or allowed: a viewer offers "show images" when this
        is True and they were blocked
    """

    html: str
    has_remote_images: bool = False


def prepare_body(html, cid_urls=None, allow_remote_images=False, *, keep_style=False):
    """Clean a mail's HTML body for display in the web client.

    :param html: the HTML as sent: a fragment or a whole document (bytes are read as UTF-8)
    :param cid_urls: ``{content_id: url}`` serving the message's inline parts; a ``cid:``
        reference (any case, with or without ``<>``, URL-encoded or not) is rewritten to its
        URL, and dropped when unknown
    :param allow_remote_images: let the browser load remote images, backgrounds and CSS images;
        when False they are moved to ``data-vt-remote-*`` attributes
    :param keep_style: clean for the sandboxed frame (see the module's docstring): keep
        cleaned ``<style>`` blocks, ``class`` and ``id`` attributes and positioned inline
        styles, and mark the body's ``<div>`` with :data:`BODY_MARKER`. Only for a viewer that
        isolates the body as :func:`frame_document` and :func:`frame_headers` do; anything else
        must pass the result through :func:`page_body` first.
    :returns: :class:`PreparedBody`; never raises (worst case: the text, escaped)
    """
    try:
        return _prepare(html, cid_urls or {}, allow_remote_images, keep_style)
    except Exception:  # hostile HTML must never break the reading of a mail
        try:
            return PreparedBody(text_to_html(html_to_text(html)), False)
        except Exception:  # even the text could not be read: show the markup as text
            return PreparedBody(text_to_html(re.sub(r"<[^>]*>", " ", str(html or ""))), False)


def page_body(html):
    """A body cleaned for the frame, made fit to be put inside a page.

    Removes what only the frame makes harmless or shows: ``<style>`` blocks, ``class`` and
    ``id`` attributes, the body marker, the look-alikes of form controls, links that go
    nowhere, and ``position: fixed|sticky|absolute`` in inline styles. The
    result is what ``prepare_body(..., keep_style=False)`` gives, up to the markup that pass
    normalised already. Running it on a body cleaned for a page changes nothing.

    :param html: str, the output of ``prepare_body(..., keep_style=True)`` (possibly after a
        sanitizer that kept its ``<style>`` blocks and attributes)
    :returns: str, one ``<div>`` (``""`` for an empty body); never raises (worst case: text)
    """
    try:
        root = _parse(html)
        body = root.find("body") if root is not None else None
        if body is None:
            return ""
        top = _body_wrapper(body, marked=False)
        if top is None or top.tag != "div":
            top = body
            top.tag = "div"
        for element in list(top.iter()):
            if not isinstance(element.tag, str):
                continue
            if element.tag == "style" or element.get(CONTROL_MARKER) is not None:
                element.drop_tree()  # a form control is no more in a page than in the mail
                continue
            if element.get(FORM_MARKER) is not None:
                element.drop_tag()
                continue
            for name in ("class", "id", BODY_MARKER):
                element.attrib.pop(name, None)
            if element.get("src") == MISSING_IMAGE:
                del element.attrib["src"]
            if (element.get("href") or "").startswith("#"):  # the frame's dead links
                del element.attrib["href"]
            for name in ("style", REMOTE_ATTRIBUTE.format("style")):
                if element.get(name) is not None:
                    css = _CSS_POSITION.sub("", element.get(name)).strip()
                    if css.strip(" ;"):
                        element.set(name, css)
                    else:
                        del element.attrib[name]
        top.tail = None
        return _serialize(top)
    except Exception:  # the input was cleaned already: this is only a last resort
        return text_to_html(html_to_text(html))


def frame_document(html, policy=None, parts_url=None):
    """The whole document the sandboxed frame shows for a body cleaned for it.

    The marked body ``<div>`` (see :data:`BODY_MARKER`) gives its attributes back to the
    document's ``<body>`` and its rendering mode to the doctype, so that ``bgcolor``, margins
    and quirks render as they would in the mail on its own. Anything else (a notice, a body
    cleaned before the frame existed) is the content of a standards-mode ``<body>``. A body
    with form controls' look-alikes gets the style sheet that draws them.

    Nothing is cleaned here: ``html`` must come from ``prepare_body(..., keep_style=True)``
    (and a sanitizer after it), and the document must be served with :func:`frame_headers`,
    or carry their policy itself (``policy``: the document given inline, from a ``blob:``
    URL). A body vt_webmail kept is not parsed again (see :func:`_marked_body`).

    :param html: str (``None`` or ``""`` give an empty body)
    :param policy: for a document given to the frame inline, which no HTTP header comes
        with: :func:`frame_meta_policy`, put first in its ``<head>`` as a ``<meta
        http-equiv>``, before anything of the mail, with ``no-referrer``
    :param parts_url: for a document given to the frame inline, the absolute URL of the part
        route (``https://host/vt_webmail/part/``): the URLs of the mail's parts
        (``/vt_webmail/part/<message>/<attachment>``, which ``prepare_body`` wrote) become
        absolute, in attributes and style sheets (text is left alone), because a document
        loaded from a ``blob:`` URL resolves no relative URL
    :returns: str, a complete HTML document
    """
    marked = _marked_body(html, parts_url) if html else None
    if marked is not None:
        # the usual case, a body vt_webmail kept: built from its markup as it is, without
        # parsing it again, which a browser parses as it would the parse's serialization
        mode, attributes, inner, controls = marked
        head = ""
        if policy:
            head = (f'<meta http-equiv="Content-Security-Policy" content="{_quoted(policy)}">'
                    '<meta name="referrer" content="no-referrer">')
        head += '<meta charset="utf-8"><meta name="color-scheme" content="light">'
        if controls:
            head += f"<style>{_CONTROL_SHEET}</style>"
        return (f"{_DOCTYPES[mode]}<html><head>{head}</head><body{attributes}>{inner}"
                "</body></html>")
    document = lxml.html.document_fromstring(
        '<html><head><meta charset="utf-8"><meta name="color-scheme" content="light">'
        "</head><body></body></html>")
    if policy:
        head = document.find("head")
        head.insert(0, etree.Element("meta", {"name": "referrer", "content": "no-referrer"}))
        head.insert(0, etree.Element(
            "meta", {"http-equiv": "Content-Security-Policy", "content": policy}))
    body = document.find("body")
    mode = "no-quirks"
    root = _parse(html) if html else None
    source = root.find("body") if root is not None else None
    if source is not None:
        wrapper = _body_wrapper(source)
        if wrapper is not None:
            mode = wrapper.get(BODY_MARKER)
            if mode not in DOCUMENT_MODES:
                mode = "no-quirks"
            for name, value in wrapper.attrib.items():
                if name != BODY_MARKER:
                    body.set(name, value)
            source = wrapper
        body.text = source.text
        body.extend(list(source))
    if parts_url:
        _absolute_part_urls(body, parts_url)
    if body.find(f".//*[@{CONTROL_MARKER}]") is not None or body.find(
            f".//*[@{FORM_MARKER}]") is not None:
        sheet = etree.SubElement(document.find("head"), "style")
        sheet.text = _CONTROL_SHEET
    return _DOCTYPES[mode] + _serialize(document, for_libxml2=False)


def frame_inline_document(html, base_url, allow_remote_images=False):
    """The frame's document as the form reads it with the mail (``body_frame_document``): the
    web client loads it from a ``blob:`` URL, so opening a mail is one request. Such a document
    is parsed as the route's is, in the mode its doctype says (quirks and limited quirks
    included, which an ``srcdoc`` document would lose: HTML Standard 13.2.6.4.1); it carries
    its policy itself, first in its ``<head>`` (:func:`frame_meta_policy`), and its parts'
    URLs are absolute (a ``blob:`` document has no base to resolve a relative one against).

    :param html: as for :func:`frame_document`
    :param base_url: as for :func:`frame_policy`; the parts' URLs stay relative when it is
        empty or one the policy cannot spell (no browser asked: a shell, a cron)
    :returns: str, a complete HTML document
    """
    parts_url = f"{base_url}vt_webmail/part/" if _SAFE_BASE_URL.fullmatch(base_url or "") \
        else None
    return frame_document(html, policy=frame_meta_policy(base_url, allow_remote_images),
                          parts_url=parts_url)


def _marked_body(html, parts_url):
    """A body as vt_webmail keeps it, read without a parse: one marked ``<div>`` (see
    :data:`BODY_MARKER`) holding the whole body, as a serializer wrote it (every ``<`` of
    text escaped, attribute values quoted).

    :returns: ``(mode, attributes, inner, controls)``: the marker's mode, the ``<div>``'s
        other attributes as markup (`` a="1" b="2"``), its content as markup, and whether it
        holds form controls' look-alikes; the part URLs made absolute under ``parts_url`` in
        tags and style sheets. None for anything else (a notice, a body kept before the
        marker existed, markup this scan does not follow): :func:`frame_document` parses it
    """
    text = html.strip()
    start = _MARKED_START.match(text)
    if start is None or not text.endswith("</div>") or _RAW_TEXT.search(text):
        return None
    mode, _attributes = _without_marker(start.group(1))
    if mode not in DOCUMENT_MODES:
        return None
    pieces, done, depth, controls, consumed = [], 0, 0, False, 0
    for match in _MARKUP.finditer(text):
        token = match.group(0)
        consumed += token.count("<")
        if token.startswith("<!--"):
            continue
        if match.group("style") is None:
            if match.group("tag").lower() == "div":
                depth += -1 if match.group("end") else 1
                if depth == 0 and match.end() != len(text):
                    return None  # the marked <div> is not the whole body
            attributes = match.group("attributes")
            if attributes and _CONTROL_ATTRIBUTE.search(attributes):
                controls = True
        if parts_url and "/vt_webmail/part/" in token:
            pieces.append(text[done:match.start()])
            pieces.append(_PART_PATH.sub(parts_url, token))
            done = match.end()
    if depth != 0 or consumed != text.count("<"):
        return None  # a "<" outside the markup this scan reads: not a serialization
    pieces.append(text[done:])
    text = "".join(pieces)
    start = _MARKED_START.match(text)
    _mode, attributes = _without_marker(start.group(1))
    return (mode, attributes, text[start.end():-len("</div>")], controls)


def _without_marker(attributes):
    """``(mode, rest)``: the value of :data:`BODY_MARKER` among a start tag's ``attributes``
    (markup, read attribute by attribute: the same text in another's value is not it), None
    when it has none; the other attributes as they are written."""
    for found in _ATTRIBUTE.finditer(attributes):
        if found.group(1).lower() == BODY_MARKER:
            value = found.group(2) or ""
            if value[:1] in ("'", '"'):
                value = value[1:-1]
            return value, attributes[:found.start()] + attributes[found.end():]
    return None, attributes


def _quoted(value):
    """``value`` for a double-quoted attribute."""
    return value.replace("&", "&amp;").replace('"', "&quot;")


def _absolute_part_urls(root, parts_url):
    """Make the part URLs under ``root`` (attributes, ``<style>`` sheets) absolute."""
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        if element.tag == "style" and element.text and "/vt_webmail/part/" in element.text:
            element.text = _PART_PATH.sub(parts_url, element.text)
        for name, value in element.attrib.items():
            if "/vt_webmail/part/" in value:
                element.set(name, _PART_PATH.sub(parts_url, value))


def frame_policy(base_url, allow_remote_images=False):
    """The Content-Security-Policy of the frame's document.

    Nothing runs, submits, frames, embeds or sets a ``<base>``; the document loads nothing but
    images from the addon's part route (``/vt_webmail/part/...`` under ``base_url``), ``data:``
    images and, when ``allow_remote_images``, images over http(s); its own style sheets apply
    (``style-src 'unsafe-inline'``), no remote one, no font. Only the Odoo page may frame it,
    and ``sandbox`` applies :data:`FRAME_SANDBOX` when it is opened on its own.

    :param base_url: the server's root as the browser reaches it, ``https://host[:port]/``;
        one the policy cannot spell (odd characters) gives ``'self'``, the server's whole
        origin, instead of its part route (bodies hold no other URL of the server anyway:
        :func:`prepare_body` drops relative ones)
    """
    return (f"{frame_meta_policy(base_url, allow_remote_images)}; frame-ancestors 'self'; "
            f"sandbox {FRAME_SANDBOX}")


def frame_meta_policy(base_url, allow_remote_images=False):
    """:func:`frame_policy` as a ``<meta http-equiv>`` can carry it, for the frame's document
    given inline (``srcdoc``): without ``frame-ancestors`` and ``sandbox``, which browsers
    ignore there. Such a document is never a page of its own: the iframe's ``sandbox``
    attribute (:data:`FRAME_SANDBOX`) applies to it, and only the page that holds it frames it.
    """
    parts = f"{base_url}vt_webmail/part/" if _SAFE_BASE_URL.fullmatch(base_url or "") \
        else "'self'"
    images = f"{parts} data:"
    if allow_remote_images:
        images += " http: https:"
    return (f"default-src 'none'; style-src 'unsafe-inline'; img-src {images}; "
            f"form-action 'none'; base-uri 'none'")


def frame_headers(base_url, allow_remote_images=False):
    """The HTTP headers of the frame's document: see :func:`frame_policy`; also never sniffed,
    never cached (showing images changes it), and links opened from it send no referrer.

    :returns: ``[(name, value)]``
    """
    return [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Content-Security-Policy", frame_policy(base_url, allow_remote_images)),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("X-Frame-Options", "SAMEORIGIN"),  # for browsers without CSP frame-ancestors
        ("Cache-Control", "no-store"),
    ]


def text_to_html(text):
    """Plain text as HTML: escaped, line breaks kept, ``>`` quotes as blockquotes, and
    ``http(s)://`` and ``mailto:`` URLs as links.

    :param text: str (``None`` gives ``""``)
    :returns: one ``<div>``, or ``""`` for empty text
    """
    if not text:
        return ""
    out = ["<div>"]
    depth = 0
    first = True
    for line in str(text).splitlines():
        match = _QUOTE_PREFIX.match(line)
        level = match.group(1).count(">") if match else 0
        if match:
            line = line[match.end():]
        if level != depth:
            if level > depth:
                out.append(f'<blockquote style="{_BLOCKQUOTE_STYLE}">' * (level - depth))
            else:
                out.append("</blockquote>" * (depth - level))
            depth = level
            first = True
        if not first:
            out.append("<br>\n")
        first = False
        out.append(_text_line_to_html(line))
    out.append("</blockquote>" * depth)
    out.append("</div>")
    return "".join(out)


def html_to_text(html):
    """The readable text of an HTML body: paragraphs and line breaks kept, lists as ``- ``,
    quotes as ``> ``, link targets in ``<>`` after their text when they differ from it.

    :param html: str, a fragment or a document
    :returns: str; never raises (unparseable markup: tags stripped)
    """
    if not html:
        return ""
    try:
        root = _parse(html)
    except Exception:  # unparseable markup: strip the tags
        text = std_html.unescape(re.sub(r"<[^>]*>", " ", str(html)))
        return "\n".join(" ".join(line.split()) for line in text.splitlines()).strip()
    if root is None:
        return ""
    return _TextWriter().run(root)


# -- prepare_body internals ---------------------------------------------------------------------

class _Context:
    def __init__(self, cid_urls, allow_remote, keep_style):
        self.cid_urls = {_cid_key(key): url for key, url in cid_urls.items()}
        self.cid_urls_lower = {key.lower(): url for key, url in self.cid_urls.items()}
        self.allow_remote = allow_remote
        self.keep_style = keep_style
        self.has_remote = False

    def cid_url(self, reference):
        key = _cid_key(urllib.parse.unquote(reference))
        return self.cid_urls.get(key) or self.cid_urls_lower.get(key.lower())


def _cid_key(value):
    value = str(value).strip()
    if value[:4].lower() == "cid:":
        value = value[4:]
    return value.strip().strip("<>").strip()


def _prepare(html, cid_urls, allow_remote, keep_style):
    context = _Context(cid_urls, allow_remote, keep_style)
    root, mode = _parse_document(html)
    if root is None:
        return PreparedBody("", False)
    body = root.find("body")
    head = root.find("head")
    styles = []
    if keep_style:
        styles = [style for container in (head, body) if container is not None
                  for style in container.iter("style")]
    if body is None or (len(body) == 0 and not (body.text or "").strip()):
        return PreparedBody("", False)
    kept_styles = []
    for style in styles:
        css = _clean_style_block(style.text or "", context)
        media = " ".join((style.get("media") or "").split())
        kind = (style.get("type") or "text/css").strip().lower()
        if kind != "text/css" or (media and not _MEDIA_QUERY.fullmatch(media)):
            continue  # the browser would not apply it either; or a media query we cannot read
        if css and media and media.lower() != "all":
            css = f"@media {media} {{\n{css}\n}}"
        if css:
            element = etree.Element("style")
            element.text = css
            kept_styles.append(element)
    # depth-first, children listed before their parent is cleaned (an unwrapped element's
    # children move up) and never below a removed element
    stack = [body]
    while stack:
        element = stack.pop()
        children = list(element)
        if _clean_element(element, context):
            stack.extend(reversed(children))
    body.tag = "div"
    for name, allowed in (("dir", _HTML_DIR.__contains__), ("lang", _HTML_LANG.fullmatch)):
        value = (root.get(name) or "").strip()
        if value and body.get(name) is None and allowed(value.lower()):
            body.set(name, value)  # <html dir="rtl">: the div is all that is left of it
    if keep_style:
        body.set(BODY_MARKER, mode)
        if mode == "quirks":
            _mark_quirky_form_margins(body)
    for index, style in enumerate(kept_styles):
        body.insert(index, style)
    return PreparedBody(_serialize(body), context.has_remote)


def _serialize(element, *, for_libxml2=True):
    """``element`` as HTML that parses back into the same tree.

    A browser's parser drops the line break that opens a ``<pre>``, ``<textarea>`` or
    ``<listing>``, so one that the content starts with is doubled (libxml2 keeps it; the frame's
    document is read by :func:`_parse` again, which drops it as browsers do). With
    ``for_libxml2`` (what the sanitizer after :func:`prepare_body` parses with), an element
    whose start tag makes libxml2 close its parent (``<b><p>``, ``<a><table>``, ``<h1><p>``,
    ``<p><table>`` in quirks mode: all fine to a browser, see
    :data:`html_tree.LIBXML2_CLOSES`) is wrapped in a ``<span>``, which libxml2 lets it open
    in and which changes nothing to the layout (an inline box around a block).
    """
    for node in list(element.iter()):
        tag = node.tag
        if not isinstance(tag, str):
            continue
        if tag in _LEADING_NEWLINE_TAGS and (node.text or "").startswith("\n"):
            node.text = "\n" + node.text
        parent = node.getparent()
        if (for_libxml2 and parent is not None
                and (parent.tag, tag) in html_tree.LIBXML2_CLOSES
                and ("span", tag) not in html_tree.LIBXML2_CLOSES):
            span = node.makeelement("span", {})
            node.addprevious(span)
            span.tail, node.tail = node.tail, None
            span.append(node)
    return lxml.html.tostring(element, encoding="unicode", method="html")


def _document_mode(docinfo):
    """The rendering mode a document parsed by libxml2 asks for (see
    :func:`html_tree.document_mode`)."""
    name = _DOCTYPE_NAME.match((docinfo.doctype or "").strip())
    return html_tree.document_mode(name.group(1) if name else None, docinfo.public_id,
                                   docinfo.system_url)


def _body_wrapper(body, marked=True):
    """The one element ``body`` holds (the marked body ``<div>`` when ``marked``), else None."""
    children = list(body)
    if (len(children) == 1 and isinstance(children[0].tag, str)
            and (not marked or children[0].get(BODY_MARKER) is not None)
            and not (body.text or "").strip() and not (children[0].tail or "").strip()):
        return children[0]
    return None


def _parse(html):
    """The ``<html>`` element of ``html`` (str or bytes), or None when there is nothing."""
    return _parse_document(html)[0]


def _parse_document(html):
    """``(the <html> element, rendering mode)`` of ``html`` (str or bytes), as a browser's
    parser builds it (:mod:`html_tree`); ``(None, "quirks")`` when there is nothing.

    Markup that :mod:`html_tree` gives up (nested past its depth, or too many nodes) is read by
    libxml2 instead, corrected where it differs most from browsers (see
    :func:`_parse_with_libxml2`).
    """
    if html is None:
        return None, "quirks"
    if isinstance(html, bytes):
        html = html.decode("utf-8", "replace")
    html = _XML_INVALID.sub("", _XML_DECLARATION.sub("", str(html)))
    if not html.strip():
        return None, "quirks"
    try:
        root, mode = html_tree.parse(html)
    except html_tree.TreeLimitError:
        return _parse_with_libxml2(html)
    body = root.find("body")
    if not len(body) and not body.text and not len(root.find("head")):
        return None, mode  # nothing at all, or only comments
    return root, mode


def _parse_with_libxml2(html):
    """``(root, mode)`` as libxml2 reads ``html``, with the differences from browsers that
    matter most corrected: windows-1252 references, text before a late ``<body>``, the
    attributes of a later ``<body>`` tag."""
    # "&#149;" is a bullet to browsers (HTML maps references to 0x80-0x9F as windows-1252
    # does), a C1 control character to libxml2
    html = _C1_REFERENCE.sub(_windows_1252_reference, html)
    body_tags = _BODY_TAG.findall(html)
    end = _HEAD_PART.match(html).end()
    if not html[end:end + 5].lower().startswith("<body"):
        # libxml2 before 2.14 wraps text met before any <body> in a <p> of its own ("Hello
        # <b>you" gains a paragraph and its margins); browsers and libxml2 2.14 do not
        html = f"{html[:end]}<body>{html[end:]}"
    parser = lxml.html.HTMLParser(remove_comments=True, remove_pis=True, huge_tree=True,
                                  no_network=True, default_doctype=False)
    try:
        root = lxml.html.document_fromstring(html, parser=parser)
    except etree.ParserError:  # "Document is empty": only comments or nothing visible
        return None, "quirks"
    body = root.find("body")
    if body is not None:
        # a <body> start tag after the first adds the attributes the body lacks (HTML, "in
        # body" insertion mode): mail pasted after a tracking table sets its bgcolor so;
        # libxml2 drops them
        for tag in body_tags:
            try:
                attributes = lxml.html.document_fromstring(
                    tag + "</body>", parser=parser).find("body").attrib
            except (etree.ParserError, AttributeError):
                continue
            for name, value in attributes.items():
                if body.get(name) is None:
                    body.set(name, value)
    return root, _document_mode(root.getroottree().docinfo)


def _windows_1252_reference(match):
    code = int(match.group(1), 16) if match.group(1) else int(match.group(2))
    if 0x80 <= code <= 0x9F:
        character = bytes([code]).decode("cp1252", "ignore")
        if character:  # 0x81, 0x8D, 0x8F, 0x90, 0x9D stay as they are, as in browsers
            return character
    return match.group(0)


def _clean_element(element, context):
    """Clean one element; False when its content needs no cleaning (removed, or made here)."""
    tag = element.tag.lower() if isinstance(element.tag, str) else None
    if context.keep_style and tag in ("input", "button", "select", "textarea", "form"):
        return _control_look_alike(element, tag, context)
    if tag is None or tag in KILL_TAGS:  # None: a comment or PI the parser let through
        element.drop_tree()
        return False
    _clean_attributes(element, tag, context)
    # "<scr<script>" is an element named "scr<script" to libxml2 and to browsers alike: no
    # name like that means anything, and serialised it reads like a tag that does
    if tag in UNWRAP_TAGS or not _TAG_NAME.fullmatch(tag):
        element.drop_tag()
    return True


def _control_look_alike(element, tag, context):
    """In the frame, a form control becomes an inert ``<span>`` that looks like it (see
    :data:`CONTROL_MARKER` and :data:`_CONTROL_SHEET`): the mail on its own shows its form, and
    the text, sizes and buttons of it are part of its layout. Nothing of a form is left: no
    control, no name, no value to send, no action; a ``<form>`` becomes a ``<div>``. A hidden
    input goes; an image button is the image it shows. Returns whether the element's children
    still need cleaning (a ``<button>``'s and a ``<form>``'s do; the other look-alikes' content
    is made here, as text).
    """
    attributes = {name.lower(): value for name, value in element.attrib.items()}
    kind = (attributes.get("type") or "").strip().lower()
    if tag == "input" and kind == "hidden":
        element.drop_tree()
        return False
    if tag == "input" and kind == "image":
        # an image that failed shows its alt text, and Chromium's "Submit" for a button
        attributes.setdefault("alt", _BUTTON_LABELS["submit"])
        _replace_attributes(element, "img", attributes, _IMAGE_BUTTON_ATTRIBUTES, context)
        element.set(CONTROL_MARKER, "image")
        return False
    if tag == "form":
        parent = element.getparent()
        if parent is not None and parent.tag in ("table", "tbody", "thead", "tfoot", "tr"):
            # put among a table's rows, a form is empty and shows nothing; a <div> there
            # would be moved before the table when the frame's document is read
            element.drop_tag()
            return True
        _replace_attributes(element, "div", attributes, _CONTROL_ATTRIBUTES, context)
        element.set(FORM_MARKER, "")
        return True
    look, text, properties = "text", "", {}
    if tag == "button" or kind in ("submit", "reset", "button", "file"):
        look = "button"
        text = attributes.get("value", _BUTTON_LABELS.get(kind or "submit", ""))
    elif kind in ("checkbox", "radio"):
        look = kind
    elif tag == "select":
        size = _int_attribute(attributes.get("size"), 0, 1000)
        look = "listbox" if size > 1 or "multiple" in attributes else "select"
        if look == "listbox":
            properties["--vt-size"] = size if size > 1 else 4
    elif tag == "textarea":
        look = "textarea"
        text = element.text_content()
        properties["--vt-cols"] = _int_attribute(attributes.get("cols"), 20, 1000)
        properties["--vt-rows"] = _int_attribute(attributes.get("rows"), 2, 1000)
    else:
        size = _int_attribute(attributes.get("size"), 20, 1000)
        properties["--vt-size"] = size
        text = attributes.get("value") or ""
        if kind == "password":
            text = "\u2022" * len(text)
        text = text[:size + 10]  # what overflows the field is not shown either
    options = []
    if tag == "select":
        for option in element.iter("option"):
            label = option.get("label") or option.text_content()
            options.append((" ".join(label.split()), option.get("selected") is not None))
    if tag != "button":
        for child in list(element):
            element.remove(child)
        element.text = None
    _replace_attributes(element, "span", attributes, _CONTROL_ATTRIBUTES, context)
    element.set(CONTROL_MARKER, look)
    if kind in ("checkbox", "radio") and "checked" in attributes:
        element.set("data-vt-checked", "")
    if properties:
        custom = "".join(f"{name}:{value};" for name, value in properties.items())
        element.set("style", custom + (element.get("style") or ""))
    if tag == "select":
        _select_look(element, options, look)
    elif tag != "button":
        if not text and look == "text" and attributes.get("placeholder"):
            placeholder = etree.SubElement(element, "span", {"data-vt-placeholder": ""})
            placeholder.text = attributes["placeholder"][:200]
        else:
            # never empty: an inline block's baseline is its text's (as a control's is)
            element.text = text or ("" if look in ("checkbox", "radio") else "\u200b")
    return tag == "button"


def _mark_quirky_form_margins(body):
    """In quirks mode a form has a bottom margin (HTML, "Rendering", quirks): the ``<div>`` a
    form became gets it (``FORM_MARKER="quirk"``) where Chromium keeps it. Chromium drops it
    (a "quirky" margin) for an empty form whose margin meets the top of the body or of a table
    cell, or the bottom of a cell."""
    for form in list(body.iter("div")):
        if form.get(FORM_MARKER) is None:
            continue
        empty = not len(form) and not (form.text or "").strip()
        if empty and (_meets_edge(form, body, before=True)
                      or _meets_edge(form, body, before=False)):
            continue
        form.set(FORM_MARKER, "quirk")


def _meets_edge(element, body, *, before):
    """Nothing comes before (or after) ``element`` up to the edge of a table cell (or the top
    of the body)."""
    while True:
        parent = element.getparent()
        if before:
            alone = element.getprevious() is None and not (parent.text or "").strip()
        else:
            alone = element.getnext() is None and not (element.tail or "").strip()
        if not alone:
            return False
        if parent.tag in ("td", "th") or parent is body:
            return parent is not body or before
        element = parent


def _select_look(element, options, look):
    """A select shows its selected option (the first by default) and is as wide as its widest
    option: every option is there, its height none but in a list box."""
    selected = next((label for label, chosen in options if chosen),
                    options[0][0] if options else "")
    for label, _chosen in options:
        sizer = etree.SubElement(element, "span", {"data-vt-option": ""})
        sizer.text = label or "\u200b"
    if look == "select":
        if len(element):
            element[-1].tail = selected or "\u200b"
        else:
            element.text = selected or "\u200b"


def _replace_attributes(element, tag, attributes, kept, context):
    """``element`` renamed ``tag`` with only the ``kept`` of its ``attributes``, cleaned."""
    element.attrib.clear()
    element.tag = tag
    for name, value in attributes.items():
        if name in kept:
            element.set(name, value)
    _clean_attributes(element, tag, context)


def _int_attribute(value, default, maximum):
    """An HTML non-negative integer attribute (leading digits, as browsers read them)."""
    match = re.match(r"\s*\+?(\d+)", value or "")
    return min(int(match.group(1)), maximum) if match else default


def _clean_attributes(element, tag, context):
    attributes = element.attrib
    for name, value in list(attributes.items()):
        lname = name.lower()
        if (lname.startswith(("on", "data-"))
                or (lname in DROP_ATTRIBUTES and not (lname == "id" and context.keep_style))
                or not _ATTRIBUTE_NAME.fullmatch(lname)  # "a<b", "xlink:href", ...
                or (lname == "class" and not context.keep_style)):
            del attributes[name]
        elif lname == "href":
            _clean_link(element, tag, name, value, context.keep_style)
        elif lname in RESOURCE_ATTRIBUTES:
            _clean_resource(element, name, value, context)
        elif lname in ("srcset", "imagesrcset"):
            _clean_srcset(element, name, value, context)
        elif lname == "style":
            _clean_style_attribute(element, name, value, context)
        elif _DANGEROUS_VALUE.match(_URL_NOISE.sub("", std_html.unescape(value))):
            # unescaped: libxml2 leaves HTML 5 references ("&colon;") as they are
            del attributes[name]
    if tag in ("a", "area") and element.get("href") and not element.get("href").startswith("#"):
        element.set("target", "_blank")
        element.set("rel", "noopener noreferrer")


def _scheme(url):
    """``(scheme or "", cleaned url)``: control characters and spaces removed, as browsers do.

    A URL whose scheme reads differently once HTML 5 references are decoded (libxml2 leaves
    "&colon;" as it is, a browser would not) has none: it is dropped wherever a scheme counts.
    """
    cleaned = _URL_NOISE.sub("", url).replace("\\", "/")
    match = _SCHEME.match(cleaned)
    scheme = match.group(1).lower() if match else ""
    decoded = _SCHEME.match(_URL_NOISE.sub("", std_html.unescape(url)).replace("\\", "/"))
    if (decoded.group(1).lower() if decoded else "") != scheme:
        return "", cleaned
    return scheme, cleaned


def _url_kind(url):
    """``"cid"``, ``"remote"`` (loaded from the network), ``"image-data"`` or ``"other"``."""
    scheme, cleaned = _scheme(url)
    if scheme == "cid":
        return "cid"
    if scheme in ("http", "https") or (not scheme and cleaned.startswith("//")):
        return "remote"
    if scheme == "data" and _IMAGE_DATA.match(cleaned):
        return "image-data"
    return "other"  # javascript:, file:, relative URLs (they would hit the Odoo server) ...


def _clean_link(element, tag, name, value, keep_style):
    if tag in ("a", "area") and name == "href":
        scheme, _cleaned = _scheme(value)
        if scheme in LINK_SCHEMES:
            element.set(name, value.strip())
            return
        if keep_style and not scheme:
            # in the frame, a link to no reachable place (a relative one, a fragment) keeps
            # the look of a link and leads nowhere: to a fragment of the frame's document
            # (never opened elsewhere), not to the Odoo server the relative URL would hit
            value = value.strip()
            element.set(name, value if value.startswith("#") else "#")
            return
    del element.attrib[name]


def _clean_resource(element, name, value, context):
    kind = _url_kind(value)
    if kind == "cid":
        url = context.cid_url(value.strip()[4:])
        if url:
            element.set(name, url)
        else:
            del element.attrib[name]
            _mark_missing_image(element, name, context)
    elif kind == "remote":
        context.has_remote = True
        if not context.allow_remote:
            del element.attrib[name]
            element.set(REMOTE_ATTRIBUTE.format(name.lower()), value.strip())
            _mark_missing_image(element, name, context)
    elif kind != "image-data":  # relative without a base (the Odoo server), file:, ...
        del element.attrib[name]
        _mark_missing_image(element, name, context)


def _mark_missing_image(element, name, context):
    """In the frame, an image not loaded shows as the browser shows one that failed (its
    frame, its alt text, its size), as in the mail on its own: an empty image that loads
    nothing. In a page the web client's style marks it instead."""
    if context.keep_style and name.lower() == "src" and element.tag == "img":
        element.set("src", MISSING_IMAGE)


def _clean_srcset(element, name, value, context):
    candidates = [part.split()[0] for part in value.split(",") if part.split()]
    kinds = {_url_kind(url) for url in candidates}
    if kinds == {"remote"}:
        context.has_remote = True
        if not context.allow_remote:
            del element.attrib[name]
            element.set(REMOTE_ATTRIBUTE.format(name.lower()), value.strip())
    else:  # cid:, data: and relative candidates: the src is the fallback that stays
        del element.attrib[name]


def _clean_style_attribute(element, name, value, context):
    css, remote = _clean_css(value, context, allow_remote=context.allow_remote)
    if remote:
        context.has_remote = True
    if css and css.strip(" ;"):
        element.set(name, css)
    else:
        del element.attrib[name]
    if remote and not context.allow_remote:
        allowed, _remote = _clean_css(value, context, allow_remote=True)
        if allowed:
            element.set(REMOTE_ATTRIBUTE.format("style"), allowed)


def _clean_style_block(css, context):
    # "<!--" and "-->" around a sheet (old mail hides it from old browsers so) mean nothing,
    # nor does the "//" often written before "-->" (a script's comment, a dropped rule to CSS)
    css = _CSS_CDO_CDC.sub(" ", css)
    css = _CSS_IMPORT.sub("", _CSS_COMMENT.sub("", css))
    cleaned, remote = _clean_css(css, context, allow_remote=context.allow_remote, block=True)
    if remote:
        context.has_remote = True
    # a "<" could close the <style> element in the browser, and a sheet that reads like
    # markup is an attempt at it (mXSS): CSS never needs either
    if not cleaned or _CSS_MARKUP.search(cleaned):
        return ""
    return cleaned


def _clean_css(css, context, *, allow_remote, block=False):
    """``(cleaned css or None, refers to remote resources)``.

    ``url()`` and ``image-set()`` are rewritten (``cid:`` to its URL, remote ones kept only if
    allowed, anything else to ``none``); a declaration block with script-like content, or with
    anything the rewriting did not account for, is dropped whole (None).
    """
    css = _CSS_COMMENT.sub("", css)
    # CSS escapes can spell "url(" or "expression(" in disguise: decode them first
    css = _CSS_ESCAPE.sub(_css_unescape, css).replace("\x00", "")
    if _CSS_DANGER.search(css):
        return None, False
    kept = []
    remote = False

    def keep(text):
        kept.append(text)
        return f"\x00{len(kept) - 1}\x00"

    def replace_url(match):
        nonlocal remote
        url = next((group for group in match.groups() if group is not None), "")
        kind = _url_kind(url)
        if kind == "cid":
            target = context.cid_url(url.strip()[4:])
            return keep(f'url("{target}")') if target else "none"
        if kind == "remote":
            remote = True
            return keep(f'url("{_css_string(url.strip())}")') if allow_remote else "none"
        if kind == "image-data":
            return keep(f'url("{_css_string(url.strip())}")')
        return "none"

    def replace_image_set(match):
        nonlocal remote
        inner = match.group(0)
        urls = [u for m in _CSS_URL.finditer(inner) for u in m.groups() if u is not None]
        urls += [s for m in _CSS_STRING.finditer(_CSS_URL.sub("", inner))
                 for s in m.groups() if s is not None]
        kinds = {_url_kind(url) for url in urls}
        if "remote" in kinds:
            remote = True
        if kinds == {"remote"} and allow_remote:
            return keep(inner)
        return "none"

    css = _CSS_IMAGE_SET.sub(replace_image_set, css)
    css = _CSS_URL.sub(replace_url, css)
    if not block and not context.keep_style:  # in the frame, a mail can only overlay itself
        css = _CSS_POSITION.sub("", css)
    if _CSS_RESIDUE.search(css):
        return None, remote
    css = _PLACEHOLDER.sub(lambda match: kept[int(match.group(1))], css)
    return css.strip(), remote


def _css_unescape(match):
    if match.group(1):
        code = int(match.group(1), 16)
        return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"
    return match.group(2) if match.group(2) not in "\r\n\f" else ""


def _css_string(url):
    return url.replace("\\", "%5C").replace('"', "%22").replace("\n", "").replace("\r", "")


# -- text_to_html internals ---------------------------------------------------------------------

def _text_line_to_html(line):
    out = []
    position = 0
    for match in _LINK.finditer(line):
        url = _trim_url(match.group(0))
        out.append(_escape_spaces(line[position:match.start()]))
        out.append(f'<a href="{std_html.escape(url)}">{std_html.escape(url)}</a>')
        position = match.start() + len(url)
    out.append(_escape_spaces(line[position:]))
    return "".join(out)


def _trim_url(url):
    """Drop the punctuation that ends a sentence, not the URL (balanced parentheses stay)."""
    while url:
        last = url[-1]
        if last in _TRAILING_PUNCTUATION or (last == ")" and url.count("(") < url.count(")")):
            url = url[:-1]
        else:
            break
    return url


def _escape_spaces(text):
    # runs of spaces and tabs keep their width (ASCII tables, indented code)
    text = std_html.escape(text.expandtabs(4), quote=False)
    return re.sub(r"(?<= ) |^ ", "&nbsp;", text)


# -- html_to_text internals ---------------------------------------------------------------------

class _TextWriter:
    """Walks a tree with ``etree.iterwalk`` (no recursion: mail HTML nests very deep)."""

    def __init__(self):
        self.lines = [[0, ""]]  # [quote depth, text]
        self.depth = 0
        self.pre = 0
        self.skip = 0
        self.pending_break = 0  # newlines owed before the next text
        self.pending_depth = 0  # quote depth of the blank lines among them

    def run(self, root):
        body = root.find("body")
        start = body if body is not None else root
        for event, element in etree.iterwalk(start, events=("start", "end")):
            tag = element.tag.lower() if isinstance(element.tag, str) else ""
            if event == "start":
                self.start(element, tag)
            else:
                self.end(element, tag)
                if element is not start and not self.skip:
                    self.text(element.tail)
        return self.finish()

    def start(self, element, tag):
        if self.skip or tag in _SKIP_TEXT_TAGS:
            self.skip += 1
            return
        if tag == "br":
            self.newline(force=True)
        elif tag in _BLOCK_TAGS:
            self.newline(2 if tag in _PARAGRAPH_TAGS else 1)
        if tag == "blockquote":
            self.depth += 1
        elif tag == "pre":
            self.pre += 1
        elif tag == "li":
            self.put("- ")
        elif tag in ("td", "th") and not self.pending_break and self.lines[-1][1].strip():
            self.put("  ")
        elif tag == "img" and element.get("alt", "").strip():
            self.text(f"[{element.get('alt').strip()}]")
        elif tag == "hr":
            self.put("-" * 20)
        self.text(element.text)

    def end(self, element, tag):
        if self.skip:
            self.skip -= 1
            return
        if tag == "a":
            href = (element.get("href") or "").strip()
            label = " ".join(element.text_content().split())
            target = href[7:] if href.lower().startswith("mailto:") else href
            if (href.lower().startswith(("http://", "https://", "mailto:"))
                    and target.rstrip("/") not in label):
                self.put(f" <{target}>")
        if tag == "blockquote":
            self.newline(2)
            self.depth -= 1
        elif tag == "pre":
            self.pre -= 1
        if tag in _BLOCK_TAGS:
            self.newline(2 if tag in _PARAGRAPH_TAGS else 1)

    def text(self, value):
        if not value or self.skip:
            return
        if self.pre:
            for index, line in enumerate(value.split("\n")):
                if index:
                    self.newline(force=True)
                self.put(line)
            return
        current = self.lines[-1][1]
        # HTML collapses whitespace: one space between words, none at a line start
        space_allowed = bool(current) and not current.endswith(" ") and not self.pending_break
        words = " ".join(value.split())
        if not words:
            if space_allowed:
                self.put(" ")
            return
        if value[:1].isspace() and space_allowed:
            words = " " + words
        if value[-1:].isspace():
            words += " "
        self.put(words)

    def put(self, value):
        if self.pending_break:
            for index in range(self.pending_break):
                last = index == self.pending_break - 1
                self.lines.append([self.depth if last else self.pending_depth, ""])
            self.pending_break = 0
        if not self.lines[-1][1]:
            self.lines[-1][0] = self.depth
        self.lines[-1][1] += value

    def newline(self, count=1, force=False):
        if force:
            if self.pending_break:
                self.put("")
            self.lines.append([self.depth, ""])
            return
        if self.lines[-1][1].strip() or len(self.lines) > 1:
            self.pending_depth = min(self.pending_depth, self.depth) if self.pending_break \
                else self.depth
            self.pending_break = max(self.pending_break, count if self.lines[-1][1] else count - 1)

    def finish(self):
        out = []
        for depth, text in self.lines:
            text = text.rstrip()
            prefix = "> " * depth if text else ">" * depth
            out.append(prefix + text)
        text = "\n".join(out).strip("\n")
        return re.sub(r"\n(>*\n){2,}", lambda m: "\n" + m.group(1) + "\n", text).strip()
