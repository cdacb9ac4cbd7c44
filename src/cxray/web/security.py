"""Who is asking: sessions in signed cookies, CSRF tokens, roles per route, login throttling.

The session cookie is signed with a key kept in the workspace (``.cxray/secret_key``, readable
by its owner only), so sessions survive a restart of the app. Every form carries the session's
CSRF token; a request that changes something without it is refused.
"""

from __future__ import annotations

import hmac
import os
import secrets
import threading
import time
from collections import defaultdict, deque
from pathlib import Path

from fastapi import Request

from cxray.accounts import ROLES, User
from cxray.i18n import Message

SECRET_FILE = Path(".cxray") / "secret_key"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
# Failed logins allowed per name and per address within the window, then each further try waits.
MAX_FAILURES = 5
FAILURE_WINDOW = 15 * 60.0
LOCKOUT_SECONDS = 60.0


class NeedsLogin(Exception):
    """No signed-in user: HTML pages go to the login page, JSON answers 401."""


class Forbidden(Exception):
    """Signed in, but the route needs a stronger role."""

    def __init__(self, role: str):
        super().__init__(role)
        self.role = role


class CsrfRefused(Exception):
    """A form or request that changes something came without this session's CSRF token."""


def secret_key(workspace: Path) -> str:
    """The workspace's key for signing sessions, made on first use."""
    path = Path(workspace) / SECRET_FILE
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(key)
    return key


def csrf_token(request: Request) -> str:
    token = request.session.get(CSRF_FIELD)
    if not token:
        token = secrets.token_urlsafe(32)
        request.session[CSRF_FIELD] = token
    return token


def check_csrf(request: Request, given: str | None) -> None:
    expected = request.session.get(CSRF_FIELD)
    given = given or request.headers.get(CSRF_HEADER)
    if not expected or not given or not hmac.compare_digest(str(expected), str(given)):
        raise CsrfRefused()


def signed_in(request: Request) -> User | None:
    """The user this request's session names, if that user still exists."""
    name = request.session.get("user")
    if not name:
        return None
    from cxray import accounts

    host = request.app.state.host
    known = request.app.state.signed_in_users
    with host.workspace() as ws:
        # every request asks: read the user once per opening of the warehouse and change
        version = (host.opened, accounts.changes())
        found = known.get(name)
        if found is not None and found[0] == version:
            user = found[1]
        else:
            user = accounts.get_user(ws.warehouse, name)
            known[name] = (version, user)
    if user is None:
        request.session.pop("user", None)
    return user


def require(role: str):
    """A route dependency: the signed-in user, who must have ``role`` or a stronger one."""
    if role not in ROLES:
        raise ValueError(role)

    def dependency(request: Request) -> User:
        user = signed_in(request)
        if user is None:
            raise NeedsLogin()
        if not user.may(role):
            raise Forbidden(role)
        request.state.user = user
        return user

    return dependency


class LoginThrottle:
    """Failed logins counted per user name and per client address; too many make the next wait."""

    def __init__(self, max_failures: int = MAX_FAILURES, window: float = FAILURE_WINDOW):
        self.max_failures = max_failures
        self.window = window
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def wait_for(self, *keys: str) -> float:
        """Seconds before another try is allowed (0 when it is)."""
        now = time.monotonic()
        longest = 0.0
        with self._lock:
            for key in keys:
                failures = self._failures[key]
                while failures and now - failures[0] > self.window:
                    failures.popleft()
                if len(failures) >= self.max_failures:
                    extra = len(failures) - self.max_failures
                    lockout = min(LOCKOUT_SECONDS * 2**extra, self.window)
                    longest = max(longest, failures[-1] + lockout - now)
        return max(0.0, longest)

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                self._failures[key].append(now)

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)


def throttled_text(seconds: float) -> Message:
    wait = max(1, round(seconds))
    return Message(
        f"Too many failed logins: try again in {wait} s.",
        f"Te veel mislukte aanmeldingen: probeer het over {wait} s opnieuw.",
    )
