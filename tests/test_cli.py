"""The CLI mirrors the Python API; data output is machine-readable."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from cxray.cli import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_init_import_status_round_trip(tmp_path):
    ws = tmp_path / "ws"
    assert invoke("init", ws, "--template", "aacsd").exit_code == 0
    source = tmp_path / "events.csv"
    source.write_text("customer_id,ts,touchpoint\na,2024-01-01,order\nb,2024-01-02,order\n")
    result = invoke("import", ws, "events", source)
    assert result.exit_code == 0, result.output
    assert "2 rows read = 2 imported + 0 updated + 0 duplicates + 0 rejected" in result.output
    status = json.loads(invoke("status", ws, "--format", "json").stdout)
    assert status["counts"] == {"customers": 0, "events": 2, "feedback": 0}
    assert status["journey"]["phases"][0] == "awareness"
    assert any("no phase yet" in w for w in status["warnings"])
    csv_out = invoke("status", ws, "--format", "csv").stdout.splitlines()
    assert csv_out[0] == "table,rows" and "events,2" in csv_out


def test_refused_import_exits_nonzero_with_lines(tmp_path):
    ws = tmp_path / "ws"
    invoke("init", ws)
    source = tmp_path / "bad.csv"
    source.write_text("customer_id,ts,touchpoint\na,yesterday,order\n")
    result = invoke("import", ws, "events", source, "--errors-file", tmp_path / "e.csv")
    assert result.exit_code == 1
    assert "line 2: ts = 'yesterday'" in result.output
    status = json.loads(invoke("status", ws, "--format", "json").stdout)
    assert status["counts"]["events"] == 0


def test_import_json_output_and_mapping(tmp_path):
    ws = tmp_path / "ws"
    invoke("init", ws)
    source = tmp_path / "nps.csv"
    source.write_text("klant,datum,cijfer\na,2024-01-01,9\n")
    result = invoke(
        "import",
        ws,
        "feedback",
        source,
        "--map",
        "cijfer=score",
        "--set",
        "metric=nps",
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["rows_imported"] == 1
    assert data["column_map"] == {"score": "cijfer", "customer_id": "klant", "ts": "datum"}


def test_dutch_messages(tmp_path):
    result = invoke("init", tmp_path / "ws", "--lang", "nl")
    assert "Werkruimte" in result.output


def test_not_a_workspace_is_a_clear_error(tmp_path):
    result = runner.invoke(app, ["status", str(tmp_path)])
    assert result.exit_code == 1
    assert "not a cxray workspace" in result.output


def test_every_question_answers_in_json_on_a_demo(tmp_path):
    """The wiring from command to Workspace to analysis, for every analysis command."""
    ws = tmp_path / "demo"
    assert invoke("demo", ws, "--customers", "800", "--seed", "3").exit_code == 0
    commands = [
        ["metrics", "--by", "touchpoint"],
        ["compare"],
        ["funnel"],
        ["dropoff"],
        ["flows", "--show", "variants"],
        ["retention"],
        ["survival", "--by", "segment"],
        ["early-churn"],
        ["dose-response"],
        ["drivers"],
        ["nps-drivers", "--bootstrap", "20"],
        ["themes", "--discover", "2"],
        ["phrases"],
        ["risk"],
        ["risk", "--evaluate"],
        ["onboarding"],
    ]
    for command in commands:
        result = invoke(command[0], ws, *command[1:], "--format", "json")
        assert result.exit_code == 0, (command, result.output[-500:])
        assert isinstance(json.loads(result.stdout), dict), command
    report = tmp_path / "report.html"
    assert invoke("report", ws, "-o", report, "--lang", "nl").exit_code == 0
    assert report.stat().st_size > 100_000


def test_table_cells_never_print_exponents_or_infinity():
    from cxray.cli import _cell

    assert _cell(3.47e-18) == "<0.001" and _cell(-2e-9) == ">-0.001"
    assert _cell(999.7) == "1,000" and _cell(12.345) == "12.3" and _cell(0.0) == "0"
    assert _cell(float("inf")) == "not reached" and _cell(float("nan")) == ""


def test_a_churn_rule_that_misfits_is_said_beside_every_churn_answer(tmp_path):
    ws = tmp_path / "ws"
    invoke("init", ws)
    rows = ["customer_id,ts,touchpoint"]
    for i in range(30):
        rows.append(f"c{i},2024-01-{i % 28 + 1:02d},apply")
        if i % 2:
            rows.append(f"c{i},2024-02-{i % 28 + 1:02d},cancel")
    source = tmp_path / "log.csv"
    source.write_text("\n".join(rows) + "\n")
    assert invoke("import", ws, "events", source).exit_code == 0
    journey = (ws / "cxray.toml").read_text()
    journey = journey.replace("touchpoints = []", 'touchpoints = ["cancel"]\ninactive_days = 180')
    (ws / "cxray.toml").write_text(journey)
    for command in ("survival", "funnel", "dropoff", "retention", "drivers", "status"):
        words = " ".join(invoke(command, ws).output.split())
        assert "less than inactive_days = 180" in words, (command, words)
    data = json.loads(invoke("survival", ws, "--format", "json").stdout)
    assert any("inactive_days = 180" in w for w in data["warnings"])
    assert "korter dan inactive_days" in " ".join(
        invoke("survival", ws, "--lang", "nl").output.split()
    )
