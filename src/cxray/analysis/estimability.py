"""What the data cannot estimate: the checks run on every candidate driver, with their reasons.

A candidate that fails a check gets no hazard ratio, interval, p/q value or customers lost: it is
reported as "cannot be estimated from this data" with one of these reasons, and it does not join
the Benjamini–Hochberg family, so it does not spend the false-discovery rate.

Before the fit (from the grouped table and :func:`cxray.analysis.exposure.candidate_timing`):

- ``not_seen``: nobody had it before their lifetime ended.
- ``too_few``: fewer than ``MIN_CUSTOMERS`` customers had it (a customer attribute level).
- ``time_origin``: at least ``ORIGIN_SHARE`` of the customers followed had it within an hour of
  their start (a contract signed, a first order, the first step of a process): it does not vary
  over time and there is almost no one without it to compare with.
- ``way_out``: at least ``EXIT_SHARE`` of the churners who had it (at least ``MIN_CUSTOMERS`` of
  them) had it within an hour before leaving: it is part of the way out (an exit survey, a
  closing step of the process), not a cause.
- ``no_variation``: within every tenure band that holds a churn, everyone followed had the same
  count (or nobody or everyone had it): the tenure baseline absorbs it.
- ``no_churn_exposed`` / ``all_churn_exposed``: no churn at all while exposed, or every churn while
  exposed (complete separation: the maximum-likelihood ratio is 0 or infinite).

In the fit (:mod:`cxray.analysis.poisson`): ``collinear`` (the column lies in the span of the
others on the weighted design: dropped, the model refitted) and ``diverged`` (coefficient beyond
±10, standard error above 5, or no convergence: quasi-complete separation; dropped and refitted).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from cxray.analysis._common import fmt_num, fmt_pct
from cxray.analysis.exposure import Timing

ORIGIN_SHARE = 0.95
EXIT_SHARE = 0.5
MIN_CUSTOMERS = 20

REASONS: dict[str, tuple[str, str]] = {
    "not_seen": (
        "nobody had it before their lifetime ended",
        "niemand had dit voordat de klantrelatie eindigde",
    ),
    "too_few": ("too few customers have it (n = {n})", "te weinig klanten hebben dit (n = {n})"),
    "time_origin": (
        "{share} of customers (n = {total}) have it from their very start, so it does not vary "
        "over time and there is hardly anyone to compare with",
        "{share} van de klanten (n = {total}) heeft dit vanaf het allereerste begin; het varieert "
        "niet in de tijd en er is bijna niemand om mee te vergelijken",
    ),
    "way_out": (
        "{share} of the churners who had it (n = {total}) had it within an hour before leaving: "
        "part of the way out, not a cause",
        "{share} van de vertrekkers die dit hadden (n = {total}) had dit binnen een uur vóór het "
        "vertrek: onderdeel van het vertrek, geen oorzaak",
    ),
    "no_variation": (
        "within every tenure band everyone had it equally often, so tenure explains it fully",
        "binnen elke klantduurklasse had iedereen dit even vaak, dus de klantduur verklaart het "
        "volledig",
    ),
    "no_churn_exposed": (
        "no customer churned while having it (n = {n} customers had it)",
        "geen enkele klant vertrok terwijl die dit had (n = {n} klanten hadden dit)",
    ),
    "all_churn_exposed": (
        "every churn happened while having it (n = {churners} churners)",
        "elk vertrek gebeurde terwijl de klant dit had (n = {churners} vertrekkers)",
    ),
    "collinear": (
        "it moves in lockstep with {partners}, so their effects cannot be told apart",
        "het loopt gelijk op met {partners}, dus hun effecten zijn niet te scheiden",
    ),
    "diverged": (
        "the model cannot pin its effect down (near-complete separation)",
        "het model kan het effect niet vastleggen (bijna volledige scheiding)",
    ),
}


def reason_text(code: str, lang: str, **details: Any) -> str:
    """The sentence part that says why a candidate cannot be estimated."""
    en, nl = REASONS[code]
    template = nl if lang == "nl" else en
    values = dict(details)
    if "share" in values:
        values["share"] = fmt_pct(float(values["share"]), lang)
    for key in ("n", "total", "churners"):
        if key in values:
            values[key] = fmt_num(float(values[key]), lang)
    if "partners" in values:
        values["partners"] = (" en " if lang == "nl" else " and ").join(values["partners"]) or (
            "andere kenmerken" if lang == "nl" else "other covariates"
        )
    return template.format(**values)


def timing_reason(timing: Timing | None) -> tuple[str, dict[str, Any]] | None:
    """``time_origin`` or ``way_out`` from a candidate's timing, else None."""
    if timing is None or timing.exposed == 0:
        return ("not_seen", {})
    if timing.at_risk and timing.at_origin >= ORIGIN_SHARE * timing.at_risk:
        return (
            "time_origin",
            {"share": timing.at_origin / timing.at_risk, "total": timing.at_risk},
        )
    # most churners who had it, had it on the way out (and they are not a handful)
    churners = timing.exposed_churners
    if churners >= MIN_CUSTOMERS and timing.near_exit >= EXIT_SHARE * churners:
        return ("way_out", {"share": timing.near_exit / churners, "total": churners})
    return None


def table_reason(
    frame: pd.DataFrame, column: str, exposed_customers: int
) -> tuple[str, dict[str, Any]] | None:
    """A reason read from the grouped table (variation within bands, separation), else None."""
    x = frame[column].to_numpy(dtype=float)
    exposure = frame.exposure_days.to_numpy(dtype=float)
    events = frame.events.to_numpy(dtype=float)
    exposed = x > 0
    if not (exposure[exposed] > 0).any():
        return ("not_seen", {})
    intervals = frame["interval"].to_numpy()
    varies = False
    for band in np.unique(intervals[events > 0]):
        inside = intervals == band
        values = x[inside & (exposure > 0)]
        if values.size and values.min() != values.max():
            varies = True
            break
    if not varies:
        return ("no_variation", {})
    if events[exposed].sum() == 0:
        return ("no_churn_exposed", {"n": exposed_customers})
    if events[~exposed].sum() == 0:
        return ("all_churn_exposed", {"churners": int(events.sum())})
    return None


def partner_labels(partners: Sequence[str], labels: dict[str, str], lang: str) -> list[str]:
    """Readable names for design columns: candidates by label, tenure bands as tenure."""
    out: list[str] = []
    for name in partners:
        if name.startswith("interval:"):
            word = "klantduur" if lang == "nl" else "tenure"
        elif name in labels:
            word = labels[name]
        elif ":" in name:
            attribute, level = name.split(":", 1)
            word = f"{attribute} = {level}"
        else:
            word = name
        if word not in out:
            out.append(word)
    return out
