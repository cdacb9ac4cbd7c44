"""Playbooks for the moments that matter: at the right time, a task for a person or a mail.

```toml
[playbooks.reassure]
moment = "after_purchase"      # after_purchase, first_success, anniversary, silence,
touchpoint = "order_placed"    #   late_onboarding
days = 1                       # after_purchase: N days after the event; silence: N days quiet
action = "task"                # a task for a person (a personal letter) or "mail"
assign_to = "sales"            # default: the touchpoint's owner (else default_owner)
within_days = 14               # only moments this recent create work (not years of history)
holdout_share = 0.1            # keep 10% at random without the action, to measure the effect

[playbooks.welcome_back]
moment = "silence"
days = 45
action = "mail"
subject_en = "We miss you"
subject_nl = "We missen u"
text_en = "..."
text_nl = "..."
```

Moments: **after_purchase** ``days`` after each event of ``touchpoint``; **first_success** the
customer's first event of ``touchpoint`` (plus ``days``); **anniversary** each full year after
the customer's start; **silence** ``days`` without an event while still a customer;
**late_onboarding** a customer in the first 100 days late for the next phase
(:func:`cxray.analysis.onboarding.onboarding`). A customer who has left gets nothing.

:func:`run_playbooks` creates each task or mail once per customer and moment
(``cxray_playbook_tasks``, unique on playbook, customer and moment key): running it twice creates
nothing new. States: a task ``open → done`` (with an outcome); a mail ``queued`` (in the
outbox, kind ``playbook-mail``, ref the task id) or ``skipped`` (no address, opted out,
bounced); ``held_out`` (drawn as follow-ups draw theirs). :func:`playbook_effect` compares churn
after the moment as :mod:`cxray.actions.followup_effect` does.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from cxray.actions import jobs, outbox
from cxray.actions.advocacy import (
    EMAIL_PATTERN,
    OPTOUTS,
    Checker,
    _customer_value,
    table_exists,
)
from cxray.i18n import Message
from cxray.warehouse import from_utc, literal, literals, utc

SECTION = "playbooks"
TABLE = "cxray_playbook_tasks"
MOMENTS = ("after_purchase", "first_success", "anniversary", "silence", "late_onboarding")
MOMENT_WORDS = {
    "after_purchase": {"en": "after the purchase", "nl": "na de aankoop"},
    "first_success": {"en": "first success", "nl": "eerste succes"},
    "anniversary": {"en": "customer anniversary", "nl": "klantjubileum"},
    "silence": {"en": "long silence", "nl": "lange stilte"},
    "late_onboarding": {"en": "late in onboarding", "nl": "achter in de start"},
}
ACTIONS = ("task", "mail")
STATES = ("open", "done", "queued", "skipped", "held_out")
STATE_WORDS = {
    "open": {"en": "open", "nl": "open"},
    "done": {"en": "done", "nl": "afgerond"},
    "queued": {"en": "mail queued", "nl": "mail klaargezet"},
    "skipped": {"en": "skipped", "nl": "overgeslagen"},
    "held_out": {"en": "held out", "nl": "achtergehouden"},
}
OUTCOMES = ("reached", "letter_sent", "no_answer", "not_needed")
OUTCOME_WORDS = {
    "reached": {"en": "reached the customer", "nl": "klant bereikt"},
    "letter_sent": {"en": "letter sent", "nl": "brief verstuurd"},
    "no_answer": {"en": "no answer", "nl": "geen antwoord"},
    "not_needed": {"en": "not needed", "nl": "niet nodig"},
    "no_address": {"en": "no e-mail address", "nl": "geen e-mailadres"},
    "opted_out": {"en": "opted out", "nl": "afgemeld"},
    "bounced": {"en": "address bounced", "nl": "adres onbestelbaar"},
}
KEYS = {
    "moment", "touchpoint", "days", "action", "assign_to", "default_owner", "within_days",
    "holdout_share", "holdout_key", "enabled", "subject_en", "subject_nl", "text_en", "text_nl",
}  # fmt: skip
NEEDS_TOUCHPOINT = ("after_purchase", "first_success")
ONBOARDING_DAYS = 100
MAX_NOTE = 4000
COLUMNS = (
    "task_id", "playbook", "moment", "customer_id", "moment_key", "moment_at", "created_at",
    "action", "assignee", "status", "outcome", "note", "closed_at", "closed_by", "held_out",
    "message_id",
)  # fmt: skip
TIMES = ("moment_at", "created_at", "closed_at")


class PlaybookError(ValueError):
    """``[playbooks]`` is invalid, or a task cannot be changed; raised with a bilingual Message."""


@dataclass(frozen=True)
class Playbook:
    name: str
    moment: str
    touchpoint: str | None = None
    days: float = 0.0
    action: str = "task"
    assign_to: str | None = None  # None: the touchpoint's owner, else default_owner
    default_owner: str | None = None
    within_days: float = 14.0
    holdout_share: float = 0.0
    holdout_key: str = "cxray-holdout"
    enabled: bool = True
    subject: Message | None = None
    text: Message | None = None

    def assignee(self, journey: Any) -> str | None:
        if self.action != "task":
            return None
        if self.assign_to:
            return self.assign_to
        tp = journey.touchpoints.get(self.touchpoint) if self.touchpoint else None
        return (tp.owner if tp is not None else None) or self.default_owner


def read_playbooks(journey: Any) -> tuple[Playbook, ...]:
    """The journey's ``[playbooks.<name>]`` tables, checked (the key at fault named)."""
    raw = (getattr(journey, "settings", None) or {}).get(SECTION) or {}
    if not isinstance(raw, dict):
        raise PlaybookError(Message("cxray.toml: [playbooks] must be a table",
                                    "cxray.toml: [playbooks] moet een tabel zijn"))  # fmt: skip
    found = []
    for name, table in sorted(raw.items()):
        check = Checker(table, f"{SECTION}.{name}", KEYS, PlaybookError)
        moment = check.choice("moment", "", MOMENTS) if "moment" in table else None
        if moment is None:
            raise check.fail(f"'moment' is missing: one of {', '.join(MOMENTS)}",
                             f"'moment' ontbreekt: een van {', '.join(MOMENTS)}")  # fmt: skip
        touchpoint = check.text("touchpoint", None, 200)
        if moment in NEEDS_TOUCHPOINT and touchpoint is None:
            raise check.fail(f"'touchpoint' is missing: the moment {moment} needs one",
                             f"'touchpoint' ontbreekt: het moment {moment} heeft er een nodig")  # fmt: skip
        action = check.choice("action", "task", ACTIONS)
        texts = {k: check.text(k, None, 20_000 if k.startswith("text") else 300)
                 for k in ("subject_en", "subject_nl", "text_en", "text_nl")}  # fmt: skip
        subject = text = None
        if action == "mail":
            missing = [k for k, v in texts.items() if v is None]
            if missing:
                raise check.fail(f"a mail needs {', '.join(missing)}",
                                 f"een mail heeft {', '.join(missing)} nodig")  # fmt: skip
            subject = Message(texts["subject_en"] or "", texts["subject_nl"] or "")
            text = Message(texts["text_en"] or "", texts["text_nl"] or "")
        default_days = 30.0 if moment == "silence" else 0.0
        found.append(
            Playbook(
                name=name, moment=moment, touchpoint=touchpoint,
                days=check.number("days", default_days, 0, 36_525), action=action,
                assign_to=check.text("assign_to", None, 100),
                default_owner=check.text("default_owner", None, 100),
                within_days=check.number("within_days", 14, 0.001, 36_525),
                holdout_share=check.number("holdout_share", 0, 0, 0.9),
                holdout_key=check.text("holdout_key", f"cxray-holdout:{name}", 100) or name,
                enabled=check.flag("enabled", True), subject=subject, text=text,
            )
        )  # fmt: skip
    return tuple(found)


