"""Advocacy at the right moment: review and referral asks after the value moment.

```toml
[advocacy]
value_touchpoint = "first_success"   # the value moment: an event of this touchpoint
min_days = 30                        # never before this many days as a customer
every_days = 180                     # never the same customer twice within this period
review_url = "https://example.com/review"
referral_url = "https://example.com/refer"
asks = ["review", "referral"]        # which asks (default: those with a URL)
referral_promoters_only = true       # referral asks to promoters only (latest NPS >= 9)
```

**No review gating.** A review ask goes to *every* customer who reached the value moment,
whatever they answered before: platforms forbid asking only happy customers. Only a referral
ask may be limited to promoters. A customer due both gets the kind asked longest ago (a review
first); at most one ask per customer within ``every_days``.

Planning is one SQL pass in the engine: every customer is classified by the first rule it fails
(:data:`REASONS`, in order); the eligible ones are due. A dry run (:func:`plan_asks`) stores
nothing; :func:`make_asks` stores each ask in ``cxray_advocacy_asks`` and queues its mail in
the outbox (kind ``advocacy-review`` / ``advocacy-referral``, ref the ask id) in one
transaction. Opt-outs are the surveys' (``cxray_survey_optouts``, read by name when it exists);
a bounced address is refused by the outbox and the ask is not made.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import uuid
from dataclasses import dataclass, field
from typing import Any

from cxray.actions import jobs, outbox
from cxray.i18n import Message
from cxray.warehouse import from_utc, literal, literals, utc

SECTION = "advocacy"
TABLE = "cxray_advocacy_asks"
OPTOUTS = "cxray_survey_optouts"  # the surveys' table, read by name (a layer above this one)
KINDS = ("review", "referral")
RESULTS = ("none", "clicked", "reviewed", "referred")
RESULT_WORDS = {
    "none": {"en": "no result yet", "nl": "nog geen resultaat"},
    "clicked": {"en": "clicked", "nl": "geklikt"},
    "reviewed": {"en": "reviewed", "nl": "review geschreven"},
    "referred": {"en": "referred someone", "nl": "iemand aangebracht"},
}
KIND_WORDS = {
    "review": {"en": "review", "nl": "review"},
    "referral": {"en": "referral", "nl": "doorverwijzing"},
}
KEYS = {
    "enabled", "value_touchpoint", "min_days", "every_days", "review_url", "referral_url",
    "asks", "referral_promoters_only", "promoter_at_least", "email", "language",
}  # fmt: skip
CUSTOMER_COLUMNS = {"customer_id", "segment", "language"}
EMAIL_PATTERN = r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$"
SAMPLE = 5
REASONS: dict[str, Message] = {
    "not_reached": Message("value moment not reached", "waardemoment niet bereikt"),
    "too_new": Message("customer too short", "nog te kort klant"),
    "left": Message("customer has left", "klant is vertrokken"),
    "opted_out": Message("opted out", "afgemeld"),
    "no_address": Message("no e-mail address", "geen e-mailadres"),
    "asked_recently": Message("asked within every_days", "gevraagd binnen every_days"),
    "not_promoter": Message(
        "not a promoter (referral asks only)", "geen promotor (alleen doorverwijzing)"
    ),
}


class AdvocacyError(ValueError):
    """``[advocacy]`` is invalid, or an ask cannot be changed; raised with a bilingual Message."""


# -- a small checker for a table of cxray.toml (playbooks use it too) --------------------------
class Checker:
    """Reads one table of ``cxray.toml``: each wrong key is refused with its name, en and nl."""

    def __init__(self, raw: Any, where: str, keys: set[str], error: type[ValueError]):
        self.where, self.error = where, error
        if not isinstance(raw, dict):
            raise self.fail("must be a table", "moet een tabel zijn")
        unknown = sorted(set(raw) - keys)
        if unknown:
            names, known = ", ".join(repr(k) for k in unknown), ", ".join(sorted(keys))
            raise self.fail(
                f"unknown key {names} (known: {known})",
                f"onbekende sleutel {names} (bekend: {known})",
            )
        self.raw = raw

    def fail(self, en: str, nl: str) -> ValueError:
        return self.error(
            Message(f"cxray.toml: [{self.where}] {en}", f"cxray.toml: [{self.where}] {nl}")
        )

    def flag(self, key: str, default: bool) -> bool:
        value = self.raw.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(f"'{key}' must be true or false", f"'{key}' moet true of false zijn")
        return value

    def number(self, key: str, default: float, low: float, high: float) -> float:
        value = self.raw.get(key, default)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise self.fail(f"'{key}' must be a number", f"'{key}' moet een getal zijn")
        if not low <= value <= high:
            raise self.fail(
                f"'{key} = {value}' must be from {low:g} to {high:g}",
                f"'{key} = {value}' moet van {low:g} tot {high:g} zijn",
            )
        return float(value)

    def text(self, key: str, default: str | None = None, limit: int = 2000) -> str | None:
        value = self.raw.get(key, default)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip() or len(value) > limit:
            raise self.fail(
                f"'{key}' must be a text in quotes (at most {limit} characters)",
                f"'{key}' moet een tekst tussen aanhalingstekens zijn (hoogstens {limit} tekens)",
            )
        return value.strip()

    def choice(self, key: str, default: str, options: tuple[str, ...]) -> str:
        value = self.text(key, default) or default
        if value not in options:
            raise self.fail(
                f"{key} = {value!r} must be one of {', '.join(options)}",
                f"{key} = {value!r} moet een van {', '.join(options)} zijn",
            )
        return value


def url_of(check: Checker, key: str) -> str | None:
    value = check.text(key)
    if value is not None and not value.startswith(("https://", "http://")):
        raise check.fail(f"'{key}' must be a web address (https://...)",
                         f"'{key}' moet een webadres zijn (https://...)")  # fmt: skip
    return value


@dataclass(frozen=True)
class AdvocacySettings:
    value_touchpoint: str | None = None
    enabled: bool = True
    min_days: float = 30.0
    every_days: float = 180.0
    review_url: str | None = None
    referral_url: str | None = None
    asks: tuple[str, ...] = ()
    referral_promoters_only: bool = True
    promoter_at_least: float = 9.0
    email: str = "email"
    language: str = "language"

    @property
    def active(self) -> bool:
        return self.enabled and self.value_touchpoint is not None and bool(self.asks)


def read_settings(journey: Any) -> AdvocacySettings:
    """The journey's ``[advocacy]`` (an absent table: nothing is asked)."""
    settings = getattr(journey, "settings", None) or {}
    raw = settings.get(SECTION)
    if raw is None:
        return AdvocacySettings()
    check = Checker(raw, SECTION, KEYS, AdvocacyError)
    touchpoint = check.text("value_touchpoint", limit=200)
    if touchpoint is None:
        raise check.fail(
            "'value_touchpoint' is missing: the touchpoint of the value moment, e.g. "
            'value_touchpoint = "first_success"',
            "'value_touchpoint' ontbreekt: het contactmoment van het waardemoment, bijv. "
            'value_touchpoint = "first_success"',
        )
    review, referral = url_of(check, "review_url"), url_of(check, "referral_url")
    asks = raw.get("asks")
    if asks is None:
        chosen = tuple(k for k, url in (("review", review), ("referral", referral)) if url)
    elif isinstance(asks, list) and all(a in KINDS for a in asks):
        chosen = tuple(dict.fromkeys(asks))
    else:
        raise check.fail('\'asks\' must be a list of "review" and "referral"',
                         '\'asks\' moet een lijst van "review" en "referral" zijn')  # fmt: skip
    for kind in chosen:
        if (review if kind == "review" else referral) is None:
            raise check.fail(f"'{kind}_url' is missing for the {kind} ask",
                             f"'{kind}_url' ontbreekt voor de vraag om {kind}")  # fmt: skip
    surveys = settings.get("surveys") or {}
    default_email = surveys.get("email") if isinstance(surveys.get("email"), str) else "email"
    return AdvocacySettings(
        value_touchpoint=touchpoint,
        enabled=check.flag("enabled", True),
        min_days=check.number("min_days", 30, 0, 36_525),
        every_days=check.number("every_days", 180, 0, 36_525),
        review_url=review,
        referral_url=referral,
        asks=chosen,
        referral_promoters_only=check.flag("referral_promoters_only", True),
        promoter_at_least=check.number("promoter_at_least", 9, 0, 10),
        email=check.text("email", default_email, 100) or "email",
        language=check.text("language", "language", 100) or "language",
    )


