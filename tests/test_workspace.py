"""Opening a workspace: questions read side by side, only data commands write."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pytest
import typer.main
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import cxray
from cxray.cli import app
from cxray.ingest import writing
from cxray.warehouse import WarehouseError
from cxray.warehouse import core as warehouse_core
from tests.warehouse import test_postgres
from tests.warehouse.test_core import held

runner = CliRunner()
postgres_url = test_postgres.postgres_url  # the fixture: a fresh database on the test server
# serve and user keep accounts and notes; survey, mail and followups are groups of commands
# that store invitations, mail states and follow-ups
WRITERS = {
    "init",
    "import",
    "demo",
    "serve",
    "user",
    "survey",
    "mail",
    "followups",
    "advocacy",
    "playbooks",
}
QUESTIONS = sorted(set(typer.main.get_command(app).commands) - WRITERS)


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


FEEDBACK = [
    {"response_id": f"r{i}", "customer_id": f"c{i}", "ts": f"2024-01-0{d}", "metric": "nps",
     "score": float(i % 11)}
    for i, d in zip(range(40), [1, 2, 3, 4, 5] * 8, strict=True)
]  # fmt: skip
EVENTS = [
    {"event_id": f"e{i}", "customer_id": f"c{i % 10}", "ts": "2024-01-01", "touchpoint": "order"}
    for i in range(20)
]


@pytest.fixture
def workspace(make_workspace) -> Path:
    ws = make_workspace(feedback=FEEDBACK, events=EVENTS)
    ws.close()
    return ws.path


def _warehouse_file(path: Path) -> Path:
    return path / warehouse_core.DEFAULT_FILE


@pytest.mark.parametrize("command", QUESTIONS)
def test_every_question_command_opens_read_only(command, tmp_path, monkeypatch) -> None:
    asked: list[bool] = []

    def recording_open(path, read_only: bool = False):
        asked.append(read_only)
        raise cxray.WorkspaceError("stop here")

    monkeypatch.setattr(cxray, "open", recording_open)
    result = invoke(command, tmp_path)
    assert "stop here" in result.output
    assert asked == [True]


def test_import_opens_for_writing(tmp_path, monkeypatch) -> None:
    asked: list[bool] = []

    def recording_open(path, read_only: bool = False):
        asked.append(read_only)
        raise cxray.WorkspaceError("stop here")

    monkeypatch.setattr(cxray, "open", recording_open)
    source = tmp_path / "events.csv"
    source.write_text("customer_id,ts,touchpoint\na,2024-01-01,order\n")
    invoke("import", tmp_path, "events", source)
    assert asked == [False]


def test_questions_run_while_another_command_reads(workspace: Path, tmp_path: Path) -> None:
    with held(_warehouse_file(workspace), read_only=True):
        status = invoke("status", workspace, "--format", "json")
        assert status.exit_code == 0, status.output
        assert json.loads(status.stdout)["counts"]["feedback"] == len(FEEDBACK)
        metrics = invoke("metrics", workspace, "--format", "json")
        assert metrics.exit_code == 0, metrics.output
        report = invoke("report", workspace, "--output", tmp_path / "r.html")
        assert report.exit_code == 0, report.output
    assert (tmp_path / "r.html").stat().st_size > 0


def test_a_question_while_an_import_writes_says_busy_in_one_line(
    workspace: Path, monkeypatch
) -> None:
    monkeypatch.setattr(warehouse_core, "LOCK_WAIT_SECONDS", 0.3)
    with held(_warehouse_file(workspace)):
        result = invoke("status", workspace)
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert "workspace is busy" in lines[0] and "import" in lines[0]
    assert "PID" not in result.output and "Traceback" not in result.output


def test_an_import_while_another_command_reads_says_busy(workspace: Path, monkeypatch) -> None:
    monkeypatch.setattr(warehouse_core, "LOCK_WAIT_SECONDS", 0.3)
    source = workspace / "more.csv"
    source.write_text("customer_id,ts,touchpoint\nz,2024-02-01,order\n")
    with held(_warehouse_file(workspace), read_only=True):
        result = invoke("import", workspace, "events", source)
    assert result.exit_code == 1
    assert "workspace is busy" in result.output and "PID" not in result.output
    with cxray.open(workspace, read_only=True) as ws:
        assert ws.warehouse.count("events") == len(EVENTS)  # nothing got in


def _make_older(path: Path, table: str, dropped: list[str]) -> None:
    """Rewrite a table as an earlier version left it: without some newer columns."""
    with cxray.open(path) as ws:
        for column in dropped:
            ws.warehouse.sql(f'ALTER TABLE "{table}" DROP COLUMN "{column}"')


def test_an_older_workspace_answers_read_only_and_is_left_as_it_was(workspace: Path) -> None:
    _make_older(workspace, "feedback", ["survey_id", "event_id"])
    _make_older(workspace, "customers", ["churned_at", "last_seen"])
    before = _warehouse_file(workspace).read_bytes()
    with cxray.open(workspace, read_only=True) as ws:
        assert ws.status().counts["feedback"] == len(FEEDBACK)
        nps = ws.metrics("nps").to_pandas()
        assert int(nps["n"].sum()) == len(FEEDBACK)
        assert "survey_id" in ws.feedback.columns
    assert _warehouse_file(workspace).read_bytes() == before
    result = invoke("status", workspace, "--format", "json")
    assert result.exit_code == 0, result.output
    with cxray.open(workspace) as ws:  # a writer brings it up to date
        assert "survey_id" in ws.warehouse.backend.table("feedback").columns


def test_a_read_only_workspace_refuses_to_import_and_says_why(workspace: Path) -> None:
    source = workspace / "more.csv"
    source.write_text("customer_id,ts,touchpoint\nz,2024-02-01,order\n")
    with cxray.open(workspace, read_only=True) as ws:
        with pytest.raises(WarehouseError, match=r"opened read-only.*read_only=False"):
            ws.import_table("events", source)
        assert ws.warehouse.count("events") == len(EVENTS)


# -- quarantine files: one per import, never written over -------------------------------------
class _FrozenClock(dt.datetime):
    @classmethod
    def now(cls, tz=None):  # every import in the same second
        return dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)


def _bad_file(folder: Path, customer: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "events.csv"  # the same name each time: the usual case of a re-export
    source.write_text(
        f"customer_id,ts,touchpoint\n{customer},2024-01-01,order\n{customer},yesterday,order\n"
    )
    return source


@settings(
    max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(imports=st.integers(min_value=2, max_value=4))
def test_imports_in_the_same_second_keep_their_own_quarantine_files(
    tmp_path_factory, monkeypatch, imports: int
) -> None:
    monkeypatch.setattr(writing.dt, "datetime", _FrozenClock)
    path = tmp_path_factory.mktemp("quarantine")
    ws = cxray.init(path / "ws")
    quarantine = ws.path / "quarantine"
    quarantine.mkdir()
    kept = quarantine / "events.csv.20240501-120000.csv"
    kept.write_text("someone's earlier file\n")
    try:
        written = [
            ws.import_table(
                "events", _bad_file(path / f"drop{i}", f"c{i}"), skip_invalid=True
            ).quarantine
            for i in range(imports)
        ]
    finally:
        ws.close()
    assert len(set(written)) == imports and kept not in written
    assert kept.read_text() == "someone's earlier file\n"
    for i, name in enumerate(written):
        file = Path(name)
        assert file.parent == quarantine and file.name.startswith("events.csv.20240501-120000")
        with open(file, encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        assert [(r["customer_id"], r["ts"]) for r in rows] == [(f"c{i}", "yesterday")]


def test_a_quarantine_file_that_fails_to_write_is_not_left_half_done(
    make_workspace, tmp_path, monkeypatch
) -> None:
    ws = make_workspace()

    def disk_full(fd: int) -> None:  # the rows are written, making them durable fails
        raise OSError("disk full")

    monkeypatch.setattr(writing.os, "fsync", disk_full)
    with pytest.raises(OSError, match="disk full"):
        ws.import_table("events", _bad_file(tmp_path / "drop", "c"), skip_invalid=True)
    assert list((ws.path / "quarantine").iterdir()) == []
    assert ws.warehouse.counts()["events"] == 0  # written before the commit: nothing imported


# -- read_only is a DuckDB notion: on a server engine it changes nothing -------------------------
def test_read_only_on_postgres_opens_as_usual(postgres_url, tmp_path) -> None:
    with cxray.init(tmp_path / "ws", warehouse_url=postgres_url) as ws:
        ws.warehouse.sql("DROP TABLE feedback")  # as an earlier version might have left it
    with cxray.open(tmp_path / "ws", read_only=True) as ws:  # brought up to date as usual
        assert ws.warehouse.engine == "postgres" and not ws.warehouse.read_only
        assert ws.warehouse.counts() == {"customers": 0, "events": 0, "feedback": 0}
