"""Small planted companies for calibration: known hazard ratios, neutral touchpoints, traps.

Where the demo webshop is a realistic story, these companies are built to check a promise: that
the drivers table's false-discovery rate and interval coverage hold at the level it states. Each
company (``simulate_planted``) has, per customer (times in days since the customer's start):

- a churn hazard ``h0(t) * HR_segment * prod(HR_k ** n_k(t))``, with a baseline that falls
  smoothly with tenure (Weibull shape ``baseline_shape``) and ``n_k(t)`` the occurrences so far of
  each planted touchpoint (per occurrence, time-varying);
- **neutral touchpoints** of different frequencies (by default rare, medium and frequent: 0.2, 1
  and 5 per 30 days) that never change the hazard; every customer has their own activity level
  (gamma distributed), so frequent touchpoints pile up unevenly, as in real data;
- two traps no analysis should turn into a number: ``signup`` at every customer's start (it
  coincides with the time origin) and ``exit_survey`` minutes before most cancellations (part of
  the way out, not a cause).

Time runs in whole days: occurrences fall at the start of a day (plus seconds) and the hazard of
that day counts them; a churner cancels (``cancel``) at a uniform moment inside the churn day.
Customers still there at the end of the data are censored. Deterministic for a seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ibis
import numpy as np
import pandas as pd
import tomlkit

import cxray
from cxray import schema

START = pd.Timestamp("2024-01-01", tz="UTC")
CHURN_TOUCHPOINT = "cancel"
ORIGIN_TOUCHPOINT = "signup"
EXIT_TOUCHPOINT = "exit_survey"


@dataclass(frozen=True)
class PlantedCompany:
    """The knobs of one planted company. Rates are per 30 days."""

    days: int = 540  # length of the data
    signup_days: int = 420  # customers start uniformly in the first this many days
    baseline_per_30d: float = 0.03  # hazard at 30 days of tenure
    baseline_shape: float = 0.7  # Weibull shape: < 1 means the hazard falls with tenure
    planted: dict[str, tuple[float, float]] = field(
        default_factory=lambda: {"bad_delivery": (0.4, 1.6), "bad_login": (0.25, 1.3)}
    )  # name: (rate, hazard ratio per occurrence)
    neutral: dict[str, float] = field(
        default_factory=lambda: {
            "neutral_rare": 0.2,
            "neutral_medium": 1.0,
            "neutral_frequent": 5.0,
        }
    )
    business_share: float = 0.3
    business_hr: float = 0.7
    activity_shape: float = 2.0  # gamma shape of each customer's activity level (mean 1)
    exit_survey_share: float = 0.8  # of cancellations


def simulate_planted(
    path: str | Path, customers: int = 3000, seed: int = 0, company: PlantedCompany | None = None
) -> dict[str, Any]:
    """Write a planted company into a new workspace at ``path``; return its ground truth."""
    c = company or PlantedCompany()
    rng = np.random.default_rng(seed)
    n, days = customers, c.days
    start_day = rng.integers(0, c.signup_days, n)
    business = rng.random(n) < c.business_share
    activity = rng.gamma(c.activity_shape, 1 / c.activity_shape, n)
    names = [*c.planted, *c.neutral]
    rates = [r for r, _ in c.planted.values()] + list(c.neutral.values())
    # occurrences per customer and tenure day, drawn as if everyone stayed to the end
    counts = {
        name: rng.poisson(activity[:, None] * rate / 30.0, (n, days)).astype(np.int16)
        for name, rate in zip(names, rates, strict=True)
    }
    tenure = np.arange(days) + 0.5
    scale = c.baseline_per_30d / 30.0 / (c.baseline_shape * 30.0 ** (c.baseline_shape - 1))
    baseline = scale * c.baseline_shape * tenure ** (c.baseline_shape - 1)
    log_hazard = np.log(baseline)[None, :] + np.where(business, np.log(c.business_hr), 0.0)[:, None]
    for name, (_, hr) in c.planted.items():
        log_hazard = log_hazard + np.log(hr) * np.cumsum(counts[name], axis=1)
    churn_prob = -np.expm1(-np.exp(log_hazard))
    observed = days - start_day  # days each customer can be seen
    churn_today = rng.random((n, days)) < churn_prob
    churn_today &= np.arange(days)[None, :] < observed[:, None]
    churned = churn_today.any(axis=1)
    churn_day = np.where(churned, churn_today.argmax(axis=1), observed)

    ids = [f"P{i:05d}" for i in range(n)]
    first = START + pd.to_timedelta(start_day, unit="D")
    rows: list[pd.DataFrame] = [
        pd.DataFrame({"customer_id": ids, "ts": first, "touchpoint": ORIGIN_TOUCHPOINT})
    ]
    for name in names:
        matrix = counts[name]
        who, day = np.nonzero(matrix)
        # a churner's occurrences on the churn day come before the churn moment
        keep = np.where(churned[who], day <= churn_day[who], day < observed[who])
        who, day = who[keep], day[keep]
        repeat = matrix[who, day]
        who, day = np.repeat(who, repeat), np.repeat(day, repeat)
        seconds = rng.integers(1, 600, len(who))  # at the start of the day
        ts = _stamp(start_day[who] + day + seconds / 86400.0)
        rows.append(
            pd.DataFrame({"customer_id": np.asarray(ids)[who], "ts": ts, "touchpoint": name})
        )
    leavers = np.flatnonzero(churned)
    moment = churn_day[leavers] + rng.uniform(0.05, 0.999, len(leavers))
    cancel_ts = _stamp(start_day[leavers] + moment)
    rows.append(
        pd.DataFrame(
            {
                "customer_id": np.asarray(ids)[leavers],
                "ts": cancel_ts,
                "touchpoint": CHURN_TOUCHPOINT,
            }
        )
    )
    surveyed = rng.random(len(leavers)) < c.exit_survey_share
    rows.append(
        pd.DataFrame(
            {
                "customer_id": np.asarray(ids)[leavers[surveyed]],
                "ts": _stamp(start_day[leavers[surveyed]] + moment[surveyed] - 3 / 1440),
                "touchpoint": EXIT_TOUCHPOINT,
            }
        )
    )
    events = pd.concat(rows, ignore_index=True)
    events["event_id"] = [f"E{i:08d}" for i in range(len(events))]
    customer_rows = pd.DataFrame(
        {
            "customer_id": ids,
            "first_seen": first,
            "segment": np.where(business, "business", "consumer"),
        }
    )
    ws = cxray.init(Path(path), overwrite=True)
    try:
        doc = tomlkit.parse(ws.journey_path.read_text())
        doc["churn"]["touchpoints"] = [CHURN_TOUCHPOINT]
        if "inactive_days" in doc["churn"]:
            del doc["churn"]["inactive_days"]
        ws.journey_path.write_text(tomlkit.dumps(doc))
        ws.reload_journey()
        for spec, frame in ((schema.CUSTOMERS, customer_rows), (schema.EVENTS, events)):
            ws.warehouse.backend.insert(
                spec.name, ibis.memtable(_typed(spec, frame), schema=spec.schema)
            )
    finally:
        ws.close()
    return {
        "seed": seed,
        "customers": n,
        "churned": int(churned.sum()),
        "hazard_ratios": {name: hr for name, (_, hr) in c.planted.items()},
        "segment_hazard_ratios": {"business": c.business_hr},
        "null_touchpoints": list(c.neutral),
        "not_estimable": [ORIGIN_TOUCHPOINT, EXIT_TOUCHPOINT],
    }


def _stamp(days: np.ndarray) -> pd.DatetimeIndex:
    """Timestamps ``days`` after START, to the microsecond (the warehouse's resolution)."""
    micros = np.round(np.asarray(days, dtype=float) * 86_400e6).astype("int64")
    return START + pd.to_timedelta(micros, unit="us")


def _typed(spec: schema.TableSpec, frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    for column, dtype in spec.schema.items():
        if column not in frame:
            frame[column] = None
        if dtype.is_timestamp():
            frame[column] = pd.to_datetime(frame[column], utc=True)
        elif dtype.is_floating():
            frame[column] = pd.to_numeric(frame[column]).astype("float64")
        elif dtype.is_string():
            frame[column] = frame[column].astype("object").where(frame[column].notna(), None)
    return frame[spec.columns]