# -- tables -----------------------------------------------------------------------------------
def ensure_table(warehouse: Any) -> None:
    warehouse.sql(
        f"CREATE TABLE IF NOT EXISTS {TABLE} (ask_id VARCHAR PRIMARY KEY, "
        "customer_id VARCHAR NOT NULL, kind VARCHAR NOT NULL, asked_at TIMESTAMPTZ NOT NULL, "
        "channel VARCHAR NOT NULL, language VARCHAR, message_id VARCHAR, "
        "result VARCHAR NOT NULL DEFAULT 'none', result_at TIMESTAMPTZ, result_by VARCHAR)"
    )


def table_exists(warehouse: Any, name: str) -> bool:
    return warehouse.has_table(name)


def _source(warehouse: Any, name: str, columns: str) -> str:
    """The table, or an empty one of its shape when it is not there yet (a dry run writes none)."""
    if table_exists(warehouse, name):
        return name
    return f"(SELECT {columns} WHERE 1 = 0)"


def _customer_value(key: str) -> str:
    if key in CUSTOMER_COLUMNS:
        return f'CAST(c."{key}" AS VARCHAR)'
    return f"json_extract_string(c.attributes, {literal('$.' + chr(34) + key + chr(34))})"


# -- planning ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class DueAsk:
    customer_id: str
    kind: str
    email: str
    language: str
    promoter: bool


