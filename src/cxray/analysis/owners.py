"""Owners: the departments or teams the journey file names as a touchpoint's ``owner``.

- :func:`owners` lists every owner with the touchpoints it owns, their volume (events, and the
  distinct customers who had any of them) and the scores of the answers at them, pooled per
  metric (:func:`cxray.analysis.metrics.metrics` on those answers: 95% interval, n); and the
  touchpoints nobody owns yet.
- :func:`owner` gives one owner: its touchpoints with their scores and n, their pain points and
  the scores of its touchpoints per month. Pain points are what the canvas counts
  (:func:`cxray.analysis.canvas.bad_experience_counts`: events of bad-experience touchpoints and
  answers at or below the journey's thresholds, and the customers who had either), with the
  share of the scored answers that are low (Wilson interval), and the themes of the unhappy
  comments at its touchpoints (:func:`cxray.analysis.canvas.unhappy_themes`).

An answer is at a touchpoint as everywhere else: its own, else that of the event it answers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import ibis
import pandas as pd

from cxray.analysis._common import check_lang, fmt_num
from cxray.analysis.touchpoint import (
    MIN_N,
    SCORE_KEYS,
    AtTouchpoints,
    TouchpointsResult,
    score_rows,
    touchpoints,
)
from cxray.i18n import Message, count_of, message_of
from cxray.results import Column, Result, Table, frame_records

log = logging.getLogger(__name__)
TOP_THEMES = 5
OWNER_COLUMNS = ["owner", "touchpoints", "names", "events", "customers", "answers"]
PAIN_COLUMNS = ["touchpoint", "label", "bad_experience", "events", "bad_events", "answers",
                "low_answers", "low_share", "low_share_low", "low_share_high",
                "bad_customers"]  # fmt: skip
HINT = Message(
    'Give a touchpoint an owner in cxray.toml: under [touchpoints.NAME] write owner = "service" '
    "(the team that owns it).",
    "Geef een contactmoment een eigenaar in cxray.toml: zet onder [touchpoints.NAAM] owner = "
    '"service" (het team dat het beheert).',
)


def _owned(listing: TouchpointsResult) -> dict[str, list[str]]:
    """Owner: its touchpoints, in journey order; owners by name."""
    found: dict[str, list[str]] = {}
    for row in listing.frame.itertuples():
        if isinstance(row.owner, str) and row.owner:
            found.setdefault(row.owner, []).append(row.touchpoint)
    return dict(sorted(found.items()))


def _customers_per_owner(ws: Any, owned: dict[str, list[str]]) -> dict[str, int]:
    """Distinct customers with an event at any of an owner's touchpoints (one engine query)."""
    pairs = [(tp, owner) for owner, names in owned.items() for tp in names]
    if not pairs:
        return {}
    mapping = ibis.memtable(pd.DataFrame(pairs, columns=["tp_name", "tp_owner"]))
    events = ws.events.select("customer_id", "touchpoint")
    joined = events.join(mapping, events.touchpoint == mapping.tp_name)
    counts = joined.group_by("tp_owner").aggregate(customers=joined.customer_id.nunique())
    frame = counts.execute()
    return {str(r.tp_owner): int(r.customers) for r in frame.itertuples()}


@dataclass(repr=False)
class OwnersResult(Result):
    """Every owner with its touchpoints, volume and pooled scores; and the unowned ones."""

    frame: pd.DataFrame  # OWNER_COLUMNS
    scores: pd.DataFrame  # metrics per owner: owner plus the metrics columns
    unowned: pd.DataFrame  # touchpoints without an owner (the listing's columns)
    min_n: int = MIN_N
    failed: dict[str, Any] = field(default_factory=dict)

    def display(self) -> Table:
        columns = [
            Column("owner", "text", "owner", "eigenaar"),
            Column("touchpoints", "count", "touchpoints", "contactmomenten"),
            Column("events", "count", "interactions", "interacties"),
            Column("customers", "count", "customers", "klanten", 7),
            Column("answers", "count", "scored answers", "antwoorden met score", 6),
        ]
        return Table(self.frame.reset_index(drop=True), columns, noun=("owners", "eigenaars"))

    def scores_of(self, owner: str) -> list[dict[str, Any]]:
        return score_rows(self.scores[self.scores["owner"] == owner])

    def to_dict(self) -> dict[str, Any]:
        return {
            "owners": [
                {**row, "scores": self.scores_of(row["owner"])} for row in frame_records(self.frame)
            ],
            "unowned": [
                {key: row[key] for key in ("touchpoint", "label", "phase", "events", "customers")}
                for row in frame_records(self.unowned)
            ],
            "hint": {"en": HINT.en, "nl": HINT.nl},
            "min_n": self.min_n,
            "failed": {key: {"en": m.en, "nl": m.nl} for key, m in self.failed.items()},
        }

    def summary(self, lang: str = "en") -> str:
        check_lang(lang)
        owners = count_of(len(self.frame), lang, ("owner", "owners"), ("eigenaar", "eigenaars"))
        free = len(self.unowned)
        words = ("touchpoint has", "touchpoints have")
        woorden = ("contactmoment heeft", "contactmomenten hebben")
        unowned = count_of(free, lang, words, woorden)
        if free:
            rest = (
                f"; {unowned} nog geen eigenaar." if lang == "nl" else f"; {unowned} no owner yet."
            )
        elif self.frame.empty:  # no touchpoint at all (feedback only): nothing to own
            rest = (
                "; er zijn geen contactmomenten." if lang == "nl" else "; there are no touchpoints."
            )
        else:
            rest = (
                "; elk contactmoment heeft een eigenaar."
                if lang == "nl"
                else "; every touchpoint has an owner."
            )
        return owners + rest


