"""Retention and early churn from one snapshot of lifetimes, by time since start.

A snapshot (a CRM export: tenure and a churn flag per customer, as of one date) records every
churn on its as-of date and holds only the customers still there shortly before it. Calendar
cohorts cannot be told apart in it: each cohort's churn falls in its last, unfinished period, so
a cohort matrix would read 100% retention. What a snapshot does tell is how long customers stay:
the Kaplan–Meier curve over tenure. These functions read retention after each period and churn
within the first days from that curve, with its log-log interval. (Customers lost long before
the export are not in it at all; no analysis of a snapshot can see them, and the sentence says
so.)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cxray.analysis.survival import survival

PERIOD_DAYS = {"week": 7.0, "month": 365.25 / 12, "quarter": 365.25 / 4}


def curve_at(curve: pd.DataFrame, days: float) -> tuple[float, float, float, int]:
    """(survival, lower, upper, customers still at risk) of a Kaplan–Meier curve at ``days``."""
    before = curve[curve.time_days <= days]
    later = curve[curve.time_days > days]
    at_risk = int(later.at_risk.iloc[0]) if len(later) else 0
    if before.empty:
        return 1.0, 1.0, 1.0, at_risk
    row = before.iloc[-1]
    return float(row.survival), float(row.lower), float(row.upper), at_risk


def snapshot_retention(ws: Any, period: str, max_periods: int) -> pd.DataFrame:
    """Per period k: the share still a customer at the end of period k since their start.

    Columns: period, cohorts (1: the snapshot is one group), customers (still at risk then),
    retained (NaN: a curve, not a count), share, lower, upper.
    """
    curve = survival(ws).curve
    rows = []
    for k in range(max_periods + 1):
        share, lower, upper, at_risk = curve_at(curve, (k + 1) * PERIOD_DAYS[period])
        rows.append(
            {
                "period": k,
                "cohorts": 1,
                "customers": at_risk,
                "retained": np.nan,
                "share": share,
                "lower": lower,
                "upper": upper,
            }
        )
    return pd.DataFrame(rows)


def snapshot_early_churn(ws: Any, days: int) -> pd.DataFrame:
    """One row, cohort "all": the share who left within their first ``days`` days (1 − S)."""
    result = survival(ws)
    share, lower, upper, _ = curve_at(result.curve, float(days))
    customers = int(result.groups.customers.sum()) if len(result.groups) else 0
    return pd.DataFrame(
        {
            "cohort": ["all"],
            "customers": [customers],
            "known": [customers],
            "churned": [np.nan],
            "share": [1.0 - share],
            "lower": [1.0 - upper],
            "upper": [1.0 - lower],
            "not_yet_known": [0],
        }
    )
