"""Docs are checked: every command is documented and the CLI reference matches `--help`.

Regenerate the reference with: CXRAY_UPDATE_DOCS=1 python -m pytest tests/test_docs.py
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import typer
from typer.testing import CliRunner

from cxray.cli import app
from cxray.journey import from_dict

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "docs" / "cli.md"
runner = CliRunner()


def command_names() -> list[str]:
    group = typer.main.get_command(app)
    return sorted(group.commands)


def help_text(*args: str) -> str:
    result = runner.invoke(
        app, [*args, "--help"], prog_name="cxray", terminal_width=100, env={"COLUMNS": "100"}
    )
    assert result.exit_code == 0, result.output
    return result.output.rstrip() + "\n"


def reference() -> str:
    parts = [
        "# Command reference\n",
        "Generated from `cxray --help`; `tests/test_docs.py` fails when it is stale.\n",
        "```\n" + help_text() + "```\n",
    ]
    for name in command_names():
        parts.append(f"## cxray {name}\n")
        parts.append("```\n" + help_text(name) + "```\n")
    return "\n".join(parts)


def test_cli_reference_is_current():
    expected = reference()
    if os.environ.get("CXRAY_UPDATE_DOCS"):
        REFERENCE.write_text(expected, encoding="utf-8")
    assert REFERENCE.read_text(encoding="utf-8") == expected, (
        "docs/cli.md is stale: run CXRAY_UPDATE_DOCS=1 python -m pytest tests/test_docs.py"
    )


def test_every_command_is_in_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [name for name in command_names() if f"cxray {name}" not in readme]
    assert not missing, f"README.md does not mention: {missing}"


def test_every_journey_key_is_documented():
    doc = (ROOT / "docs" / "journey.md").read_text(encoding="utf-8")
    block = re.search(r"```toml\n(.*?)```", doc, re.S).group(1)
    import tomllib

    data = tomllib.loads(block)
    journey = from_dict(data)  # the documented example is itself a valid journey file
    assert journey.touchpoints["delivery_late"].bad_experience
    for key in ("phase", "channel", "owner", "bad_experience", "moment_of_truth", "label"):
        assert f"{key} =" in block, key
