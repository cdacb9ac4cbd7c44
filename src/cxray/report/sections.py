"""The sections of the report: each turns collected results into a titled block of
cards, figures, a table and notes, or says why it has nothing to show."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from cxray.analysis._common import MISSING, fmt_interval
from cxray.report import charts
from cxray.report.collect import (
    EARLY_DAYS,
    HEADLINE_ORDER,
    MAX_COHORTS,
    MAX_TOUCHPOINTS,
    MIN_N,
    Outcome,
    ReportData,
)
from cxray.report.plotting import category_width, chart_html, responsive, text_width
from cxray.report.sankey_chart import phase_sankey
from cxray.report.survival_chart import survival_curves
from cxray.report.text import number, percent, say


# -- laying out -----------------------------------------------------------------------------
@dataclass
class Table:
    columns: list[str]
    rows: list[list[str]]
    numeric: list[bool]


@dataclass
class Card:
    label: str
    score: str
    interval: str
    answers: str
    note: str
    too_few: bool


@dataclass
class Item:
    """One line of a list, with a short tag before it (quick win / long term) and small facts."""

    text: str
    tag: str = ""
    tag_kind: str = ""  # a CSS class of the tag: quick, long, bad
    facts: list[str] = field(default_factory=list)


@dataclass
class Lane:
    """One lane of a canvas column: its name and its lines."""

    name: str
    items: list[Item] = field(default_factory=list)
    empty: str = ""  # said when the lane has no lines


@dataclass
class Column:
    """One column of a board (a canvas phase): its title, a line under it, its lanes."""

    title: str
    facts: str
    lanes: list[Lane] = field(default_factory=list)


@dataclass
class Part:
    """A titled block inside a section: sentences, a chart, a table, a list or a board."""

    key: str
    heading: str = ""
    paragraphs: list[str] = field(default_factory=list)
    figure: str | None = None
    table: Table | None = None
    items: list[Item] = field(default_factory=list)
    ordered: bool = True
    columns: list[Column] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    missing: str | None = None  # the one line saying why this part has nothing to show


@dataclass
class Section:
    key: str
    title: str
    intro: str = ""
    figures: list[str] = field(default_factory=list)
    cards: list[Card] = field(default_factory=list)
    table: Table | None = None
    notes: list[str] = field(default_factory=list)
    empty: str | None = None  # shown instead of the content: no data, or what went wrong
    parts: list[Part] = field(default_factory=list)


class NotEnoughData(Exception):
    """A section has nothing to show (not an error); ``reason`` is a text key saying why."""

    def __init__(self, reason: str | None = None):
        super().__init__(reason)
        self.reason = reason


def has_churn(data: ReportData) -> bool:
    """A churn rule in the journey, or customers whose lifetime data says when they left."""
    check = data.outcomes.get("churn_rule")
    lifetime_data = check is not None and check.ok and check.result.has_lifetime_data
    return data.journey.churn.enabled or lifetime_data


def _needs_churn_rule(data: ReportData) -> None:
    """Without a churn rule nobody can be seen to leave: churn sections would show only zeros."""
    if not has_churn(data):
        raise NotEnoughData("no_churn_rule")


class SectionFailed(Exception):
    """The analysis behind a section raised; its message is shown."""


def _label(journey: Any, touchpoint: str) -> str:
    spec = journey.touchpoints.get(touchpoint)
    return (spec.label if spec is not None and spec.label else None) or str(touchpoint)


def _metric_name(metric: str) -> str:
    return metric.upper() if metric in HEADLINE_ORDER else metric[:1].upper() + metric[1:]


def headline_metric(metrics_frame: pd.DataFrame) -> str | None:
    present = list(dict.fromkeys(metrics_frame["metric"]))
    for metric in HEADLINE_ORDER:
        if metric in present:
            return metric
    return sorted(present)[0] if present else None


def _plain(value: float, lang: str) -> str:
    """A scale end as written: 4, or 7,5."""
    return number(value, lang, 0 if float(value).is_integer() else 1)


def _score_formatter(unit: str, lang: str, digits: int = 0) -> Callable[[float], str]:
    def fmt(value: float) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "–"
        if unit == "points":
            return number(value, lang, digits, sign=True)
        if unit == "percent":
            return f"{number(value, lang, digits)}%"
        return number(value, lang, 2)

    return fmt


def _need(outcome: Outcome) -> Any:
    """The result, or the reason the section cannot show it."""
    if outcome.error is not None:
        raise SectionFailed(outcome.error)
    if outcome.result is None:
        raise NotEnoughData
    return outcome.result


def _metric_cards(data: ReportData, lang: str) -> Section:
    section = Section("metrics", say(lang, "metrics_title"), say(lang, "metrics_intro"))
    frame = _need(data.outcomes["metrics"]).to_pandas()
    if frame.empty:
        raise NotEnoughData
    order = {metric: i for i, metric in enumerate(HEADLINE_ORDER)}
    frame = frame.assign(order=frame["metric"].map(lambda m: order.get(m, len(order))))
    for _, row in frame.sort_values(["order", "metric"]).iterrows():
        wide = pd.notna(row["low"]) and row["high"] - row["low"] >= 4
        fmt = _score_formatter(row["unit"], lang, 0 if wide or pd.isna(row["low"]) else 1)
        interval = (
            say(lang, "interval", low=fmt(row["low"]), high=fmt(row["high"]))
            if pd.notna(row["low"])
            else say(lang, "no_interval")
        )
        section.cards.append(
            Card(
                label=_metric_name(row["metric"]),
                score=fmt(row["score"]),
                interval=interval,
                answers=say(lang, "answers", n=number(row["n"], lang)),
                note=_metric_note(data.journey, row, lang),
                too_few=bool(row["too_few"]),
            )
        )
    return section


def _metric_note(journey: Any, row: pd.Series, lang: str) -> str:
    scale = journey.scale(row["metric"])
    if row["metric"] == "nps":
        return say(lang, "nps_note")
    if scale is None:
        return say(lang, "mean_note")
    ends = {"min": _plain(scale.min, lang), "max": _plain(scale.max, lang)}
    if row["metric"] == "ces" and pd.notna(row.get("easy")):
        key = "ces_note_easier" if scale.higher_is_easier else "ces_note_harder"
        return say(lang, key, easy=percent(row["easy"], lang), **ends)
    if row["unit"] == "percent":
        low = scale.max - (scale.max - scale.min) / 4
        return say(lang, "csat_note", low=_plain(low, lang), high=ends["max"], **ends)
    return say(lang, "mean_note_scale", **ends)


def _metric_order(metrics: list[str]) -> list[str]:
    """NPS, CSAT and CES first, other metrics after them by name."""
    first = [m for m in HEADLINE_ORDER if m in metrics]
    return first + sorted(m for m in metrics if m not in HEADLINE_ORDER)


def _touchpoint_scores(data: ReportData, lang: str) -> Section:
    overall_frame = _need(data.outcomes["metrics"]).to_pandas()
    frame = _need(data.outcomes["touchpoints"]).to_pandas()
    frame = frame[frame["group"] != MISSING]  # answers not tied to a touchpoint
    if frame.empty:
        raise NotEnoughData
    section = Section(
        "touchpoints", say(lang, "touchpoints_title"), say(lang, "touchpoints_intro", min_n=MIN_N)
    )
    for metric in _metric_order(list(dict.fromkeys(frame["metric"]))):
        rows = frame[frame["metric"] == metric]
        if len(rows) > MAX_TOUCHPOINTS:
            section.notes.append(
                say(lang, "touchpoints_top", count=MAX_TOUCHPOINTS, metric=_metric_name(metric))
            )
        rows = rows.nlargest(MAX_TOUCHPOINTS, "n").copy()
        rows["label"] = [_label(data.journey, tp) for tp in rows["group"]]
        overall = overall_frame.loc[overall_frame["metric"] == metric, "score"]
        score = float(overall.iloc[0]) if len(overall) else None
        widest = max(text_width(f"{label}  (n = 00,000)") for label in rows["label"])
        section.figures.append(
            responsive(
                lambda narrow, rows=rows, metric=metric, score=score: _touchpoint_figure(
                    data, rows, metric, score, lang, narrow
                ),
                f"cxray-touchpoints-{metric}",
                min_width=int(widest) + charts.WIDE_SIDE_LABELS // 2,
            )
        )
    return section


def score_axis(
    journey: Any, metric: str, unit: str, lang: str
) -> tuple[tuple[float, float] | None, str]:
    """The range of a metric's scale and the axis title that names it."""
    name = _metric_name(metric)
    scale = journey.scale(metric)
    if unit == "points":
        return (-100.0, 100.0), say(lang, "points_axis", metric=name)
    if unit == "percent":
        return (0.0, 100.0), say(lang, "percent_axis", metric=name)
    if scale is not None:
        ends = {"min": _plain(scale.min, lang), "max": _plain(scale.max, lang)}
        key = "mean_axis"
        if metric == "ces":
            key = "ces_axis_easier" if scale.higher_is_easier else "ces_axis_harder"
        return (scale.min, scale.max), say(lang, key, metric=name, **ends)
    return None, name


