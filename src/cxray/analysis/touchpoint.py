"""Touchpoints one by one: what the web app's touchpoint pages show (and the owners pages reuse).

- :func:`touchpoints` lists every touchpoint of the journey in journey order (phases in order,
  within a phase the journey file's order; touchpoints seen in the data but not placed in the
  journey last, as ``unassigned``) with its phase, channel and owner, its volume (events and
  customers, :func:`cxray.analysis.canvas.volume`) and every metric answered there
  (:func:`cxray.analysis.metrics.metrics` by touchpoint: 95% interval, n, ``too_few`` under
  ``MIN_N`` answers).
- :func:`touchpoint` gives one touchpoint: its scores overall and per month, its comments with
  their themes (:func:`cxray.analysis.themes.themes` on the answers at it), the touchpoints that
  come directly before and after it (the directly-follows edges of
  :func:`cxray.analysis.flows.flow_queries`), its rows of the churn drivers
  (:func:`cxray.analysis.drivers.drivers`) in words, or why it has none.
- :func:`comment_page` picks from one touchpoint's comments by text, theme, score and language.

An answer belongs to a touchpoint as everywhere else: its own touchpoint, else that of the event
it answers (:class:`AtTouchpoints`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from cxray.analysis._common import MISSING, check_lang, fmt_num
from cxray.analysis.estimability import MIN_CUSTOMERS
from cxray.analysis.flows import END, START
from cxray.i18n import Message, message_of
from cxray.labels import UNASSIGNED
from cxray.results import Column, Result, Table, frame_records, interval, jsonable

log = logging.getLogger(__name__)
MIN_N = 30
TOP_NEIGHBOURS = 8
PER_PAGE = 50
SCORE_KEYS = ["metric", "n", "score", "low", "high", "unit", "method", "too_few"]
LIST_COLUMNS = ["touchpoint", "label", "phase", "channel", "owner", "bad_experience",
                "moment_of_truth", "churn", "events", "customers", "answers"]  # fmt: skip
COMMENT_COLUMNS = ["ts", "customer_id", "metric", "score", "language", "themes", "comment"]
NEIGHBOUR_COLUMNS = ["touchpoint", "count", "customers", "share"]


class TouchpointError(ValueError):
    """A request this page cannot answer (a bad score range, an unknown theme), in en and nl."""

    def __init__(self, en: str, nl: str):
        super().__init__(Message(en, nl))


class AtTouchpoints:
    """A workspace whose feedback is only the answers at ``names``; all else is the workspace's.

    An answer is at a touchpoint when its own touchpoint is, else when the event it answers is;
    its ``touchpoint`` column says which. Nothing is copied: ``feedback`` is an Ibis expression.
    """

    def __init__(self, ws: Any, names: Iterable[str]):
        self._ws = ws
        self.names = list(names)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ws, name)

    @property
    def feedback(self) -> ir.Table:
        feedback = self._ws.feedback
        answered = self._ws.events.select(event_id_ev="event_id", touchpoint_ev="touchpoint")
        joined = feedback.left_join(answered, feedback.event_id == answered.event_id_ev)
        at = ibis.coalesce(joined.touchpoint, joined.touchpoint_ev)
        kept = joined.filter(at.isin(self.names or [""])).mutate(touchpoint=at)
        return kept.select(*feedback.columns)


def known_touchpoints(ws: Any) -> list[str]:
    """Every touchpoint the journey names or the data holds (events or answers)."""
    names = list(ws.journey.touchpoints)
    for table in (ws.events, ws.feedback):
        seen = table.select("touchpoint").distinct().execute()["touchpoint"]
        names += sorted({str(t) for t in seen.dropna()} - set(names))
    return names


def _journey_order(journey: Any, names: Iterable[str]) -> list[str]:
    """Phases in order (unassigned last), within a phase the journey file's order."""
    position = {name: i for i, name in enumerate(journey.touchpoints)}
    phases = {phase: i for i, phase in enumerate(journey.phases)}

    def key(name: str) -> tuple[int, int, str]:
        tp = journey.touchpoints.get(name)
        phase = tp.phase if tp is not None else UNASSIGNED
        return (phases.get(phase, len(phases)), position.get(name, len(position)), name)

    return sorted(set(names), key=key)


