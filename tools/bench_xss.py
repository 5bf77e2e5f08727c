#!/usr/bin/env python3
"""XSS payloads through Webmail's whole pipeline, rendered in headless Chromium as the web
client shows a mail, with every way a script could show itself watched.

Each payload is a mail body: ``core.html.prepare_body(..., allow_remote_images=True,
keep_style=True)`` (remote content allowed: the widest setting), the model's last pass
(``_frame_html``: Odoo's ``html_sanitize``), ``core.html.frame_document``, served with
``core.html.frame_headers`` and framed with ``core.html.FRAME_SANDBOX``, exactly as the route
and the form do; 60 frames to a parent page. The payloads:

* the repository's: ``testing/samples.py`` (``HOSTILE_BODY``, ``XSS_PAYLOADS`` used by
  tests/core/test_html.py, ``STYLED_BODY``) and ``tests/samples/hostile_html.eml``;
* generated here (public cheat sheets are not copied: PortSwigger's data has no licence, and
  OWASP's sheet is the source of the vector shapes below, not of their text):
  every element name of HTML, SVG and MathML x every event handler attribute Chromium knows
  (read from Chromium itself: the ``on*`` properties of its DOM), each built to fire without
  a click (``autofocus``, a broken ``src``, a CSS animation); every URL attribute x element x
  ``javascript:`` / ``vbscript:`` / ``data:`` spellings (entities, tabs, newlines, case,
  spaces); CSS in ``style`` attributes and sheets (``expression()``, ``url(javascript:)``,
  bindings, ``@import``, escapes, sheets closing their element); parser differentials
  (raw-text and foreign elements wrapping markup in attributes, comments, CDATA).

A script that ran would call ``top.__xss(n)`` (the parent page's instrument) or open a
dialog. Counted: calls of the instrument, dialogs (DevTools ``Page.javascriptDialogOpening``:
alert, confirm, prompt, print...), CSP violations (DevTools ``Audits`` issues, and
``securitypolicyviolation`` events listened for from the parent), and live markup left in
each frame's DOM: an ``on*`` attribute, a script, iframe, frame, object, embed, applet,
form, base or portal element, a ``<meta http-equiv=refresh>``, a ``javascript:``,
``vbscript:`` or ``data:text/html`` URL. The same payloads unsanitised (same frame, scripts
off) and three frames built to fail (scripts allowed) check that the instruments see what
they should.

    /opt/odoo18-venv/bin/python tools/bench_xss.py            # everything (about 10 minutes)
    /opt/odoo18-venv/bin/python tools/bench_xss.py --quick    # every 20th generated payload
"""

import argparse
import base64
import itertools
import json
import sys
import time
from pathlib import Path

TOOLS = Path(__file__).resolve().parent
sys.path.insert(0, str(TOOLS))

from _frame_lab import REPO, Chrome, Lab, bootstrap  # noqa: E402

BATCH = 60
HOOK = "top.__xss({n})"
#: HTML's elements, obsolete ones, a few of SVG and MathML, and unknown ones.
_TAG_NAMES = """
a abbr acronym address applet area article aside audio b base basefont bdi bdo bgsound big
blink blockquote body br button canvas caption center cite code col colgroup data datalist dd
del details dfn dialog dir div dl dt em embed fieldset figcaption figure font footer form
frame frameset h1 h6 head header hgroup hr html i iframe image img input ins isindex kbd
keygen label legend li link listing main map mark marquee menu menuitem meta meter multicol
nav nextid nobr noembed noframes noscript object ol optgroup option output p param picture
plaintext portal pre progress q rb rp rt rtc ruby s samp script search section select slot
small source spacer span strike strong style sub summary sup table tbody td template textarea
tfoot th thead time title tr track tt u ul var video wbr xmp svg animate animatetransform set
foreignobject use math maction mtext mglyph annotation-xml x custom-element
"""
TAGS = tuple(_TAG_NAMES.split())
#: Attributes whose value is a URL somewhere, and elements that take them.
URL_ATTRIBUTES = ("href", "src", "action", "formaction", "data", "background", "poster",
                  "srcdoc", "xlink:href", "lowsrc", "dynsrc", "code", "codebase", "cite",
                  "longdesc", "ping", "icon", "manifest", "srcset", "archive", "usemap")
