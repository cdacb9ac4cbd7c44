"""One row per customer: when they started, whether and when they churned, how long we saw them.

Every analysis that speaks of churn (funnel, survival, retention, drivers) builds on this one
definition, so that "churned" means the same thing everywhere:

- **start**: the earliest of the customer's ``first_seen`` and their first event.
- **explicit churn**: the first event of a churn touchpoint (``[churn] touchpoints``) or the
  customer's ``churned_at`` (lifetime data from a CRM export), whichever is first. It always
  counts, whatever the inactivity rule says.
- **inactivity churn**: with ``[churn] inactive_days = N``, a customer without explicit churn
  whose last activity (any event that is not a churn event, or ``last_seen``) lies N days or more
  before the end of the data has churned at that last activity.
- **end of the data**: the latest timestamp of events, feedback and the customers' lifetime
  columns.
- **observation window**: inactivity churn can only be seen up to N days before the end of the
  data (``until``). Time-to-event analyses need one window for everyone, or they would count the
  churn of some customers in a period where the churn of others cannot be seen yet: so
  ``churned``/``duration_days`` follow the customer until ``until``, and an explicit churn after it
  is censored there (still counted in ``left``). Customers who started after ``until`` are too new
  to judge in time-to-event analyses (``too_new``); ``left`` still says whether they left. When the data span is shorter than N, no customer could
  be judged at all: the inactivity rule is then set aside and only explicit churn counts (with a
  warning from :func:`churn_check`).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from cxray.warehouse import from_utc, literal, literals, utc

if TYPE_CHECKING:
    import ibis.expr.types as ir

SECONDS_PER_DAY = 86400.0
UTC = "timestamp('UTC')"
# The columns the plain-SQL questions below read, with their SQL types (see Warehouse.relation).
EVENT_COLUMNS = {"customer_id": "VARCHAR", "ts": "TIMESTAMPTZ", "touchpoint": "VARCHAR"}
FEEDBACK_COLUMNS = {"customer_id": "VARCHAR", "ts": "TIMESTAMPTZ"}
CUSTOMER_COLUMNS = {
    "customer_id": "VARCHAR",
    "first_seen": "TIMESTAMPTZ",
    "churned_at": "TIMESTAMPTZ",
    "last_seen": "TIMESTAMPTZ",
}


def _has(table: ir.Table, column: str) -> bool:
    return column in table.columns


def data_end(ws: Any) -> dt.datetime | None:
    """The latest timestamp in the workspace: the moment the data ends (censoring time)."""
    # Plain SQL, as data_start: every churn answer and `cxray status` ask, so it must not wait
    # for an Ibis expression to compile.
    warehouse = ws.warehouse
    events = warehouse.relation("events", EVENT_COLUMNS)
    feedback = warehouse.relation("feedback", FEEDBACK_COLUMNS)
    customers = warehouse.relation("customers", CUSTOMER_COLUMNS)
    (row,) = warehouse.query(
        f"SELECT (SELECT {utc('MAX(ts)')} FROM {events}), "
        f"(SELECT {utc('MAX(ts)')} FROM {feedback}), "
        f"(SELECT {utc('MAX(last_seen)')} FROM {customers}), "
        f"(SELECT {utc('MAX(churned_at)')} FROM {customers})"
    )
    ends = [from_utc(end) for end in row if end is not None]
    return max(ends) if ends else None


def data_start(ws: Any) -> dt.datetime | None:
    """The earliest start of any customer (first event or first_seen)."""
    warehouse = ws.warehouse
    events = warehouse.relation("events", EVENT_COLUMNS)
    customers = warehouse.relation("customers", CUSTOMER_COLUMNS)
    (row,) = warehouse.query(
        f"SELECT (SELECT {utc('MIN(ts)')} FROM {events}), "
        f"(SELECT {utc('MIN(first_seen)')} FROM {customers})"
    )
    starts = [from_utc(start) for start in row if start is not None]
    return min(starts) if starts else None


def snapshot_date(ws: Any) -> dt.datetime | None:
    """The as-of date when the data is one snapshot of lifetimes, else None.

    A snapshot (a CRM export of current and recently lost customers, tenure and a churn flag)
    records every churn at its as-of date and holds only customers still there shortly before
    it: who left early in an old cohort is not in it. Calendar views of it (cohort retention,
    early churn per cohort) would read 100% retention; only time since start (survival) holds.
    """
    import ibis

    customers = ws.customers
    if "churned_at" not in customers.columns or int(ws.events.count().execute()):
        return None
    ends = customers.select(end=ibis.coalesce(customers.churned_at, customers.last_seen))
    found = ends.aggregate(
        known=ends.end.count(), distinct=ends.end.nunique(), latest=ends.end.max()
    ).execute()
    if found.empty or int(found.known.iloc[0]) == 0 or int(found.distinct.iloc[0]) != 1:
        return None
    latest = found.latest.iloc[0]
    return latest.to_pydatetime() if hasattr(latest, "to_pydatetime") else latest


def inactivity_applies(ws: Any, end: dt.datetime | None = None) -> bool:
    """Whether the inactivity rule can judge anyone: the data must span more than N days."""
    days = ws.journey.churn.inactive_days
    if not days:
        return False
    end = end or data_end(ws)
    start = data_start(ws)
    if end is None or start is None:
        return False
    return end - dt.timedelta(days=days) > start


def observed_until(ws: Any, end: dt.datetime | None = None) -> dt.datetime | None:
    """The end of the observation window: ``end - inactive_days`` when the rule applies."""
    end = end or data_end(ws)
    if end is None:
        return None
    if inactivity_applies(ws, end):
        return end - dt.timedelta(days=ws.journey.churn.inactive_days)
    return end


def customer_lifetimes(ws: Any, end: dt.datetime | None = None) -> ir.Table:
    """An Ibis expression with one row per customer.

    Columns: customer_id, start, last_activity, churn_ts (null when not churned within the
    window), churned, end_ts (churn time or censoring time), duration_days, too_new, and
    left / left_ts: whether and when the customer is known to have left by the end of the data
    (explicit churn counted up to the very end; inactivity churn as above).
    """
    import ibis

    end = end or data_end(ws)
    until = observed_until(ws, end)
    inactivity = until is not None and end is not None and until < end
    rule = ws.journey.churn
    events = ws.events
    churn_tps = list(rule.touchpoints)

    is_churn_event = events.touchpoint.isin(churn_tps) if churn_tps else ibis.literal(False)
    per_customer = events.group_by("customer_id").aggregate(
        first_event=events.ts.min(),
        last_event=events.ts.max(where=~is_churn_event),
        explicit_event=events.ts.min(where=is_churn_event) if churn_tps else ibis.null(UTC),
    )
    customers = ws.customers
    columns = {
        "first_seen": customers.first_seen.cast(UTC),
        "churned_at": customers.churned_at.cast(UTC)
        if _has(customers, "churned_at")
        else ibis.null(UTC),
        "last_seen": customers.last_seen.cast(UTC)
        if _has(customers, "last_seen")
        else ibis.null(UTC),
    }
    customers = customers.select("customer_id", **columns)
    joined = per_customer.join(customers, "customer_id", how="outer")
    customer_id = ibis.coalesce(joined.customer_id, joined.customer_id_right)
    first_event = joined.first_event.cast(UTC)
    start = ibis.coalesce(
        ibis.least(first_event, joined.first_seen), first_event, joined.first_seen
    )

    def earliest(a: ir.Value, b: ir.Value) -> ir.Value:
        return ibis.coalesce(ibis.least(a, b), a, b)

    def latest(a: ir.Value, b: ir.Value) -> ir.Value:
        return ibis.coalesce(ibis.greatest(a, b), a, b)

    explicit = earliest(joined.explicit_event.cast(UTC), joined.churned_at)
    last_activity = latest(joined.last_event.cast(UTC), joined.last_seen)
    if inactivity:
        # last_activity + N days <= end, written against the literal end - N days (``until``):
        # date arithmetic on every row costs more than the rest of the query on some engines.
        until_lit = ibis.literal(until, type=UTC)
        lapsed = last_activity.notnull() & (last_activity <= until_lit)
        inactivity_churn = ibis.ifelse(lapsed, last_activity, ibis.null(UTC))
    else:
        until_lit = ibis.literal(until, type=UTC) if until is not None else ibis.null(UTC)
        inactivity_churn = ibis.null(UTC)
    # An explicit cancellation says when the customer left; inactivity only where there is none.
    left_ts = ibis.coalesce(explicit, inactivity_churn)
    left = left_ts.notnull()
    churned = left & (left_ts <= until_lit)
    end_ts = ibis.ifelse(churned, left_ts, until_lit)
    duration = (end_ts.epoch_seconds() - start.epoch_seconds()) / SECONDS_PER_DAY
    return joined.select(
        customer_id=customer_id,
        start=start,
        last_activity=last_activity,
        churn_ts=ibis.ifelse(churned, left_ts, ibis.null(UTC)),
        churned=churned,
        end_ts=end_ts,
        duration_days=ibis.greatest(duration, 0.0),
        too_new=start > until_lit,
        left=left,
        left_ts=left_ts,
        explicit=explicit.notnull(),
    )


def lifetime_counts(ws: Any, end: dt.datetime | None = None) -> dict[str, int]:
    """Counts over :func:`customer_lifetimes`, in plain SQL: the same definition, rule for rule.

    For `cxray status` and the churn check beside every churn answer, which must not wait for
    Ibis to load. Keys: customers, explicit and explicit_after (left by an explicit churn, at
    all and after the observation window), inactivity (left by inactivity), too_new.
    Tests hold it equal to counting the Ibis expression.
    """
    end = end or data_end(ws)
    until = observed_until(ws, end)
    inactivity = until is not None and end is not None and until < end
    warehouse = ws.warehouse
    events = warehouse.relation("events", EVENT_COLUMNS)
    customers = warehouse.relation("customers", CUSTOMER_COLUMNS)
    churn_tps = list(ws.journey.churn.touchpoints)
    is_churn = f"touchpoint IN {literals(churn_tps)}" if churn_tps else "FALSE"
    until_sql = literal(until) if until is not None else "CAST(NULL AS TIMESTAMPTZ)"
    lapsed = (
        f"CASE WHEN last_activity IS NOT NULL AND last_activity <= {until_sql} "
        "THEN last_activity END"
        if inactivity
        else "CAST(NULL AS TIMESTAMPTZ)"
    )
    statement = f"""
        WITH per_customer AS (
            SELECT customer_id, MIN(ts) AS first_event,
                MAX(ts) FILTER (WHERE NOT ({is_churn})) AS last_event,
                MIN(ts) FILTER (WHERE {is_churn}) AS explicit_event
            FROM {events} GROUP BY customer_id
        ), joined AS (
            SELECT
                COALESCE(LEAST(p.first_event, c.first_seen), p.first_event, c.first_seen)
                    AS start,
                COALESCE(LEAST(p.explicit_event, c.churned_at), p.explicit_event, c.churned_at)
                    AS explicit_ts,
                COALESCE(GREATEST(p.last_event, c.last_seen), p.last_event, c.last_seen)
                    AS last_activity
            FROM per_customer AS p FULL OUTER JOIN {customers} AS c
                ON p.customer_id = c.customer_id
        ), lives AS (
            SELECT start, explicit_ts, COALESCE(explicit_ts, {lapsed}) AS left_ts FROM joined
        )
        SELECT COUNT(*),
            COUNT(*) FILTER (WHERE explicit_ts IS NOT NULL),
            COUNT(*) FILTER (WHERE explicit_ts IS NOT NULL AND left_ts > {until_sql}),
            COUNT(*) FILTER (WHERE left_ts IS NOT NULL AND explicit_ts IS NULL),
            COUNT(*) FILTER (WHERE start > {until_sql})
        FROM lives
    """
    (row,) = warehouse.query(statement)
    keys = ("customers", "explicit", "explicit_after", "inactivity", "too_new")
    return {key: int(value or 0) for key, value in zip(keys, row, strict=True)}
