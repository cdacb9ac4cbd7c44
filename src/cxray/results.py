"""The small surface every result shares: `to_pandas()`, `to_dict()`, `summary()`."""

from __future__ import annotations

import datetime as _dt
import math
from typing import Any

import numpy as np
import pandas as pd


def jsonable(value: Any) -> Any:
    """Plain JSON types for numpy/pandas values (NaN becomes null)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
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
    """Base for analysis results. Subclasses hold small, already-computed data."""

    # What the churn rule makes of the data (a ChurnCheck), attached to every churn answer so
    # that a rule which does not fit the data is said beside the numbers it changes.
    churn_rule: Any = None

    def caveats(self, lang: str = "en") -> list[str]:
        """Sentences a reader must see beside this result (e.g. a churn rule that misfits)."""
        if self.churn_rule is None:
            return []
        return [*self.churn_rule.warnings(lang), *self.churn_rule.notes(lang)]

    def to_pandas(self) -> pd.DataFrame:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        return {"rows": frame_records(self.to_pandas())}

    def summary(self, lang: str = "en") -> str:
        return ""
