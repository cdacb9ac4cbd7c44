import json
import re

import numpy as np
import pandas as pd
import pytest
from plotly.offline import get_plotlyjs

import cxray.analysis.flows
from cxray.analysis.flows import END, START
from cxray.analysis.metrics import metrics
from cxray.report import build_report, collect, render, write_report
from cxray.report.sankey_chart import phase_sankey
from cxray.report.survival_chart import thin_curve
from cxray.report.text import STRINGS, number, percent, say

JOURNEY = {
    "journey": {"name": "Testshop"},
    "touchpoints": {
        "ad": {"phase": "awareness", "channel": "social"},
        "visit": {"phase": "consideration", "channel": "web"},
        "order": {"phase": "conversion", "channel": "web", "label": "Order placed"},
        "delivery": {"phase": "loyalty", "channel": "logistics"},
        "late": {
            "phase": "loyalty",
            "channel": "logistics",
            "bad_experience": True,
            "label": "Late delivery",
        },
        "review": {"phase": "advocacy", "channel": "web"},
        "cancel": {"phase": "loyalty", "channel": "web"},
    },
    "churn": {"touchpoints": ["cancel"], "inactive_days": 60},
}
CHART = '<div class="chart"'  # where the report's script draws a chart
FIRST_KEYS = ["metrics", "touchpoints", "funnel", "survival", "early_churn", "flows", "dropoff"]
SECTION_KEYS = [
    "metrics",
    "trend",
    "touchpoints",
    "canvas",
    "funnel",
    "survival",
    "early_churn",
    "flows",
    "dropoff",
    "why",
    "risk",
]
TITLES = {
    "summary_title": {},
    "metrics_title": {},
    "touchpoints_title": {},
    "funnel_title": {},
    "survival_title": {},
    "early_title": {"days": 100},
    "flows_title": {},
    "dropoff_title": {},
    "trend_title": {},
    "canvas_title": {},
    "why_title": {},
    "risk_title": {},
    "footer_title": {},
}


def synthetic_rows(customers: int = 120, seed: int = 3) -> dict[str, list[dict]]:
    """A small shop over about a year: most customers order, some get late deliveries and leave."""
    rng = np.random.default_rng(seed)
    day0 = pd.Timestamp("2024-01-01", tz="UTC")
    events, feedback, people = [], [], []
    for i in range(customers):
        cid = f"c{i:03d}"
        start = day0 + pd.Timedelta(days=int(rng.integers(0, 300)))
        people.append(
            {
                "customer_id": cid,
                "first_seen": start,
                "segment": "business" if i % 3 == 0 else "consumer",
            }
        )
        when = start
        path = ["ad", "visit"] if rng.random() < 0.8 else ["ad"]
        if len(path) == 2 and rng.random() < 0.75:
            path += ["order", "late" if rng.random() < 0.3 else "delivery"]
            if rng.random() < 0.3:
                path.append("review")
        for touchpoint in path:
            when += pd.Timedelta(days=int(rng.integers(1, 20)))
            events.append({"customer_id": cid, "ts": when, "touchpoint": touchpoint})
            if touchpoint in ("delivery", "late"):
                bad = touchpoint == "late"
                feedback.append(
                    {
                        "customer_id": cid,
                        "ts": when,
                        "metric": "nps",
                        "touchpoint": touchpoint,
                        "score": int(rng.integers(0, 8) if bad else rng.integers(6, 11)),
                    }
                )
                feedback.append(
                    {
                        "customer_id": cid,
                        "ts": when,
                        "metric": "csat",
                        "touchpoint": touchpoint,
                        "score": int(rng.integers(1, 4) if bad else rng.integers(3, 6)),
                    }
                )
                feedback.append(
                    {
                        "customer_id": cid,
                        "ts": when,
                        "metric": "ces",
                        "touchpoint": touchpoint,
                        "score": int(rng.integers(1, 8)),
                    }
                )
        if "late" in path and rng.random() < 0.6:
            events.append(
                {"customer_id": cid, "ts": when + pd.Timedelta(days=3), "touchpoint": "cancel"}
            )
    # someone active on the last day keeps the data running to the end of the year
    events.append(
        {"customer_id": "c000", "ts": day0 + pd.Timedelta(days=365), "touchpoint": "visit"}
    )
    return {"events": events, "feedback": feedback, "customers": people}


@pytest.fixture
def shop(make_workspace):
    return make_workspace(**synthetic_rows(), journey=JOURNEY)


def sections_of(html: str) -> dict[str, str]:
    """The HTML of each <section>, by its id."""
    return dict(re.findall(r'<section id="([a-z_]+)">(.*?)</section>', html, flags=re.S))


