"""The owners pages: every department or team the journey names as a touchpoint's owner, and one
owner with its touchpoints, their scores, pain points and trend."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from cxray.accounts import User
from cxray.analysis.filters import apply_filters
from cxray.analysis.owners import known_owners, owner, owners
from cxray.i18n import Message
from cxray.web import security
from cxray.web.views._page import both, filter_values, filters_of, lang_of, page, wants_json
from cxray.web.views.touchpoints import helpers, listing, message

router = APIRouter(tags=["owners"])
Analyst = Annotated[User, Depends(security.require("analyst"))]
TITLE = Message("Owners", "Eigenaars")


@both(router, "/owners")
def owners_page(request: Request, user: Analyst) -> Response:
    """Every owner: its touchpoints, their volume and scores; the touchpoints nobody owns."""
    filters = filters_of(request)
    found = listing(request, filters)
    result = request.app.state.host.cached(
        ("owners", filters), lambda ws: owners(apply_filters(ws, filters), listing=found)
    )
    data = {**result.to_dict(), "filters": filter_values(request)}
    if wants_json(request):
        return page(request, "owners.html", data, title=TITLE)
    context = {"result": result, **helpers(request)}
    return page(request, "owners.html", data, title=TITLE, context=context)


def _detail(request: Request, name: str) -> Response:
    from cxray.web.charts_touchpoint import score_trends

    filters = filters_of(request)
    if name not in request.app.state.host.cached(("owners", "known"), known_owners):
        return message(
            request,
            404,
            Message("Not found", "Niet gevonden"),
            Message(
                "The journey names no owner of that name. The owners are listed at /owners.",
                "De klantreis noemt geen eigenaar met die naam. De eigenaars staan op /owners.",
            ),
        )
    found = listing(request, filters)
    result = request.app.state.host.cached(
        ("owner", name, filters),
        lambda ws: owner(apply_filters(ws, filters), name, listing=found),
    )
    data = {**result.to_dict(), "filters": filter_values(request)}
    title = Message(f"Owner {name}", f"Eigenaar {name}")
    if wants_json(request):
        return page(request, "owner.html", data, title=title)
    context = {
        "result": result,
        "trends": score_trends(result.trend, lang_of(request), "chart-owner-trend"),
        **helpers(request),
    }
    return page(request, "owner.html", data, title=title, context=context)


# the JSON twin first: the path converter would read ".json" as part of the name
@router.get("/owners/{name:path}.json", include_in_schema=False)
def owner_json(request: Request, user: Analyst, name: str) -> Response:
    return _detail(request, name)


@router.get("/owners/{name:path}")
def owner_page(request: Request, user: Analyst, name: str) -> Response:
    """One owner: its touchpoints with scores and n, their pain points and their trend."""
    return _detail(request, name)
