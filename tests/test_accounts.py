"""Users and roles in the warehouse: argon2 hashes, refusals that say why, the last admin kept."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cxray
from cxray import accounts


@pytest.fixture
def warehouse(tmp_path):
    ws = cxray.init(tmp_path / "ws")
    yield ws.warehouse
    ws.close()


def test_a_user_signs_in_with_their_password_only(warehouse):
    accounts.add_user(warehouse, "ann", "correct horse battery", "analyst")
    assert accounts.verify(warehouse, "ann", "correct horse battery").role == "analyst"
    assert accounts.verify(warehouse, "ann", "correct horse batterY") is None
    assert accounts.verify(warehouse, "bob", "correct horse battery") is None
    stored = warehouse.query("SELECT password_hash FROM cxray_users")[0][0]
    assert stored.startswith("$argon2") and "correct" not in stored


def test_refusals_say_why(warehouse):
    accounts.add_user(warehouse, "ann", "long enough pw", "admin")
    with pytest.raises(accounts.AccountError, match="exists already"):
        accounts.add_user(warehouse, "ann", "long enough pw", "admin")
    with pytest.raises(accounts.AccountError, match="too short"):
        accounts.add_user(warehouse, "bob", "short", "agent")
    with pytest.raises(accounts.AccountError, match="unknown role"):
        accounts.add_user(warehouse, "bob", "long enough pw", "boss")
    with pytest.raises(accounts.AccountError, match="cannot be a user name"):
        accounts.add_user(warehouse, "bob smith", "long enough pw", "agent")
    assert [u.name for u in accounts.list_users(warehouse)] == ["ann"]


def test_the_last_admin_stays(warehouse):
    accounts.add_user(warehouse, "ann", "long enough pw", "admin")
    with pytest.raises(accounts.AccountError, match="last admin"):
        accounts.remove_user(warehouse, "ann")
    with pytest.raises(accounts.AccountError, match="last admin"):
        accounts.set_role(warehouse, "ann", "analyst")
    accounts.add_user(warehouse, "bob", "long enough pw", "admin")
    accounts.set_role(warehouse, "ann", "agent")
    accounts.remove_user(warehouse, "ann")
    assert [(u.name, u.role) for u in accounts.list_users(warehouse)] == [("bob", "admin")]


def test_roles_are_ordered():
    agent, analyst, admin = (accounts.User("x", role) for role in accounts.ROLES)
    assert admin.may("analyst") and admin.may("agent") and analyst.may("agent")
    assert not agent.may("analyst") and not analyst.may("admin")


def test_a_new_password_replaces_the_old(warehouse):
    accounts.add_user(warehouse, "ann", "first password", "agent")
    accounts.set_password(warehouse, "ann", "second password")
    assert accounts.verify(warehouse, "ann", "first password") is None
    assert accounts.verify(warehouse, "ann", "second password") is not None


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(password=st.text(min_size=accounts.MIN_PASSWORD, max_size=40))
def test_any_password_round_trips(warehouse, password):
    accounts.add_user(warehouse, "p", password, "agent")
    try:
        assert accounts.verify(warehouse, "p", password) is not None
        assert accounts.verify(warehouse, "p", password + "x") is None
    finally:
        accounts.remove_user(warehouse, "p")