def _describe(journey: Any, name: str) -> dict[str, Any]:
    tp = journey.touchpoints.get(name)
    return {
        "touchpoint": name,
        "label": tp.label if tp is not None and tp.label else name,
        "phase": tp.phase if tp is not None else UNASSIGNED,
        "channel": tp.channel if tp is not None else None,
        "owner": tp.owner if tp is not None else None,
        "bad_experience": bool(tp is not None and tp.bad_experience),
        "moment_of_truth": bool(tp is not None and tp.moment_of_truth),
        "churn": name in journey.churn.touchpoints,
    }


def score_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Score records, the most answered metric first (as the canvas picks its main one)."""
    if frame.empty:
        return []
    ordered = frame.sort_values(["n", "metric"], ascending=[False, True])
    return frame_records(ordered[SCORE_KEYS])


# -- every touchpoint ------------------------------------------------------------------------
@dataclass(repr=False)
class TouchpointsResult(Result):
    """Every touchpoint with volume and scores; ``scores`` has one row per touchpoint × metric."""

    frame: pd.DataFrame  # LIST_COLUMNS
    scores: pd.DataFrame  # metrics by touchpoint: group = touchpoint
    metrics: list[str] = field(default_factory=list)  # most answered first
    min_n: int = MIN_N
    failed: dict[str, Any] = field(default_factory=dict)

    def display(self) -> Table:
        columns = [
            Column("phase", "text", "phase", "fase"),
            Column("label", "text", "touchpoint", "contactmoment"),
            Column("channel", "text", "channel", "kanaal", 4),
            Column("owner", "text", "owner", "eigenaar", 5),
            Column("events", "count", "interactions", "interacties"),
            Column("customers", "count", "customers", "klanten", 7),
            Column("answers", "count", "scored answers", "antwoorden met score", 6),
        ]
        return Table(self.frame.reset_index(drop=True), columns,
                     noun=("touchpoints", "contactmomenten"))  # fmt: skip

    def scores_of(self, name: str) -> list[dict[str, Any]]:
        return score_rows(self.scores[self.scores["group"] == name])

    def to_dict(self) -> dict[str, Any]:
        rows = []
        for row in frame_records(self.frame):
            rows.append({**row, "scores": self.scores_of(row["touchpoint"])})
        return {
            "touchpoints": rows,
            "no_touchpoint": self.scores_of(MISSING),
            "metrics": list(self.metrics),
            "min_n": self.min_n,
            "confidence": 0.95,
            "failed": {key: {"en": m.en, "nl": m.nl} for key, m in self.failed.items()},
        }

    def summary(self, lang: str = "en") -> str:
        nl = check_lang(lang) == "nl"
        count = fmt_num(len(self.frame), lang)
        used = self.frame[self.frame["events"] > 0]
        answered = int((self.frame["answers"] > 0).sum())
        text = (
            f"{count} contactmomenten; {fmt_num(len(used), lang)} met interacties, "
            f"{fmt_num(answered, lang)} met antwoorden met een score."
            if nl
            else f"{count} touchpoints; {fmt_num(len(used), lang)} with interactions, "
            f"{fmt_num(answered, lang)} with scored answers."
        )
        if len(used):
            top = used.sort_values(["events", "touchpoint"], ascending=[False, True]).iloc[0]
            events, customers = fmt_num(top["events"], lang), fmt_num(top["customers"], lang)
            text += (
                f" De meeste interacties bij {top['label']}: {events}, van {customers} klanten."
                if nl
                else f" Most interactions at {top['label']}: {events}, by {customers} customers."
            )
        return text


def touchpoints(ws: Any, min_n: int = MIN_N) -> TouchpointsResult:
    """Every touchpoint in journey order with phase, channel, owner, volume and scores.

    With a phase or channel filter (a :class:`cxray.analysis.filters.FilteredWorkspace`) only
    the touchpoints of that phase or channel are listed (a touchpoint without a configured
    channel is listed when it has interactions in that channel).
    """
    from cxray.analysis.canvas import volume
    from cxray.analysis.metrics import metrics

    journey = ws.journey
    failed: dict[str, Any] = {}
    counts = volume(ws).set_index("touchpoint")
    try:
        scores = metrics(ws, by="touchpoint", min_n=min_n).frame
    except Exception as exc:  # no scores is a page without scores, not an error page
        log.info("touchpoints: scores failed: %s", exc)
        failed["scores"] = message_of(exc)
        scores = pd.DataFrame(columns=["group", "n", "metric", *SCORE_KEYS])
    answered = {str(g) for g in scores["group"] if g != MISSING}
    names = _journey_order(journey, [*journey.touchpoints, *map(str, counts.index), *answered])
    filters = getattr(ws, "filters", None)
    rows = []
    for name in names:
        row = _describe(journey, name)
        row["events"] = int(counts.loc[name, "events"]) if name in counts.index else 0
        row["customers"] = int(counts.loc[name, "customers"]) if name in counts.index else 0
        row["answers"] = int(scores.loc[scores["group"] == name, "n"].sum())
        if filters is not None and filters.phase is not None and row["phase"] != filters.phase:
            continue
        if filters is not None and filters.channel is not None:
            own = row["channel"]
            if own != filters.channel and not (own is None and row["events"] > 0):
                continue
        rows.append(row)
    totals = scores.groupby("metric")["n"].sum().sort_values(ascending=False, kind="stable")
    return TouchpointsResult(
        frame=pd.DataFrame(rows, columns=LIST_COLUMNS),
        scores=scores.reset_index(drop=True),
        metrics=[str(m) for m in totals.index],
        min_n=min_n,
        failed=failed,
    )


# -- one touchpoint --------------------------------------------------------------------------
@dataclass(repr=False)
class TouchpointResult(Result):
    """One touchpoint: who owns it, its volume, scores, trend, comments, flows and drivers."""

    info: dict[str, Any]  # _describe() plus events and customers
    scores: pd.DataFrame  # metrics at this touchpoint, one row per metric
    trend: Any  # MetricsResult by month (None when it failed)
    comments: pd.DataFrame  # COMMENT_COLUMNS, newest first
    theme_labels: dict[str, dict[str, str]]
    previous: pd.DataFrame  # NEIGHBOUR_COLUMNS: what came directly before
    following: pd.DataFrame  # and directly after
    steps: int  # events of this touchpoint in the flows (each has one step in and one out)
    drivers: pd.DataFrame  # its rows of the drivers table
    driver_sentences: dict[str, list[str]]
    no_driver: Message | None  # why it has no driver row
    min_n: int = MIN_N
    failed: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.info["touchpoint"])

    def display(self) -> Table:
        columns = [
            Column("metric", "text", "metric", "metriek"),
            Column("n", "count", "n"),
            Column("score", "score", "score", unit_key="unit"),
            interval("low", "high", "score", unit_key="unit"),
            Column("too_few", "flag", f"n < {self.min_n}", priority=6),
        ]
        return Table(self.scores.reset_index(drop=True), columns, noun=("metrics", "metrieken"))

    def themes_found(self) -> list[dict[str, Any]]:
        """The themes of this touchpoint's comments, most mentioned first, with their counts."""
        counts: dict[str, int] = {}
        for found in self.comments["themes"]:
            for theme in found:
                counts[theme] = counts.get(theme, 0) + 1
        ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        return [
            {
                "theme": theme,
                "label": self.theme_labels.get(theme, {}).get("en", theme),
                "label_nl": self.theme_labels.get(theme, {}).get("nl", theme),
                "comments": n,
            }
            for theme, n in ordered
        ]

    def languages(self) -> list[str]:
        return sorted({str(v) for v in self.comments["language"].dropna()})

    def to_dict(self) -> dict[str, Any]:
        trend = self.trend.frame if self.trend is not None else pd.DataFrame()
        return {
            "touchpoint": jsonable(self.info),
            "scores": score_rows(self.scores),
            "trend": frame_records(trend[["group", *SCORE_KEYS]]) if len(trend) else [],
            "comments_total": len(self.comments),
            "themes": self.themes_found(),
            "flows": {
                "steps": self.steps,
                "previous": frame_records(self.previous),
                "next": frame_records(self.following),
                "start": START,
                "end": END,
            },
            "drivers": {
                "rows": frame_records(self.drivers),
                "sentences": self.driver_sentences,
                "none_because": None
                if self.no_driver is None
                else {"en": self.no_driver.en, "nl": self.no_driver.nl},
            },
            "min_n": self.min_n,
            "failed": {key: {"en": m.en, "nl": m.nl} for key, m in self.failed.items()},
        }

    def summary(self, lang: str = "en") -> str:
        nl = check_lang(lang) == "nl"
        label = self.info["label"]
        events, customers = (
            fmt_num(self.info["events"], lang),
            fmt_num(self.info["customers"], lang),
        )
        text = (
            f"{label}: {events} interacties van {customers} klanten"
            if nl
            else f"{label}: {events} interactions by {customers} customers"
        )
        answers = fmt_num(int(self.scores["n"].sum()) if len(self.scores) else 0, lang)
        comments = fmt_num(len(self.comments), lang)
        text += (
            f", {answers} antwoorden met een score en {comments} opmerkingen."
            if nl
            else f", {answers} scored answers and {comments} comments."
        )
        return text


