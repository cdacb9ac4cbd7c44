"""A workspace: a folder with the journey file (`cxray.toml`) and the warehouse.

`cxray.init(path)` creates one, `cxray.open(path)` opens it. Every CLI command is a method here.
"""

from __future__ import annotations

import functools
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cxray import journey as journey_mod
from cxray.i18n import Message
from cxray.ingest.reconcile import Repair, reconcile
from cxray.journey import Journey
from cxray.warehouse import Warehouse, connect

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from cxray.ingest.importer import ImportResult
    from cxray.ingest.preview import Preview
    from cxray.ingest.status import Status

JOURNEY_FILE = "cxray.toml"


class WorkspaceError(RuntimeError):
    """The folder is no workspace (or already one); raised with a bilingual Message."""


class Workspace:
    """The product's Python API. Analyses take a workspace and return result objects."""

    def __init__(self, path: Path, journey: Journey, warehouse: Warehouse):
        self.path = Path(path)
        self.journey = journey
        self.warehouse = warehouse
        self.repairs: list[Repair] = []  # what the last import found left by an interrupted one

    def __repr__(self) -> str:
        return f"<Workspace {self.path} ({self.warehouse.engine})>"

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def journey_path(self) -> Path:
        return self.path / JOURNEY_FILE

    def reload_journey(self) -> Journey:
        self.journey = journey_mod.load(self.journey_path)
        return self.journey

    def close(self) -> None:
        self.warehouse.close()

    # -- tables ---------------------------------------------------------------------------
    @property
    def customers(self) -> ir.Table:
        return self.warehouse.customers

    @property
    def events(self) -> ir.Table:
        return self.warehouse.events

    @property
    def feedback(self) -> ir.Table:
        return self.warehouse.feedback

    def table(self, name: str) -> ir.Table:
        return self.warehouse.table(name)

    # -- data in --------------------------------------------------------------------------
    def import_table(
        self,
        table: str,
        source: str | Path,
        mapping: dict[str, str] | None = None,
        *,
        constants: dict[str, str] | None = None,
        skip_invalid: bool = False,
        strict: bool = False,
        timezone: str | None = None,
        timestamp_format: str | None = None,
        errors_file: str | Path | None = None,
        as_of: str | Any | None = None,
        tenure_unit: str | None = None,
        recode: dict[str, dict[str, str]] | None = None,
        progress: Any = None,
    ) -> ImportResult:
        """Import a CSV, Parquet, JSON Lines or XES file into a canonical table.

        ``mapping`` renames source columns to canonical ones ({"klantnummer": "customer_id"});
        ``constants`` fixes a column for every row ({"metric": "nps"}).
        Invalid rows refuse the whole import unless ``skip_invalid`` is set, in which case
        they are written to a quarantine file. Unknown touchpoints are added to the journey
        as unassigned (``strict`` refuses them instead).
        Lifetime data (customers): ``as_of`` is the date of the export, ``tenure_unit`` the
        unit of a tenure column (days, weeks, months = 30.4375 days, years).
        ``recode`` turns labels into values before typing, per column
        ({"score": {"negative": "1", "neutral": "3", "positive": "5"}}).
        """
        from cxray.ingest.importer import ImportOptions, import_file

        options = ImportOptions(
            mapping=dict(mapping or {}),
            constants=dict(constants or {}),
            errors_file=Path(errors_file) if errors_file else None,
            skip_invalid=skip_invalid,
            strict=strict,
            timezone=timezone,
            timestamp_format=timestamp_format,
            as_of=as_of,
            tenure_unit=tenure_unit,
            recode=dict(recode or {}),
        )
        # An earlier import may have been cut off between its commit and the journey file.
        self.repairs = reconcile(self.warehouse, self.journey_path, self.path)
        if self.repairs:
            self.reload_journey()
        result = import_file(
            self.warehouse, self.journey, self.path, table, Path(source), options, progress
        )
        if result.new_touchpoints:
            journey_mod.add_touchpoints(
                self.journey_path, result.new_touchpoints, phase=journey_mod.UNASSIGNED
            )
        self.reload_journey()
        return result

    def preview_import(
        self,
        table: str,
        source: str | Path,
        mapping: dict[str, str] | None = None,
        *,
        constants: dict[str, str] | None = None,
        timezone: str | None = None,
        timestamp_format: str | None = None,
        recode: dict[str, dict[str, str]] | None = None,
        as_of: str | Any | None = None,
        tenure_unit: str | None = None,
        strict: bool = False,
        rows: int = 10,
    ) -> Preview:
        """What ``import_table`` would do with these options, without writing anything.

        Returns a ``Preview``: for each canonical column the file column feeding it and how it
        was found (exact name, alias, --map, --set, or not found), the columns kept as JSON or
        ignored, the aliases not taken because the values do not fit, and the first ``rows``
        rows as they would be stored, with those that would be refused and why. ``strict``
        refuses touchpoints not in the journey, as ``import_table`` does.
        """
        from cxray.ingest.importer import ImportOptions
        from cxray.ingest.preview import preview_file

        options = ImportOptions(
            mapping=dict(mapping or {}),
            constants=dict(constants or {}),
            timezone=timezone,
            timestamp_format=timestamp_format,
            as_of=as_of,
            tenure_unit=tenure_unit,
            recode=dict(recode or {}),
            strict=strict,
        )
        return preview_file(
            self.warehouse, self.journey, self.path, table, Path(source), options, rows
        )

    # -- questions ------------------------------------------------------------------------
    def status(self) -> Status:
        """Journey, table counts, date range and data-quality warnings."""
        from cxray.analysis.churn_rules import churn_check
        from cxray.ingest.status import status

        # Differences left by an interrupted import are repaired before anything is counted.
        repairs = reconcile(self.warehouse, self.journey_path, self.path)
        if repairs:
            self.reload_journey()
        result = status(self.warehouse, self.journey, self.path)
        result.repairs = repairs
        result.churn = churn_check(self)
        return result

    def churn_check(self):
        """Churned customers by rule, the data span, and warnings when the rule does not fit."""
        from cxray.analysis.churn_rules import churn_check

        return churn_check(self)

    def metrics(self, metric: str | None = None, by: str | None = None, **options: Any):
        """NPS, CES, CSAT and ratings with n and 95% intervals, overall or per group."""
        from cxray.analysis.metrics import metrics

        return metrics(self, metric=metric, by=by, **options)

    def compare(self, metric: str, by: str | None = None, **options: Any):
        """Which differences between periods or segments are real (false-discovery controlled)."""
        from cxray.analysis.metrics import compare

        return compare(self, metric, by=by, **options)

    def funnel(self, phases: list[str] | None = None, **options: Any):
        """Customers per phase, conversion, drop-off and time to the next phase."""
        from cxray.analysis.funnel import funnel

        return funnel(self, phases=phases, **options)

    def dropoff(self, **options: Any):
        """The last touchpoint before customers leave, by count and lift."""
        from cxray.analysis.dropoff import dropoff

        return dropoff(self, **options)

    def flows(self, **options: Any):
        """Directly-follows graph, path variants and phase-to-phase Sankey data."""
        from cxray.analysis.flows import flows

        return flows(self, **options)

    def retention(self, **options: Any):
        """Monthly cohort retention matrix."""
        from cxray.analysis.retention import retention

        return retention(self, **options)

    def survival(self, by: str | None = None, **options: Any):
        """Kaplan–Meier survival to churn with 95% intervals and median lifetime."""
        from cxray.analysis.survival import survival

        return survival(self, by=by, **options)

    def dose_response(self, horizon_days: float = 90, max_dose: int = 3):
        """Churn by the number of bad experiences so far (0, 1, 2, 3+), with intervals."""
        from cxray.analysis.dose_response import dose_response

        return dose_response(self, horizon_days=horizon_days, max_dose=max_dose)

    def drivers(self, candidates: list[str] | None = None, **options: Any):
        """Hazard ratios of touchpoints and bad experiences, adjusted; customers lost to each."""
        from cxray.analysis.drivers import drivers

        return drivers(self, candidates=candidates, **options)

    def nps_drivers(self, target: str | None = None, **options: Any):
        """Which touchpoint scores and events drive the overall score (relative weights).

        ``target`` defaults to the main metric: NPS with enough answers, else the most answered.
        """
        from cxray.analysis.nps_drivers import nps_drivers

        return nps_drivers(self, target=target, **options)

    def risk(self, horizon_days: int = 90, **options: Any):
        """Churn-risk probability per active customer with its top reasons.

        Scores the customers active at the end of the data unless ``as_of`` says otherwise.
        """
        from cxray.analysis.lifetimes import data_end
        from cxray.analysis.risk import risk

        options.setdefault("as_of", data_end(self))
        return risk(self, horizon_days=horizon_days, **options)

    def evaluate_risk(self, horizon_days: int = 90, **options: Any):
        """The risk model on a time-based hold-out: AUC, Brier score, calibration, top-decile lift."""
        from cxray.analysis.risk import evaluate_risk

        return evaluate_risk(self, horizon_days=horizon_days, **options)

    def onboarding(self, days: int = 100, **options: Any):
        """Customers in their first days: their phase, whether they are late, their risk."""
        from cxray.analysis.onboarding import onboarding

        return onboarding(self, days=days, **options)

    def themes(self, metric: str | None = None, **options: Any):
        """Themes in comments (taxonomy and discovered), each with volume, score and churn.

        ``metric``: whose comments; None for the main metric, ``"all"`` for every comment.
        """
        from cxray.analysis.themes import themes

        return themes(self, metric=metric, **options)

    def phrases(self, metric: str | None = None, **options: Any):
        """Phrases that distinguish detractors from promoters (log-odds, informative prior).

        ``metric``: None for the main scored metric, ``"all"`` to pool every metric's answers.
        """
        from cxray.analysis.phrases import phrases

        return phrases(self, metric=metric, **options)

    def early_churn(self, days: int = 100, **options: Any):
        """Share of new customers who churned within their first days, per cohort."""
        from cxray.analysis.retention import early_churn

        return early_churn(self, days=days, **options)


