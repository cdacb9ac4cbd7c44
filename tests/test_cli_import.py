"""`cxray import`: --dry-run shows the mapping and the rows, --recode turns labels into values."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import cxray
from cxray.cli import app

runner = CliRunner()
SURVEY = (
    "Type,ResponseId,RecordedDate,Sentiment,[b]Region\n"
    "IP Address,R_1,2024-03-01 10:05,positive,[/bold]North\n"
    "Survey Preview,R_2,2024-03-02 11:05,Negative,South\n"
    "IP Address,R_3,2024-03-03 09:00,mixed,West\n"
)


def invoke(*args: object):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


@pytest.fixture
def workspace(tmp_path: Path) -> tuple[Path, Path]:
    path = tmp_path / "ws"
    cxray.init(path).close()
    source = tmp_path / "survey.csv"
    source.write_text(SURVEY, encoding="utf-8")
    return path, source


def test_a_dry_run_prints_the_mapping_and_rows_and_writes_nothing(workspace):
    path, source = workspace
    journey = (path / "cxray.toml").read_bytes()
    result = invoke(
        "import",
        path,
        "feedback",
        source,
        "--dry-run",
        "--map",
        "Sentiment=score",
        "--set",
        "metric=rating",
        "--recode",
        "score=negative:1,positive:5",
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Dry run of" in out and "nothing is written" in out
    assert "Column mapping" in out
    for row in (
        ("response_id", "ResponseId", "alias"),
        ("ts", "RecordedDate", "alias"),
        ("score", "Sentiment", "--map"),
        ("metric", "", "--set"),
    ):
        assert any(all(cell in line for cell in row) for line in out.splitlines()), row
    assert "recode:" in out
    assert "kept as JSON in properties: Type, [b]Region" in out  # data, never markup
    assert "3 row(s) read, 1 would be refused" in out
    assert "line 4: Sentiment = 'mixed': not a number" in out
    assert "--recode score=negative:1,positive:5,mixed:?" in out  # the labels not yet given
    assert (path / "cxray.toml").read_bytes() == journey
    assert not (path / "errors").exists()
    with cxray.open(path, read_only=True) as ws:
        assert ws.warehouse.counts() == {"customers": 0, "events": 0, "feedback": 0}


def test_a_dry_run_in_dutch_says_why_a_column_was_not_guessed(workspace):
    path, source = workspace
    result = invoke("import", path, "feedback", source, "--dry-run", "--lang", "nl")
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "Kolomtoewijzing" in out and "niet gevonden" in out
    assert "niet geraden: Type voor metric: de waarden zijn geen metrieken die cxray kent" in out
    assert "--map Type=metric" in out
    assert "verplichte kolommen ontbreken: metric en score" in out


def test_a_dry_run_as_json_and_csv(workspace):
    path, source = workspace
    options = ["--dry-run", "--map", "Sentiment=score", "--set", "metric=rating", "--rows", "2"]
    result = invoke("import", path, "feedback", source, *options, "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["dry_run"] is True and data["rows_shown"] == 2
    assert [r["response_id"] for r in data["rows"]] == ["R_1", "R_2"]
    assert data["not_guessed"] == []  # --set metric leaves nothing to guess
    assert json.loads(data["rows"][0]["properties"]) == {
        "Type": "IP Address",
        "[b]Region": "[/bold]North",
    }
    result = invoke(
        "import", path, "feedback", source, *options, "--recode", "score=positive:5", "-f", "json"
    )
    assert json.loads(result.stdout)["mapping"][4]["recode"] == {"positive": "5"}
    result = invoke("import", path, "feedback", source, *options, "--format", "csv")
    frame = pd.read_csv(io.StringIO(result.stdout))
    assert frame["line"].tolist() == [2, 3]
    assert frame["refused"].tolist() == ["Sentiment: not a number"] * 2  # the file's name


def test_recode_imports_labels_as_scores(workspace):
    path, source = workspace
    result = invoke(
        "import",
        path,
        "feedback",
        source,
        "--map",
        "Sentiment=score",
        "--set",
        "metric=rating",
        "--recode",
        "Sentiment=negative:1,positive:5,mixed:3",
    )
    assert result.exit_code == 0, result.output
    with cxray.open(path, read_only=True) as ws:
        stored = ws.feedback.order_by("response_id").execute()
    assert stored["score"].tolist() == [5.0, 1.0, 3.0]
    assert json.loads(stored["properties"][0]) == {
        "Type": "IP Address",
        "[b]Region": "[/bold]North",
    }


def test_bad_recode_syntax_is_refused_before_the_file_is_read(tmp_path):
    path = tmp_path / "ws"
    cxray.init(path).close()
    result = invoke("import", path, "feedback", tmp_path / "absent.csv", "--recode", "score=good")
    assert result.exit_code == 1
    assert "--recode score: 'good' is not LABEL:VALUE" in result.output
    assert "no such file" not in result.output


def test_a_dry_run_shows_lifetime_dates_derived_from_a_tenure(tmp_path):
    path = tmp_path / "ws"
    cxray.init(path).close()
    crm = tmp_path / "crm.csv"
    crm.write_text("customerID,tenure,Churn\na,3,Yes\n", encoding="utf-8")
    options = ["--dry-run", "--as-of", "2024-01-31", "--tenure-unit", "months"]
    result = invoke("import", path, "customers", crm, *options)
    assert result.exit_code == 0, result.output
    header = next(
        line for line in result.output.splitlines() if "customer_id" in line and "┃" in line
    )
    assert "first_seen" in header and "churned_at" in header  # fed by tenure and churn
    assert any("Churn" in line and "alias" in line for line in result.output.splitlines())
