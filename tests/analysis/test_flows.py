import gzip
import json

import ibis
import ibis.config
import ibis.expr.operations as ops
import numpy as np
import pandas as pd
import pytest
import tomlkit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cxray
from cxray import schema
from cxray.analysis.flows import END, START, flow_queries, flows
from cxray.analysis.lifetimes import customer_lifetimes
from tests.conftest import SHARED_DATA

RECEIPT = SHARED_DATA / "receipt" / "receipt.xes.gz"
T0 = pd.Timestamp("2024-01-01", tz="UTC")


# -- helpers -----------------------------------------------------------------------------------
def replace_table(ws: cxray.Workspace, spec: schema.TableSpec, rows: pd.DataFrame) -> None:
    """Swap a table's rows, so one workspace serves many generated examples."""
    ws.warehouse.sql(f"DELETE FROM {spec.name}")
    frame = rows.copy()
    for column in spec.columns:
        if column not in frame:
            frame[column] = None
    if len(frame):
        ws.warehouse.backend.insert(spec.name, frame[spec.columns])


def pandas_edges(events: pd.DataFrame) -> pd.DataFrame:
    """The directly-follows graph the plain way: sort, shift within each customer."""
    ordered = events.sort_values(["customer_id", "ts", "touchpoint", "event_id"])
    by_customer = ordered.groupby("customer_id", sort=False)
    ordered = ordered.assign(
        target=by_customer.touchpoint.shift(-1).fillna(END),
        seconds=(by_customer.ts.shift(-1) - ordered.ts).dt.total_seconds(),
    )
    inner = ordered.groupby(["touchpoint", "target"]).agg(
        count=("customer_id", "size"),
        customers=("customer_id", "nunique"),
        median_seconds=("seconds", "median"),
        p90_seconds=("seconds", lambda s: s.quantile(0.9)),
    )
    inner = inner.reset_index().rename(columns={"touchpoint": "source"})
    firsts = by_customer.touchpoint.first().value_counts()
    start = pd.DataFrame(
        {
            "source": START,
            "target": firsts.index,
            "count": firsts.values,
            "customers": firsts.values,
            "median_seconds": np.nan,
            "p90_seconds": np.nan,
        }
    )
    return canonical(pd.concat([start, inner], ignore_index=True))


def canonical(edges: pd.DataFrame) -> pd.DataFrame:
    edges = edges.sort_values(["source", "target"]).reset_index(drop=True)
    return edges.astype({"count": "int64", "customers": "int64"})


def pandas_paths(events: pd.DataFrame, max_length: int | None = None) -> pd.Series:
    ordered = events.sort_values(["customer_id", "ts", "touchpoint", "event_id"])
    paths = ordered.groupby("customer_id").touchpoint.agg(tuple)
    return paths if max_length is None else paths.map(lambda p: p[:max_length])


@pytest.fixture(scope="module")
def shared_ws(tmp_path_factory):
    ws = cxray.init(tmp_path_factory.mktemp("flows") / "ws")
    doc = tomlkit.parse(ws.journey_path.read_text())
    doc["churn"]["touchpoints"] = ["cancel"]
    doc["churn"]["inactive_days"] = 30
    doc["touchpoints"] = {
        "visit": {"phase": "awareness"},
        "quote": {"phase": "consideration"},
        "order": {"phase": "conversion"},
        "cancel": {"phase": "loyalty"},
    }
    ws.journey_path.write_text(tomlkit.dumps(doc))
    ws.reload_journey()
    yield ws
    ws.close()


# -- hand-made examples -----------------------------------------------------------------------
def test_ties_are_ordered_by_touchpoint_then_event_id(make_workspace):
    ws = make_workspace(
        events=[
            # same moment: "b" sorts before "c"; the two "c" events by event_id
            {"event_id": "e3", "customer_id": "x", "ts": "2024-01-01 10:00:00", "touchpoint": "c"},
            {"event_id": "e1", "customer_id": "x", "ts": "2024-01-01 10:00:00", "touchpoint": "c"},
            {"event_id": "e2", "customer_id": "x", "ts": "2024-01-01 10:00:00", "touchpoint": "b"},
            {"event_id": "e4", "customer_id": "x", "ts": "2024-01-01 09:00:00", "touchpoint": "z"},
        ]
    )
    result = flows(ws)
    assert result.variants.variant.tolist() == [("z", "b", "c", "c")]
    edges = result.edges.set_index(["source", "target"])
    assert edges.loc[("z", "b"), "median_seconds"] == 3600
    assert edges.loc[("b", "c"), "median_seconds"] == 0
    assert edges.loc[("c", "c"), "count"] == 1
    assert edges.loc[(START, "z"), "count"] == 1
    assert edges.loc[("c", END), "count"] == 1
    assert (result.customers, result.events) == (1, 4)


