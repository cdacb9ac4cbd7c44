"""The ``[followups]`` table of ``cxray.toml``: which answers open a follow-up, for whom, how soon.

```toml
[followups]
detractors = true            # every NPS answer of 0-6 opens one (the default)
bad_experience = ["csat"]    # also answers past the journey's [bad_experience] thresholds
                             # (true: every metric that has one)
due_hours = 48               # the time to work it
assign_to = "owner"          # the touchpoint's owner (default), or a person's name
default_owner = "service"    # who gets it when the touchpoint has no owner
within_days = 14             # only answers younger than this open one
holdout_share = 0.1          # keep 10% of them, at random, unworked: to measure the effect
escalate_after_hours = 24    # overdue this long: escalated ...
escalate_to = "cx-lead"      # ... to this person (else it stays with its assignee, flagged)
```

Unknown keys and wrong types are refused with the key named, in English and Dutch.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

from cxray.i18n import Message

SECTION = "followups"
DETRACTOR_AT_MOST = 6.0  # NPS: 0-6 is a detractor, by the metric's own definition
KEYS = {
    "enabled",
    "detractors",
    "bad_experience",
    "due_hours",
    "assign_to",
    "default_owner",
    "within_days",
    "holdout_share",
    "holdout_key",
    "escalate_after_hours",
    "escalate_to",
}
OWNER = "owner"
MAX_HOURS = 24 * 366  # a year: more is a typo, not a working agreement
MAX_NAME = 100


class FollowupRulesError(ValueError):
    """``[followups]`` in cxray.toml is invalid; raised with a bilingual Message naming the key."""


@dataclass(frozen=True)
class FollowupRules:
    """What opens a follow-up and how it is worked (see the module text for the keys)."""

    enabled: bool = True
    detractors: bool = True
    bad_experience: tuple[str, ...] = ()  # metrics whose bad-experience threshold opens one
    due_hours: float = 48.0
    assign_to: str = OWNER
    default_owner: str | None = None
    within_days: float = 14.0
    holdout_share: float = 0.0
    holdout_key: str = "cxray-holdout"
    escalate_after_hours: float = 24.0
    escalate_to: str | None = None

    def thresholds(self, journey: Any) -> dict[str, float]:
        """metric -> the highest score that opens a follow-up."""
        found: dict[str, float] = {}
        for metric in self.bad_experience:
            limit = journey.bad_experience.threshold(metric)
            if limit is not None:
                found[metric] = float(limit)
        if self.detractors:
            found["nps"] = max(found.get("nps", DETRACTOR_AT_MOST), DETRACTOR_AT_MOST)
        return found

    def assignee_for(self, journey: Any, touchpoint: str | None) -> str | None:
        """Who a follow-up of an answer about ``touchpoint`` goes to."""
        if self.assign_to != OWNER:
            return self.assign_to
        tp = journey.touchpoints.get(touchpoint) if touchpoint else None
        return (tp.owner if tp is not None else None) or self.default_owner

    def is_held_out(self, response_id: str) -> bool:
        """Whether the answer's follow-up is held out: a keyed hash, the same on every run."""
        return holdout_draw(self.holdout_key, response_id) < self.holdout_share

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "bad_experience": list(self.bad_experience)}


def holdout_draw(key: str, response_id: str) -> float:
    """A number in [0, 1) fixed by key and response id, uniform over response ids.

    The engine computes the same from the first 8 hex digits of the MD5 (see followups.py):
    tests hold the two equal.
    """
    digest = hashlib.md5(f"{key}:{response_id}".encode(), usedforsecurity=False).hexdigest()
    return int(digest[:8], 16) / 2**32


def rules_of(journey: Any, source: str = "cxray.toml") -> FollowupRules:
    """The journey's ``[followups]`` rules (defaults where the table or a key is absent)."""
    raw = (getattr(journey, "settings", None) or {}).get(SECTION, {})
    return parse_rules(raw, journey, source)


