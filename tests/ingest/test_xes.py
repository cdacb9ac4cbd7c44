"""XES event logs read in one pass: events, cases, line numbers and refusals."""

from __future__ import annotations

import gzip
import re
import time
from pathlib import Path
from xml.sax.saxutils import quoteattr

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from cxray.ingest.sources import SourceError, open_source
from cxray.ingest.xes import XesLog, open_xes
from tests.conftest import SHARED_DATA

RECEIPT = SHARED_DATA / "receipt" / "receipt.xes.gz"

# Log-level attributes, extensions, globals, classifiers, nested and list attributes must
# all be read past; "late" (event) and "vip" (trace) first appear in the last trace.
SAMPLE = """<?xml version="1.0" encoding="UTF-8" ?>
<!-- exported by a process-mining tool -->
<log xes.version="1.0" xmlns="http://www.xes-standard.org/">
  <extension name="Concept" prefix="concept" uri="http://www.xes-standard.org/concept.xesext"/>
  <global scope="event">
    <string key="concept:name" value="UNKNOWN"/>
  </global>
  <classifier name="Activity" keys="concept:name"/>
  <string key="source" value="the log itself"/>
  <float key="meta:spread" value="1.5">
    <float key="nested" value="2.5"/>
  </float>
  <trace>
    <string key="concept:name" value="A-1"/>
    <int key="AMOUNT_REQ" value="20000"/>
    <event>
      <string key="concept:name" value="submitted"/>
      <date key="time:timestamp" value="2024-01-01T10:00:00.000+02:00"/>
      <string key="org:resource" value="112"/>
    </event>
    <event>
      <string key="concept:name" value="checked &amp; approved"/>
      <date key="time:timestamp" value="2024-01-01T09:30:00.000+00:00"/>
      <string key="note" value="outer">
        <string key="inner" value="never a column"/>
      </string>
      <list key="tags">
        <values><string key="tag" value="x"/></values>
      </list>
    </event>
  </trace>
  <trace>
    <string key="concept:name" value="A-2"/>
    <event>
      <string key="concept:name" value="submitted"/>
      <date key="time:timestamp" value="2024-01-02T08:00:00.000+01:00"/>
      <boolean key="late" value="true"/>
    </event>
    <boolean key="vip" value="false"/>
  </trace>
</log>
"""


def line_of(text: str, fragment: str, occurrence: int = 0) -> int:
    """The 1-based line of the ``occurrence``-th line containing ``fragment``."""
    found = [i for i, line in enumerate(text.splitlines(), 1) if fragment in line]
    return found[occurrence]


def write(path: Path, text: str, compressed: bool = False) -> Path:
    data = text.encode("utf-8")
    path.write_bytes(gzip.compress(data) if compressed else data)
    return path


def fetch(con: duckdb.DuckDBPyConnection, relation: str) -> list[dict]:
    cursor = con.execute(f"SELECT * FROM {relation} ORDER BY __line")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def opened(tmp_path: Path, text: str, name: str = "log.xes", **kwargs) -> tuple:
    tmp_path.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    path = write(tmp_path / name, text, compressed=name.endswith(".gz"))
    log = open_xes(con, path, tmp_path / "work", **kwargs)
    return con, log


