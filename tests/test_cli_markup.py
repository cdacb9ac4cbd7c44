"""Names in the data are printed as they are: text that looks like Rich markup is never markup."""

from __future__ import annotations

import random

import pytest
from typer.testing import CliRunner

import cxray
from cxray.cli import app

runner = CliRunner()
NAMES = ["[/bold]x", "[red]y", "[/]", "order"]
CANCEL = "[/bold]cancel"


@pytest.fixture(scope="module")
def marked_workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("markup")
    path = root / "ws"
    cxray.init(path).close()
    text = path.joinpath("cxray.toml").read_text()
    text = text.replace("touchpoints = []", f'touchpoints = ["{CANCEL}"]', 1)
    path.joinpath("cxray.toml").write_text(text)
    rng = random.Random(7)
    rows = ["customer_id,ts,touchpoint"]
    for c in range(120):
        steps = rng.sample(NAMES, rng.randint(1, 4))
        if rng.random() < 0.4:
            steps.append(CANCEL)
        rows += [f"c{c},2024-01-{i + 1:02d},{tp}" for i, tp in enumerate(steps)]
    source = root / "events.csv"
    source.write_text("\n".join(rows) + "\n")
    ws = cxray.open(path, read_only=False)
    try:
        ws.import_table("events", source)
    finally:
        ws.close()
    return path, source


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.mark.parametrize("command", ["dropoff", "flows", "drivers"])
def test_answers_print_names_that_look_like_markup(marked_workspace, command):
    path, _ = marked_workspace
    result = invoke(command, path)
    assert result.exit_code == 0, result.output
    shown = result.output
    assert "[red]y" in shown or "[red]" in shown
    assert "[/" in shown


def test_an_error_keeps_the_journey_key_in_brackets(tmp_path):
    path = tmp_path / "ws"
    cxray.init(path).close()
    with path.joinpath("cxray.toml").open("a") as handle:
        handle.write('\n[touchpoints."[/bold]x"]\nphase = 5\n')
    result = invoke("status", path)
    assert result.exit_code == 1
    assert "[touchpoints.[/bold]x] 'phase' must be text" in result.output
    assert "error:" in result.output


def test_status_prints_names_that_look_like_markup(marked_workspace):
    path, _ = marked_workspace
    result = runner.invoke(app, ["status", str(path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code == 0, result.output
    assert "[/bold]x" in result.output


def test_import_prints_new_names_that_look_like_markup(tmp_path):
    path = tmp_path / "ws"
    cxray.init(path).close()
    source = tmp_path / "events.csv"
    source.write_text("customer_id,ts,touchpoint\nc1,2024-01-01,[/bold]x\nc2,2024-01-02,[red]y\n")
    result = runner.invoke(app, ["import", str(path), "events", str(source)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code == 0, result.output
    assert "[/bold]x" in result.output and "[red]y" in result.output
