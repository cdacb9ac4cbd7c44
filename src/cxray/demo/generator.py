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
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cxray import schema
from cxray.demo import comments as cm
from cxray.demo.company import (
    CAMPAIGNS,
    CARRIERS,
    CHURN_TOUCHPOINT,
    CODE,
    DAY,
    LANGUAGES,
    PLAN_PRICE,
    PLANS,
    REGIONS,
    SEGMENTS,
    TOUCHPOINT_NAMES,
    TOUCHPOINTS,
    DemoParameters,
)
from cxray.demo.truth import MAX_COUNT, METRICS, PHASES, SURVEYS, exit_counts, ground_truth

Progress = Callable[[str, int, int], None]

STRIDE = 1 << 28  # seconds; > the horizon plus any breakpoint, so owner * STRIDE + t sorts by owner
HOUR = 3_600
MINUTE = 60
CUSTOMER_ID_WIDTH = 7
EVENT_ID_WIDTH = 10
RESPONSE_ID_WIDTH = 9

CSAT, NPS, CES, RATING = range(4)

# -- property JSON: few distinct values, so each row stores a code into this list -------------
_MAX_DAYS_LATE = 9
_MINUTES = range(2, 41)


def _property_strings() -> tuple[list[str], dict[str, int]]:
    values: list[str] = []
    base: dict[str, int] = {}
    base["delivery"] = len(values)
    for carrier in CARRIERS:
        for days in range(_MAX_DAYS_LATE + 1):
            values.append(json.dumps({"carrier": carrier, "days_late": days}))
    base["ad_click"] = len(values)
    values += [json.dumps({"campaign": c}) for c in CAMPAIGNS]
    base["order_placed"] = len(values)
    for kind in ("first", "extra"):
        values += [json.dumps({"kind": kind, "items": k}) for k in range(1, 7)]
    base["support_call"] = len(values)
    values += [json.dumps({"minutes": m}) for m in _MINUTES]
    base["invoice_sent"] = len(values)
    values += [json.dumps({"plan": p}) for p in PLANS]
    return values, base


PROPERTY_JSON, PROPERTY_BASE = _property_strings()
CHANNEL_OF = [tp.channel for tp in TOUCHPOINTS]


