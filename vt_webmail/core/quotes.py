"""Quoted text in a mail body: found, and folded away behind a "Show quoted text" toggle.

A reply quotes what it answers; in a conversation the quoted text is the mail just above, so a
reader shows it folded (as Gmail, Thunderbird and Roundcube do) and lets the user unfold it.

What counts as quoted, on the HTML a body becomes (``core.html``; plain text turns its ``>``
lines into ``<blockquote>`` there):

- a ``<blockquote>`` (not one inside a quote already: the outermost is folded);
- Gmail's ``div.gmail_quote`` / ``div.gmail_quote_container``, Yahoo's ``div.yahoo_quoted``,
  Apple Mail's ``blockquote type=cite`` (a blockquote anyway), Thunderbird's
  ``div.moz-cite-prefix`` (the attribution, folded with the blockquote after it);
- Outlook's reply header (``div#divRplyFwdMsg``, ``div#appendonsend``, or a ``<hr>`` /
  border-top ``<div>`` followed by "From:" ... "Sent:" lines): it and everything after it at its
  level are the quoted mail;
- the attribution line just before a quote ("On Mon, 2 Mar 2026, Jane wrote:", "Le ... a
  écrit :", "Am ... schrieb ...:"), folded with it.

A fold is ``<details class="o_vt_webmail_quote"><summary>...</summary>...</details>``: it opens
and closes with no script, in the page and in the sandboxed frame alike. Pure: no Odoo.
"""

import re

import lxml.html
from lxml import etree

QUOTE_CLASS = "o_vt_webmail_quote"
SUMMARY = "Show quoted text"

_QUOTE_CLASSES = frozenset({"gmail_quote", "gmail_quote_container", "yahoo_quoted",
                            "moz-cite-prefix"})
_OUTLOOK_IDS = frozenset({"divrplyfwdmsg", "appendonsend"})
#: "On <date>, <name> wrote:" and its usual translations, at the end of a text
ATTRIBUTION = re.compile(
    r"(?:^|\n)\s*(?:On\s.{4,300}?\swrote|Le\s.{4,300}?\sa\s[ée]crit|Am\s.{4,300}?\sschrieb"
    r"|El\s.{4,300}?\sescribi[óo]|Il\s.{4,300}?\sha\sscritto|Op\s.{4,300}?\sschreef)"
    r"[^\n]{0,300}?:\s*$",
    re.IGNORECASE | re.DOTALL)
#: Outlook's header of the quoted mail, as text
OUTLOOK_HEADER = re.compile(r"^\s*(?:From|De|Von|Van|Da)\s*:.{1,500}?"
                            r"(?:Sent|Envoyé|Gesendet|Verzonden|Inviato|Date)\s*:",
                            re.IGNORECASE | re.DOTALL)


def _classes(element):
    return set((element.get("class") or "").lower().split())


def _is_quote(element):
    """True for an element that is quoted text as a whole."""
    if not isinstance(element.tag, str):
        return False
    tag = element.tag.lower()
    if tag == "blockquote":
        return True
    return tag == "div" and bool(_classes(element) & _QUOTE_CLASSES)


def _starts_outlook_quote(element):
    """True for an Outlook reply header: it and what follows it are the quoted mail."""
    if not isinstance(element.tag, str):
        return False
    if (element.get("id") or "").lower() in _OUTLOOK_IDS:
        return True
    tag = element.tag.lower()
    if tag == "hr":
        following = element.getnext()
        return following is not None and bool(
            OUTLOOK_HEADER.match(following.text_content() or ""))
    if tag == "div" and "border-top" in (element.get("style") or "").replace(" ", "").lower():
        return bool(OUTLOOK_HEADER.match(element.text_content() or ""))
    return False


def _fold(parent, start, end, summary):
    """Move ``parent``'s children ``start .. end`` (inclusive indexes) into a new fold."""
    children = list(parent)[start:end + 1]
    details = etree.Element("details")
    details.set("class", QUOTE_CLASS)
    label = etree.SubElement(details, "summary")
    label.text = summary
    parent.insert(start, details)
    # the tail after the last folded element stays after the fold
    details.tail = children[-1].tail
    children[-1].tail = None
    for child in children:
        details.append(child)
    return details