def _neighbours(ws: Any, name: str, top: int) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """The touchpoints directly before and after ``name`` (START and END close each path)."""
    from cxray.analysis.flows import flow_queries

    edges = flow_queries(ws)["edges"]
    near = edges.filter((edges.source == name) | (edges.target == name))
    frame = near.select("source", "target", "count", "customers", "starts").execute()
    out = frame[frame["source"] == name]
    into = frame[frame["target"] == name][["source", "count", "customers"]]
    # every customer whose first event is this touchpoint came from the start of their path
    started = int(out["starts"].sum()) if len(out) else 0
    if started:
        into = pd.concat(
            [into, pd.DataFrame([{"source": START, "count": started, "customers": started}])],
            ignore_index=True,
        )
    steps = int(out["count"].sum()) if len(out) else 0

    def ranked(part: pd.DataFrame, column: str) -> pd.DataFrame:
        part = part.rename(columns={column: "touchpoint"})[["touchpoint", "count", "customers"]]
        part = part.astype({"count": "int64", "customers": "int64"})
        part = part.sort_values(["count", "touchpoint"], ascending=[False, True]).head(top)
        part["share"] = part["count"] / steps if steps else math.nan
        return part.reset_index(drop=True)[NEIGHBOUR_COLUMNS]

    return ranked(into, "source"), ranked(out, "target"), steps


