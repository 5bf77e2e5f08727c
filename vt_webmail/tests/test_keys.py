"""The Webmail keys (README, "Keyboard") against every hotkey of Odoo's web client.

Odoo's hotkeys are gathered from the sources of every module of the running Odoo tree (Odoo 18
or 19, whichever runs the suite: run it on both): the ``data-hotkey`` of its templates and
components (also those computed, by their quoted values), the ``hotkey:`` of its commands and
``useHotkey(...)`` calls. Pressed with Alt, a ``data-hotkey="x"`` is ``alt+x``. A key of the
Webmail reader must be none of them, so that no screen, global menu or systray item of any
module answers it too. The dialogs of Webmail (Move to, Qualify, Compose) keep Odoo's own
dialog keys (``q``: the main button, ``x``: discard) on purpose and are not checked here.
"""

import logging
import os
import re
from pathlib import Path

from odoo.modules.module import get_module_path
from odoo.tests import tagged
from odoo.tests.common import TransactionCase

import odoo.addons

_logger = logging.getLogger(__name__)

#: what each key of the Webmail reader does (the README's table is checked against it)
WEBMAIL_KEYS = {
    "alt+shift+n": "next mail",
    "alt+shift+p": "previous mail",
    "alt+o": "open",
    "alt+shift+r": "reply",
    "alt+shift+e": "reply all",
    "alt+shift+f": "forward",
    "alt+e": "archive",
    "alt+shift+b": "delete",
    "alt+shift+o": "mark as read or unread",
    "alt+shift+s": "flag or unflag",
    "alt+l": "qualify",
    "alt+shift+g": "go to the inbox",
    "alt+shift+k": "search",
    "alt+y": "check now",
    "alt+shift+l": "reading pane on or off",
    "alt+shift+w": "edit a draft in the composer",
}
_DATA_HOTKEY = re.compile(r"""(?:t-att-)?data-hotkey=(?:"([^"]*)"|'([^']*)')""")
_HOTKEY_PROP = re.compile(r"""(?<![-\w])hotkey\s*:\s*["'`]([^"'`]+)["'`]""")
_USE_HOTKEY = re.compile(r"""useHotkey\(\s*["'`]([^"'`]+)["'`]""")
_QUOTED = re.compile(r"""['`]([a-z0-9+]+)['`]""", re.IGNORECASE)
_KEY = re.compile(r"^(?:(?:alt|control|shift)\+)*[a-z0-9]$")


def _alt(value):
    """A ``data-hotkey`` value as pressed (Alt plus it)."""
    value = value.strip().lower()
    return value if value.startswith("alt+") else f"alt+{value}"


def _hotkeys_in(text):
    keys = set()
    for match in _DATA_HOTKEY.finditer(text):
        value = match.group(1) if match.group(1) is not None else match.group(2)
        if _KEY.match(value.strip().lower()):
            keys.add(_alt(value))
        else:
            # an expression: its quoted values ("props.withAccessKey ? 'n' : false")
            keys.update(_alt(quoted) for quoted in _QUOTED.findall(value)
                        if _KEY.match(quoted.lower()))
    for pattern in (_HOTKEY_PROP, _USE_HOTKEY):
        for value in pattern.findall(text):
            value = value.strip().lower()
            if _KEY.match(value):
                keys.add(value)
                if pattern is _HOTKEY_PROP and not value.startswith(("alt+", "control+")):
                    # a command's hotkey may be pressed with the overlay's Alt too
                    keys.add(_alt(value))
    return keys


def odoo_hotkeys():
    """``{key: {file, ...}}`` of every module's web client sources but Webmail's."""
    found = {}
    # every addons directory (odoo.addons is their namespace package, on Odoo 18 and 19)
    roots = [Path(path) for path in odoo.addons.__path__]
    roots.append(Path(get_module_path("base")).parent)
    own = Path(get_module_path("vt_webmail")).resolve()
    for root in {r.resolve() for r in roots if r.is_dir()}:
        for module in root.iterdir():
            static = module / "static" / "src"
            if module.resolve() == own or not static.is_dir():
                continue
            for dirpath, _dirs, files in os.walk(static):
                for name in files:
                    if not name.endswith((".js", ".xml")):
                        continue
                    path = Path(dirpath, name)
                    for key in _hotkeys_in(path.read_text(errors="replace")):
                        found.setdefault(key, set()).add(str(path.relative_to(root)))
    return found


@tagged("post_install", "-at_install", "vt_webmail", "vt_webmail_keys")
class TestKeys(TransactionCase):

    def webmail_keys(self):
        """The keys the Webmail reader's screens carry: the list's templates, and the mail
        form as the web client gets it (every inherited view applied)."""
        keys = set()
        static = Path(get_module_path("vt_webmail"), "static", "src", "webmail")
        for path in static.glob("*.xml"):
            keys |= _hotkeys_in(path.read_text())
        Message = self.env["vt_webmail.message"]
        for view_type in ("form", "list"):
            keys |= _hotkeys_in(Message.get_views([[False, view_type]])["views"][view_type]
                                ["arch"])
        return keys

    def test_no_clash_with_any_odoo_hotkey(self):
        odoo = odoo_hotkeys()
        # the listing, for the record (and a sanity check that the scan reads Odoo)
        _logger.info("Odoo's web client hotkeys (%s): %s", len(odoo), ", ".join(sorted(odoo)))
        for builtin in ("alt+s", "alt+j", "alt+n", "alt+p", "alt+u", "control+k"):
            self.assertIn(builtin, odoo)
        ours = self.webmail_keys()
        self.assertEqual(ours, set(WEBMAIL_KEYS), "every key of the reader is documented")
        clashes = {key: sorted(odoo[key]) for key in ours if key in odoo}
        self.assertFalse(clashes, f"Webmail keys Odoo uses too: {clashes}")

    def test_the_readme_lists_every_key(self):
        readme = Path(get_module_path("vt_webmail")).parent.joinpath("README.rst")
        if not readme.exists():
            self.skipTest("README.rst is beside the module in the repository only")
        text = readme.read_text().lower()
        for key, what in WEBMAIL_KEYS.items():
            shown = "+".join(part.capitalize() for part in key.split("+")).lower()
            self.assertIn(shown, text, f"README: {key} ({what})")
