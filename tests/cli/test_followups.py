"""`cxray followups open | list | effect` on a small workspace."""

from __future__ import annotations

import datetime as dt
import json

from typer.testing import CliRunner

from cxray.actions import followups as F
from cxray.cli import app

runner = CliRunner()
NOW = dt.datetime(2025, 3, 1, 12, tzinfo=dt.UTC)


def workspace(make_workspace, followups: dict | None = None):
    feedback = [
        {"response_id": f"r{i}", "customer_id": f"c{i}", "ts": NOW - dt.timedelta(days=1),
         "metric": "nps", "score": float(i % 11), "touchpoint": "delivery"}
        for i in range(30)
    ]  # fmt: skip
    journey = {"touchpoints": {"delivery": {"phase": "loyalty", "owner": "logistics"}}}
    if followups:
        journey["followups"] = followups
    ws = make_workspace(feedback=feedback, journey=journey)
    path = ws.path
    ws.close()
    return path


def test_open_then_list_then_effect(make_workspace):
    path = workspace(make_workspace)
    opened = runner.invoke(app, ["followups", "open", str(path), "--as-of", "2025-03-01T12:00"])
    assert opened.exit_code == 0, opened.output
    detractors = sum(1 for i in range(30) if i % 11 <= 6)
    assert f"{detractors} follow-ups opened" in opened.output
    again = runner.invoke(app, ["followups", "open", str(path), "--as-of", "2025-03-01T12:00"])
    assert "0 follow-ups opened" in again.output
    listed = runner.invoke(
        app, ["followups", "list", str(path), "--as-of", "2025-03-05", "--format", "json"]
    )
    assert listed.exit_code == 0, listed.output
    data = json.loads(listed.output)
    assert data["total"] == detractors and data["counts"]["overdue"] == detractors
    assert {row["assignee"] for row in data["rows"]} == {"logistics"}
    overdue = runner.invoke(
        app, ["followups", "list", str(path), "--overdue", "--as-of", "2025-03-02", "--lang", "nl"]
    )
    assert "0 opvolgingen passen" in overdue.output
    table = runner.invoke(app, ["followups", "list", str(path), "--status", "open"])
    assert "fu-" in table.output and f"{detractors} follow-ups match" in table.output
    effect = runner.invoke(app, ["followups", "effect", str(path), "--format", "json"])
    assert effect.exit_code == 0, effect.output
    assert json.loads(effect.output)["design"] == "observational"
    words = runner.invoke(app, ["followups", "effect", str(path), "--lang", "nl"])
    assert "Observationeel" in words.output


def test_errors_are_one_line_with_exit_code_1(make_workspace):
    path = workspace(make_workspace, {"due_hourz": 3})
    bad_rules = runner.invoke(app, ["followups", "open", str(path)])
    assert bad_rules.exit_code == 1 and "[followups]" in bad_rules.output
    assert "due_hourz" in bad_rules.output
    bad_time = runner.invoke(app, ["followups", "open", str(path), "--as-of", "soon"])
    assert bad_time.exit_code == 1 and "--as-of" in bad_time.output
    path = workspace(make_workspace)
    bad_status = runner.invoke(app, ["followups", "list", str(path), "--status", "closed"])
    assert bad_status.exit_code == 1 and "closed" in bad_status.output


def test_held_out_follow_ups_are_listed_apart(make_workspace):
    path = workspace(make_workspace, {"holdout_share": 0.5})
    runner.invoke(app, ["followups", "open", str(path), "--as-of", "2025-03-01T12:00"])
    held = runner.invoke(app, ["followups", "list", str(path), "--held-out", "-f", "json"])
    rows = json.loads(held.output)["rows"]
    assert rows and all(row["held_out"] and row["status"] == "open" for row in rows)
    assert F.TABLE == "cxray_followups"
