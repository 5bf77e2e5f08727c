"""Make the ORM-free parts of the addon importable by pytest without Odoo.

``vt_webmail/__init__.py`` imports the Odoo models and ``vt_webmail/tests/__init__.py`` the Odoo
test cases. For the plain-pytest suite (``vt_webmail/tests/core``) both packages are registered
here as bare packages pointing at their directories, before pytest imports anything below them:
``vt_webmail.core`` and ``vt_webmail.testing`` then import exactly as they do inside Odoo, and
nothing that needs Odoo is loaded.
"""

import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def _bare_package(name, directory):
    if name not in sys.modules:
        package = types.ModuleType(name)
        package.__path__ = [str(directory)]
        sys.modules[name] = package


_bare_package("vt_webmail", ROOT / "vt_webmail")
_bare_package("vt_webmail.tests", ROOT / "vt_webmail" / "tests")
