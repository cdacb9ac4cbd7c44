"""The report's scores over time: each metric per month with its 95% interval (the overview's
trend), the sentence the metrics analysis writes for it, and the latest months as a table."""

from __future__ import annotations

import dataclasses

from cxray.analysis._common import MISSING
from cxray.report.collect import MIN_N, ReportData
from cxray.report.plotting import responsive
from cxray.report.sections import (
    NotEnoughData,
    Section,
    Table,
    _metric_name,
    _metric_order,
    _need,
    _score_formatter,
    score_axis,
)
from cxray.report.text import number, say
from cxray.report.trend_chart import trend_line

TABLE_MONTHS = 6  # the latest months in the table (the chart has them all)


def t(lang: str, en: str, nl: str) -> str:
    return nl if lang == "nl" else en


def scores_over_time(data: ReportData, lang: str) -> Section:
    result = _need(data.outcomes["trend"])
    frame = result.to_pandas()
    frame = frame[frame["group"] != MISSING]  # answers without a date cannot be placed
    if frame.empty:
        raise NotEnoughData("no_scores")
    section = Section(
        "trend",
        say(lang, "trend_title"),
        t(
            lang,
            f"Each score per month: the line is the score, the band its 95% interval; small grey "
            f"dots are months with fewer than {MIN_N} answers.",
            f"Elke score per maand: de lijn is de score, de band het 95%-interval; kleine grijze "
            f"punten zijn maanden met minder dan {MIN_N} antwoorden.",
        ),
    )
    metrics = _metric_order(list(dict.fromkeys(frame["metric"])))
    for metric in metrics:
        rows = frame[frame["metric"] == metric]
        unit = rows["unit"].iloc[0]
        score_range, axis = score_axis(data.journey, metric, unit, lang)
        fmt = _score_formatter(unit, lang)
        title = t(lang, f"{_metric_name(metric)} per month", f"{_metric_name(metric)} per maand")
        section.figures.append(
            responsive(
                lambda narrow, rows=rows, title=title, axis=axis, score_range=score_range, fmt=fmt: (
                    trend_line(rows, lang, title, axis, score_range, fmt, narrow)
                ),
                f"cxray-trend-{metric}",
            )
        )
        only = dataclasses.replace(result, frame=result.frame[result.frame["metric"] == metric])
        section.notes.append(only.summary(lang))
    latest = sorted(frame["group"].unique())[-TABLE_MONTHS:]
    table_rows = []
    for month in reversed(latest):
        for metric in metrics:
            found = frame[(frame["group"] == month) & (frame["metric"] == metric)]
            if found.empty:
                continue
            row = found.iloc[0]
            fmt = _score_formatter(row["unit"], lang, 0 if row["unit"] == "points" else 1)
            interval = (
                f"{fmt(row['low'])} – {fmt(row['high'])}" if row["low"] == row["low"] else "–"
            )
            few = " · " + say(lang, "too_few") if row["too_few"] else ""
            table_rows.append(
                [str(month), _metric_name(metric), fmt(row["score"]), interval,
                 number(row["n"], lang) + few]
            )  # fmt: skip
    section.table = Table(
        [t(lang, "month", "maand"), t(lang, "metric", "metriek"), "score",
         t(lang, "95% interval", "95%-interval"), "n"],
        table_rows,
        [False, False, True, True, True],
    )  # fmt: skip
    return section
