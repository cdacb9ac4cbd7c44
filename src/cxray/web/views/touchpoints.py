"""The touchpoints pages: every touchpoint with its volume and scores, and one touchpoint with
its scores over time, its comments, what comes before and after it, its effect on churn and its
owner."""

from __future__ import annotations

import urllib.parse
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from cxray.accounts import User
from cxray.analysis.filters import ReportFilter, apply_filters
from cxray.analysis.touchpoint import (
    PER_PAGE,
    TouchpointError,
    comment_page,
    drivers_or_reason,
    known_touchpoints,
    touchpoint,
    touchpoints,
)
from cxray.i18n import Message, message_of, text_of
from cxray.labels import channel_label, phase_label
from cxray.web import security
from cxray.web.views._page import both, filter_values, filters_of, lang_of, page, wants_json

router = APIRouter(tags=["touchpoints"])
Analyst = Annotated[User, Depends(security.require("analyst"))]
TITLE = Message("Touchpoints", "Contactmomenten")
COMMENT_KEYS = ("q", "theme", "min_score", "max_score", "language", "page")


def touchpoint_url(name: str) -> str:
    return "/touchpoints/" + urllib.parse.quote(str(name), safe="")


def owner_url(name: str) -> str:
    return "/owners/" + urllib.parse.quote(str(name), safe="")


def with_filters(request: Request, path: str, **extra: Any) -> str:
    """``path`` with this page's filters (period, segment, channel, phase) and ``extra``."""
    query = {**filter_values(request), **{k: str(v) for k, v in extra.items() if v is not None}}
    return path + ("?" + urllib.parse.urlencode(query) if query else "")


def helpers(request: Request) -> dict[str, Any]:
    """What the touchpoint and owner templates use to name and link things."""
    from cxray.web.views.overview import choices

    return {
        "touchpoint_url": touchpoint_url,
        "owner_url": owner_url,
        "customer_url": lambda cid: "/customers/" + urllib.parse.quote(str(cid), safe=""),
        "link": lambda path, **extra: with_filters(request, path, **extra),
        "phase_label": phase_label,
        "channel_label": channel_label,
        "metric_names": {
            "nps": "NPS",
            "csat": "CSAT",
            "ces": "CES",
            "rating": text_of(Message("Rating", "Beoordeling"), lang_of(request)),
        },
        "choices": choices(request),
    }


def listing_of(host: Any, filters: ReportFilter) -> Any:
    """Every touchpoint under ``filters``, cached (shared with the owners pages)."""
    return host.cached(("touchpoints", filters), lambda ws: touchpoints(apply_filters(ws, filters)))


def listing(request: Request, filters: ReportFilter) -> Any:
    return listing_of(request.app.state.host, filters)


def known_of(host: Any) -> Any:
    return host.cached(("touchpoints", "known"), known_touchpoints)


def touchpoint_of(host: Any, name: str, filters: ReportFilter) -> Any:
    """One (known) touchpoint under ``filters``, with the drivers it shares with the others."""
    drivers = host.cached(
        ("touchpoints", "drivers", filters),
        lambda ws: drivers_or_reason(apply_filters(ws, filters)),
    )
    return host.cached(
        ("touchpoint", name, filters),
        lambda ws: touchpoint(apply_filters(ws, filters), name, drivers=drivers),
    )


def message(request: Request, status: int, title: Message, text: Message) -> Response:
    """A clear 400/404 page (and its JSON twin) that names nothing but what was asked."""
    return page(
        request,
        "message.html",
        {"detail": text_of(text, lang_of(request))},
        title=title,
        status=status,
    )


@both(router, "/touchpoints")
def touchpoints_page(request: Request, user: Analyst) -> Response:
    """Every touchpoint in journey order: phase, channel, owner, volume and scores."""
    filters = filters_of(request)
    result = listing(request, filters)
    as_dict = request.app.state.host.drawn(("touchpoints", "dict", filters), result.to_dict)
    data = {**as_dict, "filters": filter_values(request)}
    if wants_json(request):
        return page(request, "touchpoints.html", data, title=TITLE, cache="touchpoints")
    context = {"result": result, **helpers(request)}
    return page(
        request, "touchpoints.html", data, title=TITLE, context=context, cache="touchpoints"
    )


def _detail(request: Request, name: str) -> Response:
    from cxray.web.charts_touchpoint import score_trends

    host = request.app.state.host
    filters = filters_of(request)
    if name not in known_of(host):
        return message(
            request,
            404,
            Message("Not found", "Niet gevonden"),
            Message(
                "There is no touchpoint of that name. The list of touchpoints is at /touchpoints.",
                "Er is geen contactmoment met die naam. De lijst van contactmomenten staat op "
                "/touchpoints.",
            ),
        )
    result = touchpoint_of(host, name, filters)
    query = request.query_params
    try:
        chosen = comment_page(
            result,
            q=query.get("q"),
            theme=query.get("theme") or None,
            min_score=query.get("min_score"),
            max_score=query.get("max_score"),
            language=query.get("language") or None,
            page=query.get("page") or 1,
            per_page=PER_PAGE,
        )
    except TouchpointError as exc:
        return message(request, 400, Message("Refused", "Geweigerd"), message_of(exc))
    as_dict = host.drawn(("touchpoint", "dict", name, filters), result.to_dict)
    data = {**as_dict, "comments": chosen.to_dict(), "filters": filter_values(request)}
    label = result.info["label"]
    title = Message(f"Touchpoint {label}", f"Contactmoment {label}")
    if wants_json(request):
        return page(request, "touchpoint.html", data, title=title, cache="touchpoint")
    lang = lang_of(request)
    comment_query = {k: query[k] for k in COMMENT_KEYS if query.get(k) and k != "page"}
    context = {
        "result": result,
        "chosen": chosen,
        "trends": host.drawn(
            ("touchpoint", name, filters, lang),
            lambda: score_trends(result.trend, lang, "chart-trend"),
        ),
        "here": touchpoint_url(name),
        "comment_query": comment_query,
        **helpers(request),
    }
    return page(request, "touchpoint.html", data, title=title, context=context, cache="touchpoint")


# the JSON twin first: the path converter would read ".json" as part of the name
@router.get("/touchpoints/{name:path}.json", include_in_schema=False)
def touchpoint_json(request: Request, user: Analyst, name: str) -> Response:
    return _detail(request, name)


@router.get("/touchpoints/{name:path}")
def touchpoint_page(request: Request, user: Analyst, name: str) -> Response:
    """One touchpoint: scores per month, comments, flows before and after, churn effect, owner."""
    return _detail(request, name)
