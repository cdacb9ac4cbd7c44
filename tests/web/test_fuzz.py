"""Every operation of the app's OpenAPI description, fuzzed (schemathesis): whatever the query,
path or form holds, the answer is never a server error — a 4xx page that says why, or the page.
Signed in as an admin (every route open), so that the refusals measured are the input's."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.web.conftest import sign_in


@pytest.fixture(scope="module")
def api(app):
    schema = schemathesis.openapi.from_dict(app.openapi())
    schema.app = app
    return schema


@pytest.fixture(scope="module")
def admin_cookies(app) -> dict[str, str]:
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        sign_in(client, "admin")
        return dict(client.cookies)


def operations(api) -> list:
    return [result.ok() for result in api.get_all_operations()]


def test_the_description_lists_every_page(api):
    paths = {operation.path for operation in operations(api)}
    for page in ("/", "/canvas", "/touchpoints", "/touchpoints/{name}", "/flows", "/why",
                 "/customers", "/customers/{customer_id}", "/owners", "/owners/{owner}"):  # fmt: skip
        assert any(path == page or path.startswith(page.split("{")[0]) for path in paths), page


def test_no_input_makes_a_server_error(api, admin_cookies):
    failures: list[str] = []
    for operation in operations(api):

        @settings(
            max_examples=20,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def check(case) -> None:
            answer = case.call(cookies=admin_cookies)
            if answer.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} {case.query}: {answer.status_code}"
                )

        check()
    assert not failures, "\n".join(failures[:20])


# The filters and a page's own choices are read from the query string, not declared one by one
# in the description: fuzzed here, on every page.
QUERY_KEYS = ("start", "end", "segment", "channel", "phase", "who", "top", "page", "q", "lang",
              "theme", "min_score", "max_score", "language", "band", "show", "format")  # fmt: skip
PAGES = ("/", "/canvas", "/touchpoints", "/flows", "/why", "/customers", "/customers/at-risk",
         "/customers/onboarding", "/owners")  # fmt: skip
odd_text = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["2024-02-30", "9999-12-31", "-1", "0", "1e400", "nan", "%00", "' OR 1=1"]),
)


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(
    page=st.sampled_from(PAGES),
    query=st.dictionaries(st.sampled_from(QUERY_KEYS), odd_text, max_size=4),
)
def test_no_query_string_makes_a_server_error(analyst, page, query):
    answer = analyst.get(page, params=query)
    assert answer.status_code < 500, (page, query, answer.text[:300])
    if answer.status_code >= 400:
        assert answer.status_code in (400, 404, 422), (page, query, answer.status_code)
