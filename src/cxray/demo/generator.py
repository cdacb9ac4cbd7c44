"""Simulate the demo webshop: customers, events and feedback with planted causes of churn.

The simulation is vectorised with numpy and runs in chunks of customers, so memory stays bounded
at any size and the output depends only on the seed (and the fixed chunk size), never on time.

How a customer lives (times in seconds since ``data_start``):

1. **Start.** A customer appears at ``start`` (sign-ups grow over the two years) with an
   awareness touchpoint (an ad click or a newsletter open). Prospects keep visiting the site,
   viewing products, opening newsletters and clicking ads at irregular gaps of at most 70 days,
   so a prospect still around is never mistaken for one who left.
2. **Conversion.** Some intend to subscribe after a delay: a site visit, ``account_created``,
   ``order_placed``, then every 30 days a box that arrives as ``delivery`` or ``delivery_late``
   (billed quarterly with ``invoice_sent``); some only create an account and stay prospects.
   Subscribers also place extra orders, call support, fail to log in now and then, open
   newsletters, visit the site, write reviews and send referrals; most on-time boxes are
   followed within days by a visit, a view or an open.
3. **Churn.** Everyone, prospect or subscriber, has the hazard
   ``baseline(t) * HR_late ** n_late(t) * HR_login ** n_login(t) * HR_segment`` with ``t`` the
   days since start and ``n_*(t)`` the bad experiences so far (per occurrence, time-varying).
   Event streams are drawn first without looking ahead; the churn time is then the exact
   inverse of the cumulative hazard at an exponential draw, and everything after it is cut off.
   A subscriber who churns cancels (``subscription_cancelled``); a prospect has one last look (a
   visit, a view, an open or a click) at that moment and is never seen again, so the inactivity
   rule dates their churn exactly (at the last activity, as cxray defines it).
4. **Quiet after a bad experience.** For weeks after a late delivery (10 days after a failed
   login) the customer's own engagement (visits, views, opens, clicks, reviews, referrals,
   extra orders) stops, and after a late box the next box is often skipped. This depends only on
   the past, so the hazard above stays exactly true, and it makes the late delivery the last
   thing seen before most cancellations.
5. **Feedback.** CSAT after deliveries, relationship NPS after orders, CES after support calls and
   ratings with reviews; scores fall with late deliveries and failed logins, and comments speak
   of the customer's own recent troubles in their own language.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from cxray import schema
from cxray.demo.answers import _feedback
from cxray.demo.company import (
    CAMPAIGNS,
    CHURN_TOUCHPOINT,
    CODE,
    DAY,
    REGIONS,
    TOUCHPOINT_NAMES,
    TOUCHPOINTS,
    DemoParameters,
)
from cxray.demo.draws import HOUR, MINUTE, STRIDE, _poisson_times, _renewal_times
from cxray.demo.hazard import HazardPath
from cxray.demo.tables import (
    CALL_MINUTES,
    CUSTOMER_ID_WIDTH,
    MAX_DAYS_LATE,
    PLAN_PRICE_ARRAY,
    PROPERTY_BASE,
    _customer_table,
    _event_table,
    _feedback_table,
    _ids,
    arrow_schema,
    customer_schema,
    feedback_schema,
)
from cxray.demo.truth import PHASES, exit_counts, ground_truth

Progress = Callable[[str, int, int], None]


# -- one chunk ---------------------------------------------------------------------------------
@dataclass
class Chunk:
    customers: pa.Table
    events: pa.Table
    feedback: pa.Table
    comment_truth: pa.Table
    stats: dict[str, np.ndarray | int] = field(default_factory=dict)
    per_customer: dict[str, np.ndarray] = field(default_factory=dict)
    last_ts: int = 0  # seconds since data_start of the chunk's latest event or answer


class _Events:
    """Columns of a chunk's events, gathered piece by piece before sorting."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, ...]] = []

    def add(
        self,
        owner: np.ndarray,
        t: np.ndarray,
        touchpoint: np.ndarray | int,
        value: np.ndarray | float = np.nan,
        prop: np.ndarray | int = -1,
    ) -> None:
        n = len(owner)
        self.parts.append(
            (
                owner.astype(np.int64),
                t.astype(np.int64),
                np.broadcast_to(np.asarray(touchpoint, dtype=np.int16), n),
                np.broadcast_to(np.asarray(value, dtype=np.float64), n),
                np.broadcast_to(np.asarray(prop, dtype=np.int32), n),
            )
        )

    def sorted(self) -> tuple[np.ndarray, ...]:
        owner, t, tp, value, prop = (np.concatenate(c) for c in zip(*self.parts, strict=True))
        order = np.lexsort((tp, t, owner))  # (customer, ts, touchpoint) as analyses break ties
        return owner[order], t[order], tp[order], value[order], prop[order]


