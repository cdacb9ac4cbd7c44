"""How the churn-drivers fit grows with the number of customers (run by hand, not in the tests).

    python -m benchmarks.bench_drivers 25000 50000 100000 200000

For each size a demo workspace is generated once (cached under CXRAY_BENCH_DIR, default
``bench-data``); then ``drivers(ws)`` runs with the default candidates and the time is split into
the engine part (the grouped exposure table) and the Poisson fit on it. Prints customers,
candidates, grouped rows, seconds and the planted hazard ratios with their intervals.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from benchmarks.common import BENCH_DIR


def run(customers: int) -> dict[str, object]:
    import cxray
    from cxray.analysis import drivers as drv
    from cxray.demo import generate_demo

    path = BENCH_DIR / f"drivers-demo-{customers}"
    if not (path / "ground_truth.json").exists():
        generate_demo(path, customers=customers, seed=3)
    ws = cxray.open(path)
    started = time.perf_counter()
    chosen = drv.default_candidates(ws)
    names = [c.name for c in chosen]
    frame = drv.grouped_exposure(ws, drv.occurrences(ws, chosen), names, 10, adjust_for=["segment"])
    engine = time.perf_counter() - started
    frame = frame[frame.exposure_days > 0]
    cols = [f"c{i}" for i in range(len(chosen))]
    design, columns, _ = drv.design_matrix(frame, cols, ["segment"], len(drv.DEFAULT_CUTS) + 1)
    started = time.perf_counter()
    fit = drv.fit_poisson(
        design, frame.events.to_numpy(float), frame.exposure_days.to_numpy(float), columns
    )
    fitting = time.perf_counter() - started
    started = time.perf_counter()
    result = drv.drivers(ws)
    total = time.perf_counter() - started
    table = result.to_pandas().set_index("driver")
    planted = {
        name: f"{table.hazard_ratio[name]:.2f} ({table.hr_lower[name]:.2f}-{table.hr_upper[name]:.2f})"
        for name in ("delivery_late", "login_failed")
    }
    ws.close()
    return {
        "customers": customers,
        "candidates": len(chosen),
        "grouped_rows": len(frame),
        "engine_s": round(engine, 2),
        "fit_s": round(fitting, 2),
        "iterations": fit.iterations,
        "drivers()_s": round(total, 2),
        **planted,
    }


def main(sizes: list[int]) -> None:
    rows = [run(n) for n in sizes]
    for row in rows:
        print("  ".join(f"{k}={v}" for k, v in row.items()))
    if len(rows) > 1:
        n = np.log([r["customers"] for r in rows])
        t = np.log([r["drivers()_s"] for r in rows])
        print(f"time grows as customers^{np.polyfit(n, t, 1)[0]:.2f}")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [25000, 50000, 100000])