def _touchpoint_figure(
    data: ReportData,
    rows: pd.DataFrame,
    metric: str,
    overall: float | None,
    lang: str,
    narrow: bool,
) -> Any:
    name = _metric_name(metric)
    unit = rows["unit"].iloc[0]
    score_range, axis = score_axis(data.journey, metric, unit, lang)
    return charts.score_dots(
        rows,
        lang,
        say(lang, "touchpoints_chart", metric=name),
        axis,
        score_range,
        overall,
        MIN_N,
        _score_formatter(unit, lang),
        narrow=narrow,
    )


def _funnel(data: ReportData, lang: str) -> Section:
    result = _need(data.outcomes["funnel"])
    frame = result.to_pandas()
    frame = frame[frame["group"] == "all"] if "group" in frame else frame
    if frame.empty or int(frame["reached"].max() or 0) == 0:
        raise NotEnoughData
    section = Section("funnel", say(lang, "funnel_title"), say(lang, "funnel_intro"))
    section.figures.append(
        responsive(
            lambda narrow: charts.funnel_bars(frame, lang, narrow),
            "cxray-funnel",
            min_width=charts.funnel_width(frame["phase"]),
        )
    )
    rows = []
    for _, row in frame.iterrows():
        last = pd.isna(row["next_phase"])
        rows.append(
            [
                str(row["phase"]),
                number(row["reached"], lang),
                ""
                if last
                else f"{number(row['converted'], lang)} ({percent(row['conversion'], lang)})",
                ""
                if last
                else f"{number(row['dropped'], lang)} ({percent(row['drop_share'], lang)})",
                "" if last else number(row["censored"], lang),
                "" if last else number(row["median_days_to_next"], lang, 0),
            ]
        )
    section.table = Table(
        [
            say(lang, key)
            for key in (
                "phase",
                "reached",
                "col_converted",
                "col_dropped",
                "col_censored",
                "median_days",
            )
        ],
        rows,
        [False, True, True, True, True, True],
    )
    return section


