"""`cxray playbooks run | list | effect` on a small workspace."""

from __future__ import annotations

import datetime as dt
import json

from typer.testing import CliRunner

from cxray.cli import app

runner = CliRunner()
NOW = dt.datetime(2025, 6, 1, 9, tzinfo=dt.UTC)
AS_OF = ["--as-of", "2025-06-01T09:00"]
PLAYBOOKS = {"reassure": {"moment": "after_purchase", "touchpoint": "order", "days": 1}}


def workspace(make_workspace, playbooks: dict | None = None):
    customers = [{"customer_id": f"c{i}", "first_seen": NOW - dt.timedelta(days=50)}
                 for i in range(4)]  # fmt: skip
    events = [
        {"event_id": f"e{i}", "customer_id": f"c{i}", "ts": NOW - dt.timedelta(days=2 + 20 * i),
         "touchpoint": "order"}
        for i in range(4)
    ]  # fmt: skip
    journey = {"touchpoints": {"order": {"phase": "conversion", "owner": "sales"}},
               "playbooks": playbooks or PLAYBOOKS}  # fmt: skip
    ws = make_workspace(customers=customers, events=events, journey=journey)
    path = ws.path
    ws.close()
    return path


def test_run_list_and_effect(make_workspace):
    path = workspace(make_workspace)
    ran = runner.invoke(app, ["playbooks", "run", str(path), *AS_OF])
    assert ran.exit_code == 0, ran.output
    assert "1 new (reassure: 1)" in ran.output  # c0 is due; the others' moments are too old
    again = runner.invoke(app, ["playbooks", "run", str(path), *AS_OF, "--lang", "nl"])
    assert "0 nieuw" in again.output
    listed = runner.invoke(app, ["playbooks", "list", str(path)])
    assert listed.exit_code == 0, listed.output
    assert "reassure: after the purchase" in listed.output and "sales" in listed.output
    dutch = runner.invoke(app, ["playbooks", "list", str(path), "--lang", "nl"])
    assert "na de aankoop" in dutch.output and "taak" in dutch.output
    data = json.loads(runner.invoke(app, ["playbooks", "list", str(path), "-f", "json"]).output)
    assert [t["customer_id"] for t in data["tasks"]] == ["c0"]
    effect = runner.invoke(app, ["playbooks", "effect", str(path), "--lang", "nl"])
    assert effect.exit_code == 0 and "observationeel" in effect.output


def test_errors_are_one_line_with_exit_code_1(make_workspace):
    path = workspace(make_workspace, {"x": {"moment": "birthday"}})
    english = runner.invoke(app, ["playbooks", "run", str(path)])
    assert english.exit_code == 1 and "Traceback" not in english.output
    assert "[playbooks.x] moment = 'birthday' must be one of" in english.output
    dutch = runner.invoke(app, ["playbooks", "list", str(path), "--lang", "nl"])
    assert dutch.exit_code == 1 and "moet een van" in dutch.output