@pytest.mark.parametrize("name", ["log.xes", "log.xes.gz"])
@pytest.mark.parametrize("batch_events", [1, 2, 50_000])
def test_events_and_cases_carry_every_attribute_and_line(tmp_path, name, batch_events):
    con, log = opened(tmp_path, SAMPLE, name, batch_events=batch_events)
    assert (log.event_count, log.trace_count) == (3, 2)
    events = fetch(con, log.events.relation)
    late = {"late": None, "case:vip": None}
    assert events == [
        {
            "__line": line_of(SAMPLE, "<event>", 0),
            "concept:name": "submitted",
            "time:timestamp": "2024-01-01T10:00:00.000+02:00",
            "org:resource": "112",
            "note": None,
            **late,
            "case:concept:name": "A-1",
            "case:AMOUNT_REQ": "20000",
        },
        {
            "__line": line_of(SAMPLE, "<event>", 1),
            "concept:name": "checked & approved",
            "time:timestamp": "2024-01-01T09:30:00.000+00:00",
            "org:resource": None,
            "note": "outer",
            **late,
            "case:concept:name": "A-1",
            "case:AMOUNT_REQ": "20000",
        },
        {
            "__line": line_of(SAMPLE, "<event>", 2),
            "concept:name": "submitted",
            "time:timestamp": "2024-01-02T08:00:00.000+01:00",
            "org:resource": None,
            "note": None,
            "late": "true",
            "case:concept:name": "A-2",
            "case:AMOUNT_REQ": None,
            "case:vip": "false",
        },
    ]
    assert log.events.columns["__line"] == "BIGINT"
    assert {t for c, t in log.events.columns.items() if c != "__line"} == {"VARCHAR"}
    assert (log.events.format, log.events.position_label, log.events.row_offset) == (
        "xes",
        "line",
        0,
    )
    cases = fetch(con, log.cases.relation)
    # the earliest event is judged as a time: 10:00+02:00 is before 09:30+00:00
    assert cases == [
        {
            "__line": line_of(SAMPLE, "<trace>", 0),
            "customer_id": "A-1",
            "first_seen": "2024-01-01T10:00:00.000+02:00",
            "AMOUNT_REQ": "20000",
            "vip": None,
        },
        {
            "__line": line_of(SAMPLE, "<trace>", 1),
            "customer_id": "A-2",
            "first_seen": "2024-01-02T08:00:00.000+01:00",
            "AMOUNT_REQ": None,
            "vip": "false",
        },
    ]
    # one Parquet part per batch keeps memory flat however long the log is
    event_parts = [p for p in log.events.temp_files if ".events-" in p.name]
    assert len(event_parts) == -(-3 // batch_events)
    log.cleanup()
    assert not list((tmp_path / "work").iterdir())


def test_line_numbers_count_windows_line_ends_and_comments(tmp_path):
    text = SAMPLE.replace("\n", "\r\n")
    con, log = opened(tmp_path, text)
    lines = [r["__line"] for r in fetch(con, log.events.relation)]
    assert lines == [line_of(SAMPLE, "<event>", i) for i in range(3)]
    assert lines[0] == 16


def test_prefixed_element_names_read_like_plain_ones(tmp_path):
    prefixed = re.sub(
        r"<(/?)(log|trace|event|string|date|int|boolean|float|list|values|global|extension|classifier)\b",
        r"<\1xes:\2",
        SAMPLE,
    ).replace('xmlns="', 'xmlns:xes="')
    assert "<xes:event>" in prefixed and "<event>" not in prefixed
    con, plain = opened(tmp_path / "plain", SAMPLE)
    con_prefixed, log = opened(tmp_path / "prefixed", prefixed)
    assert fetch(con_prefixed, log.events.relation) == fetch(con, plain.events.relation)
    assert fetch(con_prefixed, log.cases.relation) == fetch(con, plain.cases.relation)


def test_the_declared_encoding_is_honoured(tmp_path):
    text = SAMPLE.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"').replace("A-1", "Ærø-1")
    path = tmp_path / "log.xes"
    path.write_bytes(text.encode("latin-1"))
    con = duckdb.connect()
    log = open_xes(con, path, tmp_path / "work")
    assert fetch(con, log.cases.relation)[0]["customer_id"] == "Ærø-1"


def test_a_trace_without_events_is_a_case_with_no_first_seen(tmp_path):
    text = SAMPLE.replace(
        "<trace>", '<trace><string key="concept:name" value="quiet"/></trace>\n  <trace>', 1
    )
    con, log = opened(tmp_path, text)
    cases = fetch(con, log.cases.relation)
    assert (cases[0]["customer_id"], cases[0]["first_seen"]) == ("quiet", None)
    assert len(cases) == log.trace_count == 3
    assert log.event_count == 3


def test_timestamps_that_do_not_read_as_times_fall_back_to_the_first_event(tmp_path):
    text = SAMPLE.replace("2024-01-01T10:00:00.000+02:00", "soon").replace(
        "2024-01-01T09:30:00.000+00:00", "later"
    )
    con, log = opened(tmp_path, text)
    assert fetch(con, log.cases.relation)[0]["first_seen"] == "soon"


@pytest.mark.parametrize("encoding", ["shift_jis", "no-such-encoding"])
def test_an_encoding_expat_cannot_read_is_refused(tmp_path, encoding):
    text = SAMPLE.replace('encoding="UTF-8"', f'encoding="{encoding}"')
    with pytest.raises(SourceError, match=r"log\.xes: line 1, column \d+: the declared encoding"):
        opened(tmp_path, text)
    assert not list((tmp_path / "work").iterdir())


def test_names_that_differ_only_in_case_stay_apart(tmp_path):
    text = SAMPLE.replace(
        '<string key="org:resource" value="112"/>',
        '<string key="org:resource" value="112"/><string key="ORG:RESOURCE" value="113"/>',
    ).replace('<int key="AMOUNT_REQ"', '<int key="customer_id" value="7"/><int key="AMOUNT_REQ"')
    con, log = opened(tmp_path, text)
    first = fetch(con, log.events.relation)[0]
    assert (first["org:resource"], first["ORG:RESOURCE_1"]) == ("112", "113")
    case = fetch(con, log.cases.relation)[0]
    assert (case["customer_id"], case["case:customer_id"]) == ("A-1", "7")


def test_open_source_gives_the_events_and_leaves_only_their_files(tmp_path):
    path = write(tmp_path / "log.xes", SAMPLE)
    con = duckdb.connect()
    source = open_source(con, path, tmp_path / "work")
    assert con.execute(f"SELECT count(*) FROM {source.relation}").fetchone() == (3,)
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == sorted(
        p.name for p in source.temp_files
    )
    source.cleanup()
    assert not list((tmp_path / "work").iterdir())


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE log [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<log><trace><string key="concept:name" value="&lol9;"/><event/></trace></log>
"""


@pytest.mark.parametrize(
    "text",
    [
        BILLION_LAUGHS,
        '<?xml version="1.0"?>\n<!DOCTYPE log SYSTEM "http://example.com/x.dtd">\n<log/>',
    ],
)
def test_a_document_type_is_refused_before_anything_is_expanded(tmp_path, text):
    started = time.perf_counter()
    with pytest.raises(SourceError, match=r"log\.xes: line 2, column \d+: .*DOCTYPE"):
        opened(tmp_path, text)
    assert time.perf_counter() - started < 2
    assert not list((tmp_path / "work").iterdir())


def position(text: str, fragment: str) -> tuple[int, int]:
    """The 1-based line and column where ``fragment`` first starts in ``text``."""
    at = text.index(fragment)
    return text.count("\n", 0, at) + 1, at - (text.rfind("\n", 0, at) + 1) + 1


CUT = SAMPLE[: SAMPLE.index("</log>")]
MISSPELT = SAMPLE.replace("</event>", "</evnt>", 1)
UNKNOWN_ENTITY = SAMPLE.replace("&amp;", "&nbsp;")
MALFORMED = [
    (MISSPELT, position(MISSPELT, "evnt>"), "mismatched tag"),  # at the tag name
    (CUT, (CUT.count("\n") + 1, 1), "no element found"),
    ("", (1, 1), "no element found"),
    ("\x00\x01binary", (1, 1), "not well-formed"),
    # expat points at the start of the element whose attribute holds the entity
    (
        UNKNOWN_ENTITY,
        position(UNKNOWN_ENTITY, '<string key="concept:name" value="checked'),
        "undefined entity",
    ),
]


@pytest.mark.parametrize(("text", "where", "reason"), MALFORMED)
def test_malformed_xml_names_file_line_and_column(tmp_path, text, where, reason):
    line, column = where
    with pytest.raises(SourceError) as caught:
        opened(tmp_path, text)
    message = str(caught.value)
    assert message.startswith(str(tmp_path / "log.xes") + ": ")
    assert f"line {line}, column {column}: not well-formed XML ({reason}" in message
    assert not list((tmp_path / "work").iterdir())


def test_a_file_that_is_not_xes_is_refused(tmp_path):
    text = '<?xml version="1.0"?>\n<html>\n  <body/>\n</html>\n'
    with pytest.raises(SourceError, match=r"log\.xes: line 2, column 1: not an XES event log"):
        opened(tmp_path, text)


def test_a_log_without_events_is_refused(tmp_path):
    text = '<log>\n  <trace><string key="concept:name" value="a"/></trace>\n</log>\n'
    with pytest.raises(SourceError, match=r"log\.xes: the log has no events \(1 trace\(s\)"):
        opened(tmp_path, text)
    with pytest.raises(SourceError, match="no events"):
        opened(tmp_path, "<log/>")


def test_a_trace_without_a_case_id_is_refused_at_its_line(tmp_path):
    text = SAMPLE.replace('<string key="concept:name" value="A-2"/>', "")
    trace_line = line_of(SAMPLE, "<trace>", 1)
    with pytest.raises(
        SourceError, match=rf"log\.xes: line {trace_line}, column 3: .*concept:name"
    ):
        opened(tmp_path, text, batch_events=1)
    assert not list((tmp_path / "work").iterdir())


def test_a_cut_off_gzip_is_refused(tmp_path):
    data = gzip.compress(SAMPLE.encode())
    path = tmp_path / "log.xes.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(SourceError, match=r"log\.xes\.gz: the compressed file is cut off"):
        open_xes(duckdb.connect(), path, tmp_path / "work")


@pytest.mark.parametrize("name", ["missing.xes", "folder.xes"])
def test_a_path_that_is_not_a_readable_file_is_refused(tmp_path, name):
    (tmp_path / "folder.xes").mkdir()
    with pytest.raises(SourceError, match=rf"{name}: cannot be read \("):
        open_xes(duckdb.connect(), tmp_path / name, tmp_path / "work")


def count_elements(path: Path) -> tuple[int, int, set[str]]:
    """Events, traces and case ids, counted by lxml on its own."""
    events = traces = 0
    case_ids: set[str] = set()
    with gzip.open(path, "rb") as handle:
        for _, element in etree.iterparse(handle, tag=("{*}event", "{*}trace")):
            if etree.QName(element).localname == "event":
                events += 1
            else:
                traces += 1
                for child in element:
                    if child.get("key") == "concept:name":
                        case_ids.add(child.get("value"))
                element.clear()
    return events, traces, case_ids


@pytest.mark.skipif(not RECEIPT.exists(), reason="shared data not available")
def test_a_real_log_gives_as_many_events_and_traces_as_lxml_finds(tmp_path):
    events, traces, case_ids = count_elements(RECEIPT)
    con = duckdb.connect()
    log = open_xes(con, RECEIPT, tmp_path / "work", batch_events=1_000)
    assert (log.event_count, log.trace_count) == (events, traces)
    assert con.execute(f"SELECT count(*) FROM {log.events.relation}").fetchone() == (events,)
    found = con.execute(f"SELECT customer_id, first_seen FROM {log.cases.relation}").fetchall()
    assert len(found) == traces and {c for c, _ in found} == case_ids
    assert all(first for _, first in found if first is not None)
    unmatched = con.execute(
        f'SELECT count(*) FROM {log.events.relation} WHERE "case:concept:name" IS NULL'
    ).fetchone()
    assert unmatched == (0,)
    log.cleanup()


# -- property: whatever is written reads back exactly ------------------------------------
keys = st.text(alphabet="abcdefghij:_", min_size=1, max_size=6).filter(
    lambda k: k not in ("customer_id", "first_seen") and not k.startswith("case:")
)
# any text XML can carry; tabs and line ends are written as character references
values = st.text(
    st.characters(exclude_categories=("Cs", "Cn", "Cc"), include_characters="\t\n\r"),
    max_size=10,
)
attributes = st.dictionaries(keys.filter(lambda k: k != "concept:name"), values, max_size=3)
traces = st.lists(
    st.tuples(
        values.filter(bool),
        attributes,
        st.lists(st.dictionaries(keys, values, max_size=4), max_size=4),
    ),
    min_size=1,
    max_size=6,
).filter(lambda ts: any(events for _, _, events in ts))


def render(log: list[tuple[str, dict, list[dict]]]) -> tuple[str, list[dict], list[dict]]:
    """The XES text, the event rows and the case rows it must read back as."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', "<log>"]
    events: list[dict] = []
    cases: list[dict] = []

    def attribute(key: str, value: str) -> str:
        quoted = quoteattr(value, {"\n": "&#10;", "\r": "&#13;", "\t": "&#9;"})
        return f"<string key={quoteattr(key)} value={quoted}/>"

    for case_id, trace_attributes, trace_events in log:
        lines.append("<trace>")
        cases.append({"__line": len(lines), "customer_id": case_id, **trace_attributes})
        lines.append(attribute("concept:name", case_id))
        lines.extend(attribute(k, v) for k, v in trace_attributes.items())
        carried = {"case:concept:name": case_id}
        carried |= {f"case:{k}": v for k, v in trace_attributes.items()}
        for event in trace_events:
            lines.append("<event>")
            events.append({"__line": len(lines), **event, **carried})
            lines.extend(attribute(k, v) for k, v in event.items())
            lines.append("</event>")
        lines.append("</trace>")
    lines.append("</log>")
    return "\n".join(lines), events, cases


def present(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if v is not None and k != "first_seen"} for row in rows]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(log=traces, batch_events=st.integers(1, 5), compressed=st.booleans())
def test_any_log_reads_back_exactly(tmp_path_factory, log, batch_events, compressed):
    root = tmp_path_factory.mktemp("xes")
    text, events, cases = render(log)
    con, opened_log = opened(
        root, text, "log.xes.gz" if compressed else "log.xes", batch_events=batch_events
    )
    assert isinstance(opened_log, XesLog)
    assert present(fetch(con, opened_log.events.relation)) == events
    assert present(fetch(con, opened_log.cases.relation)) == cases
    opened_log.cleanup()


def test_absent_keys_are_found_without_parsing(tmp_path):
    from cxray.ingest.xes import absent_keys

    for compressed in (False, True):
        path = write(tmp_path / f"log{compressed}.xes", SAMPLE, compressed)
        # keys first met late in the file, trace attributes asked for as case:<key>
        found = absent_keys(
            path, ["late", "case:vip", "case:AMOUNT_REQ", "org:resource", "nope", "case:nothing"]
        )
        assert found == ["nope", "case:nothing"]


def test_a_key_split_between_two_reads_is_still_found(tmp_path, monkeypatch):
    from cxray.ingest import xes

    path = write(tmp_path / "log.xes", SAMPLE)
    at = SAMPLE.encode().index(b'key="late"')
    for size in (at + 3, at + 7, 5):  # the needle cut at different places
        monkeypatch.setattr(xes, "SCAN_CHUNK", size)
        assert xes.absent_keys(path, ["late"]) == []


def test_a_map_naming_no_attribute_is_refused_before_parsing(tmp_path, monkeypatch):
    import cxray
    from cxray.ingest import xes
    from cxray.ingest.problems import ImportError_

    path = write(tmp_path / "log.xes", SAMPLE)
    ws = cxray.init(tmp_path / "ws")

    def never(*args, **kwargs):
        raise AssertionError("the log was parsed")

    monkeypatch.setattr(xes, "_parse", never)
    try:
        with pytest.raises(ImportError_, match="does not have: nope"):
            ws.import_table("events", path, mapping={"nope": "channel"})
        with pytest.raises(ImportError_, match="does not have: nope"):
            ws.preview_import("events", path, mapping={"nope": "channel"})
    finally:
        ws.close()
