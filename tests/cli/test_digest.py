"""`cxray digest`: prints the week's digest, a team's, as JSON; queues it once with --send."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import cxray
from cxray.cli import app
from cxray.demo import generate_demo

runner = CliRunner()
RECIPIENTS = """
[digest]
everyone = ["cx@shop.example"]
recipients = { logistics = ["log@shop.example"], service = ["desk@shop.example"] }
lang = "nl"
"""


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def demo_source(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("digest-cli") / "demo"
    generate_demo(folder, customers=300, seed=4)
    with (folder / "cxray.toml").open("a", encoding="utf-8") as journey:
        journey.write(RECIPIENTS)
    return folder


@pytest.fixture
def demo(demo_source, tmp_path) -> Path:
    target = tmp_path / "demo"
    shutil.copytree(demo_source, target)
    return target


def test_it_prints_the_last_complete_week_with_data(demo_source):
    result = invoke("digest", demo_source)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Weekly digest for the whole company: week 26 of 2026")
    assert "NPS this week:" in result.output and "95% interval" in result.output
    assert "Follow-ups" in result.output or "No follow-up" in result.output


def test_it_speaks_dutch(demo_source):
    result = invoke("digest", demo_source, "--team", "logistics", "--lang", "nl")
    assert result.exit_code == 0, result.output
    assert "Weekoverzicht voor team logistics: week 26 van 2026" in result.output
    assert "this week" not in result.output


def test_json_and_a_chosen_week(demo_source):
    result = invoke("digest", demo_source, "--week", "2026-W20", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["week"] == "2026-W20" and data["sentences"]["nl"]


def test_an_unknown_team_and_a_bad_week_are_one_line_errors(demo_source):
    team = invoke("digest", demo_source, "--team", "finance", "--lang", "nl")
    assert team.exit_code == 1 and "fout:" in team.output and "finance" in team.output
    week = invoke("digest", demo_source, "--week", "someday")
    assert week.exit_code == 1 and "is not a week" in week.output


def test_send_queues_once_per_recipient_and_a_dry_run_nothing(demo):
    planned = invoke("digest", demo, "--send", "--dry-run", "--as-of", "2026-07-06T09:00")
    assert planned.exit_code == 0, planned.output
    assert "3 mails would be queued" in planned.output and "log@shop.example" in planned.output
    first = invoke("digest", demo, "--send", "--as-of", "2026-07-06T09:00")
    assert first.exit_code == 0 and "3 mails queued" in first.output, first.output
    again = invoke("digest", demo, "--send", "--as-of", "2026-07-06T10:00", "--lang", "nl")
    assert "0 mails klaargezet, 3 al eerder" in again.output, again.output
    with cxray.open(demo, read_only=True) as ws:
        rows = ws.warehouse.query("SELECT subject FROM cxray_outbox WHERE kind = 'digest'")
    assert len(rows) == 3 and all(s.startswith("Weekoverzicht 2026-W27") for (s,) in rows)


def test_send_for_one_team(demo):
    result = invoke("digest", demo, "--send", "--team", "service", "--as-of", "2026-07-06T09:00")
    assert result.exit_code == 0 and "1 mail queued" in result.output, result.output
