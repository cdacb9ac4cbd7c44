"""Dependencies point one way: faces (cli, web, report) → workspace → surveys → actions →
analysis → ingest → warehouse, journey, schema (accounts and stored notes sit beside the
warehouse). A module that imports upward fails here, lazy imports inside functions included.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "cxray"
# what each layer may not import (prefixes of module names)
FACES = ("cxray.report", "cxray.cli", "cxray.web")
FORBIDDEN = {
    "ingest": ("cxray.workspace", "cxray.analysis", *FACES),
    "analysis": ("cxray.workspace", "cxray.actions", "cxray.surveys", *FACES),
    # surveys send their invitations through the actions' outbox; actions never need surveys
    "actions": ("cxray.workspace", "cxray.surveys", *FACES),
    "surveys": ("cxray.workspace", *FACES),
    "warehouse": ("cxray.workspace", "cxray.analysis", "cxray.ingest", *FACES),
    "workspace.py": FACES,
    "journey.py": ("cxray.workspace", "cxray.analysis", "cxray.ingest", *FACES),
    "schema.py": ("cxray.workspace", "cxray.analysis", "cxray.ingest", *FACES),
    "accounts.py": ("cxray.workspace", "cxray.analysis", "cxray.ingest", *FACES),
    "report": ("cxray.cli", "cxray.web"),
    "web": ("cxray.cli",),
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_no_module_imports_a_layer_above_it(layer):
    root = PACKAGE / layer
    files = [root] if root.suffix == ".py" else sorted(root.rglob("*.py"))
    assert files
    for path in files:
        upward = {name for name in imported_modules(path) if name.startswith(FORBIDDEN[layer])}
        assert not upward, f"{path.relative_to(PACKAGE)} imports {sorted(upward)}"
