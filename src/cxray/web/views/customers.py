"""The customers pages: search, one timeline per customer (with notes), the at-risk list and the
onboarding tracker.

Agents use every page here: a customer's timeline and its JSON twin, the at-risk list and the
onboarding tracker as pages. Whole lists as data (the JSON twins of the at-risk and onboarding
lists, the CSV downloads) are exports and need the analyst role.
"""

from __future__ import annotations

import urllib.parse
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from cxray import customer_notes
from cxray.accounts import User
from cxray.actions.followups import describe_item as describe_followup
from cxray.actions.followups import timeline_items as followup_items
from cxray.analysis.customer_lists import at_risk_list, onboarding_list, risk_of
from cxray.analysis.customers import (
    KINDS,
    CustomerError,
    CustomerNotFound,
    find_customers,
    known_customer,
)
from cxray.analysis.lifetimes import data_end, observed_until
from cxray.analysis.timeline import customer_timeline, describe
from cxray.i18n import Message, message_of, text_of
from cxray.labels import channel_label, phase_label
from cxray.web import security
from cxray.web.views._page import both, clean, lang_of, page, wants_json

router = APIRouter(tags=["customers"])
Agent = Annotated[User, Depends(security.require("agent"))]
SEARCH_TITLE = Message("Customers", "Klanten")
AT_RISK_TITLE = Message("Customers at risk", "Klanten met risico")
ONBOARDING_TITLE = Message("Onboarding: the first 100 days", "Onboarding: de eerste 100 dagen")
ONBOARDING_DAYS = 100
PAGE_SIZE = 100


