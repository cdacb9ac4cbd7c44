"""Why customers leave: churn drivers (hazard ratios, customers lost), the dose-response of bad
experiences, the key drivers of the overall score, themes and distinguishing phrases.

Each part is its own analysis, cached on its own (one slow part does not recompute the rest),
and a part the data cannot answer says why in one line instead of failing the page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from cxray.accounts import User
from cxray.analysis.filters import FilterError, ReportFilter, apply_filters
from cxray.i18n import Message, text_of
from cxray.web import security
from cxray.web.views._page import both, filter_values, filters_of, lang_of, page, wants_json

log = logging.getLogger(__name__)
router = APIRouter(tags=["why"])
Analyst = Annotated[User, Depends(security.require("analyst"))]
TITLE = Message("Why customers leave", "Waarom klanten vertrekken")
PHRASES_TOP = 10


def reason_of(exc: Exception) -> Message:
    """One line, in both languages, saying why a part could not be computed."""
    return Message(
        f"Cannot be computed on this data: {text_of(exc, 'en')}.",
        f"Niet te berekenen op deze gegevens: {text_of(exc, 'nl')}.",
    )


def attempt(run: Callable[[], Any]) -> tuple[Any, Message | None]:
    """``(result, None)``, or ``(None, why)`` when the analysis cannot run on this data.

    A filter the workspace does not know is no such reason: it is the reader's 400.
    """
    try:
        return run(), None
    except FilterError:
        raise
    except Exception as exc:  # one part missing with its reason; the others stand
        log.info("a part could not be computed: %s", exc)
        return None, reason_of(exc)


def table_of(result: Any, lang: str, max_rows: int = 25) -> dict[str, Any] | None:
    """A result's own table (``display()``) as text cells, for a table that stacks on a phone.

    The cells are formatted as the CLI and the notebook format them (:mod:`cxray.cells`); the
    columns the result marks wide-only are left out, as there.
    """
    from cxray.cells import formatted, more_note

    table = result.display()
    if not len(table):
        return None
    columns = [c for c in table.columns if not c.wide]
    rows = table.top(max_rows)
    shown = len(rows) - table.pinned
    return {
        "headers": [c.label(lang) for c in columns],
        "numeric": [c.numeric for c in columns],
        "rows": formatted(table, rows, columns, lang),
        "more": more_note(table, shown, lang) if len(rows) < len(table) else None,
    }


def failed_dict(parts: dict[str, Message | None]) -> dict[str, dict[str, str]]:
    return {key: {"en": m.en, "nl": m.nl} for key, m in parts.items() if m is not None}


def churn_rule(request: Request, filters: ReportFilter) -> dict[str, list[str]]:
    """Warnings about a churn rule that does not fit the (filtered) data, in both languages."""
    return churn_rule_of(request.app.state.host, filters)


def churn_rule_of(host: Any, filters: ReportFilter) -> dict[str, list[str]]:
    from cxray.analysis.churn_rules import churn_check

    def compute(ws: Any) -> dict[str, list[str]]:
        found, _ = attempt(lambda: churn_check(apply_filters(ws, filters)))
        if found is None:
            return {"en": [], "nl": []}
        return {lang: [*found.warnings(lang), *found.notes(lang)] for lang in ("en", "nl")}

    return host.cached(("churn_check", filters), compute)


def part_of(host: Any, name: str, filters: ReportFilter) -> tuple[Any, Message | None]:
    """One part of the page (a name of PARTS), cached on its own: ``(result, why not)``."""
    run = PARTS[name]
    return host.cached(
        ("why", name, filters), lambda ws: attempt(lambda: run(apply_filters(ws, filters)))
    )


def _run_drivers(ws: Any) -> Any:
    from cxray.analysis.drivers import drivers

    return drivers(ws)


def _run_dose(ws: Any) -> Any:
    from cxray.analysis.dose_response import dose_response

    return dose_response(ws)


def _run_nps(ws: Any) -> Any:
    from cxray.analysis.nps_drivers import nps_drivers

    return nps_drivers(ws)


def _run_themes(ws: Any) -> Any:
    from cxray.analysis.themes import themes

    return themes(ws)


def _run_phrases(ws: Any) -> Any:
    from cxray.analysis.phrases import phrases

    return phrases(ws, top=PHRASES_TOP)


PARTS: dict[str, Callable[[Any], Any]] = {
    "drivers": _run_drivers,
    "dose_response": _run_dose,
    "nps_drivers": _run_nps,
    "themes": _run_themes,
    "phrases": _run_phrases,
}


def _words(result: Any) -> dict[str, str]:
    return {lang: result.summary(lang) for lang in ("en", "nl")}


def _data_of(name: str, result: Any) -> dict[str, Any] | None:
    """A part as JSON: its own ``to_dict()`` and the sentences it writes."""
    if result is None:
        return None
    data = {"summary": _words(result), **result.to_dict()}
    if name == "drivers":
        rows = list(result.drivers.itertuples(index=False))
        data["sentences"] = {
            lang: [result.sentence(row, lang) for row in rows] for lang in ("en", "nl")
        }
    if name == "phrases":
        data["top"] = {
            group: result.top(group, PHRASES_TOP) for group in (result.group_a, result.group_b)
        }
    return data


@both(router, "/why")
def why_page(request: Request, user: Analyst) -> Response:
    """Churn drivers, dose-response, key drivers of the score, themes and phrases."""
    from cxray.web import charts_why

    host = request.app.state.host
    filters = filters_of(request)
    parts = {name: part_of(host, name, filters) for name in PARTS}
    results = {name: result for name, (result, _) in parts.items()}
    data: dict[str, Any] = {
        "filters": filter_values(request),
        **host.drawn(
            ("why", filters),
            lambda: {name: _data_of(name, result) for name, result in results.items()},
        ),
        "churn_rule": churn_rule(request, filters),
        "failed": failed_dict({name: why for name, (_, why) in parts.items()}),
    }
    if wants_json(request):
        return page(request, "why.html", data, title=TITLE, cache="why")
    from cxray.web.views.overview import choices

    lang = lang_of(request)

    def draw() -> dict[str, Any]:
        return {
            "figures": {
                "dose": results["dose_response"]
                and charts_why.dose_response(results["dose_response"], lang),
                "nps": results["nps_drivers"]
                and charts_why.nps_quadrant(results["nps_drivers"], lang),
            },
            "tables": {
                name: table_of(result, lang, 30 if name == "drivers" else 20)
                for name, result in results.items()
                if result is not None and name != "phrases"
            },
        }

    failed = {name: why for name, (_, why) in parts.items() if why is not None}
    return page(
        request,
        "why.html",
        data,
        title=TITLE,
        context={
            "results": results,
            "failed": failed,
            **request.app.state.host.drawn(("why", filters, lang), draw),
            "choices": choices(request),
        },
        cache="why",
    )
