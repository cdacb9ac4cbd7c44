"""Close the loop: every detractor answer (and any bad experience the company chooses) becomes a
follow-up for a person, due within a set time, worked until it has an outcome.

Tables (in the workspace's warehouse)::

    cxray_followups        one per answer that opened it (response_id UNIQUE)
    cxray_followup_notes   what the people working it wrote
    cxray_followup_log     every change: who, when, which field, from what to what

States::

    open ◄──► in_progress
      │           │
      └──► done ◄─┘          done needs an outcome; done ──► in_progress reopens it

A follow-up *held out* (``holdout_share`` of ``[followups]``, drawn by a keyed hash of the
response id) is recorded but not worked: nobody is assigned, it is never due, never escalated and
cannot be changed. Comparing those with the ones worked measures the effect without bias
(:mod:`cxray.actions.followup_effect`).

Opening (:func:`open_followups`) is one INSERT ... SELECT with an anti-join in the engine, so it
scans a million answers for new ones in about half a second and opens nothing twice.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from cxray.actions.followup_rules import FollowupRules, rules_of
from cxray.actions.followup_store import (
    COLUMNS,
    LOG,
    MAX_NOTE,
    MAX_ROOT_CAUSE,
    NOTES,
    OUTCOME_WORDS,
    OUTCOMES,
    STATE_WORDS,
    STATES,
    SYSTEM,
    TABLE,
    TRANSITIONS,
    Change,
    Followup,
    FollowupError,
    Note,
    Opened,
    answer_of,
    as_text,
    changes,
    ensure_tables,
    for_response,
    get,
    has_tables,
    log_change,
    notes,
    refuse,
    row_of,
    select_sql,
    utc_now,
)
from cxray.i18n import number
from cxray.results import Column, Result, Table
from cxray.warehouse import literal


# -- opening and escalating -------------------------------------------------------------------
def _qualifies(rules: FollowupRules, journey: Any) -> tuple[str, str] | None:
    """The SQL condition on feedback ``f`` that opens a follow-up, and the rule's name."""
    thresholds = rules.thresholds(journey)
    if not thresholds:
        return None
    parts, names = [], []
    for metric, limit in sorted(thresholds.items()):
        condition = f"(f.metric = {literal(metric)} AND f.score <= {literal(limit)})"
        parts.append(condition)
        name = "detractor" if metric == "nps" and rules.detractors else "bad_experience"
        names.append(f"WHEN {condition} THEN {literal(name)}")
    return "(" + " OR ".join(parts) + ")", "CASE " + " ".join(names) + " END"


def _assignee_sql(rules: FollowupRules, journey: Any) -> str:
    if rules.assign_to != "owner":
        return literal(rules.assign_to)
    owners = [
        f"WHEN {literal(name)} THEN {literal(tp.owner)}"
        for name, tp in sorted(journey.touchpoints.items())
        if tp.owner
    ]
    fallback = literal(rules.default_owner)
    return f"CASE f.touchpoint {' '.join(owners)} ELSE {fallback} END" if owners else fallback


