"""How a displayed table's cells read: one formatter for the terminal and the notebook.

A cell never shows an exponent (``3.47e-18`` is below 0.001), an infinite median reads "not
reached", a share reads as a percentage and a duration in minutes, hours or days.
"""

from __future__ import annotations

import html
import math
from typing import Any

from cxray.i18n import number
from cxray.results import Column, Result, Table

WORDS = {
    "en": {
        "yes": "yes",
        "not reached": "not reached",
        "not bounded": "not bounded",
        "day": "day",
        "days": "days",
        "h": "h",
        "min": "min",
        "more": "{shown} of {total} {noun} shown",
    },
    "nl": {
        "yes": "ja",
        "not reached": "niet bereikt",
        "not bounded": "niet begrensd",
        "day": "dag",
        "days": "dagen",
        "h": "uur",
        "min": "min",
        "more": "{shown} van {total} {noun} getoond",
    },
}


UNITS = {word for words in WORDS.values() for word in (words["day"], words["days"], words["h"])}
UNITS.add("min")


def missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        import pandas as pd

        return bool(pd.isna(value)) if not isinstance(value, list | tuple) else False
    except (TypeError, ValueError):
        return False


def significant(value: float, lang: str) -> str:
    """Three significant digits, never in exponent notation (999.7 reads "1,000")."""
    if value == 0:
        return "0"
    size = abs(value)
    if size < 0.001:  # 3.47e-18 is noise around 0: say it is below what we show
        return ("<" if value > 0 else ">-") + number(0.001, lang, 3)
    if size >= 99.95:
        return number(value, lang, 0)
    digits = max(0, 2 - math.floor(math.log10(size)))
    text = number(value, lang, digits)
    sep = "," if lang == "nl" else "."
    if sep in text:  # 0.500 reads 0.5: trailing zeros carry nothing here
        text = text.rstrip("0").rstrip(sep)
    return text


def percent(share: float, lang: str) -> str:
    """A share 0–1 as a percentage: 24%, 3.6%, <0.1%."""
    return percent_points(100 * share, lang)


def percent_points(value: float, lang: str) -> str:
    if value == 0:
        return "0%"
    size = abs(value)
    if size < 0.05:
        return ("<" if value > 0 else ">-") + number(0.1, lang, 1) + "%"
    return number(value, lang, 0 if size >= 9.95 else 1) + "%"


def duration(value: float, unit: str | None, lang: str) -> str:
    """A time span in the unit that reads best: 45 s are "<1 min", 86,400 s are "1 day"."""
    words = WORDS[lang]
    if math.isinf(value):
        return words["not reached"]
    seconds = value if unit == "seconds" else value * 86400.0
    if seconds <= 0:
        return "0"
    if seconds < 60:
        return "<1 " + words["min"]
    if seconds < 3600:
        return f"{number(seconds / 60, lang, 0)} {words['min']}"
    if seconds < 86400:
        hours = seconds / 3600
        return f"{_whole(number(hours, lang, 1 if hours < 9.95 else 0))} {words['h']}"
    days = seconds / 86400
    text = _whole(number(days, lang, 1 if days < 9.95 else 0))
    return f"{text} {words['day'] if text == '1' else words['days']}"


def _whole(text: str) -> str:
    """ "1.0" reads "1": a tenth that is zero says nothing."""
    return text[:-2] if text.endswith((".0", ",0")) else text


def score(value: float, unit: str | None, lang: str, signed: bool = False) -> str:
    """A score on its own scale: NPS in points (+6), a top-box share in percent, a mean."""
    if unit == "points":
        text = number(value, lang, 0)
        return ("+" + text) if value > 0 and text != "0" else text
    if unit == "percent":
        text = percent_points(value, lang)
        return ("+" + text) if signed and value > 0 else text
    text = number(value, lang, 2)
    return ("+" + text) if signed and value > 0 else text


def ratio(value: float, lang: str) -> str:
    if value == 0:
        return "0"
    if abs(value) < 0.01:
        return "<" + number(0.01, lang, 2)
    return number(value, lang, 2 if abs(value) < 9.995 else 1 if abs(value) < 99.95 else 0)


def p_value(value: float, lang: str) -> str:
    if value < 0.001:
        return "<" + number(0.001, lang, 3)
    return number(value, lang, 3 if value < 0.01 else 2)


