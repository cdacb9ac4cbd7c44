"""Drivers refuse what the data cannot estimate, bound customers lost, and call ties ties."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import cxray
from cxray.analysis.drivers import Candidate, _rank, drivers
from cxray.analysis.estimability import REASONS, reason_text
from cxray.analysis.poisson import collinear_columns
from cxray.demo.planted import PlantedCompany, simulate_planted

DAY = pd.Timedelta(days=1)
T0 = pd.Timestamp("2024-01-01", tz="UTC")
JOURNEY = {"churn": {"touchpoints": ["cancel"]}}


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("planted") / "ws"
    truth = simulate_planted(path, customers=1500, seed=7)
    ws = cxray.open(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy overflow or division warning may leak
        result = drivers(ws)
    yield ws, truth, result
    ws.close()


def test_time_origin_and_way_out_are_refused_not_numbers(planted) -> None:
    _, truth, result = planted
    table = result.to_pandas().set_index("driver")
    reasons = {"signup": "time_origin", "exit_survey": "way_out"}
    for name, code in reasons.items():
        row = table.loc[name]
        assert not row.estimable and row.reason == code
        for column in ("hazard_ratio", "hr_lower", "hr_upper", "p_value", "q_value"):
            assert np.isnan(row[column]), (name, column)
        assert np.isnan(row.customers_lost) and not row.significant and np.isnan(row["rank"])
    # the planted drivers are estimated, ranked first, with the truth inside their intervals
    for name, hr in truth["hazard_ratios"].items():
        row = table.loc[name]
        assert row.estimable and row.hr_lower <= hr <= row.hr_upper
    for lang, words in (("en", "Cannot be estimated from this data"), ("nl", "Niet te schatten")):
        text = result.summary(lang)
        assert words in text and "signup" in text.split(words)[1]
        assert "inf" not in text and "nan" not in text.lower()
    assert "contactmoment" not in result.summary("en")
    json.dumps(result.to_dict(), allow_nan=False)


def test_refused_candidates_do_not_spend_the_false_discovery_rate(planted) -> None:
    _, _, result = planted
    table = result.to_pandas()
    estimable = table[table.estimable]
    from cxray.analysis.poisson import bh_qvalues

    np.testing.assert_allclose(estimable.q_value, bh_qvalues(estimable.p_value))


def test_time_origin_without_the_trap_when_only_some_have_it(tmp_path) -> None:
    # a touchpoint at the start for half the customers is a between-customer contrast: estimable
    company = PlantedCompany(neutral={"neutral_medium": 1.0})
    simulate_planted(tmp_path / "ws", customers=600, seed=3, company=company)
    ws = cxray.open(tmp_path / "ws")
    result = drivers(ws)
    table = result.to_pandas().set_index("driver")
    assert table.loc["neutral_medium"].estimable
    ws.close()


def _workspace(make_workspace, rows: list[tuple[float, bool, dict[str, list[float]]]], name="w"):
    """One customer per row: (days until churn or censoring, churned, {touchpoint: days})."""
    events = []
    end = max(days for days, _, _ in rows) + 10
    for i, (days, churned, touches) in enumerate(rows):
        start = T0 + pd.Timedelta(hours=i)
        cid = f"c{i}"
        events.append({"customer_id": cid, "ts": start, "touchpoint": "visit"})
        for tp, times in touches.items():
            for t in times:
                ts = (start + t * DAY).round("ms")
                events.append({"customer_id": cid, "ts": ts, "touchpoint": tp})
        last = (start + days * DAY if churned else T0 + end * DAY).round("ms")
        events.append(
            {"customer_id": cid, "ts": last, "touchpoint": "cancel" if churned else "visit"}
        )
    customers = [
        {"customer_id": f"c{i}", "segment": "a" if i % 2 else "b"} for i in range(len(rows))
    ]
    return make_workspace(events=events, customers=customers, journey=JOURNEY, name=name)


def test_lockstep_touchpoints_and_separation_are_refused(make_workspace) -> None:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(80):
        days = float(rng.uniform(20, 200))
        churned = bool(rng.random() < 0.6)
        when = [float(rng.uniform(1, days - 1))]
        touches = {"mail": when, "sms": when} if i % 4 < 2 else {}  # together: collinear
        if not churned:
            touches["gift"] = [float(rng.uniform(1, days - 1))]  # only stayers: separation
        if i % 3 == 0:
            touches["late"] = [float(rng.uniform(1, days - 1))]
        rows.append((days, churned, touches))
    ws = _workspace(make_workspace, rows)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = drivers(ws, candidates=["mail", "sms", "gift", "late"])
    table = result.to_pandas().set_index("driver")
    assert table.loc["mail"].estimable != table.loc["sms"].estimable
    refused = table.loc["sms"] if table.loc["mail"].estimable else table.loc["mail"]
    assert refused.reason == "collinear"
    assert table.loc["gift"].reason == "no_churn_exposed" and not table.loc["gift"].estimable
    assert "mail" in result.reasons["sms"]["en"] or "sms" in result.reasons["mail"]["en"]
    assert "gelijk op" in result.summary("nl")
    for column in ("hazard_ratio", "hr_lower", "hr_upper", "customers_lost", "lost_upper"):
        assert np.isfinite(table[table.estimable][column]).all()
    json.dumps(result.to_dict(), allow_nan=False)


def test_collinear_columns_names_the_partner() -> None:
    x = np.array([[1, 0, 1.0, 2.0], [1, 0, 2.0, 4.0], [0, 1, 3.0, 6.0], [0, 1, 1.0, 2.0]])
    info = x.T @ x
    names = ["interval:0", "interval:1", "c0", "c1"]
    assert collinear_columns(info, names, ["c0", "c1"]) == {"c1": ["c0"]}
    assert collinear_columns(info[:3, :3], names[:3], ["c0"]) == {}
    # columns that are not candidates (baseline, adjustments) are kept first
    assert collinear_columns(info, names, ["c0"]) == {"c0": ["c1"]}


@settings(
    max_examples=12,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # shrinking a workspace is slow
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    st.lists(
        st.tuples(
            st.floats(min_value=2, max_value=300),
            st.booleans(),
            st.lists(st.floats(min_value=0, max_value=300), max_size=3),
        ),
        min_size=3,
        max_size=12,
    )
)
def test_customers_lost_stay_within_the_customers_who_could_be_lost(make_workspace, people):
    if not any(churned for _, churned, _ in people):
        people = [*people, (10.0, True, [])]
    rows = [(d, c, {"late": [t for t in lates if t < d]}) for d, c, lates in people]
    ws = _workspace(make_workspace, rows, name=f"p{abs(hash(str(people)))}")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = drivers(ws, candidates=[Candidate("late", "touchpoint", "late")], adjust_for=())
    row = result.to_pandas().iloc[0]
    json.dumps(result.to_dict(), allow_nan=False)
    if row.estimable:
        assert row.lost_lower <= row.customers_lost <= row.lost_upper
        if row.hazard_ratio >= 1:  # lost: none at least, every exposed churner at most
            assert row.lost_lower >= 0 and row.lost_upper <= row.churners_exposed
        else:  # kept: none at least, every exposed customer who stayed at most
            assert row.lost_upper <= 0
            assert -row.lost_lower <= row.customers_exposed - row.churners_exposed
        assert np.isfinite([row.hazard_ratio, row.hr_lower, row.hr_upper]).all()
    else:
        assert row.reason in REASONS and np.isnan(row.hazard_ratio)
    for lang in ("en", "nl"):
        text = result.summary(lang)
        assert "inf" not in text and "nan" not in text.lower()


def test_overlapping_top_drivers_are_tied() -> None:
    base = {"kind": "touchpoint", "estimable": True, "significant": True}
    table = pd.DataFrame(
        [
            {**base, "driver": "a", "hazard_ratio": 2.0, "p_value": 1e-6, "customers_lost": 100.0,
             "lost_lower": 70.0, "lost_upper": 130.0},
            {**base, "driver": "b", "hazard_ratio": 1.8, "p_value": 1e-5, "customers_lost": 90.0,
             "lost_lower": 60.0, "lost_upper": 120.0},
            {**base, "driver": "c", "hazard_ratio": 1.5, "p_value": 1e-4, "customers_lost": 20.0,
             "lost_lower": 10.0, "lost_upper": 30.0},
            {**base, "driver": "d", "estimable": False, "reason": "way_out"},
        ]
    )  # fmt: skip
    ranked = _rank(table, 0.05).set_index("driver")
    assert ranked.loc["a", "rank"] == ranked.loc["b", "rank"] == 1
    assert ranked.loc["a", "tied"] and ranked.loc["b", "tied"] and not ranked.loc["c", "tied"]
    assert ranked.loc["c", "rank"] == 3 and np.isnan(ranked.loc["d", "rank"])


def test_every_reason_reads_in_both_languages() -> None:
    details = {"n": 1234, "share": 0.975, "total": 2000, "churners": 55, "partners": ["x"]}
    for code in REASONS:
        en, nl = reason_text(code, "en", **details), reason_text(code, "nl", **details)
        assert en != nl and "{" not in en + nl
    assert "97,5%" not in reason_text("time_origin", "nl", **details)  # whole percents
    assert "98%" in reason_text("time_origin", "nl", **details)
    assert "1.234" in reason_text("too_few", "nl", **details)


def test_drivers_by_attribute_on_a_crm_snapshot_without_events(make_workspace) -> None:
    rng = np.random.default_rng(1)
    rows = []
    for i in range(400):
        contract = ["monthly", "yearly", "two-year"][i % 3]
        rate = {"monthly": 1 / 200, "yearly": 1 / 600, "two-year": 1 / 1500}[contract]
        start = (T0 + pd.Timedelta(days=float(rng.uniform(0, 300)))).round("s")
        life = float(rng.exponential(1 / rate))
        end = T0 + 700 * DAY
        churned_at = (start + life * DAY).round("s") if start + life * DAY < end else None
        rows.append(
            {
                "customer_id": f"k{i}",
                "first_seen": start,
                "churned_at": churned_at,
                "last_seen": churned_at or end,
                "segment": "home" if i % 2 else "office",
                "attributes": json.dumps({"contract": contract, "id_like": str(i)}),
            }
        )
    ws = make_workspace(customers=rows, name="crm")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = drivers(ws)
    table = result.to_pandas().set_index("driver")
    # each level against the level with the most customer-days (two-year contracts here)
    assert "contract = monthly" in table.index and "contract = yearly" in table.index
    assert not any(d.startswith("id_like") for d in table.index)  # too many levels
    monthly = table.loc["contract = monthly"]
    assert monthly.estimable and monthly.significant
    assert monthly.hr_lower <= 1500 / 200 <= monthly.hr_upper  # the planted ratio
    assert monthly.lost_upper <= monthly.churners_exposed
    assert "two-year" in result.labels["contract = monthly"]["en"]
    assert "t.o.v. contract = two-year" in result.summary("nl")
    json.dumps(result.to_dict(), allow_nan=False)


def test_table_reasons_from_the_grouped_table() -> None:
    from cxray.analysis.estimability import table_reason

    def frame(counts, events, intervals=(0, 0, 1, 1)):
        return pd.DataFrame(
            {"interval": intervals, "c0": counts, "events": events, "exposure_days": 10.0}
        )

    # the same count for everyone inside each band: the baseline absorbs it
    assert table_reason(frame([0, 0, 2, 2], [1, 0, 1, 1]), "c0", 5)[0] == "no_variation"
    assert table_reason(frame([0, 1, 0, 1], [1, 0, 2, 0]), "c0", 5) == (
        "no_churn_exposed",
        {"n": 5},
    )
    assert table_reason(frame([0, 1, 0, 1], [0, 1, 0, 3]), "c0", 5)[0] == "all_churn_exposed"
    assert table_reason(frame([0, 0, 0, 0], [1, 0, 1, 0]), "c0", 0)[0] == "not_seen"
    assert table_reason(frame([0, 1, 0, 2], [1, 1, 2, 1]), "c0", 5) is None