def ensure_table(warehouse: Any) -> None:
    warehouse.sql(
        f"CREATE TABLE IF NOT EXISTS {TABLE} (task_id VARCHAR PRIMARY KEY, "
        "playbook VARCHAR NOT NULL, moment VARCHAR NOT NULL, customer_id VARCHAR NOT NULL, "
        "moment_key VARCHAR NOT NULL, moment_at TIMESTAMPTZ NOT NULL, "
        "created_at TIMESTAMPTZ NOT NULL, action VARCHAR NOT NULL, assignee VARCHAR, "
        "status VARCHAR NOT NULL, outcome VARCHAR, note VARCHAR, closed_at TIMESTAMPTZ, "
        "closed_by VARCHAR, held_out BOOLEAN NOT NULL DEFAULT FALSE, message_id VARCHAR, "
        "UNIQUE (playbook, customer_id, moment_key))"
    )


# -- moments ----------------------------------------------------------------------------------
def _left_sql(journey: Any, now: dt.datetime) -> str:
    """Customers who have left by ``now`` (churned_at, a churn touchpoint, or inactive)."""
    parts = [f"SELECT customer_id FROM customers WHERE churned_at <= {literal(now)}"]
    churn = list(getattr(journey.churn, "touchpoints", ()) or ())
    if churn:
        parts.append(
            f"SELECT customer_id FROM events WHERE touchpoint IN {literals(churn)} "
            f"AND ts <= {literal(now)}"
        )
    inactive = getattr(journey.churn, "inactive_days", None)
    if inactive:
        limit = now - dt.timedelta(days=inactive)
        parts.append(
            f"SELECT customer_id FROM events WHERE ts <= {literal(now)} GROUP BY customer_id "
            f"HAVING max(ts) <= {literal(limit)}"
        )
    return " UNION ".join(parts)