def test_every_section_renders_on_a_realistic_workspace(shop):
    data = collect(shop, strict=True)
    assert data.segment_by == "segment"
    # the risk model needs churners before its training cutoff, which this small shop lacks
    assert data.outcomes["risk"].reason is not None
    assert all(outcome.ok for key, outcome in data.outcomes.items() if key != "risk")
    for lang in ("en", "nl"):
        html = render(data, lang, strict=True)
        sections = sections_of(html)
        assert list(sections) == SECTION_KEYS
        assert say(lang, "cannot_compute", reason="")[:12] in sections.pop("risk")
        for key, body in sections.items():
            assert say(lang, "not_enough") not in body, key
            assert 'class="empty"' not in body, key
        for key in ("touchpoints", "funnel", "survival", "early_churn", "flows", "dropoff"):
            assert CHART in sections[key], key
        for key in ("trend", "canvas", "why"):
            assert CHART in sections[key], key
        # metric cards: one per metric with its interval and n
        assert len(re.findall(r'class="card( few)?"', sections["metrics"])) == 3
        intervals = re.findall(r'<div class="interval">(.*?)</div>', sections["metrics"])
        assert len(intervals) == 3
        assert all(
            text.startswith(say(lang, "interval", low="", high="")[:8]) for text in intervals
        )
        assert sections["metrics"].count('<div class="answers">n = ') == 3
        summary = re.search(r'id="summary">(.*?)</div>', html, flags=re.S).group(1)
        assert 3 <= summary.count("<li>") <= 6
        assert html.count(say(lang, "title")) >= 1
        assert "Testshop" in html
        for key, values in TITLES.items():
            assert f">{say(lang, key, **values)}</h2>" in html, (lang, key)
        # one score chart per metric tied to touchpoints, the scale stated on each
        assert sections["touchpoints"].count(CHART) == 3
        for metric in ("NPS", "CSAT", "CES"):
            assert say(lang, "touchpoints_chart", metric=metric) in sections["touchpoints"]
        ces_axis = say(lang, "ces_axis_easier", metric="CES", min="1", max="7")
        assert json.dumps(ces_axis)[1:-1] in sections["touchpoints"]  # as in the figure's JSON
        # survival is split by segment, with each group's n in the legend
        assert "business (n = " in sections["survival"]


def test_one_self_contained_file_with_plotly_once(shop, tmp_path):
    target = tmp_path / "out" / "report.html"
    written = write_report(shop, target, lang="en", strict=True)
    assert written == target
    assert [p.name for p in target.parent.iterdir()] == ["report.html"]
    html = target.read_text(encoding="utf-8")
    assert html.count(get_plotlyjs()) == 1
    # the bundle's own tag and the script that draws the charts; each chart's data is JSON
    assert html.count("<script") - html.count('<script type="application/json"') == 2
    # nothing is fetched: no script, link, image or frame points anywhere
    assert not re.search(r"<(script|link|img|iframe)\b[^>]*\b(src|href)\s*=", html, re.I)
    # outside the bundle (whose map attributions name web pages) no address at all
    page = html.replace(get_plotlyjs(), "")
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"""\b(src|href)\s*=\s*["']?\s*//""", page, re.I)
    assert "@import" not in page and "url(" not in page


def test_dutch_report_speaks_dutch_with_decimal_commas(shop):
    html = build_report(shop, lang="nl", strict=True)
    assert '<html lang="nl">' in html
    assert say("nl", "summary_title") in html and say("en", "summary_title") not in html
    ces = metrics(shop, metric="ces").to_pandas().iloc[0]
    assert f'<div class="score">{number(ces["score"], "nl", 2)}</div>' in html
    assert re.search(r'<div class="score">\d,\d\d</div>', html)
    assert 'separators":",."' in html.replace(" ", "")  # plotly's own number format


def test_empty_workspace_notes_not_enough_data(make_workspace):
    empty = make_workspace(journey=JOURNEY, name="empty")
    for lang in ("en", "nl"):
        html = build_report(empty, lang=lang, strict=True)
        sections = sections_of(html)
        assert list(sections) == SECTION_KEYS
        # the churn drivers say why in one line; dose-response, key drivers and themes find
        # nothing to show; every other section says there is not enough data
        assert say(lang, "cannot_compute", reason="")[:12] in sections.pop("why")
        for key, body in sections.items():
            assert say(lang, "not_enough") in body, key
        assert say(lang, "no_summary") in html
        assert html.count(get_plotlyjs()) == 1


