"""Bring the files of a workspace back in line with its warehouse after an interrupted import.

An import changes four things: the tables and the import log (one DuckDB transaction), the
quarantine file and the journey file. The transaction decides: a quarantine file is written
as ``*.pending`` before the commit and renamed after it, and new touchpoints are added to
``cxray.toml`` after it. A crash (power cut, SIGKILL) between those steps leaves a difference
that is repaired here, the next time the workspace is imported into or its status is asked:

- a pending quarantine file named by the import log is published; one not named is removed
  (its import never committed, so none of its rows were set aside);
- a touchpoint present in the data but missing from the journey file is added to it without a
  phase, as the import would have done.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cxray import journey as journey_mod
from cxray.warehouse import Warehouse

QUARANTINE_DIR = "quarantine"  # in the workspace: rows set aside by --skip-invalid
PENDING_SUFFIX = ".pending"


@dataclass(frozen=True)
class Repair:
    """One difference found and mended, in the user's languages."""

    en: str
    nl: str

    def text(self, lang: str = "en") -> str:
        return self.nl if lang == "nl" else self.en


def reconcile(warehouse: Warehouse, journey_path: Path, workdir: Path) -> list[Repair]:
    """Repair what an interrupted import left behind; returns what was repaired."""
    repairs = _settle_pending_quarantine(warehouse, Path(workdir) / QUARANTINE_DIR)
    repair = _add_missing_touchpoints(warehouse, Path(journey_path))
    return repairs + ([repair] if repair else [])


def _settle_pending_quarantine(warehouse: Warehouse, folder: Path) -> list[Repair]:
    pending = sorted(folder.glob(f"*{PENDING_SUFFIX}")) if folder.is_dir() else []
    if not pending:
        return []
    log = warehouse.table("cxray_imports")
    finals = [p.name.removesuffix(PENDING_SUFFIX) for p in pending]
    named = set(log.filter(log.quarantine.isin(finals)).quarantine.to_pyarrow().to_pylist())
    repairs = []
    for path, final in zip(pending, finals, strict=True):
        if final in named:
            path.replace(folder / final)
            repairs.append(
                Repair(
                    f"quarantine file {final} completed (its import had been interrupted "
                    "after it was saved)",
                    f"quarantainebestand {final} voltooid (de import werd onderbroken nadat "
                    "hij was opgeslagen)",
                )
            )
        else:
            path.unlink(missing_ok=True)
            repairs.append(
                Repair(
                    f"removed {path.name}: its import was interrupted before it was saved, so "
                    "no rows were set aside",
                    f"{path.name} verwijderd: de import werd onderbroken voordat hij was "
                    "opgeslagen, er zijn dus geen rijen apart gezet",
                )
            )
    return repairs


def data_touchpoints(warehouse: Warehouse) -> set[str]:
    """Every touchpoint named by an event or a feedback answer."""
    # plain SQL: `cxray status` runs this check first, and must not wait for Ibis to load
    names: set[str] = set()
    for table in ("events", "feedback"):
        source = warehouse.relation(table, {"touchpoint": "VARCHAR"})
        rows = warehouse.query(
            f"SELECT DISTINCT touchpoint FROM {source} WHERE touchpoint IS NOT NULL"
        )
        names.update(name for (name,) in rows)
    return names


def _add_missing_touchpoints(warehouse: Warehouse, journey_path: Path) -> Repair | None:
    if not journey_path.exists():
        return None
    journey = journey_mod.load(journey_path)
    missing = sorted(data_touchpoints(warehouse) - set(journey.touchpoints))
    if not missing:
        return None
    try:
        journey_mod.add_touchpoints(journey_path, missing, phase=journey_mod.UNASSIGNED)
    except OSError as exc:
        return Repair(
            f"{len(missing)} touchpoint(s) in the data are missing from {journey_path.name} and "
            f"it cannot be updated ({exc.strerror}): {', '.join(missing[:10])}",
            f"{len(missing)} contactmoment(en) in de data ontbreken in {journey_path.name}, dat "
            f"niet kan worden bijgewerkt ({exc.strerror}): {', '.join(missing[:10])}",
        )
    names = ", ".join(missing[:10]) + (" …" if len(missing) > 10 else "")
    return Repair(
        f"added {len(missing)} touchpoint(s) found in the data to {journey_path.name}, "
        f"without a phase (an earlier import was interrupted): {names}",
        f"{len(missing)} contactmoment(en) uit de data zonder fase toegevoegd aan "
        f"{journey_path.name} (een eerdere import werd onderbroken): {names}",
    )
