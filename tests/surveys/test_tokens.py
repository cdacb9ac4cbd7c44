"""Personal links: signed, unguessable, refused when altered; the key stays in the workspace."""

from __future__ import annotations

import base64
import stat

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxray.surveys import tokens
from cxray.surveys.tokens import TokenError, make_token, read_token

KEY = bytes(range(32))


def test_a_token_names_its_invitation_and_carries_at_least_128_bits():
    invitation = tokens.new_invitation_id()
    token = make_token(KEY, invitation)
    assert read_token(KEY, token) == invitation
    _, mac = token.split(".")
    assert len(base64.urlsafe_b64decode(mac + "=" * (-len(mac) % 4))) * 8 >= 128
    assert make_token(KEY, invitation) == token  # re-created for a reminder or the CSV
    assert make_token(bytes(32), invitation) != token  # another workspace's key


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_a_token_altered_by_one_character_is_refused(data):
    token = make_token(KEY, data.draw(st.text("0123456789abcdef", min_size=32, max_size=32)))
    position = data.draw(st.integers(0, len(token) - 1))
    alphabet = "0123456789abcdefABCDEF-_.xyz="
    replacement = data.draw(st.sampled_from([c for c in alphabet if c != token[position]]))
    altered = token[:position] + replacement + token[position + 1 :]
    with pytest.raises(TokenError):
        read_token(KEY, altered)


@pytest.mark.parametrize("token", ["", ".", "abc", "x" * 500, "a.b.c", "0" * 32 + ".", None])
def test_things_that_are_no_token_are_refused(token):
    with pytest.raises(TokenError):
        read_token(KEY, token)


def test_the_key_is_made_once_readable_by_its_owner_only(tmp_path):
    key = tokens.workspace_key(tmp_path)
    path = tmp_path / tokens.KEY_FILE
    assert len(key) == 32 and tokens.workspace_key(tmp_path) == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_form_nonce_is_tied_to_its_invitation_and_expires():
    nonce = tokens.form_nonce(KEY, "a" * 32, now=1_000_000)
    assert tokens.check_nonce(KEY, "a" * 32, nonce, now=1_000_060)
    assert not tokens.check_nonce(KEY, "b" * 32, nonce, now=1_000_060)
    assert not tokens.check_nonce(KEY, "a" * 32, nonce, now=1_000_000 + 2 * 86400)
    assert not tokens.check_nonce(KEY, "a" * 32, "1000000.forged", now=1_000_060)
    assert not tokens.check_nonce(KEY, "a" * 32, "", now=1_000_060)
