"""Values as typed SQL: cleaning, text, numbers, timestamps (zones, offsets, layouts), JSON.

Every conversion is a SQL expression DuckDB runs over the whole file at once, never a Python
loop over rows. A value that cannot be read becomes NULL; the rules in ``validation`` then
name it.
"""

from __future__ import annotations

import datetime as dt

from cxray.ingest.sources import quote_ident, sql_literal

# Layouts tried when ISO parsing fails: day-first dates (common in European exports) and an
# offset after a space (``2015-02-24 11:35:52 -0800``, as git and many logs write it).
# Month-first layouts are deliberately absent: ambiguous. Naive and zoned layouts are tried
# apart: DuckDB mixing both in one list rolls impossible dates over (31-02 became 3 March).
FALLBACK_TIMESTAMP_FORMATS = (
    "%d-%m-%Y %H:%M:%S",
    "%d-%m-%Y %H:%M",
    "%d-%m-%Y",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y",
)
FALLBACK_ZONED_FORMATS = (
    "%Y-%m-%d %H:%M:%S %z",
    "%Y-%m-%d %H:%M %z",
    "%Y-%m-%dT%H:%M:%S.%f%z",
    "%Y-%m-%d %H:%M:%S.%f%z",
    "%Y-%m-%d %H:%M:%S.%f %z",
)

# What the fallback layouts above can read at all, as a prefix.
SPACED_OFFSET = r"[0-9] [+-][0-9]{2}:?[0-9]{2}$"
DAY_FIRST_SHAPE = r"^[0-9]{1,2}[-/][0-9]{1,2}[-/][0-9]"
ISO_WITH_OFFSET_SHAPE = r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}[ T][0-9]"

OFFSET_AFTER_TIME = r"[0-9]:[0-9]{2}(:[0-9]{2}([.,][0-9]*)?)?\s*(Z|[+-][0-9]{2}(:?[0-9]{2})?)$"
# A date, or a date and time, in ISO 8601 with nothing after it: no offset can follow.
PLAIN_ISO = r"[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]{1,9})?)?)?"
IMPOSSIBLE_OFFSET = r"[0-9]:[0-9]{2}(:[0-9]{2}([.,][0-9]*)?)?\s*[+-]((1[5-9]|[2-9][0-9])(:?[0-9]{2})?|[0-9]{2}:?[6-9][0-9])$"

# Timestamps outside this window are refused as implausible: ``infinity``, year 9999
# placeholders and typos (9909) break every analysis that spans time.
PLAUSIBLE_YEARS = (1900, 2200)

NUMERIC_TYPES = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "FLOAT",
    "DOUBLE",
    "DECIMAL",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
)


# -- typed expressions ----------------------------------------------------------------------
# Conversions run in two layers: first each source column is cleaned once (``clean_expr``),
# then typed from the cleaned value. Repeating the cleaning inside every CASE branch and
# validation rule made DuckDB evaluate it many times over.
WHITESPACE = "' \t\r\n'"


def is_text(duck_type: str) -> bool:
    return duck_type.upper() == "VARCHAR"


def clean_expr(column: str, duck_type: str) -> str:
    """Text with surrounding whitespace (spaces, tabs, line breaks) removed; blank is NULL.

    Columns the file already types (Parquet) are passed through untouched.
    """
    if not is_text(duck_type):
        return quote_ident(column)
    col = quote_ident(column)
    # trim() with a character set is several times slower than a look at both ends first.
    return (
        f"NULLIF(CASE WHEN ascii({col}) <= 32 OR ascii(right({col}, 1)) <= 32 "
        f"THEN trim({col}, {WHITESPACE}) ELSE {col} END, '')"
    )


def text_expr(value: str, duck_type: str) -> str:
    return value if is_text(duck_type) else f"CAST({value} AS VARCHAR)"


def number_expr(value: str, duck_type: str) -> str:
    if duck_type.upper().startswith(NUMERIC_TYPES):
        return f"CAST({value} AS DOUBLE)"
    if not is_text(duck_type):
        return f"TRY_CAST({value} AS DOUBLE)"
    v = value
    # 12,5 and 1.234,56 are Dutch decimals; 1,234.56 keeps its English thousands separator.
    return (
        f"CASE WHEN NOT contains({v}, ',') THEN TRY_CAST({v} AS DOUBLE) "
        f"WHEN strpos({v}, '.') > strpos({v}, ',') "
        f"THEN TRY_CAST(replace({v}, ',', '') AS DOUBLE) "
        f"ELSE TRY_CAST(replace(replace({v}, '.', ''), ',', '.') AS DOUBLE) END"
    )


