from __future__ import annotations

import datetime as dt

import pytest

import cxray
from cxray.actions import bounces, outbox
from cxray.actions.outbox import Mail, OutboxError
from cxray.i18n import text_of


@pytest.fixture
def warehouse(tmp_path):
    ws = cxray.init(tmp_path / "ws")
    yield ws.warehouse
    ws.close()


def test_a_mail_is_queued_once_per_kind_and_ref(warehouse):
    mail = Mail("ann@example.com", "How was it?", "Tell us", kind="invitation", ref="inv-1")
    first = outbox.enqueue(warehouse, mail)
    assert outbox.enqueue(warehouse, mail) == first
    other = outbox.enqueue(
        warehouse, Mail("ann@example.com", "Hi", "x", kind="digest", ref="inv-1")
    )
    assert other != first
    assert outbox.counts(warehouse)["queued"] == 2


def test_a_failed_transaction_leaves_no_mail(warehouse):
    outbox.ensure_table(warehouse)
    with pytest.raises(RuntimeError), warehouse.transaction():
        outbox.enqueue(warehouse, Mail("ann@example.com", "Hi", "x", ref="a"))
        raise RuntimeError("what the mail belonged to failed")
    assert outbox.counts(warehouse)["queued"] == 0


@pytest.mark.parametrize(
    ("recipient", "subject"),
    [("", "Hi"), ("no-at-sign", "Hi"), ("a@b.c\r\nBcc: x@y.z", "Hi"), ("a@b.c", "two\nlines")],
)
def test_bad_addresses_and_subjects_are_refused(warehouse, recipient, subject):
    with pytest.raises(OutboxError):
        outbox.enqueue(warehouse, Mail(recipient, subject, "text"))


NOW = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)


def _queued(warehouse, recipient="ann@example.com", **options) -> str:
    return outbox.enqueue(warehouse, Mail(recipient, "Hi", "text", **options), now=NOW)


def test_due_mails_come_oldest_first_and_only_when_their_time_has_come(warehouse):
    later = _queued(warehouse, "b@example.com", not_before=NOW + dt.timedelta(hours=1))
    first = _queued(warehouse, "a@example.com")
    assert [m.message_id for m in outbox.due(warehouse, NOW)] == [first]
    soon = NOW + dt.timedelta(hours=2)
    assert [m.message_id for m in outbox.due(warehouse, soon)] == [first, later]
    assert outbox.due(warehouse, soon, limit=1)[0].message_id == first


def test_a_claim_counts_an_attempt_and_takes_a_mail_once(warehouse):
    message_id = _queued(warehouse)
    assert outbox.claim(warehouse, message_id, NOW) == 1
    assert outbox.claim(warehouse, message_id, NOW) is None  # already being sent
    outbox.mark_retry(warehouse, message_id, NOW + dt.timedelta(minutes=1), "451 later")
    assert outbox.get(warehouse, message_id).state == "queued"
    assert outbox.claim(warehouse, message_id, NOW) == 2
    outbox.mark_sent(warehouse, message_id, NOW)
    mail = outbox.get(warehouse, message_id)
    assert (mail.state, mail.attempts, mail.sent_at) == ("sent", 2, NOW)


def test_a_stopped_sender_is_settled_by_whether_it_handed_the_mail_over(warehouse):
    never = _queued(warehouse, "a@example.com")
    handed = _queued(warehouse, "b@example.com")
    for message_id in (never, handed):
        outbox.claim(warehouse, message_id, NOW)
    outbox.mark_handed_over(warehouse, handed, NOW)
    assert outbox.counts(warehouse)["sending"] == 2
    assert outbox.recover(warehouse, NOW) == (1, 1)
    assert outbox.get(warehouse, never).state == "queued"
    assert outbox.get(warehouse, handed).state == "sent"
    assert outbox.get(warehouse, handed).sent_at == NOW
    assert outbox.recover(warehouse, NOW) == (0, 0)
    said = outbox.error_text(outbox.get(warehouse, never).last_error)
    assert "queued again" in said and "opnieuw in de wachtrij" in said.nl
    said = outbox.error_text(outbox.get(warehouse, handed).last_error)
    assert "counted as sent" in said and "geteld als verstuurd" in said.nl
    assert outbox.error_text("451 4.3.0 busy") == "451 4.3.0 busy"  # the server's own words


def test_a_bounce_records_the_address_and_cancels_what_was_queued_to_it(warehouse):
    first = _queued(warehouse, "Gone@Example.com", ref="1")
    second = _queued(warehouse, "gone@example.com", ref="2")
    other = _queued(warehouse, "ann@example.com", ref="3")
    outbox.claim(warehouse, first, NOW)
    assert outbox.mark_bounced(warehouse, first, "Gone@Example.com", NOW, 550, "550 no") == 1
    assert outbox.get(warehouse, first).state == "bounced"
    assert outbox.get(warehouse, second).state == "cancelled"
    assert outbox.get(warehouse, other).state == "queued"
    assert outbox.is_bounced(warehouse, "gone@EXAMPLE.com")
    assert bounces.bounced_addresses(warehouse) == {"gone@example.com"}
    with pytest.raises(outbox.BouncedAddress) as caught:
        _queued(warehouse, "gone@example.com", ref="4")
    assert "bounced" in str(caught.value) and "onbestelbaar" in text_of(caught.value, "nl")
    assert bounces.forget(warehouse, "gone@example.com")
    _queued(warehouse, "gone@example.com", ref="5")


def test_is_bounced_needs_no_table(tmp_path):
    ws = cxray.init(tmp_path / "fresh")
    assert not outbox.is_bounced(ws.warehouse, "a@example.com")
    assert outbox.counts_of(ws.warehouse)["queued"] == 0
    ws.close()


def test_a_cancelled_mail_is_not_claimed(warehouse):
    message_id = _queued(warehouse)
    assert outbox.cancel(warehouse, message_id, "opted out")
    assert outbox.claim(warehouse, message_id, NOW) is None
    assert not outbox.cancel(warehouse, message_id, "again")


@pytest.mark.parametrize(
    "headers",
    [{"From": "x@y.z"}, {"Bad Name": "x"}, {"X-Tag": "a\r\nBcc: x@y.z"}, {"Message-ID": "<x>"}],
)
def test_headers_that_would_change_the_envelope_are_refused(warehouse, headers):
    with pytest.raises(OutboxError):
        outbox.enqueue(warehouse, Mail("ann@example.com", "Hi", "x", headers=headers))


def test_an_older_table_gets_the_new_columns(warehouse):
    warehouse.sql(
        "CREATE TABLE cxray_outbox (message_id VARCHAR PRIMARY KEY, kind VARCHAR NOT NULL, "
        "ref VARCHAR, recipient VARCHAR NOT NULL, subject VARCHAR NOT NULL, "
        "body_text VARCHAR NOT NULL, body_html VARCHAR, headers VARCHAR, state VARCHAR NOT NULL, "
        "created_at TIMESTAMPTZ NOT NULL, not_before TIMESTAMPTZ NOT NULL, "
        "attempts INTEGER NOT NULL DEFAULT 0, last_error VARCHAR, sent_at TIMESTAMPTZ, "
        "UNIQUE (kind, ref))"
    )
    message_id = _queued(warehouse)
    assert outbox.claim(warehouse, message_id, NOW) == 1
    outbox.mark_handed_over(warehouse, message_id, NOW)
