#!/usr/bin/env python3
"""How faithfully Webmail shows HTML mail: the SpamAssassin corpus's HTML mails rendered three
ways in headless Chromium, each compared with the mail as sent by SSIM.

1. **as sent**: the mail's HTML part (``core.mime.parse_message(raw).html``) as a document of
   its own, scripts and network off (``Content-Security-Policy: default-src 'none';
   style-src 'unsafe-inline'; img-src data:; sandbox``);
2. **vt_webmail**: ``core.html.prepare_body(..., keep_style=True)``, the model's last pass
   (``_frame_html``: Odoo's ``html_sanitize``), ``core.html.frame_document``, served with
   ``core.html.frame_headers``: the document of the Webmail form's frame;
3. **before the frame** (18.0.1.1.0): ``prepare_body(..., keep_style=False)`` and
   ``html_sanitize(sanitize_style=True, strip_classes=True)``, as the model stored bodies then,
   in a plain standards page (``frame_document`` of it), without the web client's own styles.

Remote images are blocked in all three (no remote content allowed in 2 and 3; the CSP and
Chromium's missing network in 1), and no inline part is served: the comparison has the same
input. Each rendering is captured at 800x1000 CSS pixels (the top of the mail, as a reading
pane shows it), in grey levels; SSIM is Wang et al. (2004): an 11x11 Gaussian window,
sigma 1.5, K1 0.01, K2 0.03, the mean of the map.

    /opt/odoo18-venv/bin/python tools/bench_fidelity.py              # 200 mails, seed 10
    /opt/odoo18-venv/bin/python tools/bench_fidelity.py --all        # every HTML mail
    /opt/odoo18-venv/bin/python tools/bench_fidelity.py --save /tmp/shots  # worst as PNGs
    /opt/odoo18-venv/bin/python tools/bench_fidelity.py --all --trees  # parsers, not pixels

``--trees`` compares trees instead of pictures: the tree Chromium builds from each mail as sent
(walked in its DOM) and the one ``core/html_tree.py`` builds, node by node (elements, their
attributes, text), and names the mails where they differ. Characters XML cannot hold (which
``core/html.py`` removes before parsing), names XML cannot hold (html_tree's ``invalid_``)
and carriage returns are set aside on both sides. A mail with a ``<noscript>`` differs on
purpose: html_tree reads its content as text, as with scripting on (see its docstring), while
the mail as sent is shown with scripting off.

Packages: see tools/_frame_lab.py (numpy from tools/requirements-bench.txt, installed into
var/bench-site on first use). The corpus comes from tools/bench_corpus.py (npm, cached).
"""

import argparse
import email
import email.policy
import io
import random
import statistics
import sys
import time
from pathlib import Path

TOOLS = Path(__file__).resolve().parent
sys.path.insert(0, str(TOOLS))

import bench_corpus  # noqa: E402 (tools/ was just put on the path)
from _frame_lab import Chrome, Lab, bootstrap  # noqa: E402

WIDTH, HEIGHT = 800, 1000
AS_SENT_HEADERS = [
    ("Content-Type", "text/html; charset=utf-8"),
    ("Content-Security-Policy",
     "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"),
]


def html_mails(data_dir):
    """``[(name, raw)]`` of the corpus's mails that have a text/html part, by name."""
    result = []
    for path in sorted(Path(data_dir).glob("*/*.txt")):
        raw = bench_corpus.prepare(path.read_bytes())
        message = email.message_from_bytes(raw, policy=email.policy.default)
        try:
            if message.get_body(("html",)) is None:
                continue
        except Exception:
            continue
        result.append((f"{path.parent.name}/{path.name.split('.')[0]}", raw))
    return result


