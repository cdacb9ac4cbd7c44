"""The journey definition: phases, touchpoints, churn and bad-experience rules, score scales.

It lives in the workspace's ``cxray.toml``. Reading validates it and names the key at fault;
writing goes through tomlkit so the comments a user put in the file survive when cxray adds
touchpoints it discovered in imported data.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import tomlkit

UNASSIGNED = "unassigned"

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
    """The journey file is invalid; the message names the file and the key."""


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
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise JourneyError(f"{path}: no journey file here (create one with 'cxray init')") from None
    except tomllib.TOMLDecodeError as exc:
        raise JourneyError(f"{path}: not valid TOML: {exc}") from None
    return from_dict(data, source=str(path))


def from_dict(data: dict, source: str = "cxray.toml") -> Journey:
    def fail(key: str, reason: str) -> JourneyError:
        return JourneyError(f"{source}: [{key}] {reason}")

    _refuse_unknown(data, SECTIONS, "", fail)
    section = data.get("journey", {})
    _refuse_unknown(section, {"name", "template", "phases"}, "journey", fail)
    phases = section.get("phases")
    if not isinstance(phases, list) or not phases or not all(isinstance(p, str) for p in phases):
        raise fail("journey", "'phases' must be a non-empty list of phase names, in order")
    if len(set(phases)) != len(phases):
        raise fail("journey", "'phases' lists a phase twice")
    if UNASSIGNED in phases:
        raise fail("journey", f"'{UNASSIGNED}' is reserved for touchpoints without a phase")

    touchpoints: dict[str, Touchpoint] = {}
    for name, spec in (data.get("touchpoints") or {}).items():
        if not isinstance(spec, dict):
            raise fail(f"touchpoints.{name}", 'must be a table, e.g. phase = "conversion"')
        phase = spec.get("phase", UNASSIGNED)
        if phase != UNASSIGNED and phase not in phases:
            raise fail(
                f"touchpoints.{name}",
                f"phase {phase!r} is not one of the journey's phases ({', '.join(phases)})",
            )
        unknown = set(spec) - {
            "phase",
            "channel",
            "owner",
            "bad_experience",
            "moment_of_truth",
            "label",
        }
        if unknown:
            raise fail(f"touchpoints.{name}", f"unknown key(s): {', '.join(sorted(unknown))}")
        touchpoints[name] = Touchpoint(
            name=name,
            phase=phase,
            channel=spec.get("channel"),
            owner=spec.get("owner"),
            bad_experience=bool(spec.get("bad_experience", False)),
            moment_of_truth=bool(spec.get("moment_of_truth", False)),
            label=spec.get("label"),
        )

    churn_data = data.get("churn", {})
    _refuse_unknown(churn_data, {"touchpoints", "inactive_days"}, "churn", fail)
    inactive = churn_data.get("inactive_days")
    if inactive is not None and (not isinstance(inactive, int) or inactive <= 0):
        raise fail("churn", "'inactive_days' must be a positive whole number of days")
    churn_tps = churn_data.get("touchpoints", [])
    if not isinstance(churn_tps, list):
        raise fail("churn", "'touchpoints' must be a list of touchpoint names")
    churn = ChurnRule(touchpoints=tuple(churn_tps), inactive_days=inactive)

    scales = dict(DEFAULT_SCALES)
    for metric, spec in (data.get("scales") or {}).items():
        try:
            lo, hi = float(spec["min"]), float(spec["max"])
        except (KeyError, TypeError, ValueError):
            raise fail(f"scales.{metric}", "needs numeric 'min' and 'max'") from None
        if lo >= hi:
            raise fail(f"scales.{metric}", "'min' must be below 'max'")
        _refuse_unknown(spec, {"min", "max", "higher_is_easier"}, f"scales.{metric}", fail)
        scales[metric] = Scale(lo, hi, bool(spec.get("higher_is_easier", True)))

    bad = data.get("bad_experience", {})
    thresholds = dict(DEFAULT_BAD_THRESHOLDS)
    for key, limit in bad.items():
        metric = key[: -len("_at_most")] if key.endswith("_at_most") else None
        if metric is None or metric not in scales:
            known = ", ".join(f"{m}_at_most" for m in scales)
            raise fail("bad_experience", f"unknown key {key!r}; known keys: {known}")
        if limit is None or limit is False:
            thresholds.pop(metric, None)
            continue
        if isinstance(limit, bool) or not isinstance(limit, int | float):
            raise fail("bad_experience", f"'{key}' must be a number on the {metric} scale")
        if not scales[metric].contains(limit):
            scale = scales[metric]
            raise fail(
                "bad_experience",
                f"'{key} = {limit}' is outside the {metric} scale ({scale.min:g}–{scale.max:g})",
            )
        thresholds[metric] = float(limit)
    bad_rule = BadExperienceRule(thresholds)
    warehouse = data.get("warehouse") or {}
    _refuse_unknown(warehouse, {"url"}, "warehouse", fail)

    return Journey(
        name=section.get("name", "Journey"),
        phases=tuple(phases),
        touchpoints=touchpoints,
        churn=churn,
        bad_experience=bad_rule,
        scales=scales,
        warehouse_url=warehouse.get("url"),
    )


SECTIONS = {"journey", "touchpoints", "churn", "bad_experience", "scales", "warehouse"}


def _refuse_unknown(table: object, known: set[str], where: str, fail) -> None:
    """A misspelt key would otherwise be ignored silently: refuse it and name it."""
    if not isinstance(table, dict):
        raise fail(where or "file", "must be a table")
    unknown = sorted(set(table) - known)
    if unknown:
        if where:
            raise fail(
                where, f"unknown key(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})"
            )
        raise fail(unknown[0], f"unknown section; known sections: {', '.join(sorted(known))}")


# -- writing ------------------------------------------------------------------------------
def template_document(template: str, name: str) -> tomlkit.TOMLDocument:
    """A commented journey file for a new workspace."""
    if template not in TEMPLATES:
        raise JourneyError(f"unknown template {template!r}; choose one of: {', '.join(TEMPLATES)}")
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
    path = Path(path)
    doc = tomlkit.parse(path.read_text(encoding="utf-8"))
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


def write_atomically(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
