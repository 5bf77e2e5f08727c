"""Mail HTML parsed into the tree a browser builds from it.

libxml2 (lxml's HTML parser) builds trees by HTML 4 rules, and mail is full of markup those
rules read differently from a browser: a ``</u>`` that ends an ``<h1>`` opened inside it, a
``<b>`` closed by the ``<p>`` that starts inside it, formatting lost at the end of a paragraph
(``<p><font><b>one</p><p>two``: browsers carry the bold and the font into "two"), text in a table
that browsers move before it. Shown as libxml2 reads it, such a mail changes looks. This module
builds the tree by the HTML Standard instead (section 13.2, "Parsing HTML documents"): its
tokenizer and its tree construction, with the adoption agency algorithm, the reconstruction of
active formatting elements, foster parenting, implied end tags and the quirks-mode table rule.
``<noscript>`` is read as with scripting on, its content as text (a body may be put into a page
that runs scripts, where it reads so; :mod:`core.html` removes it with its content anyway).

:func:`parse` returns the tree as lxml elements for :mod:`core.html` to clean: nothing here
decides what is safe. What it leaves out of the Standard, none of which changes what a mail
shows: templates (their content is an ordinary element's), frame sets (ignored), the details of
foreign content (``<svg>`` and ``<math>`` are read as elements; they are removed whole anyway),
the encoding sniffing (the MIME layer decodes) and the parse errors themselves. Like browsers,
it never fails on markup; it gives up (:class:`TreeLimitError`) past :data:`MAX_DEPTH` open
elements, :data:`MAX_NODES` nodes or :data:`MAX_WORK` steps, and the caller falls back to
libxml2.

:data:`LIBXML2_CLOSES` is the other half: which start tags make libxml2 close the element they
appear in, so that a tree built here can be written in a form libxml2 reads back unchanged (the
sanitizer that runs after the cleaning parses with it).
"""

import html as std_html
import html.entities
import re

import lxml.html
from lxml import etree

#: Past this many open elements, the tree is given up (Blink caps its own at 512 too).
MAX_DEPTH = 512
#: Past this many elements and text runs, the tree is given up.
MAX_NODES = 300_000
#: Past this many steps of the scans the algorithms make (list entries looked at), the tree is
#: given up: at worst about a second of work.
MAX_WORK = 20_000_000

#: ``{(open element, start tag)}``: a start tag libxml2 closes the current element for (HTML
#: 4's ``htmlStartClose`` table, the same in libxml2 2.9 to 2.14; a test reads it from the
#: installed libxml2).
LIBXML2_CLOSES = frozenset(
    (old, new) for old, news in {
        "a": "a fieldset table td th",
        "address": "dd dl dt form li ul",
        "b": "center p td th",
        "big": "p",
        "caption": "col colgroup tbody tfoot thead tr",
        "colgroup": "colgroup tbody tfoot thead tr",
        "dd": "dt",
        "dir": "dd dl dt form ul",
        "dl": "form li",
        "dt": "dd dl",
        "font": "center td th",
        "form": "form",
        "h1": "fieldset form li p table",
        "h2": "fieldset form li p table",
        "h3": "fieldset form li p table",
        "h4": "fieldset form li p table",
        "h5": "fieldset form li p table",
        "h6": "fieldset form li p table",
        "i": "center p td th",
        "legend": "fieldset",
        "li": "li",
        "listing": "dd dl dt fieldset form li table ul",
        "menu": "dd dl dt form ul",
        "ol": "form",
        "option": "optgroup option",
        "p": "address blockquote caption center col colgroup dd dir div dl dt fieldset form "
             "frameset h1 h2 h3 h4 h5 h6 hr li listing menu ol p pre table tbody td tfoot th "
             "title tr ul xmp",
        "pre": "dd dl dt fieldset form li table ul",
        "s": "p",
        "small": "p",
        "span": "td th",
        "strike": "p",
        "tbody": "tbody tfoot",
        "td": "tbody td tfoot th tr",
        "tfoot": "tbody",
        "th": "tbody td tfoot th tr",
        "thead": "tbody tfoot",
        "tr": "tbody tfoot tr",
        "tt": "p",
        "u": "p td th",
        "ul": "address form menu pre",
    }.items() for new in news.split())

#: Public identifiers that put a document in quirks mode (HTML, "The initial insertion mode"),
#: lower case: those that are a prefix, then those that must match exactly.
_QUIRKS_PREFIXES = tuple(prefix.lower() for prefix in (
    "+//Silmaril//dtd html Pro v0r11 19970101//", "-//AS//DTD HTML 3.0 asWedit + extensions//",
    "-//AdvaSoft Ltd//DTD HTML 3.0 asWedit + extensions//", "-//IETF//DTD HTML 2.0 Level 1//",
    "-//IETF//DTD HTML 2.0 Level 2//", "-//IETF//DTD HTML 2.0 Strict Level 1//",
    "-//IETF//DTD HTML 2.0 Strict Level 2//", "-//IETF//DTD HTML 2.0 Strict//",
    "-//IETF//DTD HTML 2.0//", "-//IETF//DTD HTML 2.1E//", "-//IETF//DTD HTML 3.0//",
    "-//IETF//DTD HTML 3.2 Final//", "-//IETF//DTD HTML 3.2//", "-//IETF//DTD HTML 3//",
    "-//IETF//DTD HTML Level 0//", "-//IETF//DTD HTML Level 1//", "-//IETF//DTD HTML Level 2//",
    "-//IETF//DTD HTML Level 3//", "-//IETF//DTD HTML Strict Level 0//",
    "-//IETF//DTD HTML Strict Level 1//", "-//IETF//DTD HTML Strict Level 2//",
    "-//IETF//DTD HTML Strict Level 3//", "-//IETF//DTD HTML Strict//", "-//IETF//DTD HTML//",
    "-//Metrius//DTD Metrius Presentational//",
    "-//Microsoft//DTD Internet Explorer 2.0 HTML Strict//",
    "-//Microsoft//DTD Internet Explorer 2.0 HTML//",
    "-//Microsoft//DTD Internet Explorer 2.0 Tables//",
    "-//Microsoft//DTD Internet Explorer 3.0 HTML Strict//",
    "-//Microsoft//DTD Internet Explorer 3.0 HTML//",
    "-//Microsoft//DTD Internet Explorer 3.0 Tables//", "-//Netscape Comm. Corp.//DTD HTML//",
    "-//Netscape Comm. Corp.//DTD Strict HTML//", "-//O'Reilly and Associates//DTD HTML 2.0//",
    "-//O'Reilly and Associates//DTD HTML Extended 1.0//",
    "-//O'Reilly and Associates//DTD HTML Extended Relaxed 1.0//",
    "-//SQ//DTD HTML 2.0 HoTMetaL + extensions//",
    "-//SoftQuad Software//DTD HoTMetaL PRO 6.0::19990601::extensions to HTML 4.0//",
    "-//SoftQuad//DTD HoTMetaL PRO 4.0::19971010::extensions to HTML 4.0//",
    "-//Spyglass//DTD HTML 2.0 Extended//", "-//Sun Microsystems Corp.//DTD HotJava HTML//",
    "-//Sun Microsystems Corp.//DTD HotJava Strict HTML//", "-//W3C//DTD HTML 3 1995-03-24//",
    "-//W3C//DTD HTML 3.2 Draft//", "-//W3C//DTD HTML 3.2 Final//", "-//W3C//DTD HTML 3.2//",
    "-//W3C//DTD HTML 3.2S Draft//", "-//W3C//DTD HTML 4.0 Frameset//",
    "-//W3C//DTD HTML 4.0 Transitional//", "-//W3C//DTD HTML Experimental 19960712//",
    "-//W3C//DTD HTML Experimental 970421//", "-//W3C//DTD W3 HTML//",
    "-//W3O//DTD W3 HTML 3.0//", "-//WebTechs//DTD Mozilla HTML 2.0//",
    "-//WebTechs//DTD Mozilla HTML//",
))
_QUIRKS_EXACT = frozenset({"-//w3o//dtd w3 html strict 3.0//en//",
                           "-/w3c/dtd html 4.0 transitional/en", "html"})
