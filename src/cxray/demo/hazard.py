"""Each customer's churn hazard along their timeline: the planted causes as exposure cells."""

from __future__ import annotations

import numpy as np

from cxray.demo.company import (
    DAY,
    DemoParameters,
)
from cxray.demo.draws import STRIDE
from cxray.demo.truth import MAX_COUNT


def cell_index(piece: np.ndarray, business: np.ndarray, late: np.ndarray, login: np.ndarray):
    return ((piece * 2 + business) * (MAX_COUNT + 1) + late) * (MAX_COUNT + 1) + login


class HazardPath:
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
        cell = cell_index(
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
