"""--recode: labels turned into values before typing, checked before the file is read."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cxray
from cxray.ingest.importer import ImportError_
from cxray.ingest.recode import (
    RecodeError,
    normalise_recode,
    parse_recode,
    refusal_lines,
    suggested_option,
)
from cxray.ingest.sources import Source

SENTIMENT = {"negative": "1", "neutral": "3", "positive": "5"}


@pytest.fixture
def ws(tmp_path: Path):
    workspace = cxray.init(tmp_path / "ws")
    yield workspace
    workspace.close()


def write(tmp_path: Path, text: str, name: str = "answers.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_option_syntax():
    assert parse_recode(["score=negative:1,neutral:3,positive:5"]) == {"score": SENTIMENT}
    assert parse_recode([" score = Negative :1, POSITIVE: 5 "]) == {
        "score": {"negative": "1", "positive": "5"}
    }
    assert parse_recode(["touchpoint=web:order:online_order"]) == {
        "touchpoint": {"web:order": "online_order"}  # the value follows the last colon
    }
    assert parse_recode(["score=a:1", "score=b:2", "metric=NPS survey:nps"]) == {
        "score": {"a": "1", "b": "2"},
        "metric": {"nps survey": "nps"},
    }
    assert parse_recode(None) == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("score", "COLUMN=LABEL:VALUE"),
        ("=a:1", "COLUMN=LABEL:VALUE"),
        ("score=", "COLUMN=LABEL:VALUE"),
        ("score=negative", "'negative' is not LABEL:VALUE"),
        ("score=negative:1,", "'' is not LABEL:VALUE"),
        ("score=:1", "a label is empty"),
        ("score=negative:", "label 'negative' has no value"),
        ("score=Neg:1,neg:2", "label 'neg' is given two values, '1' and '2'"),
    ],
)
def test_bad_syntax_is_a_clear_error(text, message):
    with pytest.raises(RecodeError, match=message):
        parse_recode([text])


labels = st.text(
    alphabet=st.characters(blacklist_characters=",", blacklist_categories=("Cs", "Cc")),
    min_size=1,
    max_size=12,
).filter(lambda s: s.strip())
values = st.text(
    alphabet=st.characters(blacklist_characters=",:", blacklist_categories=("Cs", "Cc")),
    min_size=1,
    max_size=6,
).filter(lambda s: s.strip())


@settings(max_examples=80, deadline=None)
@given(st.dictionaries(labels, values, min_size=1, max_size=6))
def test_any_labels_written_as_an_option_read_back_as_given(recode):
    keys = [label.strip().lower() for label in recode]
    if len(set(keys)) < len(keys):
        return  # labels equal whatever their case: one entry
    text = "score=" + ",".join(f"{label}:{value}" for label, value in recode.items())
    assert parse_recode([text]) == normalise_recode({"score": recode})
    assert parse_recode([text])["score"] == {
        label.strip().lower(): value.strip() for label, value in recode.items()
    }


def test_python_recode_is_checked_before_the_file_is_read(ws, tmp_path):
    missing = tmp_path / "not-there.csv"
    with pytest.raises(ImportError_, match="label 'negative' has no value"):
        ws.import_table("feedback", missing, recode={"score": {"negative": ""}})
    with pytest.raises(ImportError_, match="give at least one LABEL:VALUE"):
        ws.import_table("feedback", missing, recode={"score": {}})


def test_labels_become_scores_before_typing(ws, tmp_path):
    path = write(
        tmp_path,
        "ts,sentiment,text\n"
        "2024-03-01,negative,late\n"
        "2024-03-02, Positive ,great\n"
        "2024-03-03,NEUTRAL,ok\n",
    )
    result = ws.import_table(
        "feedback",
        path,
        {"sentiment": "score"},
        constants={"metric": "rating"},
        recode={"sentiment": SENTIMENT},  # the file's column name works as well as `score`
    )
    assert result.rows_imported == 3
    stored = ws.feedback.order_by("ts").execute()
    assert stored["score"].tolist() == [1.0, 5.0, 3.0]
    assert stored["comment"].tolist() == ["late", "great", "ok"]


def test_a_label_not_listed_is_refused_as_not_a_number(ws, tmp_path):
    path = write(tmp_path, "ts,score\n2024-03-01,negative\n2024-03-02,mixed\n2024-03-03,4\n")
    with pytest.raises(ImportError_) as refused:
        ws.import_table(
            "feedback", path, constants={"metric": "rating"}, recode={"score": SENTIMENT}
        )
    message = str(refused.value)
    assert "line 3: score = 'mixed': not a number" in message
    assert "line 2" not in message  # negative was recoded, 4 is a number
    assert ws.warehouse.count("feedback") == 0


def test_recoding_metric_and_a_churn_flag(ws, tmp_path):
    answers = write(tmp_path, "ts,survey_type,score\n2024-03-01,Net Promoter,9\n")
    ws.import_table("feedback", answers, recode={"metric": {"net promoter": "nps"}})
    assert ws.feedback.execute()["metric"].tolist() == ["nps"]
    crm = write(tmp_path, "id,start,status\na,2023-01-01,Stayed\nb,2023-02-01,Left\n", "crm.csv")
    ws.import_table(
        "customers",
        crm,
        {"id": "customer_id", "status": "churned"},
        as_of="2024-01-31",
        recode={"churned": {"stayed": "no", "left": "yes"}},
    )
    frame = ws.customers.order_by("customer_id").execute()
    assert frame["churned_at"].isna().tolist() == [True, False]


@pytest.mark.parametrize(
    ("recode", "options", "message"),
    [
        ({"mood": {"a": "1"}}, {}, "--recode mood: no such column"),
        ({"score": {"a": "1"}}, {"constants": {"score": "5"}}, "score is set by --set"),
        ({"comment": {"a": "b"}}, {}, "the file has no column for comment"),
        ({"ts": {"yesterday": "2024-01-01"}}, {}, "not to ts"),
        (
            {"score": {"a": "1"}, "Q1": {"b": "2"}},
            {"mapping": {"Q1": "score"}},
            "names score twice",
        ),
    ],
)
def test_a_recode_that_cannot_apply_names_why(ws, tmp_path, recode, options, message):
    path = write(tmp_path, "ts,metric,score,Q1\n2024-03-01,nps,9,9\n")
    if "mapping" in options:
        path = write(tmp_path, "ts,metric,Q1\n2024-03-01,nps,9\n")
    with pytest.raises(ImportError_, match=message):
        ws.import_table(
            "feedback",
            path,
            options.get("mapping"),
            recode=recode,
            **{k: v for k, v in options.items() if k != "mapping"},
        )


@pytest.mark.parametrize(
    ("values", "option"),
    [
        (
            ["positive", "Negative ", "neutral", "positive"],
            "--recode score=negative:?,neutral:?,positive:?",
        ),
        (["very good", "bad"], "--recode 'score=bad:?,very good:?'"),
        (["12..5"], None),  # a typo in a number, not a label
        (["a,b"], None),  # a comma cannot be written in the option
        ([f"word{i}" for i in range(13)], None),  # free text, not a scale
    ],
)
def test_the_suggested_option_lists_the_labels(values, option):
    assert suggested_option("score", values) == option


class _Problems:
    """A refused import's problem table, as refusal_lines reads it."""

    def __init__(self, rows: list[tuple[str, str, str]]):
        self.con = duckdb.connect()
        self.table = "problems"
        self.source = Source(Path("answers.csv"), "csv", "", {})
        self.con.execute(
            "CREATE TABLE problems (__row BIGINT, line BIGINT, column_name VARCHAR, "
            "value VARCHAR, reason VARCHAR)"
        )
        self.con.executemany(
            "INSERT INTO problems VALUES (1, 2, ?, ?, ?)", [list(row) for row in rows]
        )


def test_a_refusal_suggests_one_recode_per_column_of_labels():
    problems = _Problems(
        [("score", "positive", "not a number")] * 3
        + [("score", "Negative", "not a number"), ("ts", "soon", "not a date")]
    )
    assert refusal_lines(problems) == {
        "score": "  answers.csv: score: 4 values are text labels, not numbers; give each label "
        "a number with --recode score=negative:?,positive:?"
    }
    assert refusal_lines(_Problems([("score", "12..5", "not a number")])) == {}


def test_a_refused_import_suggests_the_recode(ws, tmp_path):
    path = write(
        tmp_path,
        "ts,score\n2024-03-01,positive\n2024-03-02,Negative\n2024-03-03,4\n2024-03-04,positive\n",
    )
    with pytest.raises(ImportError_) as refused:
        ws.import_table("feedback", path, constants={"metric": "rating"})
    lines = [line for line in str(refused.value).splitlines() if "--recode" in line]
    assert len(lines) == 1 and lines[0].endswith("--recode score=negative:?,positive:?")
    # from three rows on, the one line says it all: they are not listed one by one as well
    assert "not a number" not in str(refused.value)
    assert len(refused.value.errors) == 3  # the errors file and the API still have every row
