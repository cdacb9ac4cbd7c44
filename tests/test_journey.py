from __future__ import annotations

import pytest
import tomlkit

import cxray
from cxray import journey
from cxray.journey import TEMPLATES, JourneyError


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_templates_make_valid_journeys(tmp_path, template):
    ws = cxray.init(tmp_path / template, template=template)
    assert ws.journey.phases == tuple(TEMPLATES[template])
    # no silent inactivity default: the template names the key in a comment only
    assert ws.journey.churn.inactive_days is None
    assert "# inactive_days" in ws.journey_path.read_text()
    assert ws.journey.scale("nps").max == 10
    ws.close()


def test_unknown_template_is_refused(tmp_path):
    with pytest.raises(JourneyError, match="unknown template 'six-phase'"):
        cxray.init(tmp_path / "x", template="six-phase")


def test_design_example_keys_are_read():
    data = tomlkit.parse(
        """
        [journey]
        name = "Webshop"
        phases = ["awareness", "consideration", "conversion", "loyalty", "advocacy"]
        [touchpoints.order_placed]
        phase = "conversion"
        channel = "web"
        owner = "sales"
        [touchpoints.delivery_late]
        phase = "loyalty"
        channel = "logistics"
        bad_experience = true
        [churn]
        touchpoints = ["subscription_cancelled"]
        inactive_days = 180
        [bad_experience]
        nps_at_most = 6
        csat_at_most = 2
        ces_at_most = 3
        [scales]
        nps  = { min = 0, max = 10 }
        csat = { min = 1, max = 5 }
        ces  = { min = 1, max = 7, higher_is_easier = true }
        """
    ).unwrap()
    j = journey.from_dict(data)
    assert j.touchpoints["order_placed"].owner == "sales"
    assert j.bad_touchpoints == ["delivery_late"]
    assert j.churn.touchpoints == ("subscription_cancelled",)
    assert j.phase_of("delivery_late") == "loyalty"
    assert j.phase_of("never_seen") == "unassigned"


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"journey": {"phases": []}}, "non-empty list"),
        ({"touchpoints": {"x": {"phase": "nowhere"}}}, r"\[touchpoints.x\] phase 'nowhere'"),
        ({"touchpoints": {"x": {"phase": "loyalty", "colour": 1}}}, "unknown key"),
        ({"churn": {"inactive_days": -3}}, "positive whole number"),
        ({"bad_experience": {"nps_at_most": 12}}, "outside the nps scale"),
        ({"scales": {"nps": {"min": 10, "max": 0}}}, "'min' must be below 'max'"),
        (
            {"scales": {"nps": {"min": 0, "max": 10, "maxx": 3}}},
            r"\[scales.nps\] unknown key.*maxx",
        ),
        ({"churn": {"inactive_dayz": 30}}, r"\[churn\] unknown key.*inactive_dayz"),
        ({"journey": {"phase": ["a"]}}, r"\[journey\] unknown key.*'?phase\b"),
        ({"bad_experience": {"npss_at_most": 6}}, "unknown key 'npss_at_most'"),
        ({"bad_experience": {"nps_at_most": "6"}}, "must be a number"),
        ({"bad_experience": {"rating_at_most": 9}}, "outside the rating scale"),
        ({"warehouse": {"URL": "x"}}, r"\[warehouse\] unknown key"),
        ({"surveys": {"x": 1}}, r"\[surveys\] unknown section"),
    ],
)
def test_invalid_journeys_name_the_key(patch, message):
    data = {"journey": {"phases": ["a", "loyalty"]}}
    for key, value in patch.items():
        data.setdefault(key, {}).update(value)
    with pytest.raises(JourneyError, match=message):
        journey.from_dict(data, source="cxray.toml")


def test_added_touchpoints_keep_the_users_comments(tmp_path):
    ws = cxray.init(tmp_path / "ws")
    text = ws.journey_path.read_text().replace(
        "[churn]", '# our own note\n[touchpoints.order]\nphase = "conversion"\n\n[churn]'
    )
    ws.journey_path.write_text(text)
    journey.add_touchpoints(ws.journey_path, ["delivery", "order"])
    after = ws.journey_path.read_text()
    assert "# our own note" in after
    reloaded = ws.reload_journey()
    assert reloaded.touchpoints["order"].phase == "conversion"
    assert reloaded.touchpoints["delivery"].phase == "unassigned"
    assert reloaded.closest_touchpoint("ordr") == "order"
    ws.close()


def test_open_refuses_a_folder_that_is_not_a_workspace(tmp_path):
    with pytest.raises(cxray.WorkspaceError, match="not a cxray workspace"):
        cxray.open(tmp_path)


def test_any_metric_with_a_scale_can_have_a_bad_experience_threshold():
    data = {
        "journey": {"phases": ["a"]},
        "bad_experience": {"rating_at_most": 2, "stars_at_most": 1},
        "scales": {"stars": {"min": 1, "max": 5}},
    }
    rule = journey.from_dict(data).bad_experience
    assert rule.threshold("rating") == 2 and rule.threshold("stars") == 1
    assert rule.rating_at_most == 2 and rule.nps_at_most == 6  # defaults stay
    assert rule.metrics == ["ces", "csat", "nps", "rating", "stars"]
    assert (
        journey.from_dict({"journey": {"phases": ["a"]}}).bad_experience.threshold("rating") is None
    )
