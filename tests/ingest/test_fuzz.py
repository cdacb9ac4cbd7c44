"""Whatever file a user hands to import: a clear refusal naming the file, or a correct read.

Never a traceback, and a refused import leaves the workspace exactly as it was.
"""

from __future__ import annotations

import gzip
import itertools
import random
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cxray
from cxray.ingest.importer import ImportError_

HEADER = "customer_id,ts,touchpoint\n"
counter = itertools.count()


def rows(n: int, start: int = 0) -> str:
    return "".join(f"c{i},2024-01-{i % 28 + 1:02d} 10:00:00,step{i % 5}\n" for i in range(start, n))


def snapshot(ws: cxray.Workspace) -> tuple:
    counts = tuple(t.count().execute() for t in (ws.customers, ws.events, ws.feedback))
    return counts, ws.journey_path.read_text(encoding="utf-8")


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)  # a refusal writes its error report to the current folder
    workspace = cxray.init(tmp_path / "ws")
    base = tmp_path / "base.csv"
    base.write_text(HEADER + rows(3))
    workspace.import_table("events", base)
    yield workspace
    workspace.close()


def refused(ws: cxray.Workspace, path: Path, pattern: str) -> str:
    before = snapshot(ws)
    with pytest.raises(ImportError_, match=pattern) as caught:
        ws.import_table("events", path)
    assert str(caught.value).startswith(str(path)), caught.value
    assert snapshot(ws) == before
    return str(caught.value)


def truncated_gzip(path: Path) -> None:
    rng = random.Random(1)
    body = "".join(f"c{rng.randrange(10**9)},2024-01-01,{rng.random()}\n" for _ in range(20_000))
    data = gzip.compress((HEADER + body).encode())
    path.write_bytes(data[: int(len(data) * 0.6)])


