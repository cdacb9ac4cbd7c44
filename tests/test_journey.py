from __future__ import annotations

import os

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
        ({"survey": {"x": 1}}, r"\[survey\] unknown section"),
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


BASE = '[journey]\nphases = ["a", "loyalty"]\n'


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        ("churn = 5", "churn", "must be a table"),
        ('touchpoints = "x"', "touchpoints", "must be a table"),
        ("scales = [1, 2]", "scales", "must be a table"),
        ("bad_experience = 6", "bad_experience", "must be a table"),
        ("warehouse = 1", "warehouse", "must be a table"),
        ("journey = 1", "journey", "must be a table"),
        ("[churn]\ninactive_days = true", "churn", "positive whole number"),
        ("[churn]\ninactive_days = 30.5", "churn", "positive whole number"),
        ('[churn]\ninactive_days = "90"', "churn", "positive whole number"),
        ("[churn]\ntouchpoints = [1, 2]", "churn", "list of touchpoint names"),
        ('[churn]\ntouchpoints = "cancelled"', "churn", "list of touchpoint names"),
        ('[bad_experience]\nnps_at_most = "six"', "bad_experience", "must be a number"),
        ("[bad_experience]\nnps_at_most = true", "bad_experience", "must be a number"),
        ('[touchpoints.x]\nbad_experience = "false"', "touchpoints.x", "true or false"),
        ("[touchpoints.x]\nbad_experience = 0", "touchpoints.x", "true or false"),
        ('[touchpoints.x]\nmoment_of_truth = "yes"', "touchpoints.x", "true or false"),
        ("[touchpoints.x]\nphase = 5", "touchpoints.x", "'phase' must be text"),
        ('[touchpoints.x]\nphase = ["a"]', "touchpoints.x", "'phase' must be text"),
        ("[touchpoints.x]\nchannel = 1", "touchpoints.x", "'channel' must be text"),
        ("[touchpoints.x]\nowner = true", "touchpoints.x", "'owner' must be text"),
        ("[touchpoints.x]\nlabel = {a = 1}", "touchpoints.x", "'label' must be text"),
        ("[touchpoints]\nx = 1", "touchpoints.x", "must be a table"),
        ("[scales]\nnps = 10", "scales.nps", "numeric 'min' and 'max'"),
        ("[scales]\nnps = {min = true, max = 10}", "scales.nps", "numeric 'min' and 'max'"),
        ('[scales]\nnps = {min = "0", max = 10}', "scales.nps", "numeric 'min' and 'max'"),
        ("[scales]\nnps = {min = 0}", "scales.nps", "numeric 'min' and 'max'"),
        (
            '[scales]\nces = {min = 1, max = 7, higher_is_easier = "no"}',
            "scales.ces",
            "true or false",
        ),
        ("[warehouse]\nurl = 5", "warehouse", "'url' must be text"),
        ("[churn]\ninactive_days = 9223372036854775807", "churn", "more than 100 years"),
        ("[churn]\ninactive_days = 36526", "churn", "more than 100 years"),
        ("[scales]\nnps = {min = 0, max = inf}", "scales.nps", "numeric 'min' and 'max'"),
        ("[scales]\nnps = {min = nan, max = 10}", "scales.nps", "numeric 'min' and 'max'"),
        ("[bad_experience]\nnps_at_most = nan", "bad_experience", "outside the nps scale"),
        ("[scales]\nnps = {min = 1, max = 5}", "bad_experience", "default 'nps_at_most = 6'"),
        ("[warehouse]\nurl = [1]", "warehouse", "'url' must be text"),
    ],
)
def test_wrong_types_are_refused_with_the_key_named(tmp_path, text, key, reason):
    path = tmp_path / "cxray.toml"
    if text.startswith("journey ="):
        path.write_text(text + "\n")
    elif text.startswith("["):
        path.write_text(BASE + text + "\n")
    else:  # a top-level key must come before the first table
        path.write_text(text + "\n" + BASE)
    with pytest.raises(JourneyError) as caught:
        journey.load(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: [{key}] "), message
    assert reason in message


@pytest.mark.parametrize(
    ("extra", "name"),
    [("name = 5", "'name' must be text"), ("template = false", "'template' must be text")],
)
def test_journey_name_and_template_are_text(tmp_path, extra, name):
    path = tmp_path / "cxray.toml"
    path.write_text(BASE + extra + "\n")
    with pytest.raises(JourneyError, match=rf"\[journey\] {name}"):
        journey.load(path)


def test_a_file_that_is_not_utf8_is_refused_with_the_line(tmp_path):
    path = tmp_path / "cxray.toml"
    path.write_bytes(BASE.encode() + b'[touchpoints.caf\xe9]\nphase = "a"\n')
    with pytest.raises(JourneyError, match=r"line 3: not UTF-8"):
        journey.load(path)


def test_a_folder_or_unreadable_file_is_refused(tmp_path):
    with pytest.raises(JourneyError, match="is a folder"):
        journey.load(tmp_path)
    path = tmp_path / "cxray.toml"
    path.write_text(BASE)
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):  # running as root: permissions do not apply
            pytest.skip("file permissions are not enforced for this user")
        with pytest.raises(JourneyError, match="cannot be read"):
            journey.load(path)
    finally:
        path.chmod(0o644)


