"""Who is due a survey invitation now, and why the others are not.

One pass in the engine: every event of a survey's touchpoint (and, for a scheduled survey,
every customer) is a candidate, classified by the first rule it fails, in this order:

==================  =============================================================================
already_invited     this survey already invited the customer for this event (for a scheduled
                    survey: within its ``every_months``)
not_due             the event (or, scheduled, the customer's start) plus ``delay_days`` is still
                    ahead
too_old             the event lies further back than the link would stay open (``expires_days``)
opted_out           the customer asked for no more surveys
left                the customer has left (``churned_at``, or a churn touchpoint's event)
no_address          no e-mail address in the customer's attributes (or no such customer)
fatigue             any survey invited the customer within ``fatigue_days``
one_per_customer    another candidate of the same customer was chosen in this run (touchpoint
                    surveys before scheduled ones, the latest event first)
==================  =============================================================================

Only the counts per reason, a few customer ids per reason and the due candidates come back to
Python, so the plan stays fast on millions of events.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from cxray.i18n import Message
from cxray.surveys import store
from cxray.surveys.config import CUSTOMER_COLUMNS, Survey, SurveySettings, read_surveys
from cxray.warehouse.core import from_utc, literal, literals, utc

REASONS: dict[str, Message] = {
    "already_invited": Message("already invited for this", "hiervoor al uitgenodigd"),
    "not_due": Message("not due yet", "nog niet aan de beurt"),
    "too_old": Message("event too long ago", "interactie te lang geleden"),
    "opted_out": Message("opted out", "afgemeld"),
    "left": Message("customer has left", "klant is vertrokken"),
    "no_address": Message("no e-mail address", "geen e-mailadres"),
    "fatigue": Message("invited recently (fatigue rule)", "kort geleden uitgenodigd (moeheid)"),
    "one_per_customer": Message(
        "another survey chosen for this customer", "andere enquête gekozen voor deze klant"
    ),
}
SAMPLE = 5
EMAIL_PATTERN = r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$"


@dataclass(frozen=True)
class Due:
    """One invitation to make: who, for which survey and which event."""

    survey: str
    customer_id: str
    trigger_key: str
    touchpoint: str | None
    event_id: str | None
    event_ts: dt.datetime | None
    email: str
    language: str


@dataclass
class Plan:
    """The outcome of planning at ``now``: who is due, and per survey why the others are not."""

    now: dt.datetime
    due: list[Due]
    counts: dict[str, dict[str, int]]  # survey -> reason -> candidates
    samples: dict[str, dict[str, list[str]]]  # survey -> reason -> a few customer ids
    warnings: list[Message] = field(default_factory=list)
    due_counts: dict[str, int] = field(default_factory=dict)  # survey -> due (all of them)

    @property
    def due_total(self) -> int:
        return sum(self.due_counts.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(),
            "due": [
                {
                    **d.__dict__,
                    "event_ts": d.event_ts.isoformat() if d.event_ts else None,
                    "email": None,  # the addresses stay out of reports
                }
                for d in self.due
            ],
            "due_counts": self.due_counts,
            "not_invited": self.counts,
            "samples": self.samples,
            "warnings": [{"en": w.en, "nl": w.nl} for w in self.warnings],
        }


def months_before(moment: dt.datetime, months: int) -> dt.datetime:
    """The same day ``months`` calendar months earlier (the month's last day when shorter)."""
    year, month = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    month += 1
    for day in range(moment.day, 27, -1):
        try:
            return moment.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    return moment.replace(year=year, month=month, day=min(moment.day, 28))


def _customer_value(key: str) -> str:
    if key in CUSTOMER_COLUMNS:
        return f'CAST(c."{key}" AS VARCHAR)'
    return f"json_extract_string(c.attributes, {literal('$.' + chr(34) + key + chr(34))})"


def _candidates(surveys: tuple[Survey, ...], settings: SurveySettings, now: dt.datetime) -> str:
    parts = []
    for rank, survey in enumerate(surveys):
        name = literal(survey.name)
        delay = f"INTERVAL '{int(survey.delay_days * 86400)} seconds'"
        if survey.touchpoint is not None:
            oldest = now - dt.timedelta(days=survey.expires_days)
            parts.append(
                f"SELECT {name} AS survey, 0 AS kind, {rank} AS rank, e.customer_id, "
                "e.event_id AS trigger_key, e.touchpoint, e.event_id, e.ts AS event_ts, "
                f"e.ts + {delay} AS due_at, e.ts < {literal(oldest)} AS too_old, "
                "CAST(NULL AS TIMESTAMPTZ) AS repeat_after "
                f"FROM events e WHERE e.touchpoint = {literal(survey.touchpoint)}"
            )
        else:
            period = literal(f"schedule:{now.date().isoformat()}")
            after = months_before(now, survey.every_months or 1)
            parts.append(
                f"SELECT {name} AS survey, 1 AS kind, {rank} AS rank, c.customer_id, "
                f"{period} AS trigger_key, CAST(NULL AS VARCHAR) AS touchpoint, "
                "CAST(NULL AS VARCHAR) AS event_id, CAST(NULL AS TIMESTAMPTZ) AS event_ts, "
                f"coalesce(c.first_seen, {literal(dt.datetime(1900, 1, 1, tzinfo=dt.UTC))}) "
                f"+ {delay} AS due_at, FALSE AS too_old, {literal(after)} AS repeat_after "
                "FROM customers c"
            )
    return " UNION ALL ".join(parts)


def classify_sql(
    warehouse: Any, journey: Any, settings: SurveySettings, now: dt.datetime
) -> str | None:
    """The SELECT that gives every candidate with its reason (NULL: eligible)."""
    surveys = settings.surveys
    if not surveys:
        return None
    present = store.has_tables(warehouse)
    invitations = store.source(warehouse, store.INVITATIONS, present)
    optouts = store.source(warehouse, store.OPTOUTS, present)
    churn = list(getattr(journey.churn, "touchpoints", ()) or ())
    churned = (
        f"SELECT DISTINCT customer_id FROM events WHERE touchpoint IN {literals(churn)}"
        if churn
        else "SELECT CAST(NULL AS VARCHAR) AS customer_id WHERE 1 = 0"
    )
    fatigue_after = now - dt.timedelta(days=settings.fatigue_days)
    fatigue = f"fa.last_at > {literal(fatigue_after)}" if settings.fatigue_days > 0 else "FALSE"
    email = f"trim({_customer_value(settings.email)})"
    language = f"lower(trim({_customer_value(settings.language)}))"
    return f"""
WITH cand AS ({_candidates(surveys, settings, now)}),
cust AS (
  SELECT c.customer_id, {email} AS email,
         CASE WHEN {language} LIKE 'nl%' OR {language} IN ('dutch', 'nederlands', 'nld')
              THEN 'nl' ELSE 'en' END AS language,
         c.churned_at IS NOT NULL AS has_left
  FROM customers c
),
churned AS ({churned}),
opted AS (SELECT DISTINCT customer_id FROM {optouts}),
fa AS (SELECT customer_id, max(created_at) AS last_at FROM {invitations} GROUP BY customer_id),
done AS (SELECT DISTINCT survey, customer_id, trigger_key FROM {invitations}),
last_of AS (
  SELECT survey, customer_id, max(created_at) AS last_at FROM {invitations}
  GROUP BY survey, customer_id
)
SELECT cand.survey, cand.kind, cand.rank, cand.customer_id, cand.trigger_key,
       cand.touchpoint, cand.event_id, cand.event_ts, cust.email, cust.language,
       CASE
         WHEN done.customer_id IS NOT NULL
              OR (cand.repeat_after IS NOT NULL AND lo.last_at > cand.repeat_after)
           THEN 'already_invited'
         WHEN cand.due_at > {literal(now)} THEN 'not_due'
         WHEN cand.too_old THEN 'too_old'
         WHEN opted.customer_id IS NOT NULL THEN 'opted_out'
         WHEN cust.has_left OR churned.customer_id IS NOT NULL THEN 'left'
         WHEN cust.email IS NULL OR NOT regexp_matches(cust.email, {literal(EMAIL_PATTERN)})
           THEN 'no_address'
         WHEN {fatigue} THEN 'fatigue'
       END AS reason
FROM cand
LEFT JOIN cust ON cust.customer_id = cand.customer_id
LEFT JOIN churned ON churned.customer_id = cand.customer_id
LEFT JOIN opted ON opted.customer_id = cand.customer_id
LEFT JOIN fa ON fa.customer_id = cand.customer_id
LEFT JOIN done ON done.survey = cand.survey AND done.customer_id = cand.customer_id
  AND done.trigger_key = cand.trigger_key
LEFT JOIN last_of lo ON lo.survey = cand.survey AND lo.customer_id = cand.customer_id
"""


def plan_invitations(
    warehouse: Any,
    journey: Any,
    now: dt.datetime | None = None,
    settings: SurveySettings | None = None,
    *,
    limit: int | None = None,
) -> Plan:
    """Who is due an invitation at ``now`` (at most one per customer) and why others are not.

    Reads only: nothing is stored (a dry run). Every candidate is counted; ``limit`` caps the
    due invitations brought back (the oldest events first), e.g. to show the first few."""
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    settings = settings or read_surveys(journey)
    sql = classify_sql(warehouse, journey, settings, now)
    if sql is None:
        return Plan(now, [], {}, {}, list(settings.warnings))
    table = f"cxray_plan_{uuid.uuid4().hex[:12]}"
    # temporary tables: the classification runs once, then small questions read it
    warehouse.sql(f"CREATE TEMP TABLE {table} AS {sql}")
    try:
        counted = warehouse.query(
            f"SELECT survey, reason, count(*), min(customer_id, {SAMPLE}) FROM {table} "
            "WHERE reason IS NOT NULL GROUP BY survey, reason"
        )
        warehouse.sql(
            f"CREATE TEMP TABLE {table}_due AS SELECT *, row_number() OVER ("
            "PARTITION BY customer_id ORDER BY kind, event_ts DESC NULLS LAST, rank, trigger_key"
            f") AS pick FROM {table} WHERE reason IS NULL"
        )
        counted += warehouse.query(
            f"SELECT survey, 'one_per_customer', count(*), min(customer_id, {SAMPLE}) "
            f"FROM {table}_due WHERE pick > 1 GROUP BY survey"
        )
        totals = warehouse.query(
            f"SELECT survey, count(*) FROM {table}_due WHERE pick = 1 GROUP BY survey"
        )
        rows = warehouse.query(
            "SELECT survey, customer_id, trigger_key, touchpoint, event_id, "
            f"{utc('event_ts')}, email, language FROM {table}_due WHERE pick = 1 "
            "ORDER BY event_ts NULLS LAST, survey, customer_id, trigger_key"
            + ("" if limit is None else f" LIMIT {max(0, int(limit))}")
        )
    finally:
        warehouse.sql(f"DROP TABLE IF EXISTS {table}_due")
        warehouse.sql(f"DROP TABLE IF EXISTS {table}")
    counts = {s.name: dict.fromkeys(REASONS, 0) for s in settings.surveys}
    samples: dict[str, dict[str, list[str]]] = {s.name: {} for s in settings.surveys}
    for survey, reason, count, sample in counted:
        counts[survey][reason] = int(count)
        samples[survey][reason] = [str(s) for s in sample]
    due = [
        Due(survey, customer, key, touchpoint, event, from_utc(ts), email, lang)
        for survey, customer, key, touchpoint, event, ts, email, lang in rows
    ]
    return Plan(
        now,
        due,
        counts,
        samples,
        list(settings.warnings),
        due_counts={s.name: 0 for s in settings.surveys} | {k: int(v) for k, v in totals},
    )


__all__ = ["REASONS", "Due", "Plan", "classify_sql", "months_before", "plan_invitations"]