def _group_name(group: Any, lang: str) -> str:
    if group is None or (isinstance(group, float) and math.isnan(group)):
        return say(lang, "unknown_group")
    return say(lang, "all_customers") if group == "all" else str(group)


def _survival(data: ReportData, lang: str) -> Section:
    _needs_churn_rule(data)
    overall = _need(data.outcomes["survival"])
    split = data.outcomes.get("survival_by")
    result = (
        split.result if split is not None and split.ok and len(split.result.groups) > 1 else overall
    )
    if result.groups.empty or result.curve.empty:
        raise NotEnoughData
    section = Section("survival", say(lang, "survival_title"), say(lang, "survival_intro"))
    if result.by:
        section.intro += " " + say(lang, "survival_by", by=result.by)
    groups = result.groups.sort_values("customers", ascending=False)
    labels = {
        group: f"{_group_name(group, lang)} (n = {number(n, lang)})"
        for group, n in zip(groups["group"], groups["customers"], strict=True)
    }
    figure = survival_curves(result.curve, labels, lang)
    section.figures.append(chart_html(figure, "cxray-survival"))
    rows = []
    for _, row in groups.iterrows():
        if math.isinf(row["median_days"]):
            median = say(lang, "not_reached")
        else:
            # digits that tell the interval apart: "0.8 (0.7–0.9)", never "1 (1–1)"
            estimate, bounds = fmt_interval(
                row["median_days"], row["median_lower"], row["median_upper"], lang
            )
            if math.isinf(row["median_upper"]):
                bounds = bounds.split("–")[0] + "–" + say(lang, "not_reached")
            median = f"{estimate} ({bounds})"
        rows.append(
            [
                _group_name(row["group"], lang),
                number(row["customers"], lang),
                number(row["churned"], lang),
                median,
            ]
        )
    section.table = Table(
        [say(lang, key) for key in ("group", "customers", "churned", "median_lifetime")],
        rows,
        [False, True, True, True],
    )
    if result.logrank_p is not None:
        p = (
            f"p = {number(result.logrank_p, lang, 3)}"
            if result.logrank_p >= 0.001
            else f"p < {number(0.001, lang, 3)}"
        )
        section.notes.append(say(lang, "logrank", p=p))
    return section


