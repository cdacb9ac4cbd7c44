"""Read a real XES event log (BPIC 2012, 262,200 events); compare with lxml and PM4Py.

Measured in the same run on the same file, each in a fresh process:
- ``cxray import``: ``import_table("events", log)`` into a new workspace (parse, validate,
  dedupe, store);
- ``cxray XES parser``: ``open_xes`` alone, writing events and cases as Parquet;
- ``lxml iterparse``: a bare ``lxml.etree.iterparse`` counting ``<event>`` elements, the
  floor for any Python reader that builds nothing;
- ``pm4py.read_xes``: the usual process-mining reader, into a pandas frame (when installed).
The log is read from the shared data folder next to the checkout; CXRAY_BENCH_XES names
another file. Each step runs CXRAY_BENCH_REPEAT times (default 3) and keeps its fastest run,
so that a busy machine distorts the ratios less.
"""

from __future__ import annotations

import contextlib
import gzip
import importlib.util
import io
import os
import shutil
import tempfile
from pathlib import Path

from benchmarks.common import BENCH_DIR, measure, print_table

DEFAULT_LOG = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "bpic2012" / "bpic2012.xes.gz"
)
LOG = Path(os.environ.get("CXRAY_BENCH_XES", DEFAULT_LOG))
REPEAT = int(os.environ.get("CXRAY_BENCH_REPEAT", 3))


def cxray_import(log: Path, workspace: Path) -> int:
    import cxray

    shutil.rmtree(workspace, ignore_errors=True)
    ws = cxray.init(workspace)
    result = ws.import_table("events", log)
    ws.close()
    return result.rows_read


def cxray_parser(log: Path) -> int:
    import duckdb

    from cxray.ingest.xes import open_xes

    with tempfile.TemporaryDirectory(dir=BENCH_DIR) as work:
        parsed = open_xes(duckdb.connect(), log, Path(work))
        parsed.cleanup()
    return parsed.event_count


def lxml_count(log: Path) -> int:
    from lxml import etree

    opener = gzip.open if log.suffix == ".gz" else open
    events = 0
    with opener(log, "rb") as handle:
        for _, element in etree.iterparse(handle, tag="{*}event"):
            events += 1
            element.clear()
    return events


def pm4py_read(log: Path) -> int:
    os.environ["PM4PY_SHOW_PROGRESS_BAR"] = "False"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        import pm4py  # prints a banner on import

        frame = pm4py.read_xes(str(log))
    return len(frame)


def main() -> None:
    if not LOG.exists():
        print(f"\n== XES: {LOG} not found; set CXRAY_BENCH_XES to an XES file")
        return
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    workspace = BENCH_DIR / "xes-workspace"
    runs = [
        ("cxray import (events table)", lambda: cxray_import(LOG, workspace)),
        ("cxray XES parser (events + cases)", lambda: cxray_parser(LOG)),
        ("lxml iterparse (count events)", lambda: lxml_count(LOG)),
    ]
    if importlib.util.find_spec("pm4py") is not None:
        runs.append(("pm4py.read_xes (pandas)", lambda: pm4py_read(LOG)))
    timed = []
    for label, target in runs:
        seconds, peak, events = min(measure(target) for _ in range(max(REPEAT, 1)))
        timed.append((label, seconds, peak, events))
    shutil.rmtree(workspace, ignore_errors=True)
    events = timed[0][3]
    assert all(count == events for *_, count in timed), [t[3] for t in timed]
    ours, parser = timed[0][1], timed[1][1]
    rows = [
        {
            "step": label,
            "seconds": seconds,
            "events/s": int(events / seconds),
            "import time / this": ours / seconds,
            "parser time / this": parser / seconds,
            "peak GiB": peak,
        }
        for label, seconds, peak, _ in timed
    ]
    if len(timed) < 4:
        rows.append({"step": "pm4py.read_xes: not installed"})
    print_table(f"XES {LOG.name}: {events:,} events", rows)


if __name__ == "__main__":
    main()
