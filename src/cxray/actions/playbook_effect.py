"""Did a playbook help? Churn after the moment, with the playbook's action against without.

The same approach as :mod:`cxray.actions.followup_effect`, and its functions: with a hold-out
(``holdout_share`` of the playbook, drawn as follow-ups draw theirs) the estimate is
*randomised*: every customer offered the action since the first one held out against those held
out. Without one it is *observational*: customers whose task was done with an outcome other than
``no_answer``, or whose mail was queued, against those whose task stayed open more than
``WORK_DAYS`` after the moment or whose mail was skipped; adjusted for tenure and said to be
observational. Time runs from the moment to churn or the end of the observation window, as
every analysis defines them; each customer counts once, with their first moment.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from cxray.actions.followup_effect import (
    MIN_GROUP,
    Estimate,
    _churn_at,
    _hazard_ratio,
    _lifetimes,
    _Source,
)
from cxray.actions.playbooks import TABLE, list_tasks
from cxray.analysis.lifetimes import data_end

WORK_DAYS = 7


@dataclass
class PlaybookEffect:
    playbook: str | None
    design: str  # "randomised", "observational" or "none"
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)  # treated / control
    hazard_ratio: Estimate = field(default_factory=Estimate)
    horizon_days: float = 90.0
    tasks: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "playbook": self.playbook,
            "design": self.design,
            "groups": self.groups,
            "hazard_ratio": self.hazard_ratio.to_dict(),
            "horizon_days": self.horizon_days,
            "tasks": self.tasks,
        }

    def summary(self, lang: str = "en") -> str:
        nl = lang == "nl"
        if self.design == "none":
            return "Nog niets te vergelijken." if nl else "Nothing to compare yet."
        hr = self.hazard_ratio
        kind = {
            "randomised": ("randomised (hold-out)", "gerandomiseerd (achtergehouden groep)"),
            "observational": (
                "observational: those worked may differ from the rest",
                "observationeel: wie bediend werd kan verschillen van de rest",
            ),
        }[self.design][1 if nl else 0]
        if not hr.known:
            return (
                f"Te weinig klanten of vertrek om een effect te schatten ({kind})."
                if nl
                else f"Too few customers or churn to estimate an effect ({kind})."
            )
        numbers = f"{hr.value:.2f} ({hr.lower:.2f}–{hr.upper:.2f})"
        if nl:
            return f"Vertrekrisico met de actie tegen zonder: hazard ratio {numbers}; {kind}."
        return f"Churn hazard with the action against without: hazard ratio {numbers}; {kind}."


def playbook_effect(
    source: Any,
    journey: Any = None,
    *,
    playbook: str | None = None,
    horizon_days: float = 90.0,
    now: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> PlaybookEffect:
    """The effect of a playbook's action (or of all playbooks) on churn after the moment."""
    src = _Source(source, journey)
    now = now or dt.datetime.now(dt.UTC)
    tasks = list_tasks(src.warehouse, playbook=playbook, held_out=None, limit=10_000)
    if not tasks:
        return PlaybookEffect(playbook, "none", horizon_days=horizon_days)
    frame = pd.DataFrame([t.__dict__ for t in tasks])
    frame["moment_at"] = pd.to_datetime(frame["moment_at"], utc=True)
    frame["held_out"] = frame["held_out"].astype(bool)
    worked = ((frame["status"] == "done") & (frame["outcome"] != "no_answer")) | (
        frame["status"] == "queued"
    )
    if frame["held_out"].any():
        design = "randomised"
        since = frame.loc[frame["held_out"], "moment_at"].min()
        chosen = frame[frame["moment_at"] >= since].copy()
        chosen["treated"] = ~chosen["held_out"]
    else:
        design = "observational"
        late = pd.Timestamp(now - dt.timedelta(days=WORK_DAYS))
        never = ((frame["status"] == "open") & (frame["moment_at"] < late)) | (
            frame["status"] == "skipped"
        )
        chosen = frame[worked | never].copy()
        chosen["treated"] = worked[chosen.index]
    chosen = chosen.sort_values(["moment_at", "task_id"]).drop_duplicates("customer_id")
    # followup_effect's lifetimes read an answer's time, score and metric: the moment stands in
    chosen = chosen.assign(
        answered_at=chosen["moment_at"], score=0.0, metric="playbook", followup_id=chosen["task_id"]
    )
    lives = _lifetimes(src, chosen, end or data_end(src))
    groups = {}
    for name, flag in (("treated", True), ("control", False)):
        mine = lives[lives["treated"] == flag]
        churn = low = high = math.nan
        if len(mine) >= MIN_GROUP:
            churn, low, high = _churn_at(mine, horizon_days)
        groups[name] = {
            "customers": int((chosen["treated"] == flag).sum()),
            "followed": len(mine),
            "churned": int(mine["churned"].sum()) if len(mine) else 0,
            "churn_at_horizon": None if math.isnan(churn) else churn,
            "churn_lower": None if math.isnan(low) else low,
            "churn_upper": None if math.isnan(high) else high,
        }
    adjust = ("tenure",) if design == "observational" else ()
    return PlaybookEffect(
        playbook, design, groups, _hazard_ratio(lives, adjust), horizon_days, len(frame)
    )


__all__ = ["TABLE", "WORK_DAYS", "PlaybookEffect", "playbook_effect"]