def timestamp_expr(
    value: str,
    duck_type: str,
    timezone: str | None,
    timestamp_format: str | None,
    with_fallbacks: bool,
) -> str:
    """A TIMESTAMPTZ from ``value``; NULL where it cannot be read.

    A value with an offset (``+01:00``, ``-0800``, ``Z``) keeps it; a value without one (a date,
    or a date and time) is read in ``timezone``, UTC when none is given.
    """
    upper = duck_type.upper()
    zone = sql_literal(timezone) if timezone else None

    def localise(naive: str) -> str:
        return f"timezone({zone}, {naive})" if zone else as_utc(naive)

    if upper == "TIMESTAMP WITH TIME ZONE":
        return value
    if upper.startswith("TIMESTAMP") or upper == "DATE":
        return localise(f"CAST({value} AS TIMESTAMP)")
    v = text_expr(value, duck_type)
    if timestamp_format:
        has_zone = "%z" in timestamp_format or "%Z" in timestamp_format
        parsed = f"try_strptime({v}, {sql_literal(timestamp_format)})"
        return (
            possible_offset(v, f"CAST({parsed} AS TIMESTAMPTZ)") if has_zone else localise(parsed)
        )
    # An offset follows a time of day: the day of 2024-03-01 is not an offset of -01 hours.
    if zone:
        iso = (
            f"CASE WHEN regexp_matches({v}, {sql_literal(OFFSET_AFTER_TIME)}) "
            f"THEN TRY_CAST({v} AS TIMESTAMPTZ) ELSE {localise(f'TRY_CAST({v} AS TIMESTAMP)')} END"
        )
    else:
        iso = f"TRY_CAST({v} AS TIMESTAMPTZ)"
    # DuckDB never reads an offset after a space (``11:35:52 -0800``), and failing to costs it a
    # time zone lookup of 0.3 ms per value: such values go straight to the zoned layouts.
    iso = f"CASE WHEN NOT regexp_matches({v}, {sql_literal(SPACED_OFFSET)}) THEN {iso} END"
    # A date starts with its year's digits: anything else fails the cast, slowly (4 µs a value),
    # or is read where it should not be ('epoch' as 1970). Infinity is kept for its own reason.
    iso = f"CASE WHEN ascii({v}) BETWEEN 48 AND 57 OR lower({v}) IN ('infinity', '-infinity') THEN {iso} END"
    if not with_fallbacks:
        return possible_offset(v, iso)
    # Most files hold plain ISO values: read as TIMESTAMP (a third of the cost of TIMESTAMPTZ)
    # and placed on the epoch directly; everything else takes the full way below.
    plain = f"TRY_CAST({v} AS TIMESTAMP)"  # never infinity: that is not shaped like ISO
    plain = f"timezone({zone}, {plain})" if zone else f"make_timestamptz(epoch_us({plain}))"
    naive = "[" + ", ".join(sql_literal(f) for f in FALLBACK_TIMESTAMP_FORMATS) + "]"
    zoned = "[" + ", ".join(sql_literal(f) for f in FALLBACK_ZONED_FORMATS) + "]"
    # A failing try_strptime costs microseconds per layout: values not shaped like a layout
    # (a cheap regex) skip them, so a file of bad dates is refused about as fast as it loads.
    day_first = f"CASE WHEN regexp_matches({v}, {sql_literal(DAY_FIRST_SHAPE)}) THEN "
    day_first += f"{localise(f'try_strptime({v}, {naive})')} END"
    with_offset = f"CASE WHEN regexp_matches({v}, {sql_literal(ISO_WITH_OFFSET_SHAPE)}) THEN "
    with_offset += f"CAST(try_strptime({v}, {zoned}) AS TIMESTAMPTZ) END"
    # coalesce evaluates each fallback only for the values still unread: ISO files pay nothing.
    full = possible_offset(v, f"coalesce({iso}, {day_first}, {with_offset})")
    return (
        f"CASE WHEN regexp_full_match({v}, {sql_literal(PLAIN_ISO)}) THEN {plain} ELSE {full} END"
    )


