"""The weekly digest: what a team (or the whole company) should know about last week.

For one calendar week (Monday to Monday, UTC) against the week before, for the whole company or
one team (the touchpoints the journey says it owns):

- each metric's score with its 95% interval and n, the week before, and the change with its
  interval and whether it is significant (:func:`cxray.analysis.metrics.compare`);
- the new detractors (NPS answers of 0-6 on its scale) and a few of their comments;
- the follow-ups open and overdue now (:mod:`cxray.actions.followups`);
- the biggest significant change: per metric overall and per touchpoint, false-discovery
  controlled; ranked by the difference against its interval's width, so that points, shares and
  means compare. When nothing changed significantly it says so;
- the top driver of churn (:func:`cxray.analysis.drivers.drivers` on the data as known at the
  end of the week), or in one sentence why none can be named.

Every sentence exists in English and Dutch (:meth:`Digest.sentences`); fewer than ``MIN_N``
answers are said to be too few to trust. Rendering (mail, page) is the faces' and
:mod:`cxray.actions.digest_mail`'s work: this module only computes.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from cxray.actions.digest_settings import DigestError, Week, last_complete_week
from cxray.actions.digest_words import (
    MIN_N,
    change_sentence,
    metric_name,
    score_sentence,
    trend_sentence,
)
from cxray.actions.followup_rules import DETRACTOR_AT_MOST
from cxray.actions.followup_store import TABLE as FOLLOWUPS
from cxray.actions.followup_store import has_tables
from cxray.analysis._common import fmt_num
from cxray.i18n import Message, count_of, message_of
from cxray.results import Column, Result, Table, interval
from cxray.warehouse import literal

log = logging.getLogger(__name__)
COMMENTS = 3
MAX_COMMENT = 240
FDR = 0.05
TREND_WEEKS = 6
TREND_KEYS = ("metric", "n", "score", "low", "high", "unit", "too_few")
CHANGE_KEYS = ("n", "score", "n_ref", "score_ref", "difference", "diff_low", "diff_high", "q_value")


def latest_week(source: Any, journey: Any = None, now: dt.datetime | None = None) -> Week:
    """The last complete week with data: before ``now``, and before the data ends (a page or
    a command on data that stopped months ago shows its last week, not an empty one)."""
    from cxray.analysis.lifetimes import data_end

    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    end = data_end(_Source(source, journey))
    if end is not None and end < now:
        now = end + dt.timedelta(microseconds=1)  # the data's last moment is inside
    return last_complete_week(now)


# -- what the digest reads --------------------------------------------------------------------
class _Source:
    """What the analyses read (``.warehouse``, ``.journey``, the tables), from a workspace or
    from a warehouse with its journey (the scheduler's job has no workspace)."""

    def __init__(self, source: Any, journey: Any = None):
        self.warehouse = getattr(source, "warehouse", source)
        self.journey = journey if journey is not None else source.journey

    @property
    def customers(self) -> Any:
        return self.warehouse.customers

    @property
    def events(self) -> Any:
        return self.warehouse.events

    @property
    def feedback(self) -> Any:
        return self.warehouse.feedback


def teams_of(journey: Any) -> dict[str, list[str]]:
    """Each owner the journey names, with its touchpoints in journey order."""
    found: dict[str, list[str]] = {}
    for name, tp in journey.touchpoints.items():
        if tp.owner:
            found.setdefault(tp.owner, []).append(name)
    return dict(sorted(found.items()))


def check_team(journey: Any, team: str | None) -> list[str] | None:
    """The touchpoints of ``team`` (None: the whole company); an unknown team is refused."""
    if team is None:
        return None
    teams = teams_of(journey)
    if team not in teams:
        known = ", ".join(teams) or "-"
        raise DigestError(
            Message(
                f"the journey names no team {team!r} as a touchpoint's owner (teams: {known})",
                f"de klantreis noemt geen team {team!r} als eigenaar van een contactmoment "
                f"(teams: {known})",
            )
        )
    return teams[team]


# -- the result -------------------------------------------------------------------------------
@dataclass(repr=False)
class Digest(Result):
    week: Week
    team: str | None
    touchpoints: list[str] | None  # the team's; None for the whole company
    scores: list[dict[str, Any]]  # per metric: this week, the week before, the change
    detractors: int
    nps_answers: int
    comments: list[dict[str, Any]]  # a few of the new detractors' comments, latest first
    followups: dict[str, int] | None  # open, overdue, opened (this week); None: no table yet
    change: dict[str, Any] | None  # the biggest significant change
    comparisons: int  # how many changes were tested
    driver: Message | None  # the top driver of churn, in words
    driver_reason: Message | None  # why no driver is named
    now: dt.datetime
    min_n: int = MIN_N
    failed: dict[str, Message] = field(default_factory=dict)
    trend: list[dict[str, Any]] = field(default_factory=list)  # per metric and week, oldest first

    @property
    def who(self) -> Message:
        if self.team is None:
            return Message("the whole company", "het hele bedrijf")
        return Message(f"team {self.team}", f"team {self.team}")

    def title(self, lang: str = "en") -> str:
        if lang == "nl":
            return f"Weekoverzicht {self.week.label}, {self.who.nl}"
        return f"Weekly digest {self.week.label}, {self.who.en}"

    def display(self) -> Table:
        frame = pd.DataFrame(
            self.scores,
            columns=["metric", "n", "score", "low", "high", "unit", "n_ref", "score_ref",
                     "difference", "diff_low", "diff_high", "significant", "too_few"],
        )  # fmt: skip
        names = {m: {"en": metric_name(m), "nl": metric_name(m)} for m in frame["metric"]}
        columns = [
            Column("metric", "text", "metric", "metriek", values=names),
            Column("n", "count", "n"),
            Column("score", "score", "score", unit_key="unit"),
            interval("low", "high", "score", unit_key="unit"),
            Column("n_ref", "count", "n week before", "n week ervoor", 5),
            Column("score_ref", "score", "week before", "week ervoor", 4, unit_key="unit"),
            Column("difference", "score", "change", "verandering", 7, unit_key="unit", signed=True),
            interval("diff_low", "diff_high", signed=True, kind="score", unit_key="unit"),
            Column("significant", "flag", "significant", "significant", 6),
            Column("too_few", "flag", f"n < {self.min_n}", priority=5),
        ]
        return Table(frame, columns, noun=("metrics", "metrieken"))

    def headline(self, lang: str = "en") -> str:
        nl = lang == "nl"
        who = self.who.text(lang)
        return (
            f"Weekoverzicht voor {who}: {self.week.words(lang)}, vergeleken met de week ervoor."
            if nl
            else f"Weekly digest for {who}: {self.week.words(lang)}, against the week before."
        )

    def trend_sentences(self, lang: str = "en") -> list[str]:
        """Per metric, its score in each of the last weeks (oldest first), with n."""
        weeks = [self.week]
        while len(weeks) < TREND_WEEKS:
            weeks.insert(0, weeks[0].previous())
        labels = [one.label for one in weeks]
        return [trend_sentence(m, rows, labels, lang) for m, rows in self._trend_by_metric()]

    def _trend_by_metric(self) -> list[tuple[str, list[dict[str, Any]]]]:
        metrics = sorted({row["metric"] for row in self.trend})
        return [(m, [row for row in self.trend if row["metric"] == m]) for m in metrics]

    def score_sentences(self, lang: str = "en") -> list[str]:
        if not self.scores:
            return [
                "Geen antwoorden met een score in deze twee weken."
                if lang == "nl"
                else "No scored answers in these two weeks."
            ]
        return [score_sentence(row, lang, self.min_n) for row in self.scores]

    def detractor_sentence(self, lang: str = "en") -> str:
        nl = lang == "nl"
        if self.nps_answers == 0:
            return "Geen NPS-antwoorden deze week." if nl else "No NPS answers this week."
        n, of = fmt_num(self.detractors, lang), fmt_num(self.nps_answers, lang)
        if self.detractors == 0:
            return (
                f"Geen nieuwe criticasters deze week (van {of} NPS-antwoorden)."
                if nl
                else f"No new detractors this week (of {of} NPS answers)."
            )
        if nl:
            word = "criticaster" if self.detractors == 1 else "criticasters"
            return f"{n} nieuwe {word} deze week (van {of} NPS-antwoorden, score 0–6)."
        word = "detractor" if self.detractors == 1 else "detractors"
        return f"{n} new {word} this week (of {of} NPS answers, a score of 0–6)."

    def followup_sentence(self, lang: str = "en") -> str:
        nl = lang == "nl"
        c = self.followups
        if c is None:
            return (
                "Er is nog geen opvolging geopend." if nl else "No follow-up has been opened yet."
            )
        opened = fmt_num(c["opened"], lang)
        if c["open"] == 0:
            return (
                f"Opvolging: niets staat open ({opened} deze week geopend)."
                if nl
                else f"Follow-ups: none open ({opened} opened this week)."
            )
        late, still = fmt_num(c["overdue"], lang), fmt_num(c["open"], lang)
        if nl:
            return f"Opvolging: {still} open, waarvan {late} te laat ({opened} deze week geopend)."
        return f"Follow-ups: {still} open, {late} of them overdue ({opened} opened this week)."

    def change_sentence(self, lang: str = "en") -> str:
        nl = lang == "nl"
        if self.change is None:
            if self.comparisons == 0:
                return (
                    "Te weinig antwoorden in deze twee weken om veranderingen te toetsen."
                    if nl
                    else "Too few answers in these two weeks to test for changes."
                )
            tested = fmt_num(self.comparisons, lang)
            return (
                f"Niets veranderde significant ten opzichte van de week ervoor ({tested} "
                "vergelijkingen, false-discovery rate 5%)."
                if nl
                else f"Nothing changed significantly from the week before ({tested} comparisons, "
                "false-discovery rate 5%)."
            )
        return change_sentence(self.change, lang)

    def driver_sentence(self, lang: str = "en") -> str:
        if self.driver is not None:
            head = "Grootste churn-driver" if lang == "nl" else "Top driver of churn"
            return f"{head}: {self.driver.text(lang)}"
        reason = self.driver_reason or Message("no driver found", "geen driver gevonden")
        return reason.text(lang)

    def sentences(self, lang: str = "en") -> list[str]:
        """Everything the digest says, in order, as sentences in ``lang``."""
        return [
            self.headline(lang),
            *self.score_sentences(lang),
            *self.trend_sentences(lang),
            self.detractor_sentence(lang),
            self.followup_sentence(lang),
            self.change_sentence(lang),
            self.driver_sentence(lang),
        ]

    def summary(self, lang: str = "en") -> str:
        return " ".join(self.sentences(lang))

    def to_dict(self) -> dict[str, Any]:
        return {
            "week": self.week.label,
            "start": self.week.start,
            "end": self.week.end,
            "previous": self.week.previous().label,
            "team": self.team,
            "touchpoints": self.touchpoints,
            "min_n": self.min_n,
            "scores": self.scores,
            "trend": self.trend,
            "detractors": {
                "count": self.detractors,
                "nps_answers": self.nps_answers,
                "comments": self.comments,
            },
            "followups": self.followups,
            "change": self.change,
            "comparisons": self.comparisons,
            "driver": None if self.driver is None else {"en": self.driver.en, "nl": self.driver.nl},
            "sentences": {lang: self.sentences(lang) for lang in ("en", "nl")},
            "failed": {key: {"en": m.en, "nl": m.nl} for key, m in self.failed.items()},
            "now": self.now,
        }


# -- computing --------------------------------------------------------------------------------
def digest(
    source: Any,
    journey: Any = None,
    *,
    team: str | None = None,
    week: Week | str | None = None,
    now: dt.datetime | None = None,
    min_n: int = MIN_N,
    drivers: Callable[[Any], Any] | None = None,
) -> Digest:
    """The digest of ``week`` (default: the last complete week before ``now``) for ``team``
    (an owner the journey names; None: the whole company), from a workspace or a warehouse and
    its journey. ``drivers`` gives the churn drivers of a view (the web app passes its cached
    ones); by default they are estimated here. A part that cannot be computed keeps its reason
    in ``failed``; the others stand."""
    from cxray.analysis.touchpoint import AtTouchpoints

    src = _Source(source, journey)
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    if week is None:
        week = last_complete_week(now)
    elif isinstance(week, str):
        week = Week.parse(week)
    names = check_team(src.journey, team)
    view: Any = src if names is None else AtTouchpoints(src, names)
    failed: dict[str, Message] = {}

    def part(key: str, run: Callable[[], Any], default: Any) -> Any:
        try:
            return run()
        except Exception as exc:  # one part missing, with its reason; the others stand
            log.info("digest: %s failed: %s", key, exc)
            failed[key] = message_of(exc)
            return default

    scores = part("scores", lambda: _scores(view, week, min_n), [])
    trend = part("trend", lambda: _trend(view, week, min_n), [])
    answers, detractors, comments = part("detractors", lambda: _detractors(view, week), (0, 0, []))
    followups = part("followups", lambda: _followups(src.warehouse, names, team, week, now), None)
    change, tested = part("change", lambda: _biggest_change(view, week, min_n), (None, 0))
    driver, reason = _top_driver(src, week, names, team, drivers)
    return Digest(
        week=week,
        team=team,
        touchpoints=names,
        scores=scores,
        detractors=detractors,
        nps_answers=answers,
        comments=comments,
        followups=followups,
        change=change,
        comparisons=tested,
        driver=driver,
        driver_reason=reason,
        now=now,
        min_n=min_n,
        failed=failed,
        trend=trend,
    )


def _periods(week: Week) -> tuple[tuple[dt.datetime, dt.datetime], tuple[dt.datetime, dt.datetime]]:
    before = week.previous()
    return (before.start, before.end), (week.start, week.end)


def _metrics_of(view: Any, week: Week) -> list[str]:
    """The metrics answered in the two weeks (a scale alone makes no line)."""
    feedback = view.feedback
    ts = feedback.ts
    seen = (
        feedback.filter(feedback.score.notnull(), ts >= week.previous().start, ts < week.end)
        .select("metric")
        .distinct()
        .execute()["metric"]
    )
    return sorted({str(m) for m in seen.dropna()})


def _scores(view: Any, week: Week, min_n: int) -> list[dict[str, Any]]:
    from cxray.analysis.metrics import compare, metrics

    now = metrics(view, start=week.start, end=week.end, min_n=min_n).frame
    before = metrics(view, start=week.previous().start, end=week.previous().end, min_n=min_n).frame
    rows = []
    for metric in _metrics_of(view, week):
        cur = now[now["metric"] == metric]
        ref = before[before["metric"] == metric]
        row: dict[str, Any] = {
            "metric": metric, "n": 0, "score": None, "low": None, "high": None,
            "unit": None, "n_ref": 0, "score_ref": None, "low_ref": None, "high_ref": None,
            "difference": None, "diff_low": None, "diff_high": None, "q_value": None,
            "significant": False, "too_few": True,
        }  # fmt: skip
        for frame, suffix in ((cur, ""), (ref, "_ref")):
            if len(frame):
                first = frame.iloc[0]
                row["n" + suffix] = int(first["n"])
                row["score" + suffix] = float(first["score"])
                row["low" + suffix], row["high" + suffix] = (
                    float(first["low"]),
                    float(first["high"]),
                )
                row["unit"] = str(first["unit"])
        if row["n"] and row["n_ref"]:
            tested = compare(view, metric, periods=_periods(week), min_n=min_n).frame.iloc[0]
            row.update(
                difference=float(tested["difference"]),
                diff_low=float(tested["diff_low"]),
                diff_high=float(tested["diff_high"]),
                q_value=float(tested["q_value"]),
                significant=bool(tested["significant"]),
            )
        row["too_few"] = min(row["n"], row["n_ref"] or row["n"]) < min_n
        rows.append(row)
    return rows


def _trend(view: Any, week: Week, min_n: int) -> list[dict[str, Any]]:
    """Each metric's score in each of the ``TREND_WEEKS`` weeks up to ``week``, oldest first."""
    from cxray.analysis.metrics import metrics

    weeks = [week]
    while len(weeks) < TREND_WEEKS:
        weeks.insert(0, weeks[0].previous())
    rows = []
    for one in weeks:
        frame = metrics(view, start=one.start, end=one.end, min_n=min_n).frame
        for row in frame.to_dict("records"):
            rows.append(
                {
                    "week": one.label,
                    **{key: _plain(row[key]) for key in TREND_KEYS},
                }
            )
    return rows


def _detractors(view: Any, week: Week) -> tuple[int, int, list[dict[str, Any]]]:
    from cxray.analysis.metrics import MetricRule

    feedback = view.feedback
    rows = (
        feedback.filter(
            feedback.metric == "nps",
            feedback.score.notnull(),
            feedback.ts >= week.start,
            feedback.ts < week.end,
        )
        .select("customer_id", "ts", "score", "comment", "touchpoint")
        .execute()
    )
    if rows.empty:
        return 0, 0, []
    rule = MetricRule.of("nps", view.journey.scales)
    scores = rule.on_ten(rows["score"].to_numpy(float))
    low = rows[scores <= DETRACTOR_AT_MOST].sort_values("ts", ascending=False)
    said = low[low["comment"].fillna("").str.strip() != ""].head(COMMENTS)
    comments = [
        {
            "customer_id": row.customer_id,
            "ts": pd.Timestamp(row.ts).to_pydatetime(),
            "score": float(row.score),
            "touchpoint": row.touchpoint if isinstance(row.touchpoint, str) else None,
            "comment": _short(str(row.comment)),
        }
        for row in said.itertuples(index=False)
    ]
    return len(rows), len(low), comments


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_COMMENT else text[: MAX_COMMENT - 1].rstrip() + "…"


def _followups(
    warehouse: Any, names: list[str] | None, team: str | None, week: Week, now: dt.datetime
) -> dict[str, int] | None:
    if not has_tables(warehouse):
        return None
    where = "NOT held_out"
    if names is not None:
        listed = ", ".join(literal(name) for name in names)
        where += f" AND (touchpoint IN ({listed}) OR assignee = {literal(team)})"
    (row,) = warehouse.query(
        f"SELECT count(*) FILTER (WHERE status <> 'done'), "
        f"count(*) FILTER (WHERE status <> 'done' AND due_at < {literal(now)}), "
        f"count(*) FILTER (WHERE opened_at >= {literal(week.start)} "
        f"AND opened_at < {literal(week.end)}) FROM {FOLLOWUPS} WHERE {where}"
    )
    return {"open": int(row[0] or 0), "overdue": int(row[1] or 0), "opened": int(row[2] or 0)}


def _biggest_change(view: Any, week: Week, min_n: int) -> tuple[dict[str, Any] | None, int]:
    """The significant change with the largest difference against its interval's width."""
    from cxray.analysis.metrics import compare

    found: list[dict[str, Any]] = []
    tested = 0
    for metric in _metrics_of(view, week):
        for by in (None, "touchpoint"):
            result = compare(view, metric, by=by, periods=_periods(week), min_n=min_n)
            frame = result.frame.dropna(subset=["difference"])
            frame = frame[(frame["n"] > 0) & (frame["n_ref"] > 0)]
            tested += len(frame)
            for row in frame[frame["significant"]].to_dict("records"):
                width = float(row["diff_high"]) - float(row["diff_low"])
                strength = abs(float(row["difference"])) / width if width > 0 else 0.0
                found.append(
                    {
                        "metric": metric,
                        "touchpoint": None if by is None else str(row["group"]),
                        "unit": result.unit,
                        **{key: _plain(row[key]) for key in CHANGE_KEYS},
                        "strength": strength,
                    }
                )
    if not found:
        return None, tested
    return max(found, key=lambda row: row["strength"]), tested


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _top_driver(
    src: Any,
    week: Week,
    names: list[str] | None,
    team: str | None,
    estimate: Callable[[Any], Any] | None,
) -> tuple[Message | None, Message | None]:
    """The strongest demonstrable driver of churn (of the team's touchpoints), or why none."""
    from cxray.analysis.filters import ReportFilter, apply_filters

    if estimate is None:
        from cxray.analysis.drivers import drivers as estimate
    try:
        known = apply_filters(src, ReportFilter(end=pd.Timestamp(week.end)))
        found = estimate(known)
    except Exception as exc:  # no churn, no candidates: said in one sentence
        why = message_of(exc)
        return None, Message(
            f"The top driver of churn cannot be estimated: {why.en.rstrip('.')}.",
            f"De grootste churn-driver is niet te schatten: {why.nl.rstrip('.')}.",
        )
    table = found.drivers
    if names is not None:
        table = table[table["touchpoint"].isin(names)]
    harmful = table[table.estimable & table.significant & (table.hazard_ratio > 1)]
    if len(harmful):
        row = harmful.iloc[0]
        return Message(found.sentence(row, "en"), found.sentence(row, "nl")), None
    if names is not None and table.empty:
        return None, Message(
            f"None of team {team}'s touchpoints is a candidate driver of churn (too few customers "
            "had them, or none is in the journey's candidates).",
            f"Geen van de contactmomenten van team {team} is een kandidaat-churn-driver (te weinig "
            "klanten hadden ze, of geen staat bij de kandidaten van de klantreis).",
        )
    estimated = int(table.estimable.sum())
    if estimated == 0:
        row = table.iloc[0]
        return None, Message(
            f"The top driver of churn cannot be named: {found.sentence(row, 'en')}",
            f"De grootste churn-driver is niet aan te wijzen: {found.sentence(row, 'nl')}",
        )
    en = count_of(estimated, "en", ("estimated candidate", "estimated candidates"), ("", ""))
    nl = count_of(estimated, "nl", ("", ""), ("geschatte kandidaat", "geschatte kandidaten"))
    if names is not None:
        return None, Message(
            f"None of team {team}'s touchpoints is a demonstrable driver of churn ({en}, "
            "false-discovery rate 5%).",
            f"Geen van de contactmomenten van team {team} is een aantoonbare churn-driver ({nl}, "
            "false-discovery rate 5%).",
        )
    return None, Message(
        f"No driver of churn is demonstrable among {en} (false-discovery rate 5%).",
        f"Geen churn-driver is aantoonbaar onder {nl} (false-discovery rate 5%).",
    )


__all__ = [
    "MIN_N",
    "Digest",
    "DigestError",
    "Week",
    "check_team",
    "digest",
    "last_complete_week",
    "latest_week",
    "teams_of",
]
