"""What an import is asked to do (options) and what it did (the result and its summary)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cxray.i18n import count_of, number
from cxray.ingest.recode import RecodeError, normalise_recode
from cxray.ingest.validation import ImportError_
from cxray.results import Result

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class ImportOptions:
    mapping: dict[str, str] = field(default_factory=dict)  # source column -> canonical column
    constants: dict[str, str] = field(default_factory=dict)  # canonical column -> fixed value
    skip_invalid: bool = False
    strict: bool = False
    timezone: str | None = None
    timestamp_format: str | None = None
    errors_file: Path | None = None
    # lifetime data (customers): the snapshot's date, and the unit of a tenure column
    as_of: str | dt.date | dt.datetime | None = None
    tenure_unit: str | None = None
    # column -> {label: value}, applied before typing: {"score": {"negative": "1", ...}}
    recode: dict[str, dict[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # checked here, before any file is read; labels are kept trimmed and in lower case
        try:
            self.recode = normalise_recode(self.recode)
        except RecodeError as exc:
            raise ImportError_(exc) from None


@dataclass
class ImportResult(Result):
    table: str
    source: str
    rows_read: int
    rows_imported: int
    rows_updated: int
    rows_duplicate: int
    rows_rejected: int
    new_touchpoints: list[str] = field(default_factory=list)
    suggestions: dict[str, str] = field(default_factory=dict)  # new name -> likely intended
    quarantine: str | None = None
    ignored_columns: list[str] = field(default_factory=list)
    column_map: dict[str, str] = field(default_factory=dict)  # canonical -> source
    seconds: float = 0.0
    # lifetime data: customers in the file with a start/end/last-seen date, those who churned
    lifetime_customers: int | None = None
    lifetime_churned: int | None = None
    as_of: str | None = None
    warnings: list[str] = field(default_factory=list)  # imported, but check this (English)
    warnings_nl: list[str] = field(default_factory=list)  # the same in Dutch
    # an event log imported as events also fills customers from its cases, in one transaction
    cases: ImportResult | None = None

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["cases"] = self.cases.to_dict() if self.cases else None
        return data

    def to_pandas(self) -> pd.DataFrame:
        import pandas as pd

        keys = ("rows_read", "rows_imported", "rows_updated", "rows_duplicate", "rows_rejected")
        return pd.DataFrame([{k: getattr(self, k) for k in ("table", "source", *keys)}])

    def warning_texts(self, lang: str = "en") -> list[str]:
        return list(self.warnings_nl if lang == "nl" else self.warnings)

    def summary(self, lang: str = "en") -> str:
        if lang == "nl":
            read = count_of(self.rows_read, lang, ("row", "rows"), ("rij", "rijen"))
            counts = (
                f"{read} gelezen = {number(self.rows_imported, lang)} geïmporteerd + "
                f"{number(self.rows_updated, lang)} bijgewerkt + "
                f"{number(self.rows_duplicate, lang)} dubbel + "
                f"{number(self.rows_rejected, lang)} afgewezen"
            )
        else:
            counts = (
                f"{self.rows_read:,} rows read = {self.rows_imported:,} imported + "
                f"{self.rows_updated:,} updated + {self.rows_duplicate:,} duplicates + "
                f"{self.rows_rejected:,} rejected"
            )
        lines = [counts]
        if self.cases is not None:
            cases = self.cases
            lines.append(
                (
                    f"klanten uit de cases van het log: {cases.rows_read:,} gelezen = "
                    f"{cases.rows_imported:,} nieuw + {cases.rows_updated:,} bijgewerkt + "
                    f"{cases.rows_duplicate:,} dubbel + {cases.rows_rejected:,} afgewezen"
                ).replace(",", ".")
                if lang == "nl"
                else f"customers from the log's cases: {cases.rows_read:,} read = "
                f"{cases.rows_imported:,} new + {cases.rows_updated:,} updated + "
                f"{cases.rows_duplicate:,} duplicates + {cases.rows_rejected:,} rejected"
            )
        lifetime = self.lifetime_summary(lang)
        return "\n".join(lines + ([lifetime] if lifetime else []))

    def lifetime_summary(self, lang: str = "en") -> str:
        if self.lifetime_customers is None:
            return ""
        n, churned = self.lifetime_customers, self.lifetime_churned or 0
        if lang == "nl":
            text = (
                f"levensduurgegevens: {count_of(n, lang, ('', ''), ('klant', 'klanten'))}, van "
                f"wie {number(churned, lang)} {'is' if churned == 1 else 'zijn'} vertrokken"
            )
            return text + (f"; peildatum {self.as_of}" if self.as_of else "")
        text = f"lifetime data: {n:,} customer(s), {churned:,} of them churned"
        return text + (f"; as of {self.as_of}" if self.as_of else "")
