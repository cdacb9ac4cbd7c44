"""Where in the journey customers are lost: the phase funnel.

Rules (they decide every number in the table):

- **Reaching a phase.** A customer reached phase k when they had an event of any touchpoint in
  phase k *or a later phase*: reaching a later phase implies having passed the earlier ones. The
  moment of reaching k is their first event in phase k or later. So the counts never grow from one
  phase to the next, and a customer who skipped a phase in the data is not counted as lost there.
  Churn touchpoints (``[churn] touchpoints``) and unassigned touchpoints place nobody in a phase.
- **Converting** from k to k + 1: reaching k + 1 (within ``window_days`` of reaching k, when a
  window is given).
- **Drop-off** after k: reached k, did not convert, and either churned after reaching k (churn as
  defined by :func:`cxray.analysis.lifetimes.customer_lifetimes`), or — with a window — was
  observed for the whole window without converting.
- **Censored** after k: reached k, did not convert and did not drop off: still active when the
  data ends, or (with a window) the window had not passed when the data ends. They are reported
  apart and never counted as drop-off. Without a churn rule and without a window nobody can be
  seen to drop off.

``conversion`` = converted / reached (censored customers count as not converted, so it is a lower
bound); ``conversion_known`` = converted / (converted + dropped), among customers whose outcome
is known. Days to the next phase are over converted customers (median and 90th percentile,
linear interpolation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from cxray.analysis._common import (
    ALL,
    MISSING,
    check_lang,
    count_true,
    customer_attribute,
    fmt_num,
    fmt_pct,
    records,
)
from cxray.analysis.lifetimes import SECONDS_PER_DAY, customer_lifetimes, data_end
from cxray.labels import phase_label
from cxray.results import Column, Result, Table, group_column, jsonable

FUNNEL_COLUMNS = [
    "group",
    "phase",
    "next_phase",
    "reached",
    "converted",
    "conversion",
    "conversion_known",
    "dropped",
    "drop_share",
    "censored",
    "median_days_to_next",
    "p90_days_to_next",
]


def _phase_steps(ws: Any, phases: list[str]) -> ir.Table:
    """touchpoint -> step (position in the funnel) for the touchpoints in the chosen phases."""
    churn = set(ws.journey.churn.touchpoints)
    rows = [
        {"touchpoint": name, "step": phases.index(tp.phase)}
        for name, tp in ws.journey.touchpoints.items()
        if tp.phase in phases and name not in churn
    ]
    frame = pd.DataFrame(rows, columns=["touchpoint", "step"]).astype({"step": "int64"})
    return ibis.memtable(frame, schema=ibis.schema({"touchpoint": "string", "step": "int64"}))


def _check_phases(ws: Any, phases: list[str] | None) -> list[str]:
    journey_phases = list(ws.journey.phases)
    if phases is None:
        return journey_phases
    unknown = [p for p in phases if p not in journey_phases]
    if unknown:
        raise ValueError(
            f"unknown phase(s) {', '.join(unknown)}; the journey's phases are "
            f"{', '.join(journey_phases)}"
        )
    if len(phases) < 2:
        raise ValueError("a funnel needs at least two phases")
    positions = [journey_phases.index(p) for p in phases]
    if positions != sorted(set(positions)):
        raise ValueError(f"list the phases once each, in the journey's order: {journey_phases}")
    return list(phases)


def _group_column(ws: Any, by: str | None, table: ir.Table) -> ir.Table:
    if by is None:
        return table.mutate(group=ibis.literal(ALL))
    if by == "cohort":
        # acquisition month; written as YYYY-MM on the small result
        return table.mutate(group=table.start.truncate("M"))
    attribute = customer_attribute(ws, by)
    joined = table.left_join(attribute, table.customer_id == attribute.customer_id)
    return joined.drop("customer_id_right")


@dataclass(repr=False)
class FunnelResult(Result):
    """One row per phase (and group): see ``FUNNEL_COLUMNS``; the last phase has no next one."""

    frame: pd.DataFrame
    phases: list[str]
    window_days: int | None = None
    by: str | None = None
    churn_rule: bool = True
    placed_touchpoints: int = 0  # touchpoints of the data placed in one of the funnel's phases

    def display(self) -> Table:
        days = {"kind": "duration", "unit": "days"}
        columns = [group_column(self.by)] if self.by is not None else []
        columns += [
            Column("phase", "text", "phase", "fase"),
            Column("reached", "count", "reached", "bereikt"),
            Column("converted", "count", "to next phase", "naar volgende fase", 5),
            Column("conversion", "share", "conversion", "conversie", 8),
            Column("dropped", "count", "dropped", "uitgevallen", 6),
            Column("drop_share", "share", "drop-off", "uitval", 8),
            Column("censored", "count", "still in progress", "nog onderweg", 4),
            Column("median_days_to_next", en="median time to next", nl="mediane tijd tot volgende",
                   priority=7, **days),
            Column("p90_days_to_next", en="90% within", nl="90% binnen", priority=3, **days),
            Column("next_phase", "text", "next phase", "volgende fase", wide=True),
            Column("conversion_known", "share", "conversion (outcome known)",
                   "conversie (uitkomst bekend)", wide=True),
        ]  # fmt: skip
        return Table(self.frame.reset_index(drop=True), columns, noun=("phases", "fasen"))

    @property
    def how(self) -> str:
        customers = int(self.frame.loc[self.frame["phase"] == self.phases[0], "reached"].sum())
        window = (
            f"conversion within {self.window_days} days; not converted after the window "
            "counts as drop-off"
            if self.window_days
            else "no conversion window"
        )
        churn = (
            ""
            if self.churn_rule
            else "; no churn rule in the journey, so only a window can show drop-off"
        )
        return (
            f"{customers} customers; reaching a phase = first event in that phase or a later one; "
            f"{window}; drop-off = churned after reaching the phase without converting; "
            f"censored (still active when the data ends) reported apart{churn}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": records(self.frame),
            "params": jsonable(
                {"phases": self.phases, "window_days": self.window_days, "by": self.by}
            ),
            "how": self.how,
        }

    def summary(self, lang: str = "en") -> str:
        check_lang(lang)
        steps = self.frame[self.frame["next_phase"].notna() & (self.frame["reached"] > 0)]
        if steps.empty:
            if not self.placed_touchpoints:
                return (
                    "No customer reached a phase of the funnel: no touchpoint is placed in one "
                    "of its phases yet (give touchpoints a phase in cxray.toml)."
                    if lang == "en"
                    else "Geen klant bereikte een fase van de funnel: nog geen contactmoment is "
                    "in een van de fasen ingedeeld (geef contactmomenten een fase in cxray.toml)."
                )
            return (
                "No customer reached a phase of the funnel."
                if lang == "en"
                else "Geen klant bereikte een fase van de funnel."
            )
        totals = (
            steps.groupby(["phase", "next_phase"], sort=False)[["reached", "dropped", "censored"]]
            .sum()
            .reset_index()
        )
        totals["share"] = totals["dropped"] / totals["reached"]
        # most customers lost, not the highest share: 1 of 1 is no finding
        worst = totals.sort_values(["dropped", "share"], ascending=False, kind="stable").iloc[0]
        if worst["dropped"] == 0:
            open_count = int(totals["censored"].sum())
            count = fmt_num(open_count, lang)
            if lang == "en":
                return (
                    f"No customer was seen to drop off between phases; {count} "
                    f"customer{'' if open_count == 1 else 's'} had not reached the next phase "
                    "yet when the data ends (censored)."
                )
            one = open_count == 1
            return (
                f"Geen klant is zichtbaar uitgevallen tussen fasen; {count} "
                f"klant{'' if one else 'en'} had{'' if one else 'den'} "
                "de volgende fase nog niet bereikt toen de data ophield (gecensureerd)."
            )
        share = fmt_pct(worst["share"], lang)
        reached, dropped = fmt_num(worst["reached"], lang), fmt_num(worst["dropped"], lang)
        censored_count = int(worst["censored"])
        censored = fmt_num(censored_count, lang)
        phase, next_phase = (phase_label(worst[k], lang) for k in ("phase", "next_phase"))
        if lang == "en":
            text = (
                f"The biggest drop-off is after {phase}: {dropped} of {reached} customers "
                f"who reached it ({share}) left without reaching {next_phase}"
            )
            if censored_count:
                text += (
                    f"; {censored} more {'is' if censored_count == 1 else 'are'} still in progress "
                    "(censored, not counted as drop-off)"
                )
            return text + "."
        text = (
            f"De grootste uitval is na {phase}: {dropped} van de {reached} klanten die "
            f"die fase bereikten ({share}) haakten af vóór {next_phase}"
        )
        if censored_count:
            text += (
                f"; nog {censored} {'is' if censored_count == 1 else 'zijn'} onderweg "
                "(gecensureerd, niet als uitval geteld)"
            )
        return text + "."


def funnel(
    ws: Any,
    phases: list[str] | None = None,
    window_days: int | None = None,
    by: str | None = None,
) -> FunnelResult:
    """The phase funnel: reached, converted, dropped and censored customers per phase.

    ``phases``: a subset of the journey's phases, in the journey's order (default: all).
    ``window_days``: conversion to the next phase counts only within this many days.
    ``by``: ``segment``, ``cohort`` (month of the customer's start) or any customer attribute.
    The rules for reaching, converting, dropping off and censoring are in the module
    documentation; in short: reaching a later phase implies the earlier ones, and customers
    whose data ends before they could convert are censored, not dropped.
    """
    phases = _check_phases(ws, phases)
    if window_days is not None and window_days <= 0:
        raise ValueError("window_days must be a positive number of days")
    end = data_end(ws)
    churn_rule = ws.journey.churn.enabled
    if end is None:
        return FunnelResult(
            pd.DataFrame(columns=FUNNEL_COLUMNS),
            phases,
            window_days,
            by,
            churn_rule,
            _placed(ws, phases),
        )

    steps = _phase_steps(ws, phases)
    events = ws.events.select("customer_id", "ts", "touchpoint").join(steps, "touchpoint")
    reach_cols = [f"reached_{k}" for k in range(len(phases))]
    per_customer = events.group_by("customer_id").aggregate(
        **{col: events.ts.min(where=events.step >= k) for k, col in enumerate(reach_cols)}
    )
    # who left, not the time-to-event window: an explicit cancellation in the last days counts
    lives = customer_lifetimes(ws, end)
    lives = lives.select(
        "start", churned=lives.left, churn_ts=lives.left_ts, customer_id_life=lives.customer_id
    )
    table = per_customer.left_join(lives, per_customer.customer_id == lives.customer_id_life)
    table = table.drop("customer_id_life")
    table = _group_column(ws, by, table)

    end_epoch = ibis.literal(end, type="timestamp('UTC')").epoch_seconds()
    churned = table.churned.fill_null(False)
    aggregates: dict[str, ir.Scalar] = {}
    for k in range(len(phases)):
        reached_at = table[reach_cols[k]]
        reached = reached_at.notnull()
        aggregates[f"reached_{k}"] = count_true(reached)
        if k == len(phases) - 1:
            break
        next_at = table[reach_cols[k + 1]]
        days = (next_at.epoch_seconds() - reached_at.epoch_seconds()) / SECONDS_PER_DAY
        converted = next_at.notnull()
        if window_days is not None:
            converted &= days <= window_days
        open_step = reached & ~converted
        # churn before reaching k (a returning customer) is not leaving after k
        left = churned & (table.churn_ts >= reached_at)
        if window_days is not None:
            window_over = (end_epoch - reached_at.epoch_seconds()) >= window_days * SECONDS_PER_DAY
            left |= window_over
        dropped = open_step & left
        aggregates[f"converted_{k}"] = count_true(converted)
        aggregates[f"dropped_{k}"] = count_true(dropped)
        aggregates[f"censored_{k}"] = count_true(open_step & ~left)
        aggregates[f"median_{k}"] = days.quantile(0.5, where=converted)
        aggregates[f"p90_{k}"] = days.quantile(0.9, where=converted)
    wide = table.group_by("group").aggregate(**aggregates).execute()
    if by == "cohort" and len(wide):
        wide["group"] = pd.to_datetime(wide["group"], utc=True).dt.strftime("%Y-%m")
    wide["group"] = wide["group"].astype("object").where(wide["group"].notna(), MISSING)
    frame = _long(wide, phases)
    return FunnelResult(frame, phases, window_days, by, churn_rule, _placed(ws, phases))


def _placed(ws: Any, phases: list[str]) -> int:
    churn = set(ws.journey.churn.touchpoints)
    return sum(
        1 for name, tp in ws.journey.touchpoints.items() if tp.phase in phases and name not in churn
    )


def _long(wide: pd.DataFrame, phases: list[str]) -> pd.DataFrame:
    rows = []
    last = len(phases) - 1
    for _, record in wide.sort_values("group").iterrows():
        for k, phase in enumerate(phases):
            reached = int(record[f"reached_{k}"] or 0)
            row: dict[str, Any] = {"group": record["group"], "phase": phase, "reached": reached}
            if k < last:
                converted = int(record[f"converted_{k}"] or 0)
                dropped = int(record[f"dropped_{k}"] or 0)
                known = converted + dropped
                row.update(
                    next_phase=phases[k + 1],
                    converted=converted,
                    conversion=converted / reached if reached else np.nan,
                    conversion_known=converted / known if known else np.nan,
                    dropped=dropped,
                    drop_share=dropped / reached if reached else np.nan,
                    censored=int(record[f"censored_{k}"] or 0),
                    median_days_to_next=_number(record[f"median_{k}"]),
                    p90_days_to_next=_number(record[f"p90_{k}"]),
                )
            rows.append(row)
    frame = pd.DataFrame(rows, columns=FUNNEL_COLUMNS)
    for column in ("converted", "dropped", "censored"):
        frame[column] = frame[column].astype("Int64")
    return frame


def _number(value: Any) -> float:
    return float(value) if value is not None and pd.notna(value) else np.nan
