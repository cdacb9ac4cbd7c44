"""The ``[digest]`` table of ``cxray.toml``: when the weekly digest goes out and to whom.

::

    [digest]
    weekday = "monday"          # the day it is sent (default monday)
    hour = 8                    # from this hour on (UTC, default 8)
    lang = "nl"                 # the mail's language (default en)
    everyone = ["cx@shop.example"]               # the whole company's digest
    recipients = { logistics = ["log@shop.example"] }  # one team's: the touchpoints it owns

    [digest.teams.service]      # the same as a table, with its own language
    recipients = ["desk@shop.example"]
    lang = "en"

A team is an ``owner`` the journey names for a touchpoint; an unknown team, an unknown key or a
value of the wrong kind is refused with the key named, in English and Dutch.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from cxray.i18n import Message

SECTION = "digest"
KEYS = {"weekday", "hour", "lang", "everyone", "recipients", "teams"}
TEAM_KEYS = {"recipients", "lang"}
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
WEEKDAYS_NL = ("maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag")
LANGS = ("en", "nl")
MAX_RECIPIENTS = 200
FIRST_YEAR, LAST_YEAR = 1900, 2200
_WEEK = re.compile(r"^(\d{4})-?W(\d{1,2})$", re.IGNORECASE)
_ADDRESS = re.compile(r"^[^@\s<>,;\"']+@[^@\s<>,;\"']+\.[^@\s<>,;\"']+$")


class DigestSettingsError(ValueError):
    """A ``[digest]`` table that cannot be read; raised with a bilingual Message."""


class DigestError(ValueError):
    """A digest that cannot be made as asked (an unknown team, a week that is no week)."""


@dataclass(frozen=True)
class DigestSettings:
    weekday: int = 0  # 0 is Monday, as datetime.weekday()
    hour: int = 8
    lang: str = "en"
    everyone: tuple[str, ...] = ()
    teams: dict[str, tuple[str, ...]] = field(default_factory=dict)
    team_langs: dict[str, str] = field(default_factory=dict)

    def lang_of(self, team: str | None) -> str:
        return self.team_langs.get(team or "", self.lang)

    def audiences(self) -> list[tuple[str | None, tuple[str, ...]]]:
        """(team, addresses): the whole company first (team None), then each team by name."""
        found: list[tuple[str | None, tuple[str, ...]]] = []
        if self.everyone:
            found.append((None, self.everyone))
        found += [(team, self.teams[team]) for team in sorted(self.teams) if self.teams[team]]
        return found

    def due_at(self, now: dt.datetime) -> dt.datetime:
        """The moment this calendar week's digest is due (UTC)."""
        monday = (
            now.astimezone(dt.UTC) - dt.timedelta(days=now.astimezone(dt.UTC).weekday())
        ).date()
        day = monday + dt.timedelta(days=self.weekday)
        return dt.datetime(day.year, day.month, day.day, self.hour, tzinfo=dt.UTC)

    def to_dict(self) -> dict[str, Any]:
        return {
            "weekday": WEEKDAYS[self.weekday],
            "hour": self.hour,
            "lang": self.lang,
            "everyone": list(self.everyone),
            "teams": {team: list(addresses) for team, addresses in sorted(self.teams.items())},
        }


def read_settings(journey: Any, source: str = "cxray.toml") -> DigestSettings:
    """The journey's ``[digest]`` settings (defaults where the table or a key is absent)."""
    raw = (getattr(journey, "settings", None) or {}).get(SECTION, {})
    owners = {tp.owner for tp in journey.touchpoints.values() if tp.owner}
    return parse_settings(raw, owners, source)


def parse_settings(
    raw: Any, owners: set[str] | None = None, source: str = "cxray.toml"
) -> DigestSettings:
    """Check ``raw`` (the ``[digest]`` table as TOML gives it); ``owners``: the known teams."""

    def fail(where: str, en: str, nl: str) -> DigestSettingsError:
        return DigestSettingsError(
            Message(f"{source}: [{where}] {en}", f"{source}: [{where}] {nl}")
        )

    if not isinstance(raw, dict):
        raise fail(
            SECTION,
            "must be a table ([digest] on a line of its own, keys below it)",
            "moet een tabel zijn ([digest] op een eigen regel, de sleutels eronder)",
        )
    _refuse_unknown(raw, KEYS, SECTION, fail)
    weekday = raw.get("weekday", "monday")
    if not isinstance(weekday, str) or weekday.strip().lower() not in (*WEEKDAYS, *WEEKDAYS_NL):
        raise fail(
            SECTION,
            f"'weekday' must be a day in quotes, one of: {', '.join(WEEKDAYS)}",
            f"'weekday' moet een dag tussen aanhalingstekens zijn, een van: {', '.join(WEEKDAYS)}",
        )
    day = weekday.strip().lower()
    day_number = WEEKDAYS.index(day) if day in WEEKDAYS else WEEKDAYS_NL.index(day)
    hour = raw.get("hour", 8)
    if isinstance(hour, bool) or not isinstance(hour, int) or not 0 <= hour <= 23:
        raise fail(
            SECTION,
            f"'hour' must be a whole hour from 0 to 23 (UTC), not {hour!r}",
            f"'hour' moet een heel uur van 0 tot en met 23 zijn (UTC), niet {hour!r}",
        )
    lang = _lang(raw, "en", SECTION, fail)
    everyone = _addresses(raw.get("everyone", []), "everyone", SECTION, fail)
    teams: dict[str, tuple[str, ...]] = {}
    langs: dict[str, str] = {}
    listed = raw.get("recipients", {})
    if not isinstance(listed, dict):
        raise fail(
            SECTION,
            "'recipients' must map teams to addresses, e.g. "
            'recipients = { logistics = ["log@shop.example"] }',
            "'recipients' moet teams aan adressen koppelen, bijv. "
            'recipients = { logistics = ["log@shop.example"] }',
        )
    for team, addresses in listed.items():
        teams[team] = _addresses(addresses, f"recipients.{team}", SECTION, fail)
    tables = raw.get("teams", {})
    if not isinstance(tables, dict):
        raise fail(
            f"{SECTION}.teams",
            "must hold one table per team, e.g. [digest.teams.logistics]",
            "moet één tabel per team bevatten, bijv. [digest.teams.logistics]",
        )
    for team, table in tables.items():
        where = f"{SECTION}.teams.{team}"
        if not isinstance(table, dict):
            raise fail(
                where,
                "must be a table with 'recipients' (and 'lang')",
                "moet een tabel zijn met 'recipients' (en 'lang')",
            )
        _refuse_unknown(table, TEAM_KEYS, where, fail)
        found = _addresses(table.get("recipients", []), "recipients", where, fail)
        teams[team] = tuple(dict.fromkeys((*teams.get(team, ()), *found)))
        if "lang" in table:
            langs[team] = _lang(table, lang, where, fail)
    if owners is not None:
        unknown = sorted(set(teams) - owners)
        if unknown:
            known = ", ".join(sorted(owners)) or "-"
            names = ", ".join(repr(team) for team in unknown)
            raise fail(
                SECTION,
                f"{names} is not a team the journey names as a touchpoint's owner "
                f"(owners: {known})",
                f"{names} is geen team dat de klantreis als eigenaar van een contactmoment "
                f"noemt (eigenaars: {known})",
            )
    return DigestSettings(day_number, hour, lang, everyone, teams, langs)