def cell(value: Any, column: Column, row: Any = None, lang: str = "en") -> str:
    """One cell as a person reads it; ``row`` (a mapping) gives a per-row unit or tie."""
    if column.bounds:
        low, high = (_get(row, key) for key in column.bounds)
        if missing(low) and missing(high):
            return ""
        lower, upper = _one(low, column, row, lang), _one(high, column, row, lang)
        if lower.startswith("-") or upper.startswith("-"):  # "-86–-74" reads as one number
            return f"{lower} {'tot' if lang == 'nl' else 'to'} {upper}"
        if lower == upper:  # both bounds beyond the data: "not reached"
            return lower
        unit = lower.rsplit(" ", 1)[-1] if column.kind == "duration" else ""
        if unit in UNITS and upper.endswith(" " + unit):  # "340–522 days"
            lower = lower.rsplit(" ", 1)[0]
        return f"{lower}–{upper}"
    if column.kind == "text" and lang == "nl" and column.nl_key and row is not None:
        value = _get(row, column.nl_key)
    text = _one(value, column, row, lang)
    if column.kind == "rank" and text and column.tie and _get(row, column.tie) is True:
        text += "="
    return text


def _get(row: Any, key: str) -> Any:
    if row is None:
        return None
    try:
        value = row[key]
    except (KeyError, IndexError):
        return None
    return bool(value) if type(value).__name__ == "bool_" else value


def _one(value: Any, column: Column, row: Any, lang: str) -> str:
    if isinstance(value, list | tuple):
        return "; ".join(str(v) for v in value)
    if missing(value):
        return ""
    kind = column.kind
    if kind == "text":
        if column.values and value in column.values:
            return column.values[value].get(lang, str(value))
        return str(value)
    if kind == "flag":
        return WORDS[lang]["yes"] if bool(value) else ""
    if kind == "date":
        return str(value)[:10]
    if isinstance(value, str):
        return value
    value = float(value)
    if math.isinf(value) and kind != "duration":
        return WORDS[lang]["not bounded"]
    if kind in ("count", "rank"):
        return number(value, lang, 0)
    if kind == "share":
        return percent(value, lang)
    if kind == "score":
        unit = column.unit or (_get(row, column.unit_key) if column.unit_key else None)
        return score(value, unit, lang, column.signed)
    if kind == "ratio":
        return ratio(value, lang)
    if kind == "p":
        return p_value(value, lang)
    if kind == "duration":
        return duration(value, column.unit, lang)
    return significant(value, lang)


def formatted(table: Table, rows: Any, columns: list[Column], lang: str) -> list[list[str]]:
    """Every cell of ``rows`` (a frame) for ``columns``, as text."""
    return [
        [cell(_get(row, c.key), c, row, lang) for c in columns]
        for row in rows.to_dict(orient="records")
    ]


def more_note(table: Table, shown: int, lang: str) -> str:
    noun = table.noun[1] if lang == "nl" else table.noun[0]
    total = table.body_rows()
    return WORDS[lang]["more"].format(
        shown=number(shown, lang, 0), total=number(total, lang, 0), noun=noun
    )


def html_table(result: Result, lang: str = "en", max_rows: int = 50) -> str:
    """The result as a notebook shows it: its table (top rows) and its sentence."""
    table = result.display()
    parts = ['<div class="cxray-result">']
    if len(table):
        columns = [c for c in table.columns if not c.wide]
        rows = table.top(max_rows)
        head = "".join(
            f'<th style="text-align:{"right" if c.numeric else "left"}">'
            f"{html.escape(c.label(lang))}</th>"
            for c in columns
        )
        body = "".join(
            "<tr>"
            + "".join(
                f'<td style="text-align:{"right" if c.numeric else "left"}">'
                f"{html.escape(text)}</td>"
                for c, text in zip(columns, cells, strict=True)
            )
            + "</tr>"
            for cells in formatted(table, rows, columns, lang)
        )
        parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        if len(rows) < len(table):
            shown = len(rows) - table.pinned
            parts.append(f"<p><small>{html.escape(more_note(table, shown, lang))}</small></p>")
    sentence = result.summary(lang)
    if sentence:
        parts.append(f"<p>{html.escape(sentence)}</p>")
    for caveat in result.caveats(lang):
        parts.append(f'<p style="color:#8a5a00">{html.escape(caveat)}</p>')
    parts.append("</div>")
    return "".join(parts)
