"""One row per customer: when they started, whether and when they churned, how long we saw them.

Every analysis that speaks of churn (funnel, survival, retention, drivers) builds on this one
definition, so that "churned" means the same thing everywhere:

- **start**: the earlier of the customer's ``first_seen`` and their first event.
- **explicit churn**: the first event of a churn touchpoint (``[churn] touchpoints``).
- **inactivity churn**: with ``[churn] inactive_days = N``, a customer whose last activity (any
  event that is not a churn event) lies N days or more before the end of the data has churned
  at that last activity (only when they have no explicit churn event).
- **observation window**: churn by inactivity can only be seen up to N days before the end of
  the data, so every customer is observed until ``data_end - N`` (or ``data_end`` without an
  inactivity rule). Churn after that point is not yet known: those customers are censored there.
  Customers who started after it are too new to judge and are left out (``too_new``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import ibis
import ibis.expr.types as ir

SECONDS_PER_DAY = 86400.0


def data_end(ws: Any) -> dt.datetime | None:
    """The latest timestamp in the workspace: the moment the data ends (censoring time)."""
    ends = [ws.events.ts.max().execute(), ws.feedback.ts.max().execute()]
    ends = [e for e in ends if e is not None and e == e]  # drop None/NaT
    if not ends:
        return None
    end = max(ends)
    return end.to_pydatetime() if hasattr(end, "to_pydatetime") else end


def observed_until(ws: Any, end: dt.datetime | None = None) -> dt.datetime | None:
    end = end or data_end(ws)
    if end is None:
        return None
    days = ws.journey.churn.inactive_days
    return end - dt.timedelta(days=days) if days else end


def customer_lifetimes(ws: Any, end: dt.datetime | None = None) -> ir.Table:
    """An Ibis expression with one row per customer.

    Columns: customer_id, start, last_activity, churn_ts (null when not churned), churned,
    end_ts (churn time or censoring time), duration_days, too_new.
    """
    end = end or data_end(ws)
    until = observed_until(ws, end)
    rule = ws.journey.churn
    events = ws.events
    churn_tps = list(rule.touchpoints)

    is_churn_event = events.touchpoint.isin(churn_tps) if churn_tps else ibis.literal(False)
    per_customer = events.group_by("customer_id").aggregate(
        first_event=events.ts.min(),
        last_activity=events.ts.max(where=~is_churn_event),
        explicit_churn=events.ts.min(where=is_churn_event) if churn_tps else ibis.null("timestamp"),
    )
    customers = ws.customers.select("customer_id", "first_seen")
    joined = per_customer.join(customers, "customer_id", how="outer")
    customer_id = ibis.coalesce(joined.customer_id, joined.customer_id_right)
    start = ibis.least(
        joined.first_event.cast("timestamp('UTC')"), joined.first_seen.cast("timestamp('UTC')")
    )
    start = ibis.coalesce(start, joined.first_event, joined.first_seen)

    until_lit = ibis.literal(until, type="timestamp('UTC')")
    last_activity = joined.last_activity
    if rule.inactive_days:
        # last_activity + N days <= end, written against the literal end - N days (``until``):
        # date arithmetic on every row costs more than the rest of the query on some engines.
        lapsed = last_activity.notnull() & (last_activity <= until_lit)
        inactivity_churn = ibis.ifelse(lapsed, last_activity, ibis.null("timestamp('UTC')"))
    else:
        inactivity_churn = ibis.null("timestamp('UTC')")
    explicit = joined.explicit_churn.cast("timestamp('UTC')")
    # An explicit cancellation says when the customer left; inactivity only where there is none.
    churn_ts = ibis.coalesce(explicit, inactivity_churn)
    churned = churn_ts.notnull() & (churn_ts <= until_lit)
    end_ts = ibis.ifelse(churned, churn_ts, until_lit)
    duration = (end_ts.epoch_seconds() - start.epoch_seconds()) / SECONDS_PER_DAY
    return joined.select(
        customer_id=customer_id,
        start=start,
        last_activity=last_activity,
        churn_ts=ibis.ifelse(churned, churn_ts, ibis.null("timestamp('UTC')")),
        churned=churned,
        end_ts=end_ts,
        duration_days=ibis.greatest(duration, 0.0),
        too_new=start > until_lit,
    )
