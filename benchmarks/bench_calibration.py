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
- how often the traps were refused (reported as not estimable), and which neutral touchpoint
  was a false discovery how often.

CXRAY_CALIBRATION_FIRST_SEED (default 1000) picks other companies.
With CXRAY_CALIBRATION_FIXED_CUTS=1 the same seeds run again with the fixed tenure bands, to
show what choosing the bands from the churn times changes.
"""

from __future__ import annotations

import os

from cxray.demo.calibration import Calibration, calibrate

SEEDS = int(os.environ.get("CXRAY_CALIBRATION_SEEDS", "60"))
CUSTOMERS = int(os.environ.get("CXRAY_CALIBRATION_CUSTOMERS", "3000"))
FIRST_SEED = int(
    os.environ.get("CXRAY_CALIBRATION_FIRST_SEED", "1000")
)  # other seeds: other companies


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
    for name, hits in sorted(result.false_by_driver.items()):
        lines.append(f"false discovery, {name}: {hits / max(result.runs, 1):.3f} of runs")
    for name, hits in result.refused.items():
        lines.append(f"refused as not estimable, {name}: {hits / max(result.runs, 1):.3f}")
    return "\n".join(lines)


def main() -> None:
    from cxray.analysis.exposure import DEFAULT_CUTS

    seeds = range(FIRST_SEED, FIRST_SEED + SEEDS)
    print("tenure bands from the churn times (the default):")
    print(report(calibrate(seeds, CUSTOMERS)))
    if os.environ.get("CXRAY_CALIBRATION_FIXED_CUTS"):
        print("\nfixed tenure bands (DEFAULT_CUTS), for comparison:")
        print(report(calibrate(seeds, CUSTOMERS, options={"cuts": DEFAULT_CUTS})))


if __name__ == "__main__":
    main()
