"""Every question on real and realistic data, as a new user would ask it: no traceback, no inf or
NaN, no impossible count, in a table and in JSON.

Workspaces: the real permit log (XES, events only), real airline tweets as 1–5 ratings with text
(feedback only; read from ../shared/data, never copied), and a one-order webshop with star
reviews (most customers buy once: the case where an inactivity rule calls nearly everyone
churned).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tomlkit
from typer.testing import CliRunner

from cxray.cli import app
from tests.conftest import SHARED_DATA

RECEIPT = SHARED_DATA / "receipt" / "receipt.xes.gz"
TWEETS = SHARED_DATA / "airline_tweets" / "tweets.csv"
QUESTIONS = [
    ["status"],
    ["metrics"],
    ["metrics", "--by", "touchpoint"],
    ["compare", "--metric", "rating"],
    ["funnel"],
    ["dropoff"],
    ["flows"],
    ["retention"],
    ["survival"],
    ["early-churn"],
    ["nps-drivers"],
    ["risk"],
    ["onboarding"],
    ["themes"],
    ["phrases"],
    ["dose-response"],
    ["drivers"],
    ["digest"],
    ["followups", "effect"],
    ["advocacy", "plan"],
]
COUNT_KEYS = {
    "customers",
    "n",
    "churned",
    "answers",
    "customers_exposed",
    "occurrences",
    "reached",
    "converted",
    "dropped",
    "censored",
    "known",
    "at_risk",
}
NOT_A_NUMBER = re.compile(r"(?<![\w-])(-?inf|infinity|nan)(?![\w-])", re.IGNORECASE)
EXPONENT = re.compile(r"\d\.?\d*e[+-]?\d{2,}")
runner = CliRunner()


def run(*args: object):
    result = runner.invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"cxray {' '.join(map(str, args))} raised") from result.exception
    return result


def cli(*args: object) -> tuple[int, str]:
    """Exit code and everything a person sees (standard output and error)."""
    result = run(*args)
    return result.exit_code, result.output


def set_churn(path: Path, **rule: object) -> None:
    doc = tomlkit.parse((path / "cxray.toml").read_text())
    for key, value in rule.items():
        doc["churn"][key] = value
    (path / "cxray.toml").write_text(tomlkit.dumps(doc))


def permit_log(root: Path) -> Path:
    path = root / "permits"
    assert cli("init", path)[0] == 0
    code, output = cli("import", path, "events", RECEIPT)
    assert code == 0, output
    set_churn(path, inactive_days=30)
    return path


def tweets(root: Path) -> Path:
    """Real complaints as a review log: negative = 1 star, neutral = 3, positive = 5."""
    frame = pd.read_csv(
        TWEETS, usecols=["tweet_id", "airline_sentiment", "name", "text", "tweet_created"]
    )
    frame = frame.sample(n=3000, random_state=7)
    stars = frame.airline_sentiment.map({"negative": 1, "neutral": 3, "positive": 5})
    created = pd.to_datetime(frame.tweet_created, format="%Y-%m-%d %H:%M:%S %z", utc=True)
    source = root / "tweets.csv"
    pd.DataFrame(
        {
            "response_id": frame.tweet_id.astype(str),
            "customer_id": frame.name,
            "ts": created.dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "score": stars,
            "comment": frame.text,
        }
    ).to_csv(source, index=False)
    path = root / "tweets"
    assert cli("init", path)[0] == 0
    # The real file rates some tweets twice, differently: those are quarantined, not guessed.
    code, output = cli(
        "import", path, "feedback", source, "--set", "metric=rating", "--skip-invalid"
    )
    assert code == 0, output
    return path


def webshop(root: Path) -> Path:
    """One order for most customers, a few come back; star reviews after some orders."""
    rng = np.random.default_rng(3)
    t0 = pd.Timestamp("2023-01-01", tz="UTC")
    events, reviews = [], []
    for i in range(600):
        ts = t0 + pd.Timedelta(days=float(rng.uniform(0, 500)))
        for _ in range(1 + int(rng.random() < 0.15) * int(rng.integers(1, 4))):
            events.append((f"k{i}", ts, "order_placed"))
            if rng.random() < 0.3:
                events.append((f"k{i}", ts + pd.Timedelta(days=2), "delivery_late"))
            else:
                events.append((f"k{i}", ts + pd.Timedelta(days=1), "delivered"))
            if rng.random() < 0.5:
                stars = int(rng.integers(1, 6))
                text = ["late and broken", "fine", "okay", "good", "great, fast delivery"][
                    stars - 1
                ]
                reviews.append((f"k{i}", ts + pd.Timedelta(days=3), stars, text))
            ts = ts + pd.Timedelta(days=float(rng.uniform(20, 90)))
    path = root / "shop"
    assert cli("init", path)[0] == 0
    events_file, reviews_file = root / "orders.csv", root / "reviews.csv"
    pd.DataFrame(events, columns=["customer_id", "ts", "touchpoint"]).to_csv(
        events_file, index=False
    )
    pd.DataFrame(reviews, columns=["customer_id", "ts", "score", "comment"]).to_csv(
        reviews_file, index=False
    )
    assert cli("import", path, "events", events_file)[0] == 0
    assert cli("import", path, "feedback", reviews_file, "--set", "metric=rating")[0] == 0
    set_churn(path, inactive_days=60)
    return path


BUILDERS = {"permits": permit_log, "tweets": tweets, "shop": webshop}


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    if not (RECEIPT.exists() and TWEETS.exists()):
        pytest.skip("shared real data not available")
    return tmp_path_factory.mktemp("real")


def workspace(root: Path, name: str) -> Path:
    """Built on first use, then shared by the module's tests (per test process)."""
    path = root / name
    if not (path / "cxray.toml").exists():
        BUILDERS[name](root)
    return path


def check_numbers(value: object, where: str) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key in COUNT_KEYS and isinstance(item, int | float):
                assert item >= 0, f"{where}: {key} = {item}"
            check_numbers(item, f"{where}.{key}")
    elif isinstance(value, list):
        for item in value:
            check_numbers(item, where)
    elif isinstance(value, float):
        assert math.isfinite(value), f"{where}: {value}"


@pytest.mark.parametrize("question", QUESTIONS, ids=lambda q: "-".join(q))
@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_every_question_answers_cleanly(root, name, question):
    path = workspace(root, name)
    code, table = cli(*question, path)
    assert code in (0, 1), table
    if code == 1:
        assert table.startswith("error:"), table  # a clear refusal, not a crash
        return
    assert not NOT_A_NUMBER.search(table), table
    assert not EXPONENT.search(table), table
    result = run(*question, path, "--format", "json")
    assert result.exit_code == 0, result.output

    def refuse(token: str) -> None:
        raise AssertionError(f"{token} in the JSON of {question}")

    check_numbers(json.loads(result.stdout, parse_constant=refuse), " ".join(question))
    code, dutch = cli(*question, path, "--lang", "nl")
    assert code == 0 and not NOT_A_NUMBER.search(dutch), dutch


def test_a_one_order_shop_is_told_that_inactivity_churns_most(root):
    code, output = cli("status", workspace(root, "shop"))
    assert code == 0
    words = " ".join(output.split())
    assert "count as churned by inactivity" in words and "Suggested: inactive_days" in words, words
