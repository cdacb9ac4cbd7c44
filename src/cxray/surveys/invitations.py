"""Making invitations and reminders, listing personal links, counting per survey.

``create_invitations`` stores the due invitations of a plan and queues one mail each through
the outbox, all in one transaction: a failure stores no invitation and queues no mail; the
unique keys of both tables make a rerun harmless. Links are re-created from the workspace's
survey key (:mod:`cxray.surveys.tokens`), so a reminder or the CSV export gives the same link.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from cxray.actions import outbox
from cxray.surveys import mails, store, tokens
from cxray.surveys.config import Survey, SurveySettings, read_surveys
from cxray.surveys.planning import Plan, _customer_value, plan_invitations
from cxray.warehouse.core import literal


@dataclass(frozen=True)
class Created:
    """What one run made: invitations stored (and mails queued), reminders queued."""

    invitations: list[str]
    reminders: list[str]
    plan: Plan | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "invitations": len(self.invitations),
            "reminders": len(self.reminders),
            "plan": self.plan.to_dict() if self.plan else None,
        }


def survey_for(settings: SurveySettings, invitation: store.Invitation) -> Survey:
    """The invitation's survey as defined now, or the metric's defaults when it was removed."""
    found = settings.survey(invitation.survey)
    if found is not None:
        return found
    from cxray.surveys.config import parse_surveys

    fallback = parse_surveys(
        {invitation.survey: {"every_months": 1, "metric": invitation.metric}},
        company=settings.company,
    )
    return fallback.surveys[0]


def create_invitations(
    warehouse: Any,
    journey: Any,
    key: bytes,
    now: dt.datetime | None = None,
    *,
    limit: int | None = None,
    plan: Plan | None = None,
    settings: SurveySettings | None = None,
) -> Created:
    """Store the invitations due at ``now`` (the ``limit`` oldest) and queue their mails."""
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    settings = settings or read_surveys(journey)
    store.ensure_tables(warehouse)
    outbox.ensure_table(warehouse)
    plan = plan or plan_invitations(warehouse, journey, now, settings)
    due = plan.due if limit is None else plan.due[: max(0, limit)]
    made: list[store.Invitation] = []
    queued: list[outbox.Mail] = []
    base = settings.link_base
    for item in due:
        survey = settings.survey(item.survey)
        if survey is None:  # pragma: no cover - the plan comes from these settings
            continue
        invitation = store.Invitation(
            invitation_id=tokens.new_invitation_id(),
            survey=survey.name,
            customer_id=item.customer_id,
            trigger_key=item.trigger_key,
            touchpoint=item.touchpoint,
            event_id=item.event_id,
            metric=survey.metric,
            language=item.language,
            created_at=now,
            expires_at=now + dt.timedelta(days=survey.expires_days),
        )
        made.append(invitation)
        queued.append(
            mails.survey_mail(
                survey=survey,
                recipient=item.email,
                token=tokens.make_token(key, invitation.invitation_id),
                base=base,
                lang=invitation.language,
                company=settings.company,
                expires_at=invitation.expires_at,
                invitation_id=invitation.invitation_id,
            )
        )
    stored: list[store.Invitation] = []
    with warehouse.transaction():
        for invitation, mail in zip(made, queued, strict=True):
            try:
                outbox.enqueue(warehouse, mail, now=now)  # checks the address before writing
            except outbox.OutboxError:
                continue  # an address the outbox cannot use: no invitation either
            stored.append(invitation)
        store.insert_invitations(warehouse, stored)
    return Created([inv.invitation_id for inv in stored], [], plan)


def due_reminders(
    warehouse: Any, settings: SurveySettings, now: dt.datetime
) -> list[tuple[str, str, str]]:
    """(invitation id, e-mail address, language) of open invitations due their one reminder:
    not answered, not expired, not reminded, the first mail sent, the customer not opted out."""
    if not store.has_tables(warehouse) or not _has_outbox(warehouse):
        return []
    cases = [
        f"(i.survey = {literal(s.name)} AND i.created_at + INTERVAL "
        f"'{int((s.reminder_days or 0) * 86400)} seconds' <= ?)"
        for s in settings.surveys
        if s.reminder_days
    ]
    if not cases:
        return []
    email = _customer_value(settings.email)
    rows = warehouse.query(
        f"SELECT i.invitation_id, trim({email}), i.language FROM {store.INVITATIONS} i "
        "JOIN customers c ON c.customer_id = i.customer_id "
        f"JOIN {outbox.OUTBOX_TABLE} o ON o.kind = ? AND o.ref = i.invitation_id "
        "WHERE i.answered_at IS NULL AND i.reminded_at IS NULL AND i.expires_at > ? "
        "AND o.state = 'sent' "
        f"AND i.customer_id NOT IN (SELECT customer_id FROM {store.OPTOUTS}) "
        f"AND ({' OR '.join(cases)}) ORDER BY i.created_at, i.invitation_id",
        [store.INVITATION_KIND, now, *([now] * len(cases))],
    )
    return [(row[0], row[1], row[2]) for row in rows if row[1]]


def _has_outbox(warehouse: Any) -> bool:
    return warehouse.has_table(outbox.OUTBOX_TABLE)


def create_reminders(
    warehouse: Any,
    journey: Any,
    key: bytes,
    now: dt.datetime | None = None,
    settings: SurveySettings | None = None,
) -> list[str]:
    """Queue the one reminder of every invitation due one; gives the invitation ids."""
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    settings = settings or read_surveys(journey)
    due = due_reminders(warehouse, settings, now)
    done = []
    with warehouse.transaction():
        for invitation_id, email, _ in due:
            invitation = store.get_invitation(warehouse, invitation_id)
            if invitation is None:  # pragma: no cover - read in the same run
                continue
            survey = survey_for(settings, invitation)
            try:
                mail = mails.survey_mail(
                    survey=survey,
                    recipient=email,
                    token=tokens.make_token(key, invitation_id),
                    base=settings.link_base,
                    lang=invitation.language,
                    company=settings.company,
                    expires_at=invitation.expires_at,
                    invitation_id=invitation_id,
                    reminder=True,
                )
                outbox.enqueue(warehouse, mail, now=now)
            except outbox.OutboxError:
                continue  # the address changed into something unusable: no reminder
            warehouse.sql(
                f"UPDATE {store.INVITATIONS} SET reminded_at = ? WHERE invitation_id = ?",
                [now, invitation_id],
            )
            done.append(invitation_id)
    return done


def open_links(
    warehouse: Any, journey: Any, key: bytes, now: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """Every open invitation (not answered, not expired, not opted out) with its links."""
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    settings = read_surveys(journey)
    if not store.has_tables(warehouse):
        return []
    email = _customer_value(settings.email)
    rows = warehouse.query(
        f"SELECT i.invitation_id, i.survey, i.customer_id, trim({email}), i.language, "
        "i.touchpoint, i.event_id, i.metric, i.created_at, i.expires_at "
        f"FROM {store.INVITATIONS} i LEFT JOIN customers c ON c.customer_id = i.customer_id "
        "WHERE i.answered_at IS NULL AND i.expires_at > ? "
        f"AND i.customer_id NOT IN (SELECT customer_id FROM {store.OPTOUTS}) "
        "ORDER BY i.created_at, i.invitation_id",
        [now],
    )
    base = settings.link_base
    links = []
    for inv_id, survey, customer, address, lang, tp, event, metric, created, expires in rows:
        token = tokens.make_token(key, inv_id)
        links.append(
            {
                "invitation_id": inv_id,
                "survey": survey,
                "customer_id": customer,
                "email": address,
                "language": lang,
                "touchpoint": tp,
                "event_id": event,
                "metric": metric,
                "created_at": created,
                "expires_at": expires,
                "link": mails.answer_link(base, token),
                "opt_out_link": mails.opt_out_link(base, token),
            }
        )
    return links


def survey_counts(warehouse: Any, now: dt.datetime | None = None) -> dict[str, dict[str, int]]:
    """Per survey: invitations, open, answered, expired, reminded, and their mails' states."""
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    if not store.has_tables(warehouse):
        return {}
    rows = warehouse.query(
        "SELECT survey, count(*), "
        "count(*) FILTER (WHERE answered_at IS NULL AND expires_at > ?), "
        "count(answered_at), "
        "count(*) FILTER (WHERE answered_at IS NULL AND expires_at <= ?), "
        f"count(reminded_at) FROM {store.INVITATIONS} GROUP BY survey ORDER BY survey",
        [now, now],
    )
    counts = {
        row[0]: dict(
            zip(
                ("invited", "open", "answered", "expired", "reminded"),
                map(int, row[1:]),
                strict=True,
            )
        )
        for row in rows
    }
    if _has_outbox(warehouse):
        for survey, state, count in warehouse.query(
            f"SELECT i.survey, o.state, count(*) FROM {store.INVITATIONS} i "
            f"JOIN {outbox.OUTBOX_TABLE} o ON o.kind = ? AND o.ref = i.invitation_id "
            "GROUP BY i.survey, o.state",
            [store.INVITATION_KIND],
        ):
            counts.setdefault(survey, {})[f"mail_{state}"] = int(count)
    return counts


def opted_out_count(warehouse: Any) -> int:
    if not store.has_tables(warehouse):
        return 0
    return int(warehouse.query(f"SELECT count(*) FROM {store.OPTOUTS}")[0][0])


__all__ = [
    "Created",
    "create_invitations",
    "create_reminders",
    "due_reminders",
    "open_links",
    "opted_out_count",
    "survey_counts",
    "survey_for",
]