def simulate_chunk(
    rng: np.random.Generator,
    n: int,
    first_customer: int,
    first_event: int,
    first_response: int,
    params: DemoParameters,
) -> Chunk:
    """Simulate ``n`` customers numbered from ``first_customer`` (0-based)."""
    p = params
    horizon = p.horizon
    per_cycle = 1.0 / (p.cycle_days * DAY)  # rates are per 30 days; this turns them per second
    everyone = np.arange(n, dtype=np.int64)

    # -- customers ------------------------------------------------------------------------------
    g = p.acquisition_growth
    u = rng.random(n)
    # sign-up density grows linearly: f(x) ∝ 1 + g x on [0, 1]; invert its CDF
    x = (np.sqrt(1 + 2 * g * u * (1 + g / 2)) - 1) / g if g > 0 else u
    start = (x * (horizon - HOUR)).astype(np.int64)
    business = rng.random(n) < p.business_share
    dutch = rng.random(n) < p.dutch_share
    region = rng.choice(len(REGIONS), size=n, p=np.asarray(p.region_shares) / sum(p.region_shares))
    plus = rng.random(n) < p.plus_share
    plan = np.where(business, 2, np.where(plus, 1, 0))
    mood = rng.standard_normal(n)
    intends = rng.random(n) < p.conversion_share
    account_only = intends & (rng.random(n) < p.account_only_share)
    intends &= ~account_only
    same_day = rng.random(n) < p.same_day_conversion_share
    delay = np.where(
        same_day,
        rng.uniform(0.75 * HOUR, 4 * HOUR, n),
        rng.exponential(p.conversion_delay_days * DAY, n) + rng.uniform(HOUR, DAY, n),
    ).astype(np.int64)
    conv = start + delay
    churn_draw = rng.exponential(1.0, n)
    awareness_is_ad = rng.random(n) < 0.6

    # -- the subscription, drawn as if the customer stayed to the end ----------------------------
    # A box every cycle (k = 0, 1, ...); after a late box the next one is often skipped.
    would = np.flatnonzero(intends & (conv < horizon))
    cycle = int(p.cycle_days * DAY)
    n_cycles = horizon // cycle + 1
    k = np.arange(n_cycles)
    ship = conv[would][:, None] + k * cycle + rng.integers(0, 6 * HOUR, (len(would), n_cycles))
    ship[:, 0] = conv[would] + rng.integers(5 * MINUTE, 10 * MINUTE, len(would))
    late_p = np.asarray(p.late_probability)[region] * np.where(business, p.business_late_factor, 1)
    late_draw = rng.random(ship.shape) < late_p[would][:, None]
    skip_draw = rng.random(ship.shape) < p.skip_after_late
    shipped = np.zeros(ship.shape, dtype=bool)
    late = np.zeros(ship.shape, dtype=bool)
    previous_late = np.zeros(len(would), dtype=bool)
    for j in range(n_cycles):
        shipped[:, j] = (ship[:, j] < horizon) & ~(previous_late & skip_draw[:, j])
        late[:, j] = shipped[:, j] & late_draw[:, j]
        previous_late = late[:, j]
    box_owner = np.broadcast_to(would[:, None], ship.shape)[shipped]
    box_ship = ship[shipped]
    box_late = late[shipped]
    box_invoiced = np.broadcast_to(k % p.invoice_every_cycles == 0, ship.shape)[shipped]
    box_arrive, box_days_late = _arrival(rng, box_ship, box_late)

    first_order_t = conv[would] + rng.integers(MINUTE, 4 * MINUTE, len(would))
    login_rate = (
        np.where(business, p.login_failure_rate["business"], p.login_failure_rate["consumer"])
        * per_cycle
    )
    login_owner, login_t = _poisson_times(
        rng, would, conv[would] + HOUR, np.full(len(would), horizon), login_rate[would]
    )
    call_owner, call_t = _poisson_times(
        rng,
        would,
        conv[would] + HOUR,
        np.full(len(would), horizon),
        np.full(len(would), p.support_call_rate * per_cycle),
    )
    # extra orders are the customer's own doing: none while quiet after a late box or login
    quiet = _Quiet(p, box_owner[box_late], box_arrive[box_late], login_owner, login_t)
    extra_owner, extra_t = _poisson_times(
        rng,
        would,
        conv[would] + DAY,
        np.full(len(would), horizon),
        np.full(len(would), p.extra_order_rate * per_cycle),
    )
    keep = ~quiet.covers(extra_owner, extra_t)
    extra_owner, extra_t = extra_owner[keep], extra_t[keep]
    extra_late = rng.random(len(extra_t)) < late_p[extra_owner]
    extra_arrive, extra_days_late = _arrival(rng, extra_t, extra_late)

    ship_owner = np.concatenate([box_owner, extra_owner])
    arrive = np.concatenate([box_arrive, extra_arrive])
    is_late = np.concatenate([box_late, extra_late])
    days_late = np.concatenate([box_days_late, extra_days_late])
    delivered = arrive < horizon
    late_owner, late_t = ship_owner[is_late & delivered], arrive[is_late & delivered]
    quiet = _Quiet(p, late_owner, late_t, login_owner, login_t)

    # -- churn: invert the cumulative hazard --------------------------------------------------
    path = HazardPath(p, start, business, late_owner, late_t, login_owner, login_t)
    churn_t = path.churn_times(churn_draw)  # int64; > horizon means no churn within the data
    exposure, churns = path.exposure_cells(churn_t, horizon - p.inactive_days * DAY)
    converted = intends & (conv < horizon) & (conv < churn_t)
    registered = account_only & (conv < horizon) & (conv < churn_t)  # account, no subscription
    life_end = np.minimum(churn_t, horizon + 1)  # events strictly before this

    ev = _Events()

    def alive(owner: np.ndarray, t: np.ndarray) -> np.ndarray:
        return converted[owner] & (t < life_end[owner]) & (t < horizon)

    # awareness at the start, then prospect engagement until conversion or churn
    ev.add(
        everyone,
        start,
        np.where(awareness_is_ad, CODE["ad_click"], CODE["newsletter_open"]),
        prop=np.where(
            awareness_is_ad, PROPERTY_BASE["ad_click"] + rng.integers(0, len(CAMPAIGNS), n), -1
        ),
    )
    prospect_end = np.minimum(np.where(converted, conv, horizon), life_end)
    pro_owner, pro_t = _renewal_times(rng, everyone, start, prospect_end, p.prospect_gap_days)
    pro_tp = _draw_touchpoints(rng, p.prospect_mix, len(pro_t))
    ev.add(pro_owner, pro_t, pro_tp, prop=_engagement_props(rng, pro_tp))

    # conversion session: a visit, the account, the first order (not for account-only)
    accounts = np.flatnonzero(converted | registered)
    ev.add(
        accounts,
        conv[accounts] - rng.integers(5 * MINUTE, 40 * MINUTE, len(accounts)),
        CODE["site_visit"],
    )
    ev.add(accounts, conv[accounts], CODE["account_created"])
    subs = np.flatnonzero(converted)
    first_order_t = first_order_t[converted[would]]
    ok = first_order_t < life_end[subs]
    items = rng.integers(1, 7, len(subs))
    ev.add(
        subs[ok],
        first_order_t[ok],
        CODE["order_placed"],
        PLAN_PRICE_ARRAY[plan[subs[ok]]],
        PROPERTY_BASE["order_placed"] + items[ok] - 1,
    )
    keep = alive(box_owner, box_ship) & box_invoiced
    invoice_owner = box_owner[keep]
    ev.add(
        invoice_owner,
        box_ship[keep],
        CODE["invoice_sent"],
        PLAN_PRICE_ARRAY[plan[invoice_owner]] * p.invoice_every_cycles,
        PROPERTY_BASE["invoice_sent"] + plan[invoice_owner],
    )
    keep = alive(extra_owner, extra_t)
    amount = np.round(rng.gamma(3.0, 12.0, len(extra_t)), 2)
    extra_items = rng.integers(1, 7, len(extra_t))
    ev.add(
        extra_owner[keep],
        extra_t[keep],
        CODE["order_placed"],
        amount[keep],
        PROPERTY_BASE["order_placed"] + 6 + extra_items[keep] - 1,
    )
    keep = alive(ship_owner, arrive)
    ev.add(
        ship_owner[keep],
        arrive[keep],
        np.where(is_late[keep], CODE["delivery_late"], CODE["delivery"]),
        prop=PROPERTY_BASE["delivery"]
        + region[ship_owner[keep]] * (MAX_DAYS_LATE + 1)
        + np.minimum(days_late[keep], MAX_DAYS_LATE),
    )
    keep = alive(login_owner, login_t)
    ev.add(login_owner[keep], login_t[keep], CODE["login_failed"])
    keep = alive(call_owner, call_t)
    minutes = rng.integers(CALL_MINUTES.start, CALL_MINUTES.stop, len(call_t))
    ev.add(
        call_owner[keep],
        call_t[keep],
        CODE["support_call"],
        prop=PROPERTY_BASE["support_call"] + minutes[keep] - CALL_MINUTES.start,
    )

    # subscriber engagement: background, plus a reaction to most on-time boxes; none while quiet
    sub_owner, sub_t = _renewal_times(
        rng, subs, conv[subs], np.minimum(life_end[subs], horizon), p.subscriber_gap_days
    )
    sub_tp = _draw_touchpoints(rng, p.subscriber_mix, len(sub_t))
    on_time = np.flatnonzero(~is_late & (rng.random(len(arrive)) < p.followup_share))
    fol_owner = ship_owner[on_time]
    fol_t = arrive[on_time] + rng.integers(5 * HOUR, 3 * DAY, len(on_time))
    fol_tp = _draw_touchpoints(rng, p.followup_mix, len(fol_t))
    eng_owner = np.concatenate([sub_owner, fol_owner])
    eng_t = np.concatenate([sub_t, fol_t])
    eng_tp = np.concatenate([sub_tp, fol_tp])
    keep = alive(eng_owner, eng_t) & ~quiet.covers(eng_owner, eng_t)
    ev.add(eng_owner[keep], eng_t[keep], eng_tp[keep], prop=_engagement_props(rng, eng_tp[keep]))

    # the end: subscribers cancel; a prospect has one last look and is never seen again, so
    # the inactivity rule dates their churn at the true moment (the look is not an exposure)
    cancels = np.flatnonzero(converted & (churn_t <= horizon))
    ev.add(cancels, churn_t[cancels], CODE[CHURN_TOUCHPOINT])
    leavers = np.flatnonzero(~converted & (churn_t <= horizon))
    last_look = _draw_touchpoints(rng, p.prospect_mix, len(leavers))
    ev.add(leavers, churn_t[leavers], last_look, prop=_engagement_props(rng, last_look))

    e_owner, e_t, e_tp, e_value, e_prop = ev.sorted()
    e_number = first_event + np.arange(len(e_t), dtype=np.int64)

    late_key = np.sort(late_owner * STRIDE + late_t)
    login_key = np.sort(login_owner * STRIDE + login_t)
    feedback, comment_truth, fb_stats = _feedback(
        rng,
        p,
        first_response,
        e_owner,
        e_t,
        e_tp,
        e_number,
        e_prop,
        mood,
        dutch,
        life_end,
        late_key,
        login_key,
    )

    customer_ids = _ids("C", first_customer + 1 + everyone, CUSTOMER_ID_WIDTH)
    stats, per_customer = _chunk_stats(
        p, n, start, business, dutch, converted, churn_t, e_owner, e_t, e_tp, fb_stats
    )
    stats["cell_exposure"], stats["cell_churns"] = exposure, churns
    last_ts = max(int(e_t.max()), int(feedback["ts"].max()) if len(feedback["ts"]) else 0)
    return Chunk(
        customers=_customer_table(customer_ids, start, business, dutch, plan, region, converted, p),
        events=_event_table(customer_ids, e_owner, e_t, e_tp, e_value, e_prop, e_number, p),
        feedback=_feedback_table(customer_ids, feedback, p),
        comment_truth=comment_truth,
        stats=stats,
        per_customer=per_customer,
        last_ts=last_ts,
    )