def _moments_sql(book: Playbook, now: dt.datetime) -> str:
    """customer_id, moment_key, moment_at: every moment of the playbook up to ``now``."""
    delay = f"INTERVAL '{int(book.days * 86400)} seconds'"
    tp, cut = literal(book.touchpoint), literal(now)
    if book.moment == "after_purchase":
        return (
            f"SELECT customer_id, event_id AS moment_key, ts + {delay} AS moment_at "
            f"FROM events WHERE touchpoint = {tp}"
        )
    if book.moment == "first_success":
        return (
            f"SELECT customer_id, 'first' AS moment_key, min(ts) + {delay} AS moment_at "
            f"FROM events WHERE touchpoint = {tp} GROUP BY customer_id"
        )
    if book.moment == "anniversary":
        return f"""
SELECT customer_id, 'year-' || CAST(y AS VARCHAR) AS moment_key,
       base + INTERVAL '1 year' * y + {delay} AS moment_at
FROM (
  SELECT customer_id, base,
         CASE WHEN base + INTERVAL '1 year' * y0 > {cut} THEN y0 - 1 ELSE y0 END AS y
  FROM (
    SELECT c.customer_id, coalesce(c.first_seen, e.first_ts) AS base,
           CAST(extract(year FROM {cut}) - extract(year FROM coalesce(c.first_seen, e.first_ts))
                AS INTEGER) AS y0
    FROM customers c LEFT JOIN (
      SELECT customer_id, min(ts) AS first_ts FROM events GROUP BY customer_id
    ) e ON e.customer_id = c.customer_id
  ) AS starts WHERE base IS NOT NULL
) AS years WHERE y >= 1"""
    if book.moment == "silence":
        return (
            "SELECT customer_id, 'silence-' || CAST(max(ts) AS VARCHAR) AS moment_key, "
            f"max(ts) + {delay} AS moment_at FROM events WHERE ts <= {cut} GROUP BY customer_id"
        )
    raise AssertionError(book.moment)  # late_onboarding is found in Python


def _late_onboarding(warehouse: Any, journey: Any, now: dt.datetime) -> str:
    """The late onboarding customers as a VALUES list (the onboarding tracker finds them)."""
    from cxray.actions.followup_effect import _Source
    from cxray.analysis.onboarding import onboarding

    result = onboarding(_Source(warehouse, journey), days=ONBOARDING_DAYS, as_of=now)
    late = result.frame[result.frame["late"]]
    rows = [
        f"({literal(str(c))}, {literal('late-' + str(p))}, {literal(now)})"
        for c, p in zip(late["customer_id"], late["phase"], strict=True)
    ]
    if not rows:
        return (
            "SELECT CAST(NULL AS VARCHAR) AS customer_id, CAST(NULL AS VARCHAR) AS moment_key, "
            "CAST(NULL AS TIMESTAMPTZ) AS moment_at WHERE 1 = 0"
        )
    return (
        "SELECT * FROM (VALUES " + ", ".join(rows) + ") AS late(customer_id, moment_key, moment_at)"
    )


# -- running ----------------------------------------------------------------------------------
@dataclass
class Ran:
    """What one run created, per playbook."""

    created: dict[str, int] = field(default_factory=dict)
    held_out: dict[str, int] = field(default_factory=dict)
    mails: int = 0
    skipped: int = 0

    @property
    def total(self) -> int:
        return sum(self.created.values())

    def summary(self, lang: str = "en") -> str:
        per = ", ".join(f"{k}: {v}" for k, v in self.created.items()) or "-"
        held = sum(self.held_out.values())
        if lang == "nl":
            return (
                f"{self.total} nieuw ({per}); {self.mails} mails klaargezet, "
                f"{self.skipped} overgeslagen, {held} achtergehouden."
            )
        return (
            f"{self.total} new ({per}); {self.mails} mails queued, {self.skipped} skipped, "
            f"{held} held out."
        )


