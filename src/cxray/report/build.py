"""Collect the analyses a first look needs and lay them out as sections of one HTML page.

:func:`collect` runs each analysis once (language does not matter there); :func:`render` turns the
collected results into the page in English or Dutch. Each section stands alone: when its analysis
fails or has no data, the section says so in a short note and the rest of the report is built as
usual. ``strict=True`` raises instead, so that tests see programming errors.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2
from plotly.offline import get_plotlyjs

import cxray
from cxray.analysis.filters import ReportFilter
from cxray.report.collect import (
    MIN_N,
    TEMPLATES,
    ReportData,
    collect,
)
from cxray.report.plotting import CHART_SCRIPT
from cxray.report.sections import SECTIONS as FIRST_SECTIONS
from cxray.report.sections import TITLES as FIRST_TITLES
from cxray.report.sections import (
    NotEnoughData,
    Section,
    SectionFailed,
    has_churn,
    headline_metric,
)
from cxray.report.sections_canvas import journey_canvas
from cxray.report.sections_risk import risk_summary
from cxray.report.sections_trend import scores_over_time
from cxray.report.sections_why import why_customers_leave
from cxray.report.text import check_lang, date, number, say

log = logging.getLogger(__name__)

# The sections in the order the page shows them: how customers rate us (and over time), the
# journey, where they leave, why, and who is about to.
SECTIONS: dict[str, Callable[[ReportData, str], Section]] = {
    "metrics": FIRST_SECTIONS["metrics"],
    "trend": scores_over_time,
    "touchpoints": FIRST_SECTIONS["touchpoints"],
    "canvas": journey_canvas,
    "funnel": FIRST_SECTIONS["funnel"],
    "survival": FIRST_SECTIONS["survival"],
    "early_churn": FIRST_SECTIONS["early_churn"],
    "flows": FIRST_SECTIONS["flows"],
    "dropoff": FIRST_SECTIONS["dropoff"],
    "why": why_customers_leave,
    "risk": risk_summary,
}
TITLES: dict[str, tuple[str, dict[str, Any]]] = {
    **FIRST_TITLES,
    **{key: (f"{key}_title", {}) for key in ("trend", "canvas", "why", "risk")},
}


def _section(key: str, data: ReportData, lang: str, strict: bool) -> Section:
    title_key, values = TITLES[key]
    if key == "early_churn":
        values = {"days": data.early_days}
    try:
        return SECTIONS[key](data, lang)
    except NotEnoughData as missing:
        why = " " + say(lang, missing.reason) if missing.reason else ""
        return Section(key, say(lang, title_key, **values), empty=say(lang, "not_enough") + why)
    except SectionFailed as failure:
        if strict:
            raise
        return Section(
            key,
            say(lang, title_key, **values),
            empty=say(lang, "not_enough") + " " + say(lang, "failed", error=failure),
        )
    except Exception as exc:
        if strict:
            raise
        log.warning("report: drawing %s failed: %s", key, exc, exc_info=True)
        return Section(
            key,
            say(lang, title_key, **values),
            empty=say(lang, "not_enough")
            + " "
            + say(lang, "failed", error=f"{type(exc).__name__}: {exc}"),
        )


def summary_sentences(data: ReportData, lang: str) -> list[str]:
    """A few sentences from the results' own summaries: headline score, funnel, exits, churn."""
    sentences: list[str] = []
    metrics_outcome = data.outcomes.get("metrics")
    if metrics_outcome is not None and metrics_outcome.ok and len(metrics_outcome.result.frame):
        result = metrics_outcome.result
        headline = headline_metric(result.frame)
        only = dataclasses.replace(result, frame=result.frame[result.frame["metric"] == headline])
        sentences.append(only.summary(lang))
    funnel_outcome = data.outcomes.get("funnel")
    if funnel_outcome is not None and funnel_outcome.ok and len(funnel_outcome.result.frame):
        sentences.append(funnel_outcome.result.summary(lang))
    check = data.outcomes.get("churn_rule")
    if check is not None and check.ok:
        # a churn rule that does not fit the data changes every churn number below: say so first
        sentences.extend(check.result.warnings(lang))
    if not has_churn(data):
        return _capitalised(sentences)
    exits = data.outcomes.get("dropoff")
    if exits is not None and exits.ok and exits.result.churners > 0:
        sentences.append(exits.result.summary(lang))
    early = data.outcomes.get("early_churn")
    if early is not None and early.ok:
        overall = early.result.overall
        if overall is not None and overall["known"] > 0:
            sentences.append(early.result.summary(lang))
    lifetimes = data.outcomes.get("survival")
    if lifetimes is not None and lifetimes.ok and len(lifetimes.result.groups):
        sentences.append(lifetimes.result.summary(lang))
    return _capitalised(sentences)


def _capitalised(sentences: list[str]) -> list[str]:
    # some summaries start with a lower-case word ("median lifetime ...")
    return [s[:1].upper() + s[1:] for s in sentences if s]


def _churn_rule(data: ReportData, lang: str) -> str:
    rule = data.journey.churn
    parts = []
    check = data.outcomes.get("churn_rule")
    if check is not None and check.ok and check.result.has_lifetime_data:
        parts.append(say(lang, "footer_churn_lifetimes"))
    if rule.touchpoints:
        parts.append(say(lang, "footer_churn_touchpoints", touchpoints=", ".join(rule.touchpoints)))
    if rule.inactive_days:
        parts.append(say(lang, "footer_churn_inactive", days=number(rule.inactive_days, lang)))
    return say(lang, "footer_or").join(parts) if parts else say(lang, "footer_churn_none")