def _refuse_unknown(table: dict[str, Any], known: set[str], where: str, fail: Any) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        names, listed = ", ".join(repr(k) for k in unknown), ", ".join(sorted(known))
        one = len(unknown) == 1
        raise fail(
            where,
            f"{'unknown key' if one else 'unknown keys'} {names} (known: {listed})",
            f"{'onbekende sleutel' if one else 'onbekende sleutels'} {names} (bekend: {listed})",
        )


def _lang(table: dict[str, Any], default: str, where: str, fail: Any) -> str:
    value = table.get("lang", default)
    if value not in LANGS:
        raise fail(
            where,
            f'\'lang\' must be "en" or "nl", not {value!r}',
            f'\'lang\' moet "en" of "nl" zijn, niet {value!r}',
        )
    return str(value)


def _addresses(value: Any, key: str, where: str, fail: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]  # one address without the brackets reads as meant
    if not isinstance(value, list) or len(value) > MAX_RECIPIENTS:
        raise fail(
            where,
            f"'{key}' must be a list of at most {MAX_RECIPIENTS} e-mail addresses, "
            f'e.g. {key} = ["team@shop.example"]',
            f"'{key}' moet een lijst van hoogstens {MAX_RECIPIENTS} e-mailadressen zijn, "
            f'bijv. {key} = ["team@shop.example"]',
        )
    found = []
    for address in value:
        if not isinstance(address, str) or not _ADDRESS.match(address.strip()):
            raise fail(
                where,
                f"'{key}': {address!r} is not an e-mail address",
                f"'{key}': {address!r} is geen e-mailadres",
            )
        found.append(address.strip())
    return tuple(dict.fromkeys(found))


@dataclass(frozen=True, order=True)
class Week:
    """An ISO calendar week: Monday 00:00 UTC to the next Monday."""

    year: int
    number: int

    @classmethod
    def of(cls, moment: dt.datetime | dt.date) -> Week:
        day = moment.astimezone(dt.UTC).date() if isinstance(moment, dt.datetime) else moment
        year, number, _ = day.isocalendar()
        return cls(year, number)

    @classmethod
    def parse(cls, text: str) -> Week:
        """``2026-W48`` (or ``2026W48``); a date names the week it falls in."""
        found = _WEEK.match(text.strip())
        try:
            if found:
                week = cls(int(found.group(1)), int(found.group(2)))
                week.start  # noqa: B018  (refuses week 53 of a year without one)
            else:
                week = cls.of(dt.date.fromisoformat(text.strip()))
            if not FIRST_YEAR <= week.year <= LAST_YEAR:  # as the importers: no 9999 placeholders
                raise ValueError(week.year)
            return week
        except ValueError:
            raise DigestError(
                Message(
                    f"{text!r} is not a week: write it as 2026-W48 (or a date in it, 2026-11-23)",
                    f"{text!r} is geen week: schrijf 2026-W48 (of een datum erin, 2026-11-23)",
                )
            ) from None

    @property
    def start(self) -> dt.datetime:
        day = dt.date.fromisocalendar(self.year, self.number, 1)
        return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)

    @property
    def end(self) -> dt.datetime:
        return self.start + dt.timedelta(days=7)

    @property
    def label(self) -> str:
        return f"{self.year}-W{self.number:02d}"

    def previous(self) -> Week:
        return Week.of(self.start - dt.timedelta(days=1))

    def words(self, lang: str) -> str:
        last = (self.end - dt.timedelta(days=1)).date()
        if lang == "nl":
            return f"week {self.number} van {self.year} ({self.start.date()} t/m {last})"
        return f"week {self.number} of {self.year} ({self.start.date()} to {last})"

    def __str__(self) -> str:
        return self.label


def last_complete_week(moment: dt.datetime) -> Week:
    """The last week that ended at or before ``moment``."""
    return Week.of(moment).previous()


__all__ = [
    "SECTION",
    "WEEKDAYS",
    "DigestError",
    "DigestSettings",
    "DigestSettingsError",
    "Week",
    "last_complete_week",
    "parse_settings",
    "read_settings",
]
