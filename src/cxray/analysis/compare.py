"""Is it a real change? Differences in a metric between periods or groups, FDR controlled.

Tests per metric kind (see :func:`_difference_test`); q-values are Benjamini–Hochberg over all
comparisons made. Definitions of the metrics: :mod:`cxray.analysis.metrics`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import ibis
import numpy as np
import pandas as pd
from scipy import stats

from cxray.analysis._common import ALL, check_lang, fmt_num, interval_digits, time_bounds, within
from cxray.analysis.metrics import (
    COMPARE_COLUMNS,
    CONFIDENCE,
    KIND_MEAN,
    KIND_NPS,
    KIND_SHARE,
    UNITS,
    MetricRule,
    Z,
    _drop_out_of_scale,
    _fmt_score,
    _grouped_feedback,
    _label,
    _score_counts,
    _summarise,
    check_metric,
    wilson,
)
from cxray.results import Column, Result, Table, frame_records, group_column, interval, jsonable


# -- comparing ------------------------------------------------------------------------------
def _difference_test(rule: MetricRule, a: dict, b: dict) -> dict[str, float]:
    """Test b − a for one metric. a and b are rows from ``_summarise`` plus raw counts.

    NPS: z-test with the pooled multinomial variance (the variance if nothing differs), interval
    from each side's own multinomial variance. Shares: two-proportion z-test (pooled), Newcombe's
    interval from the two Wilson intervals. Means: Welch's t-test and interval.
    """
    n_a, n_b = a["n"], b["n"]
    nan = {
        "difference": math.nan,
        "diff_low": math.nan,
        "diff_high": math.nan,
        "statistic": math.nan,
        "p_value": math.nan,
    }
    if n_a == 0 or n_b == 0:
        return nan
    difference = b["score"] - a["score"]
    if rule.kind == KIND_NPS:
        pro = (a["promoters"] * n_a + b["promoters"] * n_b) / (n_a + n_b)
        det = (a["detractors"] * n_a + b["detractors"] * n_b) / (n_a + n_b)
        pooled = pro + det - (pro - det) ** 2
        se0 = 100 * math.sqrt(max(pooled, 0.0) * (1 / n_a + 1 / n_b))

        def variance(r: dict) -> float:
            return (
                max(r["promoters"] + r["detractors"] - (r["promoters"] - r["detractors"]) ** 2, 0.0)
                / r["n"]
            )

        half = 100 * Z * math.sqrt(variance(a) + variance(b))
        low, high = difference - half, difference + half
    elif rule.kind == KIND_SHARE:
        p_a, p_b = a["score"] / 100, b["score"] / 100
        pooled = (p_a * n_a + p_b * n_b) / (n_a + n_b)
        se0 = 100 * math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
        (l_a, u_a), (l_b, u_b) = wilson(p_a * n_a, n_a), wilson(p_b * n_b, n_b)
        d = p_b - p_a
        low = 100 * (d - math.sqrt((p_b - l_b) ** 2 + (u_a - p_a) ** 2))
        high = 100 * (d + math.sqrt((u_b - p_b) ** 2 + (p_a - l_a) ** 2))
    else:
        if n_a < 2 or n_b < 2:
            return {**nan, "difference": difference}
        v_a, v_b = a["sd"] ** 2 / n_a, b["sd"] ** 2 / n_b
        se = math.sqrt(v_a + v_b)
        if se == 0:
            p_value = 1.0 if difference == 0 else 0.0
            return {
                "difference": difference,
                "diff_low": difference,
                "diff_high": difference,
                "statistic": math.nan,
                "p_value": p_value,
            }
        df = (v_a + v_b) ** 2 / (v_a**2 / (n_a - 1) + v_b**2 / (n_b - 1))
        statistic = difference / se
        quantile = float(stats.t.ppf(0.5 + CONFIDENCE / 2, df))
        return {
            "difference": difference,
            "diff_low": difference - quantile * se,
            "diff_high": difference + quantile * se,
            "statistic": statistic,
            "p_value": float(2 * stats.t.sf(abs(statistic), df)),
        }
    if se0 == 0:  # every answer in the same class on both sides: nothing differs
        return {
            "difference": difference,
            "diff_low": low,
            "diff_high": high,
            "statistic": 0.0,
            "p_value": 1.0,
        }
    statistic = difference / se0
    return {
        "difference": difference,
        "diff_low": low,
        "diff_high": high,
        "statistic": statistic,
        "p_value": float(2 * stats.norm.sf(abs(statistic))),
    }


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg q-values; missing p-values stay missing and do not count."""
    p_values = np.asarray(p_values, dtype=float)
    q_values = np.full(len(p_values), np.nan)
    finite = np.isfinite(p_values)
    if finite.any():
        q_values[finite] = stats.false_discovery_control(p_values[finite], method="bh")
    return q_values


