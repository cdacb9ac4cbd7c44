"""The at-risk list and the onboarding tracker: selections from the risk and onboarding results,
so that a page shows the same customers a program reading the result would pick."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from cxray.analysis.customers import _limit, _refuse
from cxray.results import Result, Table, frame_records, jsonable


@dataclass(repr=False)
class CustomerList(Result):
    """A selection of customers from a larger result (the riskiest, the late newcomers)."""

    source: Result
    frame: pd.DataFrame
    total: int  # rows the selection drew from
    matching: int  # rows that met its condition, of which ``frame`` holds the first
    params: dict[str, Any] = field(default_factory=dict)

    def display(self) -> Table:
        table = self.source.display()
        return Table(self.frame.reset_index(drop=True), table.columns, noun=table.noun)

    def to_dict(self) -> dict[str, Any]:
        data = self.source.to_dict(rows=False)  # its rows are replaced by this selection's
        data.update(
            rows=frame_records(self.frame),
            total=self.total,
            matching=self.matching,
            selection=jsonable(self.params),
        )
        return data

    def summary(self, lang: str = "en") -> str:
        return self.source.summary(lang)

    def caveats(self, lang: str = "en") -> list[str]:
        return self.source.caveats(lang)


def at_risk_list(result: Any, top: int = 50, band: str | None = None) -> CustomerList:
    """The ``top`` riskiest active customers of a RiskResult (of one band if asked)."""
    top = _limit(top, "top")
    frame = result.frame
    if band is not None:
        if band not in ("high", "medium", "low"):
            raise _refuse("band is one of: high, medium, low", "band is een van: high, medium, low")
        frame = frame[frame["band"] == band]
    matching = len(frame)
    if len(frame) > top:  # sort only the top and its ties, not every active customer
        cutoff = frame["probability"].nlargest(top).iloc[-1]
        frame = frame[frame["probability"] >= cutoff]
    frame = frame.sort_values(
        ["probability", "customer_id"], ascending=[False, True], kind="stable"
    )
    return CustomerList(
        result, frame.head(top), len(result.frame), matching, {"top": top, "band": band}
    )


def onboarding_list(result: Any, top: int = 100, late_only: bool = False) -> CustomerList:
    """New customers of an OnboardingResult, the late ones first (only those if asked)."""
    top = _limit(top, "top")
    frame = result.frame
    if late_only:
        frame = frame[frame["late"].astype(bool)]
    return CustomerList(
        result, frame.head(top), len(result.frame), len(frame), {"top": top, "late": late_only}
    )


def risk_of(result: Any, customer_id: str) -> dict[str, Any] | None:
    """The customer's row of a RiskResult (probability, band, reasons), None when not scored."""
    positions = result.__dict__.get("_positions")
    if positions is None:  # made once per result: a timeline page asks for one customer
        ids = result.frame["customer_id"].astype(str)
        positions = {customer: row for row, customer in enumerate(ids)}
        result.__dict__["_positions"] = positions
    row = positions.get(str(customer_id))
    return frame_records(result.frame.iloc[[row]])[0] if row is not None else None


__all__ = ["CustomerList", "at_risk_list", "onboarding_list", "risk_of"]
