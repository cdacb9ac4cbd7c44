"""Under --lang nl every command speaks Dutch: its sentences, warnings, errors and headers.

Each command of `cxray --help` runs on a demo workspace; what a person reads (all lines but the
cells of a table) must hold none of the English words below. Cells hold the company's own data
(touchpoint names, comments) and quoted words are data too: both are left out of the check.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from cxray.cli import app

runner = CliRunner()

# English words that have no place in Dutch text (none of them is also a Dutch word)
ENGLISH = re.compile(
    r"\b(the|customers?|touchpoints?|warning|error|days?|share|not enough|churned|with|"
    r"without|which|between|rows?|events?|phases?|reached|would|cannot|refused|missing|"
    r"found|first|last|than|more|fewer|none|only)\b|error:|\(s\)|\(en\)",
    re.IGNORECASE,
)
QUOTED = re.compile(r"“[^”]*”|'[^']*'|\"[^\"]*\"")
BOX_HEADER, BOX_BODY = ("┃",), ("│", "┏", "┡", "└", "┗", "├", "╭", "╰", "┌")
RULE = set("─━═ ")


def line_kinds(text: str) -> list[tuple[str, str]]:
    """Each line as (kind, line): "header" and "cell" lines of a table, or "message".

    Boxed tables tell by their characters; a table without a box has a rule under its headers,
    with its columns set apart by runs of spaces (a sentence has none).
    """
    lines = text.splitlines()
    kinds = ["message"] * len(lines)

    def columns(line: str) -> bool:
        return "  " in line.strip()

    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith(BOX_HEADER):
            kinds[i] = "header"
        elif stripped.startswith(BOX_BODY):
            kinds[i] = "cell"
        elif stripped and set(stripped) <= RULE:
            kinds[i] = "rule"
            above = i - 1
            while above >= 0 and kinds[above] == "message" and columns(lines[above]):
                kinds[above] = "header"
                above -= 1
            below = i + 1
            while below < len(lines) and lines[below].strip() and columns(lines[below]):
                kinds[below] = "cell"
                below += 1
    return list(zip(kinds, lines, strict=True))


def english_in(text: str, ws: Path, headers: bool) -> list[str]:
    """The lines of ``text`` (headers or messages) with an English word, data taken out."""
    found = []
    for kind, line in line_kinds(text):
        if kind != ("header" if headers else "message"):
            continue
        plain = QUOTED.sub("", line.replace(str(ws), ""))
        # a command to type names its table: cxray import PATH events FILE
        plain = re.sub(r"\bcxray [a-z-]+ \S+ (events|customers|feedback)\b", "", plain)
        # names in the data or the journey file: delivery_late, five-phase
        plain = re.sub(r"\S*\w[_-]\w\S*", "", plain)
        plain = re.sub(r"\S*/\S*", "", plain)  # file paths
        plain = re.sub(r"--[a-z-]+", "", plain)  # options keep their English names
        if ENGLISH.search(plain):
            found.append(line)
    return found


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, str]:
    ws = tmp_path_factory.mktemp("dutch") / "demo"
    result = invoke("demo", ws, "--customers", "600", "--seed", "5", "--lang", "nl")
    assert result.exit_code == 0, result.output
    return ws, result.output


def commands(ws: Path, tmp: Path) -> dict[str, list[object]]:
    """Every command with the arguments that make it run on the demo."""
    events = tmp / "events.csv"
    events.write_text("customer_id,ts,touchpoint\nc1,2024-01-01,order_placed\n")
    return {
        "init": [tmp / "new"],
        "import": [tmp / "imported", "events", events],
        "status": [ws],
        "metrics": [ws],
        "compare": [ws],
        "funnel": [ws],
        "dropoff": [ws],
        "flows": [ws],
        "retention": [ws],
        "survival": [ws],
        "early-churn": [ws],
        "report": [ws, "--output", tmp / "report.html"],
        "nps-drivers": [ws],
        "risk": [ws],
        "onboarding": [ws],
        "themes": [ws],
        "phrases": [ws],
        "dose-response": [ws],
        "drivers": [ws],
        "user": ["list", ws],
        "survey": ["list", ws],
        "mail": ["status", ws],
        "followups": ["list", ws],
        "advocacy": ["plan", ws],
        "playbooks": ["list", ws],
        "digest": [ws],
    }


def run_all(demo, tmp_path) -> dict[str, str]:
    ws, demo_output = demo
    outputs = {"demo": demo_output}
    assert invoke("init", tmp_path / "imported").exit_code == 0
    table = commands(ws, tmp_path)
    listed = set(typer.main.get_command(app).commands)
    # serve runs until stopped: tests/web runs it for real, in both languages
    assert listed == {*table, "demo", "serve"}, "a command is not run under --lang nl here"
    for name, args in table.items():
        result = invoke(name, *args, "--lang", "nl")
        assert result.exit_code == 0, (name, result.output)
        outputs[name] = result.output
    return outputs


@pytest.fixture(scope="module")
def outputs(demo, tmp_path_factory) -> dict[str, str]:
    return run_all(demo, tmp_path_factory.mktemp("commands"))


def test_every_command_speaks_dutch_in_sentences_and_warnings(demo, outputs):
    ws, _ = demo
    english = {name: english_in(out, ws, headers=False) for name, out in outputs.items()}
    assert not {name: lines for name, lines in english.items() if lines}


def test_every_table_header_is_dutch(demo, outputs):
    ws, _ = demo
    english = {name: english_in(out, ws, headers=True) for name, out in outputs.items()}
    assert not {name: lines for name, lines in english.items() if lines}


def test_the_check_finds_english():
    ws = Path("/nowhere")
    assert english_in("825 customer(s) with events but no feedback", ws, headers=False)
    assert english_in("┃ touchpoint ┃ fase ┃", ws, headers=True)
    assert not english_in("825 klanten met interacties, “the day”", ws, headers=False)
    assert not english_in("│ the customers │", ws, headers=False)  # a cell: data
    borderless = "Title\nphrase   favours\n───────────────\nthe day  detractors\nDe zin."
    assert [kind for kind, _ in line_kinds(borderless)] == [
        "message",
        "header",
        "rule",
        "cell",
        "message",
    ]
    assert english_in(borderless, ws, headers=True) == []  # "phrase", "favours": not listed
    assert english_in("rows  shown\n─────\n", ws, headers=True) == ["rows  shown"]


def test_status_reads_as_sentences(demo):
    ws, _ = demo
    out = invoke("status", ws, "--lang", "nl").output
    assert re.search(
        r"De werkruimte bevat [\d.]+ klanten, [\d.]+ interacties en [\d.]+ feedback", out
    )
    assert "De gegevens lopen van " in out
    assert "bewustwording → overweging" in out  # the template's phases, in Dutch


def test_a_refused_import_is_explained_in_dutch(tmp_path):
    ws = tmp_path / "ws"
    assert invoke("init", ws).exit_code == 0
    source = tmp_path / "events.csv"
    source.write_text("customer_id,ts,touchpoint\na,2024-01-01,order\nb,gisteren,order\nc,,order\n")
    result = invoke("import", ws, "events", source, "--lang", "nl")
    assert result.exit_code == 1
    out = result.output
    assert "fout:" in out and "import geweigerd, 2 ongeldige rijen" in out, out
    assert "regel 3: ts = 'gisteren': geen datum/tijd die ik kan lezen" in out, out
    assert "waarde ontbreekt" in out and "--skip-invalid" in out, out
    assert not english_in(out, tmp_path, headers=False), out


def test_a_missing_file_and_a_missing_workspace_in_dutch(tmp_path):
    ws = tmp_path / "ws"
    assert invoke("init", ws).exit_code == 0
    result = invoke("import", ws, "events", tmp_path / "nope.csv", "--lang", "nl")
    assert result.exit_code == 1 and "dit bestand bestaat niet" in result.output
    result = invoke("status", tmp_path / "elsewhere", "--lang", "nl")
    assert result.exit_code == 1 and "geen cxray-werkruimte" in result.output
    assert "error:" not in result.output
    # the same in English, as before
    result = invoke("status", tmp_path / "elsewhere")
    assert "error:" in result.output and "not a cxray workspace" in result.output


@pytest.mark.parametrize(
    ("text", "dutch"),
    [
        ("[journey\nname = 1\n", "geen geldige TOML (regel 1"),
        ('[journey]\nphases = ["a"]\ncolour = 1\n', "[journey] onbekende sleutel: colour"),
        ('[journey]\nphases = ["a", "a"]\n', "'phases' noemt een fase twee keer"),
        ('[journey]\nphases = ["a"]\n[churn]\ninactive_days = -3\n', "positief geheel aantal"),
    ],
)
def test_a_bad_journey_file_is_explained_in_dutch(tmp_path, text, dutch):
    ws = tmp_path / "ws"
    assert invoke("init", ws).exit_code == 0
    (ws / "cxray.toml").write_text(text)
    result = invoke("status", ws, "--lang", "nl")
    assert result.exit_code == 1
    assert "fout:" in result.output and dutch in result.output, result.output