def as_utc(naive: str) -> str:
    """A zone-less TIMESTAMP as the TIMESTAMPTZ of that UTC time, placed on the epoch directly:
    a third of the cost of a cast through the session's time zone. ``infinity`` stays itself
    (the plausible-years rule refuses it with its reason)."""
    return (
        f"CASE WHEN isfinite({naive}) THEN make_timestamptz(epoch_us({naive})) "
        f"ELSE CAST({naive} AS TIMESTAMPTZ) END"
    )


def possible_offset(text: str, parsed: str) -> str:
    """``parsed``, or NULL where ``text`` ends in an offset beyond ±14:00 (DuckDB reads +25:00)."""
    return (
        f"CASE WHEN NOT regexp_matches({text}, {sql_literal(IMPOSSIBLE_OFFSET)}) THEN {parsed} END"
    )


def implausible_timestamp_sql(expr: str) -> str:
    """SQL true where ``expr`` (a TIMESTAMPTZ) lies outside :data:`PLAUSIBLE_YEARS`."""
    low, high = PLAUSIBLE_YEARS
    return (
        f"({expr} < TIMESTAMPTZ '{low}-01-01 00:00:00+00' "
        f"OR {expr} >= TIMESTAMPTZ '{high + 1}-01-01 00:00:00+00')"
    )


def json_expr(
    value: str | None,
    duck_type: str | None,
    extras: list[str],
    types: dict[str, str] | None = None,
    drop_blanks: bool = False,
) -> str:
    """The JSON column: an explicit JSON column merged with the extra columns packed as keys.

    ``drop_blanks`` (customers' attributes) leaves out blank values, so a blank TotalCharges is
    null, not " ", and merging into what is known keeps the old value, as blanks do in every
    other column. Events and feedback keep their packing as it was: it is part of their
    content-derived ids, which must not change between versions.
    """
    packed = None
    if extras and drop_blanks:
        pairs = ", ".join(
            f"{sql_literal(c)}, {clean_expr(c, (types or {}).get(c, 'VARCHAR'))}" for c in extras
        )
        # merge-patching into {} drops the null keys
        packed = f"CAST(json_merge_patch('{{}}', json_object({pairs})) AS VARCHAR)"
    elif extras:
        pairs = ", ".join(f"{sql_literal(c)}, {quote_ident(c)}" for c in extras)
        packed = f"CAST(json_object({pairs}) AS VARCHAR)"
    explicit = None
    if value is not None:
        text = text_expr(value, duck_type or "VARCHAR")
        explicit = f"CASE WHEN json_valid({text}) THEN {text} END"
    if explicit and packed:
        return f"CAST(json_merge_patch(coalesce({explicit}, '{{}}'), {packed}) AS VARCHAR)"
    return explicit or packed or "CAST(NULL AS VARCHAR)"


# Layouts --timestamp-format may be asked for, tried in this order on unreadable values.
# Month-first layouts are here (never tried silently): a whole column that reads only one
# way is evidence enough to suggest it.
SUGGESTED_FORMATS = (
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y",
    "%m-%d-%Y %H:%M:%S",
    "%m-%d-%Y %H:%M",
    "%m-%d-%Y",
    "%m/%d/%y %H:%M",
    "%m/%d/%y",
    "%d/%m/%y %H:%M",
    "%d/%m/%y",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
    "%Y%m%d%H%M%S",
    "%Y%m%d",
    "%d %b %Y %H:%M",
    "%d %b %Y",
    "%d-%b-%Y",
    "%b %d, %Y",
    "%b %d %Y %H:%M",
    "%Y-%m-%d %I:%M:%S %p",
    "%d/%m/%Y %I:%M %p",
    "%d-%m-%Y %H.%M",
)


def suggest_timestamp_format(values: list[str]) -> str | None:
    """The first layout of :data:`SUGGESTED_FORMATS` that reads every one of ``values``."""
    samples = [v.strip() for v in values if v and v.strip()]
    if not samples:
        return None
    for layout in SUGGESTED_FORMATS:
        try:
            years = {dt.datetime.strptime(value, layout).year for value in samples}
        except ValueError:
            continue
        if PLAUSIBLE_YEARS[0] <= min(years) and max(years) <= PLAUSIBLE_YEARS[1]:
            return layout
    return None