_HTML401_LOOSE = ("-//w3c//dtd html 4.01 frameset//", "-//w3c//dtd html 4.01 transitional//")
_XHTML10_LOOSE = ("-//w3c//dtd xhtml 1.0 frameset//", "-//w3c//dtd xhtml 1.0 transitional//")


def document_mode(name, public_id, system_id, force_quirks=False):
    """The rendering mode a doctype asks for (HTML, "The initial insertion mode"): ``"quirks"``,
    ``"limited-quirks"`` or ``"no-quirks"``.

    :param name: the doctype's name (``None``: no doctype, quirks)
    :param public_id: its public identifier, ``None`` when missing
    :param system_id: its system identifier, ``None`` when missing
    :param force_quirks: the tokenizer found it malformed
    """
    if force_quirks or name is None or name.lower() != "html":
        return "quirks"
    public = (public_id or "").lower()
    if (public in _QUIRKS_EXACT or public.startswith(_QUIRKS_PREFIXES)
            or (system_id or "").lower() == "http://www.ibm.com/data/dtd/v11/ibmxhtml1-transitional.dtd"
            or (system_id is None and public.startswith(_HTML401_LOOSE))):
        return "quirks"
    if public.startswith(_XHTML10_LOOSE) or public.startswith(_HTML401_LOOSE):
        return "limited-quirks"
    return "no-quirks"


class TreeLimitError(ValueError):
    """The markup nests deeper than :data:`MAX_DEPTH`, makes more than :data:`MAX_NODES` nodes
    or costs more than :data:`MAX_WORK` steps: :func:`parse` gives it up."""


def parse(html):
    """The tree a browser builds from ``html``.

    :param html: str, a whole document or a fragment, without characters XML cannot hold
        (the caller removes them)
    :returns: ``(root, mode)``: the ``<html>`` lxml element (always with ``<head>`` and
        ``<body>``), and the rendering mode its doctype asks for (see :func:`document_mode`)
    :raises TreeLimitError: past :data:`MAX_DEPTH` or :data:`MAX_NODES`
    """
    builder = _TreeBuilder()
    builder.run(_Tokenizer(html))
    return builder.to_lxml(), builder.mode


# -- tokenizer ----------------------------------------------------------------------------------

_WHITESPACE = "\t\n\f\r "
_SPACES = re.compile(r"[\t\n\f ]*")
_TAG_START = re.compile(r"<(/?)([a-zA-Z][^\t\n\f />]*)")
_ATTRIBUTE_NAME = re.compile(r"[^\t\n\f />][^\t\n\f /=>]*")
_UNQUOTED = re.compile(r"[^\t\n\f >]+")
_DOCTYPE = re.compile(r"<!doctype", re.IGNORECASE)
_DOCTYPE_BODY = re.compile(
    r"[\t\n\f ]*([^\t\n\f >]*)[\t\n\f ]*(?:"
    r"(public)[\t\n\f ]*(?:\"([^\">]*)(\"?)|'([^'>]*)('?))?[\t\n\f ]*"
    r"(?:\"([^\">]*)(\"?)|'([^'>]*)('?))?"
    r"|(system)[\t\n\f ]*(?:\"([^\">]*)(\"?)|'([^'>]*)('?))?"
    r")?[\t\n\f ]*([^>]*)(>?)", re.IGNORECASE)
_NAMED_REFERENCE = re.compile(r"&([a-zA-Z][a-zA-Z0-9]*)(;?)(?=(.?))", re.DOTALL)
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_COMMENT_END = re.compile(r"--!?>")
# atomic, and a name followed by "=" has its value or nothing matches: an attribute is read as
# the tokenizer reads it, never cut otherwise to fit
_ATTRIBUTE = (r"""(?>[^\t\n\f />][^\t\n\f /=>]*"""
              r"""(?:[\t\n\f ]*=[\t\n\f ]*(?:"[^"]*"|'[^']*'|[^\t\n\f >"'][^\t\n\f >]*)"""
              r"""|(?![\t\n\f ]*=)))""")
#: A tag whose attributes are separated by white space (or "/") and closed by ">": read at
#: once; anything else is read state by state (:meth:`_Tokenizer._tag_slowly`).
_WHOLE_TAG = re.compile(
    rf"</?[a-zA-Z][^\t\n\f />]*((?:[\t\n\f /]+{_ATTRIBUTE})*)[\t\n\f ]*(/?)>")
_WHOLE_ATTRIBUTE = re.compile(
    r"""([^\t\n\f />][^\t\n\f /=>]*)"""
    r"""(?:[\t\n\f ]*=[\t\n\f ]*(?:"([^"]*)"|'([^']*)'|([^\t\n\f >"'][^\t\n\f >]*)))?""")

#: Elements whose content is text up to their end tag: RCDATA (references decoded), raw text.
_RCDATA = frozenset({"title", "textarea"})
_RAWTEXT = frozenset({"style", "xmp", "iframe", "noembed", "noframes", "script", "noscript"})

_TEXT, _START, _END, _DOCTYPE_TOKEN, _COMMENT = range(5)
_COMMENT_TOKEN = (_COMMENT,)


def _text(value):
    return _XML_INVALID.sub("", std_html.unescape(value)) if "&" in value else value


def _attribute_value(value):
    """An attribute's value with its character references decoded as in an attribute: a
    named reference without ``;`` followed by ``=`` or a letter or digit stays as written
    (``href="?a=1&copy=2"``)."""
    if "&" not in value:
        return value

    def decode(match):
        name, semicolon, following = match.groups()
        if semicolon and name + ";" in html.entities.html5:
            return html.entities.html5[name + ";"]
        if not semicolon and name in html.entities.html5 and following != "=":
            return html.entities.html5[name]
        return match.group(0)

    value = _NAMED_REFERENCE.sub(decode, value)
    # numeric references read the same in attributes and text; named ones are done
    return _XML_INVALID.sub("", re.sub(
        r"&#[xX]?[0-9a-fA-F]*;?", lambda match: std_html.unescape(match.group(0)), value))


