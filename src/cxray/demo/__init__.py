"""A demo company with known causes of churn: `generate_demo(path)` builds a ready workspace.

The company is a webshop selling a monthly subscription box. Late deliveries and failed logins
raise the churn hazard by known factors; survey answers and their Dutch and English comments
follow the same causes. The planted truth is written beside the data (``ground_truth.json``)
so that analyses can be checked against it.

    >>> from cxray.demo import generate_demo
    >>> result = generate_demo("demo-shop", customers=5000, seed=42)
    >>> result.ground_truth["churn_model"]["hazard_ratios"]
    {'delivery_late': 2.0, 'login_failed': 1.5}
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomlkit

from cxray import journey as journey_mod
from cxray.demo.company import CHURN_TOUCHPOINT, TOUCHPOINTS, DemoParameters
from cxray.demo.generator import GeneratedData, generate_sources
from cxray.results import jsonable

Progress = Callable[[str, int, int], None]

SOURCE_DIR = "source"
TRUTH_FILE = "ground_truth.json"
COMMENT_LABELS_FILE = "ground_truth_comments.parquet"
TABLE_ORDER = ("customers", "events", "feedback")

__all__ = ["DemoParameters", "DemoResult", "generate_demo", "generate_sources", "write_journey"]


@dataclass
class DemoResult:
    """A built demo workspace: where it is, how many rows each table got, and the planted truth."""

    path: Path
    counts: dict[str, int]
    ground_truth: dict[str, Any]
    files: dict[str, Path] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {
                "path": str(self.path),
                "counts": dict(self.counts),
                "files": {name: str(file) for name, file in self.files.items()},
                "seconds": dict(self.seconds),
                "ground_truth": self.ground_truth,
            }
        )

    def summary(self, lang: str = "en") -> str:
        c = self.counts
        if lang == "nl":
            return (
                f"Demowebshop in {self.path}: {c['customers']:,} klanten, {c['events']:,} "
                f"interacties en {c['feedback']:,} antwoorden. Te late levering en mislukt "
                "inloggen zijn als oorzaak van afhaken geplant (zie ground_truth.json)."
            ).replace(",", ".")
        return (
            f"Demo webshop in {self.path}: {c['customers']:,} customers, {c['events']:,} "
            f"interactions and {c['feedback']:,} answers. Late delivery and failed logins are "
            "planted as causes of churn (see ground_truth.json)."
        )


def write_journey(path: str | Path, params: DemoParameters | None = None) -> None:
    """Place the demo's touchpoints in the journey file a new workspace got from its template.

    Edits the file with tomlkit, so the template's keys and comments stay as they are.
    """
    params = params or DemoParameters()
    path = Path(path)
    doc = tomlkit.parse(path.read_text(encoding="utf-8"))
    if "touchpoints" not in doc:
        doc["touchpoints"] = tomlkit.table(is_super_table=True)
    section = doc["touchpoints"]
    for tp in TOUCHPOINTS:
        table = tomlkit.table()
        table["phase"] = tp.phase
        table["channel"] = tp.channel
        table["owner"] = tp.owner
        if tp.bad_experience:
            table["bad_experience"] = True
        if tp.moment_of_truth:
            table["moment_of_truth"] = True
        section[tp.name] = table
    if "churn" not in doc:
        doc["churn"] = tomlkit.table()
    doc["churn"]["touchpoints"] = [CHURN_TOUCHPOINT]
    doc["churn"]["inactive_days"] = params.inactive_days
    journey_mod.from_dict(doc.unwrap(), source=str(path))  # refuse to write an invalid file
    journey_mod.write_atomically(path, tomlkit.dumps(doc))


def generate_demo(
    path: str | Path,
    customers: int = 5000,
    seed: int = 42,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> DemoResult:
    """Build a demo workspace at ``path``: journey, source files, imported tables, ground truth.

    ``progress(step, done, total)`` is called as the work advances (steps: "workspace",
    "generate", "import", "done"). The same ``seed`` and ``customers`` give the same data.
    """
    import cxray

    report = progress or (lambda step, done, total: None)
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    path = Path(path)
    ws = cxray.init(path, template="five-phase", name="Demo webshop", overwrite=overwrite)
    try:
        write_journey(ws.journey_path)
        ws.reload_journey()
        report("workspace", 1, 1)

        generated: GeneratedData = generate_sources(
            path / SOURCE_DIR,
            customers=customers,
            seed=seed,
            comment_labels=path / COMMENT_LABELS_FILE,
            progress=report,
        )
        timings["generate"] = time.perf_counter() - clock

        clock = time.perf_counter()
        for done, table in enumerate(TABLE_ORDER, start=1):
            result = ws.import_table(table, generated.files[table], strict=True)
            expected = generated.counts[table]
            if result.rows_imported != expected:
                raise RuntimeError(
                    f"demo {table}: {expected:,} rows generated but the import says "
                    f"{result.summary()}"
                )
            report("import", done, len(TABLE_ORDER))
        timings["import"] = time.perf_counter() - clock
    finally:
        ws.close()

    truth = dict(generated.truth)
    truth["files"] = {
        **{name: f"{SOURCE_DIR}/{file.name}" for name, file in generated.files.items()},
        "comment_labels": COMMENT_LABELS_FILE,
    }
    (path / TRUTH_FILE).write_text(
        json.dumps(jsonable(truth), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    report("done", 1, 1)
    return DemoResult(
        path=path,
        counts=dict(generated.counts),
        ground_truth=truth,
        files={**generated.files, "ground_truth": path / TRUTH_FILE},
        seconds={name: round(value, 3) for name, value in timings.items()},
    )
