"""The journey definition: phases, touchpoints, churn and bad-experience rules, score scales.

It lives in the workspace's ``cxray.toml``. Reading validates it and names the key at fault;
writing goes through tomlkit so the comments a user put in the file survive when cxray adds
touchpoints it discovered in imported data.
"""

from __future__ import annotations

import codecs
import difflib
import math
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cxray.files import fsync_folder, write_atomically  # noqa: F401
from cxray.i18n import Message, days, plural
from cxray.labels import UNASSIGNED

if TYPE_CHECKING:
    import tomlkit


TEMPLATES: dict[str, list[str]] = {
    "five-phase": ["awareness", "consideration", "conversion", "loyalty", "advocacy"],
    "aacsd": ["awareness", "consideration", "action", "service", "delight"],
    "coleman": [
        "assess",
        "admit",
        "affirm",
        "activate",
        "acclimate",
        "accomplish",
        "adopt",
        "advocate",
    ],
}

CHANNELS = ("web", "app", "email", "phone", "store", "social", "logistics", "mail", "other")


class JourneyError(ValueError):
    """The journey file is invalid; the message names the file and the key.

    Raised with a :class:`~cxray.i18n.Message`: ``str()`` is English, ``text_of(exc, "nl")``
    Dutch."""


@dataclass(frozen=True)
class Scale:
    min: float
    max: float
    higher_is_easier: bool = True  # only meaningful for CES

    def contains(self, score: float) -> bool:
        return self.min <= score <= self.max


DEFAULT_SCALES: dict[str, Scale] = {
    "nps": Scale(0, 10),
    "csat": Scale(1, 5),
    "ces": Scale(1, 7, higher_is_easier=True),
    "rating": Scale(1, 5),
}


@dataclass(frozen=True)
class Touchpoint:
    name: str
    phase: str = UNASSIGNED
    channel: str | None = None
    owner: str | None = None
    bad_experience: bool = False
    moment_of_truth: bool = False
    label: str | None = None


@dataclass(frozen=True)
class ChurnRule:
    touchpoints: tuple[str, ...] = ()
    inactive_days: int | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.touchpoints) or self.inactive_days is not None


DEFAULT_BAD_THRESHOLDS: dict[str, float] = {"nps": 6, "csat": 2, "ces": 3}


@dataclass(frozen=True)
class BadExperienceRule:
    """Feedback thresholds that make an answer a bad experience (touchpoint flags live on touchpoints).

    ``thresholds`` maps a metric to the highest score that still counts as bad
    (``[bad_experience] <metric>_at_most``); any metric with a scale may have one, e.g.
    ``rating_at_most = 2`` for star ratings.
    """

    thresholds: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_BAD_THRESHOLDS))

    def threshold(self, metric: str) -> float | None:
        return self.thresholds.get(metric)

    @property
    def metrics(self) -> list[str]:
        """The metrics that have a bad-experience threshold, in a stable order."""
        return sorted(self.thresholds)

    def __getattr__(self, name: str) -> float | None:
        # nps_at_most, csat_at_most, ...: the names used in cxray.toml
        if name.endswith("_at_most"):
            return self.thresholds.get(name[: -len("_at_most")])
        raise AttributeError(name)

    def to_dict(self) -> dict[str, float]:
        return {f"{m}_at_most": v for m, v in sorted(self.thresholds.items())}


