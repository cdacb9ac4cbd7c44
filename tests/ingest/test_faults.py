"""Imports killed at random moments and at commit: the workspace always agrees with itself.

Each import brings new rows, a new touchpoint (journey file) and bad rows set aside with
--skip-invalid (quarantine file), so all four things an import changes are at stake. After
every kill, ``cxray status`` must find tables, import log, journey file and quarantine folder
in agreement (repairing what the kill left between the commit and the files), and the import
must have happened entirely or not at all.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import duckdb

import cxray
from cxray import journey as journey_mod
from cxray.ingest.faults import CRASH_ENV, POINTS

ROWS_PER_FILE = 300
BAD_PER_FILE = 7
STRIDE = ROWS_PER_FILE // BAD_PER_FILE
CLI = [sys.executable, "-c", "from cxray.cli import app; app()"]


def _write_file(folder: Path, index: int) -> Path:
    path = folder / f"batch-{index:02d}.csv"
    lines = ["customer_id,ts,touchpoint,channel"]
    for row in range(ROWS_PER_FILE):
        touchpoint = f"step_{index}" if row % 3 == 0 else "visit"
        ts = f"2024-03-{1 + row % 28:02d} 10:{row % 60:02d}:00"
        if row % STRIDE == 1 and row // STRIDE < BAD_PER_FILE:
            ts = "not a date"  # set aside by --skip-invalid
        lines.append(f"f{index}-c{row % 40},{ts},{touchpoint},web")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _import(workspace: Path, path: Path, crash_at: str | None, kill_after: float | None) -> int:
    env = {k: v for k, v in os.environ.items() if k != CRASH_ENV}
    if crash_at:
        env[CRASH_ENV] = crash_at
    command = [*CLI, "import", str(workspace), "events", str(path), "--skip-invalid"]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    if kill_after is not None:
        try:
            process.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
    _, stderr = process.communicate(timeout=120)
    assert "Traceback" not in stderr, stderr
    return process.returncode


def _state(workspace: Path) -> dict:
    con = duckdb.connect(str(workspace / "warehouse.duckdb"), read_only=True)
    try:
        per_file = dict(
            con.execute(
                "SELECT split_part(customer_id, '-', 1), count(*) FROM events GROUP BY 1"
            ).fetchall()
        )
        logged = con.execute(
            "SELECT source, rows_imported, rows_rejected, quarantine FROM cxray_imports"
        ).fetchall()
        touchpoints = {
            row[0] for row in con.execute("SELECT DISTINCT touchpoint FROM events").fetchall()
        }
    finally:
        con.close()
    quarantine = workspace / "quarantine"
    files = sorted(p.name for p in quarantine.iterdir()) if quarantine.is_dir() else []
    return {"per_file": per_file, "log": logged, "touchpoints": touchpoints, "files": files}


def _assert_agrees(workspace: Path, state: dict) -> None:
    journey = journey_mod.load(workspace / "cxray.toml")
    assert state["touchpoints"] <= set(journey.touchpoints)
    assert not [name for name in state["files"] if name.endswith(".pending")]
    assert sorted(q for *_, q in state["log"] if q) == state["files"]
    logged = {source.split(".")[0].removeprefix("batch-"): n for source, n, *_ in state["log"]}
    stored = {key.removeprefix("f"): n for key, n in state["per_file"].items()}
    assert {f"{int(k):02d}": n for k, n in stored.items()} == logged
    assert all(n == ROWS_PER_FILE - BAD_PER_FILE for n in logged.values())


def test_twenty_kills_never_leave_the_workspace_in_between(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    cxray.init(workspace).close()
    rng = random.Random(20261201)
    # every named point twice, the rest at random moments of the whole command
    plans: list[tuple[str | None, float | None]] = [(p, None) for p in POINTS for _ in (1, 2)]
    plans += [(None, rng.uniform(0.2, 2.5)) for _ in range(20 - len(plans))]
    outcomes = []
    for index, (crash_at, kill_after) in enumerate(plans):
        path = _write_file(tmp_path, index)
        journey_before = (workspace / "cxray.toml").read_bytes()
        code = _import(workspace, path, crash_at, kill_after)
        before = _state(workspace)
        imported = f"f{index}" in before["per_file"]
        if crash_at == "before-commit" or (kill_after is not None and not imported):
            # nothing of this import may remain: no rows, no log row, no journey change
            assert f"batch-{index:02d}.csv" not in [s for s, *_ in before["log"]]
            assert (workspace / "cxray.toml").read_bytes() == journey_before
        # status repairs whatever the kill left between the commit and the files
        status = subprocess.run(
            [*CLI, "status", str(workspace), "--format", "json"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert status.returncode == 0, status.stderr
        reported = json.loads(status.stdout)
        if crash_at in ("after-commit", "after-quarantine"):  # the status says what it repaired
            assert any("added" in r and f"step_{index}" in r for r in reported["repairs"])
        _assert_agrees(workspace, _state(workspace))
        outcomes.append((crash_at, code, imported))
    # the named points really crashed, and at least one random kill landed mid-import
    assert all(code == -signal.SIGKILL for point, code, _ in outcomes if point)
    assert [imported for point, _, imported in outcomes if point == "before-commit"] == [
        False,
        False,
    ]
    assert all(imported for point, _, imported in outcomes if point and point != "before-commit")
    random_kills = [(code, imported) for point, code, imported in outcomes if point is None]
    assert any(code == -signal.SIGKILL for code, _ in random_kills)


def test_a_later_import_repairs_what_a_kill_after_commit_left(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    cxray.init(workspace).close()
    assert _import(workspace, _write_file(tmp_path, 1), "after-commit", None) == -signal.SIGKILL
    # the rows are stored, the journey and the quarantine file not yet
    assert "step_1" not in journey_mod.load(workspace / "cxray.toml").touchpoints
    assert [p.suffix for p in (workspace / "quarantine").iterdir()] == [".pending"]
    # --strict accepts step_1: the repair runs before the touchpoints are checked
    later = tmp_path / "later.csv"
    later.write_text("customer_id,ts,touchpoint\nz1,2024-04-01,step_1\nz2,2024-04-02,step_1\n")
    ws = cxray.open(workspace)
    result = ws.import_table("events", later, strict=True)
    assert result.rows_imported == 2
    assert "step_1" in ws.journey.touchpoints
    repaired = sorted(r.en.split(" ")[0] for r in ws.repairs)
    assert repaired == ["added", "quarantine"]
    ws.close()
    state = _state(workspace)
    state["per_file"].pop("z1"), state["per_file"].pop("z2")
    state["log"] = [row for row in state["log"] if row[0] != "later.csv"]
    _assert_agrees(workspace, state)
