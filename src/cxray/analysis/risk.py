"""Who is about to leave: a calibrated churn-risk score per active customer, with its reasons.

**Features** are built in the engine per customer *as of a cutoff* T, from data known strictly
before T (events and feedback with ``ts < T``): per touchpoint the number of events in the last 30
and 90 days and ever, days since the last event, tenure (days since start), bad experiences so far
(events of bad touchpoints plus feedback past the journey's thresholds), the latest score per
feedback metric (latest by time, ties broken by the higher response id; missing answers get the
training mean plus a ``missing`` indicator) and the segment. Churn touchpoints are never features.
Only the small per-customer numeric table comes back to Python: about 3 columns per touchpoint
plus a handful more (for 1M customers and 15 touchpoints about 50 float columns, ~400 MB).

**Who and what is predicted.** Active at T means started at or before T and not churned by T,
with churn exactly as :func:`cxray.analysis.lifetimes.customer_lifetimes` defines it (note that
churn by inactivity is dated at the last activity, so a customer who went quiet just before T and
is later known to have churned then is not active at T). The label is churn in (T, T + horizon];
it is only used where that whole window lies within the observed period (``observed_until``).

**Model** (:class:`ChurnRiskModel`): standardised features and an L2-penalised logistic
regression. Chosen over gradient boosting because (1) its log-loss fit gives calibrated
probabilities without a separate calibration step, which the hold-out checks (Brier score and the
decile table), and (2) its reasons are exact: the contribution of a feature is its coefficient ×
its standardised value (distance from the average customer in the training data). Which of
them become reasons, and the risk bands: see :mod:`cxray.analysis.risk_reasons` (only what raises
this customer's risk, from their own values; bands from fixed probability cut points).
Features are built in :mod:`cxray.analysis.risk_features`.

**Evaluation** (:func:`evaluate_risk`): a time-based hold-out. Train on features at T0 with churn
in (T0, T0 + horizon]; evaluate on the customers active at T1 = T0 + horizon with features at T1 and
churn in (T1, T1 + horizon]. By default T1 = observed_until − horizon, so the evaluation period is
the latest fully observed one and never overlaps the training labels.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from cxray.analysis._common import check_lang, fmt_num, fmt_pct, records
from cxray.analysis.lifetimes import data_end, observed_until
from cxray.analysis.risk_features import (  # noqa: F401  (re-exported)
    MAX_SEGMENTS,
    _feature_touchpoints,
    _scored_metrics,
    _segments,
    _utc,
    active_customers,
    churn_labels,
    customer_features,
    feature_table,
)
from cxray.analysis.risk_reasons import (
    band_cuts,
    bands,
    days_text,
    expected_range,
    reasons,
)
from cxray.i18n import Message
from cxray.results import Column, Result, Table, interval, jsonable

CONFIDENCE = 0.95
Z = float(stats.norm.ppf(0.5 + CONFIDENCE / 2))

RISK_COLUMNS = [
    "customer_id",
    "probability",
    "band",
    "reasons",
    "reasons_nl",
    "reason_keys",
]
CALIBRATION_COLUMNS = [
    "decile",
    "n",
    "mean_predicted",
    "observed",
    "observed_low",
    "observed_high",
]
BANDS = {
    "high": {"en": "high", "nl": "hoog"},
    "medium": {"en": "medium", "nl": "gemiddeld"},
    "low": {"en": "low", "nl": "laag"},
}


# -- model ------------------------------------------------------------------------------------
class ChurnRiskModel:
    """Standardised logistic regression for churn within ``horizon_days`` (scikit-learn style).

    The penalty is strong by default (C = 0.05): with ~50 correlated count features it improved
    hold-out calibration and AUC on the demo data over C = 1.
    ``fit(features, labels)`` takes a numeric frame (a ``customer_id`` column is ignored) and 0/1
    labels; ``predict_proba`` returns an (n, 2) array; ``contributions`` the per-feature
    coefficient × standardised value (log-odds relative to the average training customer).
    """

    def __init__(self, horizon_days: int = 90, C: float = 0.05, max_iter: int = 2000):
        self.horizon_days = horizon_days
        self.C = C
        self.max_iter = max_iter

    def _matrix(self, features: pd.DataFrame) -> pd.DataFrame:
        frame = features.drop(columns=["customer_id"], errors="ignore")
        if hasattr(self, "feature_names_"):
            frame = frame.reindex(columns=self.feature_names_, fill_value=0.0)
        return frame.astype(float)

    def fit(self, features: pd.DataFrame, labels: Any) -> ChurnRiskModel:
        matrix = self._matrix(features)
        y = np.asarray(labels).astype(int)
        if len(np.unique(y)) < 2:
            raise ValueError(
                Message(
                    "need both churned and retained customers to fit a risk model",
                    "er zijn zowel vertrokken als gebleven klanten nodig voor een risicomodel",
                )
            )
        # all-missing columns would be dropped by the imputer: fill them first to keep the layout
        matrix = matrix.fillna({c: 0.0 for c in matrix.columns if matrix[c].isna().all()})
        self.feature_names_ = list(matrix.columns)
        self.pipeline_ = Pipeline(
            [
                ("impute", SimpleImputer(strategy="mean")),
                ("scale", StandardScaler()),
                ("model", LogisticRegression(C=self.C, max_iter=self.max_iter)),
            ]
        ).fit(matrix.to_numpy(), y)
        self.base_rate_ = float(y.mean())
        self.n_train_ = len(y)
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        return self.pipeline_.predict_proba(self._matrix(features).to_numpy())

    def contributions(self, features: pd.DataFrame) -> pd.DataFrame:
        matrix = self._matrix(features).to_numpy()
        imputed = self.pipeline_.named_steps["impute"].transform(matrix)
        scaled = self.pipeline_.named_steps["scale"].transform(imputed)
        coef = self.pipeline_.named_steps["model"].coef_[0]
        return pd.DataFrame(scaled * coef, columns=self.feature_names_)

    def means(self) -> pd.Series:
        """The training mean of each feature: the "average customer" contributions start from."""
        return pd.Series(self.pipeline_.named_steps["scale"].mean_, index=self.feature_names_)


# -- results ----------------------------------------------------------------------------------
@dataclass(repr=False)
class RiskResult(Result):
    """Churn risk per active customer; columns: see ``RISK_COLUMNS``, highest risk first.

    ``expected`` is the sum of the probabilities (how many are expected to leave) and
    ``expected_low``–``expected_high`` its 95% range if each customer leaves with their own
    probability (Poisson-binomial; the model's own uncertainty is not in it).
    """

    frame: pd.DataFrame
    as_of: dt.datetime | None = None
    train_cutoff: dt.datetime | None = None
    horizon_days: int = 90
    n_train: int = 0
    base_rate: float = math.nan
    expected: float = math.nan
    expected_low: int = 0
    expected_high: int = 0

    def display(self) -> Table:
        """Customers from the highest risk down, with the reasons in words."""
        data = self.frame
        if len(data):
            data = data.sort_values("probability", ascending=False, kind="stable")
        columns = [
            Column("customer_id", "text", "customer", "klant"),
            Column("probability", "share", "risk", "risico"),
            Column("band", "text", "band", "band", 8, values=BANDS),
            Column("reasons", "text", "reasons", "redenen", nl_key="reasons_nl"),
        ]
        return Table(data.reset_index(drop=True), columns, noun=("customers", "klanten"))

    @property
    def cuts(self) -> tuple[float, float]:
        return band_cuts(self.base_rate) if 0 < self.base_rate < 1 else (math.nan, math.nan)

    @property
    def how(self) -> str:
        if not self.as_of:
            return "no active customers"
        low, high = self.cuts
        return (
            f"logistic regression on standardised features known before each cutoff, trained on "
            f"{self.n_train} customers active at {self.train_cutoff:%Y-%m-%d} with churn within "
            f"{self.horizon_days} days as label; scored at {self.as_of:%Y-%m-%d}; bands from the "
            f"odds of leaving against the training churn rate ({self.base_rate:.1%}): high at "
            f"twice its odds or more (probability ≥ {high:.1%}), low under half of them "
            f"(< {low:.1%}); reasons = the customer's own values whose contribution "
            "(coefficient × (value − training mean)) raises the log-odds by at least 0.1, "
            "grouped per touchpoint, metric and segment; a good or better-than-average score "
            "is never a reason; expected leavers with a 95% Poisson-binomial range"
        )

    def to_dict(self, rows: bool = True) -> dict[str, Any]:
        """Everything as JSON; ``rows=False`` leaves out the scored customers (a list shows
        its own few, and a million rows take seconds to convert)."""
        low, high = self.cuts
        return {
            "rows": records(self.frame) if rows else [],
            "params": jsonable(
                {
                    "as_of": self.as_of,
                    "train_cutoff": self.train_cutoff,
                    "horizon_days": self.horizon_days,
                    "n_train": self.n_train,
                    "base_rate": self.base_rate,
                    "band_low_below": low,
                    "band_high_from": high,
                    "expected": self.expected,
                    "expected_low": self.expected_low,
                    "expected_high": self.expected_high,
                }
            ),
            "how": self.how,
        }

    def summary(self, lang: str = "en") -> str:
        check_lang(lang)
        if self.frame.empty:
            return (
                "No active customers to score."
                if lang == "en"
                else "Geen actieve klanten om te beoordelen."
            )
        n = fmt_num(len(self.frame), lang)
        high = fmt_num(int((self.frame["band"] == "high").sum()), lang)
        cut = fmt_pct(self.cuts[1], lang, 1 if self.cuts[1] < 0.1 else 0)
        expected = fmt_num(self.expected, lang)
        low_n, high_n = fmt_num(self.expected_low, lang), fmt_num(self.expected_high, lang)
        trained = fmt_num(self.n_train, lang)
        within = days_text(self.horizon_days, lang)
        top = self.frame.iloc[0]
        reasons = top["reasons"] if lang == "en" else top["reasons_nl"]
        chance = _fmt_chance(float(top["probability"]), lang)
        if lang == "en":
            return (
                f"Of {n} active customers, {high} have a high risk (probability {cut} or more) "
                f"of leaving within {within}; about {expected} of the {n} are expected to leave "
                f"(95% range {low_n}–{high_n} if the probabilities hold; model trained on "
                f"{trained} customers). Riskiest: {top['customer_id']} ({chance}: {reasons})."
            )
        return (
            f"Van {n} actieve klanten hebben er {high} een hoog risico (kans {cut} of meer) om "
            f"binnen {within} af te haken; naar verwachting haken er ongeveer {expected} van de "
            f"{n} af (95%-bereik {low_n}–{high_n} als de kansen kloppen; model getraind op "
            f"{trained} klanten). Hoogste risico: {top['customer_id']} ({chance}: {reasons})."
        )


def _fmt_chance(p: float, lang: str) -> str:
    """A probability as a percentage that never rounds to a certain 0% or 100%."""
    if p > 0.99:
        return "> " + fmt_pct(0.99, lang)
    if p < 0.01:
        return "< " + fmt_pct(0.01, lang)
    return fmt_pct(p, lang)


@dataclass(repr=False)
class RiskEvaluation(Result):
    """Time-based hold-out of the risk model; ``to_pandas`` is the decile calibration table."""

    calibration: pd.DataFrame
    auc: float
    auc_low: float
    auc_high: float
    brier: float
    brier_low: float
    brier_high: float
    base_rate_brier: float
    lift_top_decile: float
    lift_low: float
    lift_high: float
    base_rate: float
    n_train: int
    n_test: int
    churners_test: int
    train_cutoff: dt.datetime
    test_cutoff: dt.datetime
    horizon_days: int
    extra: dict[str, Any] = field(default_factory=dict)

    def display(self) -> Table:
        """Calibration per decile of predicted risk: predicted against observed churn."""
        columns = [
            Column("decile", "count", "decile", "deciel"),
            Column("n", "count", "customers", "klanten"),
            Column("mean_predicted", "share", "predicted", "voorspeld"),
            Column("observed", "share", "observed", "waargenomen"),
            interval("observed_low", "observed_high", "share", 6),
        ]
        return Table(self.calibration.reset_index(drop=True), columns, noun=("deciles", "decielen"))

    def metrics(self) -> dict[str, Any]:
        return jsonable(
            {
                "auc": self.auc,
                "auc_low": self.auc_low,
                "auc_high": self.auc_high,
                "brier": self.brier,
                "brier_low": self.brier_low,
                "brier_high": self.brier_high,
                "base_rate_brier": self.base_rate_brier,
                "lift_top_decile": self.lift_top_decile,
                "lift_low": self.lift_low,
                "lift_high": self.lift_high,
                "base_rate": self.base_rate,
                "n_train": self.n_train,
                "n_test": self.n_test,
                "churners_test": self.churners_test,
                "train_cutoff": self.train_cutoff,
                "test_cutoff": self.test_cutoff,
                "horizon_days": self.horizon_days,
            }
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": records(self.calibration),
            "metrics": self.metrics(),
            "how": (
                f"trained on customers active at {self.train_cutoff:%Y-%m-%d} (churn in the next "
                f"{self.horizon_days} days), evaluated on customers active at "
                f"{self.test_cutoff:%Y-%m-%d} with churn after it; 95% intervals from 200 "
                "bootstrap resamples of the evaluation customers; base-rate Brier = Brier score "
                "of predicting the evaluation churn rate for everyone"
            ),
        }

    def summary(self, lang: str = "en") -> str:
        check_lang(lang)
        auc = (
            f"{fmt_num(self.auc, lang, 2)} ({fmt_num(self.auc_low, lang, 2)}–"
            f"{fmt_num(self.auc_high, lang, 2)})"
        )
        lift = fmt_num(self.lift_top_decile, lang, 1)
        brier = fmt_num(self.brier, lang, 3)
        ref = fmt_num(self.base_rate_brier, lang, 3)
        n = fmt_num(self.n_test, lang)
        if lang == "en":
            return (
                f"On {n} customers after {self.test_cutoff:%Y-%m-%d} (not used for training) "
                f"the risk score has an AUC of {auc}; the riskiest 10% churn {lift} times as "
                f"often as average; Brier score {brier} against {ref} for guessing the "
                "average rate."
            )
        return (
            f"Op {n} klanten na {self.test_cutoff:%Y-%m-%d} (niet gebruikt om te trainen) "
            f"heeft de risicoscore een AUC van {auc}; de 10% met het hoogste risico haakt "
            f"{lift} keer zo vaak af als gemiddeld; Brier-score {brier} tegen {ref} bij het "
            "raden van het gemiddelde."
        )


# -- public functions -------------------------------------------------------------------------
def _vocabulary(ws: Any) -> dict[str, list[str]]:
    return {
        "touchpoints": _feature_touchpoints(ws),
        "metrics": _scored_metrics(ws),
        "segments": _segments(ws),
    }


def _train(
    ws: Any, cutoff: dt.datetime, horizon_days: int, vocab: dict[str, list[str]]
) -> ChurnRiskModel:
    features = customer_features(ws, cutoff, **vocab)
    labels = churn_labels(ws, cutoff, horizon_days)
    merged = features.merge(labels, on="customer_id", validate="one_to_one")
    return ChurnRiskModel(horizon_days).fit(merged.drop(columns="churned"), merged["churned"])


def risk(ws: Any, horizon_days: int = 90, as_of: Any = None, top_reasons: int = 3) -> RiskResult:
    """Churn probability within ``horizon_days`` for every customer active at ``as_of``.

    ``as_of`` defaults to the end of the observed period (``observed_until``), where outcomes can
    be checked; pass the data end (or any later moment) to score today's customers. The model is
    trained at ``min(as_of, observed_until) - horizon_days``, so its labels are fully observed.
    """
    end = data_end(ws)
    until = observed_until(ws)
    if end is None or until is None:
        return RiskResult(pd.DataFrame(columns=RISK_COLUMNS), horizon_days=horizon_days)
    as_of = _utc(as_of) if as_of is not None else until
    train_cutoff = min(as_of, until) - dt.timedelta(days=horizon_days)
    vocab = _vocabulary(ws)
    model = _train(ws, train_cutoff, horizon_days, vocab)
    features = customer_features(ws, as_of, **vocab)
    probability = model.predict_proba(features)[:, 1] if len(features) else np.array([])
    frame = pd.DataFrame(
        {
            "customer_id": features["customer_id"],
            "probability": probability,
            "band": bands(probability, model.base_rate_),
        }
    )
    if len(features):
        explained = reasons(ws, model.contributions(features), features, model.means(), top_reasons)
        frame = pd.concat([frame, explained], axis=1)
    else:
        frame = frame.reindex(columns=RISK_COLUMNS)
    frame = frame.sort_values(
        ["probability", "customer_id"], ascending=[False, True], kind="stable"
    ).reset_index(drop=True)
    low, high = expected_range(probability)
    return RiskResult(
        frame[RISK_COLUMNS],
        as_of=as_of,
        train_cutoff=train_cutoff,
        horizon_days=horizon_days,
        n_train=model.n_train_,
        base_rate=model.base_rate_,
        expected=float(probability.sum()),
        expected_low=low,
        expected_high=high,
    )


def _wilson(k: float, n: float) -> tuple[float, float]:
    if n == 0:
        return math.nan, math.nan
    p = k / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / (1 + Z * Z / n)
    return centre - half, centre + half


def top_decile_lift(y: np.ndarray, p: np.ndarray) -> float:
    """Churn rate among the 10% highest predictions (at least one customer) / overall rate."""
    if y.mean() == 0:
        return math.nan
    k = max(1, math.ceil(0.1 * len(y)))
    top = np.argsort(-p, kind="stable")[:k]
    return float(y[top].mean() / y.mean())


def calibration_table(y: np.ndarray, p: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Deciles of the predicted probability: mean predicted against observed rate (Wilson CI)."""
    order = np.argsort(p, kind="stable")
    rows = []
    for decile, chunk in enumerate(np.array_split(order, bins), start=1):
        if len(chunk) == 0:
            continue
        low, high = _wilson(float(y[chunk].sum()), len(chunk))
        rows.append(
            {
                "decile": decile,
                "n": len(chunk),
                "mean_predicted": float(p[chunk].mean()),
                "observed": float(y[chunk].mean()),
                "observed_low": low,
                "observed_high": high,
            }
        )
    return pd.DataFrame(rows, columns=CALIBRATION_COLUMNS)


def evaluate_risk(
    ws: Any, horizon_days: int = 90, cutoff: Any = None, bootstrap: int = 200, seed: int = 0
) -> RiskEvaluation:
    """Train at cutoff T0, evaluate at T1 = T0 + horizon on churn after T1 (never the same period).

    ``cutoff`` (T0) defaults to observed_until − 2 × horizon, the latest T0 whose evaluation
    window is fully observed.
    """
    until = observed_until(ws)
    if until is None:
        raise ValueError("the workspace has no data to evaluate a risk model on")
    horizon = dt.timedelta(days=horizon_days)
    train_cutoff = _utc(cutoff) if cutoff is not None else until - 2 * horizon
    test_cutoff = train_cutoff + horizon
    vocab = _vocabulary(ws)
    model = _train(ws, train_cutoff, horizon_days, vocab)
    features = customer_features(ws, test_cutoff, **vocab)
    labels = churn_labels(ws, test_cutoff, horizon_days)
    merged = features.merge(labels, on="customer_id", validate="one_to_one")
    y = merged["churned"].to_numpy().astype(int)
    if len(np.unique(y)) < 2:
        raise ValueError("the evaluation period needs both churned and retained customers")
    p = model.predict_proba(merged.drop(columns="churned"))[:, 1]

    rng = np.random.default_rng(seed)
    draws: list[tuple[float, float, float]] = []
    for _ in range(bootstrap):
        idx = rng.integers(0, len(y), len(y))
        if len(np.unique(y[idx])) < 2:
            continue
        draws.append(
            (
                roc_auc_score(y[idx], p[idx]),
                brier_score_loss(y[idx], p[idx]),
                top_decile_lift(y[idx], p[idx]),
            )
        )
    boot = np.array(draws) if draws else np.full((1, 3), np.nan)
    low, high = np.nanpercentile(boot, [2.5, 97.5], axis=0)
    rate = float(y.mean())
    return RiskEvaluation(
        calibration=calibration_table(y, p),
        auc=float(roc_auc_score(y, p)),
        auc_low=float(low[0]),
        auc_high=float(high[0]),
        brier=float(brier_score_loss(y, p)),
        brier_low=float(low[1]),
        brier_high=float(high[1]),
        base_rate_brier=rate * (1 - rate),
        lift_top_decile=top_decile_lift(y, p),
        lift_low=float(low[2]),
        lift_high=float(high[2]),
        base_rate=rate,
        n_train=model.n_train_,
        n_test=len(y),
        churners_test=int(y.sum()),
        train_cutoff=train_cutoff,
        test_cutoff=test_cutoff,
        horizon_days=horizon_days,
        extra={"train_base_rate": model.base_rate_},
    )
