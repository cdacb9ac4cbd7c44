"""Run every benchmark: `python -m benchmarks [name ...]`.

Names: import, xes, analysis, drivers, startup, web (every page of the app at p50/p95 under
load on a 1M-customer demo), and calibration (alias drivers-calibration:
false-discovery share and interval coverage of the drivers on planted companies; not part of the
default run).
"""

from __future__ import annotations

import importlib
import sys

SUITES = [
    "bench_import",
    "bench_analysis",
    "bench_drivers",
    "bench_xes",
    "bench_startup",
    "bench_web",
    "bench_survey",
]


def main(argv: list[str]) -> None:
    aliases = {"drivers-calibration": "calibration"}
    chosen = [f"bench_{aliases.get(name, name)}" for name in argv] or SUITES
    for name in chosen:
        try:
            module = importlib.import_module(f"benchmarks.{name}")
        except ModuleNotFoundError:
            print(f"(no benchmark {name})")
            continue
        module.main()


if __name__ == "__main__":
    main(sys.argv[1:])