# -- small vectorised helpers ----------------------------------------------------------------
def _poisson_times(
    rng: np.random.Generator, owners: np.ndarray, lo: np.ndarray, hi: np.ndarray, rate: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A Poisson process per owner on [lo, hi), ``rate`` per second."""
    span = np.maximum(hi - lo, 0).astype(np.float64)
    counts = rng.poisson(rate * span)
    who = np.repeat(np.arange(len(owners)), counts)
    times = lo[who] + (rng.random(len(who)) * span[who]).astype(np.int64)
    return owners[who], times


def _renewal_times(
    rng: np.random.Generator,
    owners: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    gap_days: tuple[float, float],
    batch: int = 16,
) -> tuple[np.ndarray, np.ndarray]:
    """Events at uniform gaps (in days) after ``lo`` until ``hi``: bounded gaps, unlike Poisson."""
    out_owner: list[np.ndarray] = []
    out_time: list[np.ndarray] = []
    active = np.flatnonzero(hi > lo)
    current = lo[active].astype(np.float64)
    low, high = gap_days[0] * DAY, gap_days[1] * DAY
    while active.size:
        times = current[:, None] + np.cumsum(rng.uniform(low, high, (active.size, batch)), axis=1)
        keep = times < hi[active][:, None]
        out_owner.append(np.broadcast_to(owners[active][:, None], times.shape)[keep])
        out_time.append(times[keep].astype(np.int64))
        more = keep[:, -1]
        active, current = active[more], times[more, -1]
    if not out_owner:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(out_owner), np.concatenate(out_time)


def _count_before(
    keys_sorted: np.ndarray, owner: np.ndarray, t: np.ndarray, window: int
) -> np.ndarray:
    """How many of an owner's keyed events lie in [t - window, t)."""
    hi = np.searchsorted(keys_sorted, owner * STRIDE + t, side="left")
    lo = np.searchsorted(keys_sorted, owner * STRIDE + np.maximum(t - window, 0), side="left")
    return hi - lo


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
    path = _HazardPath(p, start, business, late_owner, late_t, login_owner, login_t)
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
        + region[ship_owner[keep]] * (_MAX_DAYS_LATE + 1)
        + np.minimum(days_late[keep], _MAX_DAYS_LATE),
    )
    keep = alive(login_owner, login_t)
    ev.add(login_owner[keep], login_t[keep], CODE["login_failed"])
    keep = alive(call_owner, call_t)
    minutes = rng.integers(_MINUTES.start, _MINUTES.stop, len(call_t))
    ev.add(
        call_owner[keep],
        call_t[keep],
        CODE["support_call"],
        prop=PROPERTY_BASE["support_call"] + minutes[keep] - _MINUTES.start,
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


PLAN_PRICE_ARRAY = np.array([PLAN_PRICE[name] for name in PLANS])


def _draw_touchpoints(rng: np.random.Generator, mix: dict[str, float], n: int) -> np.ndarray:
    names = list(mix)
    probs = np.array([mix[name] for name in names], dtype=np.float64)
    codes = np.array([CODE[name] for name in names], dtype=np.int16)
    return codes[rng.choice(len(names), size=n, p=probs / probs.sum())]


def _engagement_props(rng: np.random.Generator, touchpoints: np.ndarray) -> np.ndarray:
    campaign = PROPERTY_BASE["ad_click"] + rng.integers(0, len(CAMPAIGNS), len(touchpoints))
    return np.where(touchpoints == CODE["ad_click"], campaign, -1)


def _cell_index(piece: np.ndarray, business: np.ndarray, late: np.ndarray, login: np.ndarray):
    return ((piece * 2 + business) * (MAX_COUNT + 1) + late) * (MAX_COUNT + 1) + login


class _HazardPath:
    """Each customer's piecewise-constant churn hazard, from start to the end of the data.

    The log hazard changes at the start (baseline x segment), at each baseline breakpoint and
    at each bad experience (x its hazard ratio); between changes it is constant. Rows are sorted
    by (customer, time); row i holds the state from ``t[i]`` to the customer's next row.
    """

    def __init__(
        self,
        p: DemoParameters,
        start: np.ndarray,
        business: np.ndarray,
        late_owner: np.ndarray,
        late_t: np.ndarray,
        login_owner: np.ndarray,
        login_t: np.ndarray,
    ):
        n = len(start)
        self.n, self.horizon, self.business = n, p.horizon, business
        per_second = [(day * DAY, h / (p.cycle_days * DAY)) for day, h in p.baseline_hazard]
        self.pieces = len(per_second)
        segment_hr = np.where(business, p.segment_hazard_ratios["business"], 1.0)
        owners, times = [np.arange(n)], [start]
        kinds = [np.zeros(n, dtype=np.int64)]
        deltas = [np.log(per_second[0][1] * segment_hr)]
        pieces = zip(per_second[1:], per_second[:-1], strict=True)
        for piece, ((offset, rate), (_, previous)) in enumerate(pieces, start=1):
            owners.append(np.arange(n))
            times.append(start + int(offset))
            kinds.append(np.full(n, piece))
            deltas.append(np.full(n, np.log(rate / previous)))
        self.late_kind, self.login_kind = self.pieces, self.pieces + 1
        owners += [late_owner, login_owner]
        times += [late_t, login_t]
        kinds += [np.full(len(late_t), self.late_kind), np.full(len(login_t), self.login_kind)]
        deltas += [
            np.full(len(late_t), np.log(p.hazard_ratios["delivery_late"])),
            np.full(len(login_t), np.log(p.hazard_ratios["login_failed"])),
        ]
        owner = np.concatenate(owners)
        t = np.concatenate(times).astype(np.int64)
        order = np.argsort(owner * STRIDE + t, kind="stable")
        self.owner, self.t = owner[order], t[order]
        self.kind = np.concatenate(kinds)[order]
        self.first_row = np.searchsorted(self.owner, np.arange(n), side="left")
        self.sizes = np.diff(np.append(self.first_row, len(self.owner)))
        self.rate = np.exp(self._group_cumsum(np.concatenate(deltas)[order]))
        same_next = np.append(self.owner[1:] == self.owner[:-1], False)
        self.next_t = np.where(same_next, np.append(self.t[1:], 0), np.iinfo(np.int64).max // 4)

    def _group_cumsum(self, values: np.ndarray) -> np.ndarray:
        total = np.cumsum(values)
        return total - np.repeat(total[self.first_row] - values[self.first_row], self.sizes)

    def churn_times(self, draw: np.ndarray) -> np.ndarray:
        """First moment the cumulative hazard reaches ``draw``; beyond the horizon: no churn."""
        seg_len = np.maximum(np.minimum(self.next_t, self.horizon) - self.t, 0).astype(np.float64)
        cum = self._group_cumsum(self.rate * seg_len)
        crossed = np.flatnonzero(cum >= draw[self.owner])
        churn = np.full(self.n, np.iinfo(np.int64).max // 4, dtype=np.int64)
        if crossed.size:
            who, first = np.unique(self.owner[crossed], return_index=True)
            row = crossed[first]
            used_before = cum[row] - self.rate[row] * seg_len[row]
            exact = self.t[row] + (draw[who] - used_before) / self.rate[row]
            # +1 s: strictly after the exposure that opened the interval
            churn[who] = np.floor(exact).astype(np.int64) + 1
        return churn

    def exposure_cells(self, churn_t: np.ndarray, until: int) -> tuple[np.ndarray, np.ndarray]:
        """Observed days at risk and churns per (piece, business, n_late, n_login) cell.

        Observation runs from the start to the churn or ``until``, as the data shows it.
        """
        piece = self._group_cumsum(((self.kind > 0) & (self.kind < self.pieces)).astype(np.int64))
        n_late = self._group_cumsum((self.kind == self.late_kind).astype(np.int64))
        n_login = self._group_cumsum((self.kind == self.login_kind).astype(np.int64))
        cell = _cell_index(
            piece,
            self.business[self.owner],
            np.minimum(n_late, MAX_COUNT),
            np.minimum(n_login, MAX_COUNT),
        )
        stop = np.minimum(churn_t, until)[self.owner]
        days = np.maximum(np.minimum(self.next_t, stop) - np.minimum(self.t, stop), 0) / DAY
        size = self.pieces * 2 * (MAX_COUNT + 1) ** 2
        exposure = np.bincount(cell, weights=days, minlength=size)
        churned = np.flatnonzero(churn_t <= until)
        key = self.owner * STRIDE + self.t
        row = np.searchsorted(key, churned * STRIDE + churn_t[churned], side="left") - 1
        events = np.bincount(cell[row], minlength=size)
        return exposure, events


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    digits = pc.utf8_lpad(pa.array(numbers, pa.int64()).cast(pa.string()), width, padding="0")
    return pc.binary_join_element_wise(prefix, digits, "")


def _timestamps(p: DemoParameters, seconds: np.ndarray) -> pa.Array:
    epoch = int(p.data_start.timestamp())
    return pa.array((seconds + epoch) * 1_000_000, type=pa.timestamp("us", tz="UTC"))


def _strings(values: list[str] | tuple[str, ...], codes: np.ndarray) -> pa.Array:
    """values[code], null where code < 0."""
    codes = np.asarray(codes)
    mask = codes < 0
    indices = pa.array(np.where(mask, 0, codes), pa.int32(), mask=mask)
    return pc.take(pa.array(list(values), pa.string()), indices)


# -- feedback ----------------------------------------------------------------------------------
def _feedback(
    rng: np.random.Generator,
    p: DemoParameters,
    first_response: int,
    e_owner: np.ndarray,
    e_t: np.ndarray,
    e_tp: np.ndarray,
    e_number: np.ndarray,
    e_prop: np.ndarray,
    mood: np.ndarray,
    dutch: np.ndarray,
    life_end: np.ndarray,
    late_key: np.ndarray,
    login_key: np.ndarray,
) -> tuple[dict[str, np.ndarray], pa.Table, dict]:
    horizon = p.horizon
    parts: list[dict[str, np.ndarray]] = []

    def survey(mask: np.ndarray, rate: float, metric: int, lag: tuple[float, float]) -> None:
        rows = np.flatnonzero(mask)
        rows = rows[rng.random(len(rows)) < rate]
        ts = e_t[rows] + rng.integers(int(lag[0]), int(lag[1]), len(rows))
        owner = e_owner[rows]
        ok = (ts < life_end[owner]) & (ts < horizon)
        parts.append(
            {
                "row": rows[ok],
                "owner": owner[ok],
                "ts": ts[ok],
                "metric": np.full(int(ok.sum()), metric),
            }
        )

    is_delivery = (e_tp == CODE["delivery"]) | (e_tp == CODE["delivery_late"])
    survey(is_delivery, p.csat_response_rate, CSAT, (2 * HOUR, 72 * HOUR))
    # relationship NPS: a week or so after each billed box (quarterly) and each extra order
    extra_order = (e_tp == CODE["order_placed"]) & (e_prop >= PROPERTY_BASE["order_placed"] + 6)
    survey(
        (e_tp == CODE["invoice_sent"]) | extra_order, p.nps_response_rate, NPS, (5 * DAY, 12 * DAY)
    )
    survey(e_tp == CODE["support_call"], p.ces_response_rate, CES, (10 * MINUTE, 24 * HOUR))
    survey(e_tp == CODE["review_written"], 1.0, RATING, (0, 1))
    f = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
    count = len(f["ts"])

    owner, ts, metric, row = f["owner"], f["ts"], f["metric"], f["row"]
    late_180 = np.minimum(_count_before(late_key, owner, ts, 180 * DAY), 3)
    login_180 = np.minimum(_count_before(login_key, owner, ts, 180 * DAY), 3)
    login_30 = _count_before(login_key, owner, ts, 30 * DAY) > 0
    late_30 = _count_before(late_key, owner, ts, 30 * DAY) > 0
    this_late = (metric == CSAT) & (e_tp[row] == CODE["delivery_late"])
    noise = rng.standard_normal(count)
    m = mood[owner]
    latent = np.select(
        [metric == CSAT, metric == NPS, metric == CES],
        [
            4.4 + 0.45 * m - 2.3 * this_late + 0.75 * noise,
            8.6 + 0.8 * m - 1.8 * late_180 - 1.3 * login_180 + 1.0 * noise,
            5.6 + 0.5 * m - 2.4 * login_30 + 1.0 * noise,
        ],
        4.2 + 0.6 * m - 0.9 * late_180 - 0.6 * login_180 + 0.8 * noise,
    )
    lo = np.select([metric == NPS], [0], 1)
    hi = np.select([metric == CSAT, metric == NPS, metric == CES], [5, 10, 7], 5)
    score = np.clip(np.rint(latent), lo, hi)

    # tone of the answer: negative / neutral / positive on each scale
    negative = np.select(
        [metric == CSAT, metric == NPS, metric == CES],
        [score <= 2, score <= 6, score <= 3],
        score <= 2,
    )
    neutral = (
        np.select(
            [metric == CSAT, metric == NPS, metric == CES],
            [score == 3, score <= 8, score == 4],
            score == 3,
        )
        & ~negative
    )
    tone = np.where(
        negative, cm.TONE_NEGATIVE, np.where(neutral, cm.TONE_NEUTRAL, cm.TONE_POSITIVE)
    )
    comment_p = np.where(negative, 0.6, np.where(neutral, 0.45, 0.38))
    comment_p = np.where(metric == RATING, p.review_comment_rate, comment_p)
    has_comment = rng.random(count) < comment_p

    # what the comment is about: the customer's own recent trouble, else the background
    late_cause = np.select([metric == CSAT, metric == CES], [this_late, late_30], late_180 > 0)
    login_cause = np.select([metric == CSAT, metric == CES], [False, login_30], login_180 > 0)
    theme, second = _choose_themes(rng, metric, tone, late_cause, login_cause, p.second_theme_share)
    rows_with = np.flatnonzero(has_comment)
    texts = cm.render_comments(
        rng,
        theme[rows_with],
        second[rows_with],
        dutch[owner[rows_with]].astype(np.int8),
        tone[rows_with],
    )
    comment = np.full(count, None, dtype=object)
    comment[rows_with] = texts

    order = np.lexsort((metric, ts, owner))
    out = {
        "owner": owner[order],
        "ts": ts[order],
        "metric": metric[order],
        "score": score[order],
        "comment": comment[order],
        "number": first_response + np.arange(count, dtype=np.int64),
        "language": dutch[owner[order]].astype(np.int64),
        # the relationship survey (NPS) is about the whole relationship, not one event
        "touchpoint": np.where(metric == NPS, -1, e_tp[row])[order],
        "event": np.where(metric == NPS, -1, e_number[row])[order],
    }
    theme_o = np.where(has_comment, theme, -1)[order]
    second_o = np.where(has_comment, second, -1)[order]
    ids = _ids("R", out["number"], RESPONSE_ID_WIDTH)
    with_comment = theme_o >= 0
    comment_truth = pa.table(
        {
            "response_id": ids.filter(pa.array(with_comment)),
            "theme": _strings(cm.THEME_NAMES, theme_o[with_comment]),
            "second_theme": _strings(cm.THEME_NAMES, second_o[with_comment]),
        }
    )
    lang = dutch[owner[order]].astype(np.int64)
    stats = {
        "feedback_by_metric": np.bincount(metric, minlength=4),
        "comments_by_metric": np.bincount(metric[has_comment], minlength=4),
        # themes x language (en, nl), primary theme only
        "themes": np.bincount(
            theme_o[with_comment] * 2 + lang[with_comment], minlength=2 * len(cm.THEMES)
        ).reshape(-1, 2),
        "second_themes": np.bincount(second_o[second_o >= 0], minlength=len(cm.THEMES)),
        "detractor_themes": np.bincount(
            theme_o[with_comment & (out["metric"] == NPS) & (out["score"] <= 6)],
            minlength=len(cm.THEMES),
        ),
        # mean score by exposure, for the truth file
        "csat_sum_late": np.bincount(
            this_late.astype(int), weights=score * (metric == CSAT), minlength=2
        ),
        "csat_n_late": np.bincount(
            this_late.astype(int), weights=(metric == CSAT).astype(float), minlength=2
        ),
    }
    return out, comment_truth, stats


def _choose_themes(
    rng: np.random.Generator,
    metric: np.ndarray,
    tone: np.ndarray,
    late_cause: np.ndarray,
    login_cause: np.ndarray,
    second_share: float,
) -> tuple[np.ndarray, np.ndarray]:
    c = cm.THEME_CODE
    n = len(metric)
    r1, r2, r3, r4 = (rng.random(n) for _ in range(4))
    unhappy = tone != cm.TONE_POSITIVE
    strength = np.where(tone == cm.TONE_NEGATIVE, 0.85, 0.65)  # how often the cause is named
    background = np.where(
        tone == cm.TONE_NEGATIVE,
        np.where(r2 < 0.5, c["price"], c["product_quality"]),
        np.select([r2 < 0.45, r2 < 0.8], [c["price"], c["product_quality"]], c["product_praise"]),
    )
    both = late_cause & login_cause
    cause = np.where(
        both,
        np.where(r3 < 0.6, c["late_delivery"], c["login_problem"]),
        np.where(late_cause, c["late_delivery"], c["login_problem"]),
    )
    has_cause = late_cause | login_cause
    negative_theme = np.where(has_cause & (r1 < strength), cause, background)
    positive_theme = np.select(
        [metric == CSAT, metric == CES],
        [
            np.select(
                [r2 < 0.6, r2 < 0.9],
                [c["fast_delivery"], c["product_praise"]],
                c["friendly_service"],
            ),
            np.where(r2 < 0.85, c["friendly_service"], c["product_praise"]),
        ],
        np.select(
            [r2 < 0.35, r2 < 0.65], [c["friendly_service"], c["fast_delivery"]], c["product_praise"]
        ),
    )
    theme = np.where(unhappy, negative_theme, positive_theme)
    # sometimes a second sentence on another theme of the same kind
    other_negative = np.where(theme == c["price"], c["product_quality"], c["price"])
    positives = np.array([c["friendly_service"], c["fast_delivery"], c["product_praise"]])
    other_positive = positives[
        (np.searchsorted(positives, theme, sorter=None) + 1 + (r3 < 0.5)) % 3
    ]
    other = np.where(unhappy, other_negative, other_positive)
    second = np.where(r4 < second_share, other, -1)
    return theme, second


# -- tables ------------------------------------------------------------------------------------
LIFETIME_COLUMNS = ("churned_at", "last_seen")


def _customer_table(
    ids: pa.Array,
    start: np.ndarray,
    business: np.ndarray,
    dutch: np.ndarray,
    plan: np.ndarray,
    region: np.ndarray,
    converted: np.ndarray,
    p: DemoParameters,
) -> pa.Table:
    attributes = [
        json.dumps({"plan": plan_name, "region": region_name})
        for plan_name in (*PLANS, None)
        for region_name in REGIONS
    ]
    plan_code = np.where(converted, plan, len(PLANS))
    value = np.where(converted, PLAN_PRICE_ARRAY[plan], 0.0)
    return pa.table(
        {
            "customer_id": ids,
            "first_seen": _timestamps(p, start),
            "segment": _strings(SEGMENTS, business.astype(np.int64)),
            "language": _strings(LANGUAGES, dutch.astype(np.int64)),
            "value": pa.array(value, pa.float64()),
            "attributes": _strings(attributes, plan_code * len(REGIONS) + region),
        },
        schema=customer_schema(),
    )


def _event_table(
    customer_ids: pa.Array,
    owner: np.ndarray,
    t: np.ndarray,
    tp: np.ndarray,
    value: np.ndarray,
    prop: np.ndarray,
    number: np.ndarray,
    p: DemoParameters,
) -> pa.Table:
    return pa.table(
        {
            "event_id": _ids("E", number, EVENT_ID_WIDTH),
            "customer_id": pc.take(customer_ids, pa.array(owner)),
            "ts": _timestamps(p, t),
            "touchpoint": _strings(TOUCHPOINT_NAMES, tp),
            "channel": _strings(CHANNEL_OF, tp),
            "value": pa.array(value, pa.float64(), mask=np.isnan(value)),
            "properties": _strings(PROPERTY_JSON, prop),
        },
        schema=arrow_schema(schema.EVENTS),
    )


def _feedback_table(
    customer_ids: pa.Array, f: dict[str, np.ndarray], p: DemoParameters
) -> pa.Table:
    event = f["event"]
    return pa.table(
        {
            "response_id": _ids("R", f["number"], RESPONSE_ID_WIDTH),
            "customer_id": pc.take(customer_ids, pa.array(f["owner"])),
            "ts": _timestamps(p, f["ts"]),
            "metric": _strings(METRICS, f["metric"]),
            "score": pa.array(f["score"], pa.float64()),
            "comment": pa.array(f["comment"].tolist(), pa.string()),
            "language": _strings(LANGUAGES, f["language"]),
            "touchpoint": _strings(TOUCHPOINT_NAMES, f["touchpoint"]),
            "event_id": pc.if_else(
                pa.array(event >= 0), _ids("E", np.maximum(event, 0), EVENT_ID_WIDTH), None
            ),
            "survey_id": _strings(SURVEYS, f["metric"]),
        },
        schema=arrow_schema(schema.FEEDBACK),
    )


def customer_schema() -> pa.Schema:
    """The demo is an event log, not a CRM export: its customers have no lifetime columns."""
    return pa.schema([f for f in arrow_schema(schema.CUSTOMERS) if f.name not in LIFETIME_COLUMNS])


def arrow_schema(spec: schema.TableSpec) -> pa.Schema:
    """The canonical table as an Arrow schema (UTC microsecond timestamps)."""
    return spec.schema.to_pyarrow()


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
        "feedback": arrow_schema(schema.FEEDBACK),
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
