"""Is the drivers table's promise kept? False-discovery share, interval coverage and power.

    python -m benchmarks drivers-calibration      (or: calibration)

Simulates CXRAY_CALIBRATION_SEEDS planted companies (default 60) of CXRAY_CALIBRATION_CUSTOMERS
customers each (default 3,000) with :func:`cxray.demo.planted.simulate_planted` (two planted
drivers, three neutral touchpoints at 0.2, 1 and 5 per 30 days, a time-origin and a way-out
trap), fits ``drivers`` on each and prints:

- the realised false-discovery share: false discoveries / discoveries per run, averaged over
  runs (a run without discoveries counts 0), and the share of runs with any false discovery;
- the coverage of the 95% hazard-ratio intervals of each planted driver and of the segment;
- the power: the share of runs in which each planted driver is significant;
- how often the traps were refused (reported as not estimable).
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SEEDS = int(os.environ.get("CXRAY_CALIBRATION_SEEDS", "60"))
CUSTOMERS = int(os.environ.get("CXRAY_CALIBRATION_CUSTOMERS", "3000"))


@dataclass
class Calibration:
    runs: int = 0
    fdp: list[float] = field(default_factory=list)  # false-discovery proportion per run
    covered: dict[str, int] = field(default_factory=dict)
    significant: dict[str, int] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)
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


def one_run(directory: Path, seed: int, customers: int) -> dict[str, Any]:
    """Simulate one planted company, fit the drivers; what was found against the truth."""
    import cxray
    from cxray.analysis.drivers import drivers
    from cxray.demo.planted import simulate_planted

    path = directory / f"planted-{seed}"
    truth = simulate_planted(path, customers=customers, seed=seed)
    ws = cxray.open(path)
    try:
        result = drivers(ws)
    finally:
        ws.close()
    table = result.to_pandas().set_index("driver")
    planted = truth["hazard_ratios"]
    found = table[table.estimable & table.significant].index
    false = [d for d in found if d not in planted]
    out: dict[str, Any] = {
        "discoveries": len(found),
        "false": len(false),
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


def calibrate(seeds: range, customers: int, directory: Path | None = None) -> Calibration:
    started = time.perf_counter()
    result = Calibration()
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        for seed in seeds:
            run = one_run(Path(tmp), seed, customers)
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


def report(result: Calibration) -> str:
    lines = [
        f"planted companies: {result.runs} seeds, {CUSTOMERS:,} customers each, "
        f"{result.seconds:.0f} s",
        f"realised false-discovery share (averaged over runs): {result.fdr:.3f} (stated 0.05); "
        f"runs with any false discovery: {result.any_false:.3f}",
    ]
    for name in result.covered:
        lines.append(f"95% interval coverage, {name}: {result.coverage(name):.3f}")
    lines.append(f"95% interval coverage, all: {result.total_coverage():.3f}")
    for name, hits in result.significant.items():
        lines.append(f"power, {name}: {hits / max(result.runs, 1):.3f}")
    for name, hits in result.refused.items():
        lines.append(f"refused as not estimable, {name}: {hits / max(result.runs, 1):.3f}")
    return "\n".join(lines)


def main() -> None:
    print(report(calibrate(range(1000, 1000 + SEEDS), CUSTOMERS)))


if __name__ == "__main__":
    main()
