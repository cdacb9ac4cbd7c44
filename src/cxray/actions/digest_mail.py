"""The weekly digest as a mail, and the job that queues it.

Each recipient of ``[digest]`` (the whole company's ``everyone``, each team's ``recipients``)
gets one mail per week through the outbox, with ``ref = "WEEK:TEAM:ADDRESS"`` (``TEAM`` is
``all`` for the whole company), so a week's digest is queued once per recipient however often
the job runs. The job (every hour in ``cxray serve``) queues the digest of the last complete
week once this week's ``weekday`` and ``hour`` have passed. Every value in the HTML is escaped.
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass, field
from typing import Any

from cxray.actions import jobs, outbox
from cxray.actions.digest import Digest, Week, digest, last_complete_week
from cxray.actions.digest_settings import DigestSettings, read_settings
from cxray.i18n import Message, count_of, number

KIND = "digest"
EVERY_SECONDS = 3600.0
WHOLE = "all"  # the team part of the ref for the whole company's digest


def ref_of(week: Week, team: str | None, recipient: str) -> str:
    return f"{week.label}:{team or WHOLE}:{recipient.strip().lower()}"


def subject(result: Digest, lang: str = "en") -> str:
    return result.title(lang)


def mail_text(result: Digest, lang: str = "en") -> str:
    """The digest as plain text: its sentences, the detractors' comments, a closing line."""
    lines = [result.title(lang), "", *_paragraphs(result, lang)]
    comments = comment_lines(result, lang)
    if comments:
        lines += ["", comment_head(lang), *comments]
    lines += ["", _footer(lang)]
    return "\n".join(lines) + "\n"


def mail_html(result: Digest, lang: str = "en") -> str:
    """The digest as a small HTML page (no images, no scripts; everything escaped)."""
    e = html.escape
    parts = "".join(f"<p>{e(text)}</p>\n" for text in _paragraphs(result, lang))
    comments = comment_lines(result, lang)
    listed = ""
    if comments:
        items = "".join(f"<li>{e(line.removeprefix('- '))}</li>" for line in comments)
        listed = f"<h2>{e(comment_head(lang))}</h2>\n<ul>{items}</ul>\n"
    return (
        f'<!doctype html>\n<html lang="{lang}"><head><meta charset="utf-8">'
        f"<title>{e(result.title(lang))}</title></head>\n"
        '<body style="font-family: sans-serif; max-width: 40em; line-height: 1.45">\n'
        f"<h1>{e(result.title(lang))}</h1>\n{parts}{listed}"
        f'<p style="color: #555">{e(_footer(lang))}</p>\n</body></html>\n'
    )


def _paragraphs(result: Digest, lang: str) -> list[str]:
    return result.sentences(lang)


def comment_head(lang: str) -> str:
    return "What detractors said" if lang == "en" else "Wat criticasters zeiden"


def comment_lines(result: Digest, lang: str) -> list[str]:
    """The detractors' comments, one line each, quoted (they are the customers' words)."""
    lines = []
    for said in result.comments:
        where = f", {said['touchpoint']}" if said.get("touchpoint") else ""
        score = number(said["score"], lang)
        lines.append(f"- “{said['comment']}” (score {score}{where})")
    return lines


def _footer(lang: str) -> str:
    if lang == "nl":
        return (
            "Dit weekoverzicht stuurt cxray elke week; de ontvangers staan onder [digest] in "
            "cxray.toml. In de app staat het op /digest."
        )
    return (
        "cxray sends this digest every week; its recipients are listed under [digest] in "
        "cxray.toml. The app shows it at /digest."
    )


@dataclass
class Queued:
    """What one run queued: per recipient its ref and whether it was new."""

    week: Week
    due: bool
    new: list[tuple[str | None, str]] = field(default_factory=list)  # (team, recipient)
    kept: list[tuple[str | None, str]] = field(default_factory=list)  # queued before
    refused: list[tuple[str | None, str, Message]] = field(default_factory=list)
    dry_run: bool = False

    def summary(self, lang: str = "en") -> str:
        nl = lang == "nl"
        if not self.due:
            return (
                f"het weekoverzicht van {self.week.label} is nog niet aan de beurt"
                if nl
                else f"the digest of {self.week.label} is not due yet"
            )
        made = count_of(len(self.new), lang, ("mail", "mails"), ("mail", "mails"))
        before, refused = number(len(self.kept), lang), number(len(self.refused), lang)
        if nl:
            verb = "klaar te zetten (proefrun)" if self.dry_run else "klaargezet"
            text = f"weekoverzicht {self.week.label}: {made} {verb}, {before} al eerder"
            return text + (f", {refused} geweigerd" if self.refused else "")
        verb = "would be queued" if self.dry_run else "queued"
        text = f"digest {self.week.label}: {made} {verb}, {before} queued before"
        return text + (f", {refused} refused" if self.refused else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "week": self.week.label,
            "due": self.due,
            "dry_run": self.dry_run,
            "new": [{"team": t, "recipient": r} for t, r in self.new],
            "kept": [{"team": t, "recipient": r} for t, r in self.kept],
            "refused": [{"team": t, "recipient": r, "why": m.en} for t, r, m in self.refused],
        }


