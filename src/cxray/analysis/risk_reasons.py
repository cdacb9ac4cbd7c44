"""The churn-risk score in words: risk bands and each customer's reasons.

**Bands** come from the probability alone, against the churn rate the model was trained on (the
base rate r, odds r / (1 − r)): **high** when the customer's odds of leaving are at least twice
the base odds, **low** when they are under half of them, **medium** in between. The cut points
are two fixed probabilities (:func:`band_cuts`), so a higher probability never gets a lower band,
and they stay below 1 and above 0 whatever the base rate (a rule "p ≥ 2 r" cannot reach "high"
once r ≥ ½).

**Reasons** are what raises *this customer's* risk, from their own values: the model's
contribution of a feature is its coefficient × (the customer's value − the training mean), in
log-odds. Contributions are summed per touchpoint (its 30-day, 90-day and all-time counts), per
metric (the latest score and its "no answer" flag) and over all segment indicators (so a
customer is told about their own segment, never about another one). A group is a reason only when

- its contribution is at least :data:`MIN_REASON` (about +10% odds): no padding with neutral ones;
- a score is *worse* than the training mean in the scale's direction and bad in itself (at or
  below the journey's bad-experience threshold, or in the worse half of its scale): a very easy
  CES or an NPS of 10 never reads as a risk;
- for bad experiences (the count, or a bad-experience touchpoint): the customer has more of
  them than the average customer, never fewer.

A customer without such a reason reads "no single reason stands out".
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cxray.analysis._common import fmt_num

SEP = "__"
WINDOWS = (30, 90)  # recent-activity windows in days (the features' names carry them)
MIN_REASON = 0.1  # log-odds a reason must add (about +10% odds) to be worth saying
HIGH_ODDS, LOW_ODDS = 2.0, 0.5  # bands: odds of leaving against the base odds
NO_REASON = {"en": "no single reason stands out", "nl": "geen enkele reden springt eruit"}


def reason_group(feature: str) -> str:
    """The reason a feature belongs to: one per touchpoint, per metric, all segments, or itself."""
    parts = feature.split(SEP)
    if parts[0] == "segment":
        return "segment"
    return SEP.join(parts[:2]) if len(parts) > 1 else parts[0]


def band_cuts(base_rate: float) -> tuple[float, float]:
    """(low_below, high_from): the probabilities where the bands change for this base rate."""
    odds = base_rate / (1 - base_rate)

    def prob(o: float) -> float:
        return o / (1 + o)

    return prob(LOW_ODDS * odds), prob(HIGH_ODDS * odds)


def bands(probability: np.ndarray, base_rate: float) -> np.ndarray:
    """high / medium / low per probability (see the module description)."""
    low, high = band_cuts(base_rate)
    probability = np.asarray(probability, dtype=float)
    return np.where(probability >= high, "high", np.where(probability < low, "low", "medium"))


def days_text(value: float, lang: str) -> str:
    """ "1 day" / "2 days", "1 dag" / "2 dagen" (rounded to whole days)."""
    days = round(value)
    unit = ("day" if days == 1 else "days") if lang == "en" else ("dag" if days == 1 else "dagen")
    return f"{fmt_num(days, lang)} {unit}"


def _tp_name(ws: Any, tp: str) -> str:
    touchpoint = ws.journey.touchpoints.get(tp)
    return touchpoint.label if touchpoint is not None and touchpoint.label else tp


def _segment_of(row: pd.Series) -> str | None:
    for name, value in row.items():
        if str(name).startswith(f"segment{SEP}") and value == 1:
            return str(name).split(SEP, 1)[1]
    return None


def reason_text(ws: Any, group: str, row: pd.Series, lang: str) -> str:
    """One reason in words, from the customer's own feature values."""
    kind, _, key = group.partition(SEP)
    if kind == "tp":
        ever = int(row[f"{group}{SEP}ever"])
        recent = int(row[f"{group}{SEP}{WINDOWS[-1]}d"])
        name = _tp_name(ws, key)
        window = days_text(WINDOWS[-1], lang)
        if ever == 0:  # its absence raises the risk: the customer has not engaged this way
            return f"no {name} so far" if lang == "en" else f"nog geen {name}"
        if lang == "en":
            return f"{ever} × {name} so far ({recent} in the last {window})"
        return f"{ever} × {name} tot nu toe ({recent} in de laatste {window})"
    if kind == "score":
        value = row[group]
        if value != value:  # NaN: no answer
            return (
                f"no {key.upper()} answer yet"
                if lang == "en"
                else f"nog geen {key.upper()}-antwoord"
            )
        score = fmt_num(float(value), lang, 0 if float(value).is_integer() else 1)
        return f"latest {key.upper()} {score}" if lang == "en" else f"laatste {key.upper()} {score}"
    if kind == "segment":
        own = _segment_of(row)
        if own is None:
            return "a less common segment" if lang == "en" else "een minder gebruikelijk segment"
        return f"segment {own}"
    value = float(row.get(kind, 0.0))
    if kind == "days_since_last_event":
        days = days_text(value, lang)
        return f"no activity for {days}" if lang == "en" else f"{days} geen activiteit"
    if kind == "tenure_days":
        days = days_text(value, lang)
        return f"customer for {days}" if lang == "en" else f"{days} klant"
    if kind == "bad_experiences":
        count = int(value)
        if lang == "en":
            return f"{count} bad experience{'' if count == 1 else 's'} so far"
        return f"{count} slechte ervaring{'' if count == 1 else 'en'} tot nu toe"
    return kind