URL_TAGS = ("a", "area", "img", "iframe", "frame", "embed", "object", "form", "button",
            "input", "isindex", "base", "link", "video", "audio", "source", "track", "body",
            "table", "td", "image", "svg", "math", "script", "applet", "meta", "blockquote")
SCHEMES = (
    "javascript:{hook}", "JaVaScRiPt:{hook}", " \t javascript:{hook}", "java\tscript:{hook}",
    "java\nscript:{hook}", "java&#x09;script:{hook}", "java&#10;script:{hook}",
    "&#106;avascript:{hook}", "&#x6A;&#x61;&#x76;&#x61;&#x73;&#x63;&#x72;&#x69;&#x70;&#x74;:{hook}",
    "&#0000106&#0000097vascript:{hook}", "javascript&colon;{hook}", "javascript&#58;{hook}",
    "\x01javascript:{hook}", "vbscript:{hook}", "livescript:{hook}",
    "data:text/html,<script>{hook}</script>",
    "data:text/html;base64,{b64}", "data:image/svg+xml,<svg onload={hook}>",
    "data:application/xhtml+xml,<x:script xmlns:x='http://www.w3.org/1999/xhtml'>{hook}"
    "</x:script>",
)
CSS_VECTORS = (
    "width: expression({hook})", "background: url(javascript:{hook})",
    "background: url('javascript:{hook}')", "behavior: url(x.htc)",
    "-moz-binding: url(data:text/xml,x)", "width: \\65 xpression({hook})",
    "background: u\\72l(javascript:{hook})", "background: url(\"jav\\61script:{hook}\")",
    "list-style-image: url(javascript:{hook})", "background-image: image-set('javascript:x' 1x)",
    "xss: expr/**/ession({hook})", "content: '\\3c/style\\3e\\3cscript\\3e{hook}\\3c/script\\3e'",
)
CSS_SHEETS = (
    "@import 'javascript:{hook}';", "@import url(data:text/css,*{{x:expression({hook})}});",
    "</style><script>{hook}</script><style>", "</style><img src=x onerror={hook}>",
    "*{{background:url(javascript:{hook})}}", "@namespace url(javascript:{hook});",
    "<!--</style><img src=x onerror={hook}>-->", "*{{behavior:url(#default#time2)}}",
)
WRAPPERS = ("noscript", "title", "textarea", "xmp", "style", "iframe", "noembed", "noframes",
            "template", "svg", "math", "select", "table", "plaintext", "object", "listing",
            "svg><desc", "math><mtext><table><mglyph", "svg><foreignobject", "math><mi")
