"""Shared benchmark plumbing: cached data, timing in a child process, peak memory, a table."""

from __future__ import annotations

import multiprocessing as mp
import os
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH_DIR = Path(os.environ.get("CXRAY_BENCH_DIR", "bench-data")).resolve()


def _child(target: Callable[[], Any], queue: mp.Queue) -> None:
    started = time.perf_counter()
    try:
        detail = target()
        error = None
    except Exception as exc:  # report, don't hang the parent
        detail, error = None, repr(exc)
    seconds = time.perf_counter() - started
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024  # KiB -> GiB
    queue.put((seconds, peak_gb, detail, error))


def measure(target: Callable[[], Any]) -> tuple[float, float, Any]:
    """Run ``target`` in a fresh process: (seconds, peak resident GiB, its return value)."""
    ctx = mp.get_context("fork")
    queue: mp.Queue = ctx.Queue()
    process = ctx.Process(target=_child, args=(target, queue))
    process.start()
    seconds, peak, detail, error = queue.get()
    process.join()
    if error:
        raise RuntimeError(error)
    return seconds, peak, detail


def print_table(title: str, rows: list[dict[str, Any]]) -> None:
    print(f"\n== {title}")
    if not rows:
        return
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for row in rows:
        print("  ".join(_fmt(row.get(c)).ljust(widths[c]) for c in columns))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "" if value is None else str(value)