class _Tokenizer:
    """HTML tokens of a string: ``(_TEXT, text)``, ``(_START, name, [(name, value)],
    self_closing)``, ``(_END, name)``, ``(_DOCTYPE_TOKEN, name, public, system, quirks)``,
    ``(_COMMENT,)`` for a comment (its text is not kept: comments are not shown), a
    processing instruction or a CDATA section."""

    def __init__(self, source):
        self.source = source.replace("\r\n", "\n").replace("\r", "\n")
        self.position = 0
        self.raw_end = None  # "style": text up to </style>, "": text up to the end

    def __iter__(self):
        source = self.source
        length = len(source)
        while self.position < length:
            if self.raw_end is not None:
                yield from self._raw_text()
                continue
            start = self.position
            index = source.find("<", start)
            if index < 0:
                index = length
            if index > start:
                yield (_TEXT, _text(source[start:index]))
            self.position = index
            if index >= length:
                break
            token = self._markup()
            if token is not None:
                yield token

    def _raw_text(self):
        source = self.source
        name, self.raw_end = self.raw_end, None
        start = self.position
        if not name:  # <plaintext>
            self.position = len(source)
            yield (_TEXT, source[start:])
            return
        pattern = re.compile(rf"</{name}(?=[\t\n\f />])", re.IGNORECASE)
        match = pattern.search(source, start)
        end = match.start() if match else len(source)
        text = source[start:end]
        if text:
            yield (_TEXT, _text(text) if name in _RCDATA else text)
        self.position = end
        if match:
            token = self._markup()
            if token is not None:
                yield token

    def _markup(self):
        """The token at ``<`` (None for something skipped)."""
        source, position = self.source, self.position
        match = _TAG_START.match(source, position)
        if match:
            return self._tag(match)
        following = source[position + 1:position + 2]
        if following == "!":
            if source.startswith("<!--", position):
                self.position = self._comment_end(position + 4)
                return _COMMENT_TOKEN
            if _DOCTYPE.match(source, position):
                return self._doctype(position + 9)
            return self._bogus_comment(position + 2)
        if following == "?":
            return self._bogus_comment(position + 1)
        if following == "/":
            if source.startswith("</>", position):
                self.position = position + 3
                return None
            if position + 2 >= len(source):
                self.position = len(source)
                return (_TEXT, "</")
            return self._bogus_comment(position + 2)
        self.position = position + 1
        return (_TEXT, "<")

    def _comment_end(self, start):
        source = self.source
        if source.startswith(">", start):
            return start + 1
        if source.startswith("->", start):
            return start + 2
        end = _COMMENT_END.search(source, start)
        return end.end() if end else len(source)

    def _bogus_comment(self, start):
        end = self.source.find(">", start)
        self.position = len(self.source) if end < 0 else end + 1
        return _COMMENT_TOKEN

    def _doctype(self, start):
        match = _DOCTYPE_BODY.match(self.source, start)
        self.position = match.end()
        (name, public, public_1, public_1_end, public_2, public_2_end, system_1, system_1_end,
         system_2, system_2_end, system, system_3, system_3_end, system_4, system_4_end,
         rest, closed) = match.groups()
        quirks = not name or not closed
        public_id = system_id = None
        if public:
            if public_1 is not None:
                public_id, quirks = public_1, quirks or not public_1_end
            elif public_2 is not None:
                public_id, quirks = public_2, quirks or not public_2_end
            else:
                quirks = True
            if system_1 is not None:
                system_id, quirks = system_1, quirks or not system_1_end
            elif system_2 is not None:
                system_id, quirks = system_2, quirks or not system_2_end
        elif system:
            if system_3 is not None:
                system_id, quirks = system_3, quirks or not system_3_end
            elif system_4 is not None:
                system_id, quirks = system_4, quirks or not system_4_end
            else:
                quirks = True
        if rest.strip():
            quirks = True
        return (_DOCTYPE_TOKEN, name.lower() if name else None, public_id, system_id, quirks)

    def _tag(self, match):
        """A start or end tag (None when the input ends inside it: the Standard drops it)."""
        whole = _WHOLE_TAG.match(self.source, match.start())
        if whole:  # most tags: attributes apart, values quoted or not, closed by ">"
            self.position = whole.end()
            attributes = {}
            for found in _WHOLE_ATTRIBUTE.finditer(whole.group(1)):
                name, double, single, unquoted = found.groups()
                value = double if double is not None else single if single is not None \
                    else unquoted or ""
                attributes.setdefault(name.lower(), _attribute_value(value) if value else value)
            return self._tag_token(match, list(attributes.items()), bool(whole.group(2)))
        return self._tag_slowly(match)

    def _tag_token(self, match, attributes, self_closing):
        name = match.group(2).lower()
        if match.group(1):
            return (_END, name)
        if name in _RCDATA or name in _RAWTEXT:
            self.raw_end = name
        elif name == "plaintext":
            self.raw_end = ""
        return (_START, name, attributes, self_closing)

    def _tag_slowly(self, match):
        """:meth:`_tag` character by character (the tokenizer's states), for any tag."""
        source = self.source
        length = len(source)
        position = match.end()
        attributes = []
        seen = set()
        self_closing = False
        while True:
            position = _SPACES.match(source, position).end()
            if position >= length:
                self.position = length
                return None
            character = source[position]
            if character == ">":
                position += 1
                break
            if character == "/":
                if source.startswith("/>", position):
                    self_closing = True
                    position += 2
                    break
                position += 1
                continue
            attribute = _ATTRIBUTE_NAME.match(source, position)
            attribute_name = attribute.group().lower()
            position = _SPACES.match(source, attribute.end()).end()
            value = ""
            if source.startswith("=", position):
                position = _SPACES.match(source, position + 1).end()
                if position >= length:
                    self.position = length
                    return None
                quote = source[position]
                if quote in "\"'":
                    end = source.find(quote, position + 1)
                    if end < 0:
                        self.position = length
                        return None
                    value = source[position + 1:end]
                    position = end + 1
                elif quote != ">":
                    unquoted = _UNQUOTED.match(source, position)
                    value = unquoted.group()
                    position = unquoted.end()
                value = _attribute_value(value)
            if attribute_name not in seen:
                seen.add(attribute_name)
                attributes.append((attribute_name, value))
        self.position = position
        return self._tag_token(match, attributes, self_closing)


# -- tree construction --------------------------------------------------------------------------

class _Node:
    """An element: children are :class:`_Node` and :class:`_Text`."""

    __slots__ = ("name", "attributes", "children", "parent")

    def __init__(self, name, attributes=()):
        self.name = name
        self.attributes = dict(attributes)
        self.children = []
        self.parent = None


class _Text:
    """A text node, in pieces (text met bit by bit is joined once, at the end)."""

    __slots__ = ("parts",)

    def __init__(self, text):
        self.parts = [text]


_MARKER = None


class _Bookmark:
    """A place in the list of active formatting elements (the adoption agency's bookmark)."""


