from __future__ import annotations

import pytest

import cxray
from cxray.actions import outbox
from cxray.actions.outbox import Mail, OutboxError


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