def test_a_failing_analysis_leaves_the_rest_of_the_report(shop, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("engine went away")

    monkeypatch.setattr(cxray.analysis.flows, "flows", broken)
    with pytest.raises(RuntimeError):
        build_report(shop, strict=True)
    sections = sections_of(build_report(shop, lang="en"))
    assert say("en", "not_enough") in sections["flows"]
    assert "engine went away" in sections["flows"]
    assert CHART in sections["funnel"]


def test_report_text_is_complete_in_both_languages():
    assert STRINGS["en"].keys() == STRINGS["nl"].keys()
    assert all(value.strip() for strings in STRINGS.values() for value in strings.values())
    with pytest.raises(ValueError):
        say("de", "title")


def test_numbers_are_written_as_people_read_them():
    assert number(1234.5, "en", 1) == "1,234.5"
    assert number(1234.5, "nl", 1) == "1.234,5"
    assert number(12.0, "nl", 0, sign=True) == "+12"
    assert number(-0.2, "en", 0) == "0"
    assert number(-3.0, "en", 0) == "−3"
    assert number(float("nan"), "en") == "–"
    assert percent(0.256, "nl", 1) == "25,6%"


def test_thin_curve_keeps_steps_exact_and_few():
    times = np.sort(np.random.default_rng(0).uniform(0, 1000, 5000))
    curve = pd.DataFrame({"time_days": times, "survival": np.linspace(1, 0.2, 5000)})
    thin = thin_curve(curve, max_points=200)
    assert len(thin) <= 202
    assert thin.iloc[0].equals(curve.iloc[0]) and thin.iloc[-1].equals(curve.iloc[-1])
    # every kept row is a row of the curve, and no gap exceeds a bucket and a bit
    assert thin.index.isin(curve.index).all()
    assert np.diff(thin["time_days"]).max() < 2 * 1000 / 200
    assert thin_curve(curve.head(10), max_points=200).equals(curve.head(10))


def test_without_a_churn_rule_churn_sections_say_how_to_set_one(make_workspace):
    rows = synthetic_rows(customers=40)
    journey = {key: value for key, value in JOURNEY.items() if key != "churn"}
    ws = make_workspace(**rows, journey=journey, name="no-churn")
    assert not ws.reload_journey().churn.enabled
    sections = sections_of(build_report(ws, lang="nl", strict=True))
    for key in ("survival", "early_churn", "dropoff"):
        assert say("nl", "no_churn_rule") in sections[key], key
    assert CHART in sections["funnel"] and CHART in sections["flows"]


def test_sankey_keeps_every_move_in_two_columns():
    moves = pd.DataFrame(
        [
            (START, "awareness", 10, 10, False),
            ("awareness", "conversion", 6, 6, False),
            ("conversion", "awareness", 2, 2, True),
            ("conversion", END, 5, 5, False),
            ("awareness", END, 4, 4, False),
        ],
        columns=["source_phase", "target_phase", "transitions", "customers", "backward"],
    )
    sankey = phase_sankey(moves, ["awareness", "consideration", "conversion"], START, END, "en")
    trace = sankey.data[0]
    labels = list(trace.node.label)
    assert labels == [
        "first contact",
        "awareness",
        "conversion",
        "awareness",
        "conversion",
        "last contact",
    ]
    assert list(trace.node.x) == [0.001] * 3 + [0.999] * 3
    # every link runs from the left column to the right one: no loops, nothing left out
    assert all(s < 3 <= t for s, t in zip(trace.link.source, trace.link.target, strict=True))
    assert sum(trace.link.value) == moves["transitions"].sum()
    assert "234,88,12" in trace.link.color[2]  # the move back is orange


def test_lifetime_data_without_events_dates_the_report_and_names_its_churn(make_workspace):
    rng = np.random.default_rng(5)
    as_of = pd.Timestamp("2024-01-31", tz="UTC")
    customers = []
    for i in range(120):
        row = {
            "customer_id": f"c{i}",
            "first_seen": as_of - pd.Timedelta(days=float(rng.integers(1, 900))),
            "segment": "a" if i % 2 else "b",
        }
        row["churned_at" if i % 3 == 0 else "last_seen"] = as_of
        customers.append(row)
    ws = make_workspace(customers=customers, name="lifetimes")
    html = build_report(ws, lang="en", strict=True)
    assert say("en", "no_period") not in html  # dated by the lifetime data
    assert say("en", "footer_churn_lifetimes") in html
    assert say("en", "footer_churn_none") not in html
    assert CHART in sections_of(html)["survival"]
