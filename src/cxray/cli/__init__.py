"""The `cxray` command: a thin face over the Python API (every command has a Workspace twin).

One module per kind of command; importing them registers their commands on ``app`` in the order
``cxray --help`` lists them.
"""

from __future__ import annotations

import os

from cxray.cli import data, questions  # noqa: F401  (registers the commands)
from cxray.cli.common import _cell, app, render

__all__ = ["_cell", "app", "main", "render"]


def main() -> None:  # pragma: no cover - console entry
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    app()
