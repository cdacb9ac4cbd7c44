"""Start-up: how long a person waits before `cxray` answers, beside bare Python.

Each command runs as a fresh process (what a person typing it gets), CXRAY_BENCH_REPEAT times
(default 9) after one untimed run; the median wall time is shown with its ratio to
``python -c pass`` (the floor no Python tool can go below), the median CPU time, and the target
it is held to on a quiet machine. On a busy machine the ratio and the CPU time say more than the
wall seconds. ``cxray status`` reads a small demo workspace made in a temporary folder.

Compiled bytecode is kept (in the temporary folder) as an installed package keeps it, even where
PYTHONDONTWRITEBYTECODE is set: otherwise every run would compile cxray's sources anew.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import print_table

REPEAT = int(os.environ.get("CXRAY_BENCH_REPEAT", 9))
DEMO_CUSTOMERS = 500
# Seconds on a quiet two-core machine: --help before any data, status on a small workspace.
TARGETS = {"cxray --help": 0.3, "cxray status DIR": 0.5}


def _cxray() -> list[str]:
    """The installed console script beside this Python, else the module entry point."""
    script = Path(sys.executable).with_name("cxray")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from cxray.cli import main; main()"]


def run_times(
    command: list[str], env: dict[str, str], repeat: int = REPEAT
) -> tuple[list[float], list[float]]:
    """(wall, CPU) seconds of ``command`` run ``repeat`` times, after one untimed run."""
    walls, cpus = [], []
    for run in range(repeat + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(
            command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
        )
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if run:
            walls.append(wall)
            cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return walls, cpus


def make_demo(folder: Path) -> Path:
    from cxray.demo import generate_demo

    workspace = folder / "demo"
    generate_demo(workspace, customers=DEMO_CUSTOMERS, seed=7)
    return workspace


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        workspace = make_demo(Path(folder))
        env = {
            **os.environ,
            "COLUMNS": "100",
            "CXRAY_LANG": "en",
            "PYTHONPYCACHEPREFIX": str(Path(folder) / "bytecode"),
        }
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        python = sys.executable
        steps = [
            ("python -c pass", [python, "-c", "pass"]),
            ("python -c 'import cxray.cli'", [python, "-c", "import cxray.cli"]),
            ("cxray --help", [*_cxray(), "--help"]),
            ("cxray status DIR", [*_cxray(), "status", str(workspace)]),
        ]
        timed = [(label, *run_times(command, env)) for label, command in steps]
    floor = statistics.median(timed[0][1])
    rows = []
    for label, walls, cpus in timed:
        median = statistics.median(walls)
        target = TARGETS.get(label)
        rows.append(
            {
                "step": label,
                "median s": median,
                "fastest s": min(walls),
                "CPU s": statistics.median(cpus),
                "× python -c pass": median / floor,
                "target s": target,
                "met": "" if target is None else ("yes" if median <= target else "no"),
            }
        )
    print_table(f"Start-up ({REPEAT} runs each, {DEMO_CUSTOMERS} demo customers)", rows)


if __name__ == "__main__":
    main()