@dataclass
class AskPlan:
    now: dt.datetime
    due: list[DueAsk]
    counts: dict[str, int]  # reason -> customers
    samples: dict[str, list[str]]
    due_counts: dict[str, int] = field(default_factory=dict)  # kind -> due

    def to_dict(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(),
            "due_counts": self.due_counts,
            "due": [{"customer_id": d.customer_id, "kind": d.kind} for d in self.due],
            "not_asked": self.counts,
            "samples": self.samples,
        }

    def summary(self, lang: str = "en") -> str:
        due = ", ".join(f"{n} {KIND_WORDS[k][lang]}" for k, n in self.due_counts.items()) or "0"
        why = "; ".join(f"{REASONS[r].text(lang)}: {n}" for r, n in self.counts.items() if n)
        if lang == "nl":
            return f"Te vragen: {due}." + (f" Niet gevraagd — {why}." if why else "")
        return f"Due to ask: {due}." + (f" Not asked — {why}." if why else "")


def classify_sql(warehouse: Any, journey: Any, s: AdvocacySettings, now: dt.datetime) -> str:
    """Every customer with the reason they are not asked (NULL: due) and the kind due."""
    asks = _source(warehouse, TABLE, "CAST(NULL AS VARCHAR) AS customer_id, "
                   "CAST(NULL AS VARCHAR) AS kind, CAST(NULL AS TIMESTAMPTZ) AS asked_at")  # fmt: skip
    optouts = _source(warehouse, OPTOUTS, "CAST(NULL AS VARCHAR) AS customer_id")
    churn = list(getattr(journey.churn, "touchpoints", ()) or ())
    churned = (
        f"SELECT DISTINCT customer_id FROM events WHERE touchpoint IN {literals(churn)}"
        if churn
        else "SELECT CAST(NULL AS VARCHAR) AS customer_id WHERE 1 = 0"
    )
    since = now - dt.timedelta(days=s.min_days)
    recent = now - dt.timedelta(days=s.every_days)
    email = f"trim({_customer_value(s.email)})"
    language = f"lower(trim({_customer_value(s.language)}))"
    review, referral = "review" in s.asks, "referral" in s.asks
    promoter = "coalesce(nps.score >= " + literal(s.promoter_at_least) + ", FALSE)"
    may_refer = "TRUE" if not s.referral_promoters_only else promoter
    # a customer due both gets the kind asked longest ago (never asked first; a review on a tie)
    if review and referral:
        kind = (
            f"CASE WHEN NOT {may_refer} THEN 'review' "
            "WHEN a.last_referral IS NULL AND a.last_review IS NOT NULL THEN 'referral' "
            "WHEN a.last_review IS NULL THEN 'review' "
            "WHEN a.last_referral < a.last_review THEN 'referral' ELSE 'review' END"
        )
    else:
        kind = literal("review" if review else "referral")
    gate = f"WHEN NOT {may_refer} THEN 'not_promoter'" if referral and not review else ""
    return f"""
WITH ev AS (
  SELECT customer_id, min(ts) AS first_event,
         min(ts) FILTER (WHERE touchpoint = {literal(s.value_touchpoint)}) AS value_at
  FROM events WHERE ts <= {literal(now)} GROUP BY customer_id
),
churned AS ({churned}),
opted AS (SELECT DISTINCT customer_id FROM {optouts}),
a AS (
  SELECT customer_id, max(asked_at) AS last_at,
         max(asked_at) FILTER (WHERE kind = 'review') AS last_review,
         max(asked_at) FILTER (WHERE kind = 'referral') AS last_referral
  FROM {asks} GROUP BY customer_id
),
nps AS (
  SELECT customer_id, score FROM (
    SELECT customer_id, score, row_number() OVER (
      PARTITION BY customer_id ORDER BY ts DESC, response_id DESC) AS k
    FROM feedback WHERE metric = 'nps' AND score IS NOT NULL AND ts <= {literal(now)}
  ) AS latest WHERE k = 1
)
SELECT c.customer_id, {email} AS email,
  CASE WHEN {language} LIKE 'nl%' OR {language} IN ('dutch', 'nederlands', 'nld')
       THEN 'nl' ELSE 'en' END AS language,
  {promoter} AS promoter, {kind} AS kind,
  CASE
    WHEN ev.value_at IS NULL THEN 'not_reached'
    WHEN coalesce(c.first_seen, ev.first_event) > {literal(since)} THEN 'too_new'
    WHEN c.churned_at IS NOT NULL OR churned.customer_id IS NOT NULL THEN 'left'
    WHEN opted.customer_id IS NOT NULL THEN 'opted_out'
    WHEN {email} IS NULL OR NOT regexp_matches({email}, {literal(EMAIL_PATTERN)})
      THEN 'no_address'
    WHEN a.last_at > {literal(recent)} THEN 'asked_recently'
    {gate}
  END AS reason
FROM customers c
LEFT JOIN ev ON ev.customer_id = c.customer_id
LEFT JOIN churned ON churned.customer_id = c.customer_id
LEFT JOIN opted ON opted.customer_id = c.customer_id
LEFT JOIN a ON a.customer_id = c.customer_id
LEFT JOIN nps ON nps.customer_id = c.customer_id
"""


