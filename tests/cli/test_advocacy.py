"""`cxray advocacy plan | ask` on a small workspace: a dry run that stores nothing, asks made
once with their mails queued, errors on one line in both languages."""

from __future__ import annotations

import datetime as dt
import json

from typer.testing import CliRunner

import cxray
from cxray.actions import advocacy as A
from cxray.actions import outbox
from cxray.cli import app

runner = CliRunner()
NOW = dt.datetime(2025, 6, 1, 9, tzinfo=dt.UTC)
AS_OF = ["--as-of", "2025-06-01T09:00"]
ADVOCACY = {"value_touchpoint": "delivery", "min_days": 30, "review_url": "https://r.example/x"}


def workspace(make_workspace, advocacy: dict | None = None):
    customers = [
        {"customer_id": f"c{i}", "first_seen": NOW - dt.timedelta(days=10 + 20 * i),
         "attributes": json.dumps({"email": f"c{i}@example.com"})}
        for i in range(6)
    ]  # fmt: skip
    events = [
        {"event_id": f"e{i}", "customer_id": f"c{i}", "ts": NOW - dt.timedelta(days=5),
         "touchpoint": "delivery"}
        for i in range(6)
    ]  # fmt: skip
    journey = {"touchpoints": {"delivery": {"phase": "loyalty"}}, "advocacy": advocacy or ADVOCACY}
    ws = make_workspace(customers=customers, events=events, journey=journey)
    path = ws.path
    ws.close()
    return path


def test_plan_then_ask_once(make_workspace):
    path = workspace(make_workspace)
    plan = runner.invoke(app, ["advocacy", "plan", str(path), *AS_OF])
    assert plan.exit_code == 0, plan.output
    assert "Due to ask: 5 review" in plan.output and "customer too short: 1" in plan.output
    assert "c0" in plan.output
    dutch = runner.invoke(app, ["advocacy", "plan", str(path), *AS_OF, "--lang", "nl"])
    assert "Te vragen: 5 review" in dutch.output and "nog te kort klant: 1" in dutch.output
    data = json.loads(
        runner.invoke(app, ["advocacy", "plan", str(path), *AS_OF, "-f", "json"]).output
    )
    assert data["due_counts"] == {"review": 5} and data["not_asked"]["too_new"] == 1
    with cxray.open(path) as ws:
        assert not A.table_exists(ws.warehouse, A.TABLE)  # the plan stored nothing
    asked = runner.invoke(app, ["advocacy", "ask", str(path), *AS_OF])
    assert asked.exit_code == 0, asked.output and "Asked: 5 review" in asked.output
    again = runner.invoke(app, ["advocacy", "ask", str(path), *AS_OF, "--lang", "nl"])
    assert "Gevraagd: 0" in again.output
    with cxray.open(path) as ws:
        assert len(A.list_asks(ws.warehouse)) == 5
        assert outbox.counts(ws.warehouse)["queued"] == 5


def test_errors_are_one_line_with_exit_code_1(make_workspace):
    path = workspace(make_workspace, {**ADVOCACY, "every_dayz": 3})
    english = runner.invoke(app, ["advocacy", "plan", str(path)])
    assert english.exit_code == 1 and "Traceback" not in english.output
    assert "[advocacy] unknown key 'every_dayz'" in english.output
    dutch = runner.invoke(app, ["advocacy", "ask", str(path), "--lang", "nl"])
    assert dutch.exit_code == 1 and "onbekende sleutel 'every_dayz'" in dutch.output
    bad = runner.invoke(app, ["advocacy", "plan", str(path), "--as-of", "soon"])
    assert bad.exit_code == 1 and "--as-of" in bad.output