def owners(ws: Any, listing: TouchpointsResult | None = None, min_n: int = MIN_N) -> OwnersResult:
    """Every owner the journey names, with volume and scores; ``listing`` when the caller has
    :func:`cxray.analysis.touchpoint.touchpoints` of ``ws`` already."""
    from cxray.analysis.metrics import metrics

    listing = listing if listing is not None else touchpoints(ws, min_n=min_n)
    owned = _owned(listing)
    customers = _customers_per_owner(ws, owned)
    failed: dict[str, Any] = {}
    rows, scores = [], []
    by_name = listing.frame.set_index("touchpoint")
    for owner, names in owned.items():
        part = by_name.loc[names]
        rows.append(
            {
                "owner": owner,
                "touchpoints": len(names),
                "names": names,
                "events": int(part["events"].sum()),
                "customers": customers.get(owner, 0),
                "answers": int(part["answers"].sum()),
            }
        )
        if int(part["answers"].sum()) == 0:
            continue  # no answer at its touchpoints: no query to run
        try:
            frame = metrics(AtTouchpoints(ws, names), min_n=min_n).frame
        except Exception as exc:  # the row stands without scores
            log.info("owners: scores of %s failed: %s", owner, exc)
            failed["scores"] = message_of(exc)
            continue
        scores.append(frame.assign(owner=owner))
    unowned = listing.frame[~listing.frame["owner"].map(lambda v: isinstance(v, str) and bool(v))]
    return OwnersResult(
        frame=pd.DataFrame(rows, columns=OWNER_COLUMNS),
        scores=pd.concat(scores, ignore_index=True)
        if scores
        else pd.DataFrame(columns=["owner", "group", *SCORE_KEYS]),
        unowned=unowned.reset_index(drop=True),
        min_n=min_n,
        failed=failed,
    )


def known_owners(ws: Any) -> list[str]:
    """The owners the journey file names, by name."""
    named = {tp.owner for tp in ws.journey.touchpoints.values() if tp.owner}
    return sorted(named)


@dataclass(repr=False)
class OwnerResult(Result):
    """One owner: its touchpoints with scores, pain points, unhappy themes and trend."""

    owner: str
    touchpoints: pd.DataFrame  # the listing's rows of its touchpoints
    touchpoint_scores: pd.DataFrame  # metrics by touchpoint, its touchpoints only
    scores: pd.DataFrame  # pooled over its touchpoints, per metric
    trend: Any  # MetricsResult by month, pooled (None when it failed or has no answers)
    pain: pd.DataFrame  # PAIN_COLUMNS
    themes: pd.DataFrame  # canvas.PAIN_THEME_COLUMNS, most comments first
    unhappy_comments: int
    min_n: int = MIN_N
    failed: dict[str, Any] = field(default_factory=dict)

    def display(self) -> Table:
        columns = [
            Column("label", "text", "touchpoint", "contactmoment"),
            Column("events", "count", "interactions", "interacties"),
            Column("bad_events", "count", "bad-experience events", "slechte-ervaringinteracties"),
            Column("low_answers", "count", "low answers", "lage antwoorden"),
            Column("low_share", "share", "share low", "aandeel laag", 6),
            Column("bad_customers", "count", "customers with a bad experience",
                   "klanten met een slechte ervaring", 5),
        ]  # fmt: skip
        return Table(self.pain.reset_index(drop=True), columns,
                     noun=("touchpoints", "contactmomenten"))  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        rows = []
        for row in frame_records(self.touchpoints):
            name = row["touchpoint"]
            own = self.touchpoint_scores[self.touchpoint_scores["group"] == name]
            rows.append({**row, "scores": score_rows(own)})
        trend = self.trend.frame if self.trend is not None else pd.DataFrame()
        return {
            "owner": self.owner,
            "touchpoints": rows,
            "scores": score_rows(self.scores),
            "trend": frame_records(trend[["group", *SCORE_KEYS]]) if len(trend) else [],
            "pain_points": {
                "touchpoints": frame_records(self.pain),
                "themes": frame_records(self.themes),
                "unhappy_comments": self.unhappy_comments,
            },
            "min_n": self.min_n,
            "failed": {key: {"en": m.en, "nl": m.nl} for key, m in self.failed.items()},
        }

    def summary(self, lang: str = "en") -> str:
        nl = check_lang(lang) == "nl"
        count = fmt_num(len(self.touchpoints), lang)
        events = fmt_num(int(self.touchpoints["events"].sum()), lang)
        text = (
            f"{self.owner} is eigenaar van {count} contactmomenten met {events} interacties."
            if nl
            else f"{self.owner} owns {count} touchpoints with {events} interactions."
        )
        sore = self.pain[self.pain["bad_customers"] > 0]
        if len(sore):
            worst = sore.sort_values(["bad_customers", "touchpoint"], ascending=[False, True])
            top = worst.iloc[0]
            who = fmt_num(top["bad_customers"], lang)
            text += (
                f" De meeste klanten met een slechte ervaring bij {top['label']}: {who}."
                if nl
                else f" Most customers with a bad experience at {top['label']}: {who}."
            )
        return text


