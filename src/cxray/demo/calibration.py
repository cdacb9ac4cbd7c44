"""Calibration of the drivers table on planted companies: false discoveries, coverage, power.

:func:`calibrate` simulates planted companies (:func:`cxray.demo.planted.simulate_planted`) for a
range of seeds, fits :func:`cxray.analysis.drivers.drivers` on each and counts, against the
planted truth: the false-discovery proportion per run (false discoveries / discoveries; 0 for a
run without discoveries), whether each planted hazard ratio lies inside its 95% interval, whether
each planted driver is significant (power), and whether the traps were refused.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Calibration:
    runs: int = 0
    fdp: list[float] = field(default_factory=list)  # false-discovery proportion per run
    covered: dict[str, int] = field(default_factory=dict)
    significant: dict[str, int] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)
    false_by_driver: dict[str, int] = field(default_factory=dict)  # runs it was a false discovery
    seconds: float = 0.0

    @property
    def fdr(self) -> float:
        return sum(self.fdp) / max(len(self.fdp), 1)

    @property
    def any_false(self) -> float:
        return sum(1 for x in self.fdp if x > 0) / max(len(self.fdp), 1)

    def coverage(self, name: str) -> float:
        return self.covered.get(name, 0) / max(self.runs, 1)

    def total_coverage(self) -> float:
        return sum(self.covered.values()) / max(self.runs * len(self.covered), 1)


def one_run(
    directory: Path, seed: int, customers: int, options: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Simulate one planted company, fit the drivers; what was found against the truth."""
    import cxray
    from cxray.analysis.drivers import drivers
    from cxray.demo.planted import simulate_planted

    path = directory / f"planted-{seed}"
    truth = simulate_planted(path, customers=customers, seed=seed)
    ws = cxray.open(path)
    try:
        result = drivers(ws, **(options or {}))
    finally:
        ws.close()
    table = result.to_pandas().set_index("driver")
    planted = truth["hazard_ratios"]
    found = table[table.estimable & table.significant].index
    false = [d for d in found if d not in planted]
    out: dict[str, Any] = {
        "discoveries": len(found),
        "false": len(false),
        "false_names": false,
        "covered": {},
        "significant": {},
        "refused": {d: bool(not table.loc[d, "estimable"]) for d in truth["not_estimable"]},
    }
    for name, hr in planted.items():
        row = table.loc[name]
        out["covered"][name] = bool(row.estimable and row.hr_lower <= hr <= row.hr_upper)
        out["significant"][name] = bool(row.estimable and row.significant)
    segment = result.adjustments.set_index("group").loc["business"]
    out["covered"]["segment=business"] = bool(
        segment.hr_lower <= truth["segment_hazard_ratios"]["business"] <= segment.hr_upper
    )
    return out


def calibrate(
    seeds: range,
    customers: int,
    directory: Path | None = None,
    options: dict[str, Any] | None = None,
) -> Calibration:
    """Run :func:`one_run` for every seed; ``options`` go to ``drivers`` (e.g. fixed cuts)."""
    started = time.perf_counter()
    result = Calibration()
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        for seed in seeds:
            run = one_run(Path(tmp), seed, customers, options)
            for name in run["false_names"]:
                result.false_by_driver[name] = result.false_by_driver.get(name, 0) + 1
            result.runs += 1
            result.fdp.append(run["false"] / run["discoveries"] if run["discoveries"] else 0.0)
            for key, target in (
                ("covered", result.covered),
                ("significant", result.significant),
                ("refused", result.refused),
            ):
                for name, flag in run[key].items():
                    target[name] = target.get(name, 0) + int(flag)
    result.seconds = time.perf_counter() - started
    return result