def plan_asks(
    warehouse: Any, journey: Any, now: dt.datetime | None = None, *, limit: int | None = None
) -> AskPlan:
    """Who would be asked at ``now``, and why the others would not (stores nothing)."""
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    s = read_settings(journey)
    if not s.active:
        return AskPlan(now, [], dict.fromkeys(REASONS, 0), {})
    table = f"cxray_asks_{uuid.uuid4().hex[:12]}"
    warehouse.sql(f"CREATE TEMP TABLE {table} AS {classify_sql(warehouse, journey, s, now)}")
    try:
        counted = warehouse.query(
            f"SELECT reason, count(*), min(customer_id, {SAMPLE}) FROM {table} "
            "WHERE reason IS NOT NULL GROUP BY reason"
        )
        totals = warehouse.query(
            f"SELECT kind, count(*) FROM {table} WHERE reason IS NULL GROUP BY kind"
        )
        rows = warehouse.query(
            f"SELECT customer_id, kind, email, language, promoter FROM {table} "
            "WHERE reason IS NULL ORDER BY customer_id"
            + ("" if limit is None else f" LIMIT {max(0, int(limit))}")
        )
    finally:
        warehouse.sql(f"DROP TABLE IF EXISTS {table}")
    counts = dict.fromkeys(REASONS, 0) | {r: int(n) for r, n, _ in counted}
    samples = {r: sorted(str(x) for x in sample) for r, _, sample in counted}
    due = [DueAsk(str(c), k, e, lang, bool(p)) for c, k, e, lang, p in rows]
    return AskPlan(now, due, counts, samples, {k: int(n) for k, n in sorted(totals)})


