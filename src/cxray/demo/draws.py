"""Small vectorised draws the demo generator builds its timelines from."""

from __future__ import annotations

import numpy as np

from cxray.demo.company import (
    DAY,
)

STRIDE = 1 << 28  # seconds; > the horizon plus any breakpoint, so owner * STRIDE + t sorts by owner
HOUR = 3_600
MINUTE = 60


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
