"""What a command-line tool is expected to have: --version, shell completion, a quick start.

A quick start is held here by what gets imported, not by a clock (timing is the benchmark's job,
benchmarks/bench_startup.py): `import cxray.cli` and `cxray status` must not load the analysis
engine or the report, so a module that imports them eagerly again fails here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from importlib.metadata import version
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cxray.cli import app

runner = CliRunner()

# Never loaded by `import cxray.cli` (that is, by `cxray --help`).
HEAVY = (
    "pandas",
    "numpy",
    "pyarrow",
    "sklearn",
    "scipy",
    "statsmodels",
    "lifelines",
    "plotly",
    "jinja2",
    "ibis",
    "duckdb",
)
# Never loaded by `cxray status`: it counts in plain SQL through DuckDB itself.
NOT_FOR_STATUS = (*(name for name in HEAVY if name != "duckdb"), "cxray.report")


def loaded_modules(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``code``."""
    script = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def offending(modules: set[str], packages: tuple[str, ...]) -> list[str]:
    return sorted(
        name for name in modules if any(name == p or name.startswith(p + ".") for p in packages)
    )


def test_version_prints_the_installed_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output == f"cxray {version('cxray')}\n"
    assert result.output.split()[1].count(".") == 2  # X.Y.Z


def test_version_matches_the_package() -> None:
    import cxray

    assert cxray.__version__ == version("cxray")


def test_help_offers_version_and_shell_completion() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0, result.output
    for option in ("--version", "--install-completion", "--show-completion"):
        assert option in result.output


# the console script as a shell runs it: named cxray, whatever the interpreter's argv[0]
AS_CXRAY = "import sys; sys.argv[0] = 'cxray'; from cxray.cli import main; main()"


def test_show_completion_prints_a_script_for_the_shell() -> None:
    done = subprocess.run(
        [sys.executable, "-c", AS_CXRAY, "--show-completion", "bash"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "_CXRAY_COMPLETE=complete_bash" in done.stdout
    assert "complete -o default -F _cxray_completion cxray" in done.stdout


def test_completion_completes_command_names() -> None:
    done = subprocess.run(
        [sys.executable, "-c", AS_CXRAY],
        capture_output=True,
        text=True,
        timeout=120,
        env={
            **os.environ,
            "_CXRAY_COMPLETE": "complete_bash",
            "COMP_WORDS": "cxray sta",
            "COMP_CWORD": "1",
        },
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["status"]


def test_importing_the_cli_loads_no_analysis_engine() -> None:
    modules = loaded_modules("import cxray.cli")
    assert "cxray.cli" in modules
    assert offending(modules, HEAVY) == []
    dialects = [m for m in modules if m.startswith("sqlglot.dialects.")]
    assert set(dialects) <= {"sqlglot.dialects.dialect", "sqlglot.dialects.duckdb"}


def test_help_loads_no_analysis_engine() -> None:
    modules = loaded_modules(
        textwrap.dedent(
            """
            import contextlib, io, sys
            from cxray.cli import app
            sys.argv = ["cxray", "--help"]
            with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
                app()
            """
        )
    )
    assert offending(modules, HEAVY) == []


def test_importing_cxray_loads_nothing_until_asked() -> None:
    modules = loaded_modules("import cxray")
    assert offending(modules, HEAVY) == []
    assert "cxray.workspace" not in modules
    modules = loaded_modules("import cxray\ncxray.Workspace")
    assert "cxray.workspace" in modules


@pytest.fixture
def small_workspace(make_workspace) -> Path:
    """Two customers, one who cancelled; one answer from a customer nobody knows."""
    ws = make_workspace(
        events=[
            {"customer_id": "a", "ts": "2024-01-01", "touchpoint": "order_placed"},
            {"customer_id": "a", "ts": "2024-03-01", "touchpoint": "order_placed"},
            {"customer_id": "b", "ts": "2024-01-05", "touchpoint": "order_placed"},
            {"customer_id": "b", "ts": "2024-02-01", "touchpoint": "subscription_cancelled"},
        ],
        feedback=[
            {"customer_id": "a", "ts": "2024-01-02", "metric": "nps", "score": 9},
            {"customer_id": "x", "ts": "2024-01-03", "metric": "nps", "score": 3},
        ],
        journey={"churn": {"touchpoints": ["subscription_cancelled"]}},
    )
    path = ws.path
    ws.close()
    return path


def test_status_answers_without_the_analysis_engine_or_the_report(small_workspace) -> None:
    modules = loaded_modules(
        textwrap.dedent(
            f"""
            import contextlib, io, sys
            from cxray.cli import app
            sys.argv = ["cxray", "status", {str(small_workspace)!r}]
            with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
                app()
            """
        )
    )
    assert "cxray.ingest.status" in modules  # it did run
    assert offending(modules, NOT_FOR_STATUS) == []


def test_status_without_the_engine_still_counts_right(small_workspace) -> None:
    result = runner.invoke(app, ["status", str(small_workspace), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["counts"] == {"customers": 0, "events": 4, "feedback": 2}
    assert data["touchpoint_counts"] == {"order_placed": 3, "subscription_cancelled": 1}
    assert data["first_ts"].startswith("2024-01-01") and data["last_ts"].startswith("2024-03-01")
    assert data["churn"]["explicit"] == 1 and data["churn"]["customers"] == 2
    numbers = " ".join(data["warnings"])
    assert "1 customer" in numbers  # b answered nothing
    assert "1 feedback answer" in numbers  # x is nobody we know


def test_command_modules_keep_real_annotations():
    # Typer reads every command's signature on each start; string annotations (the future
    # import) would make it compile and eval each parameter's type every time.
    import cxray.cli.data
    import cxray.cli.questions

    for module in (cxray.cli.data, cxray.cli.questions):
        lines = Path(module.__file__).read_text().splitlines()
        assert "from __future__ import annotations" not in lines
        for command in (
            getattr(module, name) for name in ("status", "funnel") if hasattr(module, name)
        ):
            assert not any(isinstance(a, str) for a in command.__annotations__.values())