def test_valid_flags_and_texts_are_still_read(tmp_path):
    path = tmp_path / "cxray.toml"
    path.write_text(
        BASE
        + '[touchpoints.x]\nphase = "a"\nbad_experience = false\nmoment_of_truth = true\n'
        + 'label = "X"\n[churn]\ninactive_days = 30\n'
        + "[scales]\nces = {min = 1, max = 7, higher_is_easier = false}\n"
    )
    j = journey.load(path)
    assert j.touchpoints["x"].moment_of_truth and not j.touchpoints["x"].bad_experience
    assert j.churn.inactive_days == 30 and j.scale("ces").higher_is_easier is False


def test_a_changed_scale_with_its_own_threshold_is_read(tmp_path):
    path = tmp_path / "cxray.toml"
    path.write_text(
        BASE + "[bad_experience]\nnps_at_most = 2\n[scales]\nnps = {min = 1, max = 5}\n"
    )
    assert journey.load(path).bad_experience.threshold("nps") == 2
    path.write_text(
        BASE + "[bad_experience]\nnps_at_most = false\n[scales]\nnps = {min = 1, max = 5}\n"
    )
    assert journey.load(path).bad_experience.threshold("nps") is None
    path.write_text(BASE + "[churn]\ninactive_days = 36525\n")
    assert journey.load(path).churn.inactive_days == 36_525


def test_a_utf8_file_with_a_bom_is_read_and_utf16_is_refused(tmp_path):
    path = tmp_path / "cxray.toml"
    path.write_bytes(b"\xef\xbb\xbf" + BASE.encode())
    assert journey.load(path).phases == ("a", "loyalty")
    journey.add_touchpoints(path, ["new"])
    assert journey.load(path).touchpoints["new"].phase == "unassigned"
    path.write_bytes(BASE.encode("utf-16"))
    with pytest.raises(JourneyError, match="saved as UTF-16; save it as UTF-8"):
        journey.load(path)


def test_the_acting_layers_tables_are_kept_as_written():
    data = {
        "journey": {"phases": ["a"]},
        "surveys": {"after_a": {"touchpoint": "x", "metric": "nps"}},
        "mail": {"host": "127.0.0.1"},
    }
    loaded = journey.from_dict(data)
    assert loaded.settings == {
        "mail": {"host": "127.0.0.1"},
        "surveys": {"after_a": {"touchpoint": "x", "metric": "nps"}},
    }
    assert journey.from_dict({"journey": {"phases": ["a"]}}).settings == {}
    with pytest.raises(JourneyError, match=r"\[surveys\] must be a table"):
        journey.from_dict({"journey": {"phases": ["a"]}, "surveys": 3})