def queue_digests(
    warehouse: Any,
    journey: Any,
    now: dt.datetime | None = None,
    *,
    week: Week | str | None = None,
    team: str | None = None,
    settings: DigestSettings | None = None,
    dry_run: bool = False,
    force: bool = False,
) -> Queued:
    """Queue the week's digest once for every recipient (or only ``team``'s). Without ``week``: the last complete week, and only once this week's
    weekday and hour have passed (``force`` queues it at once). ``dry_run`` queues nothing."""
    settings = settings or read_settings(journey)
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    if week is None:
        chosen = last_complete_week(now)
        due = force or now >= settings.due_at(now)
    else:
        chosen = Week.parse(week) if isinstance(week, str) else week
        due = True
    report = Queued(chosen, due, dry_run=dry_run)
    if not due:
        return report
    estimate = _once()  # the churn drivers are the same for every team: estimated once
    audiences = settings.audiences()
    if team is not None:
        audiences = [(t, to) for t, to in audiences if t == team]
    for who, addresses in audiences:
        waiting = [a for a in addresses if not _queued(warehouse, ref_of(chosen, who, a))]
        report.kept += [(who, a) for a in addresses if a not in waiting]
        if not waiting:
            continue  # every mail of this digest is queued: nothing to compute
        if dry_run:
            report.new += [(who, a) for a in waiting]
            continue
        made = digest(warehouse, journey, team=who, week=chosen, now=now, drivers=estimate)
        lang = settings.lang_of(who)
        text, page, title = mail_text(made, lang), mail_html(made, lang), subject(made, lang)
        with warehouse.transaction():  # one team's mails together, or none of them
            for address in waiting:
                ref = ref_of(chosen, who, address)
                mail = outbox.Mail(address, title, text, page, kind=KIND, ref=ref)
                try:
                    outbox.enqueue(warehouse, mail, now)
                except outbox.OutboxError as exc:  # a bounced address: the others still get it
                    report.refused.append((who, address, exc.args[0]))
                    continue
                report.new.append((who, address))
    return report


def _once() -> Any:
    """The churn drivers of the first view asked for, kept (or its error, raised again)."""
    kept: dict[str, Any] = {}

    def estimate(view: Any) -> Any:
        from cxray.analysis.drivers import drivers

        if "answer" not in kept:
            try:
                kept["answer"] = drivers(view)
            except Exception as exc:  # the same reason for every team
                kept["answer"] = exc
        if isinstance(kept["answer"], Exception):
            raise kept["answer"]
        return kept["answer"]

    return estimate


def _queued(warehouse: Any, ref: str) -> bool:
    if not outbox.has_table(warehouse):
        return False
    found = warehouse.query(
        f"SELECT 1 FROM {outbox.OUTBOX_TABLE} WHERE kind = ? AND ref = ?", [KIND, ref]
    )
    return bool(found)


def _digest_job(context: jobs.JobContext) -> Message:
    settings = read_settings(context.journey)
    if not settings.audiences():
        return Message(
            "no digest recipients in cxray.toml",
            "geen ontvangers van het weekoverzicht in cxray.toml",
        )
    with context.borrow() as warehouse:
        report = queue_digests(warehouse, context.journey, context.now, settings=settings)
    return Message(report.summary("en"), report.summary("nl"))


DIGEST_JOB = jobs.register(
    jobs.Job(
        "digest",
        Message("queue the weekly digest", "zet het weekoverzicht klaar"),
        _digest_job,
        every=EVERY_SECONDS,
    )
)

__all__ = [
    "DIGEST_JOB",
    "KIND",
    "Queued",
    "comment_head",
    "comment_lines",
    "mail_html",
    "mail_text",
    "queue_digests",
    "ref_of",
]