WRAPPED = (
    '<{w}><p title="</{w}><img src=x onerror={hook}>"></{w}>',
    "<{w}><img src=x onerror={hook}></{w}>",
    "<{w}><!--</{w}><img src=x onerror={hook}>--></{w}>",
    "<{w}><![CDATA[</{w}><img src=x onerror={hook}>]]></{w}>",
    "<{w}><style></{w}><img src=x onerror={hook}></style></{w}>",
    '<{w}><a href="javascript:{hook}">x</a></{w}>',
)
OTHERS = (
    '<meta http-equiv="refresh" content="0;url=javascript:{hook}">',
    '<meta http-equiv="refresh" content="0; url=data:text/html,<script>{hook}</script>">',
    '<base href="javascript:{hook}//"><a href="/x">x</a>',
    '<form action="javascript:{hook}"><input type=submit id=s></form>',
    '<form id=f></form><button form=f formaction="javascript:{hook}">x</button>',
    '<img src=x onerror="{hook}" onerror="{hook}">', "<img src=x o&#110;error={hook}>",
    "<img/src=x/onerror={hook}>", "<img src=x onerror\t={hook}>", '<img src="x` `<script>{hook}'
    '</script>"` `>', "<scr<script>ipt>{hook}</scr</script>ipt>", "<<script>{hook}//<</script>",
    "<script>{hook}</script>", "<script src=data:,{hook}></script>",
    "<svg><script>{hook}</script></svg>", "<svg><script xlink:href=data:,{hook}></script></svg>",
    '<svg><a xlink:href="javascript:{hook}"><text y=20>x</text></a></svg>',
    "<svg><animate onbegin={hook} attributeName=x dur=1s>",
    "<svg><set attributeName=href to=javascript:{hook} /></svg>",
    '<math><maction actiontype="statusline" xlink:href="javascript:{hook}">x</maction></math>',
    '<iframe srcdoc="<script>{hook}</script>"></iframe>',
    '<object data="data:text/html,<script>{hook}</script>"></object>',
    "<embed src=javascript:{hook}>", '<a href="javascript:{hook}" id=a>click</a>',
    "<details open ontoggle={hook}>", "<body onload={hook}>", "<frameset onload={hook}>",
    "<style>@keyframes x{{}}</style><p style=animation-name:x onanimationstart={hook}>x</p>",
    "<input autofocus onfocus={hook}>", "<video><source onerror={hook}></video>",
    "<marquee onstart={hook}>x</marquee>", "<isindex type=image src=1 onerror={hook}>",
    "<img src=1 onerror=&#x74;&#x6F;&#x70;.__xss({n})>", "<x onclick={hook}>click",
    "<!--[if gte IE 4]><script>{hook}</script><![endif]-->", "<a href=\"&#1;javascript:{hook}\">",
    "<div style=\"background:url(&quot;javascript:{hook}&quot;)\">x</div>",
    "<link rel=stylesheet href=\"data:text/css,*{{x:expression({hook})}}\">",
    "<template><img src=x onerror={hook}></template>", "<portal src=javascript:{hook}>",
    "<a href=\"javas&#99;ript:{hook}\">x</a>", "<img src=\"jav&#x0D;ascript:{hook}\">",
    "<div id=x tabindex=1 onfocus={hook} autofocus>x</div>", "<img src onerror={hook}>",
)
INSPECT = r"""
(() => {
  const live = /^(javascript:|vbscript:|livescript:|data:text\/html)/i;
  const urlAttributes = ['href', 'src', 'action', 'formaction', 'data', 'background',
                         'poster', 'xlink:href', 'srcdoc', 'code', 'codebase', 'lowsrc',
                         'dynsrc', 'ping', 'manifest'];
  const out = [];
  for (const frame of document.querySelectorAll('iframe')) {
    const doc = frame.contentDocument;
    const found = [];
    if (!doc || !doc.documentElement) {
      out.push([frame.dataset.key, ['no document']]);
      continue;
    }
    if (!String(doc.location.href).includes('/doc/')) {
      found.push('navigated:' + doc.location.href);
    }
    for (const el of doc.querySelectorAll('*')) {
      const tag = el.localName.toLowerCase();
      if (['script', 'iframe', 'frame', 'object', 'embed', 'applet', 'form', 'base', 'portal',
           'frameset'].includes(tag)) found.push(tag);
      if (tag === 'meta' && /refresh/i.test(el.getAttribute('http-equiv') || '')) {
        found.push('meta refresh');
      }
      for (const attr of el.attributes) {
        const name = attr.name.toLowerCase();
        if (name.startsWith('on')) found.push(tag + '[' + name + ']');
        if (urlAttributes.includes(name) && live.test(attr.value.replace(/[\x00-\x20]/g, ''))) {
          found.push(tag + '[' + name + ']=' + attr.value.slice(0, 30));
        }
      }
    }
    out.push([frame.dataset.key, found]);
  }
  return JSON.stringify(out);
})()
"""
WATCH_VIOLATIONS = r"""
(() => { for (const f of document.querySelectorAll('iframe')) { try {
  f.contentDocument.addEventListener('securitypolicyviolation',
    () => { window.__violations = (window.__violations || 0) + 1; });
} catch (e) {} } return true; })()
"""


def events_of(chrome):
    """Every event handler attribute Chromium knows: the ``on*`` properties of its DOM, plus
    the SVG animation ones it handles as attributes only."""
    names = chrome.evaluate(
        "(() => { const s = new Set(); for (const o of [window, Document.prototype,"
        " Element.prototype, HTMLElement.prototype, SVGElement.prototype,"
        " HTMLBodyElement.prototype, HTMLFrameSetElement.prototype, HTMLMediaElement.prototype,"
        " HTMLVideoElement.prototype, (window.HTMLMarqueeElement || Object).prototype,"
        " XMLHttpRequestEventTarget.prototype, Animation.prototype])"
        " for (const k of Object.getOwnPropertyNames(o)) if (k.startsWith('on')) s.add(k);"
        " return [...s].sort(); })()")
    return sorted(set(names) | {"onbegin", "onend", "onrepeat", "onfocusin", "onfocusout",
                                "onstart", "onfinish", "onbounce"})