# -- asking -----------------------------------------------------------------------------------
def ask_id_of(customer_id: str, kind: str, now: dt.datetime) -> str:
    """The same customer, kind and day give the same id: a run repeated the same day asks once."""
    seed = f"advocacy:{customer_id}:{kind}:{now.date().isoformat()}"
    return "ask-" + hashlib.sha256(seed.encode()).hexdigest()[:16]


MAIL_TEXT = {
    "review": (
        Message(
            "How are we doing? A review would help others",
            "Hoe doen we het? Een review helpt anderen",
        ),
        Message(
            "Hello,\n\nYou have been with us for a while now. Would you tell others what you think "
            "of us, good or bad? Every honest review helps.\n\n{url}\n\nThank you.\n",
            "Hallo,\n\nU bent al een tijdje klant bij ons. Wilt u anderen vertellen wat u van ons "
            "vindt, goed of slecht? Elke eerlijke review helpt.\n\n{url}\n\nDank u wel.\n",
        ),
    ),
    "referral": (
        Message("Know someone who would like us too?", "Kent u iemand die ons ook zou waarderen?"),
        Message(
            "Hello,\n\nThank you for your kind words. If you know someone who would like us "
            "too, you can introduce them here:\n\n{url}\n\nThank you.\n",
            "Hallo,\n\nDank u voor uw mooie woorden. Kent u iemand die ons ook zou waarderen? "
            "Dan kunt u die hier aanbevelen:\n\n{url}\n\nDank u wel.\n",
        ),
    ),
}


@dataclass(frozen=True)
class Asked:
    asked: dict[str, int]  # kind -> asks made
    skipped_bounced: int
    plan: AskPlan

    @property
    def total(self) -> int:
        return sum(self.asked.values())

    def summary(self, lang: str = "en") -> str:
        made = ", ".join(f"{n} {KIND_WORDS[k][lang]}" for k, n in self.asked.items()) or "0"
        if lang == "nl":
            return f"Gevraagd: {made}; overgeslagen (onbestelbaar adres): {self.skipped_bounced}."
        return f"Asked: {made}; skipped (bounced address): {self.skipped_bounced}."


CHUNK = 500  # asks (each with its mail) per transaction
JOB_LIMIT = 2000  # asks per hourly run (about 6 ms each): a big first backlog spreads out


def make_asks(
    warehouse: Any, journey: Any, now: dt.datetime | None = None, *, limit: int | None = None
) -> Asked:
    """Store the due asks (at most ``limit``) and queue their mails: an ask and its mail are
    stored together or not at all (a few hundred to a transaction)."""
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    s = read_settings(journey)
    plan = plan_asks(warehouse, journey, now, limit=limit)
    ensure_table(warehouse)
    outbox.ensure_table(warehouse)
    asked: dict[str, int] = {}
    bounced = 0
    for start in range(0, len(plan.due), CHUNK):
        with warehouse.transaction():
            for due in plan.due[start : start + CHUNK]:
                if outbox.is_bounced(warehouse, due.email):  # enqueue would refuse it
                    bounced += 1
                    continue
                ask_id = ask_id_of(due.customer_id, due.kind, now)
                if warehouse.query(f"SELECT 1 FROM {TABLE} WHERE ask_id = ?", [ask_id]):
                    continue
                subject, text = MAIL_TEXT[due.kind]
                url = s.review_url if due.kind == "review" else s.referral_url
                mail = outbox.Mail(
                    recipient=due.email, subject=subject.text(due.language),
                    text=text.text(due.language).format(url=url), kind=f"advocacy-{due.kind}",
                    ref=ask_id,
                )  # fmt: skip
                message_id = outbox.enqueue(warehouse, mail, now)
                warehouse.sql(
                    f"INSERT INTO {TABLE} (ask_id, customer_id, kind, asked_at, channel, "
                    f"language, message_id, result) VALUES (?, ?, ?, {literal(now)}, 'email', "
                    "?, ?, 'none')",
                    [ask_id, due.customer_id, due.kind, due.language, message_id],
                )
                asked[due.kind] = asked.get(due.kind, 0) + 1
    return Asked(dict(sorted(asked.items())), bounced, plan)


