"""The `cxray` command: a thin face over the Python API (every command has a Workspace twin).

One module per kind of command; importing them registers their commands on ``app`` in the order
``cxray --help`` lists them.

Importing this package loads no analysis engine: Ibis, pandas and NumPy load inside the commands
that need them, so `cxray --help` and `cxray status` answer at once (tests/cli/test_conventions.py
holds it so).
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from cxray.cli import advocacy, data, digest, followups, mail, playbooks, questions, serve, surveys  # noqa: F401  (registers the commands)
from cxray.cli.common import _cell, app, render

__all__ = ["_cell", "app", "main", "render"]


def _show_version(shown: bool) -> None:
    if shown:
        import cxray

        typer.echo(f"cxray {cxray.__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_show_version,
            is_eager=True,
            help="Show the version and exit.",
        ),
    ] = False,
) -> None:
    # No docstring: the app's own help is what `cxray --help` shows.
    pass


def main() -> None:  # pragma: no cover - console entry
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    app()