def payloads(events, samples, parse_message, quick):
    """``[(source, html)]``; ``{n}`` and ``{hook}`` filled with the payload's number."""
    fixed = [("repo: samples.HOSTILE_BODY", samples.HOSTILE_BODY),
             ("repo: samples.STYLED_BODY", samples.STYLED_BODY),
             ("repo: tests/samples/hostile_html.eml", parse_message(
                 (REPO / "vt_webmail/tests/samples/hostile_html.eml").read_bytes()).html)]
    fixed += [("repo: samples.XSS_PAYLOADS", payload) for payload in samples.XSS_PAYLOADS]
    generated = []
    for tag, event in itertools.product(TAGS, events):
        generated.append(("tag x event", (
            "<style>@keyframes vtx{{}}</style><" + tag + " id=vtx tabindex=1 autofocus src=x "
            "href=x style=\"animation-name:vtx;transition:color 1s\" " + event +
            "=\"{hook}\">x</" + tag + ">")))
    for tag, attribute, scheme in itertools.product(URL_TAGS, URL_ATTRIBUTES, SCHEMES):
        generated.append(("url attribute x element x scheme",
                          f'<{tag} {attribute}="{scheme}">x</{tag}>'))
    for vector in CSS_VECTORS:
        generated.append(("css: style attribute", f'<div style="{vector}">x</div>'))
        generated.append(("css: style sheet", f"<style>p {{ {vector} }}</style><p>x</p>"))
    generated += [("css: style sheet", f"<style>{sheet}</style><p>x</p>") for sheet in CSS_SHEETS]
    for wrapper, shape in itertools.product(WRAPPERS, WRAPPED):
        closing = wrapper.split("><")[0]
        generated.append(("parser differential", shape.replace("</{w}>", f"</{closing}>")
                          .replace("{w}", wrapper)))
    generated += [("other", other) for other in OTHERS]
    if quick:
        generated = generated[::20]
    result = []
    for n, (source, template) in enumerate(fixed + generated):
        hook = HOOK.format(n=n)
        if source.startswith("repo"):  # written with alert(): the instrument instead
            result.append((source, template.replace("alert(", "top.__xss(")))
            continue
        b64 = base64.b64encode(f"<script>{hook}</script>".encode()).decode()
        result.append((source, template.replace("{hook}", hook).replace("{b64}", b64)
                       .replace("{n}", str(n)).replace("{{", "{").replace("}}", "}")))
    return result


