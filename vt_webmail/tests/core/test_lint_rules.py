"""The ORM-free rule of ``core/`` (and ``testing/``) is enforced, not just written down.

``vt_webmail/core/ruff.toml`` and ``vt_webmail/testing/ruff.toml`` ban ``odoo`` imports (TID251)
and relative imports of parent packages (TID252). These tests feed probe sources through the
real ``ruff check`` with a file name inside those packages, so a broken or dropped nested config
fails here, and they parse every module of the packages to prove none imports Odoo today.
"""

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
ADDON = REPO / "vt_webmail"
ORM_FREE_PACKAGES = ("core", "testing")


def _find_ruff():
    """ruff next to this interpreter (the test virtualenv) first, then on PATH."""
    beside = Path(sys.executable).parent / "ruff"
    if beside.is_file():
        return str(beside)
    return shutil.which("ruff")


RUFF = _find_ruff()
needs_ruff = pytest.mark.skipif(
    RUFF is None,
    reason="ruff is not installed next to this Python nor on PATH "
           "(tools/run-tests installs it from requirements-test.txt)",
)


def ruff_codes(source, filename):
    """The rule codes ruff reports for ``source`` as if it were ``filename`` (repo-relative)."""
    done = subprocess.run(
        [RUFF, "check", "--output-format=json", "--stdin-filename", filename, "-"],
        input=source, cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )
    # 0: no finding, 1: findings; anything else is a ruff or configuration error
    assert done.returncode in (0, 1), done.stderr
    return sorted(finding["code"] for finding in json.loads(done.stdout or "[]"))


def tidy_codes(source, filename):
    return [code for code in ruff_codes(source, filename) if code.startswith("TID")]


@needs_ruff
@pytest.mark.parametrize("package", ORM_FREE_PACKAGES)
@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import odoo\n", ["TID251"]),
        ("from odoo.tools import x\n\nx()\n", ["TID251"]),
        ("from odoo import api, models\n\napi, models\n", ["TID251"]),
        ("from .. import models\n\nmodels()\n", ["TID252"]),
        ("from ..models.res_partner import ResPartner\n\nResPartner()\n", ["TID252"]),
    ],
    ids=["import-odoo", "from-odoo-tools", "from-odoo", "parent-relative", "parent-module"],
)
def test_banned_import_is_reported(package, source, expected):
    assert tidy_codes(source, f"vt_webmail/{package}/probe.py") == expected


@needs_ruff
@pytest.mark.parametrize("package", ORM_FREE_PACKAGES)
def test_sibling_relative_import_is_accepted(package):
    source = "from .exceptions import X\n\nX()\n"
    assert ruff_codes(source, f"vt_webmail/{package}/probe.py") == []


@needs_ruff
def test_odoo_import_is_fine_outside_the_orm_free_packages():
    # the ban comes from the nested ruff.toml, not from the repository-wide configuration
    source = "from odoo import api, models\n\napi, models\n"
    assert "TID251" not in ruff_codes(source, "vt_webmail/models/probe.py")


def _modules(package):
    files = sorted((ADDON / package).rglob("*.py"))
    assert files, f"no Python module under vt_webmail/{package}"
    return files


def _odoo_imports(path):
    """``(line, statement)`` of every import of odoo or of a parent package in ``path``."""
    tree = ast.parse(path.read_bytes(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, f"import {alias.name}") for alias in node.names
                      if alias.name.split(".")[0] == "odoo"]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if (node.level == 0 and module.split(".")[0] == "odoo") or node.level > 1:
                found.append((node.lineno, f"from {'.' * node.level}{module} import ..."))
    return sorted(found)


@pytest.mark.parametrize("package", ORM_FREE_PACKAGES)
def test_no_module_imports_odoo(package):
    offenders = {
        str(path.relative_to(REPO)): imports
        for path in _modules(package)
        if (imports := _odoo_imports(path))
    }
    assert offenders == {}


def test_the_ast_check_sees_odoo_imports(tmp_path):
    # guard against a walk that silently finds nothing
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from odoo.tools import x\n    return x\n"
                     "import odoo.api\nfrom .. import models\nfrom .exceptions import X\n")
    assert [line for line, _statement in _odoo_imports(probe)] == [2, 4, 5]