@dataclass(frozen=True)
class Journey:
    name: str
    phases: tuple[str, ...]
    touchpoints: dict[str, Touchpoint] = field(default_factory=dict)
    churn: ChurnRule = field(default_factory=ChurnRule)
    bad_experience: BadExperienceRule = field(default_factory=BadExperienceRule)
    scales: dict[str, Scale] = field(default_factory=lambda: dict(DEFAULT_SCALES))
    warehouse_url: str | None = None
    # the tables the listening and acting layers read ([surveys], [mail], [followups], ...),
    # kept as written: cxray.surveys and cxray.actions check them and name the key at fault
    settings: dict[str, dict] = field(default_factory=dict)

    # -- questions the rest of cxray asks of a journey ------------------------------------
    def phase_of(self, touchpoint: str) -> str:
        tp = self.touchpoints.get(touchpoint)
        return tp.phase if tp else UNASSIGNED

    def phase_index(self, phase: str) -> int | None:
        return self.phases.index(phase) if phase in self.phases else None

    @property
    def bad_touchpoints(self) -> list[str]:
        return [name for name, tp in self.touchpoints.items() if tp.bad_experience]

    @property
    def unassigned(self) -> list[str]:
        return [name for name, tp in self.touchpoints.items() if tp.phase == UNASSIGNED]

    def scale(self, metric: str) -> Scale | None:
        return self.scales.get(metric)

    def closest_touchpoint(self, name: str) -> str | None:
        """The known touchpoint a new name is most likely a typo of, if any."""
        known = [n for n, tp in self.touchpoints.items() if tp.phase != UNASSIGNED] or list(
            self.touchpoints
        )
        matches = difflib.get_close_matches(name, known, n=1, cutoff=0.8)
        return matches[0] if matches else None

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "phases": list(self.phases),
            "touchpoints": {
                n: {k: v for k, v in tp.__dict__.items() if k != "name" and v not in (None, False)}
                for n, tp in self.touchpoints.items()
            },
            "churn": {
                "touchpoints": list(self.churn.touchpoints),
                "inactive_days": self.churn.inactive_days,
            },
            "bad_experience": self.bad_experience.to_dict(),
            "scales": {m: dict(s.__dict__) for m, s in self.scales.items()},
        }


