"""Personal links: the invitation's id signed with the workspace's survey key.

A token is ``<invitation id>.<HMAC-SHA256 of it, 160 bits>``; the key lives in the workspace
(``.cxray/survey.key``, readable by its owner only, made on first use) and never in the
warehouse, so a copy of the data alone cannot forge or re-create links. The same key re-creates
a link for a reminder or the CSV export; nothing secret is stored per invitation.

The answer form carries a nonce signed with the same key over the invitation and the moment
the form was shown: a form posted from another site (which cannot read the page) is refused
without any session.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import time
from pathlib import Path

KEY_FILE = Path(".cxray") / "survey.key"
MAC_BYTES = 20  # 160 bits: guessing a valid token is out of reach
ID_PATTERN = re.compile(r"^[0-9a-f]{32}$")
NONCE_SECONDS = 24 * 3600  # a form left open this long is shown afresh


class TokenError(ValueError):
    """A link that is not one of ours (altered, cut short, made up)."""


def new_invitation_id() -> str:
    return secrets.token_hex(16)


def workspace_key(workspace: Path) -> bytes:
    """The workspace's survey key, made (0600) on first use."""
    path = Path(workspace) / KEY_FILE
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # made by another process just now: use that one
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(key.hex())
    return key


def _mac(key: bytes, purpose: str, text: str, size: int = MAC_BYTES) -> str:
    digest = hmac.new(key, f"{purpose}:{text}".encode(), hashlib.sha256).digest()[:size]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def make_token(key: bytes, invitation_id: str) -> str:
    return f"{invitation_id}.{_mac(key, 'link', invitation_id)}"


def read_token(key: bytes, token: str) -> str:
    """The invitation id a token names, or TokenError when it is not a token of this key."""
    if not isinstance(token, str) or len(token) > 100 or token.count(".") != 1:
        raise TokenError("not a survey link")
    invitation_id, mac = token.split(".")
    if not ID_PATTERN.match(invitation_id):
        raise TokenError("not a survey link")
    if not hmac.compare_digest(mac, _mac(key, "link", invitation_id)):
        raise TokenError("the link was altered")
    return invitation_id


def form_nonce(key: bytes, invitation_id: str, now: float | None = None) -> str:
    shown = str(int(now if now is not None else time.time()))
    return f"{shown}.{_mac(key, 'form', f'{invitation_id}:{shown}', 16)}"


def check_nonce(key: bytes, invitation_id: str, nonce: str, now: float | None = None) -> bool:
    """True when ``nonce`` was made for this invitation's form within ``NONCE_SECONDS``."""
    if not isinstance(nonce, str) or nonce.count(".") != 1:
        return False
    shown, mac = nonce.split(".")
    if not shown.isdigit() or len(shown) > 12:
        return False
    if not hmac.compare_digest(mac, _mac(key, "form", f"{invitation_id}:{shown}", 16)):
        return False
    age = (now if now is not None else time.time()) - int(shown)
    return -300 <= age <= NONCE_SECONDS


__all__ = [
    "KEY_FILE",
    "TokenError",
    "check_nonce",
    "form_nonce",
    "make_token",
    "new_invitation_id",
    "read_token",
    "workspace_key",
]
