"""The owners pages: every department or team the journey names as a touchpoint's owner, and one
owner with its touchpoints, their scores, pain points and trend."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from cxray.accounts import User
from cxray.analysis.filters import ReportFilter, apply_filters
from cxray.analysis.owners import known_owners, owner, owners
from cxray.i18n import Message
from cxray.web import security
from cxray.web.views._page import both, filter_values, filters_of, lang_of, page, wants_json
from cxray.web.views.touchpoints import helpers, listing_of, message

router = APIRouter(tags=["owners"])
Analyst = Annotated[User, Depends(security.require("analyst"))]
TITLE = Message("Owners", "Eigenaars")


def owners_of(host: Any, filters: ReportFilter) -> Any:
    """Every owner under ``filters``, cached (the warm-up asks for it with no filters)."""
    found = listing_of(host, filters)
    return host.cached(
        ("owners", filters), lambda ws: owners(apply_filters(ws, filters), listing=found)
    )


def known_owners_of(host: Any) -> Any:
    return host.cached(("owners", "known"), known_owners)


def owner_of(host: Any, name: str, filters: ReportFilter) -> Any:
    """One (known) owner under ``filters``."""
    found = listing_of(host, filters)
    return host.cached(
        ("owner", name, filters),
        lambda ws: owner(apply_filters(ws, filters), name, listing=found),
    )


@both(router, "/owners")
def owners_page(request: Request, user: Analyst) -> Response:
    """Every owner: its touchpoints, their volume and scores; the touchpoints nobody owns."""
    host, filters = request.app.state.host, filters_of(request)
    result = owners_of(host, filters)
    as_dict = host.drawn(("owners", "dict", filters), result.to_dict)
    data = {**as_dict, "filters": filter_values(request)}
    if wants_json(request):
        return page(request, "owners.html", data, title=TITLE, cache="owners")
    context = {"result": result, **helpers(request)}
    return page(request, "owners.html", data, title=TITLE, context=context, cache="owners")


def _detail(request: Request, name: str) -> Response:
    from cxray.web.charts_touchpoint import score_trends

    filters = filters_of(request)
    if name not in known_owners_of(request.app.state.host):
        return message(
            request,
            404,
            Message("Not found", "Niet gevonden"),
            Message(
                "The journey names no owner of that name. The owners are listed at /owners.",
                "De klantreis noemt geen eigenaar met die naam. De eigenaars staan op /owners.",
            ),
        )
    host = request.app.state.host
    result = owner_of(host, name, filters)
    as_dict = host.drawn(("owner", "dict", name, filters), result.to_dict)
    data = {**as_dict, "filters": filter_values(request)}
    title = Message(f"Owner {name}", f"Eigenaar {name}")
    if wants_json(request):
        return page(request, "owner.html", data, title=title, cache="owner")
    context = {
        "result": result,
        "trends": request.app.state.host.drawn(
            ("owner", name, filters, lang_of(request)),
            lambda: score_trends(result.trend, lang_of(request), "chart-owner-trend"),
        ),
        **helpers(request),
    }
    return page(request, "owner.html", data, title=title, context=context, cache="owner")


# the JSON twin first: the path converter would read ".json" as part of the name
@router.get("/owners/{name:path}.json", include_in_schema=False)
def owner_json(request: Request, user: Analyst, name: str) -> Response:
    return _detail(request, name)


@router.get("/owners/{name:path}")
def owner_page(request: Request, user: Analyst, name: str) -> Response:
    """One owner: its touchpoints with scores and n, their pain points and their trend."""
    return _detail(request, name)
