"""Bearer tokens: what verifies, what does not, and that a token never grants more than its role."""

from __future__ import annotations

import base64
import json
import os
import time

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from retail_platform.api import auth
from retail_platform.api.auth import AuthError

SECRET = b"s" * 64


@given(
    subject=st.text(min_size=1, max_size=40),
    role=st.sampled_from(sorted(auth.ROLES)),
    stores=st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=5),
)
def test_issued_tokens_verify_to_the_same_principal(subject, role, stores):
    principal = auth.verify_token(SECRET, auth.issue_token(SECRET, subject, role, stores))
    assert (principal.subject, principal.role, principal.stores) == (subject, role, frozenset(stores))
    assert principal.permissions == auth.ROLES[role]
    assert all(principal.may_see(s) for s in stores)


def test_store_scope_and_permissions():
    manager = auth.verify_token(SECRET, auth.issue_token(SECRET, "m", "store_manager", ["store_001"]))
    assert manager.may_see("store_001") and not manager.may_see("store_002") and manager.may(auth.ADJUST)
    analyst = auth.verify_token(SECRET, auth.issue_token(SECRET, "a", "analyst", ["*"]))
    assert analyst.may_see("anything") and analyst.may(auth.READ) and not analyst.may(auth.ADJUST)
    reader = auth.issue_token(SECRET, "shop", "integration", ["store_001"], permissions=[auth.READ])
    assert not auth.verify_token(SECRET, reader).may(auth.ADJUST)


@pytest.mark.parametrize(
    "token",
    [
        auth.issue_token(b"x" * 43, "m", "analyst", ["*"]),  # another secret
        auth.issue_token(SECRET, "m", "analyst", ["*"], now=time.time() - 7200),  # expired
        "not-a-token",
        "",
        "a.b.c",
        "x" * 5000,
    ],
    ids=["forged", "expired", "garbage", "empty", "three-parts", "huge"],
)
def test_bad_tokens_are_refused(token):
    with pytest.raises(AuthError):
        auth.verify_token(SECRET, token)


def _claims(**overrides):
    now = int(time.time())
    claims = {"iss": auth.ISSUER, "aud": auth.AUDIENCE, "sub": "x", "iat": now, "exp": now + 60,
              "role": "analyst", "stores": ["*"], "perms": [auth.READ]}  # fmt: skip
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


@pytest.mark.parametrize(
    "claims",
    [
        _claims(aud="someone-else"),
        _claims(iss="someone-else"),
        _claims(role="admin"),
        _claims(stores=[]),
        _claims(stores="*"),
        _claims(stores=[1]),
        _claims(sub=""),
        _claims(exp=None),
        _claims(perms="inventory:read"),
    ],
)
def test_tokens_with_bad_claims_are_refused(claims):
    with pytest.raises(AuthError):
        auth.verify_token(SECRET, jwt.encode(claims, SECRET, algorithm="HS256"))


def test_unsigned_and_other_algorithm_tokens_are_refused():
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT"}).encode()).rstrip(b"=")
    body = base64.urlsafe_b64encode(json.dumps(_claims()).encode()).rstrip(b"=")
    with pytest.raises(AuthError):
        auth.verify_token(SECRET, f"{header.decode()}.{body.decode()}.")
    with pytest.raises(AuthError):
        auth.verify_token(SECRET, jwt.encode(_claims(), SECRET, algorithm="HS512"))


def test_a_token_never_grants_more_than_its_role():
    escalated = jwt.encode(_claims(perms=[auth.READ, auth.ADJUST, "admin"]), SECRET, algorithm="HS256")
    assert auth.verify_token(SECRET, escalated).permissions == {auth.READ}
    with pytest.raises(ValueError, match="cannot hold"):
        auth.issue_token(SECRET, "a", "analyst", ["*"], permissions=[auth.ADJUST])


def test_secret_file_is_created_private_and_short_secrets_are_refused(tmp_path):
    path = tmp_path / "api" / "secret"
    first = auth.load_secret(path, create=True)
    assert len(first) >= 32 and os.stat(path).st_mode & 0o777 == 0o600
    assert auth.load_secret(path, create=True) == first  # kept across restarts
    path.write_text("short\n")
    with pytest.raises(AuthError, match="shorter than 32"):
        auth.load_secret(path)
    with pytest.raises(AuthError, match="no token secret"):
        auth.load_secret(tmp_path / "missing")


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _outcome(verify, token: str):
    try:
        return verify(token)
    except AuthError as exc:
        return str(exc)


@given(
    lifetime=st.integers(1, 3600),
    ages=st.lists(st.integers(0, 4000), min_size=1, max_size=6),
    tamper=st.sampled_from(["none", "signature", "other_secret", "garbage"]),
)
def test_the_verifier_answers_what_verify_token_answers_at_every_moment(lifetime, ages, tamper):
    """The remembered verification (TokenVerifier) answers, at every later moment, what a fresh
    verification would: the same principal while valid, 'expired' from exp on, and every forged or
    broken token refused every time (never remembered)."""
    issued = int(time.time()) - 10
    token = auth.issue_token(SECRET, "alice", "store_manager", ["store_001"], lifetime_s=lifetime, now=issued)
    if tamper == "signature":
        token = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    elif tamper == "other_secret":
        token = auth.issue_token(b"t" * 64, "alice", "store_manager", ["store_001"], lifetime_s=lifetime, now=issued)
    elif tamper == "garbage":
        token = "not.a.token"
    clock = Clock(0)
    verifier = auth.TokenVerifier(SECRET, size=4, clock=clock)
    for age in ages:
        clock.now = issued + age
        fresh = _outcome(lambda t: auth.verify_token(SECRET, t, now=clock.now), token)
        assert _outcome(verifier, token) == fresh
