"""Lifetime data without events: a CRM export with a start, an end or a churn flag per customer.

A customers file may carry, per customer, a start date (``first_seen``), an end date
(``churned_at``), a last-seen date (``last_seen``), a ``tenure`` (a duration) and a ``churned``
flag (yes/no). With the snapshot's as-of date these become the customer's lifetime:

- tenure + churned + as-of: ``first_seen = as_of - tenure``; ``churned_at = as_of`` when churned
  (the snapshot says they had left by then), else ``last_seen = as_of``;
- start + end: an end date means churned, unless a churned flag says no;
- a start date with tenure and churned: ``churned_at = first_seen + tenure``;
- a churned flag with no end date and no tenure: the as-of date is the end.

Refused per row, with line, column and reason: negative tenure, an end before the start, any
date after the as-of date, and churned = yes with no way to know when. Every rule is SQL run by
DuckDB over the whole file: a layer over the typed stage that derives the three timestamps.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass

from cxray.i18n import Message
from cxray.ingest import columns as cols
from cxray.ingest import values
from cxray.ingest.sources import sql_literal
from cxray.ingest.validation import Check

DAYS_PER_UNIT = {"days": 1.0, "weeks": 7.0, "months": 30.4375, "years": 365.25}
MAX_TENURE_DAYS = 200 * 365.25
DATES = ("first_seen", "churned_at", "last_seen")
MICROSECONDS_PER_DAY = 86_400_000_000

# Input-only columns (not stored as such) and the names people give them, English and Dutch.
INPUTS: dict[str, tuple[str, ...]] = {
    "tenure": (
        "tenure_months",
        "tenure_days",
        "tenure_weeks",
        "tenure_years",
        "tenure_in_months",
        "months_active",
        "months_as_customer",
        "customer_months",
        "lifetime_months",
        "looptijd",
        "looptijd_maanden",
        "looptijd_dagen",
        "klantduur",
        "duur_klantrelatie",
        "lidmaatschapsduur",
        "maanden_klant",
    ),
    "churned": (
        "churn",
        "is_churned",
        "has_churned",
        "churn_flag",
        "churned_flag",
        "has_left",
        "is_cancelled",
        "cancelled",
        "canceled",
        "opgezegd",
        "is_opgezegd",
        "vertrokken",
        "is_vertrokken",
        "afgehaakt",
        "verloren",
    ),
}
TRUE_WORDS = ("yes", "y", "true", "t", "1", "ja", "j", "waar")
FALSE_WORDS = ("no", "n", "false", "f", "0", "nee", "onwaar")
FLAG_WORDS = "yes/no, true/false, 1/0, ja/nee, y/n"
UNIT_HINTS = {
    "days": ("days", "day", "dagen", "dag"),
    "weeks": ("weeks", "week", "weken"),
    "months": ("months", "month", "maanden", "maand", "mnd"),
    "years": ("years", "year", "jaren", "jaar"),
}


class LifetimeError(ValueError):
    """A file-level problem with lifetime data (an option missing or unreadable)."""


def _error(en: str, nl: str) -> LifetimeError:
    return LifetimeError(Message(en, nl))


@dataclass(frozen=True)
class Lifetime:
    """How one import turns lifetime columns into first_seen, churned_at and last_seen."""

    as_of: dt.datetime | None
    days_per_unit: float | None
    present: frozenset[str]  # lifetime columns the file (or --set) provides

    def has(self, column: str) -> bool:
        return column in self.present

    @property
    def as_of_sql(self) -> str:
        if self.as_of is None:
            return "CAST(NULL AS TIMESTAMPTZ)"
        return f"CAST({sql_literal(self.as_of.isoformat())} AS TIMESTAMPTZ)"

    @property
    def as_of_text(self) -> str | None:
        return format_as_of(self.as_of) if self.as_of else None


def format_as_of(moment: dt.datetime) -> str:
    moment = moment.astimezone(dt.UTC)
    return moment.date().isoformat() if moment.time() == dt.time(0) else moment.isoformat()


def parse_as_of(value: str | dt.date | dt.datetime, timezone: str | None = None) -> dt.datetime:
    """The snapshot date as a UTC moment; a date alone means its midnight (UTC or ``timezone``)."""
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime.combine(value, dt.time(0))
    else:
        text = str(value).strip()
        moment = None
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            for layout in ("%d-%m-%Y", "%d/%m/%Y"):
                try:
                    moment = dt.datetime.strptime(text, layout)
                    break
                except ValueError:
                    continue
        if moment is None:
            raise _error(
                f"--as-of {text!r}: not a date I can read (use ISO 8601, e.g. 2024-01-31)",
                f"--as-of {text!r}: geen datum die ik kan lezen (gebruik ISO 8601, bijv. "
                "2024-01-31)",
            )
    if moment.tzinfo is None:
        try:
            zone = zoneinfo.ZoneInfo(timezone) if timezone else dt.UTC
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise _error(
                f"--timezone {timezone!r}: not a time zone I know",
                f"--timezone {timezone!r}: geen tijdzone die ik ken",
            ) from None
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(dt.UTC)


def unit_from_name(name: str) -> str | None:
    """The unit a column name states (``tenure_months``, ``looptijd_dagen``), if any."""
    words = re.split(r"[^a-z]+", cols.normalise(name))
    for unit, hints in UNIT_HINTS.items():
        if any(word in hints for word in words):
            return unit
    return None


def prepare(
    plan: cols.ColumnPlan,
    as_of: str | dt.date | dt.datetime | None,
    tenure_unit: str | None,
    timezone: str | None,
    file_label: str,
) -> Lifetime | None:
    """The lifetime plan of a customers import, or None when the file has no lifetime data."""
    given = set(plan.sources) | set(plan.constants)
    present = frozenset(c for c in (*DATES, *INPUTS) if c in given)
    lifetime_columns = present - {"first_seen"}
    if not lifetime_columns and as_of is None:
        if tenure_unit is not None:
            raise _error(
                f"{file_label}: --tenure-unit given, but the file has no tenure",
                f"{file_label}: --tenure-unit opgegeven, maar het bestand heeft geen klantduur",
            )
        return None
    for name in INPUTS:
        if name in plan.constants:
            raise _error(
                f"{file_label}: --set {name}=… is not supported; give {name} as a column",
                f"{file_label}: --set {name}=… kan niet; geef {name} als kolom",
            )
    moment = parse_as_of(as_of, timezone) if as_of is not None else None
    days = None
    if "tenure" in present:
        unit = tenure_unit or unit_from_name(plan.sources["tenure"])
        if unit is None:
            column = plan.sources["tenure"]
            raise _error(
                f"{file_label}: column {column!r} (tenure) does not say its unit; "
                "give --tenure-unit days, weeks, months or years",
                f"{file_label}: kolom {column!r} (klantduur) noemt haar eenheid niet; "
                "geef --tenure-unit days, weeks, months of years",
            )
        if unit not in DAYS_PER_UNIT:
            raise _error(
                f"{file_label}: --tenure-unit {unit!r}: expected days, weeks, months or years",
                f"{file_label}: --tenure-unit {unit!r}: verwacht days, weeks, months of years",
            )
        days = DAYS_PER_UNIT[unit]
        if moment is None and "first_seen" not in present:
            raise _error(
                f"{file_label}: tenure without a start date needs --as-of DATE, the date the "
                "export was taken (e.g. --as-of 2024-01-31): tenure is counted back from it",
                f"{file_label}: klantduur zonder startdatum heeft --as-of DATUM nodig, de datum "
                "van de export (bijv. --as-of 2024-01-31): de klantduur telt daarvandaan terug",
            )
    elif tenure_unit is not None:
        raise _error(
            f"{file_label}: --tenure-unit given, but the file has no tenure column",
            f"{file_label}: --tenure-unit opgegeven, maar het bestand heeft geen kolom met "
            "klantduur",
        )
    return Lifetime(as_of=moment, days_per_unit=days, present=present)


def typed_expressions(
    lifetime: Lifetime, plan: cols.ColumnPlan, types: dict[str, str]
) -> dict[str, str]:
    """``tenure`` in days and ``churned`` as a boolean, over the cleaned ``__s_`` values."""
    exprs = {"tenure": "CAST(NULL AS DOUBLE)", "churned": "CAST(NULL AS BOOLEAN)"}
    if lifetime.has("tenure"):
        number = values.number_expr("__s_tenure", types[plan.sources["tenure"]])
        exprs["tenure"] = f"({number}) * {lifetime.days_per_unit!r}"
    if lifetime.has("churned"):
        exprs["churned"] = flag_expr("__s_churned", types[plan.sources["churned"]])
    return exprs


def flag_expr(value: str, duck_type: str) -> str:
    upper = duck_type.upper()
    if upper == "BOOLEAN":
        return value
    if upper.startswith(values.NUMERIC_TYPES):
        return f"CASE WHEN {value} = 1 THEN true WHEN {value} = 0 THEN false END"
    text = f"lower({values.text_expr(value, duck_type)})"
    yes = ", ".join(sql_literal(w) for w in TRUE_WORDS)
    no = ", ".join(sql_literal(w) for w in FALSE_WORDS)
    return f"CASE WHEN {text} IN ({yes}) THEN true WHEN {text} IN ({no}) THEN false END"


def derive(lifetime: Lifetime, plan: cols.ColumnPlan, body: str) -> str:
    """Wrap the typed stage: keep the dates as read (``__p_*``), derive the stored ones."""
    as_of = lifetime.as_of_sql
    # A cleaned source value tells "given but unreadable" from "not given".
    start_given = (
        "__s_first_seen IS NOT NULL"
        if "first_seen" in plan.sources
        else ("__p_first_seen IS NOT NULL")
    )
    if lifetime.has("churned"):
        flag = "coalesce(__t_churned, __t_churned_at IS NOT NULL)"
    else:
        flag = "(__t_churned_at IS NOT NULL)"
    tenure = (
        f"CASE WHEN __t_tenure >= 0 AND __t_tenure <= {MAX_TENURE_DAYS!r} THEN "
        f"to_microseconds(CAST(round(__t_tenure * {MICROSECONDS_PER_DAY}) AS BIGINT)) END"
    )
    kept = (
        "SELECT *, CAST(__t_first_seen AS TIMESTAMPTZ) AS __p_first_seen, "
        "CAST(__t_churned_at AS TIMESTAMPTZ) AS __p_churned_at, "
        "CAST(__t_last_seen AS TIMESTAMPTZ) AS __p_last_seen, "
        f"{flag} AS __l_flag, {tenure} AS __l_tenure "
        f"FROM ({body})"
    )
    start = (
        f"CASE WHEN {start_given} THEN __p_first_seen WHEN __l_tenure IS NOT NULL THEN "
        f"(CASE WHEN __l_flag AND __p_churned_at IS NOT NULL THEN __p_churned_at "
        f"ELSE {as_of} END) - __l_tenure END"
    )
    end = f"CASE WHEN __l_flag THEN coalesce(__p_churned_at, __p_first_seen + __l_tenure, {as_of}) END"
    seen = (
        f"CASE WHEN __l_flag THEN __p_last_seen ELSE coalesce(__p_last_seen, {as_of}, "
        "__p_churned_at, __p_first_seen + __l_tenure) END"
    )
    return (
        f"SELECT * REPLACE ({start} AS __t_first_seen, {end} AS __t_churned_at, "
        f"{seen} AS __t_last_seen) FROM ({kept})"
    )


def checks(lifetime: Lifetime, plan: cols.ColumnPlan) -> list[Check]:
    """Row rules over the derived stage; ``{raw}`` is the cleaned source value of the column."""
    rules: list[Check] = []
    if lifetime.has("tenure"):
        rules += [
            Check("tenure", "{raw} IS NOT NULL AND __t_tenure IS NULL", "not a number"),
            Check("tenure", "__t_tenure < 0", "negative tenure"),
            Check(
                "tenure",
                f"NOT isfinite(__t_tenure) OR __t_tenure > {MAX_TENURE_DAYS!r}",
                "tenure out of range (not a finite number, or longer than 200 years)",
            ),
            Check(
                "tenure",
                "__l_tenure IS NOT NULL AND __t_first_seen IS NULL",
                "tenure, but no start date, end date or --as-of to count it from",
            ),
        ]
    if lifetime.has("churned"):
        rules.append(
            Check(
                "churned",
                "{raw} IS NOT NULL AND __t_churned IS NULL",
                f"not a yes/no value (expected {FLAG_WORDS})",
            )
        )
        if not lifetime.has("churned_at"):
            rules.append(Check("churned", "{raw} IS NULL", "missing value (yes or no)"))
    rules.append(
        Check(
            "churned",
            "__l_flag AND __t_churned_at IS NULL",
            "churned, but nothing says when: give an end date, a start date with tenure, "
            "or --as-of (the date of the export)",
        )
    )
    rules.append(
        Check(
            "churned_at",
            "__p_churned_at IS NOT NULL AND __p_churned_at < __t_first_seen",
            "end date before the start date",
        )
    )
    rules.append(
        Check(
            "last_seen",
            "__p_last_seen IS NOT NULL AND __p_last_seen < __t_first_seen",
            "last seen before the start date",
        )
    )
    if lifetime.as_of is not None:
        as_of, shown = lifetime.as_of_sql, lifetime.as_of_text
        for column, what in (
            ("first_seen", "start"),
            ("churned_at", "end"),
            ("last_seen", "last seen"),
        ):
            rules.append(
                Check(
                    column,
                    f"__p_{column} > {as_of}",
                    f"{what} date after the as-of date {shown}",
                )
            )
        if lifetime.has("tenure"):
            rules.append(
                Check(
                    "tenure",
                    f"__l_flag AND __p_churned_at IS NULL AND __p_first_seen + __l_tenure > {as_of}",
                    f"start date plus tenure is after the as-of date {shown}",
                )
            )
    return rules


def summary_aggregates() -> dict[str, str]:
    """Counts over the valid rows, for the import summary."""
    valid = "NOT __bad"
    dated = (
        "(__t_first_seen IS NOT NULL OR __t_churned_at IS NOT NULL OR __t_last_seen IS NOT NULL)"
    )
    return {
        "lifetime_customers": f"count(DISTINCT __t_customer_id) FILTER (WHERE {valid} AND {dated})",
        "lifetime_churned": (
            f"count(DISTINCT __t_customer_id) FILTER (WHERE {valid} AND __t_churned_at IS NOT NULL)"
        ),
    }