def parse_rules(raw: Any, journey: Any = None, source: str = "cxray.toml") -> FollowupRules:
    def fail(en: str, nl: str) -> FollowupRulesError:
        return FollowupRulesError(
            Message(f"{source}: [{SECTION}] {en}", f"{source}: [{SECTION}] {nl}")
        )

    if not isinstance(raw, dict):
        raise fail(
            "must be a table ([followups] on a line of its own, keys below it)",
            "moet een tabel zijn ([followups] op een eigen regel, de sleutels eronder)",
        )
    unknown = sorted(set(raw) - KEYS)
    if unknown:
        names, known = ", ".join(repr(k) for k in unknown), ", ".join(sorted(KEYS))
        word_en = "unknown key" if len(unknown) == 1 else "unknown keys"
        word_nl = "onbekende sleutel" if len(unknown) == 1 else "onbekende sleutels"
        raise fail(f"{word_en} {names} (known: {known})", f"{word_nl} {names} (bekend: {known})")

    def flag(key: str, default: bool) -> bool:
        value = raw.get(key, default)
        if not isinstance(value, bool):
            raise fail(
                f"'{key}' must be true or false (without quotes)",
                f"'{key}' moet true of false zijn (zonder aanhalingstekens)",
            )
        return value

    def number(key: str, default: float, low: float, high: float, *, low_open: bool) -> float:
        value = raw.get(key, default)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise fail(f"'{key}' must be a number", f"'{key}' moet een getal zijn")
        too_low = value <= low if low_open else value < low
        if too_low or value > high:
            side_en = "above" if low_open else "at least"
            side_nl = "boven" if low_open else "minstens"
            raise fail(
                f"'{key} = {value}' must be {side_en} {low:g} and at most {high:g}",
                f"'{key} = {value}' moet {side_nl} {low:g} en hoogstens {high:g} zijn",
            )
        return float(value)

    def text(key: str, default: str | None) -> str | None:
        value = raw.get(key, default)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME:
            raise fail(
                f"'{key}' must be a name in quotes (at most {MAX_NAME} characters), "
                f'e.g. {key} = "service"',
                f"'{key}' moet een naam tussen aanhalingstekens zijn (hoogstens {MAX_NAME} "
                f'tekens), bijv. {key} = "service"',
            )
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise fail(f"'{key}' holds a control character", f"'{key}' bevat een stuurteken")
        return value.strip()

    bad = raw.get("bad_experience", False)
    known = set(journey.bad_experience.thresholds) if journey is not None else None
    if bad is True:
        metrics = tuple(sorted(known or ()))
    elif bad is False:
        metrics = ()
    elif isinstance(bad, list) and all(isinstance(m, str) for m in bad):
        metrics = tuple(dict.fromkeys(bad))
        missing = sorted(set(metrics) - known) if known is not None else []
        if missing:
            listed = ", ".join(sorted(known or ())) or "-"
            raise fail(
                f"'bad_experience' names {', '.join(map(repr, missing))}, which has no threshold "
                f"in [bad_experience] (thresholds: {listed})",
                f"'bad_experience' noemt {', '.join(map(repr, missing))}, dat geen drempel heeft "
                f"in [bad_experience] (drempels: {listed})",
            )
    else:
        raise fail(
            '\'bad_experience\' must be true, false or a list of metrics, e.g. ["csat", "ces"]',
            "'bad_experience' moet true, false of een lijst van metrieken zijn, "
            'bijv. ["csat", "ces"]',
        )
    rules = FollowupRules(
        enabled=flag("enabled", True),
        detractors=flag("detractors", True),
        bad_experience=metrics,
        due_hours=number("due_hours", 48, 0, MAX_HOURS, low_open=True),
        assign_to=text("assign_to", OWNER) or OWNER,
        default_owner=text("default_owner", None),
        within_days=number("within_days", 14, 0, 36_525, low_open=True),
        holdout_share=number("holdout_share", 0, 0, 0.9, low_open=False),
        holdout_key=text("holdout_key", "cxray-holdout") or "cxray-holdout",
        escalate_after_hours=number("escalate_after_hours", 24, 0, MAX_HOURS, low_open=False),
        escalate_to=text("escalate_to", None),
    )
    return rules


__all__ = [
    "DETRACTOR_AT_MOST",
    "FollowupRules",
    "FollowupRulesError",
    "holdout_draw",
    "parse_rules",
    "rules_of",
]
