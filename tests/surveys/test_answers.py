"""Storing an answer: one feedback row, once; refused when expired, reused or altered."""

from __future__ import annotations

import datetime as dt

import pytest

import cxray
from cxray.surveys import answers, create_invitations, read_surveys, store, tokens
from cxray.surveys.answers import AnswerError, Refused
from tests.surveys.helpers import NOW, build, days_ago

KEY = bytes(range(32))


@pytest.fixture
def invited(tmp_path):
    ws = build(
        tmp_path / "ws",
        [{"customer_id": "ann", "email": "ann@example.com"}],
        [{"customer_id": "ann", "touchpoint": "delivery", "ts": days_ago(3), "event_id": "d1"}],
    )
    made = create_invitations(ws.warehouse, ws.journey, KEY, NOW)
    token = tokens.make_token(KEY, made.invitations[0])
    yield ws, token
    ws.close()


def test_an_answer_is_one_feedback_row_that_the_analyses_count(invited):
    ws, token = invited
    survey = read_surveys(ws.journey).surveys[0]
    invitation = answers.open_invitation(ws.warehouse, KEY, token, NOW)
    given = answers.check_answer(survey, "3", "  late \x00again ", {"speed": "no"}, "en")
    response = answers.record_answer(ws.warehouse, invitation, given, NOW)
    rows = ws.warehouse.query(
        "SELECT response_id, customer_id, metric, score, comment, touchpoint, event_id, "
        "survey_id, language, properties FROM feedback"
    )
    assert rows == [
        (response, "ann", "nps", 3.0, "late again", "delivery", "d1", "after_delivery", "en",
         '{"speed": "no"}')
    ]  # fmt: skip
    assert store.get_invitation(ws.warehouse, response).answered_at == NOW
    path = ws.path
    ws.close()
    with cxray.open(path, read_only=True) as fresh:
        nps = fresh.metrics("nps", by="touchpoint").to_pandas()
    row = nps[nps["group"] == "delivery"].iloc[0]
    assert row["n"] == 1 and row["score"] == -100


def test_a_second_answer_is_refused(invited):
    ws, token = invited
    survey = read_surveys(ws.journey).surveys[0]
    invitation = answers.open_invitation(ws.warehouse, KEY, token, NOW)
    given = answers.check_answer(survey, 9, None, {}, "en")
    answers.record_answer(ws.warehouse, invitation, given, NOW)
    with pytest.raises(Refused) as caught:
        answers.record_answer(ws.warehouse, invitation, given, NOW)  # a stale page posted again
    assert caught.value.reason == "answered" and caught.value.status == 409
    with pytest.raises(Refused, match="already"):
        answers.open_invitation(ws.warehouse, KEY, token, NOW)
    assert ws.warehouse.query("SELECT count(*) FROM feedback") == [(1,)]


def test_expired_altered_and_unknown_links_are_refused(invited):
    ws, token = invited
    later = NOW + dt.timedelta(days=30)
    with pytest.raises(Refused) as caught:
        answers.open_invitation(ws.warehouse, KEY, token, later)
    assert (caught.value.reason, caught.value.status) == ("expired", 410)
    with pytest.raises(Refused) as caught:
        answers.open_invitation(
            ws.warehouse, KEY, token[:-1] + ("A" if token[-1] != "A" else "B"), NOW
        )
    assert (caught.value.reason, caught.value.status) == ("invalid", 404)
    with pytest.raises(Refused) as caught:
        answers.open_invitation(ws.warehouse, KEY, tokens.make_token(KEY, "f" * 32), NOW)
    assert caught.value.reason == "unknown"
    # the opt-out link keeps working after the survey closed
    invitation = answers.open_invitation(ws.warehouse, KEY, token, later, for_answer=False)
    assert answers.opt_out(ws.warehouse, invitation, later)
    # an answer posted just after expiry is refused too
    survey = read_surveys(ws.journey).surveys[0]
    with pytest.raises(Refused):
        answers.record_answer(
            ws.warehouse, invitation, answers.check_answer(survey, 5, None, {}, "en"), later
        )
    assert ws.warehouse.query("SELECT count(*) FROM feedback") == [(0,)]


@pytest.mark.parametrize(
    ("score", "extra"),
    [(None, {}), ("", {}), ("11", {}), ("-1", {}), ("7.5", {}), ("ten", {}),
     ("7", {"speed": "maybe"}), ("7", {"speed": "x" * 3000})],
)  # fmt: skip
def test_bad_answers_say_what_to_change(invited, score, extra):
    ws, _ = invited
    survey = read_surveys(ws.journey).surveys[0]
    with pytest.raises(AnswerError) as caught:
        answers.check_answer(survey, score, None, extra, "nl")
    assert caught.value.args[0].nl != caught.value.args[0].en


def test_two_submits_at_once_store_one_row(invited):
    import threading

    import duckdb

    from cxray.warehouse import Warehouse

    ws, token = invited
    survey = read_surveys(ws.journey).surveys[0]
    invitation = answers.open_invitation(ws.warehouse, KEY, token, NOW)
    given = answers.check_answer(survey, 8, None, {}, "en")
    outcomes: list[str] = []
    start = threading.Barrier(4)

    def submit() -> None:
        own = Warehouse(None, "test", connection=ws.warehouse.con.cursor())
        start.wait()
        try:
            answers.record_answer(own, invitation, given, NOW)
            outcomes.append("stored")
        except (Refused, duckdb.TransactionException):
            outcomes.append("refused")

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["refused", "refused", "refused", "stored"]
    assert ws.warehouse.query("SELECT count(*) FROM feedback") == [(1,)]
