"""API keys: who a caller is, what role it has, and which municipality's children it may see.

A key is `mmk_` followed by 32 random bytes (URL-safe base64). Only its SHA-256 is stored:
the secret is shown once, by `mimamori keys create`, and cannot be recovered from the database.
Keys carry 256 bits of entropy, so a fast hash is enough; a slow password hash would only add
latency to every request.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from service.store.models import ApiKey

__all__ = [
    "KEY_PREFIX",
    "ApiKeyError",
    "ApiKeyInfo",
    "Caller",
    "CreatedKey",
    "Role",
    "authenticate",
    "create_key",
    "hash_secret",
    "list_keys",
    "new_secret",
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

    Looked up on every request, not cached, so that a revocation takes effect immediately.
    """
    if not secret or not secret.startswith(KEY_PREFIX) or len(secret) > _MAX_SECRET_LENGTH:
        return None
    digest = hash_secret(secret)
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