def _arrival(
    rng: np.random.Generator, shipped_at: np.ndarray, late: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """When a shipment arrives and how many days after the promised day (2.5 days after)."""
    promised = shipped_at + int(2.5 * DAY)
    arrive = np.where(
        late,
        promised + rng.uniform(1.2 * DAY, 8.0 * DAY, len(shipped_at)),
        shipped_at + rng.uniform(0.6 * DAY, 2.4 * DAY, len(shipped_at)),
    ).astype(np.int64)
    days_late = np.where(late, np.ceil((arrive - promised) / DAY), 0).astype(np.int64)
    return arrive, days_late


class _Quiet:
    """Windows after bad experiences in which a customer's own engagement stops."""

    def __init__(
        self,
        p: DemoParameters,
        late_owner: np.ndarray,
        late_t: np.ndarray,
        login_owner: np.ndarray,
        login_t: np.ndarray,
    ):
        owner = np.concatenate([late_owner, login_owner]).astype(np.int64)
        t = np.concatenate([late_t, login_t])
        length = np.concatenate(
            [
                np.full(len(late_t), int(p.quiet_days["delivery_late"] * DAY)),
                np.full(len(login_t), int(p.quiet_days["login_failed"] * DAY)),
            ]
        )
        key = owner * STRIDE + t
        order = np.argsort(key, kind="stable")
        self.key = key[order]
        # running maximum of window ends: keys of earlier customers are always smaller
        self.until = np.maximum.accumulate((key + length)[order]) if len(key) else key

    def covers(self, owner: np.ndarray, t: np.ndarray) -> np.ndarray:
        if not len(self.key):
            return np.zeros(len(t), dtype=bool)
        key = owner.astype(np.int64) * STRIDE + t
        prior = np.searchsorted(self.key, key, side="right") - 1
        return (prior >= 0) & (self.until[np.maximum(prior, 0)] > key)


def _draw_touchpoints(rng: np.random.Generator, mix: dict[str, float], n: int) -> np.ndarray:
    names = list(mix)
    probs = np.array([mix[name] for name in names], dtype=np.float64)
    codes = np.array([CODE[name] for name in names], dtype=np.int16)
    return codes[rng.choice(len(names), size=n, p=probs / probs.sum())]


def _engagement_props(rng: np.random.Generator, touchpoints: np.ndarray) -> np.ndarray:
    campaign = PROPERTY_BASE["ad_click"] + rng.integers(0, len(CAMPAIGNS), len(touchpoints))
    return np.where(touchpoints == CODE["ad_click"], campaign, -1)


# -- bookkeeping for the ground truth ------------------------------------------------------------
PHASE_OF_CODE = np.array([PHASES.index(tp.phase) for tp in TOUCHPOINTS])


def _chunk_stats(
    p: DemoParameters,
    n: int,
    start: np.ndarray,
    business: np.ndarray,
    dutch: np.ndarray,
    converted: np.ndarray,
    churn_t: np.ndarray,
    e_owner: np.ndarray,
    e_t: np.ndarray,
    e_tp: np.ndarray,
    feedback_stats: dict,
) -> tuple[dict, dict[str, np.ndarray]]:
    """Counts for the truth file, and per customer what the exit count needs at the end."""
    horizon = p.horizon
    activity = e_tp != CODE[CHURN_TOUCHPOINT]
    o, t, tp = e_owner[activity], e_t[activity], e_tp[activity]
    last = np.flatnonzero(np.append(o[1:] != o[:-1], True))  # every customer has an activity
    cancelled = converted & (churn_t <= horizon)
    reach = np.unique(e_owner * len(PHASES) + PHASE_OF_CODE[e_tp])
    seen_100 = start + 100 * DAY <= horizon
    stats = {
        "customers": n,
        "business": int(business.sum()),
        "dutch": int(dutch.sum()),
        "converted": int(converted.sum()),
        "seen_100_days": int(seen_100.sum()),
        "churned_in_100_days": int((seen_100 & (churn_t - start <= 100 * DAY)).sum()),
        "churn_within_data": int((churn_t <= horizon).sum()),
        "cancelled": int(cancelled.sum()),
        "events_by_touchpoint": np.bincount(e_tp, minlength=len(TOUCHPOINT_NAMES)),
        "phase_reach": np.bincount(reach % len(PHASES), minlength=len(PHASES)),
        **feedback_stats,
    }
    per_customer = {
        "start": start,
        "last_t": t[last],
        "last_tp": tp[last],
        "cancel_t": np.where(cancelled, churn_t, -1),
    }
    return stats, per_customer


def _merge(total: dict, part: dict) -> dict:
    for key, value in part.items():
        total[key] = total[key] + value if key in total else value
    return total


@dataclass
class GeneratedData:
    """What `generate_sources` wrote: the three source files and the ground truth."""

    files: dict[str, Path]
    counts: dict[str, int]
    truth: dict
    comment_labels: Path | None = None


def generate_sources(
    directory: str | Path,
    customers: int = 5000,
    seed: int = 42,
    params: DemoParameters | None = None,
    comment_labels: str | Path | None = None,
    progress: Progress | None = None,
) -> GeneratedData:
    """Write customers.parquet, events.parquet and feedback.parquet into ``directory``.

    ``comment_labels`` (optional) receives one row per comment with its planted theme(s).
    Deterministic: the same seed and size give the same files.
    """
    if customers < 1:
        raise ValueError("customers must be at least 1")
    if seed < 0:
        raise ValueError("seed must be a whole number of 0 or more")
    p = params or DemoParameters()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    files = {name: directory / f"{name}.parquet" for name in ("customers", "events", "feedback")}
    schemas = {
        "customers": customer_schema(),
        "events": arrow_schema(schema.EVENTS),
        "feedback": feedback_schema(),
    }
    writers = {name: pq.ParquetWriter(files[name], schemas[name]) for name in files}
    labels_writer = None
    if comment_labels is not None:
        labels_writer = pq.ParquetWriter(
            comment_labels,
            pa.schema(
                [
                    ("response_id", pa.string()),
                    ("theme", pa.string()),
                    ("second_theme", pa.string()),
                ]
            ),
        )
    stats: dict = {}
    per_customer: dict[str, list[np.ndarray]] = {}
    done = events = responses = last_ts = 0
    try:
        for index, first in enumerate(range(0, customers, p.chunk_customers)):
            size = min(p.chunk_customers, customers - first)
            rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index,)))
            chunk = simulate_chunk(rng, size, first, events, responses, p)
            writers["customers"].write_table(chunk.customers)
            writers["events"].write_table(chunk.events)
            writers["feedback"].write_table(chunk.feedback)
            if labels_writer is not None:
                labels_writer.write_table(chunk.comment_truth)
            events += chunk.events.num_rows
            responses += chunk.feedback.num_rows
            _merge(stats, chunk.stats)
            for key, values in chunk.per_customer.items():
                per_customer.setdefault(key, []).append(values)
            last_ts = max(last_ts, chunk.last_ts)
            done += size
            if progress:
                progress("generate", done, customers)
    finally:
        for writer in writers.values():
            writer.close()
        if labels_writer is not None:
            labels_writer.close()
    counts = {"customers": customers, "events": events, "feedback": responses}
    joined = {key: np.concatenate(parts) for key, parts in per_customer.items()}
    stats.update(exit_counts(**joined, data_end=last_ts, inactive_days=p.inactive_days))
    stats["data_end_observed"] = p.data_start + dt.timedelta(seconds=last_ts)
    return GeneratedData(
        files=files,
        counts=counts,
        truth=ground_truth(p, seed, stats, counts),
        comment_labels=Path(comment_labels) if comment_labels is not None else None,
    )