_VOID = frozenset({"area", "base", "basefont", "bgsound", "br", "col", "embed", "frame", "hr",
                   "img", "input", "keygen", "link", "meta", "param", "source", "track", "wbr"})
_FORMATTING = frozenset({"a", "b", "big", "code", "em", "font", "i", "nobr", "s", "small",
                         "strike", "strong", "tt", "u"})
_SPECIAL = frozenset({"address", "applet", "area", "article", "aside", "base", "basefont",
                      "bgsound", "blockquote", "body", "br", "button", "caption", "center", "col",
                      "colgroup", "dd", "details", "dir", "div", "dl", "dt", "embed", "fieldset",
                      "figcaption", "figure", "footer", "form", "frame", "frameset", "h1", "h2",
                      "h3", "h4", "h5", "h6", "head", "header", "hgroup", "hr", "html", "iframe",
                      "img", "input", "keygen", "li", "link", "listing", "main", "marquee", "menu",
                      "meta", "nav", "noembed", "noframes", "noscript", "object", "ol", "p",
                      "param", "plaintext", "pre", "script", "search", "section", "select",
                      "source", "style", "summary", "table", "tbody", "td", "template", "textarea",
                      "tfoot", "th", "thead", "title", "tr", "track", "ul", "wbr", "xmp"})
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_SCOPE = frozenset({"applet", "caption", "html", "table", "td", "th", "marquee", "object",
                    "template"})
_LIST_SCOPE = _SCOPE | {"ol", "ul"}
_BUTTON_SCOPE = _SCOPE | {"button"}
_TABLE_SCOPE = frozenset({"html", "table", "template"})
_IMPLIED_END = frozenset({"dd", "dt", "li", "optgroup", "option", "p", "rb", "rp", "rt", "rtc"})
_CLOSES_P = frozenset({"address", "article", "aside", "blockquote", "center", "details", "dialog",
                       "dir", "div", "dl", "fieldset", "figcaption", "figure", "footer", "header",
                       "hgroup", "main", "menu", "nav", "ol", "p", "search", "section", "summary",
                       "ul"})
_BLOCK_END = frozenset({"address", "article", "aside", "blockquote", "button", "center", "details",
                        "dialog", "dir", "div", "dl", "fieldset", "figcaption", "figure", "footer",
                        "header", "hgroup", "listing", "main", "menu", "nav", "ol", "pre",
                        "search", "section", "summary", "ul"})
_HEAD_CONTENT = frozenset({"base", "basefont", "bgsound", "link", "meta", "noframes", "script",
                           "style", "title"})
_TABLE_PARTS = frozenset({"caption", "col", "colgroup", "tbody", "td", "tfoot", "th", "thead",
                          "tr"})
_TABLE_SECTIONS = frozenset({"tbody", "tfoot", "thead"})
_FOSTER_TARGETS = frozenset({"table", "tbody", "tfoot", "thead", "tr"})
_CELL_END_IGNORED = frozenset({"body", "caption", "col", "colgroup", "html"})
# the foreign content elements a browser leaves for these HTML start tags
_FOREIGN_BREAKOUT = frozenset({"b", "big", "blockquote", "body", "br", "center", "code", "dd",
                               "div", "dl", "dt", "em", "embed", "h1", "h2", "h3", "h4", "h5",
                               "h6", "head", "hr", "i", "img", "li", "listing", "menu", "meta",
                               "nobr", "ol", "p", "pre", "ruby", "s", "small", "span", "strong",
                               "strike", "sub", "sup", "table", "tt", "u", "ul", "var"})