def _int(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise CustomerError(
            Message(f"{name} must be a whole number", f"{name} moet een geheel getal zijn")
        ) from None


def _refused(request: Request, exc: Exception) -> HTTPException:
    return HTTPException(400, detail=text_of(message_of(exc), lang_of(request)))


def _exports(request: Request, user: User) -> None:
    """Whole lists as data are exports: analysts and admins only."""
    if not user.may("analyst"):
        raise security.Forbidden("analyst")


def _risk(request: Request) -> Any:
    return risk_result(request.app.state.host)


def risk_result(host: Any) -> Any:
    """The churn risk of every active customer (None when no model can be trained), cached."""

    def compute(ws: Any) -> Any:
        try:
            return ws.risk()
        except ValueError:  # too little history to train on: the pages say so
            return None

    return host.cached(("customers", "risk"), compute)


def _onboarding(request: Request) -> Any:
    return onboarding_result(request.app.state.host)


def onboarding_result(host: Any) -> Any:
    """Every customer in their first ``ONBOARDING_DAYS`` days, cached."""

    def compute(ws: Any) -> Any:
        return ws.onboarding(days=ONBOARDING_DAYS)

    return host.cached(("customers", "onboarding", ONBOARDING_DAYS), compute)


def _csv(result: Any, lang: str, name: str) -> Response:
    text = result.to_pandas(lang).to_csv(index=False)
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def customer_url(customer_id: str) -> str:
    return "/customers/" + urllib.parse.quote(str(customer_id), safe="")


HELPERS = {
    "customer_url": customer_url,
    "phase_label": phase_label,
    "channel_label": channel_label,
    "kinds": KINDS,
}


# -- search -----------------------------------------------------------------------------------
@both(router, "/customers")
def customers_page(request: Request, user: Agent) -> Response:
    """Find customers by part of their id or by ``key=value`` on a column or attribute."""
    query = request.query_params.get("q", "")
    try:
        limit = _int(request, "limit", 50)
        # the same search again (a page reloaded, a link shared) is answered from memory
        result, data = request.app.state.host.cached(
            ("search", query.strip(), limit),
            lambda ws: _selected(find_customers(ws, query, limit=limit)),
        )
    except CustomerError as exc:
        data = {"query": query, "detail": message_of(exc), "rows": []}
        return page(request, "customers.html", data, title=SEARCH_TITLE, status=400,
                    context={"result": None, **HELPERS})  # fmt: skip
    return page(request, "customers.html", data, title=SEARCH_TITLE,
                context={"result": result, **HELPERS}, cache="search")  # fmt: skip


# -- lists (registered before the customer's own page, which would take their paths) ----------
def _selected(selection: Any) -> tuple[Any, dict[str, Any]]:
    return selection, selection.to_dict()


def _at_risk(request: Request) -> tuple[Any, dict[str, Any]]:
    """The at-risk list the URL asks for and its data, kept for this state of the data."""
    band = request.query_params.get("band") or None
    result = _risk(request)
    if result is None:
        return None, {"rows": [], "failed": True}
    try:
        top = _int(request, "top", 50)
        return request.app.state.host.drawn(
            ("at-risk", top, band), lambda: _selected(at_risk_list(result, top=top, band=band))
        )
    except CustomerError as exc:
        raise _refused(request, exc) from None


@both(router, "/customers/at-risk")
def at_risk_page(request: Request, user: Agent) -> Response:
    """The riskiest active customers, each with the reasons for their risk."""
    if wants_json(request):
        _exports(request, user)
    selection, data = _at_risk(request)
    return page(request, "at_risk.html", data, title=AT_RISK_TITLE,
                context={"result": selection, "hide_json": not user.may("analyst"), **HELPERS},
                cache="at-risk")  # fmt: skip


@router.get("/customers/at-risk.csv", include_in_schema=False)
def at_risk_csv(request: Request, user: Agent) -> Response:
    _exports(request, user)
    selection, _ = _at_risk(request)
    if selection is None:
        raise HTTPException(404)
    return _csv(selection, lang_of(request), "at-risk")


def _onboarding_selection(request: Request) -> Any:
    try:
        top = _int(request, "top", 100)
        late = request.query_params.get("late") in ("1", "true", "yes")
        result = _onboarding(request)
        return request.app.state.host.drawn(
            ("onboarding", top, late),
            lambda: _selected(onboarding_list(result, top=top, late_only=late)),
        )
    except CustomerError as exc:
        raise _refused(request, exc) from None


@both(router, "/customers/onboarding")
def onboarding_page(request: Request, user: Agent) -> Response:
    """Customers in their first 100 days: their phase and who is late for the next one."""
    if wants_json(request):
        _exports(request, user)
    selection, data = _onboarding_selection(request)
    return page(request, "onboarding.html", data, title=ONBOARDING_TITLE,
                context={"result": selection, "hide_json": not user.may("analyst"), **HELPERS},
                cache="onboarding")  # fmt: skip


@router.get("/customers/onboarding.csv", include_in_schema=False)
def onboarding_csv(request: Request, user: Agent) -> Response:
    _exports(request, user)
    return _csv(_onboarding_selection(request)[0], lang_of(request), "onboarding")


# -- one customer -----------------------------------------------------------------------------
def _customer_page(
    request: Request,
    customer_id: str,
    *,
    error: Message | None = None,
    text: str = "",
    status: int = 200,
) -> Response:
    try:
        limit = _int(request, "limit", PAGE_SIZE)
        offset = _int(request, "offset", 0)
        order = request.query_params.get("order") or "newest"
        host = request.app.state.host
        # the same for every customer: asked once per state of the data
        end = host.cached(("data", "end"), data_end)
        until = host.cached(("data", "until"), lambda ws: (observed_until(ws, end),))
        with host.workspace() as ws:
            timeline = customer_timeline(
                ws, customer_id, limit=limit, offset=offset, order=order, end=end, until=until
            )
            # what colleagues do about the customer's answers, beside what happened to them
            followups = followup_items(ws.warehouse, customer_id, ws.journey)
    except CustomerNotFound:
        raise HTTPException(404) from None
    except CustomerError as exc:
        raise _refused(request, exc) from None
    risk = None
    if timeline.status is None or timeline.status.active:
        scores = _risk(request)
        risk = risk_of(scores, customer_id) if scores is not None else None
    data = {**timeline.to_dict(), "risk": risk, "followups": clean(followups)}
    if error is not None:
        data["detail"] = error
    lang = lang_of(request)
    lines = [describe(item, lang) for item in timeline.frame.to_dict(orient="records")]
    followup_lines = [describe_followup(item, lang) for item in followups]
    return page(
        request,
        "customer.html",
        data,
        title=Message(f"Customer {customer_id}", f"Klant {customer_id}"),
        status=status,
        context={
            "timeline": timeline,
            "lines": lines,
            "followup_lines": followup_lines,
            "text": text,
            "max_note": customer_notes.MAX_TEXT,
            **HELPERS,
        },
    )


@router.post("/customers/{customer_id:path}/notes", include_in_schema=False)
def add_customer_note(
    request: Request,
    user: Agent,
    customer_id: str,
    text: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Keep a note on the customer, then show their timeline again."""
    security.check_csrf(request, csrf_token)
    with request.app.state.host.workspace() as ws:
        if not known_customer(ws, customer_id):
            raise HTTPException(404)
        try:
            customer_notes.add_note(ws.warehouse, customer_id, text, user.name)
        except customer_notes.NoteError as exc:
            error = message_of(exc)
        else:
            error = None
    if error is not None:
        return _customer_page(request, customer_id, error=error, text=text, status=400)
    return RedirectResponse(customer_url(customer_id) + "#notes", status_code=303)


# the JSON twin first: the path converter would read ".json" as part of the id
@router.get("/customers/{customer_id:path}.json", include_in_schema=False)
def customer_json(request: Request, user: Agent, customer_id: str) -> Response:
    return _customer_page(request, customer_id)


@router.get("/customers/{customer_id:path}")
def customer_page(request: Request, user: Agent, customer_id: str) -> Response:
    """One customer: attributes, churn status and risk, and every item of their timeline."""
    return _customer_page(request, customer_id)