# Every answer that depends on who churned carries the churn-rule check, so that a rule which does
# not fit the data (a span shorter than inactive_days, most customers churned by inactivity) is
# said beside the numbers it changes.
CHURN_ANSWERS = (
    "funnel",
    "dropoff",
    "retention",
    "early_churn",
    "survival",
    "dose_response",
    "drivers",
    "risk",
    "evaluate_risk",
    "onboarding",
)


def _with_churn_check(method: Any) -> Any:
    @functools.wraps(method)
    def answer(self: Workspace, *args: Any, **kwargs: Any) -> Any:
        from cxray.analysis.churn_rules import churn_check

        result = method(self, *args, **kwargs)
        result.churn_rule = churn_check(self)
        return result

    return answer


for _name in CHURN_ANSWERS:
    setattr(Workspace, _name, _with_churn_check(getattr(Workspace, _name)))


def init(
    path: str | Path,
    template: str = "five-phase",
    name: str | None = None,
    warehouse_url: str | None = None,
    overwrite: bool = False,
) -> Workspace:
    """Create a workspace folder with a journey file from a template and an empty warehouse."""
    path = Path(path)
    if (path / JOURNEY_FILE).exists():
        if not overwrite:
            raise WorkspaceError(
                Message(
                    f"{path}: already a workspace (use overwrite to start afresh)",
                    f"{path}: is al een werkruimte (gebruik overwrite om opnieuw te beginnen)",
                )
            )
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    import tomlkit  # writing a journey file only: opening one needs tomllib alone

    doc = journey_mod.template_document(template, name or path.resolve().name)
    if warehouse_url:
        doc["warehouse"] = tomlkit.table()
        doc["warehouse"]["url"] = warehouse_url
    journey_mod.write_atomically(path / JOURNEY_FILE, tomlkit.dumps(doc))
    ws = open(path)
    ws.warehouse.ensure_tables()
    return ws


def open(path: str | Path, read_only: bool = False, **connect_options: Any) -> Workspace:
    """Open a workspace; ``read_only`` lets any number of questions run side by side.

    A read-only DuckDB warehouse is not brought up to date (that needs a write): tables of an
    older workspace read their newer columns as empty. On other engines it is a no-op.
    ``connect_options`` go to :func:`cxray.warehouse.connect` (``lock_wait``, ``ask_holder``).
    """
    path = Path(path)
    if not (path / JOURNEY_FILE).exists():
        raise WorkspaceError(
            Message(
                f"{path}: not a cxray workspace (no {JOURNEY_FILE}); create one with "
                f"'cxray init {path}'",
                f"{path}: geen cxray-werkruimte (geen {JOURNEY_FILE}); maak er een met "
                f"'cxray init {path}'",
            )
        )
    journey = journey_mod.load(path / JOURNEY_FILE)
    warehouse = connect(journey.warehouse_url, path, read_only=read_only, **connect_options)
    if not warehouse.read_only:  # read_only is a DuckDB notion: elsewhere the tables are ensured
        warehouse.ensure_tables()
    return Workspace(path, journey, warehouse)