def run_playbooks(
    warehouse: Any, journey: Any, now: dt.datetime | None = None, *, actor: str = "cxray"
) -> Ran:
    """Create every due task or mail not created before (idempotent), one playbook at a time."""
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    books = [b for b in read_playbooks(journey) if b.enabled]
    ran = Ran()
    if not books:
        return ran
    ensure_table(warehouse)
    outbox.ensure_table(warehouse)
    for book in books:
        source = (
            _late_onboarding(warehouse, journey, now)
            if book.moment == "late_onboarding"
            else _moments_sql(book, now)
        )
        since = now - dt.timedelta(days=book.within_days)
        task_id = f"'pb-' || substr(md5({literal(book.name + ':')} || m.customer_id || ':' || m.moment_key), 1, 16)"
        # the same draw as followup_rules.holdout_draw(holdout_key, task id)
        draw = f"CAST(('0x' || substr(md5({literal(book.holdout_key + ':')} || {task_id}), 1, 8)) AS BIGINT)"
        held = f"({draw} < {literal(float(book.holdout_share * 2**32))})"
        status = "'open'" if book.action == "task" else "'pending'"
        statement = f"""
INSERT INTO {TABLE} ({", ".join(COLUMNS)})
SELECT {task_id}, {literal(book.name)}, {literal(book.moment)}, m.customer_id, m.moment_key,
       m.moment_at, {literal(now)}, {literal(book.action)},
       CASE WHEN {held} THEN NULL ELSE {literal(book.assignee(journey))} END,
       CASE WHEN {held} THEN 'held_out' ELSE {status} END, NULL, NULL, NULL, NULL, {held}, NULL
FROM ({source}) AS m
WHERE m.moment_at <= {literal(now)} AND m.moment_at > {literal(since)}
  AND m.customer_id IN (SELECT customer_id FROM customers)
  AND m.customer_id NOT IN (SELECT customer_id FROM ({_left_sql(journey, now)}) AS gone)
  AND NOT EXISTS (SELECT 1 FROM {TABLE} x WHERE x.playbook = {literal(book.name)}
                  AND x.customer_id = m.customer_id AND x.moment_key = m.moment_key)
"""
        count = f"SELECT count(*), count(*) FILTER (WHERE held_out) FROM {TABLE} WHERE playbook = ?"
        with warehouse.transaction():
            before = warehouse.query(count, [book.name])[0]
            warehouse.sql(statement)
            after = warehouse.query(count, [book.name])[0]
            if book.action == "mail":
                mailed, skipped = _queue_mails(warehouse, journey, book, now)
                ran.mails += mailed
                ran.skipped += skipped
        ran.created[book.name] = int(after[0] - before[0])
        ran.held_out[book.name] = int((after[1] or 0) - (before[1] or 0))
    return ran


def _queue_mails(warehouse: Any, journey: Any, book: Playbook, now: dt.datetime) -> tuple[int, int]:
    """Queue the mail of each pending task of ``book`` (inside the run's transaction)."""
    surveys = (getattr(journey, "settings", None) or {}).get("surveys") or {}
    key = surveys.get("email") if isinstance(surveys.get("email"), str) else "email"
    email = f"trim({_customer_value(key)})"
    language = f"lower(trim({_customer_value('language')}))"
    opted = (
        f"EXISTS (SELECT 1 FROM {OPTOUTS} o WHERE o.customer_id = t.customer_id)"
        if table_exists(warehouse, OPTOUTS)
        else "FALSE"
    )
    rows = warehouse.query(
        f"SELECT t.task_id, {email}, {language} LIKE 'nl%', {opted} FROM {TABLE} t "
        "LEFT JOIN customers c ON c.customer_id = t.customer_id "
        "WHERE t.playbook = ? AND t.status = 'pending'",
        [book.name],
    )
    mailed = skipped = 0
    assert book.subject is not None and book.text is not None
    for task_id, address, dutch, opted_out in rows:
        lang = "nl" if dutch else "en"
        reason = None
        if opted_out:
            reason = "opted_out"
        elif not address or not _valid(address):
            reason = "no_address"
        message_id = None
        if reason is None:
            mail = outbox.Mail(
                recipient=address, subject=book.subject.text(lang), text=book.text.text(lang),
                kind="playbook-mail", ref=task_id,
            )  # fmt: skip
            try:
                message_id = outbox.enqueue(warehouse, mail, now)
            except outbox.BouncedAddress:
                reason = "bounced"
            except outbox.OutboxError:
                reason = "no_address"
        if reason is None:
            mailed += 1
        else:
            skipped += 1
        warehouse.sql(
            f"UPDATE {TABLE} SET status = ?, outcome = ?, message_id = ?, "
            f"closed_at = {literal(now)}, closed_by = 'cxray' WHERE task_id = ?",
            ["queued" if reason is None else "skipped", reason, message_id, task_id],
        )
    return mailed, skipped


