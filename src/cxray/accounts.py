"""Who may use the web app: users with a role, their passwords hashed with argon2.

Users live in the workspace's warehouse (table ``cxray_users``), so the app and
``cxray user add`` see the same ones. Roles, from least to most: ``agent`` (customer timelines
and at-risk lists, no bulk exports), ``analyst`` (everything but users) and ``admin``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from cxray.i18n import Message

USERS_TABLE = "cxray_users"
ROLES = ("agent", "analyst", "admin")
MIN_PASSWORD = 10
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


class AccountError(ValueError):
    """A user that cannot be added or changed; raised with a bilingual Message."""


@dataclass(frozen=True)
class User:
    name: str
    role: str
    created_at: dt.datetime | None = None

    def may(self, role: str) -> bool:
        """Whether this user has ``role`` or a stronger one."""
        return ROLES.index(self.role) >= ROLES.index(role)

    def to_dict(self) -> dict[str, Any]:
        created = self.created_at.isoformat() if self.created_at else None
        return {"name": self.name, "role": self.role, "created_at": created}


def _hasher():
    from argon2 import PasswordHasher

    return PasswordHasher()


# How many times this process changed a user: a process that keeps users in memory (the web app's
# sign-in) reads them again after a change (another process's changes reach it when it opens the
# warehouse again, as it does after lending it to a command).
_changes = 0


def changes() -> int:
    return _changes


def _changed() -> None:
    global _changes
    _changes += 1


def ensure_table(warehouse: Any) -> None:
    warehouse.sql(
        f"CREATE TABLE IF NOT EXISTS {USERS_TABLE} ("
        "name VARCHAR PRIMARY KEY, password_hash VARCHAR NOT NULL, "
        "role VARCHAR NOT NULL, created_at TIMESTAMPTZ NOT NULL)"
    )


def _has_table(warehouse: Any) -> bool:
    return warehouse.has_table(USERS_TABLE)


def check_role(role: str) -> str:
    if role not in ROLES:
        listed = ", ".join(ROLES)
        raise AccountError(
            Message(
                f"unknown role {role!r}; roles: {listed}",
                f"onbekende rol {role!r}; rollen: {listed}",
            )
        )
    return role


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AccountError(
            Message(
                f"the password is too short: at least {MIN_PASSWORD} characters",
                f"het wachtwoord is te kort: minstens {MIN_PASSWORD} tekens",
            )
        )
    return password


def add_user(warehouse: Any, name: str, password: str, role: str) -> User:
    """A new user; refused when the name is taken or invalid, the role unknown, the password short."""
    if not NAME_PATTERN.match(name):
        raise AccountError(
            Message(
                f"{name!r} cannot be a user name: use letters, digits and . _ @ - (at most 64)",
                f"{name!r} kan geen gebruikersnaam zijn: gebruik letters, cijfers en . _ @ - "
                "(hoogstens 64)",
            )
        )
    check_role(role)
    check_password(password)
    ensure_table(warehouse)
    if get_user(warehouse, name) is not None:
        raise AccountError(
            Message(f"user {name!r} exists already", f"gebruiker {name!r} bestaat al")
        )
    now = dt.datetime.now(dt.UTC)
    warehouse.sql(
        f"INSERT INTO {USERS_TABLE} VALUES (?, ?, ?, ?)",
        [name, _hasher().hash(password), role, now],
    )
    _changed()
    return User(name, role, now)


def get_user(warehouse: Any, name: str) -> User | None:
    if not _has_table(warehouse):
        return None
    rows = warehouse.query(
        f"SELECT name, role, created_at FROM {USERS_TABLE} WHERE name = ?", [name]
    )
    return User(*rows[0]) if rows else None


def list_users(warehouse: Any) -> list[User]:
    if not _has_table(warehouse):
        return []
    rows = warehouse.query(f"SELECT name, role, created_at FROM {USERS_TABLE} ORDER BY name")
    return [User(*row) for row in rows]


def count_users(warehouse: Any) -> int:
    if not _has_table(warehouse):
        return 0
    return int(warehouse.query(f"SELECT count(*) FROM {USERS_TABLE}")[0][0])


def _require(warehouse: Any, name: str) -> User:
    user = get_user(warehouse, name)
    if user is None:
        raise AccountError(Message(f"no user {name!r}", f"geen gebruiker {name!r}"))
    return user


def set_role(warehouse: Any, name: str, role: str) -> User:
    check_role(role)
    user = _require(warehouse, name)
    if user.role == "admin" and role != "admin":
        _keep_an_admin(warehouse, name)
    warehouse.sql(f"UPDATE {USERS_TABLE} SET role = ? WHERE name = ?", [role, name])
    _changed()
    return User(name, role, user.created_at)


def set_password(warehouse: Any, name: str, password: str) -> None:
    _require(warehouse, name)
    check_password(password)
    warehouse.sql(
        f"UPDATE {USERS_TABLE} SET password_hash = ? WHERE name = ?",
        [_hasher().hash(password), name],
    )
    _changed()


def remove_user(warehouse: Any, name: str) -> None:
    user = _require(warehouse, name)
    if user.role == "admin":
        _keep_an_admin(warehouse, name)
    warehouse.sql(f"DELETE FROM {USERS_TABLE} WHERE name = ?", [name])
    _changed()


def _keep_an_admin(warehouse: Any, leaving: str) -> None:
    others = warehouse.query(
        f"SELECT count(*) FROM {USERS_TABLE} WHERE role = 'admin' AND name <> ?", [leaving]
    )
    if not others[0][0]:
        raise AccountError(
            Message(
                f"{leaving!r} is the last admin: make another user admin first",
                f"{leaving!r} is de laatste beheerder: maak eerst een andere gebruiker beheerder",
            )
        )


# Verifying against this when the user does not exist takes as long as a real check, so the
# answer's timing does not tell which names exist.
_ABSENT_HASH: list[str] = []


def verify(warehouse: Any, name: str, password: str) -> User | None:
    """The user when ``password`` is theirs, else None (same work either way)."""
    from argon2.exceptions import InvalidHashError, VerificationError

    hasher = _hasher()
    rows = []
    if _has_table(warehouse):
        rows = warehouse.query(
            f"SELECT name, role, created_at, password_hash FROM {USERS_TABLE} WHERE name = ?",
            [name],
        )
    if not rows:
        if not _ABSENT_HASH:
            _ABSENT_HASH.append(hasher.hash("no such user: a constant"))
        with contextlib.suppress(VerificationError):
            hasher.verify(_ABSENT_HASH[0], password)
        return None
    *fields, stored = rows[0]
    try:
        hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if hasher.check_needs_rehash(stored):
        warehouse.sql(
            f"UPDATE {USERS_TABLE} SET password_hash = ? WHERE name = ?",
            [hasher.hash(password), name],
        )
    return User(*fields)
