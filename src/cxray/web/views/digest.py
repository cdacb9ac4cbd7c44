"""The weekly digest page (analysts): what the mail of ``[digest]`` says, for the whole company
or one team (``?team=OWNER``), for the last complete week with data or ``?week=2026-W48``."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from cxray.accounts import User
from cxray.actions.digest import DigestError, Week, digest, latest_week, teams_of
from cxray.actions.digest_words import METRIC_NAMES
from cxray.analysis.filters import ReportFilter, apply_filters
from cxray.analysis.touchpoint import drivers_or_reason
from cxray.i18n import Message, text_of
from cxray.web import security
from cxray.web.views._page import both, lang_of, page, url_with
from cxray.web.views.touchpoints import message

router = APIRouter(tags=["digest"])
Analyst = Annotated[User, Depends(security.require("analyst"))]
TITLE = Message("Weekly digest", "Weekoverzicht")


def _drivers_of(host: Any, week: Week) -> Any:
    """The churn drivers as known at the end of ``week``, once per state of the data."""
    import pandas as pd

    filters = ReportFilter(end=pd.Timestamp(week.end))
    return host.cached(
        ("digest", "drivers", week.label), lambda ws: drivers_or_reason(apply_filters(ws, filters))
    )


@both(router, "/digest")
def digest_page(request: Request, user: Analyst) -> Response:
    """The weekly digest: scores against the week before, new detractors, follow-ups, the
    biggest significant change and the top driver of churn."""
    host = request.app.state.host
    query = request.query_params
    team = query.get("team") or None
    now = dt.datetime.now(dt.UTC)
    try:
        with host.workspace() as ws:
            teams = list(teams_of(ws.journey))
            week = Week.parse(query["week"]) if query.get("week") else latest_week(ws, now=now)
            if team is not None and team not in teams:
                raise DigestError(
                    Message(
                        f"The journey names no team {team!r}. Teams: {', '.join(teams) or '-'}.",
                        f"De klantreis noemt geen team {team!r}. Teams: {', '.join(teams) or '-'}.",
                    )
                )
    except DigestError as exc:
        return message(request, 400, Message("Not understood", "Niet begrepen"), exc.args[0])
    found, reason = _drivers_of(host, week)

    def estimate(_: Any) -> Any:
        if found is None:
            raise ValueError(reason)
        return found

    with host.workspace() as ws:
        result = digest(ws, team=team, week=week, now=now, drivers=estimate)
    data = {**result.to_dict(), "teams": teams}
    lang = lang_of(request)
    context = {
        "result": result,
        "teams": teams,
        "previous_url": url_with(request, week=week.previous().label),
        "next_url": url_with(request, week=Week.of(week.end).label) if week.end < now else None,
        "sentences": result.sentences(lang),
        "metric_names": {**METRIC_NAMES, "rating": text_of(Message("Rating", "Beoordeling"), lang)},
        "title_text": text_of(Message(result.title("en"), result.title("nl")), lang),
    }
    return page(request, "digest.html", data, title=TITLE, context=context)
