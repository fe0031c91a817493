"""The service's cache of verified API keys: short-lived, forgotten at once on a revoke in this
process, and within its TTL when another process (the `keys revoke` command) revokes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update

from features.store.database import make_engine
from service.app import create_app
from service.security import KeyCache, create_key, revoke_key
from service.store.migrate import upgrade
from service.store.models import ApiKey
from tests.service.test_app import build_world, headers


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    sqlite = make_engine(f"sqlite:///{tmp_path / 'mimamori.db'}")
    upgrade(sqlite)
    yield sqlite
    sqlite.dispose()


def _revoke_behind_the_cache(engine: Engine, key_id: str) -> None:
    """What another process's `keys revoke` does to the database, without telling this one."""
    with engine.begin() as connection:
        connection.execute(
            update(ApiKey).where(ApiKey.id == key_id).values(revoked_at=ApiKey.created_at)
        )


def test_a_key_revoked_elsewhere_works_until_its_entry_expires_then_never(engine: Engine) -> None:
    clock = Clock()
    cache = KeyCache(lambda: engine, ttl=5.0, clock=clock)
    created = create_key(
        engine, name="v", role="vendor_system", municipality="990001", created_by="t"
    )
    assert cache.cached(created.secret) is None, "nothing is trusted before it was verified"
    caller = cache.authenticate(created.secret)
    assert caller is not None and caller.key_id == created.key_id
    _revoke_behind_the_cache(engine, created.key_id)
    clock.now += 4.9
    assert cache.cached(created.secret) == caller, "trusted for the TTL"
    clock.now += 0.2
    assert cache.cached(created.secret) is None
    assert cache.authenticate(created.secret) is None


def test_a_revoke_in_this_process_is_at_once(engine: Engine) -> None:
    clock = Clock()
    cache = KeyCache(lambda: engine, ttl=3600.0, clock=clock)
    created = create_key(
        engine, name="v", role="vendor_system", municipality="990001", created_by="t"
    )
    assert cache.authenticate(created.secret) is not None
    # Through another engine on the same database: any caller of revoke_key in the process.
    other = make_engine(engine.url)
    try:
        assert revoke_key(other, created.key_id)
    finally:
        other.dispose()
    assert cache.cached(created.secret) is None
    assert cache.authenticate(created.secret) is None


def test_unknown_secrets_are_not_remembered(engine: Engine) -> None:
    cache = KeyCache(lambda: engine, ttl=3600.0, clock=Clock())
    assert cache.authenticate("mmk_" + "x" * 43) is None
    assert cache.authenticate(None) is None and cache.authenticate("not-a-key") is None
    created = create_key(engine, name="v", role="admin", municipality=None, created_by="t")
    assert cache.authenticate(created.secret) is not None, "a new key works at once"


def test_a_lookup_racing_a_revoke_does_not_put_the_key_back(engine: Engine) -> None:
    created = create_key(engine, name="v", role="admin", municipality=None, created_by="t")
    cache: KeyCache

    def engine_revoked_meanwhile() -> Engine:
        # The revoke lands between the cache miss and the database's answer.
        cache.forget(created.key_id)
        return engine

    cache = KeyCache(engine_revoked_meanwhile, ttl=3600.0, clock=Clock())
    assert cache.authenticate(created.secret) is not None  # the answer it got is returned once
    assert cache.cached(created.secret) is None, "but not kept"


def test_a_zero_ttl_asks_the_database_every_time(engine: Engine) -> None:
    cache = KeyCache(lambda: engine, ttl=0.0, clock=Clock())
    created = create_key(engine, name="v", role="admin", municipality=None, created_by="t")
    assert cache.authenticate(created.secret) is not None
    _revoke_behind_the_cache(engine, created.key_id)
    assert cache.authenticate(created.secret) is None


def test_the_keys_revoke_command_in_another_process_takes_effect_within_the_ttl(
    served_world: Any,
    tmp_path: Path,
) -> None:
    ttl = 1.0
    world = build_world(served_world, tmp_path, api_key_cache_seconds=ttl)
    created = create_key(
        world.database, name="revoked", role="analyst", municipality=world.home, created_by="t"
    )
    key = {"X-API-Key": created.secret}
    try:
        with TestClient(create_app(world.settings)) as client:
            assert client.get("/v1/models", headers=key).status_code == 200
            command = [
                str(Path(sys.executable).parent / "mimamori"),
                "keys",
                "revoke",
                created.key_id,
                "--data-dir",
                str(tmp_path),
            ]
            environment = {**os.environ, "MIMAMORI_DATABASE_URL": world.settings.database_url or ""}
            result = subprocess.run(command, capture_output=True, text=True, env=environment)
            assert result.returncode == 0, result.stdout + result.stderr
            revoked_at = time.monotonic()
            while client.get("/v1/models", headers=key).status_code == 200:
                assert time.monotonic() - revoked_at <= ttl + 0.5, "still accepted after the TTL"
                time.sleep(0.05)
            assert client.get("/v1/models", headers=key).status_code == 401
            # Only the revoked key is refused.
            assert client.get("/v1/models", headers=headers(world, "analyst")).status_code == 200
    finally:
        world.database.dispose()
