"""The overview: scores with trend and interval, customers, early churn, the funnel, the top
drivers in words, the biggest real drop-off and what changed since the period before."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from cxray.accounts import User
from cxray.analysis.filters import ReportFilter, apply_filters
from cxray.i18n import Message
from cxray.web import charts, security
from cxray.web.views._page import both, filters_of, lang_of, page

router = APIRouter(tags=["overview"])
Analyst = Annotated[User, Depends(security.require("analyst"))]
TITLE = Message("Overview", "Overzicht")


def filter_choices(ws: Any) -> dict[str, list[str]]:
    """What the filter bar offers: the segments, channels and phases this workspace has."""
    segments = ws.customers.select("segment").distinct().execute()["segment"]
    channels = {tp.channel for tp in ws.journey.touchpoints.values() if tp.channel}
    return {
        "segment": sorted(str(s) for s in segments if s is not None and s == s),
        "channel": sorted(channels),
        "phase": list(ws.journey.phases),
    }


def choices_of(host: Any) -> dict[str, list[str]]:
    return host.cached("filter_choices", filter_choices)


def choices(request: Request) -> dict[str, list[str]]:
    return choices_of(request.app.state.host)


def overview_of(host: Any, filters: ReportFilter) -> Any:
    """The overview under ``filters``, cached (the warm-up asks for it with no filters)."""
    from cxray.analysis.overview import overview

    def compute(ws: Any) -> Any:
        return overview(apply_filters(ws, filters), start=filters.start, end=filters.end)

    return host.cached(("overview", filters), compute)


@both(router, "/")
def overview_page(request: Request, user: Analyst) -> Response:
    """Scores, customers, early churn, funnel, drivers, drop-off and significant changes."""
    host = request.app.state.host
    filters = filters_of(request)
    result = overview_of(host, filters)
    data = host.drawn(("overview", filters), result.to_dict)
    if request.url.path.endswith(".json") or request.query_params.get("format") == "json":
        return page(request, "overview.html", data, title=TITLE, cache="overview")
    lang = lang_of(request)
    figures = host.drawn(("overview", filters, lang), lambda: _figures(result, data, lang))
    return page(
        request,
        "overview.html",
        data,
        title=TITLE,
        context={"result": result, "figures": figures, "choices": choices(request)},
        cache="overview",
    )


def _figures(result: Any, data: dict[str, Any], lang: str) -> dict[str, Any]:
    return {
        "funnel": result.funnel and charts.funnel(result.funnel, lang),
        "early_churn": result.early_churn and charts.early_churn(result.early_churn, lang),
        "trends": {
            row["metric"]: charts.trend(
                result.trend, row["metric"], lang, f"chart-trend-{i}", compact=True
            )
            for i, row in enumerate(data["scores"]["rows"] if data["scores"] else [])
        }
        if result.trend is not None
        else {},
    }
