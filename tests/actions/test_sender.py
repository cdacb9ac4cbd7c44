"""The sender against a real SMTP server on 127.0.0.1 (aiosmtpd)."""

from __future__ import annotations

import datetime as dt

import pytest

import cxray
from cxray.actions import jobs, outbox, sender
from cxray.actions.mailer import MailSettings
from cxray.actions.outbox import Mail
from tests.smtp_server import free_port, smtp_server  # noqa: F401  (the fixture)

NOW = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def warehouse(tmp_path):
    ws = cxray.init(tmp_path / "ws")
    yield ws.warehouse
    ws.close()


@pytest.fixture
def settings(smtp_server) -> MailSettings:  # noqa: F811
    return MailSettings(
        host="127.0.0.1",
        port=smtp_server.port,
        from_address="service@shop.example",
        from_name="The Shop",
        max_attempts=3,
        timeout_seconds=5,
    )


def queue(warehouse, recipient="ann@example.com", **options) -> str:
    """Queue a mail a microsecond after the one before (due mails go oldest first), due at NOW."""
    queued = sum(outbox.counts(warehouse).values())
    mail = Mail(
        recipient,
        options.pop("subject", "How was your delivery?"),
        options.pop("text", "Dear Ann,\nhow was it?\n"),
        **options,
    )
    return outbox.enqueue(warehouse, mail, now=NOW - dt.timedelta(microseconds=1000 - queued))


def test_a_queued_mail_arrives_once_with_its_headers_and_both_parts(
    warehouse,
    settings,
    smtp_server,  # noqa: F811
):
    message_id = queue(
        warehouse,
        html="<p>Dear Ann, how was it?</p>",
        headers={"List-Unsubscribe": "<https://shop.example/optout/abc>"},
        kind="survey-invitation",
        ref="inv-1",
    )
    report = sender.send_due(warehouse, settings, NOW)
    assert (report.sent, report.retrying, report.failed, report.bounced) == (1, 0, 0, 0)
    assert sender.send_due(warehouse, settings, NOW).due == 0  # nothing twice
    assert smtp_server.count() == 1
    [received] = smtp_server.received
    assert received.mail_from == "service@shop.example"
    assert received.rcpt_tos == ["ann@example.com"]
    message = received.message
    assert message["Message-ID"] == f"<{message_id}@shop.example>"
    assert message["From"] == "The Shop <service@shop.example>"
    assert message["To"] == "ann@example.com"
    assert message["Subject"] == "How was your delivery?"
    assert message["List-Unsubscribe"] == "<https://shop.example/optout/abc>"
    assert message["Date"]
    plain = message.get_body(("plain",)).get_content()
    assert plain.replace("\r\n", "\n") == "Dear Ann,\nhow was it?\n"
    assert "Dear Ann, how was it?" in message.get_body(("html",)).get_content()
    stored = outbox.get(warehouse, message_id)
    assert (stored.state, stored.attempts, stored.sent_at) == ("sent", 1, NOW)


def test_a_temporary_failure_is_retried_later_and_arrives_once(
    warehouse,
    settings,
    smtp_server,  # noqa: F811
):
    smtp_server.fail_temporarily("ann@example.com", times=1)
    message_id = queue(warehouse)
    report = sender.send_due(warehouse, settings, NOW)
    assert report.retrying == 1 and smtp_server.count() == 0
    stored = outbox.get(warehouse, message_id)
    assert stored.state == "queued" and stored.attempts == 1
    assert stored.not_before == NOW + dt.timedelta(minutes=1)
    assert "451" in stored.last_error
    assert sender.send_due(warehouse, settings, NOW + dt.timedelta(seconds=30)).due == 0
    report = sender.send_due(warehouse, settings, NOW + dt.timedelta(minutes=2))
    assert report.sent == 1
    assert smtp_server.message_ids() == {f"<{message_id}@shop.example>": 1}
    assert outbox.get(warehouse, message_id).attempts == 2


def test_a_refused_address_bounces_and_is_recorded(warehouse, settings, smtp_server):  # noqa: F811
    smtp_server.refuse("gone@example.com")
    first = queue(warehouse, "gone@example.com", ref="1")
    second = queue(warehouse, "gone@example.com", ref="2")
    fine = queue(warehouse, "ann@example.com", ref="3")
    report = sender.send_due(warehouse, settings, NOW)
    assert (report.bounced, report.cancelled, report.sent) == (1, 1, 1)
    assert outbox.get(warehouse, first).state == "bounced"
    assert "550" in outbox.get(warehouse, first).last_error
    assert outbox.get(warehouse, second).state == "cancelled"
    assert outbox.get(warehouse, fine).state == "sent"
    assert outbox.is_bounced(warehouse, "gone@example.com")
    with pytest.raises(outbox.BouncedAddress):
        queue(warehouse, "gone@example.com", ref="4")
    assert smtp_server.count() == 1


def test_after_the_last_attempt_a_mail_has_failed(warehouse, settings, smtp_server):  # noqa: F811
    smtp_server.fail_temporarily("ann@example.com", times=None)
    message_id = queue(warehouse)
    when = NOW
    states = []
    for _ in range(settings.max_attempts):
        sender.send_due(warehouse, settings, when)
        states.append(outbox.get(warehouse, message_id).state)
        when += dt.timedelta(hours=7)  # past any backoff
    assert states == ["queued", "queued", "failed"]
    stored = outbox.get(warehouse, message_id)
    assert stored.attempts == settings.max_attempts
    assert stored.last_error.startswith("451")
    assert sender.send_due(warehouse, settings, when).due == 0
    assert smtp_server.count() == 0
    assert outbox.requeue_failed(warehouse, when) == 1
    assert outbox.get(warehouse, message_id).attempts == 0


