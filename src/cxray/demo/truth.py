"""The ground truth of a demo: what was planted, and what came out of it.

``ground_truth`` turns the parameters and the counts gathered while simulating into the JSON
written beside the data (``ground_truth.json``), so that analyses can be checked against it.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from cxray.demo import comments as cm
from cxray.demo.company import (
    CHURN_TOUCHPOINT,
    DAY,
    LANGUAGES,
    REGIONS,
    TOUCHPOINT_NAMES,
    DemoParameters,
)

PHASES = ("awareness", "consideration", "conversion", "loyalty", "advocacy")
METRICS = ("csat", "nps", "ces", "rating")
SURVEYS = ("csat-delivery", "nps-relationship", "ces-support", "reviews")
MAX_COUNT = 31  # exposure counts above this share a cell in the sample estimate (never reached)


def exit_counts(
    start: np.ndarray,
    last_t: np.ndarray,
    last_tp: np.ndarray,
    cancel_t: np.ndarray,
    data_end: int,
    inactive_days: int,
) -> dict[str, np.ndarray | int]:
    """Churn as cxray.analysis.lifetimes defines it, and the touchpoint each churner left after.

    A customer churned at their cancellation, or else at their last activity when that lies
    ``inactive_days`` or more before the data end; only churn up to ``data_end - inactive_days``
    is observed. The exit touchpoint is the last activity at or before the churn moment.
    """
    until = data_end - inactive_days * DAY
    explicit = (cancel_t >= 0) & (cancel_t <= until)
    inactive = (cancel_t < 0) & (last_t + inactive_days * DAY <= data_end)
    churned = explicit | inactive
    return {
        "exit_touchpoints": np.bincount(last_tp[churned], minlength=len(TOUCHPOINT_NAMES)),
        "observed_churn_cancel": int(explicit.sum()),
        "observed_churn_inactive": int(inactive.sum()),
        "judged": int((start <= until).sum()),
    }


def sample_estimates(p: DemoParameters, exposure: np.ndarray, events: np.ndarray) -> dict:
    """The planted model fitted on this sample: piecewise-exponential Poisson with log exposure.

    It is the exact model (baseline pieces as planted, per-occurrence counts, segment), so a
    correct analysis of the data should land close to these numbers.
    """
    import statsmodels.api as sm

    used = np.flatnonzero(exposure > 0)
    piece, rest = np.divmod(used, 2 * (MAX_COUNT + 1) ** 2)
    business, rest = np.divmod(rest, (MAX_COUNT + 1) ** 2)
    late, login = np.divmod(rest, MAX_COUNT + 1)
    columns = [np.ones(len(used))]
    names = ["baseline"]
    for k in range(1, len(p.baseline_hazard)):
        columns.append((piece == k).astype(float))
        names.append(f"piece_{k}")
    columns += [business.astype(float), late.astype(float), login.astype(float)]
    names += ["business", "delivery_late", "login_failed"]
    design = np.column_stack(columns)
    fit = sm.GLM(
        events[used], design, family=sm.families.Poisson(), offset=np.log(exposure[used])
    ).fit()
    low, high = fit.conf_int().T
    ratios = {
        name: {
            "estimate": round(float(np.exp(fit.params[i])), 4),
            "ci_low": round(float(np.exp(low[i])), 4),
            "ci_high": round(float(np.exp(high[i])), 4),
        }
        for i, name in enumerate(names)
        if name in ("business", "delivery_late", "login_failed")
    }
    baseline = [float(np.exp(fit.params[0]) * p.cycle_days)]
    baseline += [
        baseline[0] * float(np.exp(fit.params[k])) for k in range(1, len(p.baseline_hazard))
    ]
    return {
        "method": (
            "piecewise-exponential Poisson model on this sample's exact counting process "
            "(baseline pieces as planted, per-occurrence counts, segment), 95% Wald intervals"
        ),
        "hazard_ratios": {k: ratios[k] for k in ("delivery_late", "login_failed")},
        "segment_hazard_ratios": {"business": ratios["business"]},
        "baseline_hazard_per_30_days": [round(b, 4) for b in baseline],
        "churns": int(events.sum()),
        "days_at_risk": round(float(exposure.sum()), 1),
    }


def ground_truth(p: DemoParameters, seed: int, stats: dict, counts: dict[str, int]) -> dict:
    """The planted world and what came out of it, JSON-ready."""
    exits = {
        name: int(c)
        for name, c in zip(TOUCHPOINT_NAMES, stats["exit_touchpoints"], strict=True)
        if c
    }
    exits = dict(sorted(exits.items(), key=lambda kv: -kv[1]))
    planted = set(p.hazard_ratios) | {CHURN_TOUCHPOINT}
    themes_total = stats["themes"].sum()
    theme_info = {}
    for code, theme in enumerate(cm.THEMES):
        by_lang = stats["themes"][code]
        theme_info[theme.name] = {
            "trigger": theme.trigger,
            "sentiment": theme.sentiment,
            "label": theme.label,
            "languages": [lang for lang, c in zip(LANGUAGES, by_lang, strict=True) if c],
            "comments": {lang: int(c) for lang, c in zip(LANGUAGES, by_lang, strict=True)},
            "share_of_comments": round(float(by_lang.sum() / max(themes_total, 1)), 4),
            "also_as_second_theme": int(stats["second_themes"][code]),
            "phrases_per_language": {lang: len(theme.phrases[lang]) for lang in LANGUAGES},
        }
    detractor = stats["detractor_themes"]
    csat_mean = stats["csat_sum_late"] / np.maximum(stats["csat_n_late"], 1)
    return {
        "generator": "cxray demo",
        "seed": seed,
        "customers": int(stats["customers"]),
        "data_start": p.data_start.isoformat(),
        "data_end": p.data_end.isoformat(),
        "data_end_observed": stats["data_end_observed"].isoformat(),
        "observed_until": (
            stats["data_end_observed"] - dt.timedelta(days=p.inactive_days)
        ).isoformat(),
        "journey": {
            "template": "five-phase",
            "churn_touchpoints": [CHURN_TOUCHPOINT],
            "inactive_days": p.inactive_days,
        },
        "churn_model": {
            "form": (
                "hazard(t) = baseline(t) * product over bad touchpoints of "
                "hazard_ratio ** (occurrences so far) * segment hazard ratio; "
                "t = days since the customer's start (first_seen = first event)"
            ),
            "time_scale": "days since first_seen",
            "baseline_hazard_per_30_days": [
                {"from_day": day, "hazard": h} for day, h in p.baseline_hazard
            ],
            "exposure_coding": (
                "per occurrence, time-varying: each late delivery or failed login multiplies the "
                "hazard again from the moment of the event; nothing before it is affected"
            ),
            "hazard_ratios": dict(p.hazard_ratios),
            "hazard_ratios_adjusted_for": ["segment"],
            "segment_reference": "consumer",
            "segment_hazard_ratios": dict(p.segment_hazard_ratios),
            "null_touchpoints": [n for n in TOUCHPOINT_NAMES if n not in planted],
            "applies_to": "every customer, prospects and subscribers alike",
            "confounding": (
                "business customers churn less (segment HR) and get fewer late deliveries but "
                "more failed logins, so unadjusted hazard ratios are biased; adjust for segment"
            ),
            "artefacts": [
                f"after a late delivery ({p.quiet_days['delivery_late']:g} days) or a failed "
                f"login ({p.quiet_days['login_failed']:g} days) the customer's own engagement "
                "(site_visit, product_viewed, newsletter_open, ad_click, review_written, "
                "referral_sent, extra orders) pauses, and after a late box the next box is "
                f"skipped with probability {p.skip_after_late:g}; these touchpoints have no "
                "effect of their own (null given the bad-experience counts), but unadjusted "
                "for those counts they can look slightly protective",
                "prospects who leave send no cancellation: they have one last look (site_visit, "
                "product_viewed, newsletter_open or ad_click) at the moment they leave, so the "
                "inactivity rule dates their churn exactly at that last activity; count "
                "exposures strictly before the churn moment",
                f"subscribers get a box (delivery or delivery_late) every {p.cycle_days:g} days "
                f"unless skipped, and an invoice_sent every {p.invoice_every_cycles} boxes, so "
                "these counts track time since subscribing, not churn",
                "restricting an analysis to customers who subscribed conditions on the future "
                "(time before subscribing is survived by definition): use all customers",
            ],
        },
        "sample_estimates": sample_estimates(p, stats["cell_exposure"], stats["cell_churns"]),
        "top_exit_touchpoint": "delivery_late",
        "exit_touchpoints": exits,
        "late_delivery_probability": {
            "by_region": dict(zip(REGIONS, p.late_probability, strict=True)),
            "business_factor": p.business_late_factor,
        },
        "login_failures_per_30_days": dict(p.login_failure_rate),
        "feedback": {
            "surveys": {
                "csat-delivery": "CSAT 1-5, 2-72 h after a delivery; touchpoint and event_id set",
                "nps-relationship": (
                    "NPS 0-10, 5-12 days after a billed box (quarterly) or an extra order; "
                    "about the relationship, so not tied to an event"
                ),
                "ces-support": "CES 1-7 (7 = very easy), after a support call; tied to the call",
                "reviews": "rating 1-5 with the review_written event; tied to it",
            },
            "score_model": {
                "csat": "4.4 + 0.45 mood - 2.3 [this delivery late] + N(0, 0.75), rounded, 1-5",
                "nps": (
                    "8.6 + 0.8 mood - 1.8 min(late deliveries in last 180 d, 3) "
                    "- 1.3 min(failed logins in last 180 d, 3) + N(0, 1), rounded, 0-10"
                ),
                "ces": "5.6 + 0.5 mood - 2.4 [failed login in last 30 d] + N(0, 1), 1-7",
                "rating": (
                    "4.2 + 0.6 mood - 0.9 min(late 180 d, 3) - 0.6 min(logins 180 d, 3) "
                    "+ N(0, 0.8), 1-5"
                ),
                "mood": "a per-customer N(0, 1) disposition; it has no effect on churn",
            },
            "csat_mean": {
                "on_time": round(float(csat_mean[0]), 3),
                "late": round(float(csat_mean[1]), 3),
            },
            "nps_key_drivers": {
                "drivers": [
                    {
                        "rank": 1,
                        "touchpoints": ["delivery", "delivery_late"],
                        "metric": "csat",
                        "cause": "delivery_late",
                        "nps_points_per_occurrence_in_180_days": -1.8,
                    },
                    {
                        "rank": 2,
                        "touchpoints": ["support_call"],
                        "metric": "ces",
                        "cause": "login_failed",
                        "nps_points_per_occurrence_in_180_days": -1.3,
                    },
                ],
                "note": (
                    "NPS and the touchpoint ratings share causes (late deliveries, failed "
                    "logins) and a per-customer mood; review ratings are overall judgments with "
                    "the same causes as NPS, not a touchpoint experience"
                ),
            },
            "responses_by_metric": {
                m: int(c) for m, c in zip(METRICS, stats["feedback_by_metric"], strict=True)
            },
            "comments_by_metric": {
                m: int(c) for m, c in zip(METRICS, stats["comments_by_metric"], strict=True)
            },
        },
        "themes": theme_info,
        "detractor_themes": {
            theme.name: int(c) for theme, c in zip(cm.THEMES, detractor, strict=True) if c
        },
        "funnel": {
            "phase_reach": {ph: int(c) for ph, c in zip(PHASES, stats["phase_reach"], strict=True)},
            "subscribed": stats["converted"],
            "account_only_share_of_intending": p.account_only_share,
        },
        "churn_within_100_days_share": round(
            stats["churned_in_100_days"] / max(stats["seen_100_days"], 1), 4
        ),
        "counts": {
            **counts,
            "events_by_touchpoint": {
                name: int(c)
                for name, c in zip(TOUCHPOINT_NAMES, stats["events_by_touchpoint"], strict=True)
            },
            "business_customers": stats["business"],
            "dutch_customers": stats["dutch"],
            "judged_customers": stats["judged"],
            "churn_within_data": stats["churn_within_data"],
            "cancelled": stats["cancelled"],
            "observed_churn": {
                "cancellation": stats["observed_churn_cancel"],
                "inactivity": stats["observed_churn_inactive"],
            },
        },
    }