def _early_churn(data: ReportData, lang: str) -> Section:
    _needs_churn_rule(data)
    result = _need(data.outcomes["early_churn"])
    days = data.early_days
    frame = result.to_pandas()
    cohorts = frame[(frame["cohort"] != "all") & (frame["known"] > 0)]
    if cohorts.empty:
        raise NotEnoughData
    section = Section(
        "early_churn", say(lang, "early_title", days=days), say(lang, "early_intro", days=days)
    )
    overall = result.overall
    if len(cohorts) > MAX_COHORTS:
        cohorts = cohorts.tail(MAX_COHORTS)
        section.notes.append(say(lang, "early_recent", count=MAX_COHORTS))
    section.figures.append(
        responsive(
            lambda narrow: charts.early_churn_bars(cohorts, overall, days, lang, narrow),
            "cxray-early-churn",
            min_width=category_width(charts.cohort_labels(cohorts, lang)),
        )
    )
    if overall is not None and overall["not_yet_known"]:
        section.notes.append(
            say(lang, "early_not_known", days=days, count=number(overall["not_yet_known"], lang))
        )
    return section


def _flows(data: ReportData, lang: str) -> Section:
    from cxray.analysis.flows import END, START

    result = _need(data.outcomes["flows"])
    sankey = result.sankey
    if result.customers == 0 or sankey.empty:
        raise NotEnoughData
    section = Section("flows", say(lang, "flows_title"), say(lang, "flows_intro"))
    figure = phase_sankey(sankey, data.journey.phases, START, END, lang)
    section.figures.append(chart_html(figure, "cxray-flows"))
    back = sankey[sankey["backward"].astype(bool)]
    if len(back):
        section.notes.append(
            say(
                lang,
                "flows_back",
                moves=number(back["transitions"].sum(), lang),
                share=percent(back["transitions"].sum() / sankey["transitions"].sum(), lang),
            )
        )
    section.notes.append(
        say(
            lang,
            "flows_counts",
            customers=number(result.customers, lang),
            events=number(result.events, lang),
            variants=number(result.distinct_variants, lang),
        )
    )
    return section


def _dropoff(data: ReportData, lang: str) -> Section:
    _needs_churn_rule(data)
    result = _need(data.outcomes["dropoff"])
    frame = result.to_pandas()
    if result.churners == 0 or frame.empty:
        raise NotEnoughData
    frame = frame[frame["churners_last"] > 0].copy()
    if frame.empty:
        raise NotEnoughData
    section = Section("dropoff", say(lang, "dropoff_title"), say(lang, "dropoff_intro"))
    frame["label"] = [_label(data.journey, tp) for tp in frame["touchpoint"]]
    frame["axis_label"] = frame["label"]
    section.figures.append(
        responsive(
            lambda narrow: charts.dropoff_bars(frame, lang, narrow),
            "cxray-dropoff",
            min_width=charts.dropoff_width(frame["label"]),
        )
    )
    section.notes.append(
        say(
            lang,
            "dropoff_counts",
            churners=number(result.churners, lang),
            stayers=number(result.stayers, lang),
        )
    )
    rows = []
    for _, row in frame.iterrows():
        estimate, bounds = fmt_interval(
            row["lift"], row["lift_low"], row["lift_high"], lang, digits=1, reference=1.0
        )
        lift = f"{estimate} ({bounds})"
        rows.append(
            [
                row["label"],
                str(row["phase"]),
                f"{number(row['churners_last'], lang)} ({percent(row['share_of_churners'], lang)})",
                f"{number(row['stayers_last'], lang)} ({percent(row['share_of_stayers'], lang)})",
                lift,
            ]
        )
    section.table = Table(
        [
            say(lang, key)
            for key in ("touchpoint", "phase", "churners_last", "stayers_last", "lift")
        ],
        rows,
        [False, False, True, True, True],
    )
    return section


SECTIONS: dict[str, Callable[[ReportData, str], Section]] = {
    "metrics": _metric_cards,
    "touchpoints": _touchpoint_scores,
    "funnel": _funnel,
    "survival": _survival,
    "early_churn": _early_churn,
    "flows": _flows,
    "dropoff": _dropoff,
}
TITLES = {
    "metrics": ("metrics_title", {}),
    "touchpoints": ("touchpoints_title", {}),
    "funnel": ("funnel_title", {}),
    "survival": ("survival_title", {}),
    "early_churn": ("early_title", {"days": EARLY_DAYS}),
    "flows": ("flows_title", {}),
    "dropoff": ("dropoff_title", {}),
}