def test_a_mail_refused_for_good_after_its_data_fails_at_once(
    warehouse,
    settings,
    smtp_server,  # noqa: F811
):
    smtp_server.fail_temporarily("ann@example.com", times=None, code=554, at="data")
    message_id = queue(warehouse)
    assert sender.send_due(warehouse, settings, NOW).failed == 1
    assert outbox.get(warehouse, message_id).attempts == 1
    assert not outbox.is_bounced(warehouse, "ann@example.com")  # the mail, not the address


def test_the_backoff_grows_and_is_capped():
    minutes = [sender.backoff(n).total_seconds() / 60 for n in range(1, 7)]
    assert minutes == [1, 5, 25, 125, 360, 360]


def test_a_server_out_of_reach_costs_no_attempt(warehouse):
    message_id = queue(warehouse)
    settings = MailSettings(host="127.0.0.1", port=free_port(), from_address="s@shop.example")
    report = sender.send_due(warehouse, settings, NOW)
    assert report.stopped is not None and "connection refused" in report.stopped
    assert "kan de mailserver" in report.stopped.nl
    stored = outbox.get(warehouse, message_id)
    assert (stored.state, stored.attempts) == ("queued", 0)


def test_a_dry_run_lists_and_changes_nothing(warehouse, settings, smtp_server):  # noqa: F811
    message_id = queue(warehouse)
    outbox.claim(warehouse, queue(warehouse, "bob@example.com"), NOW)  # a stopped sender's
    report = sender.send_due(warehouse, settings, NOW, dry_run=True)
    assert report.due == 1 and [m["message_id"] for m in report.would_send] == [message_id]
    assert "dry run" in report.summary("en") and "proefrun" in report.summary("nl")
    assert outbox.counts(warehouse)["queued"] == 1 and outbox.counts(warehouse)["sending"] == 1
    assert smtp_server.count() == 0


def test_a_mail_left_sending_by_a_stopped_sender_goes_out_once(
    warehouse,
    settings,
    smtp_server,  # noqa: F811
):
    never = queue(warehouse, "a@example.com")
    handed = queue(warehouse, "b@example.com")
    outbox.claim(warehouse, never, NOW)  # stopped before the server had the end of the data
    outbox.claim(warehouse, handed, NOW)
    outbox.mark_handed_over(warehouse, handed, NOW)  # stopped before the server's answer
    report = sender.send_due(warehouse, settings, NOW)
    assert (report.requeued, report.assumed_sent, report.sent) == (1, 1, 1)
    assert [m["To"] for m in smtp_server.messages] == ["a@example.com"]
    assert outbox.counts(warehouse)["sent"] == 2


def test_the_limit_and_the_rate_are_kept(warehouse, settings, smtp_server):  # noqa: F811
    for n in range(4):
        queue(warehouse, f"p{n}@example.com")
    waits: list[float] = []
    paced = MailSettings(**{**settings.__dict__, "rate_per_minute": 600})
    report = sender.send_due(warehouse, paced, NOW, limit=3, sleep=waits.append)
    assert report.sent == 3 and smtp_server.count() == 3
    assert len(waits) == 2 and all(0 < wait <= 0.1 for wait in waits)
    progress: list[tuple[int, int]] = []
    sender.send_due(warehouse, settings, NOW, progress=lambda *step: progress.append(step))
    assert progress == [(1, 1)]


def test_the_send_job_sends_with_the_journey_settings(tmp_path, smtp_server):  # noqa: F811
    ws = cxray.init(tmp_path / "ws")
    try:
        queue(ws.warehouse)
        journey = ws.journey
        runs = jobs.run_all(ws.warehouse, journey, NOW, only={"send-mail"})
        assert runs[0].ok and "not set up" in runs[0].result
        mail = {"host": "127.0.0.1", "port": smtp_server.port, "from_address": "s@shop.example"}
        configured = type(journey)(**{**journey.__dict__, "settings": {"mail": mail}})
        [run] = jobs.run_all(ws.warehouse, configured, NOW, only={"send-mail"})
        assert run.ok and run.result.startswith("sent 1"), run
        assert smtp_server.wait_for(1)
        broken = type(journey)(**{**journey.__dict__, "settings": {"mail": {"hots": "x"}}})
        [run] = jobs.run_all(ws.warehouse, broken, NOW, only={"send-mail"})
        assert not run.ok and "'hots'" in run.error
    finally:
        ws.close()


def test_a_server_in_trouble_stops_the_run_without_burning_every_attempt(
    warehouse,
    settings,
    smtp_server,  # noqa: F811
):
    smtp_server.fail_temporarily("a@example.com", times=1, code=421, text="4.3.2 closing")
    first = queue(warehouse, "a@example.com")
    second = queue(warehouse, "b@example.com")
    report = sender.send_due(warehouse, settings, NOW)
    assert report.retrying == 1 and report.sent == 0
    assert report.stopped is not None and "421" in report.stopped
    assert outbox.get(warehouse, first).attempts == 1
    assert (outbox.get(warehouse, second).state, outbox.get(warehouse, second).attempts) == (
        "queued",
        0,
    )
    report = sender.send_due(warehouse, settings, NOW + dt.timedelta(minutes=2))
    assert report.sent == 2 and smtp_server.count() == 2
