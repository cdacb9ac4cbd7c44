"""The weekly digest's sentences that word one row (a metric's week, a change), in English
and Dutch. Only words: the numbers come from :mod:`cxray.actions.digest`."""

from __future__ import annotations

from typing import Any

from cxray.analysis._common import fmt_num, interval_digits
from cxray.i18n import count_of

MIN_N = 30  # fewer answers than this are said to be too few to trust
METRIC_NAMES = {"nps": "NPS", "csat": "CSAT", "ces": "CES", "rating": "Rating"}


def metric_name(metric: str) -> str:
    return METRIC_NAMES.get(metric, metric)


def _finite(*values: Any) -> bool:
    return all(isinstance(v, int | float) and v == v and abs(v) != float("inf") for v in values)


def _score(value: float, unit: str, lang: str, digits: int | None = None) -> str:
    if unit == "points":
        text = fmt_num(value, lang, digits or 0)
        return ("+" if value > 0 and text.strip("0.,") else "") + text
    if unit == "percent":
        return f"{fmt_num(value, lang, digits or 0)}%"
    return fmt_num(value, lang, 2 if digits is None else digits)


def _bounds(
    value: float, low: float, high: float, unit: str, lang: str, signed: bool
) -> str | None:
    """ "low to high" in the fewest digits that keep the bounds apart (signed: a change);
    None when there is no interval (a single answer)."""
    if not _finite(value, low, high):
        return None
    base = 2 if unit == "mean" else 0
    digits = interval_digits(value, low, high, base, reference=0.0 if signed else None)

    def one(x: float) -> str:
        if signed and unit != "points":
            text = fmt_num(x, lang, digits)
            return ("+" if x > 0 and text.strip("0.,") else "") + text
        return _score(x, unit, lang, digits)

    return f"{one(low)} {'tot' if lang == 'nl' else 'to'} {one(high)}"


def _difference(row: dict[str, Any], lang: str) -> str:
    unit = row["unit"]
    base = 2 if unit == "mean" else 0
    value, low, high = row["difference"], row["diff_low"], row["diff_high"]
    digits = interval_digits(value, low, high, base, reference=0.0) if _finite(low, high) else base
    text = fmt_num(value, lang, digits)
    text = ("+" if value > 0 and text.strip("0.,") else "") + text
    words = {"points": ("points", "punten"), "percent": ("percentage points", "procentpunt")}
    noun = words.get(unit)
    if noun:
        text += " " + (noun[1] if lang == "nl" else noun[0])
    if not _finite(low, high):
        return text + (
            " (geen interval bij zo weinig antwoorden)"
            if lang == "nl"
            else " (no interval with so few answers)"
        )
    bounds = _bounds(value, low, high, unit, lang, signed=True) or ""
    return text + (f" (95%-interval {bounds})" if lang == "nl" else f" (95% interval {bounds})")


def score_sentence(row: dict[str, Any], lang: str = "en", min_n: int = MIN_N) -> str:
    """One metric's week in one or two sentences: score, interval, n, the week before."""
    nl = lang == "nl"
    name = metric_name(row["metric"])
    if not row["n"]:
        before = fmt_num(row["n_ref"], lang)
        return (
            f"{name}: geen antwoorden deze week ({before} de week ervoor)."
            if nl
            else f"{name}: no answers this week ({before} the week before)."
        )
    score, n = _score(row["score"], row["unit"], lang), fmt_num(row["n"], lang)
    interval = _bounds(row["score"], row["low"], row["high"], row["unit"], lang, signed=False)
    if interval is None:
        detail = f"n = {n}, {'geen interval' if nl else 'no interval'}"
    else:
        detail = f"{'95%-interval' if nl else '95% interval'} {interval}, n = {n}"
    text = f"{name} {'deze week' if nl else 'this week'}: {score} ({detail})"
    if not row["n_ref"]:
        text += (
            "; geen antwoorden de week ervoor om mee te vergelijken."
            if nl
            else "; no answers the week before to compare with."
        )
    else:
        before = _score(row["score_ref"], row["unit"], lang)
        n_ref = fmt_num(row["n_ref"], lang)
        change = _difference(row, lang)
        if nl:
            verdict = "significant" if row["significant"] else "niet significant"
            text += f", de week ervoor {before} (n = {n_ref}): {change}, {verdict}."
        else:
            verdict = "significant" if row["significant"] else "not significant"
            text += f", the week before {before} (n = {n_ref}): {change}, {verdict}."
    if row["too_few"]:
        now = count_of(row["n"], lang, ("answer", "answers"), ("antwoord", "antwoorden"))
        before, least = fmt_num(row["n_ref"], lang), fmt_num(min_n, lang)
        text += (
            f" Te weinig antwoorden om op te vertrouwen: {now} deze week, {before} de week "
            f"ervoor; minstens {least} nodig."
            if nl
            else f" Too few answers to trust: {now} this week, {before} the week before; "
            f"{least} or more are needed."
        )
    return text


def change_sentence(change: dict[str, Any], lang: str = "en") -> str:
    nl = lang == "nl"
    name = metric_name(change["metric"])
    where = change.get("touchpoint")
    what = f"{name} {'bij' if nl else 'at'} {where}" if where else name
    before = _score(change["score_ref"], change["unit"], lang)
    now = _score(change["score"], change["unit"], lang)
    rose = change["difference"] > 0
    n = f"n = {fmt_num(change['n'], lang)} / {fmt_num(change['n_ref'], lang)}"
    difference = _difference(change, lang)
    if nl:
        verb = "steeg" if rose else "daalde"
        return (
            f"De grootste significante verandering: {what} {verb} van {before} naar {now}, "
            f"{difference}, {n}."
        )
    verb = "rose" if rose else "fell"
    return (
        f"The biggest significant change: {what} {verb} from {before} to {now}, {difference}, {n}."
    )


def trend_sentence(
    metric: str, rows: list[dict[str, Any]], weeks: list[str], lang: str = "en"
) -> str:
    """ "NPS week by week: W25 0 (-30 to +30, n = 14); W26 ..." (``weeks``: labels, oldest
    first; a week without answers is said)."""
    nl = lang == "nl"
    by_week = {row["week"]: row for row in rows}
    parts = []
    for label in weeks:
        short = label.split("-")[-1]
        row = by_week.get(label)
        if row is None:
            parts.append(f"{short} {'geen antwoorden' if nl else 'no answers'}")
            continue
        bounds = _bounds(row["score"], row["low"], row["high"], row["unit"], lang, signed=False)
        score, n = _score(row["score"], row["unit"], lang), fmt_num(row["n"], lang)
        parts.append(
            f"{short} {score} ({bounds}, n = {n})" if bounds else f"{short} {score} (n = {n})"
        )
    few = any(row["too_few"] for row in rows)
    if nl:
        text = f"{metric_name(metric)} per week (95%-intervallen): {'; '.join(parts)}"
        return text + ("; weken met minder dan 30 antwoorden zijn onzeker." if few else ".")
    text = f"{metric_name(metric)} week by week (95% intervals): {'; '.join(parts)}"
    return text + ("; weeks with fewer than 30 answers are uncertain." if few else ".")


__all__ = [
    "METRIC_NAMES",
    "MIN_N",
    "change_sentence",
    "metric_name",
    "score_sentence",
    "trend_sentence",
]
