"""The small surface every result shares: `to_pandas()`, `to_dict()`, `summary()`, `display()`.

A result describes the table a person reads (:class:`Table`: its rows and, per column, what kind
of number it holds and its label in English and Dutch); the faces only format it. The terminal
(``cxray``) and a notebook (``_repr_html_``) show the same table.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas is imported where a frame is built, not when the CLI starts
    import pandas as pd

# What a column holds decides how a cell is written (see cxray.cells):
KINDS = (
    "count",  # whole numbers: 1,234
    "number",  # any other number: three significant digits, never an exponent
    "share",  # a fraction 0–1 written as a percentage: 24%
    "score",  # a score on its metric's scale: NPS +6, CSAT 73%, CES 5.34 (``unit``)
    "ratio",  # a rate or hazard ratio: 1.90
    "p",  # a p- or q-value: 0.067, <0.001
    "duration",  # a time span (``unit`` days or seconds): 9 min, 5.2 h, 3 days, not reached
    "date",  # a timestamp written as its day
    "flag",  # True reads "yes", False nothing
    "rank",  # 1, 2, 2= (``tie`` names the column that says a rank is shared)
    "text",  # words; wrapped, never cut
)
ESSENTIAL = 9  # a column with this priority is never left out to fit a narrow screen
MISSING_GROUP = "(missing)"  # how the analyses name a group whose value is unknown


@dataclass(frozen=True)
class Column:
    """One column of a displayed table.

    ``key`` is the column of the data; ``bounds`` (two keys) makes it an interval column whose
    cell reads "low–high". ``priority`` decides what a narrow screen leaves out first (lowest
    first; ESSENTIAL never); ``wide`` columns show only when asked for every column.
    ``unit``: for a score "points", "percent" or "mean" (or the key of a column holding it per
    row, as ``unit_key``); for a duration "days" or "seconds". ``values`` translates text cells:
    {raw value: {"en": ..., "nl": ...}}; ``nl_key`` is a column holding the Dutch text.
    """

    key: str
    kind: str
    en: str
    nl: str | None = None
    priority: int = ESSENTIAL
    wide: bool = False
    bounds: tuple[str, str] | None = None
    unit: str | None = None
    unit_key: str | None = None
    signed: bool = False
    tie: str | None = None
    nl_key: str | None = None
    values: Mapping[str, Mapping[str, str]] | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown column kind {self.kind!r}")

    def label(self, lang: str = "en") -> str:
        return (self.nl or self.en) if lang == "nl" else self.en

    @property
    def numeric(self) -> bool:
        return self.kind not in ("text", "date", "flag")


def interval(key_low: str, key_high: str, kind: str, priority: int = 5, **kw: Any) -> Column:
    """A 95% interval column: the cell reads "low–high"."""
    return Column(
        key_low, kind, "95% interval", "95%-interval", priority, bounds=(key_low, key_high), **kw
    )


@dataclass
class Table:
    """The rows a person reads and how to show each column.

    ``data`` holds the rows shown, in order, with every column the result has (``to_pandas()``);
    ``columns`` are the ones displayed. The last ``pinned`` rows (a total) stay when a long table
    is cut to its top rows. ``noun`` names a row (en, nl), for "20 of 588 customers shown".
    """

    data: pd.DataFrame
    columns: list[Column]
    pinned: int = 0
    noun: tuple[str, str] = ("rows", "rijen")

    def __len__(self) -> int:
        return len(self.data)

    def top(self, n: int | None) -> pd.DataFrame:
        """The first ``n`` rows (all when ``n`` is None or 0), then the pinned ones."""
        body = self.data.iloc[: len(self.data) - self.pinned]
        pinned = self.data.iloc[len(self.data) - self.pinned :]
        if n and len(body) > n:
            import pandas as pd

            return pd.concat([body.iloc[:n], pinned])
        return self.data

    def body_rows(self) -> int:
        return len(self.data) - self.pinned

    def labelled(self, lang: str) -> pd.DataFrame:
        """The displayed columns headed by their labels in ``lang``, text cells translated.

        Numbers stay numbers: a share as a percentage (0–100), a duration in days, an interval
        as two columns (its lower and upper bound).
        """
        import pandas as pd

        out: dict[str, Any] = {}
        low, high = ("ondergrens", "bovengrens") if lang == "nl" else ("lower", "upper")
        for column in self.columns:
            if column.bounds:
                name = _owner_label(self.columns, column, lang)
                for key, word in zip(column.bounds, (low, high), strict=True):
                    out[f"{name} ({word})"] = _as_number(self.data, key, column)
                continue
            label = column.label(lang)
            if column.kind == "share":
                label += " (%)"
            elif column.kind == "duration":
                label += " (dagen)" if lang == "nl" else " (days)"
            out[label] = _as_number(self.data, column.key, column, lang)
        return pd.DataFrame(out, index=range(len(self.data)))

    @staticmethod
    def infer(frame: pd.DataFrame) -> Table:
        """A plain table of any frame: numbers as numbers, everything else as text."""
        columns = []
        for name in frame.columns:
            dtype = frame[name].dtype
            if dtype.kind == "b":
                kind = "flag"
            elif dtype.kind in "iu":
                kind = "count"
            elif dtype.kind == "f":
                kind = "number"
            elif dtype.kind == "M":
                kind = "date"
            else:
                kind = "text"
            columns.append(Column(str(name), kind, str(name), priority=ESSENTIAL))
        return Table(frame.reset_index(drop=True), columns)


# The header of a "group" column says what the groups are; a group without a value says so.
BY_LABELS = {
    "touchpoint": ("touchpoint", "contactmoment"),
    "phase": ("phase", "fase"),
    "channel": ("channel", "kanaal"),
    "segment": ("segment", "segment"),
    "month": ("month", "maand"),
    "cohort": ("cohort", "cohort"),
    None: ("group", "groep"),
}


def missing_label(by: str | None, lang: str = "en") -> str:
    """How a group without a value reads: "(no touchpoint)" rather than "(missing)"."""
    if by == "touchpoint":
        return "(geen contactmoment)" if lang == "nl" else "(no touchpoint)"
    return "(onbekend)" if lang == "nl" else "(unknown)"


def group_column(by: str | None, key: str = "group", priority: int = ESSENTIAL) -> Column:
    en, nl = BY_LABELS.get(by, (str(by), str(by)))
    values = {
        MISSING_GROUP: {"en": missing_label(by, "en"), "nl": missing_label(by, "nl")},
        "all": {"en": "all", "nl": "alle"},
    }
    return Column(key, "text", en, nl, priority, values=values)


def _owner_label(columns: list[Column], column: Column, lang: str) -> str:
    """The label of the value an interval column belongs to: the column shown before it."""
    index = columns.index(column)
    for before in reversed(columns[:index]):
        if not before.bounds:
            return before.label(lang)
    return column.label(lang)


def _as_number(frame: pd.DataFrame, key: str, column: Column, lang: str = "en") -> Any:
    values = frame[column.nl_key] if lang == "nl" and column.nl_key else frame[key]
    if column.kind == "share":
        return values.astype(float) * 100
    if column.kind == "duration":
        return values.astype(float) / (86400.0 if column.unit == "seconds" else 1.0)
    if column.kind == "text":
        if column.values:
            return values.map(lambda v: column.values.get(v, {}).get(lang, v))  # type: ignore[union-attr]
        return values.map(lambda v: "; ".join(map(str, v)) if isinstance(v, list | tuple) else v)
    return values


def jsonable(value: Any) -> Any:
    """Plain JSON types for numpy/pandas values (NaN becomes null)."""
    import numpy as np
    import pandas as pd

    return _jsonable(value, np, pd)


def _jsonable(value: Any, np: Any, pd: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v, np, pd) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v, np, pd) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp | _dt.datetime | _dt.date):
        return value.isoformat()
    if isinstance(value, pd.Timedelta | _dt.timedelta):
        return value.total_seconds()
    return value


def frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [jsonable(row) for row in frame.to_dict(orient="records")]


class Result:
    """Base for analysis results. Subclasses hold small, already-computed data.

    A subclass describes its table in :meth:`display`; ``to_pandas()`` is that table's rows with
    every column (stable names, for programs), ``to_pandas(lang)`` the table as shown, with
    headers and labels in that language.
    """

    # What the churn rule makes of the data (a ChurnCheck), attached to every churn answer so
    # that a rule which does not fit the data is said beside the numbers it changes.
    churn_rule: Any = None

    def caveats(self, lang: str = "en") -> list[str]:
        """Sentences a reader must see beside this result (e.g. a churn rule that misfits)."""
        if self.churn_rule is None:
            return []
        return [*self.churn_rule.warnings(lang), *self.churn_rule.notes(lang)]

    def display(self) -> Table:
        """The table a person reads; by default every column of ``to_pandas()``."""
        if type(self).to_pandas is Result.to_pandas:
            raise NotImplementedError(f"{type(self).__name__} describes no table")
        return Table.infer(self.to_pandas())

    def to_pandas(self, lang: str | None = None) -> pd.DataFrame:
        table = self.display()
        return table.data.copy() if lang is None else table.labelled(lang)

    def to_dict(self) -> dict[str, Any]:
        return {"rows": frame_records(self.to_pandas())}

    def summary(self, lang: str = "en") -> str:
        return ""

    def __repr__(self) -> str:
        try:
            rows = len(self.display())
            sentence = self.summary("en")
        except Exception as exc:  # a repr must never fail in a notebook
            return f"<{type(self).__name__} ({type(exc).__name__}: {exc})>"
        if len(sentence) > 100:
            sentence = sentence[:100].rsplit(" ", 1)[0] + " …"
        return f"<{type(self).__name__}: {rows} rows. {sentence}>".replace(" .>", ">")

    def _repr_html_(self, lang: str = "en", max_rows: int = 50) -> str:
        from cxray.cells import html_table

        return html_table(self, lang, max_rows)


__all__ = [
    "ESSENTIAL",
    "KINDS",
    "MISSING_GROUP",
    "Column",
    "Result",
    "Table",
    "frame_records",
    "group_column",
    "interval",
    "jsonable",
    "missing_label",
]
