"""Shared by tools/bench_fidelity.py and tools/bench_xss.py: mail bodies cleaned by this tree's
vt_webmail and shown in headless Chromium the way the Webmail form shows them.

* :func:`bootstrap` makes Odoo (``$ODOO_PATH``, default /opt/odoo18) and this tree's addon
  importable as ``odoo.addons.vt_webmail``, so the benches run the addon's own code: its
  ``core.html`` and the model's last pass (``_frame_html`` / ``_page_html``, Odoo's
  ``html_sanitize``). It also puts ``var/bench-site`` on the path: the packages of
  ``tools/requirements-bench.txt``, installed there on first use with the interpreter's own pip
  (``pip install --target``; never into Odoo's environment). Run the benches with Odoo's
  interpreter (``/opt/odoo18-venv/bin/python``), which has Pillow, lxml and websocket-client.
* :class:`Lab` serves documents with the headers of choice on a loopback port
  (:meth:`Lab.add`), and frames them in a parent page that sets the web client's sandbox.
* :class:`Chrome` drives Debian's Chromium (``/usr/bin/chromium``, headless) over the DevTools
  protocol. Its network is off: every request that is not for the loopback goes to a proxy
  that does not exist, so nothing leaves the machine whatever a page asks for.
"""

import base64
import collections
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ODOO_PATH = Path(os.environ.get("ODOO_PATH", "/opt/odoo18"))
BENCH_SITE = REPO / "var" / "bench-site"
REQUIREMENTS = REPO / "tools" / "requirements-bench.txt"
CHROME_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def bootstrap():
    """Odoo, this tree's vt_webmail and the bench packages importable; returns the addon's
    ``(core.html module, _frame_html, _page_html)``."""
    # SIGTERM ends the bench through its finally blocks: Chromium and the server stop too
    signal.signal(signal.SIGTERM, lambda *_args: sys.exit(143))
    BENCH_SITE.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(BENCH_SITE))
    try:
        import numpy  # noqa: F401
    except ImportError:
        print(f"installing {REQUIREMENTS.name} into {BENCH_SITE} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--target",
                        str(BENCH_SITE), "-r", str(REQUIREMENTS)], check=True, timeout=600)
    if not (ODOO_PATH / "odoo" / "__init__.py").exists():
        raise SystemExit(f"no Odoo tree in {ODOO_PATH} (set ODOO_PATH)")
    sys.path.insert(0, str(ODOO_PATH))
    import odoo.addons

    odoo.addons.__path__.insert(0, str(REPO))
    from odoo.addons.vt_webmail.core import html as core_html
    from odoo.addons.vt_webmail.models.vt_webmail_message import (
        _frame_html,
        _page_html,
    )
    return core_html, _frame_html, _page_html


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Lab:
    """A loopback HTTP server of documents: ``/doc/<key>`` answers what :meth:`add` stored
    (body, headers), ``/frames/<keys>`` a parent page framing them (see :meth:`parent`)."""

    def __init__(self):
        self.documents = {}
        lab = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                path = self.path.split("?")[0]
                status, body, headers = 404, "not found", [("Content-Type", "text/plain")]
                if path.startswith("/doc/") and path[5:] in lab.documents:
                    status = 200
                    body, headers, _sandbox = lab.documents[path[5:]]
                elif path.startswith("/frames/"):
                    status = 200
                    body = lab.parent(path[8:].split(","))
                    headers = [("Content-Type", "text/html; charset=utf-8")]
                data = body.encode("utf-8")
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def add(self, key, body, headers, sandbox=None):
        """Serve ``body`` with ``headers`` at ``/doc/<key>``; framed by :meth:`parent` with
        ``sandbox`` (default :attr:`frame_sandbox`, the web client's flags)."""
        self.documents[key] = (body, headers, self.frame_sandbox if sandbox is None else sandbox)
        return f"{self.url}doc/{key}"

    def parent(self, keys):
        """A page with scripts that frames each ``/doc/<key>`` as the web client frames a
        mail: the document's ``sandbox`` flags (the web client's unless a control asks for
        others), 800 pixels wide; ``top.__xss(n)`` is the instrument any executed script of
        a payload calls. The page's load event waits for every frame's."""
        frames = "".join(
            f'<iframe id="f{index}" data-key="{key}" sandbox="{self.sandbox(key)}" '
            f'src="/doc/{key}" style="width:800px;height:200px;border:0"></iframe>'
            for index, key in enumerate(keys))
        return ("<!DOCTYPE html><html><head><meta charset=utf-8><script>"
                "window.__calls=[];window.__xss=function(n){window.__calls.push(String(n));};"
                f"</script></head><body>{frames}</body></html>")

    def sandbox(self, key):
        return self.documents[key][2]

    #: the iframe's flags, set by the caller from core.html.FRAME_SANDBOX
    frame_sandbox = ""

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Chrome:
    """Headless Chromium on the DevTools protocol; events are kept in :attr:`events`."""

    def __init__(self, width=800, height=1000):
        import websocket  # Odoo's interpreter has it

        binary = next((shutil.which(name) for name in CHROME_NAMES if shutil.which(name)), None)
        if not binary:
            raise SystemExit("Chromium is not installed: apt-get install chromium")
        self.profile = tempfile.mkdtemp(prefix="vt-bench-chrome-")
        port = free_port()
        cmd = [binary, "--headless=new", "--no-first-run", "--no-default-browser-check",
               "--disable-extensions", "--disable-background-networking", "--hide-scrollbars",
               "--disable-component-update", "--disable-sync", "--mute-audio",
               "--force-device-scale-factor=1", "--font-render-hinting=none",
               f"--window-size={width},{height}",
               # the network is off: anything but the loopback goes to a proxy that is not there
               "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=127.0.0.1",
               "--remote-debugging-address=127.0.0.1", f"--remote-debugging-port={port}",
               f"--user-data-dir={self.profile}", "about:blank"]
        if os.geteuid() == 0:
            cmd.insert(1, "--no-sandbox")
        self.process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list",
                                            timeout=2) as response:
                    pages = [t for t in json.load(response) if t["type"] == "page"]
                if pages:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.close()
                raise SystemExit("Chromium did not start")
            time.sleep(0.2)
        self.ws = websocket.create_connection(pages[0]["webSocketDebuggerUrl"], timeout=120,
                                              suppress_origin=True)
        self.next_id = 0
        self.events = collections.deque()
        self.width, self.height = width, height
        self.send("Page.enable")
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=False)

    def send(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.on_event(message)

    def on_event(self, message):
        self.events.append(message)
        if message["method"] == "Page.javascriptDialogOpening":
            # answered at once (a dialog would block the page); counted by the caller
            self.ws.send(json.dumps({"id": 0, "method": "Page.handleJavaScriptDialog",
                                     "params": {"accept": False}}))

    def pump(self, seconds):
        """Read events for ``seconds``."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.ws.settimeout(left)
            try:
                message = json.loads(self.ws.recv())
            except Exception:  # the timeout ends the wait
                break
            if "method" in message:
                self.on_event(message)
        self.ws.settimeout(120)

    def navigate(self, url, timeout=30):
        """Open ``url`` and wait for its load event."""
        self.events.clear()
        self.send("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(e["method"] == "Page.loadEventFired" for e in self.events):
                return True
            self.pump(0.05)
        return False

    def evaluate(self, expression):
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True,
                           awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"].get("text"))
        return result["result"].get("value")

    def screenshot(self):
        """The viewport as PNG bytes."""
        shot = self.send("Page.captureScreenshot", format="png", clip={
            "x": 0, "y": 0, "width": self.width, "height": self.height, "scale": 1})
        return base64.b64decode(shot["data"])

    def close(self):
        with contextlib.suppress(Exception):
            self.ws.close()
        self.process.kill()
        self.process.wait()
        shutil.rmtree(self.profile, ignore_errors=True)
