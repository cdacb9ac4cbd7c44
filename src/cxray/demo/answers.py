"""The demo's feedback: who answers which survey when, their scores, and the themes of their comments."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from cxray.demo import comments as cm
from cxray.demo.company import (
    CODE,
    DAY,
    DemoParameters,
)
from cxray.demo.draws import HOUR, MINUTE, _count_before
from cxray.demo.tables import PROPERTY_BASE, RESPONSE_ID_WIDTH, _ids, _strings

CSAT, NPS, CES, RATING = range(4)


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