def test_variants_shares_churn_and_prefixes(make_workspace):
    day = pd.Timedelta(days=1)
    rows = []
    # 3 customers order then cancel (churned), 1 orders and stays; one late visitor keeps
    # the data going so the stayer is observed.
    for i in range(3):
        rows += [
            {"customer_id": f"c{i}", "ts": T0 + i * day, "touchpoint": "order"},
            {"customer_id": f"c{i}", "ts": T0 + (i + 5) * day, "touchpoint": "cancel"},
        ]
    rows += [
        {"customer_id": "s", "ts": T0, "touchpoint": "order"},
        {"customer_id": "s", "ts": T0 + 100 * day, "touchpoint": "visit"},
        {"customer_id": "late", "ts": T0 + 101 * day, "touchpoint": "visit"},
    ]
    ws = make_workspace(
        events=rows, journey={"churn": {"touchpoints": ["cancel"], "inactive_days": 30}}
    )
    result = flows(ws)
    top = result.variants.iloc[0]
    assert top.variant == ("order", "cancel") and top.label == "order → cancel"
    assert (top.customers, top.churned, top.judged, top.churn_rate) == (3, 3, 3, 1.0)
    assert top.share == pytest.approx(3 / 5)
    assert 0 < top.churn_rate_lower < 1 and top.churn_rate_upper == pytest.approx(1.0)
    assert result.distinct_variants == 3
    stayer = result.variants.set_index("label").loc["order → visit"]
    assert stayer.churned == 0 and stayer.churn_rate == 0
    # cut to one step, both paths starting with "order" fall together
    cut = flows(ws, max_variant_length=1, top_variants=1)
    assert cut.variants.variant.tolist() == [("order",)]
    assert cut.variants.customers.tolist() == [4]
    assert cut.distinct_variants == 2
    json.dumps(result.to_dict())
    assert "order → cancel" in result.summary() and "order → cancel" in result.summary("nl")
    top = result.variants.iloc[0]
    n = result.customers
    assert f"({top.customers} of {n} customers, {round(100 * top.share)}%)" in result.summary()
    assert f"({top.customers} van de {n} klanten, " in result.summary("nl")


def test_filters(make_workspace):
    day = pd.Timedelta(days=1)
    ws = make_workspace(
        events=[
            {"customer_id": "a", "ts": T0, "touchpoint": "visit"},
            {"customer_id": "a", "ts": T0 + 40 * day, "touchpoint": "cancel"},
            {"customer_id": "b", "ts": T0 + 10 * day, "touchpoint": "visit"},
            {"customer_id": "b", "ts": T0 + 60 * day, "touchpoint": "order"},
            {"customer_id": "c", "ts": T0 + 20 * day, "touchpoint": "order"},
            {"customer_id": "c", "ts": T0 + 200 * day, "touchpoint": "order"},
        ],
        customers=[
            {"customer_id": "a", "segment": "b2b"},
            {"customer_id": "b", "segment": "b2c"},
            {"customer_id": "c", "segment": "b2c"},
        ],
        journey={"churn": {"touchpoints": ["cancel"], "inactive_days": 100}},
    )
    # a cancelled; b lapsed (last activity day 60, data ends day 200); c is still active
    assert flows(ws).customers == 3
    assert flows(ws, segment="b2c").customers == 2
    assert flows(ws, only="churned").customers == 2
    retained = flows(ws, only="retained")
    assert retained.customers == 1 and retained.variants.variant.tolist() == [("order", "order")]
    period = flows(ws, start="2024-01-05", end=T0 + 60 * day)
    assert period.events == 3  # a's cancel, b's visit, c's first order
    assert period.filters["start"] == pd.Timestamp("2024-01-05", tz="UTC")
    with pytest.raises(ValueError, match="only"):
        flows(ws, only="happy")
    empty = flows(ws, segment="nobody")
    assert empty.customers == 0 and empty.variants.empty and empty.sankey.empty
    assert "No interactions" in empty.summary()


def test_sankey_merges_phases_and_flags_backward_steps(make_workspace):
    minute = pd.Timedelta(minutes=1)
    steps = ["visit", "visit", "quote", "order", "quote", "mystery"]
    ws = make_workspace(
        events=[
            {"customer_id": "a", "ts": T0 + i * minute, "touchpoint": tp}
            for i, tp in enumerate(steps)
        ]
        + [{"customer_id": "b", "ts": T0, "touchpoint": "order"}],
        journey={
            "touchpoints": {
                "visit": {"phase": "awareness"},
                "quote": {"phase": "consideration"},
                "order": {"phase": "conversion"},
            }
        },
    )
    sankey = flows(ws).sankey.set_index(["source_phase", "target_phase"])
    assert sankey.loc[(START, "awareness"), "transitions"] == 1
    assert sankey.loc[(START, "conversion"), "customers"] == 1
    assert sankey.loc[("awareness", "consideration"), "transitions"] == 1  # visit, visit merged
    assert not sankey.loc[("consideration", "conversion"), "backward"]
    assert sankey.loc[("conversion", "consideration"), "backward"]
    assert sankey.loc[("consideration", "unassigned"), "transitions"] == 1
    assert sankey.loc[("unassigned", END), "transitions"] == 1
    assert sankey.loc[("conversion", END), "customers"] == 1
    assert not any(s == t for s, t in sankey.index)