def damaged_gzip(path: Path) -> None:
    data = bytearray(gzip.compress((HEADER + rows(5000)).encode()))
    for i in range(len(data) // 2, len(data) // 2 + 40):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))


def bad_utf16(path: Path) -> None:
    text = (HEADER + rows(3)).encode("utf-16-le")
    path.write_bytes(b"\xff\xfe" + text + "c9,2024-01-01,x".encode("utf-16-le") + b"\x00\xd8A\x00")


REFUSALS: dict[str, tuple[str, Callable[[Path], None], str]] = {
    "truncated gzip": ("events.csv.gz", truncated_gzip, r"cut off .*nothing was imported"),
    "damaged gzip": ("events.csv.gz", damaged_gzip, r"damaged|cut off"),
    "gz that is not gzip": (
        "events.csv.gz",
        lambda p: p.write_text(HEADER + rows(3)),
        r"not gzip-compressed",
    ),
    "empty gz": ("events.csv.gz", lambda p: p.write_bytes(b""), r"not gzip-compressed"),
    "binary garbage": (
        "events.csv",
        lambda p: p.write_bytes(random.Random(2).randbytes(5000)),
        r"not UTF-8 text|binary file",
    ),
    "nul bytes in the header": (
        "events.csv",
        lambda p: p.write_bytes(b"customer_id,\x00ts\x01,touchpoint\n"),
        r"binary file",
    ),
    "control characters in the header": (
        "events.csv",
        lambda p: p.write_bytes(b"customer_id,\x1bts,touchpoint\nc1,2024-01-01,a\n"),
        r"line 1, column 13: control character U\+001B",
    ),
    "latin-1 header": (
        "events.csv",
        lambda p: p.write_bytes("customer_id,ts,caf\xe9\n".encode("latin-1")),
        r"line 1, column 19: byte 0xE9 is not UTF-8",
    ),
    "200k-column header": (
        "events.csv",
        lambda p: p.write_text(",".join(f"c{i}" for i in range(200_000)) + "\n1\n"),
        r"200,000 columns; cxray reads at most 5,000",
    ),
    "a first line of 17 MB": (
        "events.csv",
        lambda p: p.write_bytes(b"a" * (17 << 20)),
        r"longer than 16 MB",
    ),
    "broken utf-16": ("events.csv", bad_utf16, r"UTF-16 text, but around line 5"),
    "zstd-compressed csv": (
        "events.csv.zst",
        lambda p: p.write_bytes(b"\x28\xb5\x2f\xfd" + bytes(20)),
        r"zstd-compressed CSV files cannot be imported yet",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_unreadable_files_are_refused_with_file_and_reason(ws, tmp_path, case):
    name, make, pattern = REFUSALS[case]
    path = tmp_path / name
    make(path)
    refused(ws, path, pattern)
    assert (
        not list((ws.path / ".cxray-tmp").glob("*")) if (ws.path / ".cxray-tmp").exists() else True
    )


def test_a_folder_given_as_the_file_is_refused(ws, tmp_path):
    folder = tmp_path / "events.csv"
    folder.mkdir()
    refused(ws, folder, r"is a folder")


ENCODED: dict[str, Callable[[str], bytes]] = {
    "utf-16 with BOM": lambda t: t.encode("utf-16"),
    "utf-16-be with BOM": lambda t: b"\xfe\xff" + t.encode("utf-16-be"),
    "utf-16-le without BOM": lambda t: t.encode("utf-16-le"),
    "utf-16-be without BOM": lambda t: t.encode("utf-16-be"),
    "utf-32": lambda t: t.encode("utf-32"),
    "utf-8 with BOM": lambda t: t.encode("utf-8-sig"),
    "classic Mac line endings": lambda t: t.replace("\n", "\r").encode(),
    "Windows line endings": lambda t: t.replace("\n", "\r\n").encode(),
}


@pytest.mark.parametrize("case", sorted(ENCODED))
@pytest.mark.parametrize("compressed", [False, True])
def test_text_in_any_unicode_encoding_or_line_ending_is_read(ws, tmp_path, case, compressed):
    text = HEADER.replace("touchpoint", "touchpoint,note") + "".join(
        f"n{i},2024-02-{i + 1:02d},café,“{i}”\n" for i in range(20)
    )
    data = ENCODED[case](text)
    path = tmp_path / ("events.csv.gz" if compressed else "events.csv")
    path.write_bytes(gzip.compress(data) if compressed else data)
    result = ws.import_table("events", path)
    assert result.rows_read == result.rows_imported == 20
    events = ws.events.filter(ws.events.customer_id.startswith("n")).execute()
    assert set(events.touchpoint) == {"café"}
    assert not (ws.path / ".cxray-tmp").exists() or not list((ws.path / ".cxray-tmp").iterdir())


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32"])
def test_json_lines_in_utf16_or_utf32_are_read(ws, tmp_path, encoding):
    lines = "".join(
        f'{{"customer_id": "j{i}", "ts": "2024-02-0{i + 1}", "touchpoint": "café"}}\n'
        for i in range(3)
    )
    path = tmp_path / "events.jsonl"
    path.write_bytes(lines.encode(encoding))
    assert ws.import_table("events", path).rows_imported == 3
    assert "café" in ws.journey.touchpoints


def test_an_excel_unicode_text_export_is_read(ws, tmp_path):
    # Excel's "Unicode text": UTF-16 little-endian with a BOM, tab-separated, CRLF
    text = "customer_id\tts\ttouchpoint\r\nx1\t2024-03-01\tbestelling geplaatst\r\n"
    path = tmp_path / "export.txt"
    path.write_bytes(text.encode("utf-16"))
    result = ws.import_table("events", path)
    assert result.rows_imported == 1
    assert "bestelling geplaatst" in ws.journey.touchpoints


def test_an_error_in_a_utf16_file_names_the_line_the_user_sees(ws, tmp_path):
    path = tmp_path / "events.csv"
    path.write_bytes((HEADER + rows(3) + "c9,yesterday,x\n").encode("utf-16"))
    message = refused(ws, path, r"line 5: ts = 'yesterday'")
    assert str(path) in message


def test_a_field_over_128_kb_is_read(ws, tmp_path):
    big = "x" * 200_000
    path = tmp_path / "events.csv"
    path.write_text(HEADER + f'b1,2024-01-01,"{big}"\n')
    assert ws.import_table("events", path).rows_imported == 1


def test_a_field_over_128_kb_does_not_hide_the_line_of_an_error(ws, tmp_path):
    big = "x" * 200_000
    path = tmp_path / "events.csv"
    path.write_text(HEADER + f'b1,2024-01-01,"{big}"\nb2,yesterday,a\nb3,2024-01-01,a,extra\n')
    message = refused(ws, path, r"line 3: ts = 'yesterday'")
    assert "line 4" in message


# -- random input: a refusal or a read, never a traceback; a refusal changes nothing --------
def _attempt(ws: cxray.Workspace, path: Path) -> None:
    before = snapshot(ws)
    try:
        ws.import_table("events", path)
    except ImportError_ as exc:
        assert str(exc), "an empty message"
        assert snapshot(ws) == before
    tmp = ws.path / ".cxray-tmp"
    assert not tmp.exists() or not list(tmp.iterdir())


FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FUZZ
@given(
    data=st.binary(max_size=400),
    suffix=st.sampled_from(
        [".csv", ".csv.gz", ".tsv", ".jsonl", ".jsonl.gz", ".xes", ".parquet", ".csv.zst"]
    ),
)
def test_random_bytes_never_crash_the_import(ws, tmp_path, data, suffix):
    path = tmp_path / f"random{next(counter)}{suffix}"
    path.write_bytes(data)
    _attempt(ws, path)


cells = st.text(alphabet='ab1,;"\t\r\n\x00é[/]-: ', max_size=12)


@FUZZ
@given(
    lines=st.lists(st.lists(cells, min_size=1, max_size=5), min_size=0, max_size=8),
    header=st.sampled_from([HEADER, "customer_id;ts;touchpoint\r\n", "a,b\n", ""]),
    encoding=st.sampled_from(["utf-8", "utf-16", "latin-1"]),
)
def test_short_random_csvs_never_crash_the_import(ws, tmp_path, lines, header, encoding):
    text = header + "\n".join(",".join(cells) for cells in lines)
    path = tmp_path / f"short{next(counter)}.csv"
    path.write_bytes(text.encode(encoding, errors="replace"))
    _attempt(ws, path)