@dataclass(repr=False)
class ComparisonResult(Result):
    """Tested differences; columns: see ``COMPARE_COLUMNS``.

    ``score`` is the group's score (second period, or the group), ``score_ref`` what it is
    compared with (first period, or all other groups together); ``difference`` = score − score_ref.
    """

    frame: pd.DataFrame
    metric: str
    by: str | None
    mode: str  # "periods" or "group-vs-rest"
    periods: tuple | None = None
    fdr: float = 0.05
    min_n: int = 30
    unit: str = "points"
    test: str = ""

    def display(self) -> Table:
        label = _label(self.metric)
        if self.mode == "periods":
            own, ref = ("after", "erna"), ("before", "ervoor")
        else:
            own, ref = ("group", "groep"), ("others", "overige")
        score = {"kind": "score", "unit": self.unit}
        columns = [
            group_column(self.by),
            Column("n", "count", f"n {own[0]}", f"n {own[1]}", 7),
            Column("score", en=f"{label} {own[0]}", nl=f"{label} {own[1]}", **score),
            Column("n_ref", "count", f"n {ref[0]}", f"n {ref[1]}", 4),
            Column(
                "score_ref", en=f"{label} {ref[0]}", nl=f"{label} {ref[1]}", priority=6, **score
            ),
            Column("difference", en="difference", nl="verschil", signed=True, **score),
            interval("diff_low", "diff_high", signed=True, **score),
            Column("q_value", "p", "q", priority=5),
            Column("significant", "flag", "significant", priority=8),
            Column("p_value", "p", "p", wide=True),
        ]
        return Table(self.frame.reset_index(drop=True), columns, noun=("groups", "groepen"))

    @property
    def how(self) -> str:
        versus = (
            "second period against the first"
            if self.mode == "periods"
            else "each group against all other groups"
        )
        return (
            f"{_label(self.metric)}, {versus}; {self.test}; Benjamini–Hochberg q-values, "
            f"significant when q <= {self.fdr}; {len(self.frame)} comparisons"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": frame_records(self.frame),
            "params": jsonable(
                {
                    "metric": self.metric,
                    "by": self.by,
                    "mode": self.mode,
                    "periods": self.periods,
                    "fdr": self.fdr,
                    "min_n": self.min_n,
                    "unit": self.unit,
                }
            ),
            "how": self.how,
        }

    def summary(self, lang: str = "en") -> str:
        check_lang(lang)
        label = _label(self.metric)
        fdr = fmt_num(100 * self.fdr, lang, 0)
        significant = self.frame[self.frame["significant"]]
        if significant.empty:
            count = len(self.frame)
            if lang == "en":
                return (
                    f"No difference in {label} is significant at a false-discovery rate of "
                    f"{fdr}% ({count} comparison{'' if count == 1 else 's'})."
                )
            return (
                f"Geen verschil in {label} is significant bij een false-discovery rate van "
                f"{fdr}% ({count} vergelijking{'' if count == 1 else 'en'})."
            )
        parts = []
        for _, row in significant.sort_values("q_value").iterrows():
            difference = _fmt_difference(
                row["difference"], self.unit, lang, row["diff_low"], row["diff_high"]
            )
            n = f"n = {fmt_num(row['n'], lang)} / {fmt_num(row['n_ref'], lang)}"
            score = _fmt_score(row["score"], self.unit, lang)
            ref = _fmt_score(row["score_ref"], self.unit, lang)
            q = (
                "q < " + fmt_num(0.001, lang, 3)
                if row["q_value"] < 0.001
                else "q = " + fmt_num(row["q_value"], lang, 3)
            )
            who = "" if row["group"] == ALL else f"{row['group']}: "
            if self.mode == "periods":
                word = "from" if lang == "en" else "van"
                to = "to" if lang == "en" else "naar"
                parts.append(f"{who}{word} {ref} {to} {score} ({difference}, {q}, {n})")
            else:
                rest = "the rest" if lang == "en" else "de rest"
                parts.append(f"{who}{score} vs. {rest} {ref} ({difference}, {q}, {n})")
        if lang == "en":
            head = f"Significant differences in {label} (false-discovery rate {fdr}%): "
        else:
            head = f"Significante verschillen in {label} (false-discovery rate {fdr}%): "
        return head + "; ".join(parts) + "."


def _fmt_difference(
    value: float, unit: str, lang: str, low: float = math.nan, high: float = math.nan
) -> str:
    """A difference with its 95% interval, in digits that keep 0 outside a significant one."""
    base = 2 if unit == "mean" else 0
    digits = interval_digits(value, low, high, base, reference=0.0)

    def signed(x: float) -> str:
        text = fmt_num(x, lang, digits)
        return ("+" if x > 0 and text.strip("0.,") else "") + text

    words = {
        "points": ("points", "punten"),
        "percent": ("percentage points", "procentpunt"),
    }.get(unit)
    text = signed(value) + (f" {words[0] if lang == 'en' else words[1]}" if words else "")
    if low == low and high == high:
        interval = (
            f"{signed(low)} tot {signed(high)}"
            if lang == "nl"
            else (f"{signed(low)} to {signed(high)}")
        )
        text += f", 95% interval {interval}" if lang == "en" else f", 95%-interval {interval}"
    return text


