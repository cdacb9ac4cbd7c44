"""The report's "why customers leave": the drivers of churn (hazard ratios with intervals,
customers lost, their sentences, what could not be estimated), churn by the number of bad
experiences (dose-response), the key drivers of the overall score and the themes customers
write about. Each part the data cannot answer says why in one line; the others stand.

Tables are the results' own (``display()``), formatted as the CLI and the web app format them.
"""

from __future__ import annotations

from typing import Any

from cxray.i18n import text_of
from cxray.report import why_chart
from cxray.report.collect import Outcome, ReportData
from cxray.report.sections import Item, Part, Section, Table
from cxray.report.text import say

MAX_DRIVERS = 15  # rows of the drivers' table
DRIVER_SENTENCES = 5  # the first drivers said in words
MAX_ROWS = 12  # rows of the other tables


def t(lang: str, en: str, nl: str) -> str:
    return nl if lang == "nl" else en


def result_table(result: Any, lang: str, max_rows: int) -> tuple[Table | None, str | None]:
    """A result's own table as text cells (the columns it marks wide-only left out), and the
    "n of m shown" note when it is cut."""
    from cxray.cells import formatted, more_note

    table = result.display()
    if not len(table):
        return None, None
    columns = [c for c in table.columns if not c.wide]
    rows = table.top(max_rows)
    shown = len(rows) - table.pinned
    more = more_note(table, shown, lang) if len(rows) < len(table) else None
    return (
        Table(
            [c.label(lang) for c in columns],
            formatted(table, rows, columns, lang),
            [bool(c.numeric) for c in columns],
        ),
        more,
    )


def why_not(outcome: Outcome | None, lang: str) -> str | None:
    """The one line saying why a part has nothing to show, or None when it has."""
    if outcome is None:
        return say(lang, "not_enough")
    if outcome.reason is not None:
        reason = text_of(outcome.reason, lang)
        return say(lang, "cannot_compute", reason=reason.rstrip("."))
    if outcome.error is not None:
        return say(lang, "not_enough") + " " + say(lang, "failed", error=outcome.error)
    if outcome.result is None:
        return say(lang, "not_enough")
    return None


def _part(key: str, heading: str, outcome: Outcome | None, lang: str) -> tuple[Part, Any]:
    part = Part(key, heading)
    part.missing = why_not(outcome, lang)
    return part, (outcome.result if part.missing is None else None)


def _drivers(data: ReportData, lang: str) -> Part:
    part, result = _part(
        "drivers",
        t(lang, "Churn drivers", "Oorzaken van vertrek"),
        data.outcomes.get("drivers"),
        lang,
    )
    if result is None:
        return part
    part.paragraphs.append(
        t(
            lang,
            "Churn ×: how many times as fast customers who had it left (hazard ratio, 95% "
            "interval). Customers lost: the churners expected with it as observed minus those "
            "expected without it.",
            "Vertrek ×: hoeveel keer zo snel klanten die dit hadden vertrokken (hazard ratio, "
            "95%-interval). Klanten verloren: de verwachte vertrekkers zoals het was min die "
            "zonder dit.",
        )
    )
    part.table, more = result_table(result, lang, MAX_DRIVERS)
    if more:
        part.notes.append(more)
    estimable = result.drivers[result.drivers["estimable"].astype(bool)]
    part.items.extend(
        Item(result.sentence(row, lang)) for _, row in estimable.head(DRIVER_SENTENCES).iterrows()
    )
    part.notes.append(result.summary(lang))
    for name, why in result.reasons.items():
        label = result.labels.get(name, {}).get(lang, name)
        part.notes.append(
            t(lang, "Could not be estimated: ", "Niet te schatten: ") + f"{label}: {why[lang]}"
        )
    return part


def _dose(data: ReportData, lang: str) -> Part:
    part, result = _part(
        "dose",
        t(lang, "Churn by number of bad experiences", "Vertrek naar aantal slechte ervaringen"),
        data.outcomes.get("dose_response"),
        lang,
    )
    if result is None:
        return part
    figure = why_chart.dose_response(result, lang, div_id="cxray-dose")
    part.figure = str(figure) if figure is not None else None
    part.table, more = result_table(result, lang, MAX_ROWS)
    part.notes.extend([more] if more else [])
    part.paragraphs.append(result.summary(lang))
    return part


def _nps_drivers(data: ReportData, lang: str) -> Part:
    part, result = _part(
        "nps",
        t(lang, "What drives the overall score", "Wat de totaalscore drijft"),
        data.outcomes.get("nps_drivers"),
        lang,
    )
    if result is None:
        return part
    figure = why_chart.nps_quadrant(result, lang, div_id="cxray-nps-drivers")
    if figure is not None:
        part.figure = str(figure)
        part.notes.append(
            t(
                lang,
                "Up: more important (share of the explained variation, 95% interval); right: "
                "performing better. Dashed: an equal share of importance, and the overall "
                "score’s own level. Fix first: important and below that level.",
                "Omhoog: belangrijker (aandeel in de verklaarde variatie, 95%-interval); rechts: "
                "beter presterend. Gestippeld: een gelijk aandeel belang, en het niveau van de "
                "totaalscore zelf. Eerst verbeteren: belangrijk en onder dat niveau.",
            )
        )
    part.table, more = result_table(result, lang, MAX_ROWS)
    part.notes.extend([more] if more else [])
    part.paragraphs.append(result.summary(lang))
    return part


def _themes(data: ReportData, lang: str) -> Part:
    part, result = _part(
        "themes",
        t(lang, "Themes in what customers write", "Thema’s in wat klanten schrijven"),
        data.outcomes.get("themes"),
        lang,
    )
    if result is None:
        return part
    part.table, more = result_table(result, lang, MAX_ROWS)
    part.notes.extend([more] if more else [])
    part.paragraphs.append(result.summary(lang))
    return part


def why_customers_leave(data: ReportData, lang: str) -> Section:
    section = Section(
        "why",
        say(lang, "why_title"),
        t(
            lang,
            "Associations adjusted for tenure and segment, not proven causes.",
            "Verbanden, gecorrigeerd voor klantduur en segment; geen bewezen oorzaken.",
        ),
    )
    check = data.outcomes.get("churn_rule")
    if check is not None and check.ok:  # a churn rule that does not fit changes every number
        section.notes.extend(check.result.warnings(lang))
    section.parts = [
        _drivers(data, lang),
        _dose(data, lang),
        _nps_drivers(data, lang),
        _themes(data, lang),
    ]
    return section