# -- reading ------------------------------------------------------------------------------
def load(path: Path) -> Journey:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise _error(
            f"{path}: no journey file here (create one with 'cxray init')",
            f"{path}: hier is geen journeybestand (maak er een met 'cxray init')",
        ) from None
    except IsADirectoryError:
        raise _error(
            f"{path}: is a folder, not a journey file", f"{path}: is een map, geen journeybestand"
        ) from None
    except OSError as exc:
        reason = exc.strerror or exc
        raise _error(
            f"{path}: cannot be read ({reason})", f"{path}: kan niet worden gelezen ({reason})"
        ) from None
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise _error(
            f"{path}: the file is saved as UTF-16; save it as UTF-8",
            f"{path}: het bestand is opgeslagen als UTF-16; sla het op als UTF-8",
        )
    try:
        text = raw.decode("utf-8-sig")  # Windows editors may start a UTF-8 file with a BOM
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise _error(
            f"{path}: line {line}: not UTF-8 text; save the journey file as UTF-8",
            f"{path}: regel {line}: geen UTF-8-tekst; sla het journeybestand op als UTF-8",
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _error(f"{path}: not valid TOML: {exc}", _toml_error_nl(path, exc)) from None
    return from_dict(data, source=str(path))


def _error(en: str, nl: str) -> JourneyError:
    return JourneyError(Message(en, nl))


def _toml_error_nl(path: Path, exc: tomllib.TOMLDecodeError) -> str:
    """The parser explains in English; the Dutch text says where, and quotes the parser."""
    found = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
    where = f" (regel {found[1]}, kolom {found[2]})" if found else ""
    detail = str(exc).split(" (at ", 1)[0]
    return f"{path}: geen geldige TOML{where}: {detail}"


def from_dict(data: dict, source: str = "cxray.toml") -> Journey:
    def fail(key: str, reason: Message) -> JourneyError:
        return JourneyError(
            Message(f"{source}: [{key}] {reason.en}", f"{source}: [{key}] {reason.nl}")
        )

    M = Message

    _refuse_unknown(data, SECTIONS, "", fail)
    section = data.get("journey", {})
    _refuse_unknown(section, {"name", "template", "phases"}, "journey", fail)
    phases = section.get("phases")
    if not isinstance(phases, list) or not phases or not all(isinstance(p, str) for p in phases):
        raise fail(
            "journey",
            M(
                "'phases' must be a non-empty list of phase names, in order",
                "'phases' moet een niet-lege lijst van fasenamen zijn, op volgorde",
            ),
        )
    if len(set(phases)) != len(phases):
        raise fail(
            "journey", M("'phases' lists a phase twice", "'phases' noemt een fase twee keer")
        )
    if UNASSIGNED in phases:
        raise fail(
            "journey",
            M(
                f"'{UNASSIGNED}' is reserved for touchpoints without a phase",
                f"'{UNASSIGNED}' is gereserveerd voor contactmomenten zonder fase",
            ),
        )
    name = _text(section, "name", "journey", fail) or "Journey"
    _text(section, "template", "journey", fail)

    touchpoints: dict[str, Touchpoint] = {}
    tp_section = data.get("touchpoints", {})
    _require_table(tp_section, "touchpoints", fail)
    for tp_name, spec in tp_section.items():
        where = f"touchpoints.{tp_name}"
        if not isinstance(spec, dict):
            raise fail(
                where,
                M(
                    'must be a table, e.g. phase = "conversion"',
                    'moet een tabel zijn, bijv. phase = "conversion"',
                ),
            )
        _refuse_unknown(spec, TOUCHPOINT_KEYS, where, fail)
        phase = _text(spec, "phase", where, fail)
        phase = UNASSIGNED if phase is None else phase
        if phase != UNASSIGNED and phase not in phases:
            listed = ", ".join(phases)
            raise fail(
                where,
                M(
                    f"phase {phase!r} is not one of the journey's phases ({listed})",
                    f"fase {phase!r} is geen van de fasen van de journey ({listed})",
                ),
            )
        touchpoints[tp_name] = Touchpoint(
            name=tp_name,
            phase=phase,
            channel=_text(spec, "channel", where, fail),
            owner=_text(spec, "owner", where, fail),
            bad_experience=_flag(spec, "bad_experience", where, fail, default=False),
            moment_of_truth=_flag(spec, "moment_of_truth", where, fail, default=False),
            label=_text(spec, "label", where, fail),
        )

    churn_data = data.get("churn", {})
    _refuse_unknown(churn_data, {"touchpoints", "inactive_days"}, "churn", fail)
    inactive = churn_data.get("inactive_days")
    if inactive is not None and (
        isinstance(inactive, bool) or not isinstance(inactive, int) or inactive <= 0
    ):
        raise fail(
            "churn",
            M(
                "'inactive_days' must be a positive whole number of days",
                "'inactive_days' moet een positief geheel aantal dagen zijn",
            ),
        )
    if inactive is not None and inactive > MAX_INACTIVE_DAYS:
        raise fail(
            "churn",
            M(
                f"'inactive_days = {inactive}' is more than 100 years ({days(MAX_INACTIVE_DAYS, 'en')})",
                f"'inactive_days = {inactive}' is meer dan 100 jaar ({days(MAX_INACTIVE_DAYS, 'nl')})",
            ),
        )
    churn_tps = churn_data.get("touchpoints", [])
    if not isinstance(churn_tps, list) or not all(isinstance(t, str) for t in churn_tps):
        raise fail(
            "churn",
            M(
                "'touchpoints' must be a list of touchpoint names",
                "'touchpoints' moet een lijst van namen van contactmomenten zijn",
            ),
        )
    churn = ChurnRule(touchpoints=tuple(churn_tps), inactive_days=inactive)

    scales = dict(DEFAULT_SCALES)
    scale_section = data.get("scales", {})
    _require_table(scale_section, "scales", fail)
    for metric, spec in scale_section.items():
        where = f"scales.{metric}"
        if not isinstance(spec, dict) or not all(
            _is_number(spec.get(k)) and math.isfinite(spec[k]) for k in ("min", "max")
        ):
            raise fail(
                where,
                M(
                    "needs numeric 'min' and 'max', e.g. { min = 1, max = 5 }",
                    "heeft een getal als 'min' en 'max' nodig, bijv. { min = 1, max = 5 }",
                ),
            )
        _refuse_unknown(spec, {"min", "max", "higher_is_easier"}, where, fail)
        lo, hi = float(spec["min"]), float(spec["max"])
        if lo >= hi:
            raise fail(where, M("'min' must be below 'max'", "'min' moet kleiner zijn dan 'max'"))
        scales[metric] = Scale(lo, hi, _flag(spec, "higher_is_easier", where, fail, default=True))

    bad = data.get("bad_experience", {})
    _require_table(bad, "bad_experience", fail)
    thresholds = dict(DEFAULT_BAD_THRESHOLDS)
    for key, limit in bad.items():
        metric = key[: -len("_at_most")] if key.endswith("_at_most") else None
        if metric is None or metric not in scales:
            known = ", ".join(f"{m}_at_most" for m in scales)
            raise fail(
                "bad_experience",
                M(
                    f"unknown key {key!r}; known keys: {known}",
                    f"onbekende sleutel {key!r}; bekende sleutels: {known}",
                ),
            )
        if limit is None or limit is False:
            thresholds.pop(metric, None)
            continue
        if not _is_number(limit):
            raise fail(
                "bad_experience",
                M(
                    f"'{key}' must be a number on the {metric} scale",
                    f"'{key}' moet een getal op de {metric}-schaal zijn",
                ),
            )
        if not scales[metric].contains(limit):
            scale = scales[metric]
            span = f"{scale.min:g}–{scale.max:g}"
            raise fail(
                "bad_experience",
                M(
                    f"'{key} = {limit}' is outside the {metric} scale ({span})",
                    f"'{key} = {limit}' ligt buiten de {metric}-schaal ({span})",
                ),
            )
        thresholds[metric] = float(limit)
    for metric in set(thresholds) - {k[: -len("_at_most")] for k in bad}:
        if not scales[metric].contains(thresholds[metric]):  # a default that the scale lost
            scale = scales[metric]
            span, default = f"{scale.min:g}–{scale.max:g}", f"{thresholds[metric]:g}"
            raise fail(
                "bad_experience",
                M(
                    f"the {metric} scale is {span}, so the default "
                    f"'{metric}_at_most = {default}' does not fit; set "
                    f"{metric}_at_most (or {metric}_at_most = false for none)",
                    f"de {metric}-schaal is {span}, dus de standaardwaarde "
                    f"'{metric}_at_most = {default}' past niet; geef {metric}_at_most op "
                    f"(of {metric}_at_most = false voor geen drempel)",
                ),
            )
    bad_rule = BadExperienceRule(thresholds)
    warehouse = data.get("warehouse", {})
    _refuse_unknown(warehouse, {"url"}, "warehouse", fail)
    settings = {}
    for key in sorted(ACTION_SECTIONS & set(data)):
        _require_table(data[key], key, fail)
        settings[key] = data[key]

    return Journey(
        name=name,
        phases=tuple(phases),
        touchpoints=touchpoints,
        churn=churn,
        bad_experience=bad_rule,
        scales=scales,
        warehouse_url=_text(warehouse, "url", "warehouse", fail),
        settings=settings,
    )


MAX_INACTIVE_DAYS = 36_525
TOUCHPOINT_KEYS = {"phase", "channel", "owner", "bad_experience", "moment_of_truth", "label"}


def _is_number(value: object) -> bool:
    # TOML true/false are Python bools, which are ints: never read them as 1 and 0
    return isinstance(value, int | float) and not isinstance(value, bool)


def _text(table: dict, key: str, where: str, fail) -> str | None:
    value = table.get(key)
    if value is not None and not isinstance(value, str):
        raise fail(
            where,
            Message(
                f"'{key}' must be text in quotes, e.g. {key} = \"...\"",
                f"'{key}' moet tekst tussen aanhalingstekens zijn, bijv. {key} = \"...\"",
            ),
        )
    return value


def _flag(table: dict, key: str, where: str, fail, *, default: bool) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise fail(
            where,
            Message(
                f"'{key}' must be true or false (without quotes)",
                f"'{key}' moet true of false zijn (zonder aanhalingstekens)",
            ),
        )
    return value


ACTION_SECTIONS = {"surveys", "mail", "followups", "advocacy", "playbooks", "digest"}
SECTIONS = {"journey", "touchpoints", "churn", "bad_experience", "scales", "warehouse"}
SECTIONS |= ACTION_SECTIONS


def _require_table(table: object, where: str, fail) -> None:
    if not isinstance(table, dict):
        raise fail(
            where,
            Message(
                f"must be a table ([{where}] on a line of its own, keys below it)",
                f"moet een tabel zijn ([{where}] op een eigen regel, de sleutels eronder)",
            ),
        )


def _refuse_unknown(table: object, known: set[str], where: str, fail) -> None:
    """A misspelt key would otherwise be ignored silently: refuse it and name it."""
    _require_table(table, where or "file", fail)
    unknown = sorted(set(table) - known)
    if unknown:
        names, listed = ", ".join(unknown), ", ".join(sorted(known))
        if where:
            raise fail(
                where,
                Message(
                    f"{plural(len(unknown), 'unknown key', 'unknown keys')}: {names} "
                    f"(known: {listed})",
                    f"{plural(len(unknown), 'onbekende sleutel', 'onbekende sleutels')}: {names} "
                    f"(bekend: {listed})",
                ),
            )
        raise fail(
            unknown[0],
            Message(
                f"unknown section; known sections: {listed}",
                f"onbekende sectie; bekende secties: {listed}",
            ),
        )


# -- writing ------------------------------------------------------------------------------
def template_document(template: str, name: str) -> tomlkit.TOMLDocument:
    """A commented journey file for a new workspace."""
    import tomlkit  # writing only: reading a journey needs tomllib alone

    if template not in TEMPLATES:
        names = ", ".join(TEMPLATES)
        raise _error(
            f"unknown template {template!r}; choose one of: {names}",
            f"onbekend sjabloon {template!r}; kies uit: {names}",
        )
    doc = tomlkit.document()
    doc.add(
        tomlkit.comment("cxray journey file: phases, touchpoints, churn and bad-experience rules.")
    )
    doc.add(tomlkit.comment("Touchpoints found in imported data are added below as 'unassigned';"))
    doc.add(
        tomlkit.comment("give each a phase (and a channel and owner) to place it in the journey.")
    )
    doc.add(tomlkit.nl())
    journey = tomlkit.table()
    journey["name"] = name
    journey["template"] = template
    journey["phases"] = TEMPLATES[template]
    journey["phases"].comment("ordered")
    doc["journey"] = journey

    doc["touchpoints"] = tomlkit.table(is_super_table=True)

    churn = tomlkit.table()
    churn["touchpoints"] = []
    churn["touchpoints"].comment("an occurrence of one of these means the customer left")
    # No inactivity default: the right number depends on how often this company's customers come
    # back, and a wrong one silently turns churn into "nobody churned" (or "everybody did").
    churn.add(tomlkit.comment("inactive_days = 90   # or: no event for this many days means the"))
    churn.add(tomlkit.comment("customer left. Choose it from how often your customers come back;"))
    churn.add(tomlkit.comment("'cxray status' suggests a value from the gaps in your data."))
    doc["churn"] = churn

    bad = tomlkit.table()
    bad.add(tomlkit.comment("feedback that counts as a bad experience"))
    bad["nps_at_most"] = 6
    bad["csat_at_most"] = 2
    bad["ces_at_most"] = 3
    bad.add(tomlkit.comment("rating_at_most = 2   # any metric with a scale can have a threshold"))
    doc["bad_experience"] = bad

    scales = tomlkit.table()
    for metric, scale in DEFAULT_SCALES.items():
        inline = tomlkit.inline_table()
        inline["min"] = int(scale.min)
        inline["max"] = int(scale.max)
        if metric == "ces":
            inline["higher_is_easier"] = scale.higher_is_easier
        scales[metric] = inline
    doc["scales"] = scales
    return doc


def add_touchpoints(path: Path, names: Iterable[str], **attrs: object) -> None:
    """Append touchpoints to the journey file, keeping everything already in it."""
    import tomlkit

    path = Path(path)
    doc = tomlkit.parse(path.read_text(encoding="utf-8-sig"))
    if "touchpoints" not in doc:
        doc["touchpoints"] = tomlkit.table(is_super_table=True)
    section = doc["touchpoints"]
    for name in names:
        if name in section:
            continue
        table = tomlkit.table()
        table["phase"] = attrs.get("phase", UNASSIGNED)
        for key in ("channel", "owner", "bad_experience", "moment_of_truth"):
            if attrs.get(key) is not None:
                table[key] = attrs[key]
        section[name] = table
    write_atomically(path, tomlkit.dumps(doc))
