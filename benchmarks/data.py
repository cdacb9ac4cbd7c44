"""A large synthetic workspace for the analysis benchmarks, generated with DuckDB SQL.

One customer per row of ``range(customers)``; each has 5–15 events spread over their lifetime
(acquired over two years; about half stay to the end of the data, the rest leave after days to
~16 months), moving forward through the five phases as far as their own depth goes, with bad
experiences (late deliveries, failed logins) only among customers who leave. A quarter of the
leavers who got as far as conversion cancel explicitly (the churn touchpoint); the rest simply
go quiet and churn by the journey's inactivity rule. About one event in ten gets a survey answer
(NPS, CSAT or CES) tied to the event; a third of those answers carry no touchpoint of their own,
so the touchpoint must come from the event.

Randomness comes from ``hash`` of the row numbers, so a rebuild gives the same data. The
workspace is built once per size and reused: ``BENCH_DIR/analysis-<customers>``.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import tomlkit

from benchmarks.common import BENCH_DIR

CUSTOMERS = int(os.environ.get("CXRAY_BENCH_CUSTOMERS", 1_000_000))

PHASES = ["awareness", "consideration", "conversion", "loyalty", "advocacy"]
# phase -> [(touchpoint, channel, bad_experience)]
TOUCHPOINTS: dict[str, list[tuple[str, str, bool]]] = {
    "awareness": [("ad_click", "social", False), ("site_visit", "web", False)],
    "consideration": [
        ("product_view", "web", False),
        ("newsletter_open", "email", False),
        ("chat_question", "web", False),
    ],
    "conversion": [("cart_add", "web", False), ("order_placed", "web", False)],
    "loyalty": [
        ("delivery", "logistics", False),
        ("delivery_late", "logistics", True),
        ("support_call", "phone", False),
        ("invoice_sent", "email", False),
        ("login_failed", "app", True),
    ],
    "advocacy": [("review_written", "web", False), ("referral", "social", False)],
}
CHURN_TOUCHPOINT = "subscription_cancelled"
INACTIVE_DAYS = 90
DATA_START = "2023-01-01"
ACQUISITION_DAYS = 730  # customers start over two years
MARKER = "complete"  # written last: a half-built workspace is rebuilt


def workspace_path(customers: int = CUSTOMERS) -> Path:
    return BENCH_DIR / f"analysis-{customers}"


def build(customers: int = CUSTOMERS, force: bool = False) -> Path:
    """The benchmark workspace for ``customers`` customers, built on first use."""
    path = workspace_path(customers)
    if (path / MARKER).exists() and not force:
        return path
    import cxray

    shutil.rmtree(path, ignore_errors=True)
    started = time.perf_counter()
    ws = cxray.init(path, template="five-phase", name="benchmark webshop")
    _write_journey(ws.journey_path)
    con = ws.warehouse.backend.con
    for statement in _statements(customers):
        con.execute(statement)
    con.execute("CHECKPOINT")
    counts = ws.warehouse.counts()
    ws.close()
    (path / MARKER).write_text(f"{counts}\n")
    print(f"built {path} in {time.perf_counter() - started:.0f} s: {counts}")
    return path


def _write_journey(journey_path: Path) -> None:
    doc = tomlkit.parse(journey_path.read_text(encoding="utf-8"))
    if "touchpoints" not in doc:
        doc["touchpoints"] = tomlkit.table(is_super_table=True)
    section = doc["touchpoints"]
    for phase, touchpoints in TOUCHPOINTS.items():
        for name, channel, bad in touchpoints:
            table = tomlkit.table()
            table["phase"] = phase
            table["channel"] = channel
            if bad:
                table["bad_experience"] = True
            section[name] = table
    cancelled = tomlkit.table()
    cancelled["phase"] = "loyalty"
    cancelled["channel"] = "web"
    section[CHURN_TOUCHPOINT] = cancelled
    doc["churn"]["touchpoints"] = [CHURN_TOUCHPOINT]
    doc["churn"]["inactive_days"] = INACTIVE_DAYS
    journey_path.write_text(tomlkit.dumps(doc), encoding="utf-8")


def _sql_list(values: list) -> str:
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


def _statements(customers: int) -> list[str]:
    names = _sql_list([_sql_list([t[0] for t in tps]) for tps in TOUCHPOINTS.values()])
    names = names.replace("'[", "[").replace("]'", "]")
    channels = _sql_list([_sql_list([t[1] for t in tps]) for tps in TOUCHPOINTS.values()])
    channels = channels.replace("'[", "[").replace("]'", "]")
    # u(x): a deterministic uniform number in [0, 1) from a hash
    end_days = ACQUISITION_DAYS + 365
    people = f"""
        SELECT i,
               'c' || i AS customer_id,
               TIMESTAMPTZ '{DATA_START} 00:00:00+00'
                   + to_seconds(CAST((hash(i, 1) % ({ACQUISITION_DAYS} * 86400)) AS BIGINT))
                   AS first_seen,
               5 + CAST(hash(i, 2) % 11 AS INTEGER) AS n_events,
               1 + CAST(hash(i, 3) % 5 AS INTEGER) AS depth,
               -- lifetime in days: about half stay to the end of the data, the rest leave
               -- after days to ~16 months
               CASE WHEN hash(i, 10) % 100 < 45 THEN 10000.0
                    ELSE 1 + 500 * pow((hash(i, 4) % 10000) / 10000.0, 1.5) END AS life_days,
               (hash(i, 5) % 100) < 25 AS cancels,
               ['consumer', 'consumer', 'business', 'premium'][1 + CAST(hash(i, 6) % 4 AS INT)]
                   AS segment,
               ['en', 'nl'][1 + CAST(hash(i, 7) % 2 AS INT)] AS language
        FROM range({customers}) t(i)
    """
    return [
        f"""CREATE TEMP TABLE people AS
            SELECT *, least(life_days, days_left) AS span_days, life_days < days_left AS leaves
            FROM (SELECT *, date_diff('second', first_seen,
                                      TIMESTAMPTZ '{DATA_START} 00:00:00+00'
                                      + INTERVAL {end_days} DAY) / 86400.0 AS days_left
                  FROM ({people}))""",
        """INSERT INTO customers
           SELECT customer_id, first_seen, segment, language,
                  round((hash(i, 8) % 100000) / 100.0, 2) AS value,
                  '{"region": "' || ['north', 'south', 'east', 'west'][1 + CAST(hash(i, 9) % 4 AS INT)]
                      || '"}' AS attributes
           FROM people""",
        f"""CREATE TEMP TABLE raw_events AS
            WITH steps AS (
                SELECT p.*, unnest(range(n_events)) AS k FROM people p
            ), placed AS (
                SELECT *,
                       -- position along the journey, never beyond the customer's depth
                       least(depth - 1,
                             CAST(floor(k * depth / n_events + (hash(i, k, 10) % 100) / 160.0)
                                  AS INTEGER)) AS phase_idx,
                       (hash(i, k, 11) % 1000) / 1000.0 AS u_tp,
                       (hash(i, k, 12) % 1000) / 1000.0 AS u_ts,
                       cancels AND leaves AND depth >= 3 AND k = n_events - 1 AS is_cancel
                FROM steps
            )
            SELECT i, k, customer_id, is_cancel,
                   first_seen + to_seconds(CAST(
                       (k + 1 - 0.9 * u_ts) / n_events * span_days * 86400 AS BIGINT)) AS ts,
                   CASE WHEN is_cancel THEN '{CHURN_TOUCHPOINT}'
                        -- late deliveries and failed logins cluster among short lifetimes
                        WHEN phase_idx = 3 AND leaves AND u_tp < 0.25
                            THEN CASE WHEN u_tp < 0.15 THEN 'delivery_late' ELSE 'login_failed' END
                        ELSE {names}[phase_idx + 1]
                             [1 + CAST(floor(u_tp * len({names}[phase_idx + 1])) AS INTEGER)]
                   END AS touchpoint,
                   {channels}[phase_idx + 1]
                       [1 + CAST(floor(u_tp * len({channels}[phase_idx + 1])) AS INTEGER)]
                       AS channel
            FROM placed""",
        """INSERT INTO events
           SELECT 'e' || i || '-' || k AS event_id, customer_id, ts, touchpoint, channel,
                  CASE WHEN touchpoint = 'order_placed'
                       THEN round(10 + (hash(i, k, 13) % 20000) / 100.0, 2) END AS value,
                  NULL AS properties
           FROM raw_events""",
        """INSERT INTO feedback
           WITH answered AS (
               SELECT *, (hash(i, k, 20) % 1000) / 1000.0 AS u_score,
                      ['nps', 'csat', 'ces'][1 + CAST(hash(i, k, 21) % 3 AS INT)] AS metric,
                      touchpoint IN ('delivery_late', 'login_failed') AS bad
               FROM raw_events
               WHERE hash(i, k, 22) % 10 = 0 AND touchpoint <> 'subscription_cancelled'
           )
           SELECT 'r' || i || '-' || k AS response_id, customer_id,
                  ts + INTERVAL 2 HOUR AS ts, metric,
                  CAST(CASE metric
                      WHEN 'nps' THEN least(10, floor(u_score * 11 + CASE WHEN bad THEN -4 ELSE 1 END))
                      WHEN 'csat' THEN least(5, 1 + floor(u_score * 5 + CASE WHEN bad THEN -2 ELSE 0.7 END))
                      ELSE least(7, 1 + floor(u_score * 7 + CASE WHEN bad THEN -3 ELSE 1 END))
                  END AS DOUBLE) AS score,
                  NULL AS comment, NULL AS language,
                  CASE WHEN hash(i, k, 23) % 3 = 0 THEN NULL ELSE touchpoint END AS touchpoint,
                  'e' || i || '-' || k AS event_id, NULL AS survey_id
           FROM answered""",
        # negative scores from the bad-experience shift are floored to the scale minimum
        """UPDATE feedback SET score = CASE metric WHEN 'nps' THEN 0 ELSE 1 END
           WHERE score < CASE metric WHEN 'nps' THEN 0 ELSE 1 END""",
        "DROP TABLE raw_events",
        "DROP TABLE people",
    ]


if __name__ == "__main__":
    build(force=True)