@dataclass(frozen=True)
class Ask:
    ask_id: str
    customer_id: str
    kind: str
    asked_at: dt.datetime
    channel: str
    language: str | None
    message_id: str | None
    result: str
    result_at: dt.datetime | None
    result_by: str | None

    def to_dict(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, dt.datetime) else v)
                for k, v in self.__dict__.items()}  # fmt: skip


_SELECT = (
    f"SELECT ask_id, customer_id, kind, {utc('asked_at')}, channel, language, message_id, "
    f"result, {utc('result_at')}, result_by FROM {TABLE}"
)


def _ask(row: tuple) -> Ask:
    a = list(row)
    a[3], a[8] = from_utc(a[3]), from_utc(a[8])
    return Ask(*a)


def list_asks(
    warehouse: Any, *, result: str | None = None, kind: str | None = None,
    customer_id: str | None = None, limit: int = 100,
) -> list[Ask]:  # fmt: skip
    """Asks, the latest first (none when nothing was ever asked)."""
    if not table_exists(warehouse, TABLE):
        return []
    where, params = ["TRUE"], []
    for column, value in (("result", result), ("kind", kind), ("customer_id", customer_id)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    rows = warehouse.query(
        f"{_SELECT} WHERE {' AND '.join(where)} ORDER BY asked_at DESC, ask_id "
        f"LIMIT {max(1, min(int(limit), 10_000))}",
        params,
    )
    return [_ask(r) for r in rows]


def get_ask(warehouse: Any, ask_id: str) -> Ask | None:
    if not table_exists(warehouse, TABLE):
        return None
    rows = warehouse.query(f"{_SELECT} WHERE ask_id = ?", [ask_id])
    return _ask(rows[0]) if rows else None


def record_result(
    warehouse: Any, ask_id: str, result: str, *, actor: str = "cxray",
    now: dt.datetime | None = None,
) -> Ask:  # fmt: skip
    """Record what came of an ask: clicked, reviewed, referred (or none again)."""
    if result not in RESULTS:
        raise AdvocacyError(Message(f"result must be one of {', '.join(RESULTS)}; got {result!r}",
                                    f"resultaat moet een van {', '.join(RESULTS)} zijn; "
                                    f"niet {result!r}"))  # fmt: skip
    if get_ask(warehouse, ask_id) is None:
        raise AdvocacyError(Message(f"no ask {ask_id!r}", f"geen vraag {ask_id!r}"))
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    warehouse.sql(
        f"UPDATE {TABLE} SET result = ?, result_at = {literal(None if result == 'none' else now)}, "
        "result_by = ? WHERE ask_id = ?",
        [result, actor, ask_id],
    )
    return get_ask(warehouse, ask_id)  # type: ignore[return-value]


def _job(context: jobs.JobContext) -> Message:
    with context.borrow() as warehouse:
        done = make_asks(warehouse, context.journey, context.now, limit=JOB_LIMIT)
    return Message(done.summary("en"), done.summary("nl"))


ASK_JOB = jobs.register(
    jobs.Job(
        "advocacy-asks",
        Message("ask for reviews and referrals", "vraag om reviews en doorverwijzingen"),
        _job,
        every=3600.0,
    )
)

__all__ = [
    "KINDS", "REASONS", "RESULTS", "TABLE", "AdvocacyError", "AdvocacySettings", "Ask",
    "AskPlan", "Asked", "Checker", "get_ask", "list_asks", "make_asks", "plan_asks",
    "read_settings", "record_result",
]  # fmt: skip
