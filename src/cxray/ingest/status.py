"""What is in a workspace, and what looks wrong with it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cxray.i18n import Message, count_of, join_words, number
from cxray.results import Result, jsonable
from cxray.warehouse import from_utc, utc

if TYPE_CHECKING:
    import pandas as pd

    from cxray.journey import Journey
    from cxray.warehouse import Warehouse


CUSTOMER_EN, CUSTOMER_NL = ("customer", "customers"), ("klant", "klanten")
TOUCHPOINT_EN, TOUCHPOINT_NL = ("touchpoint", "touchpoints"), ("contactmoment", "contactmomenten")
TABLE_NOUNS = {  # table -> (English, Dutch) (singular, plural)
    "customers": (CUSTOMER_EN, CUSTOMER_NL),
    "events": (("event", "events"), ("interactie", "interacties")),
    "feedback": (
        ("feedback answer", "feedback answers"),
        ("feedbackantwoord", "feedbackantwoorden"),
    ),
}


@dataclass
class Status(Result):
    path: str
    engine: str
    journey: dict[str, Any]
    counts: dict[str, int]
    first_ts: Any
    last_ts: Any
    touchpoint_counts: dict[str, int]
    warnings: list[str] = field(default_factory=list)  # English
    warnings_nl: list[str] = field(default_factory=list)  # the same in Dutch
    # what the churn rule makes of the data (churned by rule, span, warnings); set by the
    # Workspace, which may ask the analysis layer — ingest itself knows nothing of churn
    churn: Any = None
    # differences an interrupted import had left, repaired before counting (set by the Workspace)
    repairs: list[Any] = field(default_factory=list)

    def all_warnings(self, lang: str = "en") -> list[str]:
        churn = [] if self.churn is None else [*self.churn.warnings(lang), *self.churn.notes(lang)]
        repaired = [repair.text(lang) for repair in self.repairs]
        own = self.warnings_nl if lang == "nl" and self.warnings_nl else self.warnings
        return [*repaired, *own, *churn]

    def to_pandas(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame([{"table": name, "rows": rows} for name, rows in self.counts.items()])

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["churn"] = self.churn.to_dict() if self.churn is not None else None
        data["repairs"] = [repair.text("en") for repair in self.repairs]
        data["warnings"] = self.all_warnings("en")
        data["warnings_nl"] = self.all_warnings("nl")
        return jsonable(data)

    def summary(self, lang: str = "en") -> str:
        """What the workspace holds, in sentences: the tables, the period, the churn."""
        return " ".join(self.sentences(lang))

    def sentences(self, lang: str = "en") -> list[str]:
        c = self.counts
        nl = lang == "nl"
        held = [count_of(c[table], lang, *TABLE_NOUNS[table]) for table in TABLE_NOUNS]
        if not any(c[table] for table in TABLE_NOUNS):
            out = ["De werkruimte is nog leeg." if nl else "The workspace is empty so far."]
        else:
            holds = "De werkruimte bevat" if nl else "The workspace holds"
            out = [f"{holds} {join_words(held, lang)}."]
        if self.first_ts is not None and self.last_ts is not None:
            first, last = f"{self.first_ts:%Y-%m-%d}", f"{self.last_ts:%Y-%m-%d}"
            out.append(
                f"De gegevens lopen van {first} tot en met {last}."
                if nl
                else f"The data run from {first} to {last}."
            )
        if self.churn is not None and self.churn.customers:
            out.append(self.churn.summary(lang))
        return out


def status(warehouse: Warehouse, journey: Journey, path: Path) -> Status:
    """What a workspace's warehouse holds, checked against its journey.

    Plain SQL through the warehouse, read alike by DuckDB and PostgreSQL: `cxray status`
    answers without loading Ibis.
    """
    events = warehouse.relation(
        "events", {"customer_id": "VARCHAR", "ts": "TIMESTAMPTZ", "touchpoint": "VARCHAR"}
    )
    feedback = warehouse.relation("feedback", {"customer_id": "VARCHAR", "ts": "TIMESTAMPTZ"})
    customers = warehouse.relation("customers", {"customer_id": "VARCHAR"})

    def count(statement: str) -> int:
        return int(warehouse.query(statement)[0][0] or 0)

    counts = warehouse.counts()
    (span,) = warehouse.query(
        f"SELECT (SELECT {utc('MIN(ts)')} FROM {events}), (SELECT {utc('MAX(ts)')} FROM {events}), "
        f"(SELECT {utc('MIN(ts)')} FROM {feedback}), (SELECT {utc('MAX(ts)')} FROM {feedback})"
    )
    stamps = [from_utc(stamp) for stamp in span if stamp is not None]
    first = min(stamps) if stamps else None
    last = max(stamps) if stamps else None

    touchpoint_counts = {
        name: int(n)
        for name, n in warehouse.query(
            f"SELECT touchpoint, COUNT(*) FROM {events} GROUP BY touchpoint ORDER BY touchpoint"
        )
    }

    warnings: list[Message] = []
    if journey.unassigned:
        n, names = len(journey.unassigned), ", ".join(journey.unassigned[:10])
        more = n - 10
        shown = Message(names, names)
        if more > 0:
            shown = Message(
                f"{names} and {count_of(more, 'en', ('more', 'more'), ('', ''))}",
                f"{names} en nog {number(more, 'nl')}",
            )
        warnings.append(
            Message(
                f"{count_of(n, 'en', TOUCHPOINT_EN, TOUCHPOINT_NL)} "
                f"{'has' if n == 1 else 'have'} no phase yet: {shown.en} — give "
                f"{'it' if n == 1 else 'them'} a phase in cxray.toml",
                f"{count_of(n, 'nl', TOUCHPOINT_EN, TOUCHPOINT_NL)} "
                f"{'heeft' if n == 1 else 'hebben'} nog geen fase: {shown.nl} — geef "
                f"{'het' if n == 1 else 'ze'} een fase in cxray.toml",
            )
        )
    never = [name for name in journey.touchpoints if name not in touchpoint_counts]
    if never and counts["events"]:
        one = len(never) == 1
        warnings.append(
            Message(
                f"{'A touchpoint' if one else 'Touchpoints'} in the journey never seen in the "
                f"events: {join_words(never, 'en')}",
                f"{'Een contactmoment' if one else 'Contactmomenten'} uit de journey die nooit "
                f"in de interacties {'voorkomt' if one else 'voorkomen'}: "
                f"{join_words(never, 'nl')}",
            )
        )
    if counts["events"]:
        with_events = f"(SELECT DISTINCT customer_id FROM {events}) AS e"
        no_feedback = count(
            f"SELECT COUNT(*) FROM {with_events} WHERE NOT EXISTS "
            f"(SELECT 1 FROM {feedback} AS f WHERE f.customer_id = e.customer_id)"
        )
        if no_feedback:
            warnings.append(
                Message(
                    f"{count_of(no_feedback, 'en', CUSTOMER_EN, CUSTOMER_NL)} with events but "
                    "no feedback",
                    f"{count_of(no_feedback, 'nl', CUSTOMER_EN, CUSTOMER_NL)} met interacties "
                    "maar zonder feedback",
                )
            )
        if counts["customers"]:
            missing = count(
                f"SELECT COUNT(*) FROM {with_events} WHERE NOT EXISTS "
                f"(SELECT 1 FROM {customers} AS c WHERE c.customer_id = e.customer_id)"
            )
            if missing:
                warnings.append(
                    Message(
                        f"{count_of(missing, 'en', CUSTOMER_EN, CUSTOMER_NL)} with events but "
                        "no row in customers",
                        f"{count_of(missing, 'nl', CUSTOMER_EN, CUSTOMER_NL)} met interacties "
                        "maar zonder rij in customers",
                    )
                )
    if counts["feedback"]:
        orphan = count(f"SELECT COUNT(*) FROM {feedback} WHERE customer_id IS NULL")
        if counts["customers"] or counts["events"]:
            orphan += count(  # answers whose customer is neither in customers nor in events
                f"SELECT COUNT(*) FROM {feedback} AS f WHERE f.customer_id IS NOT NULL "
                f"AND NOT EXISTS (SELECT 1 FROM {customers} AS c "
                "WHERE c.customer_id = f.customer_id) "
                f"AND NOT EXISTS (SELECT 1 FROM {events} AS e WHERE e.customer_id = f.customer_id)"
            )
        if orphan:
            warnings.append(
                Message(
                    f"{count_of(orphan, 'en', *TABLE_NOUNS['feedback'])} without a known customer",
                    f"{count_of(orphan, 'nl', *TABLE_NOUNS['feedback'])} zonder bekende klant",
                )
            )
    return Status(
        path=str(path),
        engine=warehouse.engine,
        journey=journey.to_dict(),
        counts=counts,
        first_ts=first,
        last_ts=last,
        touchpoint_counts=touchpoint_counts,
        warnings=[w.en for w in warnings],
        warnings_nl=[w.nl for w in warnings],
    )