def gaussian_ssim(first, second):
    """Mean SSIM of two grey images (numpy arrays of the same shape)."""
    import numpy as np

    size, sigma = 11, 1.5
    offsets = np.arange(size) - size // 2
    weights = np.exp(-(offsets ** 2) / (2 * sigma ** 2))
    weights /= weights.sum()

    def blur(image):  # separable, "valid" region only
        rows = sum(weights[k] * image[k:image.shape[0] - size + 1 + k, :] for k in range(size))
        return sum(weights[k] * rows[:, k:rows.shape[1] - size + 1 + k] for k in range(size))

    a = first.astype(np.float64)
    b = second.astype(np.float64)
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a ** 2
    var_b = blur(b * b) - mu_b ** 2
    covariance = blur(a * b) - mu_a * mu_b
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * covariance + c2)) / (
        (mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return float(ssim_map.mean())


#: Chromium's tree, one line per node: "<name [[attribute, value], ...]" indented by depth,
#: text as a JSON string (adjacent text nodes joined); comments left out.
_DOM_LINES = r"""(() => {
  const xmlName = /^[a-zA-Z_][a-zA-Z0-9_.\-]*$/, lines = [];
  const clean = text => text.replace(/[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]/g, "")
    .replace(/\r\n?/g, "\n");
  function walk(node, depth) {
    const attributes = Array.from(node.attributes).filter(a => xmlName.test(a.name))
      .map(a => [a.name, clean(a.value)]).sort((a, b) => a[0] < b[0] ? -1 : a[0] > b[0]);
    const name = xmlName.test(node.localName) ? node.localName : "invalid_";
    lines.push("  ".repeat(depth) + "<" + name + " " + JSON.stringify(attributes));
    let text = null;
    for (const child of node.childNodes) {
      if (child.nodeType === 3) { text = (text || "") + child.data; continue; }
      if (child.nodeType !== 1) continue;
      if (text !== null) lines.push("  ".repeat(depth + 1) + JSON.stringify(clean(text)));
      text = null;
      walk(child, depth + 1);
    }
    if (text !== null) lines.push("  ".repeat(depth + 1) + JSON.stringify(clean(text)));
  }
  walk(document.documentElement, 0);
  return lines;
})()"""


def _tree_lines(root):
    """:data:`_DOM_LINES` of an lxml tree (``html_tree``'s)."""
    import json

    lines = []

    def text(value, depth):
        value = value.replace("\r\n", "\n").replace("\r", "\n")
        lines.append("  " * depth + json.dumps(value, separators=(",", ":"), ensure_ascii=False))

    stack = [(root, 0)]
    while stack:
        element, depth = stack.pop()
        if isinstance(element, str):
            text(element, depth)
            continue
        attributes = sorted([name, value.replace("\r\n", "\n").replace("\r", "\n")]
                            for name, value in element.attrib.items())
        lines.append("  " * depth + "<" + element.tag + " "
                     + json.dumps(attributes, separators=(",", ":"), ensure_ascii=False))
        following = []
        if element.text:
            following.append((element.text, depth + 1))
        for child in element:
            following.append((child, depth + 1))
            if child.tail:
                following.append((child.tail, depth + 1))
        stack.extend(reversed(following))
    return lines


def compare_trees(chosen, parse_message):
    """Print how many mails html_tree parses into Chromium's tree, and name the others."""
    from odoo.addons.vt_webmail.core import html as core_html
    from odoo.addons.vt_webmail.core import html_tree

    lab = Lab()
    chrome = Chrome(WIDTH, HEIGHT)
    different = []
    started = time.monotonic()
    try:
        for index, (name, raw) in enumerate(chosen):
            html = parse_message(raw).html
            chrome.navigate(lab.add(f"{index}", html, AS_SENT_HEADERS))
            theirs = chrome.evaluate(_DOM_LINES)
            lab.documents.clear()
            try:
                ours = _tree_lines(html_tree.parse(core_html._XML_INVALID.sub("", html))[0])
            except html_tree.TreeLimitError:
                ours = None
            if ours != theirs:
                line = next((i for i, (a, b) in enumerate(zip(ours or [], theirs, strict=False))
                             if a != b), None)
                different.append((name, line))
    finally:
        chrome.close()
        lab.close()
    print(f"\n{len(chosen) - len(different)} of {len(chosen)} mails: html_tree builds "
          f"Chromium's tree; {len(different)} differ:")
    for name, line in different:
        print(f"  {name:<40} from node line {line}")
    print(f"\n{time.monotonic() - started:.0f} s")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample", type=int, default=200, help="mails to render (default 200)")
    parser.add_argument("--seed", type=int, default=10, help="seed of the sample (default 10)")
    parser.add_argument("--all", action="store_true", help="every HTML mail of the corpus")
    parser.add_argument("--save", type=Path,
                        help="save the worst mails' renderings here, and every score (ssim.tsv)")
    parser.add_argument("--trees", action="store_true",
                        help="compare html_tree's trees with Chromium's instead of renderings")
    args = parser.parse_args()

    core_html, frame_html, _page_html = bootstrap()
    import numpy as np
    from PIL import Image

    from odoo.tools.mail import html_sanitize

    from odoo.addons.vt_webmail.core.mime import parse_message

    mails = html_mails(bench_corpus.fetch())
    chosen = mails if args.all else sorted(random.Random(args.seed).sample(
        mails, min(args.sample, len(mails))))
    print(f"{len(mails)} HTML mails in the corpus; rendering {len(chosen)} "
          f"({'all' if args.all else f'sample of {args.sample}, seed {args.seed}'}) "
          f"at {WIDTH}x{HEIGHT}", flush=True)

    if args.trees:
        return compare_trees(chosen, parse_message)

    lab = Lab()
    chrome = Chrome(WIDTH, HEIGHT)
    base = lab.url
    results = []
    started = time.monotonic()
    try:
        for index, (name, raw) in enumerate(chosen):
            html = parse_message(raw).html
            frame = frame_html(core_html.prepare_body(html, {}, False, keep_style=True).html)
            before = html_sanitize(core_html.prepare_body(html, {}, False).html,
                                   sanitize_style=True, strip_classes=True)
            documents = {
                "sent": (html, AS_SENT_HEADERS),
                "new": (core_html.frame_document(frame), core_html.frame_headers(base)),
                "old": (core_html.frame_document(before), core_html.frame_headers(base)),
            }
            shots = {}
            for kind, (body, headers) in documents.items():
                url = lab.add(f"{index}-{kind}", body, headers)
                chrome.navigate(url)
                chrome.pump(0.05)
                shots[kind] = chrome.screenshot()
            grey = {kind: np.asarray(Image.open(io.BytesIO(png)).convert("L"))
                    for kind, png in shots.items()}
            results.append((name, gaussian_ssim(grey["new"], grey["sent"]),
                            gaussian_ssim(grey["old"], grey["sent"]), shots))
            lab.documents.clear()
            if (index + 1) % 50 == 0:
                print(f"  {index + 1} mails, {time.monotonic() - started:.0f} s", flush=True)
    finally:
        chrome.close()
        lab.close()

    new = [r[1] for r in results]
    old = [r[2] for r in results]
    print()
    print(f"{'rendering':<34}{'count':>7}{'mean SSIM':>11}{'worst':>8}{'>= 0.95':>9}")
    for label, values in (("vt_webmail (frame) vs as sent", new),
                          ("before the frame vs as sent", old)):
        print(f"{label:<34}{len(values):>7}{statistics.fmean(values):>11.4f}"
              f"{min(values):>8.4f}{sum(v >= 0.95 for v in values):>9}")
    print(f"target: mean >= 0.95 for vt_webmail: "
          f"{'met' if statistics.fmean(new) >= 0.95 else 'NOT met'}")
    print()
    print("worst 5 in the frame, with the same mail before the frame:")
    worst = sorted(results, key=lambda r: r[1])[:5]
    for name, value, before, shots in worst:
        print(f"  {name:<40} frame {value:.4f}   before {before:.4f}")
        if args.save:
            args.save.mkdir(parents=True, exist_ok=True)
            for kind, png in shots.items():
                (args.save / f"{name.replace('/', '_')}-{kind}.png").write_bytes(png)
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
        lines = [f"{name}\t{value:.4f}\t{before:.4f}" for name, value, before, _ in results]
        (args.save / "ssim.tsv").write_text("mail\tframe\tbefore\n" + "\n".join(lines) + "\n")
    print(f"\n{time.monotonic() - started:.0f} s; Chromium "
          f"{Path('/usr/bin/chromium').exists() and 'from Debian' or ''}".rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