class _TreeBuilder:
    """The tree construction stage, insertion mode by insertion mode (13.2.6)."""

    def __init__(self):
        self.document = _Node("#document")
        self.html = self.head = self.body = None
        self.stack = []
        self.formatting = []
        self.form = None
        self.mode = "quirks"
        self.insertion = self._initial
        self.original = None
        self.pending_text = []
        self.foster = False
        self.skip_newline = False
        self.nodes = 0
        self.work = 0
        self.foreign_root = None

    # -- driving --------------------------------------------------------------------------------

    def run(self, tokenizer):
        for token in tokenizer:
            if self.skip_newline:
                self.skip_newline = False
                if token[0] == _TEXT and token[1].startswith("\n"):
                    token = (_TEXT, token[1][1:])
                    if not token[1]:
                        continue
            if token[0] != _COMMENT:
                self.process(token)
        if self.insertion == self._in_table_text:
            self._flush_table_text()
        if self.html is None:
            self._before_html((_END, "html"))
        if self.body is None:  # the end of the input before any content
            del self.stack[1:]
            if self.head is None:
                self.head = self._insert(_Node("head"), push=False)
            self.body = self._insert(_Node("body"))

    def process(self, token):
        while self.insertion(token):  # a mode returns True to have the token reprocessed
            pass

    # -- the stack and the tree -----------------------------------------------------------------

    def _count(self):
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise TreeLimitError("too many nodes")

    def _spend(self, steps):
        """Account for a scan of ``steps`` entries: crafted markup can make the Standard's
        algorithms scan long lists again and again, and is given up past :data:`MAX_WORK`."""
        self.work += steps
        if self.work > MAX_WORK:
            raise TreeLimitError("too much work")

    def _index(self, children, node):
        """``children.index(node)``, searched from the end (where the tree grows)."""
        for index in range(len(children) - 1, -1, -1):
            if children[index] is node:
                self._spend(len(children) - index)
                return index
        raise ValueError("not a child")

    def _detach(self, node):
        if node.parent is not None:
            children = node.parent.children
            del children[self._index(children, node)]
            node.parent = None

    def _append(self, parent, node):
        self._detach(node)
        node.parent = parent
        parent.children.append(node)

    def _insert_before(self, parent, node, reference):
        self._detach(node)
        node.parent = parent
        parent.children.insert(self._index(parent.children, reference), node)

    def _place(self):
        """``(parent, before)``: the appropriate place for inserting a node."""
        target = self.stack[-1]
        if self.foster and target.name in _FOSTER_TARGETS:
            return self._foster_place()
        return target, None

    def _foster_place(self):
        for index in range(len(self.stack) - 1, -1, -1):
            node = self.stack[index]
            if node.name == "table":
                if node.parent is not None:
                    return node.parent, node
                return self.stack[index - 1], None
        return self.stack[0], None

    def _insert(self, node, push=True):
        self._count()
        parent, before = self._place()
        if before is None:
            self._append(parent, node)
        else:
            self._insert_before(parent, node, before)
        if push:
            if len(self.stack) >= MAX_DEPTH:
                raise TreeLimitError("nested too deep")
            self.stack.append(node)
        return node

    def _element(self, token, push=True):
        return self._insert(_Node(token[1], token[2]), push)

    def _insert_text(self, text):
        if not text:
            return
        parent, before = self._place()
        children = parent.children
        index = len(children) if before is None else self._index(children, before)
        if index and isinstance(children[index - 1], _Text):
            children[index - 1].parts.append(text)
        else:
            self._count()
            children.insert(index, _Text(text))

    def _pop_until(self, *names):
        while self.stack:
            node = self.stack.pop()
            if node.name in names:
                return node
        return None

    def _in_scope(self, names, scope=_SCOPE):
        steps = 0
        for node in reversed(self.stack):
            steps += 1
            if node.name in names or node.name in scope:
                self._spend(steps)
                return node.name in names
        self._spend(steps)
        return False

    def _in_select_scope(self, name):
        for node in reversed(self.stack):
            if node.name == name:
                return True
            if node.name not in ("optgroup", "option"):
                return False
        return False

    def _generate_implied_end_tags(self, exclude=None):
        while self.stack[-1].name in _IMPLIED_END and self.stack[-1].name != exclude:
            self.stack.pop()

    def _close_p(self):
        self._generate_implied_end_tags("p")
        self._pop_until("p")

    def _close_p_in_button_scope(self):
        if self._in_scope(("p",), _BUTTON_SCOPE):
            self._close_p()

    # -- active formatting elements -------------------------------------------------------------

    def _push_formatting(self, node):
        same = 0
        for index in range(len(self.formatting) - 1, -1, -1):
            entry = self.formatting[index]
            if entry is _MARKER:
                break
            if entry.name == node.name and entry.attributes == node.attributes:
                same += 1
                if same == 3:
                    del self.formatting[index]
                    break
        self.formatting.append(node)

    def _reconstruct(self):
        formatting = self.formatting
        if not formatting or formatting[-1] is _MARKER or formatting[-1] in self.stack:
            return
        open_nodes = set(map(id, self.stack))
        index = len(formatting) - 1
        while index > 0:
            entry = formatting[index - 1]
            if entry is _MARKER or id(entry) in open_nodes:
                break
            index -= 1
        self._spend(len(self.stack) + len(formatting) - index)
        for position in range(index, len(formatting)):
            entry = formatting[position]
            node = self._insert(_Node(entry.name, entry.attributes))
            formatting[position] = node

    def _clear_formatting_to_marker(self):
        while self.formatting:
            if self.formatting.pop() is _MARKER:
                break

    def _adoption_agency(self, name):
        """13.2.6.4.7, "adoption agency algorithm"; False: act as any other end tag."""
        current = self.stack[-1]
        if current.name == name and current not in self.formatting:
            self.stack.pop()
            return True
        for _outer in range(8):
            self._spend(len(self.stack) + len(self.formatting))
            element = None
            for entry in reversed(self.formatting):
                if entry is _MARKER:
                    break
                if entry.name == name:
                    element = entry
                    break
            if element is None:
                return False
            if element not in self.stack:
                self.formatting.remove(element)
                return True
            if not self._in_scope_node(element):
                return True
            index = self.stack.index(element)
            furthest = next((node for node in self.stack[index + 1:] if node.name in _SPECIAL),
                            None)
            if furthest is None:
                del self.stack[index:]
                self.formatting.remove(element)
                return True
            ancestor = self.stack[index - 1]
            bookmark = _Bookmark()
            self.formatting.insert(self.formatting.index(element) + 1, bookmark)
            node = last = furthest
            node_index = self.stack.index(furthest)
            inner = 0
            while True:
                inner += 1
                node_index -= 1
                node = self.stack[node_index]
                if node is element:
                    break
                if inner > 3 and node in self.formatting:
                    self.formatting.remove(node)
                if node not in self.formatting:
                    del self.stack[node_index]
                    continue
                clone = _Node(node.name, node.attributes)
                self._count()
                self.formatting[self.formatting.index(node)] = clone
                self.stack[node_index] = clone
                node = clone
                if last is furthest:
                    self.formatting.remove(bookmark)
                    self.formatting.insert(self.formatting.index(clone) + 1, bookmark)
                self._append(node, last)
                last = node
            if self.foster and ancestor.name in _FOSTER_TARGETS:
                parent, before = self._foster_place()
                if before is None:
                    self._append(parent, last)
                else:
                    self._insert_before(parent, last, before)
            else:
                self._append(ancestor, last)
            clone = _Node(element.name, element.attributes)
            self._count()
            for child in furthest.children:
                if isinstance(child, _Node):
                    child.parent = clone
            clone.children, furthest.children = furthest.children, []
            self._spend(len(clone.children))
            self._append(furthest, clone)
            self.formatting.remove(element)
            self.formatting[self.formatting.index(bookmark)] = clone
            self.stack.remove(element)
            self.stack.insert(self.stack.index(furthest) + 1, clone)
        return True

    def _in_scope_node(self, target):
        for node in reversed(self.stack):
            if node is target:
                return True
            if node.name in _SCOPE:
                return False
        return False

    # -- insertion modes ------------------------------------------------------------------------

    def _initial(self, token):
        if token[0] == _TEXT:  # leading whitespace is ignored
            token = (_TEXT, token[1].lstrip(_WHITESPACE))
            if not token[1]:
                return False
        self.insertion = self._before_html
        if token[0] == _DOCTYPE_TOKEN:
            self.mode = document_mode(*token[1:])
            return False
        self.mode = "quirks"
        self.process(token)
        return False

    def _before_html(self, token):
        kind = token[0]
        if kind == _TEXT:
            token = (_TEXT, token[1].lstrip(_WHITESPACE))
            if not token[1]:
                return False
        if kind == _DOCTYPE_TOKEN:
            return False
        if kind == _END and token[1] not in ("head", "body", "html", "br"):
            return False
        is_html = kind == _START and token[1] == "html"
        self.html = _Node("html", token[2] if is_html else ())
        self._count()
        self._append(self.document, self.html)
        self.stack.append(self.html)
        self.insertion = self._before_head
        if not is_html:
            self.process(token)
        return False

    def _before_head(self, token):
        kind = token[0]
        if kind == _TEXT:
            token = (_TEXT, token[1].lstrip(_WHITESPACE))
            if not token[1]:
                return False
        if kind == _DOCTYPE_TOKEN:
            return False
        if kind == _START and token[1] == "html":
            return self._in_body(token)
        if kind == _END and token[1] not in ("head", "body", "html", "br"):
            return False
        is_head = kind == _START and token[1] == "head"
        self.head = self._insert(_Node("head", token[2] if is_head else ()))
        self.insertion = self._in_head
        if not is_head:
            self.process(token)
        return False

    def _in_head(self, token):
        kind = token[0]
        if kind == _TEXT:
            token = self._leading_whitespace(token)
            if token is None:
                return False
        elif kind == _DOCTYPE_TOKEN:
            return False
        elif kind == _START:
            name = token[1]
            if name == "html":
                return self._in_body(token)
            if name in ("base", "basefont", "bgsound", "link", "meta"):
                self._element(token, push=False)
                return False
            if name in ("title", "style", "noframes", "script", "noscript"):
                self._raw_element(token)
                return False
            if name == "head":
                return False
        elif kind == _END:
            name = token[1]
            if name == "head":
                self.stack.pop()
                self.insertion = self._after_head
                return False
            if name not in ("body", "html", "br"):
                return False
        if self.stack[-1] is self.head:
            self.stack.pop()
        self.insertion = self._after_head
        self.process(token)
        return False

    def _leading_whitespace(self, token):
        """Insert a text token's leading whitespace; the rest (None: nothing)."""
        text = token[1]
        stripped = text.lstrip(_WHITESPACE)
        if len(stripped) < len(text):
            self._insert_text(text[:len(text) - len(stripped)])
        return (_TEXT, stripped) if stripped else None

    def _raw_element(self, token):
        """An element whose content the tokenizer reads as text: its text and end tag follow."""
        self._element(token)
        self.original = self.insertion
        self.insertion = self._text_mode

    def _text_mode(self, token):
        if token[0] == _TEXT:
            self._insert_text(token[1])
            return False
        if token[0] == _END:
            self.stack.pop()
        self.insertion = self.original
        return token[0] != _END

    def _after_head(self, token):
        kind = token[0]
        if kind == _TEXT:
            token = self._leading_whitespace(token)
            if token is None:
                return False
        elif kind == _DOCTYPE_TOKEN:
            return False
        elif kind == _START:
            name = token[1]
            if name == "html":
                return self._in_body(token)
            if name == "body":
                self.body = self._element(token)
                self.insertion = self._in_body
                return False
            if name in _HEAD_CONTENT:
                self.stack.append(self.head)
                self._in_head(token)
                if self.head in self.stack:
                    self.stack.remove(self.head)
                return False
            if name in ("head", "frameset", "frame"):
                return False
        elif kind == _END and token[1] not in ("body", "html", "br"):
            return False
        self.body = self._insert(_Node("body"))
        self.insertion = self._in_body
        self.process(token)
        return False

    def _in_body(self, token):
        kind = token[0]
        if kind == _TEXT:
            text = token[1]
            if text:
                self._reconstruct()
                self._insert_text(text)
            return False
        if kind == _START:
            return self._in_body_start(token)
        if kind == _END:
            return self._in_body_end(token[1])
        return False

    def _in_body_start(self, token):
        name = token[1]
        stack = self.stack
        if name == "html":
            for key, value in token[2]:
                self.html.attributes.setdefault(key, value)
        elif name in _HEAD_CONTENT:
            return self._in_head(token)
        elif name == "body":
            if len(stack) > 1 and stack[1].name == "body":
                for key, value in token[2]:
                    stack[1].attributes.setdefault(key, value)
        elif name in ("frameset", "frame", "head") or name in _TABLE_PARTS:
            pass
        elif name in _CLOSES_P:
            self._close_p_in_button_scope()
            self._element(token)
        elif name in _HEADINGS:
            self._close_p_in_button_scope()
            if stack[-1].name in _HEADINGS:
                stack.pop()
            self._element(token)
        elif name in ("pre", "listing"):
            self._close_p_in_button_scope()
            self._element(token)
            self.skip_newline = True
        elif name == "form":
            if self.form is None:
                self._close_p_in_button_scope()
                self.form = self._element(token)
        elif name in ("li", "dd", "dt"):
            group = ("li",) if name == "li" else ("dd", "dt")
            for node in reversed(stack):
                if node.name in group:
                    self._generate_implied_end_tags(node.name)
                    self._pop_until(node.name)
                    break
                if node.name in _SPECIAL and node.name not in ("address", "div", "p"):
                    break
            self._close_p_in_button_scope()
            self._element(token)
        elif name == "plaintext":
            self._close_p_in_button_scope()
            self._element(token)
        elif name == "button":
            if self._in_scope(("button",)):
                self._generate_implied_end_tags()
                self._pop_until("button")
            self._reconstruct()
            self._element(token)
        elif name == "a":
            for entry in reversed(self.formatting):
                if entry is _MARKER:
                    break
                if entry.name == "a":
                    self._adoption_agency("a")
                    if entry in self.formatting:
                        self.formatting.remove(entry)
                    if entry in stack:
                        stack.remove(entry)
                    break
            self._reconstruct()
            self._push_formatting(self._element(token))
        elif name in _FORMATTING:
            self._reconstruct()
            if name == "nobr" and self._in_scope(("nobr",)):
                self._adoption_agency("nobr")
                self._reconstruct()
            self._push_formatting(self._element(token))
        elif name in ("applet", "marquee", "object"):
            self._reconstruct()
            self._element(token)
            self.formatting.append(_MARKER)
        elif name == "table":
            if self.mode != "quirks":
                self._close_p_in_button_scope()
            self._element(token)
            self.insertion = self._in_table
        elif name in ("area", "br", "embed", "img", "keygen", "wbr", "input"):
            self._reconstruct()
            self._element(token, push=False)
        elif name in ("param", "source", "track"):
            self._element(token, push=False)
        elif name == "hr":
            self._close_p_in_button_scope()
            self._element(token, push=False)
        elif name == "image":
            return self._in_body_start((_START, "img", token[2], token[3]))
        elif name == "textarea":
            self._raw_element(token)
            self.skip_newline = True
        elif name == "xmp":
            self._close_p_in_button_scope()
            self._reconstruct()
            self._raw_element(token)
        elif name in ("iframe", "noembed", "noscript"):
            self._raw_element(token)
        elif name == "select":
            self._reconstruct()
            self._element(token)
            self.insertion = (self._in_select_in_table if self.insertion in (
                self._in_table, self._in_caption, self._in_table_body, self._in_row,
                self._in_cell) else self._in_select)
        elif name in ("optgroup", "option"):
            if stack[-1].name == "option":
                stack.pop()
            self._reconstruct()
            self._element(token)
        elif name in ("rb", "rtc", "rp", "rt"):
            if self._in_scope(("ruby",)):
                self._generate_implied_end_tags("rtc" if name in ("rp", "rt") else None)
            self._element(token)
        elif name in ("math", "svg"):
            self._reconstruct()
            self._element(token, push=not token[3])
            if not token[3]:
                self.foreign_root = stack[-1]
                self.original = self.insertion
                self.insertion = self._in_foreign
        else:
            self._reconstruct()
            self._element(token, push=name not in _VOID)
        return False

    def _in_foreign(self, token):
        """Inside ``<svg>`` or ``<math>``: elements nest as written (``/>`` closes) until the
        root's end tag or an HTML start tag that breaks out of it."""
        root = self.foreign_root
        kind = token[0]
        if kind == _TEXT:
            self._insert_text(token[1])
            return False
        if kind == _START:
            breakout = token[1] in _FOREIGN_BREAKOUT or (
                token[1] == "font" and any(key in ("color", "face", "size")
                                           for key, _value in token[2]))
            if not breakout:
                self._element(token, push=not token[3])
                return False
        elif kind == _END:
            for index in range(len(self.stack) - 1, self.stack.index(root) - 1, -1):
                if self.stack[index].name == token[1]:
                    del self.stack[index:]
                    break
            if root in self.stack:
                return False
            self.insertion = self.original
            return False
        if root in self.stack:
            del self.stack[self.stack.index(root):]
        self.insertion = self.original
        return True

    def _in_body_end(self, name):
        stack = self.stack
        if name in ("body", "html"):
            if self._in_scope(("body",)):
                self.insertion = self._after_body
                return name == "html"
        elif name in _BLOCK_END:
            if self._in_scope((name,)):
                self._generate_implied_end_tags()
                self._pop_until(name)
        elif name == "form":
            node, self.form = self.form, None
            if node is not None and self._in_scope_node(node):
                self._generate_implied_end_tags()
                stack.remove(node)
        elif name == "p":
            if not self._in_scope(("p",), _BUTTON_SCOPE):
                self._element((_START, "p", ()))
            self._close_p()
        elif name == "li":
            if self._in_scope(("li",), _LIST_SCOPE):
                self._generate_implied_end_tags("li")
                self._pop_until("li")
        elif name in ("dd", "dt"):
            if self._in_scope((name,)):
                self._generate_implied_end_tags(name)
                self._pop_until(name)
        elif name in _HEADINGS:
            if self._in_scope(_HEADINGS):
                self._generate_implied_end_tags()
                self._pop_until(*_HEADINGS)
        elif name in _FORMATTING:
            if not self._adoption_agency(name):
                self._any_other_end(name)
        elif name in ("applet", "marquee", "object"):
            if self._in_scope((name,)):
                self._generate_implied_end_tags()
                self._pop_until(name)
                self._clear_formatting_to_marker()
        elif name == "br":
            return self._in_body_start((_START, "br", (), False))
        else:
            self._any_other_end(name)
        return False

    def _any_other_end(self, name):
        for index in range(len(self.stack) - 1, 0, -1):
            node = self.stack[index]
            if node.name == name:
                self._generate_implied_end_tags(name)
                del self.stack[self.stack.index(node):]
                return
            if node.name in _SPECIAL:
                return

    def _in_table(self, token):
        kind = token[0]
        if kind == _TEXT:
            if self.stack[-1].name in _FOSTER_TARGETS:
                self.pending_text = []
                self.original = self.insertion
                self.insertion = self._in_table_text
                return True
        elif kind == _START:
            name = token[1]
            if name == "caption":
                self._clear_to_context(("table", "template", "html"))
                self.formatting.append(_MARKER)
                self._element(token)
                self.insertion = self._in_caption
                return False
            if name == "colgroup":
                self._clear_to_context(("table", "template", "html"))
                self._element(token)
                self.insertion = self._in_column_group
                return False
            if name == "col":
                self._clear_to_context(("table", "template", "html"))
                self._element((_START, "colgroup", ()))
                self.insertion = self._in_column_group
                return True
            if name in _TABLE_SECTIONS:
                self._clear_to_context(("table", "template", "html"))
                self._element(token)
                self.insertion = self._in_table_body
                return False
            if name in ("td", "th", "tr"):
                self._clear_to_context(("table", "template", "html"))
                self._element((_START, "tbody", ()))
                self.insertion = self._in_table_body
                return True
            if name == "table":
                if self._in_scope(("table",), _TABLE_SCOPE):
                    self._pop_until("table")
                    self._reset_insertion_mode()
                    return True
                return False
            if name in ("style", "script"):
                return self._in_head(token)
            if name == "input" and any(key == "type" and value.lower() == "hidden"
                                       for key, value in token[2]):
                self._element(token, push=False)
                return False
            if name == "form":
                if self.form is None:
                    self.form = self._element(token)
                    self.stack.pop()
                return False
        elif kind == _END:
            name = token[1]
            if name == "table":
                if self._in_scope(("table",), _TABLE_SCOPE):
                    self._pop_until("table")
                    self._reset_insertion_mode()
                return False
            if name in ("body", "caption", "col", "colgroup", "html", "tbody", "td", "tfoot",
                        "th", "thead", "tr"):
                return False
        else:
            return False
        self.foster = True
        try:
            self._in_body(token)
        finally:
            self.foster = False
        return False

    def _in_table_text(self, token):
        if token[0] == _TEXT:
            self.pending_text.append(token[1])
            return False
        self._flush_table_text()
        return True

    def _flush_table_text(self):
        text = "".join(self.pending_text)
        self.pending_text = []
        self.insertion = self.original
        if text.strip(_WHITESPACE):
            self.foster = True
            try:
                self._in_body((_TEXT, text))
            finally:
                self.foster = False
        else:
            self._insert_text(text)

    def _clear_to_context(self, names):
        while self.stack[-1].name not in names:
            self.stack.pop()

    def _in_caption(self, token):
        kind = token[0]
        name = token[1] if kind in (_START, _END) else None
        if kind == _END and name == "caption" or (
                kind == _START and name in _TABLE_PARTS) or (kind == _END and name == "table"):
            if not self._in_scope(("caption",), _TABLE_SCOPE):
                return False
            self._generate_implied_end_tags()
            self._pop_until("caption")
            self._clear_formatting_to_marker()
            self.insertion = self._in_table
            return name != "caption" or kind != _END
        if kind == _END and name in ("body", "col", "colgroup", "html", "tbody", "td", "tfoot",
                                     "th", "thead", "tr"):
            return False
        return self._in_body(token)

    def _in_column_group(self, token):
        kind = token[0]
        name = token[1] if kind in (_START, _END) else None
        if kind == _TEXT:
            token = self._leading_whitespace(token)
            if token is None:
                return False
        elif kind == _START and name == "html":
            return self._in_body(token)
        elif kind == _START and name == "col":
            self._element(token, push=False)
            return False
        elif kind == _END and name == "colgroup":
            if self.stack[-1].name == "colgroup":
                self.stack.pop()
                self.insertion = self._in_table
            return False
        elif (kind == _END and name == "col") or kind == _DOCTYPE_TOKEN:
            return False
        if self.stack[-1].name != "colgroup":
            return False
        self.stack.pop()
        self.insertion = self._in_table
        self.process(token)
        return False

    def _in_table_body(self, token):
        kind = token[0]
        name = token[1] if kind in (_START, _END) else None
        if kind == _START and name == "tr":
            self._clear_to_context(("tbody", "tfoot", "thead", "template", "html"))
            self._element(token)
            self.insertion = self._in_row
            return False
        if kind == _START and name in ("th", "td"):
            self._clear_to_context(("tbody", "tfoot", "thead", "template", "html"))
            self._element((_START, "tr", ()))
            self.insertion = self._in_row
            return True
        if kind == _END and name in _TABLE_SECTIONS:
            if self._in_scope((name,), _TABLE_SCOPE):
                self._clear_to_context(("tbody", "tfoot", "thead", "template", "html"))
                self.stack.pop()
                self.insertion = self._in_table
            return False
        if (kind == _START and name in ("caption", "col", "colgroup", "tbody", "tfoot",
                                        "thead")) or (kind == _END and name == "table"):
            if not self._in_scope(_TABLE_SECTIONS, _TABLE_SCOPE):
                return False
            self._clear_to_context(("tbody", "tfoot", "thead", "template", "html"))
            self.stack.pop()
            self.insertion = self._in_table
            return True
        if kind == _END and name in ("body", "caption", "col", "colgroup", "html", "td", "th",
                                     "tr"):
            return False
        return self._in_table(token)

    def _in_row(self, token):
        kind = token[0]
        name = token[1] if kind in (_START, _END) else None
        if kind == _START and name in ("th", "td"):
            self._clear_to_context(("tr", "template", "html"))
            self._element(token)
            self.insertion = self._in_cell
            self.formatting.append(_MARKER)
            return False
        if kind == _END and name == "tr":
            if self._in_scope(("tr",), _TABLE_SCOPE):
                self._clear_to_context(("tr", "template", "html"))
                self.stack.pop()
                self.insertion = self._in_table_body
            return False
        if (kind == _START and name in ("caption", "col", "colgroup", "tbody", "tfoot", "thead",
                                        "tr")) or (kind == _END and name == "table"):
            if not self._in_scope(("tr",), _TABLE_SCOPE):
                return False
            self._clear_to_context(("tr", "template", "html"))
            self.stack.pop()
            self.insertion = self._in_table_body
            return True
        if kind == _END and name in _TABLE_SECTIONS:
            if not self._in_scope((name,), _TABLE_SCOPE) or not self._in_scope(
                    ("tr",), _TABLE_SCOPE):
                return False
            self._clear_to_context(("tr", "template", "html"))
            self.stack.pop()
            self.insertion = self._in_table_body
            return True
        if kind == _END and name in ("body", "caption", "col", "colgroup", "html", "td", "th"):
            return False
        return self._in_table(token)

    def _in_cell(self, token):
        kind = token[0]
        name = token[1] if kind in (_START, _END) else None
        if kind == _END and name in ("td", "th"):
            if self._in_scope((name,), _TABLE_SCOPE):
                self._generate_implied_end_tags()
                self._pop_until(name)
                self._clear_formatting_to_marker()
                self.insertion = self._in_row
            return False
        if kind == _START and name in _TABLE_PARTS:
            if not self._in_scope(("td", "th"), _TABLE_SCOPE):
                return False
            self._close_cell()
            return True
        if kind == _END and name in _CELL_END_IGNORED:
            return False
        if kind == _END and name in ("table", "tbody", "tfoot", "thead", "tr"):
            if not self._in_scope((name,), _TABLE_SCOPE):
                return False
            self._close_cell()
            return True
        return self._in_body(token)

    def _close_cell(self):
        self._generate_implied_end_tags()
        self._pop_until("td", "th")
        self._clear_formatting_to_marker()
        self.insertion = self._in_row

    def _in_select(self, token):
        kind = token[0]
        name = token[1] if kind in (_START, _END) else None
        stack = self.stack
        if kind == _TEXT:
            self._insert_text(token[1])
        elif kind == _START:
            if name == "html":
                return self._in_body(token)
            if name == "option":
                if stack[-1].name == "option":
                    stack.pop()
                self._element(token)
            elif name == "optgroup":
                if stack[-1].name == "option":
                    stack.pop()
                if stack[-1].name == "optgroup":
                    stack.pop()
                self._element(token)
            elif name == "hr":
                if stack[-1].name == "option":
                    stack.pop()
                if stack[-1].name == "optgroup":
                    stack.pop()
                self._element(token, push=False)
            elif name in ("select", "input", "keygen", "textarea") and self._in_select_scope(
                    "select"):
                self._pop_until("select")
                self._reset_insertion_mode()
                return name != "select"
            elif name == "script":
                return self._in_head(token)
        elif kind == _END:
            if name == "optgroup":
                if (stack[-1].name == "option" and len(stack) > 1
                        and stack[-2].name == "optgroup"):
                    stack.pop()
                if stack[-1].name == "optgroup":
                    stack.pop()
            elif name == "option":
                if stack[-1].name == "option":
                    stack.pop()
            elif name == "select" and self._in_select_scope("select"):
                self._pop_until("select")
                self._reset_insertion_mode()
        return False

    def _in_select_in_table(self, token):
        kind = token[0]
        if kind in (_START, _END) and token[1] in ("caption", "table", "tbody", "tfoot",
                                                   "thead", "tr", "td", "th"):
            if kind == _END and not self._in_scope((token[1],), _TABLE_SCOPE):
                return False
            self._pop_until("select")
            self._reset_insertion_mode()
            return True
        return self._in_select(token)

    def _after_body(self, token):
        kind = token[0]
        if kind == _TEXT:
            # whitespace goes in where the body ended, without the formatting elements a
            # browser reconstructs for text in the body (Blink does not there)
            token = self._leading_whitespace(token)
            if token is None:
                return False
            self.insertion = self._in_body
            self.process(token)
            return False
        if kind == _DOCTYPE_TOKEN:
            return False
        if kind == _START and token[1] == "html":
            return self._in_body(token)
        if kind == _END and token[1] == "html":
            self.insertion = self._after_after_body
            return False
        self.insertion = self._in_body
        return True

    def _after_after_body(self, token):
        kind = token[0]
        if kind == _DOCTYPE_TOKEN:
            return False
        if kind == _TEXT:
            return self._after_body(token)
        if kind == _START and token[1] == "html":
            return self._in_body(token)
        self.insertion = self._in_body
        return True

    def _reset_insertion_mode(self):
        for index in range(len(self.stack) - 1, -1, -1):
            node = self.stack[index]
            last = index == 0
            name = node.name
            if name == "select":
                for ancestor in reversed(self.stack[:index]):
                    if ancestor.name == "table":
                        self.insertion = self._in_select_in_table
                        return
                self.insertion = self._in_select
                return
            if name in ("td", "th") and not last:
                self.insertion = self._in_cell
                return
            mode = {"tr": self._in_row, "tbody": self._in_table_body,
                    "thead": self._in_table_body, "tfoot": self._in_table_body,
                    "caption": self._in_caption, "colgroup": self._in_column_group,
                    "table": self._in_table, "body": self._in_body}.get(name)
            if mode is not None:
                self.insertion = mode
                return
            if name == "head" and not last:
                self.insertion = self._in_head
                return
            if name == "html":
                self.insertion = self._before_head if self.head is None else self._after_head
                return
        self.insertion = self._in_body

    # -- to lxml --------------------------------------------------------------------------------

    def to_lxml(self):
        """The tree as lxml elements. A name XML cannot hold becomes ``invalid_`` (an unknown
        element: :mod:`core.html` unwraps it, as any name that is not a plain tag name); an
        attribute XML cannot name is left out (the cleaning drops those anyway)."""
        root = lxml.html.Element("html", _xml_attributes(self.html))
        work = [(self.html, root)]
        while work:
            node, element = work.pop()
            last = None
            for child in node.children:
                if isinstance(child, _Text):
                    text = "".join(child.parts)
                    if last is None:
                        element.text = (element.text or "") + text
                    else:
                        last.tail = (last.tail or "") + text
                    continue
                name = child.name if _XML_NAME.fullmatch(child.name) else "invalid_"
                last = etree.SubElement(element, name, _xml_attributes(child))
                work.append((child, last))
        return root


_XML_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_.\-]*")


def _xml_attributes(node):
    attributes = node.attributes
    if all(_XML_NAME.fullmatch(key) for key in attributes):
        return attributes
    return {key: value for key, value in attributes.items() if _XML_NAME.fullmatch(key)}
