"""The demo company: a webshop selling a monthly subscription box, and its simulation's knobs.

Everything the generator plants is a field of `DemoParameters`, so the ground truth written beside
the data is read from the same object that drove the simulation.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


@dataclass(frozen=True)
class TouchpointSpec:
    name: str
    phase: str
    channel: str
    owner: str
    bad_experience: bool = False
    moment_of_truth: bool = False


# Alphabetical, so that a touchpoint's code orders like its name: ties in time are then broken
# the way analyses break them, by (ts, touchpoint, event_id).
TOUCHPOINTS: tuple[TouchpointSpec, ...] = (
    TouchpointSpec("account_created", "conversion", "web", "sales"),
    TouchpointSpec("ad_click", "awareness", "social", "marketing"),
    TouchpointSpec("delivery", "loyalty", "logistics", "logistics", moment_of_truth=True),
    TouchpointSpec(
        "delivery_late",
        "loyalty",
        "logistics",
        "logistics",
        bad_experience=True,
        moment_of_truth=True,
    ),
    TouchpointSpec("invoice_sent", "loyalty", "email", "billing"),
    TouchpointSpec("login_failed", "loyalty", "web", "it", bad_experience=True),
    TouchpointSpec("newsletter_open", "awareness", "email", "marketing"),
    TouchpointSpec("order_placed", "conversion", "web", "sales", moment_of_truth=True),
    TouchpointSpec("product_viewed", "consideration", "web", "ecommerce"),
    TouchpointSpec("referral_sent", "advocacy", "email", "marketing"),
    TouchpointSpec("review_written", "advocacy", "web", "marketing"),
    TouchpointSpec("site_visit", "consideration", "web", "ecommerce"),
    TouchpointSpec("subscription_cancelled", "loyalty", "web", "service"),
    TouchpointSpec("support_call", "loyalty", "phone", "service", moment_of_truth=True),
)
TOUCHPOINT_NAMES: tuple[str, ...] = tuple(tp.name for tp in TOUCHPOINTS)
CODE: dict[str, int] = {name: i for i, name in enumerate(TOUCHPOINT_NAMES)}
CHURN_TOUCHPOINT = "subscription_cancelled"

SEGMENTS = ("consumer", "business")
LANGUAGES = ("en", "nl")
REGIONS = ("north", "east", "south", "west")
PLANS = ("basic", "plus", "business")
PLAN_PRICE = {"basic": 19.95, "plus": 29.95, "business": 59.95}
CARRIERS = ("ParcelNorth", "Bezorgdienst Oost", "ZuidExpress", "WestPost")  # one per region
CAMPAIGNS = ("spring-sale", "summer-box", "autumn-deals", "winter-gifts", "referral-bonus")

DAY = 86_400  # seconds


DATA_START = dt.datetime(2024, 7, 1, tzinfo=dt.UTC)
DATA_END = dt.datetime(2026, 6, 30, 23, 59, 59, tzinfo=dt.UTC)  # fixed: no clock is read


@dataclass(frozen=True)
class DemoParameters:
    """The planted world. Rates are per 30 days unless the name says otherwise."""

    data_start: dt.datetime = DATA_START
    data_end: dt.datetime = DATA_END
    inactive_days: int = 120
    acquisition_growth: float = 1.0  # sign-ups in the last month are (1 + this) x the first month's

    business_share: float = 0.2
    dutch_share: float = 0.6
    region_shares: tuple[float, ...] = (0.25, 0.2, 0.25, 0.3)  # REGIONS order
    plus_share: float = 0.35  # of consumers; business customers take the business plan

    # Funnel: who ever intends to subscribe, and how long they look around first.
    conversion_share: float = 0.85
    account_only_share: float = 0.12  # of those: register but never subscribe
    same_day_conversion_share: float = 0.4
    conversion_delay_days: float = 20.0  # mean, exponential, for the others

    # Churn: hazard(t) = baseline(t) * HR_late ** n_late(t) * HR_login ** n_login(t) * HR_segment,
    # t = days since the customer's start; the same for prospects and subscribers.
    baseline_hazard: tuple[tuple[float, float], ...] = ((0.0, 0.07), (100.0, 0.025))
    hazard_ratios: dict[str, float] = field(
        default_factory=lambda: {"delivery_late": 2.0, "login_failed": 1.5}
    )
    segment_hazard_ratios: dict[str, float] = field(default_factory=lambda: {"business": 0.7})

    # Service quality (the exposures).
    cycle_days: float = 30.0
    late_probability: tuple[float, ...] = (0.35, 0.15, 0.12, 0.12)  # per delivery, REGIONS order
    business_late_factor: float = 0.6  # office deliveries on fixed routes are late less often
    login_failure_rate: dict[str, float] = field(
        default_factory=lambda: {"consumer": 0.06, "business": 0.09}
    )
    invoice_every_cycles: int = 3  # billed quarterly, with the box
    extra_order_rate: float = 0.12
    support_call_rate: float = 0.06
    # Responses to a bad experience. They depend on the past only, so the churn hazard above
    # stays exactly true: the customer goes quiet (no visits, opens, clicks, reviews, referrals,
    # extra orders) for a while, and after a late box often skips the next box.
    quiet_days: dict[str, float] = field(
        default_factory=lambda: {"delivery_late": 45.0, "login_failed": 10.0}
    )
    skip_after_late: float = 0.7

    # Engagement: gaps between a customer's own visits, opens, clicks, reviews (uniform, days),
    # and what follows an on-time box within a few days.
    prospect_gap_days: tuple[float, float] = (7.0, 70.0)
    subscriber_gap_days: tuple[float, float] = (25.0, 110.0)
    prospect_mix: dict[str, float] = field(
        default_factory=lambda: {
            "site_visit": 0.3,
            "product_viewed": 0.3,
            "newsletter_open": 0.2,
            "ad_click": 0.2,
        }
    )
    subscriber_mix: dict[str, float] = field(
        default_factory=lambda: {
            "newsletter_open": 0.38,
            "site_visit": 0.22,
            "product_viewed": 0.2,
            "ad_click": 0.1,
            "review_written": 0.05,
            "referral_sent": 0.05,
        }
    )
    followup_share: float = 0.8
    followup_mix: dict[str, float] = field(
        default_factory=lambda: {
            "site_visit": 0.32,
            "product_viewed": 0.32,
            "newsletter_open": 0.24,
            "review_written": 0.06,
            "referral_sent": 0.06,
        }
    )

    # Surveys: response rates per triggering event, and the share of answers with a comment.
    csat_response_rate: float = 0.2
    nps_response_rate: float = 0.3
    ces_response_rate: float = 0.4
    review_comment_rate: float = 0.9
    second_theme_share: float = 0.15

    chunk_customers: int = 50_000  # memory stays bounded; results do not depend on the machine

    @property
    def horizon(self) -> int:
        """Seconds from data_start to data_end."""
        return int((self.data_end - self.data_start).total_seconds())