def _comments(view: AtTouchpoints) -> tuple[pd.DataFrame, dict[str, dict[str, str]]]:
    """The comments at the touchpoint with their language and themes, newest first."""
    from cxray.analysis.themes import themes

    said = themes(view, metric="all")
    frame = said.comments if said.comments is not None else pd.DataFrame()
    frame = frame.reindex(columns=COMMENT_COLUMNS)
    frame["themes"] = [list(found) if isinstance(found, list) else [] for found in frame["themes"]]
    frame = frame.sort_values(["ts", "customer_id"], ascending=[False, True], kind="stable")
    return frame.reset_index(drop=True), said.labels


def drivers_or_reason(ws: Any) -> tuple[Any, Message | None]:
    """The churn drivers of ``ws``, or None and why they cannot be estimated at all."""
    from cxray.analysis.drivers import drivers

    try:
        return drivers(ws), None
    except Exception as exc:  # no churn, no candidates: the pages say so in words
        log.info("drivers failed: %s", exc)
        return None, message_of(exc)


def _driver_part(
    found: Any, failure: Message | None, info: dict[str, Any]
) -> tuple[pd.DataFrame, dict[str, list[str]], Message | None]:
    """This touchpoint's driver rows and their sentences, or why there are none."""
    if found is not None:
        table = found.drivers
        rows = table[table["touchpoint"] == info["touchpoint"]]
        if len(rows):
            sentences = {
                lang: [found.sentence(row, lang) for _, row in rows.iterrows()]
                for lang in ("en", "nl")
            }
            return rows.reset_index(drop=True), sentences, None
    empty = pd.DataFrame()
    if info["churn"]:
        why = Message(
            "An occurrence of this touchpoint means the customer left: it is the outcome, "
            "so it is not tested as a driver of churn.",
            "Dit contactmoment betekent dat de klant vertrok: het is de uitkomst, dus het wordt "
            "niet getoetst als oorzaak van vertrek.",
        )
    elif found is None:
        reason = failure or Message("unknown", "onbekend")
        why = Message(
            f"Drivers of churn cannot be estimated from this data: {reason.en}.",
            f"Oorzaken van vertrek zijn uit deze gegevens niet te schatten: {reason.nl}.",
        )
    elif (found.drivers["kind"] == "attribute").all():
        why = Message(
            "The drivers here compare customer attributes (there are no interactions to test).",
            "De oorzaken vergelijken hier klantkenmerken (er zijn geen interacties om te toetsen).",
        )
    elif info["customers"] < MIN_CUSTOMERS:
        n = info["customers"]
        why = Message(
            f"Only {fmt_num(n, 'en')} customers had it; a driver needs at least "
            f"{MIN_CUSTOMERS} to be estimated.",
            f"Slechts {fmt_num(n, 'nl')} klanten hadden dit; een oorzaak vraagt er minstens "
            f"{MIN_CUSTOMERS} om te schatten.",
        )
    else:
        why = Message(
            "It was not among the candidate drivers of churn.",
            "Het hoorde niet bij de kandidaat-oorzaken van vertrek.",
        )
    return empty, {"en": [], "nl": []}, why