# -- against a plain pandas computation ---------------------------------------------------------
event_rows = st.lists(
    st.tuples(
        st.sampled_from(["c1", "c2", "c3", "c4", "c5"]),
        st.integers(0, 6),  # few distinct moments: many ties
        st.sampled_from(["visit", "quote", "order", "cancel", "other"]),
    ),
    min_size=1,
    max_size=40,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=event_rows, max_length=st.one_of(st.none(), st.integers(1, 3)))
def test_matches_pandas_on_random_logs(shared_ws, rows, max_length):
    events = pd.DataFrame(rows, columns=["customer_id", "minute", "touchpoint"])
    events["ts"] = T0 + pd.to_timedelta(events.pop("minute") * 90, unit="s")
    shuffled = np.random.default_rng(len(rows)).permutation(len(rows))
    events["event_id"] = [f"e{i:03d}" for i in shuffled]
    replace_table(shared_ws, schema.EVENTS, events)

    result = flows(shared_ws, top_variants=100, max_variant_length=max_length)
    expected = pandas_edges(events)
    actual = canonical(result.edges)
    pd.testing.assert_frame_equal(actual, expected[actual.columns], check_exact=False)

    paths = pandas_paths(events, max_length)
    counts = paths.value_counts()
    variants = result.variants.set_index("variant")
    assert variants.customers.to_dict() == counts.to_dict()
    assert variants.share.sum() == pytest.approx(1.0)
    fate = customer_lifetimes(shared_ws).execute().set_index("customer_id")
    labels = paths.map(" → ".join)
    judged = fate.loc[labels.index, "too_new"].eq(False)
    churned = (fate.loc[labels.index, "churned"] & judged).groupby(labels).sum()
    by_label = result.variants.set_index("label")
    assert by_label.churned.to_dict() == churned.to_dict()
    assert by_label.judged.to_dict() == judged.groupby(labels).sum().to_dict()
    assert result.customers == events.customer_id.nunique()
    assert result.events == len(events)


def test_only_and_segment_filters_match_pandas(shared_ws):
    rng = np.random.default_rng(7)
    n = 400
    events = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in rng.integers(0, 60, n)],
            "ts": T0 + pd.to_timedelta(rng.integers(0, 200 * 24, n), unit="h"),
            "touchpoint": rng.choice(
                ["visit", "quote", "order", "cancel"], n, p=[0.4, 0.3, 0.2, 0.1]
            ),
            "event_id": [f"e{i}" for i in range(n)],
        }
    )
    customers = pd.DataFrame(
        {"customer_id": [f"c{i}" for i in range(60)], "segment": rng.choice(["x", "y"], 60)}
    )
    replace_table(shared_ws, schema.EVENTS, events)
    replace_table(shared_ws, schema.CUSTOMERS, customers)
    fate = customer_lifetimes(shared_ws).execute().set_index("customer_id")
    keep = {
        "churned": fate.index[fate.churned],
        "retained": fate.index[~fate.churned & ~fate.too_new],
    }
    assert len(keep["churned"]) and len(keep["retained"])
    for only, ids in keep.items():
        result = flows(shared_ws, only=only, segment="x")
        wanted = set(ids) & set(customers.customer_id[customers.segment == "x"])
        subset = events[events.customer_id.isin(wanted)]
        pd.testing.assert_frame_equal(
            canonical(result.edges),
            pandas_edges(subset)[result.edges.columns],
            check_exact=False,
        )


# -- a real event log -------------------------------------------------------------------------
def read_xes(path) -> pd.DataFrame:
    """Trace concept:name -> customer_id, event concept:name -> touchpoint, time:timestamp -> ts."""
    from lxml import etree

    rows = []
    with gzip.open(path, "rb") as handle:
        for _, trace in etree.iterparse(handle, tag="{*}trace"):
            case = next(a.get("value") for a in trace if a.get("key") == "concept:name")
            for event in trace.iterfind("{*}event"):
                attributes = {a.get("key"): a.get("value") for a in event}
                rows.append((case, attributes["concept:name"], attributes["time:timestamp"]))
            trace.clear()
    frame = pd.DataFrame(rows, columns=["customer_id", "touchpoint", "ts"])
    frame["ts"] = pd.to_datetime(frame.ts, utc=True, format="ISO8601")
    frame["event_id"] = [f"x{i:06d}" for i in range(len(frame))]
    return frame


