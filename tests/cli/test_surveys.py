"""`cxray survey list|plan|invite|links` on a small workspace."""

from __future__ import annotations

import csv
import datetime as dt
import json
import stat

import pytest
from typer.testing import CliRunner

from cxray.cli import app
from tests.surveys.helpers import build

runner = CliRunner()
NOW = dt.datetime.now(dt.UTC)


@pytest.fixture
def workspace(tmp_path):
    ws = build(
        tmp_path / "ws",
        [{"customer_id": "ann", "email": "ann@example.com", "language": "nl"},
         {"customer_id": "bob"}, {"customer_id": "cy", "email": "cy@example.com"}],
        [{"customer_id": c, "touchpoint": "delivery", "ts": NOW - dt.timedelta(days=d)}
         for c, d in (("ann", 3), ("bob", 3), ("cy", 1))],
    )  # fmt: skip
    ws.close()
    return tmp_path / "ws"


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def counts(path):
    import cxray

    with cxray.open(path, read_only=True) as ws:
        tables = {
            name
            for (name,) in ws.warehouse.query("SELECT table_name FROM information_schema.tables")
        }
        if "cxray_outbox" not in tables:
            return 0, 0
        return (
            ws.warehouse.query("SELECT count(*) FROM cxray_survey_invitations")[0][0],
            ws.warehouse.query("SELECT count(*) FROM cxray_outbox")[0][0],
        )


def test_plan_says_who_and_why_not_and_stores_nothing(workspace):
    shown = run("survey", "plan", workspace, "--dry-run")
    assert shown.exit_code == 0, shown.output
    assert "Due now: 1" in shown.output and "no e-mail address" in shown.output
    assert "not due yet" in shown.output and "bob" in shown.output
    dutch = run("survey", "plan", workspace, "--lang", "nl")
    assert "geen e-mailadres" in dutch.output
    data = json.loads(run("survey", "plan", workspace, "--format", "json").output)
    assert data["due_counts"] == {"after_delivery": 1}
    assert data["not_invited"]["after_delivery"]["no_address"] == 1
    assert all(row["email"] is None for row in data["due"])  # no addresses in reports
    assert run("survey", "invite", workspace, "--dry-run").exit_code == 0
    assert counts(workspace) == (0, 0)


def test_invite_then_list_then_links(workspace, tmp_path):
    made = run("survey", "invite", workspace)
    assert made.exit_code == 0, made.output
    assert "1 invitations" in made.output
    assert counts(workspace) == (1, 1)
    again = run("survey", "invite", workspace)
    assert "0 invitations" in again.output and counts(workspace) == (1, 1)
    listed = run("survey", "list", workspace, "--format", "json")
    data = json.loads(listed.output)
    assert data["surveys"][0]["counts"]["invited"] == 1
    assert data["surveys"][0]["counts"]["mail_queued"] == 1
    assert run("survey", "list", workspace).exit_code == 0
    target = tmp_path / "links.csv"
    written = run("survey", "links", workspace, "-o", target)
    assert written.exit_code == 0, written.output
    rows = list(csv.DictReader(target.open()))
    assert [(r["customer_id"], r["email"], r["language"]) for r in rows] == [
        ("ann", "ann@example.com", "nl")
    ]
    assert rows[0]["link"].startswith("http://survey.example/s/")
    assert rows[0]["opt_out_link"] == rows[0]["link"] + "/opt-out"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_a_bad_survey_table_is_one_clear_line(workspace):
    path = workspace / "cxray.toml"
    path.write_text(path.read_text().replace("delay_days = 2", "delay_dayz = 2"))
    for command in ("list", "plan", "invite"):
        failed = run("survey", command, workspace, "--lang", "nl")
        assert failed.exit_code == 1
        assert "[surveys.after_delivery]" in failed.output and "delay_dayz" in failed.output
        assert "onbekende sleutel" in failed.output
        assert "Traceback" not in failed.output