def touchpoint(
    ws: Any,
    name: str,
    drivers: tuple[Any, Message | None] | None = None,
    min_n: int = MIN_N,
    top: int = TOP_NEIGHBOURS,
) -> TouchpointResult:
    """One touchpoint of ``ws`` (filter it first). ``drivers``: what :func:`drivers_or_reason`
    gave for this workspace, when the caller has it already (it is the same for every
    touchpoint); else it is computed here.

    Each part that cannot be computed keeps its reason in ``failed`` instead of stopping the
    others.
    """
    from cxray.analysis.metrics import metrics

    failed: dict[str, Any] = {}

    def part(key: str, run: Callable[[], Any], default: Any) -> Any:
        try:
            return run()
        except Exception as exc:  # one part missing, with its reason; the others stand
            log.info("touchpoint %s: %s failed: %s", name, key, exc)
            failed[key] = message_of(exc)
            return default

    info = _describe(ws.journey, name)
    events = ws.events.filter(ws.events.touchpoint == name)
    info["events"] = int(events.count().execute())
    info["customers"] = int(events.customer_id.nunique().execute())
    view = AtTouchpoints(ws, [name])
    overall = part("scores", lambda: metrics(view, min_n=min_n).frame, pd.DataFrame())
    trend = part("trend", lambda: metrics(view, by="month", min_n=min_n), None)
    empty_comments = pd.DataFrame(columns=COMMENT_COLUMNS)
    comments, labels = part("comments", lambda: _comments(view), (empty_comments, {}))
    empty_flow = pd.DataFrame(columns=NEIGHBOUR_COLUMNS)
    previous, following, steps = part(
        "flows", lambda: _neighbours(ws, name, top), (empty_flow, empty_flow, 0)
    )
    found, failure = drivers if drivers is not None else drivers_or_reason(ws)
    rows, sentences, why = _driver_part(found, failure, info)
    return TouchpointResult(
        info=info,
        scores=overall,
        trend=trend,
        comments=comments,
        theme_labels=labels,
        previous=previous,
        following=following,
        steps=steps,
        drivers=rows,
        driver_sentences=sentences,
        no_driver=why,
        min_n=min_n,
        failed=failed,
    )