def _take_attribution(parent, index, summary):
    """Fold the attribution line that ends the text just before ``parent[index]``, if any:
    return the index at which the fold should start (a ``<div>``/``<p>`` holding only the
    attribution is folded along), moving a trailing attribution text into the fold."""
    previous = parent[index - 1] if index > 0 else None
    if previous is None:
        text = parent.text or ""
    elif previous.tag in ("div", "p", "span") and len(previous) <= 1 \
            and ATTRIBUTION.search(previous.text_content() or "") \
            and ATTRIBUTION.search(previous.text_content() or "").start() <= 1:
        return index - 1, None
    else:
        text = previous.tail or ""
    match = ATTRIBUTION.search(text)
    if not match:
        return index, None
    return index, (text, match)


def _fold_children(parent, summary, counter):
    children = list(parent)
    index = 0
    while index < len(children):
        child = children[index]
        if not isinstance(child.tag, str):
            index += 1
            continue
        if _starts_outlook_quote(child):
            start = list(parent).index(child)
            _fold(parent, start, len(parent) - 1, summary)
            counter[0] += 1
            return
        if _is_quote(child):
            position = list(parent).index(child)
            end = position
            # Thunderbird: the attribution div, then its blockquote
            if "moz-cite-prefix" in _classes(child):
                following = child.getnext()
                if following is not None and isinstance(following.tag, str) \
                        and following.tag.lower() == "blockquote":
                    end = position + 1
                    index += 1
            start, text_match = _take_attribution(parent, position, summary)
            details = _fold(parent, start, end, summary)
            if text_match:
                text, match = text_match
                attribution = text[match.start():].strip()
                kept = text[:match.start()]
                previous = details.getprevious()
                if previous is None:
                    parent.text = kept
                else:
                    previous.tail = kept
                line = etree.Element("div")
                line.text = attribution
                details.insert(1, line)
            counter[0] += 1
            children = list(parent)
            index = children.index(details) + 1
            continue
        _fold_children(child, summary, counter)
        index += 1


def fold_quotes(html, summary=SUMMARY):
    """Fold the quoted text of a body (see the module docstring).

    :param html: the body as HTML (a fragment or a document); ``None``/empty give ``""``
    :param summary: the label of each fold's toggle
    :returns: ``(html, count)``: the body with its quotes folded, as a fragment (the body's
        content), and how many folds were made (0: ``html`` comes back unchanged)
    """
    if not html or not html.strip():
        return "", 0
    try:
        root = lxml.html.fragment_fromstring(html, create_parent="div")
    except (etree.ParserError, ValueError):
        return html, 0
    body = root
    # a whole document parsed as a fragment keeps its <body>
    for found in root.iter("body"):
        body = found
        break
    counter = [0]
    _fold_children(body, summary, counter)
    if not counter[0]:
        return html, 0
    parts = [body.text or ""] if body.text else []
    parts += [lxml.html.tostring(child, encoding="unicode") for child in body]
    return "".join(parts), counter[0]


def split_text(text):
    """A plain-text body cut into what the sender wrote and what they quoted.

    :param text: str
    :returns: a list of ``(quoted, text)`` pairs in order; ``quoted`` is True for a run of
        ``>`` lines, together with the attribution line just before it
    """
    lines = (text or "").splitlines()
    runs = []
    for line in lines:
        quoted = line.lstrip().startswith(">")
        if runs and runs[-1][0] == quoted:
            runs[-1][1].append(line)
        else:
            runs.append((quoted, [line]))
    # the attribution ends the text before a quote: it goes with the quote
    result = []
    for index, (quoted, run) in enumerate(runs):
        if not quoted and index + 1 < len(runs):
            cut = len(run)
            while cut > 0 and not run[cut - 1].strip():
                cut -= 1
            if cut and ATTRIBUTION.search("\n" + run[cut - 1]):
                if run[:cut - 1]:
                    result.append((False, "\n".join(run[:cut - 1])))
                runs[index + 1] = (True, run[cut - 1:] + runs[index + 1][1])
                continue
        result.append((quoted, "\n".join(run)))
    merged = []
    for quoted, chunk in result:
        if merged and merged[-1][0] == quoted:
            merged[-1] = (quoted, merged[-1][1] + "\n" + chunk)
        else:
            merged.append((quoted, chunk))
    return merged