def _score_can_be_reason(ws: Any, metric: str, value: float, mean: float) -> bool:
    """A score explains risk only if it is worse than average and bad in itself."""
    scale = ws.journey.scale(metric)
    higher_is_better = scale is None or scale.higher_is_easier
    worse = value < mean if higher_is_better else value > mean
    if not worse:
        return False
    limit = ws.journey.bad_experience.threshold(metric)
    if limit is not None and value <= limit:
        return True
    if scale is None:
        return limit is None
    middle = (scale.min + scale.max) / 2
    return value < middle if higher_is_better else value > middle


def _allowed(ws: Any, group: str, row: pd.Series, means: pd.Series) -> bool:
    kind, _, key = group.partition(SEP)
    if kind == "score":
        value = row[group]
        if value != value:  # no answer: the "missing" flag speaks, which is the customer's own
            return True
        return _score_can_be_reason(ws, key, float(value), float(means[group]))
    if kind == "bad_experiences":
        return float(row[group]) > float(means[group])
    if kind == "tp" and key in ws.journey.bad_touchpoints:
        name = f"{group}{SEP}ever"
        return float(row[name]) > float(means[name])
    return True


def reasons(
    ws: Any, contributions: pd.DataFrame, features: pd.DataFrame, means: pd.Series, top: int
) -> pd.DataFrame:
    """reasons, reasons_nl, reason_keys per customer (see the module description).

    ``contributions``: per feature, coefficient × (value − training mean) in log-odds;
    ``means``: the training mean of each feature (what "average" is).
    """
    grouped = contributions.T.groupby(contributions.columns.map(reason_group)).sum().T
    values = grouped.to_numpy()
    names = np.array(grouped.columns)
    keys, en, nl = [], [], []
    for i in range(len(features)):
        row = features.iloc[i]
        chosen = []
        for j in np.argsort(-values[i], kind="stable"):
            if values[i, j] < MIN_REASON or len(chosen) == top:
                break
            if _allowed(ws, names[j], row, means):
                chosen.append(names[j])
        keys.append(", ".join(chosen))
        en.append("; ".join(reason_text(ws, g, row, "en") for g in chosen) or NO_REASON["en"])
        nl.append("; ".join(reason_text(ws, g, row, "nl") for g in chosen) or NO_REASON["nl"])
    return pd.DataFrame({"reasons": en, "reasons_nl": nl, "reason_keys": keys})


def expected_range(probability: np.ndarray, confidence: float = 0.95) -> tuple[int, int]:
    """Central range of how many leave if each leaves with its probability (Poisson-binomial).

    Exact distribution for up to 3,000 customers, a normal approximation (continuity-corrected,
    rounded outward) beyond; the counts stay within 0 … n.
    """
    p = np.clip(np.asarray(probability, dtype=float), 0.0, 1.0)
    n = len(p)
    if n == 0:
        return 0, 0
    tail = (1 - confidence) / 2
    if n <= 3000:
        pmf = np.ones(1)
        for q in p:
            pmf = np.convolve(pmf, [1 - q, q])
        cdf = np.cumsum(pmf)
        low = int(np.searchsorted(cdf, tail - 1e-12))
        high = int(np.searchsorted(cdf, 1 - tail - 1e-12))
        return low, min(high, n)
    from scipy import stats

    mean, sd = float(p.sum()), float(np.sqrt((p * (1 - p)).sum()))
    z = float(stats.norm.ppf(1 - tail))
    low = int(np.floor(mean - z * sd - 0.5))
    high = int(np.ceil(mean + z * sd + 0.5))
    return max(low, 0), min(high, n)


def reason_counts(scores: pd.DataFrame, band: str = "high") -> tuple[list[tuple[str, int]], int]:
    """How often each reason is given to the customers of one risk ``band`` (most often first,
    then by key), and how many customers the band holds."""
    chosen = scores[scores["band"] == band]
    counts: dict[str, int] = {}
    for text in chosen["reason_keys"]:
        for key in {k.strip() for k in str(text).split(",") if k.strip()}:
            counts[key] = counts.get(key, 0) + 1
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])), len(chosen)