def _valid(address: str) -> bool:
    import re

    return re.match(EMAIL_PATTERN, address) is not None


# -- tasks ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Task:
    task_id: str
    playbook: str
    moment: str
    customer_id: str
    moment_key: str
    moment_at: dt.datetime
    created_at: dt.datetime
    action: str
    assignee: str | None
    status: str
    outcome: str | None
    note: str | None
    closed_at: dt.datetime | None
    closed_by: str | None
    held_out: bool
    message_id: str | None

    def to_dict(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, dt.datetime) else v)
                for k, v in self.__dict__.items()}  # fmt: skip


_SELECT = "SELECT " + ", ".join(utc(c) if c in TIMES else c for c in COLUMNS) + f" FROM {TABLE}"


def _task(row: tuple) -> Task:
    values = dict(zip(COLUMNS, row, strict=True))
    for name in TIMES:
        values[name] = from_utc(values[name])
    values["held_out"] = bool(values["held_out"])
    return Task(**values)


def list_tasks(
    warehouse: Any, *, status: str | None = None, playbook: str | None = None,
    assignee: str | None = None, customer_id: str | None = None, held_out: bool | None = False,
    limit: int = 100,
) -> list[Task]:  # fmt: skip
    """Tasks and mails of the playbooks, the oldest moment first (none before the first run)."""
    if status is not None and status not in STATES:
        raise PlaybookError(Message(f"status must be one of {', '.join(STATES)}",
                                    f"status moet een van {', '.join(STATES)} zijn"))  # fmt: skip
    if not table_exists(warehouse, TABLE):
        return []
    where, params = ["TRUE"], []
    for column, value in (("status", status), ("playbook", playbook), ("assignee", assignee),
                          ("customer_id", customer_id), ("held_out", held_out)):  # fmt: skip
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    rows = warehouse.query(
        f"{_SELECT} WHERE {' AND '.join(where)} ORDER BY moment_at, task_id "
        f"LIMIT {max(1, min(int(limit), 10_000))}",
        params,
    )
    return [_task(r) for r in rows]


def get_task(warehouse: Any, task_id: str) -> Task | None:
    if not table_exists(warehouse, TABLE):
        return None
    rows = warehouse.query(f"{_SELECT} WHERE task_id = ?", [task_id])
    return _task(rows[0]) if rows else None


def complete_task(
    warehouse: Any, task_id: str, outcome: str, *, actor: str, note: str | None = None,
    now: dt.datetime | None = None,
) -> Task:  # fmt: skip
    """Mark an open task done with its outcome (and a note)."""
    task = get_task(warehouse, task_id)
    if task is None:
        raise PlaybookError(Message(f"no task {task_id!r}", f"geen taak {task_id!r}"))
    if task.status != "open":
        raise PlaybookError(Message(f"task {task_id} is {task.status}, not open",
                                    f"taak {task_id} is {STATE_WORDS[task.status]['nl']}, "
                                    "niet open"))  # fmt: skip
    if outcome not in OUTCOMES:
        raise PlaybookError(Message(f"outcome must be one of {', '.join(OUTCOMES)}",
                                    f"uitkomst moet een van {', '.join(OUTCOMES)} zijn"))  # fmt: skip
    if note is not None and len(note) > MAX_NOTE:
        raise PlaybookError(Message(f"a note has at most {MAX_NOTE} characters",
                                    f"een notitie heeft hoogstens {MAX_NOTE} tekens"))  # fmt: skip
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    warehouse.sql(
        f"UPDATE {TABLE} SET status = 'done', outcome = ?, note = ?, "
        f"closed_at = {literal(now)}, closed_by = ? WHERE task_id = ? AND status = 'open'",
        [outcome, (note or "").strip() or None, actor, task_id],
    )
    return get_task(warehouse, task_id)  # type: ignore[return-value]


def _job(context: jobs.JobContext) -> Message:
    with context.borrow() as warehouse:
        ran = run_playbooks(warehouse, context.journey, context.now)
    return Message(ran.summary("en"), ran.summary("nl"))


RUN_JOB = jobs.register(
    jobs.Job(
        "run-playbooks",
        Message("create playbook tasks and mails", "maak taken en mails van draaiboeken"),
        _job,
        every=3600.0,
    )
)

__all__ = [
    "MOMENTS", "OUTCOMES", "STATES", "TABLE", "Playbook", "PlaybookError", "Ran", "Task",
    "complete_task", "get_task", "list_tasks", "read_playbooks", "run_playbooks",
]  # fmt: skip
