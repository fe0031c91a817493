"""API keys: who a caller is, what role it has, and which municipality's children it may see.

A key is `mmk_` followed by 32 random bytes (URL-safe base64). Only its SHA-256 is stored:
the secret is shown once, by `mimamori keys create`, and cannot be recovered from the database.
Keys carry 256 bits of entropy, so a fast hash is enough; a slow password hash would only add
latency to every request.

The service remembers a verified key for a few seconds (`KeyCache`, MIMAMORI_API_KEY_CACHE_SECONDS,
default 5) instead of asking the database on every request. A key revoked by `revoke_key` in the
same process is forgotten at once; one revoked by `mimamori keys revoke` (another process) stops
working when its entry expires, so within that many seconds.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, TypeGuard

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from service.store.models import ApiKey

__all__ = [
    "KEY_PREFIX",
    "ApiKeyError",
    "ApiKeyInfo",
    "Caller",
    "CreatedKey",
    "KeyCache",
    "Role",
    "authenticate",
    "create_key",
    "hash_secret",
    "list_keys",
    "new_secret",
    "plausible_secret",
    "revoke_key",
]

KEY_PREFIX: Final = "mmk_"
_MUNICIPALITY_CODE = re.compile(r"^\d{6}$")
# Longest secret worth hashing: anything longer is not one of ours, and hashing it is waste.
_MAX_SECRET_LENGTH: Final = 128


class Role(StrEnum):
    """What a key may do. Admin may do everything; the others as the routes declare."""

    VENDOR_SYSTEM = "vendor_system"
    REVIEWER = "reviewer"
    ANALYST = "analyst"
    ADMIN = "admin"


@dataclass(frozen=True)
class Caller:
    """The authenticated key behind a request."""

    key_id: str
    name: str
    role: Role
    # None: every municipality (admin keys only).
    municipality: str | None

    def sees(self, municipality: str) -> bool:
        return self.municipality is None or self.municipality == municipality


@dataclass(frozen=True)
class CreatedKey:
    """A new key; `secret` exists only here and is never stored."""

    key_id: str
    secret: str
    name: str
    role: Role
    municipality: str | None


@dataclass(frozen=True)
class ApiKeyInfo:
    key_id: str
    name: str
    role: str
    municipality: str | None
    created_at: dt.datetime
    created_by: str
    revoked_at: dt.datetime | None


class ApiKeyError(ValueError):
    """A key request that cannot be honoured (unknown role, bad municipality, unknown key)."""


def plausible_secret(secret: str | None) -> TypeGuard[str]:
    """Whether `secret` could be one of our keys at all (anything else is not looked up)."""
    return (
        secret is not None and secret.startswith(KEY_PREFIX) and len(secret) <= _MAX_SECRET_LENGTH
    )


def new_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def create_key(
    engine: Engine, *, name: str, role: Role | str, municipality: str | None, created_by: str
) -> CreatedKey:
    """Store a new key and return it with its secret (the only time the secret is known)."""
    try:
        role = Role(role)
    except ValueError:
        known = ", ".join(r.value for r in Role)
        raise ApiKeyError(f"unknown role {role!r}; use one of {known}") from None
    if not name.strip():
        raise ApiKeyError("a key needs a name saying who holds it")
    if municipality is not None and not _MUNICIPALITY_CODE.match(municipality):
        raise ApiKeyError("the municipality must be a 6-digit 地方公共団体コード")
    # Only an administrator may see every municipality: any other key leaking must expose one
    # municipality's children at most.
    if municipality is None and role is not Role.ADMIN:
        raise ApiKeyError(f"a {role.value} key must be scoped to one municipality (--municipality)")
    secret = new_secret()
    key_id, name = secrets.token_hex(8), name.strip()
    key = ApiKey(
        id=key_id,
        name=name,
        role=role.value,
        municipality=municipality,
        secret_sha256=hash_secret(secret),
        created_at=_now(),
        created_by=created_by,
        revoked_at=None,
    )
    with Session(engine) as session, session.begin():
        session.add(key)
    return CreatedKey(key_id=key_id, secret=secret, name=name, role=role, municipality=municipality)


def revoke_key(engine: Engine, key_id: str) -> bool:
    """Revoke a key at once; False when no such key is active."""
    with engine.begin() as connection:
        result = connection.execute(
            update(ApiKey)
            .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
            .values(revoked_at=_now())
        )
    # Also when nothing was revoked: a cache may still hold a key another process revoked.
    _forget_everywhere(key_id)
    return bool(result.rowcount)


def list_keys(engine: Engine) -> list[ApiKeyInfo]:
    query = select(
        ApiKey.id,
        ApiKey.name,
        ApiKey.role,
        ApiKey.municipality,
        ApiKey.created_at,
        ApiKey.created_by,
        ApiKey.revoked_at,
    ).order_by(ApiKey.created_at, ApiKey.id)
    with engine.connect() as connection:
        return [ApiKeyInfo(*row) for row in connection.execute(query)]


def authenticate(engine: Engine, secret: str | None) -> Caller | None:
    """The active key whose secret this is, or None (missing, malformed, unknown or revoked).

    Always asks the database; the service goes through a `KeyCache` in front of it.
    """
    if not plausible_secret(secret):
        return None
    return _lookup(engine, hash_secret(secret))


def _lookup(engine: Engine, digest: str) -> Caller | None:
    query = select(ApiKey.id, ApiKey.name, ApiKey.role, ApiKey.municipality, ApiKey.secret_sha256)
    with engine.connect() as connection:
        row = connection.execute(
            query.where(ApiKey.secret_sha256 == digest, ApiKey.revoked_at.is_(None))
        ).first()
    # The index lookup already matched; comparing again in constant time costs nothing and
    # keeps the check correct if the lookup ever becomes a prefix or case-insensitive match.
    if row is None or not hmac.compare_digest(row.secret_sha256, digest):
        return None
    try:
        role = Role(row.role)
    except ValueError:
        return None
    return Caller(key_id=row.id, name=row.name, role=role, municipality=row.municipality)


# Every cache of this process, so that `revoke_key` reaches the caches of every app in it.
_caches: weakref.WeakSet[KeyCache] = weakref.WeakSet()
_caches_lock = threading.Lock()


def _forget_everywhere(key_id: str) -> None:
    with _caches_lock:
        caches = list(_caches)
    for cache in caches:
        cache.forget(key_id)


class KeyCache:
    """Verified keys by their secret's SHA-256, each trusted for `ttl` seconds.

    Only keys that verified are kept: an unknown secret is looked up every time, so a key
    created by the CLI works at once, and guessing secrets cannot fill the cache. `forget` (called
    by `revoke_key` in this process) removes a key at once. A lookup that was in flight while a
    key was forgotten does not put it back: every `forget` moves a generation counter, and a
    result is kept only if the counter did not move while it was fetched.
    """

    def __init__(
        self,
        engine_of: Callable[[], Engine],
        ttl: float,
        *,
        max_entries: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # A callable, because the app's database engine only exists once its lifespan ran.
        self._engine_of = engine_of
        self.ttl = ttl
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, Caller]] = OrderedDict()
        self._lock = threading.Lock()
        self._generation = 0
        with _caches_lock:
            _caches.add(self)

    def cached(self, secret: str | None) -> Caller | None:
        """The caller if its key verified less than `ttl` seconds ago (no database access)."""
        if self.ttl <= 0 or not plausible_secret(secret):
            return None
        digest = hash_secret(secret)
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                return None
            expires, caller = entry
            if self._clock() >= expires:
                del self._entries[digest]
                return None
            return caller

    def authenticate(self, secret: str | None) -> Caller | None:
        """The caller from the cache, else from the database (and then remembered)."""
        caller = self.cached(secret)
        if caller is not None or not plausible_secret(secret):
            return caller
        digest = hash_secret(secret)
        with self._lock:
            generation = self._generation
        caller = _lookup(self._engine_of(), digest)
        if caller is None or self.ttl <= 0:
            return caller
        with self._lock:
            if generation == self._generation:
                self._entries[digest] = (self._clock() + self.ttl, caller)
                self._entries.move_to_end(digest)
                while len(self._entries) > self._max_entries:
                    self._entries.popitem(last=False)
        return caller

    def forget(self, key_id: str) -> None:
        with self._lock:
            self._generation += 1
            for digest in [d for d, (_, c) in self._entries.items() if c.key_id == key_id]:
                del self._entries[digest]

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()
