"""The truth bookkeeping: churn and exit touchpoints counted the way cxray defines them."""

from __future__ import annotations

import numpy as np

from cxray.demo.company import CODE, DAY, DemoParameters
from cxray.demo.truth import exit_counts, sample_estimates


def test_exit_counts_follow_the_lifetimes_definition():
    end = 400 * DAY
    # a: cancelled inside the window; b: cancelled after it (censored); c: quiet for 150 days
    # (inactivity churn); d: quiet for only 60 days (still active); e: started too late to judge
    start = np.array([0, 0, 0, 0, 390 * DAY])
    last_t = np.array([100, 350, 250, 340, 395]) * DAY
    last_tp = np.array(
        [
            CODE["delivery_late"],
            CODE["delivery"],
            CODE["site_visit"],
            CODE["ad_click"],
            CODE["ad_click"],
        ]
    )
    cancel_t = np.array([101 * DAY, 351 * DAY, -1, -1, -1])
    counts = exit_counts(start, last_t, last_tp, cancel_t, data_end=end, inactive_days=120)
    exits = counts["exit_touchpoints"]
    assert exits[CODE["delivery_late"]] == 1 and exits[CODE["site_visit"]] == 1
    assert exits.sum() == 2
    assert counts["observed_churn_cancel"] == 1 and counts["observed_churn_inactive"] == 1
    assert counts["judged"] == 4


def test_sample_estimates_recover_rates_from_cells():
    p = DemoParameters()
    size = len(p.baseline_hazard) * 2 * 32 * 32
    exposure, events = np.zeros(size), np.zeros(size)
    # cells (piece, business, late, login): hazards exactly as planted, large exposure
    for piece, (_, base) in enumerate(p.baseline_hazard):
        for business in (0, 1):
            for late in range(3):
                for login in range(2):
                    rate = base / 30 * 2.0**late * 1.5**login * (0.7 if business else 1.0)
                    cell = ((piece * 2 + business) * 32 + late) * 32 + login
                    exposure[cell] = 1e7
                    events[cell] = round(rate * 1e7)
    result = sample_estimates(p, exposure, events)
    assert abs(result["hazard_ratios"]["delivery_late"]["estimate"] - 2.0) < 0.01
    assert abs(result["hazard_ratios"]["login_failed"]["estimate"] - 1.5) < 0.01
    assert abs(result["segment_hazard_ratios"]["business"]["estimate"] - 0.7) < 0.01
    assert np.allclose(
        result["baseline_hazard_per_30_days"], [h for _, h in p.baseline_hazard], rtol=0.01
    )