# -- choosing comments -----------------------------------------------------------------------
@dataclass
class CommentPage:
    """One page of the comments that match a search."""

    rows: pd.DataFrame
    matched: int
    total: int
    page: int
    pages: int
    per_page: int
    query: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": frame_records(self.rows),
            "matched": self.matched,
            "total": self.total,
            "page": self.page,
            "pages": self.pages,
            "per_page": self.per_page,
            "query": jsonable(self.query),
        }


def _number(value: Any, key: str) -> float | None:
    if value in (None, ""):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        raise TouchpointError(f"{key} must be a number", f"{key} moet een getal zijn")
    return number


def comment_page(
    result: TouchpointResult,
    q: str | None = None,
    theme: str | None = None,
    min_score: Any = None,
    max_score: Any = None,
    language: str | None = None,
    page: Any = 1,
    per_page: int = PER_PAGE,
) -> CommentPage:
    """The comments of ``result`` that contain every word of ``q`` (any case), have ``theme``,
    a score within [``min_score``, ``max_score``] and ``language``; page ``page`` of them.

    An unreadable number or an unknown theme is a :class:`TouchpointError`.
    """
    low, high = _number(min_score, "min_score"), _number(max_score, "max_score")
    if low is not None and high is not None and low > high:
        raise TouchpointError("min_score is above max_score", "min_score is groter dan max_score")
    try:
        number = 1 if page in (None, "") else int(page)
    except (TypeError, ValueError):
        number = 0
    if number < 1:
        raise TouchpointError(
            "page must be a whole number from 1", "page moet een geheel getal vanaf 1 zijn"
        )
    frame = result.comments
    keep = pd.Series(True, index=frame.index)
    words = (q or "").casefold().split()
    if words:
        text = frame["comment"].fillna("").astype(str).str.casefold()
        for word in words:
            keep &= text.str.contains(word, regex=False)
    if theme:
        if theme not in result.theme_labels:
            raise TouchpointError(f"no theme {theme!r} here", f"geen thema {theme!r} hier")
        keep &= frame["themes"].map(lambda found: theme in found).astype(bool)
    if low is not None or high is not None:
        scores = pd.to_numeric(frame["score"], errors="coerce")
        keep &= scores.notna()
        if low is not None:
            keep &= scores >= low
        if high is not None:
            keep &= scores <= high
    if language:
        keep &= frame["language"] == language
    chosen = frame[keep.to_numpy(dtype=bool)]
    pages = max(1, math.ceil(len(chosen) / per_page))
    number = min(number, pages)
    rows = chosen.iloc[(number - 1) * per_page : number * per_page].reset_index(drop=True)
    return CommentPage(
        rows=rows,
        matched=len(chosen),
        total=len(frame),
        page=number,
        pages=pages,
        per_page=per_page,
        query={
            "q": q or None,
            "theme": theme or None,
            "min_score": low,
            "max_score": high,
            "language": language or None,
        },
    )