def _pain(ws: Any, part: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """Bad experiences per touchpoint (the canvas' counts) and the share of answers that are low."""
    from cxray.analysis.canvas import bad_experience_counts
    from cxray.analysis.metrics import wilson

    bad = bad_experience_counts(ws).set_index("touchpoint")
    judged = ws.journey.bad_experience.metrics  # metrics with a threshold
    rows = []
    for row in part.itertuples():
        name = row.touchpoint
        own = scores[(scores["group"] == name) & scores["metric"].isin(judged)]
        answers = int(own["n"].sum())
        counts = {key: int(bad.loc[name, key]) if name in bad.index else 0
                  for key in ("bad_events", "low_answers", "bad_customers")}  # fmt: skip
        low, high = wilson(counts["low_answers"], answers) if answers else (None, None)
        rows.append(
            {
                "touchpoint": name,
                "label": row.label,
                "bad_experience": bool(row.bad_experience),
                "events": int(row.events),
                "answers": answers,
                "low_share": counts["low_answers"] / answers if answers else None,
                "low_share_low": low,
                "low_share_high": high,
                **counts,
            }
        )
    return pd.DataFrame(rows, columns=PAIN_COLUMNS)


def owner(
    ws: Any,
    name: str,
    listing: TouchpointsResult | None = None,
    min_n: int = MIN_N,
    top_themes: int = TOP_THEMES,
) -> OwnerResult:
    """One owner of ``ws`` (filter it first); ``listing`` as for :func:`owners`.

    Raises KeyError when the journey file names no such owner. Each part that cannot be computed
    keeps its reason in ``failed`` instead of stopping the others.
    """
    from cxray.analysis.canvas import PAIN_THEME_COLUMNS, unhappy_themes
    from cxray.analysis.metrics import metrics
    from cxray.analysis.themes import themes

    listing = listing if listing is not None else touchpoints(ws, min_n=min_n)
    if name not in known_owners(ws):
        raise KeyError(name)
    names = _owned(listing).get(name, [])  # none when a phase or channel filter leaves none
    part = listing.frame[listing.frame["touchpoint"].isin(names)].reset_index(drop=True)
    failed: dict[str, Any] = {}

    def attempt(key: str, run: Callable[[], Any], default: Any) -> Any:
        try:
            return run()
        except Exception as exc:  # one part missing, with its reason; the others stand
            log.info("owner %s: %s failed: %s", name, key, exc)
            failed[key] = message_of(exc)
            return default

    view = AtTouchpoints(ws, names)
    per_tp = listing.scores[listing.scores["group"].isin(names)].reset_index(drop=True)
    answered = int(part["answers"].sum()) > 0
    empty = pd.DataFrame(columns=["group", *SCORE_KEYS])
    pooled = (
        attempt("scores", lambda: metrics(view, min_n=min_n).frame, empty) if answered else empty
    )
    trend = (
        attempt("trend", lambda: metrics(view, by="month", min_n=min_n), None) if answered else None
    )
    pain = attempt(
        "pain_points", lambda: _pain(ws, part, per_tp), pd.DataFrame(columns=PAIN_COLUMNS)
    )
    found = attempt("themes", lambda: themes(view, metric="all"), None) if answered else None
    judged = set(ws.journey.bad_experience.metrics)
    # unhappy_themes needs a threshold for at least one comment's metric (else none is unhappy)
    if (
        found is not None
        and found.comments is not None
        and found.comments["metric"].isin(judged).any()
    ):
        unhappy, total = unhappy_themes(found, ws.journey)
    else:
        unhappy, total = pd.DataFrame(columns=PAIN_THEME_COLUMNS), 0
    return OwnerResult(
        owner=name,
        touchpoints=part,
        touchpoint_scores=per_tp,
        scores=pooled,
        trend=trend,
        pain=pain,
        themes=unhappy.head(top_themes).reset_index(drop=True),
        unhappy_comments=total,
        min_n=min_n,
        failed=failed,
    )