@pytest.mark.skipif(not RECEIPT.exists(), reason="shared receipt log not available")
@pytest.mark.parametrize("load", ["rows", "importer"])
def test_real_receipt_log_matches_pandas(make_workspace, load):
    if load == "rows":  # straight from the file, independent of the importer
        events = read_xes(RECEIPT)
        ws = make_workspace(events=events)
    else:
        ws = make_workspace()
        ws.import_table("events", RECEIPT)
        events = ws.events.select("customer_id", "ts", "touchpoint", "event_id").execute()
    assert len(events) == 8577 and events.customer_id.nunique() == 1434
    result = flows(ws, top_variants=10)
    expected = pandas_edges(events)
    actual = canonical(result.edges)
    pd.testing.assert_frame_equal(actual, expected[actual.columns], check_exact=False)
    counts = pandas_paths(events).value_counts()
    top = result.variants.set_index("variant").customers
    assert top.tolist() == counts.iloc[:10].tolist()
    assert all(counts[variant] == n for variant, n in top.items())
    assert result.distinct_variants == len(counts)
    assert (result.customers, result.events) == (1434, 8577)


# -- portable SQL ------------------------------------------------------------------------------
@pytest.fixture
def pyspark_options():
    """Compiling for Spark needs its backend's options; provide them when pyspark is absent."""
    if ibis.options.pyspark is not None:
        yield
        return

    class Options(ibis.config.Config):
        treat_nan_as_null: bool = False

    ibis.options.pyspark = Options()
    yield
    ibis.options.pyspark = None


@pytest.mark.parametrize("dialect", ["duckdb", "postgres", "pyspark"])
def test_queries_compile_without_ordered_aggregates(make_workspace, pyspark_options, dialect):
    ws = make_workspace(
        events=[{"customer_id": "a", "ts": T0, "touchpoint": "visit"}],
        customers=[{"customer_id": "a", "segment": "x"}],
        journey={"touchpoints": {"visit": {"phase": "awareness"}}},
    )
    engine = "duckdb" if dialect == "duckdb" else dialect
    queries = flow_queries(
        ws, segment="x", start="2024-01-01", only="retained", max_variant_length=5, engine=engine
    )
    for name, query in queries.items():
        sql = ibis.to_sql(query, dialect=dialect).upper()
        assert "STRING_AGG" not in sql and "GROUP_CONCAT" not in sql, name
        if name == "edges" and dialect != "duckdb":
            assert "EPOCH_US" not in sql  # the DuckDB shortcut stays on DuckDB
        # order-sensitive aggregates would not be portable: none may carry an ORDER BY
        for collect in query.op().find((ops.ArrayCollect, ops.GroupConcat)):
            assert not collect.order_by, name


def test_portable_paths_give_the_same_answers(shared_ws):
    """The query forms used off DuckDB (text sort keys, timestamp differences), run on DuckDB."""
    rng = np.random.default_rng(5)
    n = 300
    events = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in rng.integers(0, 40, n)],
            # whole minutes, many shared: ties between touchpoints at one moment
            "ts": T0 + pd.to_timedelta(rng.integers(0, 60, n), unit="min"),
            "touchpoint": rng.choice(["visit", "quote", "order", "cancel"], n),
            "event_id": [f"e{i}" for i in rng.permutation(n)],
        }
    )
    events.loc[::7, "ts"] += pd.Timedelta(microseconds=250)  # sub-second gaps survive too
    replace_table(shared_ws, schema.EVENTS, events)
    keys = {"edges": ["source", "target"], "variants": ["variant"]}

    def run(query, name):
        return query.execute().sort_values(keys[name]).reset_index(drop=True)

    for max_length in (None, 2):
        native = flow_queries(shared_ws, top_variants=1000, max_variant_length=max_length)
        portable = flow_queries(
            shared_ws, top_variants=1000, max_variant_length=max_length, engine="postgres"
        )
        for name in keys:
            pd.testing.assert_frame_equal(run(native[name], name), run(portable[name], name))
    expected = pandas_paths(events).value_counts()
    got = flows(shared_ws, top_variants=1000).variants.set_index("variant").customers
    assert got.to_dict() == expected.to_dict()


def test_to_dict_is_json(make_workspace):
    ws = make_workspace(events=[{"customer_id": "a", "ts": T0, "touchpoint": "visit"}])
    data = json.loads(json.dumps(flows(ws).to_dict()))
    assert {e["source"] for e in data["edges"]} == {START, "visit"}
    assert all(e["median_seconds"] is None for e in data["edges"])  # no time on START/END
    assert data["variants"][0]["variant"] == ["visit"]
