"""Every analysis on 1M customers / ~10M events, against hand-written DuckDB SQL and pandas.

For each analysis, in the same run on the same workspace (built once by ``benchmarks.data``):

- **cxray**: the workspace method (``ws.funnel()`` ...), opening the workspace included;
- **SQL**: hand-written DuckDB SQL answering the same question on the same tables, on a fresh
  read-only connection to the warehouse file (plus the same few lines of Python on the small
  aggregate where cxray has them too, e.g. the Kaplan–Meier product);
- **pandas**: what a data scientist would write: load the columns needed with DuckDB's
  ``.df()`` (counted in the time) and answer with groupby / shift / sort; for survival, the
  per-customer durations in pandas and lifelines' ``KaplanMeierFitter``.

Each runs in a fresh process (``measure``). Every answer is checked against cxray's (counts
equal, scores and curves equal to rounding), so the ratios compare equal work.

Targets: cxray within 1.5× of the SQL; directly-follows graph plus variants at least 10× faster
than pandas; peak memory of the cxray process under 2 GiB.

Settings: CXRAY_BENCH_CUSTOMERS (default 1,000,000; ~10 events and ~1 answer each),
CXRAY_BENCH_REPEAT (default 3: cxray and SQL times are the best of this many runs; pandas runs
once), CXRAY_BENCH_ONLY (comma-separated first words of the step names: metrics, funnel,
dropoff, dfg, flows, retention, early, survival).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks import data
from benchmarks.common import measure, print_table

REPEAT = int(os.environ.get("CXRAY_BENCH_REPEAT", 3))
ONLY = [s.strip() for s in os.environ.get("CXRAY_BENCH_ONLY", "").split(",") if s.strip()]
SQL_TARGET = 1.5  # cxray time / SQL time at most
PANDAS_TARGET = {"DFG + variants": 10.0}  # pandas time / cxray time at least
MEMORY_TARGET_GB = 2.0  # decimal gigabytes (10^9 bytes), as the target is stated
GIB = 2**30 / 1e9  # measure() reports GiB
END = "__end__"
START = "__start__"
EARLY_DAYS = 100


# -- shared: connections, the journey, customer lifetimes ---------------------------------------
def _workspace(path: Path):
    import cxray

    return cxray.open(path, read_only=True)


def _connect(path: Path):
    import duckdb

    con = duckdb.connect(str(path / "warehouse.duckdb"), read_only=True)
    con.execute("SET TimeZone = 'UTC'")  # calendar truncation in UTC, as cxray does
    return con


def _journey(path: Path):
    from cxray.journey import load

    return load(path / "cxray.toml")


def _in_list(values: list[str]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")" if values else "(NULL)"


def lifetimes_sql(journey) -> str:
    """CTEs ending in ``lifetimes``: one row per customer, churn as cxray defines it."""
    churn = _in_list(list(journey.churn.touchpoints))
    days = journey.churn.inactive_days
    lapsed = (
        f"CASE WHEN p.last_activity + INTERVAL {days} DAY <= b.data_end THEN p.last_activity END"
        if days
        else "NULL"
    )
    until = f"b.data_end - INTERVAL {days} DAY" if days else "b.data_end"
    return f"""
    bounds AS (
        SELECT greatest((SELECT max(ts) FROM events), (SELECT max(ts) FROM feedback)) AS data_end
    ),
    per_customer AS (
        SELECT customer_id, min(ts) AS first_event,
               max(ts) FILTER (WHERE touchpoint NOT IN {churn}) AS last_activity,
               min(ts) FILTER (WHERE touchpoint IN {churn}) AS explicit_churn
        FROM events GROUP BY customer_id
    ),
    raw_lives AS (
        SELECT coalesce(p.customer_id, c.customer_id) AS customer_id,
               least(p.first_event, c.first_seen) AS start,
               coalesce(p.explicit_churn, {lapsed}) AS churn_at,
               {until} AS until
        FROM per_customer p FULL JOIN customers c ON c.customer_id = p.customer_id, bounds b
    ),
    lifetimes AS (
        SELECT customer_id, start, coalesce(churn_at <= until, false) AS churned,
               CASE WHEN churn_at <= until THEN churn_at END AS churn_ts,
               CASE WHEN churn_at <= until THEN churn_at ELSE until END AS end_ts,
               greatest(epoch(CASE WHEN churn_at <= until THEN churn_at ELSE until END)
                        - epoch(start), 0) / 86400.0 AS duration_days,
               start > until AS too_new, until
        FROM raw_lives
    )"""


def pandas_lifetimes(con, journey) -> pd.DataFrame:
    """The same lifetimes in pandas, from the events and customers loaded with ``.df()``."""
    events = con.sql("SELECT customer_id, ts, touchpoint FROM events").df()
    customers = con.sql("SELECT customer_id, first_seen FROM customers").df()
    feedback_end = con.sql("SELECT max(ts) FROM feedback").df().iloc[0, 0]
    return _lifetimes_from(events, customers, feedback_end, journey)


def _lifetimes_from(events, customers, feedback_end, journey) -> pd.DataFrame:
    end = max(events.ts.max(), feedback_end) if pd.notna(feedback_end) else events.ts.max()
    days = journey.churn.inactive_days
    until = end - pd.Timedelta(days=days) if days else end
    is_churn = events.touchpoint.isin(list(journey.churn.touchpoints))
    per = pd.DataFrame(
        {
            "first_event": events.groupby("customer_id").ts.min(),
            "last_activity": events[~is_churn].groupby("customer_id").ts.max(),
            "explicit": events[is_churn].groupby("customer_id").ts.min(),
        }
    )
    per = per.join(customers.set_index("customer_id"), how="outer")
    start = per[["first_event", "first_seen"]].min(axis=1)
    lapsed = per.last_activity.where(per.last_activity + pd.Timedelta(days=days or 0) <= end)
    churn_at = per.explicit.fillna(lapsed if days else pd.NaT)
    churned = churn_at <= until
    end_ts = churn_at.where(churned, until)
    return pd.DataFrame(
        {
            "start": start,
            "churned": churned,
            "churn_ts": churn_at.where(churned),
            "end_ts": end_ts,
            "duration_days": ((end_ts - start).dt.total_seconds() / 86400).clip(lower=0),
            "too_new": start > until,
            "until": until,
        }
    )


# -- metrics: NPS / CSAT / CES per touchpoint ---------------------------------------------------
def cxray_metrics(path: Path) -> pd.DataFrame:
    frame = _workspace(path).metrics(by="touchpoint").frame
    return frame[["metric", "group", "n", "score"]]


def _metric_score(frame: pd.DataFrame) -> pd.Series:
    return np.select(
        [frame.metric == "nps", frame.metric == "csat"],
        [100 * (frame.promoters - frame.detractors) / frame.n, 100 * frame.top2 / frame.n],
        frame["mean"],
    )


def sql_metrics(path: Path) -> pd.DataFrame:
    frame = (
        _connect(path)
        .sql(
            """
        SELECT f.metric, coalesce(f.touchpoint, e.touchpoint) AS "group", count(*) AS n,
               count(*) FILTER (WHERE f.score >= 9) AS promoters,
               count(*) FILTER (WHERE f.score <= 6) AS detractors,
               count(*) FILTER (WHERE f.score >= 4) AS top2,
               avg(f.score) AS mean, stddev_samp(f.score) AS sd
        FROM feedback f LEFT JOIN events e ON e.event_id = f.event_id
        WHERE f.score IS NOT NULL
        GROUP BY ALL
        """
        )
        .df()
    )
    frame["score"] = _metric_score(frame)
    return frame[["metric", "group", "n", "score"]]


def pandas_metrics(path: Path) -> pd.DataFrame:
    con = _connect(path)
    feedback = con.sql("SELECT metric, score, touchpoint, event_id FROM feedback").df()
    events = con.sql("SELECT event_id, touchpoint AS event_touchpoint FROM events").df()
    feedback = feedback[feedback.score.notna()].merge(events, on="event_id", how="left")
    feedback["group"] = feedback.touchpoint.fillna(feedback.event_touchpoint)
    score = feedback.score
    frame = (
        feedback.assign(promoters=score >= 9, detractors=score <= 6, top2=score >= 4)
        .groupby(["metric", "group"], as_index=False)
        .agg(
            n=("score", "size"),
            promoters=("promoters", "sum"),
            detractors=("detractors", "sum"),
            top2=("top2", "sum"),
            mean=("score", "mean"),
            sd=("score", "std"),
        )
    )
    frame["score"] = _metric_score(frame)
    return frame[["metric", "group", "n", "score"]]


def check_metrics(ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    _same_table(ours, theirs, ["metric", "group"], exact=["n"], close=["score"])


# -- funnel ----------------------------------------------------------------------------------
def _steps_values(journey) -> tuple[str, int]:
    churn = set(journey.churn.touchpoints)
    pairs = [
        f"('{name}', {journey.phases.index(tp.phase)})"
        for name, tp in journey.touchpoints.items()
        if tp.phase in journey.phases and name not in churn
    ]
    return ", ".join(pairs), len(journey.phases)


def cxray_funnel(path: Path) -> pd.DataFrame:
    return _workspace(path).funnel().frame


def sql_funnel(path: Path) -> pd.DataFrame:
    journey = _journey(path)
    values, phases = _steps_values(journey)
    reach = ", ".join(f"min(e.ts) FILTER (WHERE s.step >= {k}) AS r{k}" for k in range(phases))
    aggregates = []
    for k in range(phases - 1):
        days = f"(epoch(r{k + 1}) - epoch(r{k})) / 86400.0"
        left = f"(churned AND churn_ts >= r{k})"
        aggregates.append(
            f"""count(r{k}) AS reached_{k}, count(r{k + 1}) AS converted_{k},
            count(*) FILTER (WHERE r{k} IS NOT NULL AND r{k + 1} IS NULL AND {left})
                AS dropped_{k},
            count(*) FILTER (WHERE r{k} IS NOT NULL AND r{k + 1} IS NULL AND NOT {left})
                AS censored_{k},
            quantile_cont({days}, 0.5) AS median_{k}, quantile_cont({days}, 0.9) AS p90_{k}"""
        )
    aggregates.append(f"count(r{phases - 1}) AS reached_{phases - 1}")
    wide = (
        _connect(path)
        .sql(
            f"""
        WITH {lifetimes_sql(journey)},
        steps(touchpoint, step) AS (VALUES {values}),
        reach AS (
            SELECT e.customer_id, {reach}
            FROM events e JOIN steps s ON s.touchpoint = e.touchpoint
            GROUP BY e.customer_id
        ),
        joined AS (
            SELECT r.*, coalesce(l.churned, false) AS churned, l.churn_ts
            FROM reach r LEFT JOIN lifetimes l ON l.customer_id = r.customer_id
        )
        SELECT {", ".join(aggregates)} FROM joined
        """
        )
        .df()
        .iloc[0]
    )
    return _funnel_long(wide, list(journey.phases))


def _funnel_long(wide: pd.Series, phases: list[str]) -> pd.DataFrame:
    rows = []
    for k, phase in enumerate(phases):
        row = {"phase": phase, "reached": int(wide[f"reached_{k}"])}
        if k < len(phases) - 1:
            row.update(
                converted=int(wide[f"converted_{k}"]),
                dropped=int(wide[f"dropped_{k}"]),
                censored=int(wide[f"censored_{k}"]),
                median_days_to_next=float(wide[f"median_{k}"]),
                p90_days_to_next=float(wide[f"p90_{k}"]),
            )
        rows.append(row)
    return pd.DataFrame(rows)


def pandas_funnel(path: Path) -> pd.DataFrame:
    con = _connect(path)
    journey = _journey(path)
    events = con.sql("SELECT customer_id, ts, touchpoint FROM events").df()
    customers = con.sql("SELECT customer_id, first_seen FROM customers").df()
    feedback_end = con.sql("SELECT max(ts) FROM feedback").df().iloc[0, 0]
    lives = _lifetimes_from(events, customers, feedback_end, journey)
    churn = set(journey.churn.touchpoints)
    steps = {
        name: journey.phases.index(tp.phase)
        for name, tp in journey.touchpoints.items()
        if tp.phase in journey.phases and name not in churn
    }
    events["step"] = events.touchpoint.map(steps)
    events = events[events.step.notna()]
    phases = len(journey.phases)
    reach = pd.DataFrame(
        {f"r{k}": events[events.step >= k].groupby("customer_id").ts.min() for k in range(phases)}
    )
    reach = reach.join(lives[["churned", "churn_ts"]], how="left")
    reach["churned"] = reach.churned.fillna(False).astype(bool)
    wide = {}
    for k in range(phases):
        reached = reach[f"r{k}"].notna()
        wide[f"reached_{k}"] = reached.sum()
        if k == phases - 1:
            break
        converted = reach[f"r{k + 1}"].notna()
        left = reach.churned & (reach.churn_ts >= reach[f"r{k}"])
        days = (reach[f"r{k + 1}"] - reach[f"r{k}"]).dt.total_seconds()[converted] / 86400
        wide[f"converted_{k}"] = converted.sum()
        wide[f"dropped_{k}"] = (reached & ~converted & left).sum()
        wide[f"censored_{k}"] = (reached & ~converted & ~left).sum()
        wide[f"median_{k}"] = days.quantile(0.5)
        wide[f"p90_{k}"] = days.quantile(0.9)
    return _funnel_long(pd.Series(wide), list(journey.phases))


def check_funnel(ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    _same_table(
        ours,
        theirs,
        ["phase"],
        exact=["reached", "converted", "dropped", "censored"],
        close=["median_days_to_next", "p90_days_to_next"],
    )


# -- drop-off: last touchpoint before churn -------------------------------------------------
def cxray_dropoff(path: Path) -> pd.DataFrame:
    return _workspace(path).dropoff(top=100).frame


def sql_dropoff(path: Path) -> pd.DataFrame:
    journey = _journey(path)
    churn = _in_list(list(journey.churn.touchpoints))
    return (
        _connect(path)
        .sql(
            f"""
        WITH {lifetimes_sql(journey)},
        last AS (
            SELECT e.customer_id, l.churned,
                   arg_max(e.touchpoint, (e.ts, e.touchpoint, e.event_id)) AS touchpoint
            FROM events e JOIN lifetimes l ON l.customer_id = e.customer_id
            WHERE NOT l.too_new AND e.touchpoint NOT IN {churn} AND e.ts <= l.end_ts
            GROUP BY e.customer_id, l.churned
        )
        SELECT touchpoint, count(*) FILTER (WHERE churned) AS churners_last,
               count(*) FILTER (WHERE NOT churned) AS stayers_last
        FROM last GROUP BY touchpoint
        """
        )
        .df()
    )


def pandas_dropoff(path: Path) -> pd.DataFrame:
    con = _connect(path)
    journey = _journey(path)
    events = con.sql("SELECT customer_id, ts, touchpoint, event_id FROM events").df()
    customers = con.sql("SELECT customer_id, first_seen FROM customers").df()
    feedback_end = con.sql("SELECT max(ts) FROM feedback").df().iloc[0, 0]
    lives = _lifetimes_from(events, customers, feedback_end, journey)
    lives = lives.loc[~lives.too_new, ["churned", "end_ts"]]
    events = events[~events.touchpoint.isin(list(journey.churn.touchpoints))]
    events = events.merge(lives, left_on="customer_id", right_index=True)
    events = events[events.ts <= events.end_ts]
    last = events.sort_values(["customer_id", "ts", "touchpoint", "event_id"]).drop_duplicates(
        "customer_id", keep="last"
    )
    counts = pd.crosstab(last.touchpoint, last.churned)
    return pd.DataFrame(
        {
            "touchpoint": counts.index,
            "churners_last": counts.get(True, 0).to_numpy(),
            "stayers_last": counts.get(False, 0).to_numpy(),
        }
    )


def check_dropoff(ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    _same_table(ours, theirs, ["touchpoint"], exact=["churners_last", "stayers_last"])


# -- flows: directly-follows graph, variants, phase Sankey ---------------------------------------
def cxray_flows(path: Path) -> dict[str, pd.DataFrame]:
    result = _workspace(path).flows()
    return {"edges": result.edges, "variants": result.variants, "sankey": result.sankey}


def cxray_dfg_variants(path: Path) -> dict[str, pd.DataFrame]:
    """Only the directly-follows graph and the variants (the queries behind ``flows``)."""
    from cxray.analysis.flows import _edges_frame, _variants_frame, flow_queries

    queries = flow_queries(_workspace(path))
    return {
        "edges": _edges_frame(queries["edges"].execute()),
        "variants": _variants_frame(queries["variants"].execute())[0],
    }


_ORDER = "PARTITION BY customer_id ORDER BY ts, touchpoint, event_id"


def _sql_edges(con) -> pd.DataFrame:
    frame = con.sql(
        f"""
        WITH steps AS (
            SELECT customer_id, touchpoint,
                   lag(touchpoint) OVER w IS NULL AS is_first,
                   coalesce(lead(touchpoint) OVER w, '{END}') AS target,
                   epoch(lead(ts) OVER w) - epoch(ts) AS seconds
            FROM events WINDOW w AS ({_ORDER})
        )
        SELECT touchpoint AS source, target, count(*) AS count,
               count(DISTINCT customer_id) AS customers,
               median(seconds) AS median_seconds, quantile_cont(seconds, 0.9) AS p90_seconds,
               count(*) FILTER (WHERE is_first) AS starts
        FROM steps GROUP BY ALL
        """
    ).df()
    return _with_start_edges(frame, "source", "target", "count")


def _with_start_edges(frame: pd.DataFrame, source: str, target: str, count: str) -> pd.DataFrame:
    starts = frame.groupby(source).starts.sum()
    starts = starts[starts > 0]
    start_rows = pd.DataFrame(
        {source: START, target: starts.index, count: starts.to_numpy(), "customers": starts}
    )
    return pd.concat([start_rows, frame.drop(columns="starts")], ignore_index=True)


def _sql_variants(con, journey, top: int = 20) -> pd.DataFrame:
    return con.sql(
        f"""
        WITH {lifetimes_sql(journey)},
        paths AS (
            SELECT customer_id,
                   string_agg(touchpoint, ' → ' ORDER BY ts, touchpoint, event_id) AS label
            FROM events GROUP BY customer_id
        )
        SELECT label, count(*) AS customers,
               count(*) FILTER (WHERE NOT l.too_new) AS judged,
               count(*) FILTER (WHERE NOT l.too_new AND l.churned) AS churned,
               count(*) OVER () AS distinct_variants
        FROM paths p LEFT JOIN lifetimes l ON l.customer_id = p.customer_id
        GROUP BY label ORDER BY customers DESC, label LIMIT {top}
        """
    ).df()


def _sql_sankey(con, journey) -> pd.DataFrame:
    phases = ", ".join(f"('{name}', '{tp.phase}')" for name, tp in journey.touchpoints.items())
    frame = con.sql(
        f"""
        WITH phases(touchpoint, phase) AS (VALUES {phases}),
        phased AS (
            SELECT e.customer_id, e.ts, e.touchpoint, e.event_id,
                   coalesce(p.phase, 'unassigned') AS phase
            FROM events e LEFT JOIN phases p ON p.touchpoint = e.touchpoint
        ),
        steps AS (
            SELECT customer_id, phase, lag(phase) OVER w IS NULL AS is_first,
                   coalesce(lead(phase) OVER w, '{END}') AS target_phase
            FROM phased WINDOW w AS ({_ORDER})
        )
        SELECT phase AS source_phase, target_phase, count(*) AS transitions,
               count(DISTINCT customer_id) AS customers,
               count(*) FILTER (WHERE is_first) AS starts
        FROM steps GROUP BY ALL
        """
    ).df()
    frame = _with_start_edges(frame, "source_phase", "target_phase", "transitions")
    return frame[frame.source_phase != frame.target_phase]


def sql_flows(path: Path) -> dict[str, pd.DataFrame]:
    con, journey = _connect(path), _journey(path)
    return {
        "edges": _sql_edges(con),
        "variants": _sql_variants(con, journey),
        "sankey": _sql_sankey(con, journey),
    }


def sql_dfg_variants(path: Path) -> dict[str, pd.DataFrame]:
    con, journey = _connect(path), _journey(path)
    return {"edges": _sql_edges(con), "variants": _sql_variants(con, journey)}


def _pandas_flows(path: Path, sankey: bool) -> dict[str, pd.DataFrame]:
    con, journey = _connect(path), _journey(path)
    events = con.sql("SELECT customer_id, ts, touchpoint, event_id FROM events").df()
    customers = con.sql("SELECT customer_id, first_seen FROM customers").df()
    feedback_end = con.sql("SELECT max(ts) FROM feedback").df().iloc[0, 0]
    lives = _lifetimes_from(events, customers, feedback_end, journey)

    events = events.sort_values(["customer_id", "ts", "touchpoint", "event_id"], ignore_index=True)
    by_customer = events.groupby("customer_id", sort=False)
    is_first = by_customer.cumcount() == 0
    steps = pd.DataFrame(
        {
            "customer_id": events.customer_id,
            "source": events.touchpoint,
            "target": by_customer.touchpoint.shift(-1).fillna(END),
            "seconds": (by_customer.ts.shift(-1) - events.ts).dt.total_seconds(),
        }
    )
    edges = steps.groupby(["source", "target"], as_index=False).agg(
        count=("customer_id", "size"),
        customers=("customer_id", "nunique"),
        median_seconds=("seconds", "median"),
        p90_seconds=("seconds", lambda s: s.quantile(0.9)),
    )
    firsts = events.touchpoint[is_first].value_counts()
    edges = pd.concat(
        [
            pd.DataFrame(
                {"source": START, "target": firsts.index, "count": firsts, "customers": firsts}
            ),
            edges,
        ],
        ignore_index=True,
    )

    paths = by_customer.touchpoint.agg(" → ".join).rename("label").to_frame()
    paths = paths.join(lives[["churned", "too_new"]], how="left")
    paths["judged"] = ~paths.too_new.fillna(True).astype(bool)
    paths["churned"] = paths.churned.fillna(False).astype(bool) & paths.judged
    variants = paths.groupby("label", as_index=False).agg(
        customers=("judged", "size"), judged=("judged", "sum"), churned=("churned", "sum")
    )
    variants["distinct_variants"] = len(variants)
    variants = variants.sort_values(["customers", "label"], ascending=[False, True]).head(20)
    result = {"edges": edges, "variants": variants}
    if sankey:
        phase_of = {name: tp.phase for name, tp in journey.touchpoints.items()}
        phase = events.touchpoint.map(phase_of).fillna("unassigned")
        moves = pd.DataFrame(
            {
                "customer_id": events.customer_id,
                "source_phase": phase,
                "target_phase": phase.groupby(events.customer_id, sort=False).shift(-1).fillna(END),
            }
        )
        sankey_frame = moves.groupby(["source_phase", "target_phase"], as_index=False).agg(
            transitions=("customer_id", "size"), customers=("customer_id", "nunique")
        )
        first_phases = phase[is_first].value_counts()
        sankey_frame = pd.concat(
            [
                pd.DataFrame(
                    {
                        "source_phase": START,
                        "target_phase": first_phases.index,
                        "transitions": first_phases,
                        "customers": first_phases,
                    }
                ),
                sankey_frame,
            ],
            ignore_index=True,
        )
        result["sankey"] = sankey_frame[sankey_frame.source_phase != sankey_frame.target_phase]
    return result


def pandas_flows(path: Path) -> dict[str, pd.DataFrame]:
    return _pandas_flows(path, sankey=True)


def pandas_dfg_variants(path: Path) -> dict[str, pd.DataFrame]:
    return _pandas_flows(path, sankey=False)


def check_flows(ours: dict[str, pd.DataFrame], theirs: dict[str, pd.DataFrame]) -> None:
    _same_table(
        ours["edges"],
        theirs["edges"],
        ["source", "target"],
        exact=["count", "customers"],
        close=["median_seconds", "p90_seconds"],
    )
    _same_table(
        ours["variants"],
        theirs["variants"],
        ["label"],
        exact=["customers", "judged", "churned"],
    )
    if "sankey" in ours:
        _same_table(
            ours["sankey"],
            theirs["sankey"],
            ["source_phase", "target_phase"],
            exact=["transitions", "customers"],
        )


# -- retention and early churn ------------------------------------------------------------------
def cxray_retention(path: Path) -> pd.DataFrame:
    return _workspace(path).retention().cells


def _retention_cells(counts: pd.DataFrame, until: pd.Timestamp, periods: int = 24):
    """Monthly retention cells from (cohort month, churn month, customers) counts."""
    counts = counts.copy()
    cohort = pd.to_datetime(counts.cohort_start, utc=True)
    churn = pd.to_datetime(counts.churn_month, utc=True)
    counts["k"] = (churn.dt.year - cohort.dt.year) * 12 + (churn.dt.month - cohort.dt.month)
    counts["cohort"] = cohort.dt.strftime("%Y-%m")
    sizes = counts.groupby("cohort").customers.sum()
    gone = (
        counts.dropna(subset=["k"])
        .pivot_table(index="cohort", columns="k", values="customers", aggfunc="sum")
        .reindex(index=sizes.index, columns=range(periods + 1))
        .fillna(0)
        .cumsum(axis=1)
    )
    starts = pd.to_datetime(sizes.index + "-01", utc=True)
    rows = []
    for k in range(periods + 1):
        observable = (starts + pd.DateOffset(months=k + 1)) <= until
        retained = np.where(observable, sizes.to_numpy() - gone[k].to_numpy(), np.nan)
        rows.append(pd.DataFrame({"cohort": sizes.index, "period": k, "retained": retained}))
    return pd.concat(rows, ignore_index=True)


def sql_retention(path: Path) -> pd.DataFrame:
    con, journey = _connect(path), _journey(path)
    counts = con.sql(
        f"""
        WITH {lifetimes_sql(journey)}
        SELECT date_trunc('month', start) AS cohort_start,
               date_trunc('month', churn_ts) AS churn_month, count(*) AS customers,
               any_value(until) AS until
        FROM lifetimes WHERE NOT too_new GROUP BY ALL
        """
    ).df()
    until = pd.Timestamp(counts.until.iloc[0])
    return _retention_cells(counts, until)


def pandas_retention(path: Path) -> pd.DataFrame:
    con, journey = _connect(path), _journey(path)
    lives = pandas_lifetimes(con, journey)
    lives = lives[~lives.too_new]
    month = "%Y-%m-01"
    counts = (
        pd.DataFrame(
            {
                "cohort_start": lives.start.dt.strftime(month),
                "churn_month": lives.churn_ts.dt.strftime(month),
            }
        )
        .groupby(["cohort_start", "churn_month"], dropna=False)
        .size()
        .rename("customers")
        .reset_index()
    )
    return _retention_cells(counts, lives.until.iloc[0])


def check_retention(ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    _same_table(ours, theirs, ["cohort", "period"], close=["retained"])


def cxray_early_churn(path: Path) -> pd.DataFrame:
    return _workspace(path).early_churn(days=EARLY_DAYS).cohorts


def sql_early_churn(path: Path) -> pd.DataFrame:
    con, journey = _connect(path), _journey(path)
    frame = con.sql(
        f"""
        WITH {lifetimes_sql(journey)},
        judged AS (
            SELECT *, start <= until - INTERVAL {EARLY_DAYS} DAY AS known
            FROM lifetimes WHERE NOT too_new
        )
        SELECT strftime(date_trunc('month', start), '%Y-%m') AS cohort, count(*) AS customers,
               count(*) FILTER (WHERE known) AS known,
               count(*) FILTER (WHERE known AND churned AND duration_days <= {EARLY_DAYS})
                   AS churned
        FROM judged GROUP BY 1
        """
    ).df()
    return frame


def pandas_early_churn(path: Path) -> pd.DataFrame:
    con, journey = _connect(path), _journey(path)
    lives = pandas_lifetimes(con, journey)
    lives = lives[~lives.too_new]
    known = lives.start <= lives.until - pd.Timedelta(days=EARLY_DAYS)
    early = known & lives.churned & (lives.duration_days <= EARLY_DAYS)
    return (
        pd.DataFrame({"cohort": lives.start.dt.strftime("%Y-%m"), "known": known, "churned": early})
        .groupby("cohort", as_index=False)
        .agg(customers=("known", "size"), known=("known", "sum"), churned=("churned", "sum"))
    )


def check_early_churn(ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    ours = ours[ours.cohort != "all"]
    _same_table(ours, theirs, ["cohort"], exact=["customers", "known", "churned"])


# -- survival: Kaplan–Meier -------------------------------------------------------------------
def cxray_survival(path: Path) -> dict[str, Any]:
    result = _workspace(path).survival()
    group = result.groups.iloc[0]
    return {"curve": result.curve, "median": group.median_days, "churned": group.churned}


def sql_survival(path: Path) -> dict[str, Any]:
    con, journey = _connect(path), _journey(path)
    counts = con.sql(
        f"""
        WITH {lifetimes_sql(journey)}
        SELECT duration_days, count(*) FILTER (WHERE churned) AS events, count(*) AS removed
        FROM lifetimes WHERE NOT too_new GROUP BY duration_days ORDER BY duration_days
        """
    ).df()
    # Kaplan–Meier by hand: S(t) = prod(1 - d / n) over the distinct durations, with the
    # exponential Greenwood (log-log) 95% interval
    deaths = counts.events.to_numpy(dtype=float)
    at_risk = counts.removed.sum() - np.concatenate([[0], np.cumsum(counts.removed)[:-1]])
    survival = np.cumprod(1 - deaths / at_risk)
    with np.errstate(divide="ignore", invalid="ignore"):
        greenwood = np.cumsum(deaths / (at_risk * (at_risk - deaths)))
        log_s = np.log(survival)
        spread = 1.959963984540054 * np.sqrt(greenwood) / log_s
        lower = np.exp(-np.exp(np.log(-log_s) - spread))
        upper = np.exp(-np.exp(np.log(-log_s) + spread))
    curve = pd.DataFrame(
        {
            "time_days": counts.duration_days,
            "survival": survival,
            "lower": np.nan_to_num(lower, nan=1.0),
            "upper": np.nan_to_num(upper, nan=1.0),
        }
    )
    below = np.flatnonzero(survival <= 0.5)
    median = float(counts.duration_days.iloc[below[0]]) if len(below) else math.inf
    return {"curve": curve, "median": median, "churned": int(counts.events.sum())}


def lifelines_survival(path: Path) -> dict[str, Any]:
    from lifelines import KaplanMeierFitter

    con, journey = _connect(path), _journey(path)
    lives = pandas_lifetimes(con, journey)
    lives = lives[~lives.too_new]
    fitter = KaplanMeierFitter().fit(lives.duration_days, event_observed=lives.churned)
    curve = pd.concat([fitter.survival_function_, fitter.confidence_interval_], axis=1)
    curve = curve.reset_index()
    curve.columns = ["time_days", "survival", "lower", "upper"]
    return {
        "curve": curve,
        "median": float(fitter.median_survival_time_),
        "churned": int(lives.churned.sum()),
    }


def check_survival(ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    if ours["churned"] != theirs["churned"]:
        raise AssertionError(f"churned: {ours['churned']} != {theirs['churned']}")
    if not math.isclose(ours["median"], theirs["median"], rel_tol=1e-9):
        raise AssertionError(f"median: {ours['median']} != {theirs['median']}")
    curve = ours["curve"].set_index("time_days")
    other = theirs["curve"].set_index("time_days")
    common = curve.index.intersection(other.index)
    if len(common) < 0.99 * len(curve):
        raise AssertionError(f"curves share only {len(common)} of {len(curve)} times")
    for column in ("survival", "lower", "upper"):
        worst = float((curve.loc[common, column] - other.loc[common, column]).abs().max())
        if worst > 1e-9:
            raise AssertionError(f"{column} differs by up to {worst}")


# -- comparing answers ---------------------------------------------------------------------------
def _same_table(
    ours: pd.DataFrame,
    theirs: pd.DataFrame,
    keys: list[str],
    exact: tuple | list = (),
    close: tuple | list = (),
) -> None:
    """Raise AssertionError unless both tables hold the same keys and values."""
    a = ours.set_index(keys)[[*exact, *close]].sort_index()
    b = theirs.set_index(keys)[[*exact, *close]].sort_index()
    if not a.index.equals(b.index):
        missing = a.index.symmetric_difference(b.index)[:5].tolist()
        raise AssertionError(f"different rows ({len(a)} vs {len(b)}), e.g. {missing}")
    for column in exact:
        left, right = a[column].astype("float64"), b[column].astype("float64")
        if not left.fillna(-1).equals(right.fillna(-1)):
            raise AssertionError(f"{column} differs: {(left - right).abs().max()}")
    for column in close:
        left, right = a[column].astype("float64"), b[column].astype("float64")
        if not np.allclose(left, right, rtol=1e-9, atol=1e-6, equal_nan=True):
            raise AssertionError(f"{column} differs by up to {(left - right).abs().max()}")


# -- the run ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Step:
    name: str
    ours: Callable[[Path], Any]
    sql: Callable[[Path], Any]
    pandas: Callable[[Path], Any]
    check: Callable[[Any, Any], None]
    pandas_label: str = "pandas"


STEPS = [
    Step("metrics by touchpoint", cxray_metrics, sql_metrics, pandas_metrics, check_metrics),
    Step("funnel", cxray_funnel, sql_funnel, pandas_funnel, check_funnel),
    Step("dropoff", cxray_dropoff, sql_dropoff, pandas_dropoff, check_dropoff),
    Step("DFG + variants", cxray_dfg_variants, sql_dfg_variants, pandas_dfg_variants, check_flows),
    Step("flows (+ sankey)", cxray_flows, sql_flows, pandas_flows, check_flows),
    Step("retention", cxray_retention, sql_retention, pandas_retention, check_retention),
    Step("early churn", cxray_early_churn, sql_early_churn, pandas_early_churn, check_early_churn),
    Step(
        "survival (KM)",
        cxray_survival,
        sql_survival,
        lifelines_survival,
        check_survival,
        pandas_label="lifelines",
    ),
]


@dataclass(frozen=True)
class Timing:
    seconds: float  # wall time, best of the runs
    cpu: float  # user + system seconds of all the process's threads, best of the runs
    gib: float  # peak resident memory, worst of the runs
    result: Any


def _with_cpu(run: Callable[[Path], Any], path: Path) -> Callable[[], tuple[float, Any]]:
    """``run(path)`` returning (CPU seconds it took, its result): less sensitive to other load."""

    def target() -> tuple[float, Any]:
        before = os.times()
        result = run(path)
        after = os.times()
        return after.user - before.user + after.system - before.system, result

    return target


def _timings(runs: list[tuple[float, float, tuple[float, Any]]]) -> Timing:
    return Timing(
        seconds=min(r[0] for r in runs),
        cpu=min(r[2][0] for r in runs),
        gib=max(r[1] for r in runs),
        result=runs[0][2][1],
    )


def _interleaved(step: Step, path: Path, repeat: int) -> tuple[Timing, Timing]:
    """cxray and SQL runs taken in turn, so that load from elsewhere hits both alike."""
    ours, sql = [], []
    for _ in range(repeat):
        ours.append(measure(_with_cpu(step.ours, path)))
        sql.append(measure(_with_cpu(step.sql, path)))
    return _timings(ours), _timings(sql)


def _verdict(check: Callable[[Any, Any], None], ours: Any, theirs: Any) -> str:
    try:
        check(ours, theirs)
    except AssertionError as exc:
        return f"DIFFERS: {exc}"
    return "same"


def run_step(step: Step, path: Path) -> dict[str, Any]:
    ours_timing, sql_timing = _interleaved(step, path, REPEAT)
    ours_s, ours, sql_s, sql = (
        ours_timing.seconds,
        ours_timing.result,
        sql_timing.seconds,
        sql_timing.result,
    )
    pandas_s, pandas_gib, theirs = measure(lambda: step.pandas(path))
    ours_gb, sql_gb, pandas_gb = ours_timing.gib * GIB, sql_timing.gib * GIB, pandas_gib * GIB
    sql_check, pandas_check = _verdict(step.check, ours, sql), _verdict(step.check, ours, theirs)
    pandas_goal = PANDAS_TARGET.get(step.name)
    misses = []
    if ours_s / sql_s > SQL_TARGET:
        misses.append(f"> {SQL_TARGET}x SQL")
    if pandas_goal and pandas_s / ours_s < pandas_goal:
        misses.append(f"< {pandas_goal:g}x pandas")
    if ours_gb >= MEMORY_TARGET_GB:
        misses.append(f">= {MEMORY_TARGET_GB:g} GB")
    checks = (
        "ok" if sql_check == pandas_check == "same" else f"SQL {sql_check}; pandas {pandas_check}"
    )
    return {
        "analysis": step.name,
        "cxray s": ours_s,
        "SQL s": sql_s,
        "cxray/SQL": ours_s / sql_s,
        "CPU cxray/SQL": ours_timing.cpu / sql_timing.cpu,
        "pandas s": pandas_s,
        "pandas/cxray": pandas_s / ours_s,
        "baseline": step.pandas_label,
        "cxray GB": ours_gb,
        "SQL GB": sql_gb,
        "pandas GB": pandas_gb,
        "targets": "met" if not misses else "MISSED " + ", ".join(misses),
        "answers": checks,
    }


def _preload() -> None:
    """Import what the children use, so no timing includes loading a library."""
    import duckdb  # noqa: F401
    import lifelines  # noqa: F401

    import cxray  # noqa: F401
    from cxray.analysis import (  # noqa: F401
        dropoff,
        flows,
        funnel,
        metrics,
        retention,
        survival,
    )


def main() -> None:
    customers = data.CUSTOMERS
    _, _, path = measure(lambda: data.build(customers))  # in a child: the parent stays small
    path = Path(path)
    counts = (path / data.MARKER).read_text().strip()
    _preload()
    rows = []
    for step in STEPS:
        if ONLY and step.name.split()[0].lower() not in {o.lower() for o in ONLY}:
            continue
        row = run_step(step, path)
        rows.append(row)
        print(
            f"  {row['analysis']}: cxray {row['cxray s']:.2f} s, SQL {row['SQL s']:.2f} s, "
            f"{row['baseline']} {row['pandas s']:.2f} s; answers {row['answers']}",
            flush=True,
        )
    load = os.getloadavg()
    print_table(
        f"analyses on {customers:,} customers {counts} (best of {REPEAT} interleaved runs for "
        "cxray and SQL; "
        f"load average {load[0]:.1f} on {os.cpu_count()} cores; targets: cxray/SQL <= "
        f"{SQL_TARGET}, DFG + variants pandas/cxray >= 10, peak < {MEMORY_TARGET_GB:g} GB; "
        "GB = 10^9 bytes of peak resident memory of the whole process)",
        rows,
    )


if __name__ == "__main__":
    main()