def compare(
    ws: Any,
    metric: str,
    by: str | None = None,
    periods: tuple[tuple[Any, Any], tuple[Any, Any]] | None = None,
    fdr: float = 0.05,
    min_n: int = 30,
) -> ComparisonResult:
    """Which differences in a metric are real, with the false-discovery rate controlled.

    With ``periods`` ((start1, end1), (start2, end2)): the second period against the first, per
    group of ``by`` (or overall). Without: each group of ``by`` (default ``segment``) against all
    other groups together. Tests per metric kind: see ``_difference_test``. q-values are
    Benjamini–Hochberg over all comparisons made; ``significant`` means q <= ``fdr``. Rows where
    either side has fewer than ``min_n`` answers are flagged ``too_few`` (still tested).
    """
    if not 0 < fdr < 1:
        raise ValueError("fdr must be between 0 and 1, e.g. 0.05")
    check_metric(ws, metric)
    if periods is None and by is None:
        by = "segment"
    table = _grouped_feedback(ws, [metric], by)
    rule = MetricRule.of(metric, ws.journey.scales)
    if periods is not None:
        (a_low, a_high), (b_low, b_high) = (time_bounds(*periods[0]), time_bounds(*periods[1]))
        if _overlap(a_low, a_high, b_low, b_high):
            raise ValueError("the two periods overlap; compare periods that do not")
        period = ibis.cases(
            (within(table.ts, a_low, a_high), "ref"), (within(table.ts, b_low, b_high), "cur")
        )
        table = table.mutate(period=period).filter(ibis._.period.notnull())
        counts = _score_counts(table, by, extra=("period",))
        counts, _ = _drop_out_of_scale(counts, {metric: rule})
        pairs = _period_pairs(counts)
        mode = "periods"
        stored_periods = ((a_low, a_high), (b_low, b_high))
    else:
        counts = _score_counts(table, by)
        counts, _ = _drop_out_of_scale(counts, {metric: rule})
        pairs = _rest_pairs(counts)
        mode = "group-vs-rest"
        stored_periods = None
    rows = []
    for group, ref, cur in pairs:
        a = _side(rule, ref, min_n)
        b = _side(rule, cur, min_n)
        tested = _difference_test(rule, a, b)
        rows.append(
            {
                "group": group,
                "n": b["n"],
                "score": b["score"],
                "n_ref": a["n"],
                "score_ref": a["score"],
                **tested,
                "too_few": min(a["n"], b["n"]) < min_n,
            }
        )
    frame = pd.DataFrame(rows, columns=COMPARE_COLUMNS)
    frame["q_value"] = benjamini_hochberg(frame["p_value"].to_numpy(float))
    frame["significant"] = (frame["q_value"] <= fdr).fillna(False).astype(bool)
    frame = frame.sort_values(["q_value", "group"], na_position="last").reset_index(drop=True)
    tests = {
        KIND_NPS: "z-test of the NPS difference with the pooled multinomial variance",
        KIND_SHARE: "two-proportion z-test, Newcombe interval",
        KIND_MEAN: "Welch t-test",
    }
    return ComparisonResult(
        frame=frame,
        metric=metric,
        by=by,
        mode=mode,
        periods=stored_periods,
        fdr=fdr,
        min_n=min_n,
        unit=UNITS[rule.kind],
        test=tests[rule.kind],
    )


def _overlap(a_low, a_high, b_low, b_high) -> bool:
    a_low = a_low if a_low is not None else pd.Timestamp.min.tz_localize("UTC")
    b_low = b_low if b_low is not None else pd.Timestamp.min.tz_localize("UTC")
    a_high = a_high if a_high is not None else pd.Timestamp.max.tz_localize("UTC")
    b_high = b_high if b_high is not None else pd.Timestamp.max.tz_localize("UTC")
    return a_low < b_high and b_low < a_high


def _side(rule: MetricRule, counts: pd.DataFrame, min_n: int) -> dict:
    if counts.empty:
        return {"n": 0, "score": math.nan}
    return _summarise(rule, counts["score"].to_numpy(float), counts["count"].to_numpy(float), min_n)


def _period_pairs(counts: pd.DataFrame) -> list[tuple[str, pd.DataFrame, pd.DataFrame]]:
    pairs = []
    for group, part in counts.groupby("group", sort=True):
        pairs.append((group, part[part["period"] == "ref"], part[part["period"] == "cur"]))
    return pairs


def _rest_pairs(counts: pd.DataFrame) -> list[tuple[str, pd.DataFrame, pd.DataFrame]]:
    total = counts.groupby("score", as_index=False)["count"].sum()
    pairs = []
    for group, part in counts.groupby("group", sort=True):
        rest = total.merge(part[["score", "count"]], on="score", how="left", suffixes=("", "_g"))
        rest["count"] = rest["count"] - rest["count_g"].fillna(0)
        rest = rest[rest["count"] > 0][["score", "count"]]
        pairs.append((group, rest, part))
    return pairs
