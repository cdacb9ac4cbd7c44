"""Every command's table reads whole at 80 columns: nothing cut off, no raw floats, no internals.

The commands run on one demo workspace with the terminal 80 characters wide; a table that does not
fit leaves out its least important columns (and says so) instead of cutting a number or a name.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cxray.cli import app
from cxray.cli import common as cli_common
from cxray.cli.tables import layout
from cxray.results import Column, Table

runner = CliRunner()
WIDTH = 80
EXPONENT = re.compile(r"\d[eE][+-]?\d")
RAW = ("…", "__start__", "__end__", "<NA>", "NaN", " nan ", "inf ", "median_seconds")

COMMANDS = [
    ["metrics"],
    ["metrics", "--by", "touchpoint"],
    ["metrics", "--by", "month"],
    ["compare"],
    ["compare", "--by", "touchpoint", "--metric", "csat"],
    ["funnel"],
    ["funnel", "--by", "segment"],
    ["dropoff"],
    ["dropoff", "--by-phase"],
    ["flows"],
    ["flows", "--show", "variants"],
    ["flows", "--show", "sankey"],
    ["retention"],
    ["retention", "--period", "week"],
    ["survival"],
    ["survival", "--by", "segment"],
    ["early-churn"],
    ["nps-drivers", "--bootstrap", "20"],
    ["risk"],
    ["risk", "--evaluate"],
    ["onboarding"],
    ["themes", "--discover", "3"],
    ["themes", "--metric", "csat", "--discover", "2"],
    ["phrases"],
    ["dose-response"],
    ["drivers"],
    ["status"],
]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    ws = tmp_path_factory.mktemp("render") / "demo"
    result = runner.invoke(app, ["demo", str(ws), "--customers", "700", "--seed", "4"])
    assert result.exit_code == 0, result.output
    return ws


@pytest.fixture(autouse=True)
def eighty_columns(monkeypatch):
    # the CLI's console read COLUMNS when it was made; a test sets the width it would read
    monkeypatch.setattr(cli_common.out, "_width", WIDTH)
    monkeypatch.setattr(cli_common.err, "_width", WIDTH)


def invoke(*args: object, env: dict[str, str] | None = None):
    return runner.invoke(
        app, [str(a) for a in args], env={"COLUMNS": str(WIDTH), **(env or {})},
        catch_exceptions=False,
    )  # fmt: skip


def table_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line[:1] in "┏┃┡│└"]


def problems(text: str) -> list[str]:
    found = [f"{word!r} in output" for word in RAW if word in text]
    found += [f"exponent in {line!r}" for line in text.splitlines() if EXPONENT.search(line)]
    found += [f"wider than {WIDTH}: {line!r}" for line in table_lines(text) if len(line) > WIDTH]
    return found


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_table_reads_whole_at_80_columns(demo, command):
    result = invoke(command[0], demo, *command[1:])
    assert result.exit_code == 0, result.output[-800:]
    assert table_lines(result.output), result.output  # a table was printed
    assert not problems(result.output), (problems(result.output), result.output)


@pytest.mark.parametrize("command", [["drivers"], ["funnel"], ["retention"], ["risk"]], ids=str)
def test_every_table_reads_whole_in_dutch(demo, command):
    result = invoke(command[0], demo, *command[1:], "--lang", "nl")
    assert result.exit_code == 0, result.output[-800:]
    assert not problems(result.output), (problems(result.output), result.output)


def test_a_narrow_screen_says_which_columns_it_left_out_and_wide_shows_them(demo):
    narrow = invoke("drivers", demo).output
    assert "Not shown at this width:" in narrow and "--wide" in narrow
    wide = invoke("drivers", demo, "--wide").output
    header = " ".join(line for line in table_lines(wide) if line.startswith("┃"))
    assert "occurrences" in header and "Not shown at this width" not in wide
    assert max(map(len, table_lines(wide))) > WIDTH  # every column, past the screen's edge


def test_top_cuts_a_long_list_and_says_how_many_there_are(demo):
    every = invoke("onboarding", demo, "--top", "0").output
    rows = [line for line in table_lines(every) if line.startswith("│ C")]
    assert len(rows) > 3
    three = invoke("onboarding", demo, "--top", "3").output
    assert len([line for line in table_lines(three) if line.startswith("│ C")]) == 3
    assert f"3 of {len(rows)} customers shown" in " ".join(three.split())
    assert "customers shown" not in every


def test_top_keeps_the_total_row_of_a_cohort_table(demo):
    output = invoke("early-churn", demo, "--top", "2").output
    cohorts = [line for line in table_lines(output) if re.match(r"│ \d{4}-\d\d", line)]
    assert len(cohorts) == 2
    assert any(line.startswith("│ all ") for line in table_lines(output))


def test_retention_is_a_cohort_grid_with_round_periods_on_a_narrow_screen(demo):
    output = invoke("retention", demo).output
    header = [line for line in table_lines(output) if line.startswith("┃")]
    words = " ".join(" ".join(line.strip("┃").split()) for line in header)
    assert "cohort" in words and "month" in words
    assert "12" in words and "11" not in words.split()  # month 12 kept, month 11 left out
    assert any(line.startswith("│ all ") for line in table_lines(output))


def test_columns_name_their_metric(demo):
    output = invoke("themes", demo, "--metric", "csat", "--discover", "2").output
    header = " ".join(line for line in table_lines(output) if line.startswith("┃"))
    assert "CSAT" in header and "nps" not in header.lower()


def test_headers_are_dutch_under_lang_nl(demo):
    output = invoke("funnel", demo, "--lang", "nl").output
    header = " ".join(line for line in table_lines(output) if line.startswith("┃"))
    assert "fase" in header and "bereikt" in header and "reached" not in header


def test_an_empty_result_prints_its_message_not_an_empty_header(tmp_path):
    ws = tmp_path / "empty"
    assert invoke("init", ws).exit_code == 0
    for command in ("metrics", "funnel", "survival", "risk", "onboarding", "dose-response"):
        result = invoke(command, ws)
        assert result.exit_code == 0, (command, result.output)
        assert not table_lines(result.output), (command, result.output)
        assert result.output.strip(), command


def test_a_real_terminal_of_80_columns(demo):
    """The command as a person runs it: a new process that reads COLUMNS itself."""
    env = {**os.environ, "COLUMNS": str(WIDTH), "CXRAY_LANG": "en"}
    code = "from cxray.cli import main; main()"
    done = subprocess.run(
        [sys.executable, "-c", code, "drivers", str(demo)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert table_lines(done.stdout) and not problems(done.stdout), done.stdout


def test_layout_leaves_out_the_least_important_columns_first():
    frame = pd.DataFrame(
        {"name": ["a long touchpoint name", "b"], "n": [123456, 7], "share": [0.5, 0.25]}
        | {f"extra{i}": [1.5, 2.5] for i in range(8)}
    )
    columns = [
        Column("name", "text", "name"),
        Column("n", "count", "customers"),
        Column("share", "share", "share", priority=8),
        *(Column(f"extra{i}", "number", f"extra {i}", priority=i + 1) for i in range(8)),
    ]
    shown, cells, widths, left_out, _ = layout(Table(frame, columns), "en", 60)
    assert [c.key for c in shown][:3] == ["name", "n", "share"]
    assert sum(widths) + 3 * len(widths) + 1 <= 60
    assert {c.key for c in left_out} >= {"extra0", "extra1"}  # lowest priority first
    numbers = [i for i, c in enumerate(shown) if c.numeric]
    assert all(len(row[i]) <= widths[i] for row in cells for i in numbers)  # never wrapped
