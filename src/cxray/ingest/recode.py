"""``--recode``: the labels a file holds turned into the values a column takes, before typing.

``--recode score=negative:1,neutral:3,positive:5`` reads an export with sentiment labels as
scores. Labels match after trimming, whatever their case; a value not in the list is left as it
is, so a label nobody named is refused like any other value that is not a number.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

from cxray.i18n import Message, number
from cxray.ingest import values
from cxray.ingest.sources import sql_literal
from cxray.schema import TableSpec

Recode = dict[str, dict[str, str]]  # column -> {label (trimmed, lower case): value}

SYNTAX = "--recode takes COLUMN=LABEL:VALUE,LABEL:VALUE,... e.g. score=negative:1,positive:5"
SYNTAX_NL = (
    "--recode verwacht KOLOM=LABEL:WAARDE,LABEL:WAARDE,... bijv. score=negative:1,positive:5"
)
MAX_SUGGESTED_LABELS = 12  # more distinct labels than this are free text, not a scale
NOT_A_NUMBER = "not a number"  # the reason the import gives a number it cannot read


class RecodeError(ValueError):
    """A --recode that cannot be applied: bad syntax, or a column it cannot apply to."""


def _error(en: str, nl: str) -> RecodeError:
    return RecodeError(Message(en, nl))


def label_key(label: str) -> str:
    return label.strip().lower()


def parse_recode(texts: list[str] | None) -> Recode:
    """The command line's ``COLUMN=LABEL:VALUE,...`` options as a mapping (checked, not applied).

    A label may hold a colon: the value is what follows the last one.
    """
    recode: dict[str, dict[str, str]] = {}
    for text in texts or []:
        column, equals, pairs = text.partition("=")
        if not equals or not column.strip() or not pairs.strip():
            raise _error(f"{SYNTAX}; got {text!r}", f"{SYNTAX_NL}; niet {text!r}")
        name = column.strip()
        labels = recode.setdefault(name, {})
        for pair in pairs.split(","):
            label, colon, value = pair.rpartition(":")
            if not colon:
                raise _error(
                    f"--recode {name}: {pair.strip()!r} is not LABEL:VALUE; {SYNTAX}",
                    f"--recode {name}: {pair.strip()!r} is geen LABEL:WAARDE; {SYNTAX_NL}",
                )
            key = label_key(label)
            if labels.get(key, value.strip()) != value.strip():
                raise _two_values(name, key, labels[key], value.strip())
            labels[key] = value.strip()
    return normalise_recode(recode)


def normalise_recode(recode: Mapping[str, Mapping[str, str]] | None) -> Recode:
    """Labels trimmed and in lower case, values trimmed; empty or conflicting entries refused."""
    if recode is None:
        return {}
    if not isinstance(recode, Mapping):
        raise _error(
            f"recode must map a column to {{label: value}}, got {recode!r}",
            f"recode moet een kolom aan {{label: waarde}} koppelen, niet {recode!r}",
        )
    normalised: Recode = {}
    for column, labels in recode.items():
        name = str(column).strip()
        if not name:
            raise _error(
                f"{SYNTAX}; a column name is missing", f"{SYNTAX_NL}; een kolomnaam ontbreekt"
            )
        if not isinstance(labels, Mapping) or not labels:
            raise _error(
                f"--recode {name}: give at least one LABEL:VALUE; {SYNTAX}",
                f"--recode {name}: geef minstens één LABEL:WAARDE; {SYNTAX_NL}",
            )
        entries = normalised.setdefault(name, {})
        for label, value in labels.items():
            key, new = label_key(str(label)), str(value).strip()
            if not key:
                raise _error(
                    f"--recode {name}: a label is empty; {SYNTAX}",
                    f"--recode {name}: een label is leeg; {SYNTAX_NL}",
                )
            if not new:
                raise _error(
                    f"--recode {name}: label {key!r} has no value; give the value it stands "
                    "for, e.g. negative:1",
                    f"--recode {name}: label {key!r} heeft geen waarde; geef de waarde waar het "
                    "voor staat, bijv. negative:1",
                )
            if entries.get(key, new) != new:
                raise _two_values(name, key, entries[key], new)
            entries[key] = new
    return normalised


def _two_values(name: str, key: str, first: str, second: str) -> RecodeError:
    return _error(
        f"--recode {name}: label {key!r} is given two values, {first!r} and {second!r} "
        "(labels match whatever their case)",
        f"--recode {name}: label {key!r} krijgt twee waarden, {first!r} en {second!r} "
        "(labels komen overeen ongeacht hoofdletters)",
    )


def resolve_recode(
    spec: TableSpec,
    sources: dict[str, str],
    constants: dict[str, str],
    recode: Recode,
    file_label: str,
) -> Recode:
    """``recode`` by canonical column. A key is a canonical column (``score``) or the file's
    column feeding one (``Sentiment``); canonical names are looked up first."""
    feeding = {src: target for target, src in sources.items()}
    resolved: Recode = {}
    for key, labels in recode.items():
        target = key if key in spec.columns or key in sources else feeding.get(key)
        if target is None:
            read = ", ".join(f"{t} (from {s})" for t, s in sources.items()) or "none"
            read_nl = ", ".join(f"{t} (uit {s})" for t, s in sources.items()) or "geen"
            raise _error(
                f"{file_label}: --recode {key}: no such column; it recodes a column read from "
                f"the file, here: {read}",
                f"{file_label}: --recode {key}: deze kolom bestaat niet; het hercodeert een "
                f"kolom die uit het bestand wordt gelezen, hier: {read_nl}",
            )
        if target in constants:
            raise _error(
                f"{file_label}: --recode {key}: {target} is set by --set, not read from the file",
                f"{file_label}: --recode {key}: {target} krijgt een vaste waarde met --set en "
                "wordt niet uit het bestand gelezen",
            )
        if target not in sources:
            raise _error(
                f"{file_label}: --recode {key}: the file has no column for {target}; "
                f"name it with --map YOUR_COLUMN={target}",
                f"{file_label}: --recode {key}: het bestand heeft geen kolom voor {target}; "
                f"wijs die aan met --map UW_KOLOM={target}",
            )
        dtype = spec.schema[target] if target in spec.columns else None
        if target == spec.json_column or (dtype is not None and dtype.is_timestamp()):
            raise _error(
                f"{file_label}: --recode {key}: recoding applies to text and number columns, "
                f"not to {target}",
                f"{file_label}: --recode {key}: hercoderen werkt op tekst- en getalkolommen, "
                f"niet op {target}",
            )
        if target in resolved:
            raise _error(
                f"{file_label}: --recode names {target} twice (as {key})",
                f"{file_label}: --recode noemt {target} twee keer (als {key})",
            )
        resolved[target] = dict(labels)
    return resolved


def recode_sql(value: str, duck_type: str, labels: dict[str, str]) -> str:
    """Text SQL: ``value`` replaced by the value of its label, or left as it is."""
    text = values.text_expr(value, duck_type)
    cases = " ".join(f"WHEN {sql_literal(k)} THEN {sql_literal(v)}" for k, v in labels.items())
    return f"(CASE lower({text}) {cases} ELSE {text} END)"


def suggested_option(
    column: str, values: list[str], given: dict[str, str] | None = None
) -> str | None:
    """``--recode COLUMN=label:?,...`` for values refused as not a number, when they look like
    the labels of a scale: a few distinct words, each expressible in the option's syntax.
    ``given`` are the labels a --recode already gives: kept in front of the new ones."""
    labels = sorted({label_key(v) for v in values if v and v.strip()} - set(given or {}))
    if not labels or len(labels) > MAX_SUGGESTED_LABELS:
        return None
    if any("," in label or not any(ch.isalpha() for ch in label) for label in labels):
        return None
    pairs = [f"{label}:{value}" for label, value in (given or {}).items()]
    text = f"{column}=" + ",".join(pairs + [f"{label}:?" for label in labels])
    # quoted for the shell where needed; the ? are placeholders, to be replaced, not quoted
    return "--recode " + (
        text if shlex.quote(text.replace("?", "0")) == text.replace("?", "0") else shlex.quote(text)
    )


def refusal_lines(problems: Any) -> dict[str, Message]:
    """One line per number column refused for holding text labels, suggesting the --recode
    (column -> line).

    ``problems`` is a refused import's problem table (``con``, ``table``, ``source``): the
    labels are read there, the distinct ones only, however many rows were refused.
    """
    limit = MAX_SUGGESTED_LABELS
    found = problems.con.execute(
        f"SELECT column_name, count(*), CASE WHEN count(DISTINCT lower(trim(value))) <= {limit} "
        f"THEN list(DISTINCT value) END FROM {problems.table} "
        f"WHERE reason = {sql_literal(NOT_A_NUMBER)} GROUP BY 1 ORDER BY 1"
    ).fetchall()
    lines = {}
    for column, count, labels in found:
        option = suggested_option(column, labels or [])
        if option:
            where = f"  {problems.source.path}: {column}"
            lines[column] = Message(
                f"{where}: {count:,} values are text labels, not numbers; give each label a "
                f"number with {option}",
                f"{where}: {number(count, 'nl')} waarden zijn tekstlabels, geen getallen; geef "
                f"elk label een getal met {option}",
            )
    return lines