def render(chrome, lab, keys):
    """Frame ``keys`` in one parent page; ``(findings by key, instrument calls, violations)``."""
    # the parent's load event waits for every frame's
    chrome.navigate(f"{lab.url}frames/{','.join(keys)}")
    chrome.evaluate(WATCH_VIOLATIONS)
    chrome.pump(0.6)  # autofocus, animations, transitions, late errors
    findings = dict(json.loads(chrome.evaluate(INSPECT)))
    calls = chrome.evaluate("window.__calls")
    violations = chrome.evaluate("window.__violations || 0")
    return findings, calls, violations


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="every 20th generated payload")
    args = parser.parse_args()
    core_html, frame_html, _page_html = bootstrap()
    from odoo.addons.vt_webmail.core.mime import parse_message
    from odoo.addons.vt_webmail.testing import samples

    lab = Lab()
    lab.frame_sandbox = core_html.FRAME_SANDBOX
    chrome = Chrome(1000, 800)
    chrome.send("Audits.enable")
    started = time.monotonic()
    try:
        lab.add("blank", "", [("Content-Type", "text/html")])
        chrome.navigate(f"{lab.url}frames/blank")
        events = events_of(chrome)
        corpus = payloads(events, samples, parse_message, args.quick)
        print(f"{len(corpus)} payloads ({len(events)} event handler names read from Chromium, "
              f"{len(TAGS)} element names)", flush=True)
        sources = {}
        for source, _html in corpus:
            sources[source] = sources.get(source, 0) + 1

        # the instruments, checked on frames built to fail
        controls = {
            "hook": ("<img src=x onerror=top.__xss('control')>", [
                ("Content-Type", "text/html")], "allow-scripts allow-same-origin"),
            "dialog": ("<script>alert('control')</script>", [("Content-Type", "text/html")],
                       "allow-scripts allow-modals"),
            "csp": ("<script>top.__xss('csp')</script>", [
                ("Content-Type", "text/html"), ("Content-Security-Policy", "script-src 'none'")],
                "allow-scripts allow-same-origin"),
        }
        for key, (body, headers, sandbox) in controls.items():
            lab.add(f"control-{key}", body, headers, sandbox)
        chrome.events.clear()
        _found, calls, violations = render(chrome, lab, [f"control-{k}" for k in controls])
        dialogs = sum(e["method"] == "Page.javascriptDialogOpening" for e in chrome.events)
        audits = sum(e["method"] == "Audits.issueAdded" and e["params"]["issue"]["code"]
                     == "ContentSecurityPolicyIssue" for e in chrome.events)
        print(f"instruments on frames built to fail: hook calls {calls}, dialogs {dialogs}, "
              f"CSP issues {audits} (+{violations} events)")
        if calls != ["control"] or not dialogs or not audits:
            print("the instruments do not see what they should: results not trustworthy")
            return 2

        totals = {"pipeline": [0, 0, 0, 0, 0], "raw": [0, 0, 0, 0, 0]}
        examples = {"pipeline": [], "raw": []}
        headers = core_html.frame_headers(lab.url, allow_remote_images=True)
        raw_headers = [("Content-Type", "text/html; charset=utf-8"),
                       ("Content-Security-Policy", "default-src 'none'; style-src "
                                                   "'unsafe-inline'; img-src data:")]
        # unsanitised, every 20th payload is enough to show the inspector finds live markup
        chosen = {"pipeline": list(enumerate(corpus)), "raw": list(enumerate(corpus))[::20]}
        for mode in ("pipeline", "raw"):
            for start in range(0, len(chosen[mode]), BATCH):
                lab.documents.clear()
                keys = []
                for n, (_source, html) in chosen[mode][start:start + BATCH]:
                    if mode == "pipeline":
                        prepared = core_html.prepare_body(html, {}, True, keep_style=True)
                        document = core_html.frame_document(frame_html(prepared.html))
                        lab.add(f"{mode}-{n}", document, headers)
                    else:  # the payload as sent, scripts off: does the inspector see it?
                        lab.add(f"{mode}-{n}", html, raw_headers, "allow-same-origin")
                    keys.append(f"{mode}-{n}")
                chrome.events.clear()
                findings, calls, violations = render(chrome, lab, keys)
                total = totals[mode]
                live = [key for key, found in findings.items() if found]
                total[0] += len(keys)
                total[1] += len(live)
                total[2] += len(calls)
                total[3] += sum(e["method"] == "Page.javascriptDialogOpening"
                                for e in chrome.events)
                total[4] += violations + sum(
                    e["method"] == "Audits.issueAdded"
                    and e["params"]["issue"]["code"] == "ContentSecurityPolicyIssue"
                    for e in chrome.events)
                if (start // BATCH) % 40 == 39:
                    print(f"  {mode}: {start + len(keys)} of {len(chosen[mode])}, "
                          f"{time.monotonic() - started:.0f} s", flush=True)
                for key in live[:3]:
                    if len(examples[mode]) < 5:
                        n = int(key.split("-")[1])
                        examples[mode].append((corpus[n][1][:90], findings[key][:3]))
            print(f"  {mode}: {time.monotonic() - started:.0f} s", flush=True)
    finally:
        chrome.close()
        lab.close()

    print()
    for source, count in sources.items():
        print(f"  {count:>6}  {source}")
    print()
    print(f"{'':<44}{'payloads':>9}{'live markup':>13}{'script calls':>14}{'dialogs':>9}"
          f"{'CSP':>6}")
    for mode, label in (("pipeline", "through vt_webmail, in the frame"),
                        ("raw", "every 20th as sent (scripts off)")):
        tried, live, calls, dialogs, violations = totals[mode]
        print(f"{label:<44}{tried:>9}{live:>13}{calls:>14}{dialogs:>9}{violations:>6}")
    for mode in ("pipeline", "raw"):
        for payload, found in examples[mode][:3]:
            print(f"  {mode} live: {payload!r} -> {found}")
    ok = totals["pipeline"][1] == totals["pipeline"][2] == totals["pipeline"][3] == 0
    print(f"\n{'PASS' if ok else 'FAIL'}: {time.monotonic() - started:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