def open_followups(
    warehouse: Any,
    journey: Any,
    now: dt.datetime | None = None,
    *,
    actor: str = SYSTEM,
    escalate: bool = True,
) -> Opened:
    """Open a follow-up for every qualifying answer that has none; then escalate overdue ones.

    Qualifying: a scored answer of a customer, at most ``within_days`` old at ``now`` (and not
    after it), past a threshold of the ``[followups]`` rules. Running it twice opens nothing new.
    """
    now = utc_now(now)
    rules = rules_of(journey)
    ensure_tables(warehouse)
    found = _qualifies(rules, journey)
    if not rules.enabled or found is None:
        escalated = escalate_overdue(warehouse, journey, now, actor=actor) if escalate else 0
        return Opened(0, 0, escalated)
    condition, rule_name = found
    since = now - dt.timedelta(days=rules.within_days)
    # the same draw as FollowupRules.is_held_out: the first 8 hex digits of an MD5 as a number
    draw = (
        f"CAST(('0x' || substr(md5({literal(rules.holdout_key + ':')} || f.response_id), 1, 8)) "
        "AS BIGINT)"
    )
    held = f"({draw} < {literal(float(rules.holdout_share * 2**32))})"
    due = literal(now + dt.timedelta(hours=rules.due_hours))
    statement = f"""
        INSERT INTO {TABLE} ({", ".join(COLUMNS)})
        SELECT 'fu-' || substr(md5('followup:' || f.response_id), 1, 16), f.response_id,
            f.customer_id, f.touchpoint, f.metric, f.score, f.ts, {literal(now)},
            CASE WHEN {held} THEN NULL ELSE {due} END,
            CASE WHEN {held} THEN NULL ELSE {_assignee_sql(rules, journey)} END,
            'open', {held}, NULL, NULL, NULL, NULL, {literal(now)}, {literal(actor)}, {rule_name}
        FROM feedback AS f
        WHERE f.score IS NOT NULL AND f.customer_id IS NOT NULL
            AND f.ts >= {literal(since)} AND f.ts <= {literal(now)} AND {condition}
            AND NOT EXISTS (SELECT 1 FROM {TABLE} AS x WHERE x.response_id = f.response_id)
    """
    count = f"SELECT count(*), count(*) FILTER (WHERE held_out) FROM {TABLE}"
    with warehouse.transaction():
        before = warehouse.query(count)[0]
        warehouse.sql(statement)
        after = warehouse.query(count)[0]
    escalated = escalate_overdue(warehouse, journey, now, actor=actor) if escalate else 0
    return Opened(int(after[0] - before[0]), int((after[1] or 0) - (before[1] or 0)), escalated)


def escalate_overdue(
    warehouse: Any, journey: Any, now: dt.datetime | None = None, *, actor: str = SYSTEM
) -> int:
    """Escalate follow-ups not done ``escalate_after_hours`` after they were due.

    Each is escalated once (``escalated_at``); with ``escalate_to`` it goes to that person. The
    number escalated is returned; every one is logged.
    """
    now = utc_now(now)
    rules = rules_of(journey)
    ensure_tables(warehouse)
    limit = now - dt.timedelta(hours=rules.escalate_after_hours)
    where = (
        f"status <> 'done' AND NOT held_out AND escalated_at IS NULL AND due_at IS NOT NULL "
        f"AND due_at <= {literal(limit)}"
    )
    with warehouse.transaction():
        rows = warehouse.query(f"SELECT followup_id, assignee FROM {TABLE} WHERE {where}")
        if not rows:
            return 0
        target = rules.escalate_to
        for followup_id, assignee in rows:
            log_change(warehouse, followup_id, now, actor, "escalated_at", None, now.isoformat())
            if target and target != assignee:
                log_change(warehouse, followup_id, now, actor, "assignee", assignee, target)
        new_assignee = f", assignee = {literal(target)}" if target else ""
        warehouse.sql(
            f"UPDATE {TABLE} SET escalated_at = {literal(now)}, updated_at = {literal(now)}, "
            f"updated_by = {literal(actor)}{new_assignee} WHERE {where}"
        )
    return len(rows)


# -- reading ----------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class Listing(Result):
    """One page of follow-ups and the counts over every follow-up the filters allow."""

    rows: list[Followup]
    total: int  # matching the filters
    counts: dict[str, int]  # per status, plus overdue, escalated and held_out (all follow-ups)
    limit: int
    offset: int
    now: dt.datetime

    def display(self) -> Table:
        import pandas as pd

        rows = [row.to_dict(self.now) for row in self.rows]
        frame = pd.DataFrame(rows, columns=[*COLUMNS, "overdue"])
        for name in ("due_at", "opened_at"):
            frame[name] = pd.to_datetime(frame[name], utc=True)
        columns = [
            Column("followup_id", "text", "follow-up", "opvolging"),
            Column("customer_id", "text", "customer", "klant"),
            Column("metric", "text", "metric", "metriek", 4),
            Column("score", "number", "score", "score", 6),
            Column("touchpoint", "text", "touchpoint", "contactmoment", 3),
            Column("assignee", "text", "assignee", "behandelaar", 7),
            Column("status", "text", "status", "status", values=STATE_WORDS),
            Column("outcome", "text", "outcome", "uitkomst", 5, values=OUTCOME_WORDS),
            Column("due_at", "date", "due", "uiterlijk", 6),
            Column("overdue", "flag", "overdue", "te laat", 8),
        ]
        return Table(frame, columns, noun=("follow-ups", "opvolgingen"))

    def summary(self, lang: str = "en") -> str:
        c = self.counts
        if lang == "nl":
            return (
                f"{number(self.total, 'nl')} opvolgingen passen; in totaal "
                f"{number(c['open'], 'nl')} open, {number(c['in_progress'], 'nl')} in "
                f"behandeling, {number(c['done'], 'nl')} afgerond, {number(c['overdue'], 'nl')} "
                f"te laat, {number(c['held_out'], 'nl')} achtergehouden."
            )
        return (
            f"{number(self.total)} follow-ups match; in all {number(c['open'])} open, "
            f"{number(c['in_progress'])} in progress, {number(c['done'])} done, "
            f"{number(c['overdue'])} overdue, {number(c['held_out'])} held out."
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "counts": dict(self.counts),
            "limit": self.limit,
            "offset": self.offset,
            "now": self.now.isoformat(),
            "rows": [row.to_dict(self.now) for row in self.rows],
        }


