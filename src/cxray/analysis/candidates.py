"""Which candidate drivers to test: touchpoints, low scores, or customer attributes.

By default every touchpoint seen in events (churn touchpoints excepted) and every metric ×
touchpoint with low scores (the journey's bad-experience thresholds, for any scaled metric), each
seen by at least ``MIN_CUSTOMERS`` customers. On lifetime data without events the candidates are
customer attributes with a few levels (segment, language, keys of the attributes JSON).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import ibis

from cxray.analysis._common import MISSING, count_true, customer_attribute
from cxray.analysis.estimability import MIN_CUSTOMERS
from cxray.analysis.exposure import Candidate, at_risk, low_score_name, occurrences

MAX_LEVELS = 12  # customer attributes with more levels are not offered as drivers by default


def default_candidates(ws: Any, min_customers: int = MIN_CUSTOMERS) -> list[Candidate]:
    """Every touchpoint seen in events but churn touchpoints, and low scores per metric × touchpoint.

    Touchpoints and low-score kinds seen by fewer than ``min_customers`` customers are left out:
    there is too little to estimate.
    """
    churn = set(ws.journey.churn.touchpoints)
    events = ws.events
    seen = (
        events.group_by("touchpoint")
        .aggregate(customers=events.customer_id.nunique())
        .filter(ibis._.customers >= min_customers)
        .order_by("touchpoint")
        .execute()
    )
    result = [
        Candidate(tp, "touchpoint", touchpoint=tp) for tp in seen.touchpoint if tp not in churn
    ]
    thresholds = ws.journey.bad_experience
    feedback = ws.feedback.filter(ws.feedback.customer_id.notnull())
    metrics = list(thresholds.metrics)
    if metrics:
        bad = ibis.literal(False)
        for metric in metrics:
            bad |= (feedback.metric == metric) & (feedback.score <= thresholds.threshold(metric))
        lows = (
            feedback.filter(bad)
            .group_by(["metric", "touchpoint"])
            .aggregate(customers=feedback.customer_id.nunique())
            .filter(ibis._.customers >= min_customers)
            .order_by(["metric", "touchpoint"])
            .execute()
        )
        for row in lows.itertuples():
            touchpoint = row.touchpoint if isinstance(row.touchpoint, str) else None
            result.append(
                Candidate(
                    low_score_name(row.metric, touchpoint), "low_score", touchpoint, row.metric
                )
            )
    return result


def default_attributes(ws: Any, sample: int = 2000) -> list[str]:
    """Customer attributes with 2..MAX_LEVELS levels: segment, language and attribute keys."""
    customers = ws.customers
    names = ["segment", "language"]
    rows = customers.select("attributes").filter(customers.attributes.notnull()).limit(sample)
    for text in rows.execute().attributes:
        try:
            keys = json.loads(text) if isinstance(text, str) else {}
        except ValueError:
            continue
        for key in keys if isinstance(keys, dict) else {}:
            if key not in names:
                names.append(key)
    chosen = []
    for name in names:
        groups = customer_attribute(ws, name)
        levels = int(groups.filter(groups.group.notnull()).group.nunique().execute())
        if 2 <= levels <= MAX_LEVELS:
            chosen.append(name)
    return chosen


def resolve(ws: Any, candidates: Sequence[str | Candidate] | None) -> list[Candidate]:
    if candidates is None:
        return default_candidates(ws)
    known = {c.name: c for c in default_candidates(ws, min_customers=1)}
    resolved = []
    for item in candidates:
        if isinstance(item, Candidate):
            resolved.append(item)
        elif item in known:
            resolved.append(known[item])
        else:
            raise ValueError(
                f"unknown candidate driver {item!r}; choose from: {', '.join(sorted(known))}"
            )
    return resolved


def label_of(ws: Any, candidate: Candidate, lang: str) -> str:
    """The touchpoint's label from the journey when it has one, else its name."""
    configured = ws.journey.touchpoints.get(candidate.touchpoint or "")
    if candidate.kind == "touchpoint" and configured is not None and configured.label:
        return configured.label
    return candidate.label(lang)


def level_sizes(ws: Any, attribute: str) -> dict[str, int]:
    """Customers followed per level of a customer attribute."""
    people = at_risk(ws).select("customer_id")
    groups = customer_attribute(ws, attribute).rename(attribute_id="customer_id")
    joined = people.left_join(groups, people.customer_id == groups.attribute_id)
    joined = joined.mutate(group=joined.group.fill_null(MISSING))
    counts = joined.group_by("group").aggregate(n=joined.count()).execute()
    return {str(r.group): int(r.n) for r in counts.itertuples()}


def occurrence_counts(ws: Any, chosen: Sequence[Candidate]) -> dict[str, tuple[int, int]]:
    """Customers with at least one occurrence and occurrences in total, per candidate."""
    occ = occurrences(ws, chosen)
    counts = (
        occ.group_by("candidate")
        .aggregate(customers=occ.customer_id.nunique(), total=count_true(occ.ts.notnull()))
        .execute()
    )
    return {r.candidate: (int(r.customers), int(r.total)) for r in counts.itertuples()}
