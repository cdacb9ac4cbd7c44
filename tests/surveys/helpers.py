"""Small hand-made workspaces with customers that have e-mail addresses, and survey settings."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import cxray

NOW = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)
SURVEYS = """
[touchpoints.order_placed]
phase = "conversion"
[touchpoints.delivery]
phase = "loyalty"
owner = "logistics"

[surveys]
fatigue_days = 30
base_url = "http://survey.example"

[surveys.after_delivery]
touchpoint = "delivery"
delay_days = 2
metric = "nps"
reminder_days = 5

[[surveys.after_delivery.questions]]
id = "speed"
text_en = "Was it fast enough?"
text_nl = "Was het snel genoeg?"
kind = "yes_no"
"""


def days_ago(days: float, now: dt.datetime = NOW) -> dt.datetime:
    return now - dt.timedelta(days=days)


def build(
    path: Path,
    customers: list[dict],
    events: list[dict],
    toml: str = SURVEYS,
) -> cxray.Workspace:
    """A workspace at ``path``: ``customers`` as dicts (customer_id, email, language, ...) and
    ``events`` as dicts (customer_id, touchpoint, ts, event_id)."""
    ws = cxray.init(path, overwrite=True)
    with ws.journey_path.open("a", encoding="utf-8") as handle:
        handle.write(toml)
    ws.reload_journey()
    for row in customers:
        attributes = {k: v for k, v in row.items() if k not in ("customer_id", "language")}
        ws.warehouse.sql(
            "INSERT INTO customers (customer_id, first_seen, language, attributes) "
            "VALUES (?, ?, ?, ?)",
            [
                row["customer_id"],
                row.get("first_seen", days_ago(400)),
                row.get("language"),
                json.dumps({k: v for k, v in attributes.items() if k != "first_seen"}, default=str),
            ],
        )
    for index, row in enumerate(events):
        ws.warehouse.sql(
            "INSERT INTO events (event_id, customer_id, ts, touchpoint) VALUES (?, ?, ?, ?)",
            [row.get("event_id", f"e{index}"), row["customer_id"], row["ts"], row["touchpoint"]],
        )
    return ws
