"""The customer journey canvas of a CX workshop, filled in by the data.

``canvas(ws)`` composes the analyses a canvas needs, one column per phase (in the journey's
order; ``unassigned`` last, only when it has touchpoints), each with its touchpoints (in the
journey file's order):

- **volume**: interactions (events) and customers per touchpoint;
- **score**: the touchpoint's main score, the metric answered most there (:func:`metrics` by
  touchpoint: NPS, CSAT share, CES or rating mean, 95% interval, n);
- **drop-off** to the next phase (:func:`funnel`): dropped of reached, with a Wilson interval,
  and the customers still in progress (censored, never counted as drop-off);
- **emotion**: one experience measure comparable across metrics (below), per touchpoint, per
  phase and for the answers tied to no touchpoint (a relationship survey);
- **pain points**: touchpoints with bad experiences (the journey's bad-experience touchpoints and
  answers at or below its thresholds) with their counts, the themes of unhappy comments
  (:func:`themes` on the comments whose answer is a bad experience) with their counts, and the
  dose-response of bad experiences as context;
- **opportunities**: :func:`cxray.analysis.opportunities.opportunities`.

The experience measure (the emotion curve): every answer of a metric with a scale is placed on
0–100 by its scale, (score − min) / (max − min) × 100 (reversed for CES when lower is easier), so
that 0 is the worst answer the scale allows and 100 the best; the measure is the mean of those
values over every answer at a touchpoint (or in a phase), with a 95% t-interval, clipped to
0–100. It is pooled exactly from each metric's mean and standard deviation (:func:`metrics`),
so it uses every answer and needs no second pass over the feedback. Metrics without a scale are
left out. It is an average feeling, not an NPS: an average NPS answer of 6 reads 60, although
NPS counts a 6 as a detractor. Its *mood* is the fifth of the scale it falls in (0–20 very bad,
20–40 bad, 40–60 neutral, 60–80 good, 80–100 very good): equal parts, nothing tuned to a data
set. A value from fewer than ``MIN_N`` answers is flagged ``too_few``.

Each part that cannot be computed on this data keeps its reason in ``failed`` instead of
stopping the others.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import ibis
import numpy as np
import pandas as pd

from cxray.analysis._common import ALL, MISSING, check_lang, fmt_num
from cxray.analysis.metrics import MetricRule, t_interval, wilson
from cxray.i18n import message_of
from cxray.labels import UNASSIGNED, phase_label
from cxray.results import Column, Result, Table, frame_records, interval, jsonable

log = logging.getLogger(__name__)
MIN_N = 30
MOODS = ("very_bad", "bad", "neutral", "good", "very_good")  # fifths of the 0–100 measure
EXPERIENCE = ["experience", "experience_low", "experience_high", "experience_n", "mood"]
PHASE_COLUMNS = [
    "phase",
    "label",
    "label_nl",
    "touchpoint_count",
    "events",
    "reached",
    "next_phase",
    "converted",
    "dropped",
    "drop_share",
    "drop_low",
    "drop_high",
    "censored",
    *EXPERIENCE,
    "too_few",
    "bad_experiences",
]
TOUCHPOINT_COLUMNS = [
    "touchpoint",
    "label",
    "phase",
    "channel",
    "owner",
    "bad_experience",
    "moment_of_truth",
    "churn",
    "events",
    "customers",
    "metric",
    "score",
    "low",
    "high",
    "unit",
    "n",
    "score_too_few",
    *EXPERIENCE,
    "too_few",
    "bad_events",
    "low_answers",
    "bad_customers",
]
PAIN_TOUCHPOINT_COLUMNS = ["touchpoint", "label", "phase", "owner", "bad_events", "low_answers",
                           "bad_customers"]  # fmt: skip
PAIN_THEME_COLUMNS = ["theme", "label", "label_nl", "source", "comments", "customers",
                      "share", "share_low", "share_high"]  # fmt: skip


def mood(value: float) -> str | None:
    """The fifth of the 0–100 measure ``value`` falls in (None without a value)."""
    if value is None or value != value:
        return None
    return MOODS[min(int(value // 20), len(MOODS) - 1)] if value >= 0 else MOODS[0]


def pooled_experience(frame: pd.DataFrame, scales: dict[str, Any]) -> pd.DataFrame:
    """The 0–100 measure per group from a metrics frame (n, mean and sd per metric × group).

    Pooled exactly: each metric's mean and sd are placed on 0–100 linearly, then combined as
    one sample (between- and within-metric sums of squares).
    """
    rows = []
    for group, part in frame.groupby("group", sort=False):
        n_total, sums, squares = 0.0, 0.0, 0.0
        parts: list[tuple[float, float, float]] = []
        for record in part.itertuples():
            scale = MetricRule.of(record.metric, scales).scale
            if scale is None or scale.max <= scale.min or not record.n:
                continue
            width = scale.max - scale.min
            flipped = record.metric == "ces" and not scale.higher_is_easier
            centre = (scale.max - record.mean if flipped else record.mean - scale.min) / width
            spread = record.sd / width * 100 if record.sd == record.sd else 0.0
            parts.append((float(record.n), 100 * centre, spread))
        if not parts:
            continue
        n_total = sum(n for n, _, _ in parts)
        sums = sum(n * m for n, m, _ in parts)
        mean = sums / n_total
        squares = sum((n - 1) * s**2 + n * (m - mean) ** 2 for n, m, s in parts)
        sd = math.sqrt(squares / (n_total - 1)) if n_total > 1 else math.nan
        low, high = t_interval(mean, sd, n_total)
        rows.append(
            {
                "group": group,
                "experience": mean,
                "experience_low": max(low, 0.0) if low == low else np.nan,
                "experience_high": min(high, 100.0) if high == high else np.nan,
                "experience_n": int(n_total),
                "mood": mood(mean),
                "too_few": n_total < MIN_N,
            }
        )
    return pd.DataFrame(rows, columns=["group", *EXPERIENCE, "too_few"])


def volume(ws: Any) -> pd.DataFrame:
    """Events and customers per touchpoint (one engine query)."""
    events = ws.events
    counts = events.group_by("touchpoint").aggregate(
        events=events.count(), customers=events.customer_id.nunique()
    )
    return counts.execute()


def bad_experience_counts(ws: Any) -> pd.DataFrame:
    """Bad experiences per touchpoint: events of bad touchpoints and low answers, customers.

    An answer's touchpoint is its own, else that of the event it answers; answers at no
    touchpoint are counted under ``(missing)``. Low = at or below the journey's threshold for its
    metric and within the metric's scale.
    """
    journey = ws.journey
    parts = []
    events = ws.events
    if journey.bad_touchpoints:
        bad = events.filter(events.touchpoint.isin(journey.bad_touchpoints))
        parts.append(
            bad.select(
                customer_id=bad.customer_id.cast("string"),
                touchpoint=bad.touchpoint.cast("string"),
                answer=ibis.literal(0),
            )
        )
    rule = journey.bad_experience
    if rule.metrics:
        feedback = ws.feedback.filter(ws.feedback.score.notnull())
        answered = events.select(event_id_ev="event_id", touchpoint_ev="touchpoint")
        joined = feedback.left_join(answered, feedback.event_id == answered.event_id_ev)
        low = ibis.literal(False)
        for metric in rule.metrics:
            condition = (joined.metric == metric) & (joined.score <= rule.threshold(metric))
            scale = MetricRule.of(metric, journey.scales).scale
            if scale is not None:
                condition &= joined.score >= scale.min
            low |= condition
        answers = joined.filter(low)
        parts.append(
            answers.select(
                customer_id=answers.customer_id.cast("string"),
                touchpoint=ibis.coalesce(answers.touchpoint, answers.touchpoint_ev).cast("string"),
                answer=ibis.literal(1),
            )
        )
    columns = ["touchpoint", "bad_events", "low_answers", "bad_customers"]
    if not parts:
        return pd.DataFrame(columns=columns)
    union = parts[0] if len(parts) == 1 else parts[0].union(parts[1], distinct=False)
    counts = union.group_by("touchpoint").aggregate(
        bad_events=(union.answer == 0).ifelse(1, 0).sum(),
        low_answers=union.answer.sum(),
        bad_customers=union.customer_id.nunique(),
    )
    frame = counts.execute()
    frame["touchpoint"] = (
        frame["touchpoint"].astype(object).where(frame["touchpoint"].notna(), MISSING)
    )
    return frame[columns]


def unhappy_themes(result: Any, journey: Any) -> tuple[pd.DataFrame, int]:
    """Themes of the comments whose answer is a bad experience, with counts (and their total)."""
    comments = result.comments
    if comments is None or comments.empty:
        return pd.DataFrame(columns=PAIN_THEME_COLUMNS), 0
    rule = journey.bad_experience
    # a metric without a bad-experience threshold (e.g. star ratings) reads as NaN, not None
    thresholds = pd.to_numeric(comments["metric"].map(rule.threshold), errors="coerce")
    unhappy = comments[
        comments["score"].notna() & thresholds.notna() & (comments["score"] <= thresholds)
    ]
    total = len(unhappy)
    rows = []
    for theme, labels in result.labels.items():
        has = unhappy[unhappy["themes"].map(lambda found, t=theme: t in found)]
        if has.empty:
            continue
        low, high = wilson(len(has), total)
        rows.append(
            {
                "theme": theme,
                "label": labels.get("en", theme),
                "label_nl": labels.get("nl", labels.get("en", theme)),
                # themes names the topics it finds "discovered_<n>"; the rest come from the taxonomy
                "source": "discovered" if theme.startswith("discovered_") else "taxonomy",
                "comments": len(has),
                "customers": int(has["customer_id"].nunique()),
                "share": len(has) / total,
                "share_low": low,
                "share_high": high,
            }
        )
    frame = pd.DataFrame(rows, columns=PAIN_THEME_COLUMNS)
    frame = frame.sort_values(["comments", "theme"], ascending=[False, True], kind="stable")
    return frame.reset_index(drop=True), total


@dataclass(repr=False)
class CanvasResult(Result):
    """The canvas: phases, their touchpoints, emotion, pain points and opportunities."""

    phases: pd.DataFrame
    touchpoints: pd.DataFrame
    journey_wide: dict[str, Any] = field(default_factory=dict)  # answers at no touchpoint
    pain_themes: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=PAIN_THEME_COLUMNS)
    )
    unhappy_comments: int = 0
    no_touchpoint_bad: int = 0  # low answers tied to no touchpoint
    opportunities: Any = None
    dose: Any = None
    funnel: Any = None
    drivers: Any = None  # the churn drivers the opportunities come from, for a caller to reuse
    failed: dict[str, Any] = field(default_factory=dict)

    def display(self) -> Table:
        columns = [
            Column("phase", "text", "phase", "fase"),
            Column("label", "text", "touchpoint", "contactmoment"),
            Column("events", "count", "interactions", "interacties"),
            Column("customers", "count", "customers", "klanten", 7),
            Column("metric", "text", "metric", "metriek", 5),
            Column("score", "score", "score", unit_key="unit"),
            interval("low", "high", "score", 4, unit_key="unit"),
            Column("n", "count", "n", priority=6),
            Column("experience", "number", "experience (0–100)", "beleving (0–100)", 8),
            Column("bad_customers", "count", "customers with a bad experience",
                   "klanten met een slechte ervaring", 6),
        ]  # fmt: skip
        return Table(self.touchpoints.reset_index(drop=True), columns,
                     noun=("touchpoints", "contactmomenten"))  # fmt: skip

    def pain_touchpoints(self) -> pd.DataFrame:
        """Touchpoints with bad experiences, most customers first."""
        found = self.touchpoints[self.touchpoints["bad_customers"] > 0]
        return found.sort_values(["bad_customers", "touchpoint"], ascending=[False, True])

    def to_dict(self) -> dict[str, Any]:
        touchpoints = frame_records(self.touchpoints)
        phases = []
        for row in frame_records(self.phases):
            row["touchpoints"] = [tp for tp in touchpoints if tp["phase"] == row["phase"]]
            phases.append(row)
        dose = None
        if self.dose is not None:
            dose = {
                "sentence": {lang: self.dose.summary(lang) for lang in ("en", "nl")},
                **self.dose.to_dict(),
            }
        return {
            "phases": phases,
            "emotion": {
                "measure": "mean answer on 0-100 of its scale (worst 0, best 100), pooled over "
                "metrics; 95% t-interval",
                "moods": list(MOODS),
                "min_n": MIN_N,
                "journey_wide": jsonable(self.journey_wide) or None,
            },
            "pain_points": {
                "touchpoints": frame_records(self.pain_touchpoints()[PAIN_TOUCHPOINT_COLUMNS]),
                "no_touchpoint_low_answers": self.no_touchpoint_bad,
                "themes": frame_records(self.pain_themes),
                "unhappy_comments": self.unhappy_comments,
                "dose_response": dose,
            },
            "opportunities": None if self.opportunities is None else self.opportunities.to_dict(),
            "failed": {key: {"en": m.en, "nl": m.nl} for key, m in self.failed.items()},
        }

    def summary(self, lang: str = "en") -> str:
        nl = check_lang(lang) == "nl"
        parts = []
        scored = self.touchpoints[
            self.touchpoints["experience"].notna() & ~self.touchpoints["too_few"]
        ]
        if len(scored):
            worst = scored.sort_values(["experience", "touchpoint"]).iloc[0]
            value = fmt_num(worst["experience"], lang)
            ci = f"{fmt_num(worst['experience_low'], lang)}–{fmt_num(worst['experience_high'], lang)}"
            n = fmt_num(worst["experience_n"], lang)
            parts.append(
                f"De laagste beleving is bij {worst['label']}: {value} op 0–100 ({ci}, n = {n})."
                if nl
                else f"The lowest experience is at {worst['label']}: {value} of 0–100 "
                f"({ci}, n = {n})."
            )
        if self.funnel is not None:
            parts.append(self.funnel.summary(lang))
        if self.opportunities is not None and len(self.opportunities.frame):
            top = self.opportunities.frame.iloc[0]
            parts.append(
                ("Grootste kans: " if nl else "Largest opportunity: ")
                + self.opportunities.sentence(top, lang)
            )
        return " ".join(parts)


def canvas(ws: Any) -> CanvasResult:
    """The journey canvas of ``ws`` (filter it first for one segment, period or channel).

    See the module documentation for what each lane holds and how the emotion measure is made.
    """
    from cxray.analysis.dose_response import dose_response
    from cxray.analysis.drivers import drivers
    from cxray.analysis.funnel import funnel
    from cxray.analysis.metrics import metrics
    from cxray.analysis.opportunities import opportunities
    from cxray.analysis.themes import themes

    failed: dict[str, Any] = {}

    def part(name: str, run: Callable[[], Any]) -> Any:
        try:
            return run()
        except Exception as exc:  # one lane missing, with its reason; the others stand
            log.info("canvas: %s failed: %s", name, exc)
            failed[name] = message_of(exc)
            return None

    journey = ws.journey
    by_touchpoint = part("scores", lambda: metrics(ws, by="touchpoint", min_n=MIN_N))
    by_phase = part("scores", lambda: metrics(ws, by="phase", min_n=MIN_N))
    counts = volume(ws)
    bad = bad_experience_counts(ws)
    flow = part("funnel", lambda: funnel(ws))
    found = part("drivers", lambda: drivers(ws))
    chances = part("opportunities", lambda: opportunities(ws, found)) if found else None
    said = part("themes", lambda: themes(ws, metric="all"))
    dose = part("dose_response", lambda: dose_response(ws))

    scales = journey.scales
    tp_frame = by_touchpoint.frame if by_touchpoint is not None else pd.DataFrame()
    tp_experience = pooled_experience(tp_frame, scales) if len(tp_frame) else None
    touchpoints = _touchpoint_rows(journey, counts, tp_frame, tp_experience, bad)
    phase_frame = by_phase.frame if by_phase is not None else pd.DataFrame()
    phase_experience = pooled_experience(phase_frame, scales) if len(phase_frame) else None
    phases = _phase_rows(journey, touchpoints, flow, phase_experience)
    journey_wide: dict[str, Any] = {}
    if tp_experience is not None:
        wide = tp_experience[tp_experience["group"] == MISSING]
        if len(wide):
            journey_wide = wide.iloc[0].drop(labels="group").to_dict()
            journey_wide["metrics"] = sorted(tp_frame.loc[tp_frame["group"] == MISSING, "metric"])
    pain_themes, unhappy = (
        unhappy_themes(said, journey)
        if said is not None
        else (pd.DataFrame(columns=PAIN_THEME_COLUMNS), 0)
    )
    nowhere = bad.loc[bad["touchpoint"] == MISSING, "low_answers"]
    return CanvasResult(
        phases=phases,
        touchpoints=touchpoints,
        journey_wide=journey_wide,
        pain_themes=pain_themes,
        unhappy_comments=unhappy,
        no_touchpoint_bad=int(nowhere.sum()) if len(nowhere) else 0,
        opportunities=chances,
        dose=dose,
        funnel=flow,
        drivers=found,
        failed=failed,
    )


def _touchpoint_rows(
    journey: Any,
    counts: pd.DataFrame,
    scores: pd.DataFrame,
    experience: pd.DataFrame | None,
    bad: pd.DataFrame,
) -> pd.DataFrame:
    churn = set(journey.churn.touchpoints)
    names = list(journey.touchpoints)
    names += sorted(str(t) for t in counts["touchpoint"].dropna() if t not in journey.touchpoints)
    volume_of = counts.set_index("touchpoint")
    bad_of = bad.set_index("touchpoint")
    experience_of = experience.set_index("group") if experience is not None else None
    rows = []
    for name in names:
        tp = journey.touchpoints.get(name)
        row: dict[str, Any] = {
            "touchpoint": name,
            "label": (tp.label if tp is not None and tp.label else name),
            "phase": tp.phase if tp is not None else UNASSIGNED,
            "channel": tp.channel if tp is not None else None,
            "owner": tp.owner if tp is not None else None,
            "bad_experience": bool(tp is not None and tp.bad_experience),
            "moment_of_truth": bool(tp is not None and tp.moment_of_truth),
            "churn": name in churn,
            "events": int(volume_of.loc[name, "events"]) if name in volume_of.index else 0,
            "customers": int(volume_of.loc[name, "customers"]) if name in volume_of.index else 0,
        }
        answered = scores[scores["group"] == name] if len(scores) else scores
        if len(answered):
            main = answered.sort_values(["n", "metric"], ascending=[False, True]).iloc[0]
            row.update(metric=main["metric"], score=main["score"], low=main["low"],
                       high=main["high"], unit=main["unit"], n=int(main["n"]),
                       score_too_few=bool(main["too_few"]))  # fmt: skip
        if experience_of is not None and name in experience_of.index:
            row.update(experience_of.loc[name].to_dict())
        for key in ("bad_events", "low_answers", "bad_customers"):
            row[key] = int(bad_of.loc[name, key]) if name in bad_of.index else 0
        rows.append(row)
    frame = pd.DataFrame(rows, columns=TOUCHPOINT_COLUMNS)
    frame["too_few"] = [True if pd.isna(v) else bool(v) for v in frame["too_few"]]
    frame["n"] = frame["n"].fillna(0).astype(int)
    frame["experience_n"] = frame["experience_n"].fillna(0).astype(int)
    return frame


def _phase_rows(
    journey: Any, touchpoints: pd.DataFrame, flow: Any, experience: pd.DataFrame | None
) -> pd.DataFrame:
    phases = list(journey.phases)
    if (touchpoints["phase"] == UNASSIGNED).any():
        phases.append(UNASSIGNED)
    steps = pd.DataFrame()
    if flow is not None:
        steps = flow.frame[flow.frame["group"] == ALL].set_index("phase")
    experience_of = experience.set_index("group") if experience is not None else None
    rows = []
    for phase in phases:
        members = touchpoints[touchpoints["phase"] == phase]
        row: dict[str, Any] = {
            "phase": phase,
            "label": phase_label(phase, "en"),
            "label_nl": phase_label(phase, "nl"),
            "touchpoint_count": len(members),
            "events": int(members["events"].sum()),
            "bad_experiences": int((members["bad_events"] + members["low_answers"]).sum()),
        }
        if phase in steps.index:
            step = steps.loc[phase]
            row["reached"] = int(step["reached"])
            if isinstance(step["next_phase"], str):
                reached, dropped = int(step["reached"]), int(step["dropped"])
                low, high = wilson(dropped, reached) if reached else (np.nan, np.nan)
                row.update(next_phase=step["next_phase"], converted=int(step["converted"]),
                           dropped=dropped, drop_share=step["drop_share"], drop_low=low,
                           drop_high=high, censored=int(step["censored"]))  # fmt: skip
        if experience_of is not None and phase in experience_of.index:
            row.update(experience_of.loc[phase].to_dict())
        rows.append(row)
    frame = pd.DataFrame(rows, columns=PHASE_COLUMNS)
    frame["too_few"] = [True if pd.isna(v) else bool(v) for v in frame["too_few"]]
    frame["experience_n"] = frame["experience_n"].fillna(0).astype(int)
    return frame
