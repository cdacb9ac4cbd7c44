"""A CRM snapshot, imported through the lifetime path with no events, answers the churn questions.

The telecom snapshot (IBM Telco Customer Churn: tenure in months, Churn yes/no, Contract) is
imported with an as-of date; survival by contract must equal lifelines' Kaplan–Meier on the same
lifetimes.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import cxray
from cxray.cli import app
from tests.conftest import SHARED_DATA

TELCO = SHARED_DATA / "telco_churn" / "Telco-Customer-Churn.csv"
MONTH_DAYS = 30.4375
pytestmark = pytest.mark.skipif(
    not TELCO.exists(), reason=f"the telecom snapshot is not available at {TELCO}"
)


@pytest.fixture(scope="module")
def telco(tmp_path_factory: pytest.TempPathFactory) -> cxray.Workspace:
    path = tmp_path_factory.mktemp("telco") / "ws"
    runner = CliRunner()
    assert runner.invoke(app, ["init", str(path)]).exit_code == 0
    args = ["import", str(path), "customers", str(TELCO), "--as-of", "2024-01-31"]
    args += ["--tenure-unit", "months", "--map", "customerID=customer_id", "--map", "Churn=churned"]
    args += ["--map", "Contract=segment"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "7,043 rows read = 7,043 imported" in result.output
    assert "lifetime data: 7,043 customer(s), 1,869 of them churned; as of 2024-01-31" in (
        result.output
    )
    again = runner.invoke(app, args)
    assert "0 imported + 0 updated + 7,043 duplicates + 0 rejected" in again.output
    ws = cxray.open(path)
    yield ws
    ws.close()


def test_no_events_and_the_journey_has_no_churn_rule(telco):
    assert telco.warehouse.count("events") == 0
    assert not telco.journey.churn.touchpoints and not telco.journey.churn.inactive_days


def test_survival_by_contract_equals_lifelines(telco):
    from lifelines import KaplanMeierFitter

    frame = pd.read_csv(TELCO)
    result = telco.survival(by="segment")
    curve = result.curve  # to_pandas() is the table of groups; the curve is one attribute away
    groups = {g["group"]: g for g in result.to_dict()["groups"]}
    assert set(groups) == set(frame.Contract)
    for contract, rows in frame.groupby("Contract"):
        durations = rows.tenure.to_numpy() * MONTH_DAYS
        events = (rows.Churn == "Yes").to_numpy()
        km = KaplanMeierFitter().fit(durations, events)
        ours = curve[curve.group == contract].set_index("time_days")
        expected = km.survival_function_.iloc[:, 0]
        # every time lifelines reports, the same survival (including time 0, tenure 0)
        assert np.allclose(ours.survival.reindex(expected.index).to_numpy(), expected, atol=1e-9)
        assert groups[contract]["customers"] == len(rows)
        assert groups[contract]["churned"] == int(events.sum())
        median = km.median_survival_time_
        ours_median = groups[contract]["median_days"]
        if math.isinf(median):
            assert ours_median is None
        else:
            assert ours_median == pytest.approx(median, abs=1e-9)


def test_tenure_zero_customers_have_duration_zero(telco):
    from cxray.analysis.lifetimes import customer_lifetimes

    lifetimes = customer_lifetimes(telco).execute().set_index("customer_id")
    zero = pd.read_csv(TELCO).query("tenure == 0").customerID
    assert len(zero) == 11
    assert (lifetimes.loc[zero, "duration_days"] == 0).all()
    assert not lifetimes.loc[zero, "churned"].any()


def test_retention_and_risk_run_without_events(telco):
    retention = telco.retention()
    assert "nan" not in retention.summary().lower() and "inf" not in retention.summary()
    risk = telco.risk()
    scored = risk.to_pandas()
    assert len(scored) > 0
    assert scored.customer_id.isin(pd.read_csv(TELCO).customerID).all()
    assert "nan" not in risk.summary().lower()


def test_status_counts_the_churned(telco):
    result = CliRunner().invoke(app, ["status", str(telco.path)])
    assert result.exit_code == 0, result.output
    assert "1,869 of 7,043 customers churned" in result.output
    status = json.loads(
        CliRunner().invoke(app, ["status", str(telco.path), "--format", "json"]).stdout
    )
    assert "customers" in json.dumps(status)


def test_blank_total_charges_stay_null(telco):
    frame = telco.customers.execute()
    blanks = pd.read_csv(TELCO, dtype=str).query("TotalCharges.str.strip() == ''").customerID
    assert len(blanks) == 11
    attributes = frame.set_index("customer_id").loc[blanks, "attributes"].map(json.loads)
    assert all(a.get("TotalCharges") is None for a in attributes)