def filter_lines(filters: ReportFilter, lang: str) -> list[str]:
    """What the report is limited to, for its header: the segment and the period."""
    lines = []
    if filters.segment is not None:
        lines.append(say(lang, "filter_segment", segment=filters.segment))
    start = date(filters.start, lang) if filters.start is not None else None
    last = date(filters.last_day, lang) if filters.last_day is not None else None
    if start and last:
        lines.append(say(lang, "filter_period", start=start, end=last))
    elif start:
        lines.append(say(lang, "filter_from", start=start))
    elif last:
        lines.append(say(lang, "filter_until", end=last))
    return lines


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html", "j2"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )


def render(
    data: ReportData, lang: str = "en", strict: bool = False, today: dt.date | None = None
) -> str:
    """The report page for collected ``data`` in ``lang`` ("en" or "nl")."""
    check_lang(lang)
    today = today or dt.date.today()
    if data.first_ts is not None and data.last_ts is not None:
        period = say(lang, "period", start=date(data.first_ts, lang), end=date(data.last_ts, lang))
    else:
        period = say(lang, "no_period")
    counts = [
        (number(data.counts.get(table, 0), lang), say(lang, f"count_{table}"))
        for table in ("customers", "events", "feedback")
    ]
    sections = [_section(key, data, lang, strict) for key in SECTIONS]
    filters = filter_lines(data.filters, lang)
    footer = [
        *([say(lang, "footer_filters")] if filters else []),
        say(lang, "footer_scores", min_n=MIN_N),
        say(lang, "footer_churn", rule=_churn_rule(data, lang)),
        say(lang, "footer_censoring"),
    ]
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            lang=lang,
            text=lambda key, **values: say(lang, key, **values),
            name=data.name,
            period=period,
            filters=filters,
            counts=counts,
            summary=summary_sentences(data, lang),
            sections=sections,
            footer=footer,
            generated=say(lang, "generated", version=cxray.__version__, date=date(today, lang)),
            plotly_js=get_plotlyjs(),
            chart_script=CHART_SCRIPT,
        )
    )


def build_report(
    ws: Any,
    lang: str = "en",
    strict: bool = False,
    segment: str | None = None,
    start: Any = None,
    end: Any = None,
) -> str:
    """The whole report for workspace ``ws`` as one self-contained HTML page (a string).

    plotly.js is embedded once, inline; the page loads nothing from the network. ``lang`` is
    "en" or "nl". A section whose analysis fails or has no data shows a short note instead;
    ``strict=True`` raises the error instead. ``segment`` keeps one customer segment;
    ``start``/``end`` keep the interactions and answers of a period (``start <= ts < end``, a
    plain date as ``end`` includes that day), as ``metrics`` and ``flows`` do; the header says
    which filters were used.
    """
    check_lang(lang)
    filters = ReportFilter.parse(segment, start, end)
    return render(collect(ws, strict=strict, filters=filters), lang, strict=strict)


PDF_SCALE = 0.75  # the page printed at 3/4: the report's wide layout on an A4 sheet
A4_PRINTABLE = 703  # px: 210 mm less two 12 mm margins, at 96 px an inch


def pdf_of(html: str, executable: str | None = None) -> bytes:
    """The report page as a PDF (A4), drawn by Chromium as it draws it on screen.

    Raises :class:`cxray.report.pdf.PdfUnavailable` (a one-line message saying how to install
    Chromium) when there is none; ``executable`` names one (default: ``$CXRAY_CHROMIUM`` or the
    system's).
    """
    from cxray.report.pdf import render_page

    return render_page(
        html,
        "pdf",
        executable=executable,
        # the window as wide as the printed page, so that each chart is drawn at its width
        width=round(A4_PRINTABLE / PDF_SCALE),
        pdf_options={
            "format": "A4",
            "scale": PDF_SCALE,
            "margin": {"top": "12mm", "bottom": "12mm", "left": "12mm", "right": "12mm"},
        },
    )


def write_report(
    ws: Any,
    path: str | Path,
    lang: str = "en",
    strict: bool = False,
    segment: str | None = None,
    start: Any = None,
    end: Any = None,
    pdf: bool = False,
) -> Path:
    """Write :func:`build_report` to ``path`` (UTF-8) and return the path.

    A ``path`` ending in ``.pdf`` gets the report as a PDF instead; ``pdf=True`` writes the PDF
    beside the HTML (same name, ``.pdf``). The PDF needs Chromium (Debian: ``apt-get install
    chromium``); without it :class:`cxray.report.pdf.PdfUnavailable` is raised before anything
    is written.
    """
    path = Path(path)
    html = build_report(ws, lang, strict=strict, segment=segment, start=start, end=end)
    as_pdf = path.suffix.lower() == ".pdf"
    document = pdf_of(html) if as_pdf or pdf else None
    if path.parent != Path():
        path.parent.mkdir(parents=True, exist_ok=True)
    if as_pdf:
        path.write_bytes(document)
        return path
    path.write_text(html, encoding="utf-8")
    if document is not None:
        path.with_suffix(".pdf").write_bytes(document)
    return path
