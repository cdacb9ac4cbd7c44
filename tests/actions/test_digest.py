"""The weekly digest: its week, its settings, what it says on a demo company and on planted
data, and its mail queued once per recipient and arriving at a real SMTP server."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

import cxray
from cxray.actions import digest_mail, jobs, outbox, sender
from cxray.actions.digest import Digest, DigestError, Week, digest, latest_week
from cxray.actions.digest_settings import (
    KEYS,
    WEEKDAYS,
    DigestSettings,
    DigestSettingsError,
    parse_settings,
    read_settings,
)
from cxray.actions.mailer import MailSettings
from cxray.demo import generate_demo
from tests.smtp_server import smtp_server  # noqa: F401  (the fixture)

OWNERS = {"logistics", "service", "sales"}
DIGEST_TOML = """
[digest]
weekday = "monday"
hour = 8
everyone = ["cx@shop.example", "boss@shop.example"]
recipients = { logistics = ["log@shop.example"] }

[digest.teams.service]
recipients = ["desk@shop.example"]
lang = "nl"
"""


# -- the week ---------------------------------------------------------------------------------
def test_a_week_runs_monday_to_monday_utc():
    week = Week.parse("2026-W48")
    assert week.start == dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
    assert week.end == dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
    assert week.previous().label == "2026-W47"
    assert Week.parse("2026-11-29") == week and Week.parse("2026w48") == week
    assert Week.parse("2027-W01").previous() == Week(2026, 53)  # 2026 has 53 weeks


@pytest.mark.parametrize("text", ["2025-W53", "last week", "2026-W0", "2026-13-01"])
def test_a_week_that_is_no_week_is_refused_in_both_languages(text):
    with pytest.raises(DigestError) as caught:
        Week.parse(text)
    message = caught.value.args[0]
    assert "2026-W48" in message.en and "is geen week" in message.nl


@hsettings(max_examples=200, deadline=None)
@given(st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2100, 1, 1)))
def test_every_moment_falls_in_exactly_one_week(moment):
    moment = moment.replace(tzinfo=dt.UTC)
    week = Week.of(moment)
    assert week.start <= moment < week.end
    assert Week.parse(week.label) == week
    assert week.previous().end == week.start


# -- the settings -----------------------------------------------------------------------------
def test_settings_have_defaults_and_read_both_forms_of_recipients():
    assert parse_settings({}) == DigestSettings()
    import tomllib

    raw = tomllib.loads(DIGEST_TOML)["digest"]
    found = parse_settings(raw, OWNERS)
    assert found.weekday == 0 and found.hour == 8
    assert found.teams == {"logistics": ("log@shop.example",), "service": ("desk@shop.example",)}
    assert found.lang_of("service") == "nl" and found.lang_of("logistics") == "en"
    assert [team for team, _ in found.audiences()] == [None, "logistics", "service"]
    assert parse_settings({"weekday": "woensdag", "hour": 0}).weekday == 2


@pytest.mark.parametrize(
    ("raw", "en", "nl"),
    [
        ({"weekdy": "monday"}, "[digest] unknown key 'weekdy'", "onbekende sleutel 'weekdy'"),
        ({"weekday": "someday"}, "'weekday' must be a day", "'weekday' moet een dag"),
        ({"hour": 24}, "'hour' must be a whole hour", "'hour' moet een heel uur"),
        ({"hour": True}, "'hour' must be a whole hour", "'hour' moet een heel uur"),
        ({"lang": "de"}, "'lang' must be", "'lang' moet"),
        ({"everyone": ["not-an-address"]}, "'everyone': 'not-an-address' is not", "is geen e-mailadres"),
        ({"everyone": 3}, "'everyone' must be a list", "'everyone' moet een lijst"),
        ({"recipients": {"finance": ["f@shop.example"]}}, "'finance' is not a team", "'finance' is geen team"),
        ({"recipients": ["a@shop.example"]}, "'recipients' must map teams", "'recipients' moet teams"),
        ({"teams": {"service": {"recipient": []}}}, "[digest.teams.service] unknown key 'recipient'",
         "onbekende sleutel 'recipient'"),
    ],
)  # fmt: skip
def test_wrong_settings_are_refused_with_the_key_named(raw, en, nl):
    with pytest.raises(DigestSettingsError) as caught:
        parse_settings(raw, OWNERS)
    message = caught.value.args[0]
    assert en in message.en and nl in message.nl
    assert message.en.startswith("cxray.toml: [digest")


addresses = st.lists(
    st.from_regex(r"[a-z]{1,8}@[a-z]{1,8}\.(nl|com)", fullmatch=True), max_size=3, unique=True
)


@hsettings(max_examples=100, deadline=None)
@given(
    weekday=st.sampled_from(WEEKDAYS),
    hour=st.integers(0, 23),
    everyone=addresses,
    teams=st.dictionaries(st.sampled_from(sorted(OWNERS)), addresses, max_size=3),
    extra=st.one_of(st.none(), st.text(min_size=1, max_size=10)),
)
def test_settings_read_back_what_was_written_and_refuse_any_other_key(
    weekday, hour, everyone, teams, extra
):
    raw = {"weekday": weekday, "hour": hour, "everyone": everyone, "recipients": teams}
    found = parse_settings(raw, OWNERS)
    assert WEEKDAYS[found.weekday] == weekday and found.hour == hour
    assert found.everyone == tuple(everyone)
    assert found.teams == {team: tuple(listed) for team, listed in teams.items()}
    if extra is not None and extra not in KEYS:
        with pytest.raises(DigestSettingsError) as caught:
            parse_settings({**raw, extra: 1}, OWNERS)
        assert repr(extra) in caught.value.args[0].en and repr(extra) in caught.value.args[0].nl


def test_the_digest_is_due_from_the_configured_weekday_and_hour():
    wednesday_nine = DigestSettings(weekday=2, hour=9)
    now = dt.datetime(2026, 12, 3, 12, tzinfo=dt.UTC)  # a Thursday
    assert wednesday_nine.due_at(now) == dt.datetime(2026, 12, 2, 9, tzinfo=dt.UTC)
    assert DigestSettings().due_at(now) == dt.datetime(2026, 11, 30, 8, tzinfo=dt.UTC)


# -- what it says, on the demo company --------------------------------------------------------
@pytest.fixture(scope="module")
def demo_source(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("digest-demo") / "demo"
    generate_demo(folder, customers=400, seed=3)
    with (folder / "cxray.toml").open("a", encoding="utf-8") as journey:
        journey.write(DIGEST_TOML)
    return folder


@pytest.fixture
def demo(demo_source, tmp_path):
    target = tmp_path / "demo"
    shutil.copytree(demo_source, target)
    with cxray.open(target) as ws:
        yield ws


@pytest.fixture(scope="module")
def company(demo_source) -> tuple[Digest, Digest, Week]:
    with cxray.open(demo_source, read_only=True) as ws:
        week = latest_week(ws)
        whole = digest(ws, week=week, now=week.end)
        team = digest(ws, team="logistics", week=week, now=week.end)
    return whole, team, week


def test_the_week_is_the_last_complete_one_with_data(demo_source, company):
    _, _, week = company
    # the demo's data ends on 2026-06-30: its last complete week ends on Monday 2026-06-29
    assert week == Week.parse("2026-W26")


def test_scores_have_intervals_n_and_the_week_before(company):
    whole, _, _ = company
    assert {row["metric"] for row in whole.scores} >= {"nps"}
    for row in whole.scores:
        if row["n"]:
            assert row["low"] <= row["score"] <= row["high"]
            assert row["too_few"] == (min(row["n"], row["n_ref"] or row["n"]) < whole.min_n)
        if row["n"] and row["n_ref"]:
            assert row["diff_low"] <= row["difference"] <= row["diff_high"]
            assert row["difference"] == pytest.approx(row["score"] - row["score_ref"])


def test_new_detractors_are_counted_from_the_weeks_answers(demo_source, company):
    whole, _, week = company
    with cxray.open(demo_source, read_only=True) as ws:
        [(answers, low)] = ws.warehouse.query(
            "SELECT count(*), count(*) FILTER (WHERE score <= 6) FROM feedback "
            "WHERE metric = 'nps' AND score IS NOT NULL AND ts >= ? AND ts < ?",
            [week.start, week.end],
        )
    assert (whole.nps_answers, whole.detractors) == (answers, low)
    assert len(whole.comments) <= 3
    assert all(c["comment"] and c["score"] <= 6 for c in whole.comments)


def test_a_team_sees_only_its_own_touchpoints(demo_source, company):
    whole, team, week = company
    with cxray.open(demo_source, read_only=True) as ws:
        [(answers,)] = ws.warehouse.query(
            "SELECT count(*) FROM feedback f LEFT JOIN events e ON f.event_id = e.event_id "
            "WHERE f.metric = 'nps' AND f.score IS NOT NULL AND f.ts >= ? AND f.ts < ? "
            "AND coalesce(f.touchpoint, e.touchpoint) IN ('delivery', 'delivery_late')",
            [week.start, week.end],
        )
    assert team.nps_answers == answers
    assert team.touchpoints == ["delivery", "delivery_late"]  # what the journey says it owns
    assert team.nps_answers <= whole.nps_answers and team.detractors <= whole.detractors
    by_metric = {row["metric"]: row["n"] for row in whole.scores}
    for row in team.scores:
        assert row["n"] <= by_metric[row["metric"]]
    assert all(c["touchpoint"] in team.touchpoints for c in team.comments)
    assert "team logistics" in team.headline("en") and "team logistics" in team.headline("nl")


def test_every_sentence_is_said_in_english_and_dutch(company):
    for result in company[:2]:
        english, dutch = result.sentences("en"), result.sentences("nl")
        assert len(english) == len(dutch) >= 5
        assert all(e != d for e, d in zip(english, dutch, strict=True))
        assert any("95% interval" in s for s in english)
        assert any("95%-interval" in s for s in dutch)
        assert result.driver is not None or result.driver_reason is not None
        assert not result.failed, result.failed


def test_an_unknown_team_is_refused(demo_source):
    with cxray.open(demo_source, read_only=True) as ws, pytest.raises(DigestError) as caught:
        digest(ws, team="finance")
    assert "finance" in caught.value.args[0].en and "logistics" in caught.value.args[0].nl


# -- planted changes, small n -----------------------------------------------------------------
WEEK = Week.parse("2026-W10")


def _answers(week: Week, scores: list[int], prefix: str) -> list[dict]:
    return [
        {"response_id": f"{prefix}{i}", "customer_id": f"c{prefix}{i}", "metric": "nps",
         "score": float(score), "ts": week.start + dt.timedelta(hours=1 + i),
         "touchpoint": "delivery", "comment": "late again" if score <= 6 else None}
        for i, score in enumerate(scores)
    ]  # fmt: skip


def test_a_planted_drop_is_the_biggest_significant_change(make_workspace):
    before = _answers(WEEK.previous(), [10] * 50 + [8] * 10, "b")
    after = _answers(WEEK, [2] * 35 + [6] * 5 + [9] * 20, "a")  # 6 is a detractor too
    ws = make_workspace(feedback=before + after)
    result = digest(ws, week=WEEK, now=WEEK.end)
    assert result.change is not None and result.change["difference"] < 0
    assert result.detractors == 40 and result.nps_answers == 60
    assert "The biggest significant change: NPS" in result.change_sentence("en")
    assert "fell from +83 to -33" in result.change_sentence("en")
    assert "daalde van +83 naar -33" in result.change_sentence("nl")
    [row] = result.scores
    assert row["significant"] and "significant." in result.score_sentences("en")[0]


def test_nothing_significant_and_small_n_are_said_plainly(make_workspace):
    before = _answers(WEEK.previous(), [10, 9, 3, 8, 10], "b")
    after = _answers(WEEK, [9, 10, 4, 8], "a")
    ws = make_workspace(feedback=before + after)
    result = digest(ws, week=WEEK, now=WEEK.end)
    assert result.change is None and result.comparisons >= 1
    assert "Nothing changed significantly" in result.change_sentence("en")
    assert "Niets veranderde significant" in result.change_sentence("nl")
    [sentence] = result.score_sentences("en")
    assert "Too few answers to trust: 4 answers this week, 5 the week before" in sentence
    assert (
        "Te weinig antwoorden om op te vertrouwen: 4 antwoorden" in result.score_sentences("nl")[0]
    )
    assert result.driver is None and result.driver_reason  # no churn: why, in one sentence
    assert result.followups is None and "No follow-up" in result.followup_sentence("en")


def test_a_week_without_answers_says_so(make_workspace):
    ws = make_workspace(feedback=_answers(WEEK.previous(), [9], "b"))
    result = digest(ws, week=WEEK, now=WEEK.end)
    assert result.detractor_sentence("en") == "No NPS answers this week."
    assert "no answers this week (1 the week before)" in result.score_sentences("en")[0]
    assert "Too few answers" in result.change_sentence("en") or result.comparisons == 0


# -- the mail ---------------------------------------------------------------------------------
NOW = dt.datetime(2026, 7, 6, 9, tzinfo=dt.UTC)  # the Monday after the demo's last full week


def test_queuing_twice_queues_one_mail_per_recipient(demo):
    first = digest_mail.queue_digests(demo.warehouse, demo.journey, NOW)
    assert first.due and first.week == Week.parse("2026-W27")
    recipients = {"cx@shop.example", "boss@shop.example", "log@shop.example", "desk@shop.example"}
    assert {address for _, address in first.new} == recipients
    again = digest_mail.queue_digests(demo.warehouse, demo.journey, NOW + dt.timedelta(hours=1))
    assert again.new == [] and len(again.kept) == 4
    rows = demo.warehouse.query(
        "SELECT recipient, ref, subject FROM cxray_outbox WHERE kind = 'digest' ORDER BY ref"
    )
    assert len(rows) == 4
    refs = {ref for _, ref, _ in rows}
    assert "2026-W27:all:cx@shop.example" in refs and "2026-W27:logistics:log@shop.example" in refs
    subjects = dict((r, s) for r, _, s in rows)
    assert subjects["desk@shop.example"].startswith("Weekoverzicht 2026-W27, team service")
    assert subjects["log@shop.example"].startswith("Weekly digest 2026-W27, team logistics")


def test_the_job_waits_for_the_weekday_and_hour_and_runs_once(demo):
    before = dt.datetime(2026, 7, 6, 7, 59, tzinfo=dt.UTC)
    [early] = jobs.run_all(demo.warehouse, demo.journey, before, only={"digest"})
    assert early.ok and "not due yet" in early.result.en
    assert outbox.counts(demo.warehouse)["queued"] == 0
    [run] = jobs.run_all(demo.warehouse, demo.journey, NOW, only={"digest"})
    assert run.ok and "4 mails queued" in run.result.en and "klaargezet" in run.result.nl
    [rerun] = jobs.run_all(demo.warehouse, demo.journey, NOW, only={"digest"})
    assert "0 mails queued, 4 queued before" in rerun.result.en
    assert outbox.counts(demo.warehouse)["queued"] == 4


def test_a_dry_run_queues_nothing(demo):
    planned = digest_mail.queue_digests(demo.warehouse, demo.journey, NOW, dry_run=True)
    assert len(planned.new) == 4 and "would be queued" in planned.summary("en")
    assert outbox.counts(demo.warehouse)["queued"] == 0


def test_the_digest_arrives_at_a_real_smtp_server(demo, smtp_server):  # noqa: F811
    digest_mail.queue_digests(demo.warehouse, demo.journey, NOW, team="service")
    mail = MailSettings(host="127.0.0.1", port=smtp_server.port, from_address="cx@shop.example")
    report = sender.send_due(demo.warehouse, mail, NOW)
    assert report.sent == 1
    assert smtp_server.wait_for(1)
    [message] = smtp_server.messages
    assert message["To"] == "desk@shop.example"
    assert message["Subject"] == "Weekoverzicht 2026-W27, team service"
    text = message.get_body(("plain",)).get_content()
    assert "Weekoverzicht voor team service: week 27 van 2026" in text
    html = message.get_body(("html",)).get_content()
    assert '<html lang="nl">' in html and "<script" not in html
    assert sender.send_due(demo.warehouse, mail, NOW).due == 0  # never twice
    digest_mail.queue_digests(demo.warehouse, demo.journey, NOW, team="service")
    assert sender.send_due(demo.warehouse, mail, NOW).due == 0


def test_the_mail_escapes_what_customers_wrote(make_workspace):
    answers = _answers(WEEK, [1], "a")
    answers[0]["comment"] = "<script>alert(1)</script> & late"
    ws = make_workspace(feedback=answers)
    result = digest(ws, week=WEEK, now=WEEK.end)
    page = digest_mail.mail_html(result, "en")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "“<script>alert(1)</script> & late”" in digest_mail.mail_text(result, "en")


def test_read_settings_refuses_an_unknown_owner_of_the_journey(demo):
    demo.journey.settings["digest"] = {"recipients": {"nobody": ["n@shop.example"]}}
    with pytest.raises(DigestSettingsError) as caught:
        read_settings(demo.journey)
    assert "'nobody' is not a team" in caught.value.args[0].en


def test_follow_ups_open_and_overdue_are_counted(demo):
    from cxray.actions.followups import list_followups, open_followups

    week = Week.parse("2026-W26")
    opened = open_followups(demo.warehouse, demo.journey, week.end)
    later = week.end + dt.timedelta(days=5)  # past the 48 hours they are due in
    result = digest(demo, week=week, now=later)
    counts = list_followups(demo.warehouse, now=later).counts
    assert result.followups["open"] == counts["open"] + counts["in_progress"] > 0, opened
    assert result.followups["overdue"] == counts["overdue"] > 0
    assert "overdue" in result.followup_sentence("en") and "te laat" in result.followup_sentence(
        "nl"
    )
    team = digest(demo, team="logistics", week=week, now=later)
    assert team.followups["open"] <= result.followups["open"]


def test_the_trend_covers_six_weeks_ending_with_this_one(company):
    whole, _, week = company
    labels = {row["week"] for row in whole.trend}
    assert week.label in labels and len(labels) <= 6 and min(labels) >= "2026-W21"
    this_week = {r["metric"]: r for r in whole.trend if r["week"] == week.label}
    for row in whole.scores:
        if row["n"]:
            assert this_week[row["metric"]]["score"] == pytest.approx(row["score"])
    [nps] = [s for s in whole.trend_sentences("en") if s.startswith("NPS week by week")]
    assert "W26" in nps and "n = " in nps
    assert any(s.startswith("NPS per week (95%-intervallen)") for s in whole.trend_sentences("nl"))


def test_the_documented_example_is_valid_settings(demo_source):
    import re
    import tomllib

    doc = (Path(__file__).resolve().parents[2] / "docs" / "journey.md").read_text("utf-8")
    section = doc[doc.index("## The weekly digest") :]
    block = re.search(r"```toml\n(.*?)```", section, re.S).group(1)
    with cxray.open(demo_source, read_only=True) as ws:
        owners = {tp.owner for tp in ws.journey.touchpoints.values() if tp.owner}
    found = parse_settings(tomllib.loads(block)["digest"], owners)
    assert found.lang == "nl" and found.lang_of("billing") == "en"
    assert set(found.teams) == {"logistics", "service", "billing"}
