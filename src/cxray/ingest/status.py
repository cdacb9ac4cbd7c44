"""What is in a workspace, and what looks wrong with it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from cxray.results import Result, jsonable

if TYPE_CHECKING:
    from cxray.journey import Journey
    from cxray.warehouse import Warehouse


@dataclass
class Status(Result):
    path: str
    engine: str
    journey: dict[str, Any]
    counts: dict[str, int]
    first_ts: Any
    last_ts: Any
    touchpoint_counts: dict[str, int]
    warnings: list[str] = field(default_factory=list)
    # what the churn rule makes of the data (churned by rule, span, warnings); set by the
    # Workspace, which may ask the analysis layer — ingest itself knows nothing of churn
    churn: Any = None
    # differences an interrupted import had left, repaired before counting (set by the Workspace)
    repairs: list[Any] = field(default_factory=list)

    def all_warnings(self, lang: str = "en") -> list[str]:
        churn = [] if self.churn is None else [*self.churn.warnings(lang), *self.churn.notes(lang)]
        repaired = [repair.text(lang) for repair in self.repairs]
        return [*repaired, *self.warnings, *churn]

    def to_pandas(self) -> pd.DataFrame:
        return pd.DataFrame([{"table": name, "rows": rows} for name, rows in self.counts.items()])

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["churn"] = self.churn.to_dict() if self.churn is not None else None
        data["repairs"] = [repair.text("en") for repair in self.repairs]
        data["warnings"] = self.all_warnings("en")
        return jsonable(data)

    def summary(self, lang: str = "en") -> str:
        c = self.counts
        churn = f" {self.churn.summary(lang)}" if self.churn is not None else ""
        if lang == "nl":

            def n(key: str) -> str:
                return f"{c[key]:,}".replace(",", ".")

            return (
                f"{n('customers')} klanten, {n('events')} interacties, "
                f"{n('feedback')} feedbackantwoorden.{churn}"
            )
        return (
            f"{c['customers']:,} customers, {c['events']:,} events, "
            f"{c['feedback']:,} feedback answers.{churn}"
        )


def status(warehouse: Warehouse, journey: Journey, path: Path) -> Status:
    """What a workspace's warehouse holds, checked against its journey."""
    events, feedback, customers = warehouse.events, warehouse.feedback, warehouse.customers
    counts = warehouse.counts()
    span = [
        events.ts.min().execute(),
        events.ts.max().execute(),
        feedback.ts.min().execute(),
        feedback.ts.max().execute(),
    ]
    stamps = [s for s in span if s is not None and not pd.isna(s)]
    first = min(stamps) if stamps else None
    last = max(stamps) if stamps else None

    per_touchpoint = events.group_by("touchpoint").aggregate(n=events.count()).execute()
    touchpoint_counts = dict(
        zip(per_touchpoint.touchpoint, per_touchpoint.n.astype(int), strict=True)
    )

    warnings: list[str] = []
    if journey.unassigned:
        warnings.append(
            f"{len(journey.unassigned)} touchpoint(s) have no phase yet: "
            f"{', '.join(journey.unassigned[:10])} — give them a phase in cxray.toml"
        )
    never = [name for name in journey.touchpoints if name not in touchpoint_counts]
    if never and counts["events"]:
        warnings.append(f"touchpoint(s) in the journey never seen in events: {', '.join(never)}")
    if counts["events"]:
        with_events = events.select("customer_id").distinct()
        no_feedback = (
            with_events.anti_join(
                feedback.filter(feedback.customer_id.notnull()).select("customer_id"), "customer_id"
            )
            .count()
            .execute()
        )
        if no_feedback:
            warnings.append(f"{no_feedback:,} customer(s) with events but no feedback")
        if counts["customers"]:
            missing = with_events.anti_join(customers, "customer_id").count().execute()
            if missing:
                warnings.append(f"{missing:,} customer(s) with events but no row in customers")
    if counts["feedback"]:
        orphan = feedback.filter(feedback.customer_id.isnull()).count().execute()
        if counts["customers"] or counts["events"]:
            known = customers.select("customer_id").union(events.select("customer_id").distinct())
            orphan += (
                feedback.filter(feedback.customer_id.notnull())
                .select("customer_id")
                .anti_join(known, "customer_id")
                .count()
                .execute()
            )
        if orphan:
            warnings.append(f"{orphan:,} feedback answer(s) without a known customer")
    return Status(
        path=str(path),
        engine=warehouse.engine,
        journey=journey.to_dict(),
        counts=counts,
        first_ts=first,
        last_ts=last,
        touchpoint_counts=touchpoint_counts,
        warnings=warnings,
    )
