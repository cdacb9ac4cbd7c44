"""Flows: how customers move from phase to phase and from touchpoint to touchpoint, their most
common paths and where the ones who left were last seen.

``who=all|churned|retained`` shows one group: the flows analysis restricts its paths to the
customers who churned, or to those who stayed (customers too new to judge are in neither), by
the one churn definition (``analysis/lifetimes``). Drop-off compares those two groups, so it is
computed once and the page shows the chosen group's side of it. ``top`` says how many
touchpoint-to-touchpoint steps the Sankey draws.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from cxray.accounts import User
from cxray.analysis.filters import FilterError, ReportFilter, apply_filters
from cxray.cells import duration, ratio
from cxray.i18n import Message
from cxray.labels import phase_label
from cxray.results import frame_records
from cxray.web import security
from cxray.web.views._page import both, filter_values, filters_of, lang_of, page, wants_json
from cxray.web.views.why import attempt, churn_rule_of, failed_dict

router = APIRouter(tags=["flows"])
Analyst = Annotated[User, Depends(security.require("analyst"))]
TITLE = Message("Flows", "Stromen")
WHO = ("all", "churned", "retained")
GROUPS = {
    "all": Message("All customers", "Alle klanten"),
    "churned": Message("Customers who left (churned)", "Klanten die vertrokken"),
    "retained": Message("Customers who stayed (retained)", "Klanten die bleven"),
}
DEFAULT_TOP = 15  # touchpoint-to-touchpoint steps in the Sankey: readable on a laptop
TOP_CHOICES = (5, 10, 15, 25, 50)
MAX_TOP = 50
TOP_VARIANTS = 10
DROPOFF_TOP = 15


def who_of(request: Request) -> str:
    who = request.query_params.get("who") or "all"
    if who not in WHO:
        raise FilterError(
            "bad_who",
            f"who must be all, churned or retained, not {who!r}",
            f"who moet all, churned of retained zijn, niet {who!r}",
        )
    return who


def top_of(request: Request) -> int:
    raw = request.query_params.get("top") or str(DEFAULT_TOP)
    try:
        top = int(raw)
    except ValueError:
        top = 0
    if not 1 <= top <= MAX_TOP:
        raise FilterError(
            "bad_top",
            f"top must be a whole number from 1 to {MAX_TOP}, not {raw!r}",
            f"top moet een geheel getal van 1 tot en met {MAX_TOP} zijn, niet {raw!r}",
        )
    return top


def flows_of(host: Any, filters: ReportFilter, who: str) -> Any:
    """The flows of one group of customers (all, churned or retained), filtered."""
    from cxray.analysis.flows import flows

    only = None if who == "all" else who
    return host.cached(
        ("flows", filters, who),
        lambda ws: flows(apply_filters(ws, filters), only=only, top_variants=TOP_VARIANTS),
    )


def dropoff_of(host: Any, filters: ReportFilter) -> tuple[Any, Message | None]:
    from cxray.analysis.dropoff import dropoff

    return host.cached(
        ("flows", "dropoff", filters),
        lambda ws: attempt(lambda: dropoff(apply_filters(ws, filters), top=DROPOFF_TOP)),
    )


def journey_of(host: Any) -> dict[str, Any]:
    """The journey's phases, its touchpoints in journey order and their labels."""

    def read(ws: Any) -> dict[str, Any]:
        journey = ws.journey
        rank = {phase: i for i, phase in enumerate(journey.phases)}
        points = list(journey.touchpoints.items())
        ordered = sorted(points, key=lambda item: rank.get(item[1].phase, len(rank)))
        return {
            "phases": list(journey.phases),
            "touchpoints": [name for name, _ in ordered],
            "labels": {name: tp.label for name, tp in points if tp.label},
        }

    return host.cached(("flows", "journey"), read)


def _dropoff_data(result: Any, who: str) -> dict[str, Any] | None:
    if result is None:
        return None
    shown = {
        "all": ["churners_last", "share_of_churners", "stayers_last", "share_of_stayers", "lift"],
        "churned": ["churners_last", "share_of_churners"],
        "retained": ["stayers_last", "share_of_stayers"],
    }[who]
    return {
        "sentence": {lang: result.summary(lang) for lang in ("en", "nl")},
        "shown": shown,
        **result.to_dict(),
    }


@both(router, "/flows")
def flows_page(request: Request, user: Analyst) -> Response:
    """Phase and touchpoint Sankeys, top paths and drop-off, for all, churned or retained."""
    from cxray.web import charts_flows

    host = request.app.state.host
    filters = filters_of(request)
    who, top = who_of(request), top_of(request)
    result = flows_of(host, filters, who)
    everyone = result if who == "all" else flows_of(host, filters, "all")
    drop, drop_failed = dropoff_of(host, filters)
    steps = result.display("edges").data.head(top)
    caveats = churn_rule_of(host, filters)
    data: dict[str, Any] = {
        "who": who,
        "top": top,
        "filters": filter_values(request),
        "group": {
            "who": who,
            "name": GROUPS[who],
            "customers": result.customers,
            "events": result.events,
            "all_customers": everyone.customers,
        },
        **host.drawn(
            ("flows", "dict", filters, who, top),
            lambda: {
                "summary": {lang: result.summary(lang) for lang in ("en", "nl")},
                "touchpoint_sankey": frame_records(steps),
                "flows": result.to_dict(),
                "dropoff": _dropoff_data(drop, who),
            },
        ),
        "churn_rule": caveats,
        "failed": failed_dict({"dropoff": drop_failed}),
    }
    if wants_json(request):
        return page(request, "flows.html", data, title=TITLE, cache="flows")
    from cxray.web.views.overview import choices

    lang = lang_of(request)
    journey = journey_of(host)
    figures = host.drawn(
        ("flows", filters, who, top, lang),
        lambda: {
            "phases": charts_flows.phase_sankey(result.sankey, journey["phases"], lang),
            "touchpoints": charts_flows.touchpoint_sankey(
                steps, journey["touchpoints"], journey["labels"], lang
            ),
            # the leavers' side of drop-off: nothing to draw for those who stayed
            "dropoff": drop is not None
            and who != "retained"
            and charts_flows.dropoff(drop, journey["labels"], lang),
        },
    )
    extra = [
        {
            "name": "who",
            "label": "Customers" if lang == "en" else "Klanten",
            "value": who,
            "options": [(key, GROUPS[key].text(lang)) for key in WHO],
        },
        {
            "name": "top",
            "label": "Steps shown" if lang == "en" else "Getoonde stappen",
            "value": str(top),
            "options": [(str(n), str(n)) for n in sorted({*TOP_CHOICES, top})],
        },
    ]
    return page(
        request,
        "flows.html",
        data,
        title=TITLE,
        context={
            "result": result,
            "dropoff": drop,
            "figures": figures,
            "labels": journey["labels"],
            "groups": GROUPS,
            "who_keys": WHO,
            "choices": choices(request),
            "extra_filters": extra,
            "duration": duration,
            "ratio": ratio,
            "phase_label": phase_label,
        },
        cache="flows",
    )