def list_followups(
    warehouse: Any,
    *,
    status: str | None = None,
    assignee: str | None = None,
    touchpoint: str | None = None,
    customer_id: str | None = None,
    overdue: bool = False,
    held_out: bool | None = False,
    now: dt.datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Listing:
    """Follow-ups matching the filters: overdue first, then by due time and opening.

    ``held_out``: False (default) the ones to work, True only those held out, None both.
    """
    now = utc_now(now)
    if status is not None and status not in STATES:
        raise refuse(
            f"status {status!r} is not one of: {', '.join(STATES)}",
            f"status {status!r} is geen van: {', '.join(STATES)}",
        )
    if not 1 <= int(limit) <= 1000 or int(offset) < 0:
        raise refuse(
            "limit is 1 to 1000 and offset at least 0", "limit is 1 tot 1000 en offset minstens 0"
        )
    empty = {**{s: 0 for s in STATES}, "overdue": 0, "escalated": 0, "held_out": 0}
    if not has_tables(warehouse):
        return Listing([], 0, empty, int(limit), int(offset), now)
    late = f"(status <> 'done' AND NOT held_out AND due_at < {literal(now)})"
    where = []
    if held_out is not None:
        where.append("held_out" if held_out else "NOT held_out")
    for column, value in (
        ("status", status), ("assignee", assignee), ("touchpoint", touchpoint),
        ("customer_id", customer_id),
    ):  # fmt: skip
        if value:
            where.append(f"{column} = {literal(str(value))}")
    if overdue:
        where.append(late)
    condition = " AND ".join(where) or "TRUE"
    total = int(warehouse.query(f"SELECT count(*) FROM {TABLE} WHERE {condition}")[0][0])
    order = (
        f"ORDER BY CASE WHEN {late} THEN 0 WHEN status = 'done' THEN 2 ELSE 1 END, "
        f"due_at NULLS LAST, opened_at DESC, followup_id LIMIT {int(limit)} OFFSET {int(offset)}"
    )
    rows = [row_of(row) for row in warehouse.query(select_sql(condition, order))]
    (row,) = warehouse.query(
        f"SELECT count(*) FILTER (WHERE status = 'open' AND NOT held_out), "
        f"count(*) FILTER (WHERE status = 'in_progress' AND NOT held_out), "
        f"count(*) FILTER (WHERE status = 'done' AND NOT held_out), "
        f"count(*) FILTER (WHERE {late}), "
        f"count(*) FILTER (WHERE escalated_at IS NOT NULL AND status <> 'done'), "
        f"count(*) FILTER (WHERE held_out) FROM {TABLE}"
    )
    keys = (*STATES, "overdue", "escalated", "held_out")
    counts = {key: int(value or 0) for key, value in zip(keys, row, strict=True)}
    return Listing(rows, total, counts, int(limit), int(offset), now)


def assignees(warehouse: Any) -> list[str]:
    """Everyone who has a follow-up, for the list's filter."""
    if not has_tables(warehouse):
        return []
    rows = warehouse.query(
        f"SELECT DISTINCT assignee FROM {TABLE} WHERE assignee IS NOT NULL ORDER BY assignee"
    )
    return [row[0] for row in rows]


# -- working a follow-up ----------------------------------------------------------------------
def _clean_text(value: str | None, limit: int, what_en: str, what_nl: str) -> str | None:
    if value is None:
        return None
    text = value.replace("\r\n", "\n").replace("\r", "\n").strip()
    if len(text) > limit:
        raise refuse(
            f"the {what_en} is {number(len(text))} characters long; at most {number(limit)}",
            f"de {what_nl} is {number(len(text), 'nl')} tekens lang; hoogstens "
            f"{number(limit, 'nl')}",
        )
    if any((ord(c) < 32 and c not in "\n\t") or ord(c) == 127 for c in text):
        raise refuse(
            f"the {what_en} holds a control character", f"de {what_nl} bevat een stuurteken"
        )
    return text


def check_change(
    current: Followup, status: str | None, outcome: str | None
) -> tuple[str, str | None]:
    """The status and outcome after a change, or FollowupError (the state machine's rules)."""
    if current.held_out:
        raise refuse(
            "this follow-up is held out at random to measure whether following up helps: "
            "it is not worked",
            "deze opvolging is willekeurig achtergehouden om te meten of opvolgen helpt: "
            "ze wordt niet uitgevoerd",
        )
    new_status = current.status if status in (None, "") else status
    if new_status not in STATES:
        raise refuse(
            f"status {new_status!r} is not one of: {', '.join(STATES)}",
            f"status {new_status!r} is geen van: {', '.join(STATES)}",
        )
    if new_status != current.status and new_status not in TRANSITIONS[current.status]:
        raise refuse(
            f"a follow-up that is {current.status} cannot become {new_status} "
            f"(it can become: {', '.join(sorted(TRANSITIONS[current.status]))})",
            f"een opvolging met status {current.status} kan niet {new_status} worden "
            f"(wel: {', '.join(sorted(TRANSITIONS[current.status]))})",
        )
    new_outcome = current.outcome if outcome is None else (outcome or None)
    if new_outcome is not None and new_outcome not in OUTCOMES:
        raise refuse(
            f"outcome {new_outcome!r} is not one of: {', '.join(OUTCOMES)}",
            f"uitkomst {new_outcome!r} is geen van: {', '.join(OUTCOMES)}",
        )
    if new_status == "done" and new_outcome is None:
        raise refuse(
            f"a follow-up is done only with an outcome: choose one ({', '.join(OUTCOMES)})",
            f"een opvolging is pas afgerond met een uitkomst: kies er een ({', '.join(OUTCOMES)})",
        )
    return new_status, new_outcome


def update(
    warehouse: Any,
    followup_id: str,
    *,
    actor: str | None,
    status: str | None = None,
    outcome: str | None = None,
    root_cause: str | None = None,
    assignee: str | None = None,
    note: str | None = None,
    now: dt.datetime | None = None,
) -> Followup:
    """Change a follow-up (None leaves a field as it is; "" clears outcome or root cause).

    Every changed field is logged with ``actor`` and the time, in one transaction with the
    change and the note. Raises FollowupError for a change the rules refuse, LookupError for an
    unknown id.
    """
    now = utc_now(now)
    with warehouse.transaction():  # read and write as one: nobody changes it in between
        current = get(warehouse, followup_id)
        if current is None:
            raise LookupError(followup_id)
        return _apply(warehouse, current, now, actor, status, outcome, root_cause, assignee, note)


def _apply(
    warehouse: Any, current: Followup, now: dt.datetime, actor: str | None, status: str | None,
    outcome: str | None, root_cause: str | None, assignee: str | None, note: str | None,
) -> Followup:  # fmt: skip
    new_status, new_outcome = check_change(current, status, outcome)
    new_cause = current.root_cause
    if root_cause is not None:
        new_cause = _clean_text(root_cause, MAX_ROOT_CAUSE, "root cause", "oorzaak") or None
    new_assignee = current.assignee
    if assignee is not None:
        new_assignee = _clean_text(assignee, 100, "assignee", "behandelaar") or None
    note_text = _clean_text(note, MAX_NOTE, "note", "notitie") if note is not None else None
    closed_at = current.closed_at
    if new_status == "done" and current.status != "done":
        closed_at = now
    elif new_status != "done":
        closed_at = None
    new = {
        "status": new_status,
        "outcome": new_outcome,
        "root_cause": new_cause,
        "assignee": new_assignee,
        "closed_at": closed_at,
    }
    changed = {k: v for k, v in new.items() if v != getattr(current, k)}
    if not changed and not note_text:
        return current
    for name, value in changed.items():
        old = getattr(current, name)
        log_change(warehouse, current.followup_id, now, actor, name, as_text(old), as_text(value))
    if note_text:
        warehouse.sql(
            f"INSERT INTO {NOTES} (note_id, followup_id, author, ts, text) VALUES "
            f"({literal(uuid.uuid4().hex)}, {literal(current.followup_id)}, "
            f"{literal(actor)}, {literal(now)}, {literal(note_text)})"
        )
        log_change(warehouse, current.followup_id, now, actor, "note", None, note_text[:200])
    sets = [f"{name} = {literal(value)}" for name, value in changed.items()]
    sets += [f"updated_at = {literal(now)}", f"updated_by = {literal(actor)}"]
    warehouse.sql(
        f"UPDATE {TABLE} SET {', '.join(sets)} WHERE followup_id = {literal(current.followup_id)}"
    )
    found = get(warehouse, current.followup_id)
    assert found is not None
    return found


# -- the customer's timeline ------------------------------------------------------------------
def timeline_items(
    warehouse: Any, customer_id: str, journey: Any = None, *, include_held_out: bool = False
) -> list[dict[str, Any]]:
    """The customer's follow-ups as items of :func:`cxray.analysis.customers.customer_timeline`.

    Each item has the timeline's fields (kind "followup", ts = when it was opened, touchpoint,
    phase, channel, bad, churn, item_id = the follow-up's id, details) so that it merges with
    the others; ``details`` holds status, assignee, due, outcome, root cause and the notes.
    Held-out follow-ups are left out unless asked for (people who see them might act on them).
    """
    if not has_tables(warehouse):
        return []
    where = f"customer_id = {literal(str(customer_id))}"
    if not include_held_out:
        where += " AND NOT held_out"
    items = []
    for followup in (
        row_of(r) for r in warehouse.query(select_sql(where, "ORDER BY opened_at DESC"))
    ):
        tp = followup.touchpoint
        details = {
            **{k: v for k, v in followup.to_dict().items() if k not in ("touchpoint",)},
            "notes": [n.to_dict() for n in notes(warehouse, followup.followup_id)],
        }
        items.append(
            {
                "kind": "followup",
                "ts": followup.opened_at,
                "touchpoint": tp,
                "phase": journey.phase_of(tp) if journey is not None and tp else None,
                "channel": None,
                "bad": followup.overdue(),
                "churn": False,
                "item_id": followup.followup_id,
                "details": details,
            }
        )
    return items


def describe_item(item: dict[str, Any], lang: str = "en") -> str:
    """A timeline item of kind "followup" in one line, in ``lang``."""
    details = item.get("details") or {}
    nl = lang == "nl"
    status = STATE_WORDS.get(details.get("status"), {}).get(lang, details.get("status"))
    parts = [f"{'Opvolging' if nl else 'Follow-up'}: {status}"]
    if details.get("assignee"):
        parts.append(f"{'voor' if nl else 'for'} {details['assignee']}")
    if details.get("outcome"):
        outcome = OUTCOME_WORDS.get(details["outcome"], {}).get(lang, details["outcome"])
        parts.append(f"{'uitkomst' if nl else 'outcome'}: {outcome}")
    if details.get("root_cause"):
        parts.append(f"{'oorzaak' if nl else 'root cause'}: {details['root_cause']}")
    if details.get("overdue"):
        parts.append("te laat" if nl else "overdue")
    return " · ".join(parts)


__all__ = [
    "LOG",
    "NOTES",
    "OUTCOMES",
    "OUTCOME_WORDS",
    "STATES",
    "STATE_WORDS",
    "TABLE",
    "TRANSITIONS",
    "Change",
    "Followup",
    "FollowupError",
    "Listing",
    "Note",
    "Opened",
    "answer_of",
    "assignees",
    "changes",
    "check_change",
    "describe_item",
    "ensure_tables",
    "escalate_overdue",
    "for_response",
    "get",
    "has_tables",
    "list_followups",
    "notes",
    "open_followups",
    "timeline_items",
    "update",
]
