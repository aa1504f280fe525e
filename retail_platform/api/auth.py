"""Bearer tokens: JWTs signed (HS256) with the API's secret, carrying a role and a store scope.

Roles (seed 000, section 14): ``store_manager`` reads and adjusts its own stores; ``analyst`` reads
every store and adjusts none; ``integration`` (e-commerce, suppliers) gets exactly the permissions
and stores its token lists. The scope is checked server-side on every endpoint; a store outside it
answers 403, never an empty list.

The secret lives in a file (RETAIL_API_SECRET_FILE, mode 0600), created with 32 random bytes on
first start, so `make up` works out of the box and tokens survive a restart."""

from __future__ import annotations

import functools
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jwt

ISSUER = "retail-platform"
AUDIENCE = "retail-inventory-api"
ALGORITHM = "HS256"
ALL_STORES = "*"
READ = "inventory:read"
ADJUST = "inventory:adjust"
ROLES: dict[str, frozenset[str]] = {
    "store_manager": frozenset({READ, ADJUST}),
    "analyst": frozenset({READ}),
    "integration": frozenset({READ, ADJUST}),  # the most a token may grant; the token narrows it
}
MAX_LIFETIME_S = 366 * 86400


class AuthError(Exception):
    """401: no usable credentials. The message says what is wrong, never the secret."""


@dataclass(frozen=True)
class Principal:
    subject: str
    role: str
    stores: frozenset[str]  # {"*"} = every store
    permissions: frozenset[str]

    @property
    def all_stores(self) -> bool:
        return ALL_STORES in self.stores

    def may_see(self, store_id: str) -> bool:
        return self.all_stores or store_id in self.stores

    def may(self, permission: str) -> bool:
        return permission in self.permissions


def load_secret(path: Path, create: bool = False) -> bytes:
    """The signing secret; with ``create`` a missing file is made (32 random bytes, mode 0600)."""
    if not path.exists() and create:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
    try:
        secret = path.read_text().strip().encode()
    except FileNotFoundError:
        raise AuthError(
            f"no token secret at {path}: start the API once (`make up`) or set RETAIL_API_SECRET_FILE"
        ) from None
    if len(secret) < 32:
        raise AuthError(f"the token secret in {path} is shorter than 32 characters; write a longer random one")
    return secret


def issue_token(
    secret: bytes,
    subject: str,
    role: str,
    stores: list[str],
    *,
    permissions: list[str] | None = None,
    lifetime_s: int = 3600,
    now: float | None = None,
) -> str:
    """A signed token; ``stores=["*"]`` means every store (analysts, chain-wide integrations)."""
    if role not in ROLES:
        raise ValueError(f"role {role!r}: expected one of {', '.join(ROLES)}")
    if not stores:
        raise ValueError("a token needs at least one store, or '*' for all")
    if not 0 < lifetime_s <= MAX_LIFETIME_S:
        raise ValueError(f"lifetime {lifetime_s}s: expected 1..{MAX_LIFETIME_S}")
    granted = sorted(ROLES[role] if permissions is None else set(permissions))
    if not set(granted) <= ROLES[role]:
        raise ValueError(f"role {role} cannot hold {sorted(set(granted) - ROLES[role])}")
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": subject,
        "iat": issued,
        "exp": issued + lifetime_s,
        "role": role,
        "stores": list(stores),
        "perms": granted,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_token(secret: bytes, token: str, now: float | None = None) -> Principal:
    """The token's principal, or AuthError (bad signature, expired, wrong audience, bad claims)."""
    principal, expires = _verified(secret, token)
    _check_expiry(expires, time.time() if now is None else now)
    return principal


def _check_expiry(expires: float, now: float) -> None:
    if now >= expires:  # PyJWT's rule (expired once exp <= now), kept here so remembered tokens follow it
        raise AuthError("the token has expired")


class TokenVerifier:
    """``verify_token`` for one secret, remembering the tokens it verified (bounded, least recently
    used first out) so a client's next request costs a dictionary look-up instead of an HMAC and
    three base64/JSON decodings, most of a cached stock answer's cost. Only tokens that verify are
    kept (a failure raises, and is not cached), so forged tokens cannot fill the memory; expiry is
    not part of what is kept but checked on every use, as verify_token checks it."""

    def __init__(self, secret: bytes, size: int = 4096, clock: Callable[[], float] = time.time) -> None:
        self._verified = functools.lru_cache(maxsize=size)(functools.partial(_verified, secret))
        self._clock = clock

    def __call__(self, token: str) -> Principal:
        principal, expires = self._verified(token)
        _check_expiry(expires, self._clock())
        return principal


def _verified(secret: bytes, token: str) -> tuple[Principal, float]:
    """The token's principal and its expiry (seconds since the epoch), everything checked but the
    expiry itself, which depends on the moment of use."""
    if len(token) > 4096:
        raise AuthError("the bearer token is too long")
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],  # never "none", never a key-confusion algorithm
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "aud", "iss"], "verify_exp": False},
        )
    except jwt.InvalidTokenError as exc:
        raise AuthError(f"invalid token: {exc}") from None
    role, stores, perms, subject = claims.get("role"), claims.get("stores"), claims.get("perms"), claims.get("sub")
    expires = claims["exp"]
    if isinstance(expires, bool) or not isinstance(expires, int):
        raise AuthError("invalid token: exp must be an integer")
    if role not in ROLES:
        raise AuthError("invalid token: unknown role")
    if not isinstance(subject, str) or not subject or len(subject) > 128:
        raise AuthError("invalid token: bad subject")
    if not isinstance(stores, list) or not stores or not all(isinstance(s, str) and s for s in stores):
        raise AuthError("invalid token: stores must be a non-empty list of store ids")
    if not isinstance(perms, list) or not all(isinstance(p, str) for p in perms):
        raise AuthError("invalid token: perms must be a list")
    # A token never grants more than its role allows, whatever it claims.
    return Principal(subject, role, frozenset(stores), frozenset(perms) & ROLES[role]), float(expires)
