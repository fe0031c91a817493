"""API keys: created with a secret shown once, stored as SHA-256 only, scoped, revocable."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from features.store.database import make_engine
from service.security import (
    ApiKeyError,
    Caller,
    Role,
    authenticate,
    create_key,
    list_keys,
    revoke_key,
)
from service.store.migrate import upgrade
from service.store.models import ApiKey

SECRET_FORMAT = re.compile(r"^mmk_[A-Za-z0-9_-]{43}$")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "postgres":
        postgres: Engine = request.getfixturevalue("empty_postgres")
        upgrade(postgres)
        yield postgres
        return
    sqlite = make_engine(f"sqlite:///{tmp_path / 'keys.db'}")
    upgrade(sqlite)
    yield sqlite
    sqlite.dispose()


def test_a_created_key_authenticates_and_only_its_hash_is_stored(engine: Engine) -> None:
    created = create_key(
        engine, name="vendor A", role="vendor_system", municipality="990001", created_by="t"
    )
    assert SECRET_FORMAT.match(created.secret)
    with engine.connect() as connection:
        stored = connection.execute(select(ApiKey)).one()
    assert stored.secret_sha256 == hashlib.sha256(created.secret.encode()).hexdigest()
    assert created.secret not in {str(value) for value in stored._mapping.values()}
    caller = authenticate(engine, created.secret)
    assert caller == Caller(created.key_id, "vendor A", Role.VENDOR_SYSTEM, "990001")
    assert caller.sees("990001") and not caller.sees("990002")


def test_unknown_malformed_and_missing_secrets_do_not_authenticate(engine: Engine) -> None:
    created = create_key(engine, name="a", role="admin", municipality=None, created_by="t")
    assert authenticate(engine, None) is None
    assert authenticate(engine, "") is None
    assert authenticate(engine, created.secret[:-1]) is None
    assert authenticate(engine, created.secret + "x") is None
    assert authenticate(engine, created.secret.replace("mmk_", "xyz_")) is None
    assert authenticate(engine, "mmk_" + "A" * 5000) is None
    assert authenticate(engine, created.secret) is not None


def test_a_revoked_key_stops_working_at_once(engine: Engine) -> None:
    created = create_key(engine, name="r", role="reviewer", municipality="990002", created_by="t")
    other = create_key(engine, name="s", role="reviewer", municipality="990002", created_by="t")
    assert revoke_key(engine, created.key_id)
    assert authenticate(engine, created.secret) is None
    assert authenticate(engine, other.secret) is not None
    assert not revoke_key(engine, created.key_id), "revoking twice reports nothing to revoke"
    assert not revoke_key(engine, "no-such-key")
    states = {key.key_id: key.revoked_at is not None for key in list_keys(engine)}
    assert states == {created.key_id: True, other.key_id: False}


def test_every_key_is_distinct(engine: Engine) -> None:
    secrets = {
        create_key(engine, name=f"k{i}", role="admin", municipality=None, created_by="t").secret
        for i in range(20)
    }
    assert len(secrets) == 20


@pytest.mark.parametrize(
    ("role", "municipality", "message"),
    [
        ("superuser", "990001", "unknown role"),
        ("vendor_system", None, "must be scoped"),
        ("analyst", None, "must be scoped"),
        ("reviewer", "99000", "6-digit"),
        ("reviewer", "tokyo1", "6-digit"),
    ],
)
def test_keys_that_would_see_too_much_or_nothing_are_refused(
    engine: Engine, role: str, municipality: str | None, message: str
) -> None:
    with pytest.raises(ApiKeyError, match=message):
        create_key(engine, name="x", role=role, municipality=municipality, created_by="t")


def test_keys_commands_create_list_and_revoke(tmp_path: Path) -> None:
    from mimamori.cli import app

    runner = CliRunner()
    data_dir = str(tmp_path / "var")
    created = runner.invoke(
        app,
        [
            "keys",
            "create",
            "--name",
            "vendor",
            "--role",
            "vendor_system",
            "--municipality",
            "990001",
            "--data-dir",
            data_dir,
        ],
    )
    assert created.exit_code == 0, created.output
    secret = re.search(r"mmk_[A-Za-z0-9_-]{43}", created.output)
    key_id = re.search(r"key ([0-9a-f]{16})", created.output)
    assert secret and key_id
    listed = runner.invoke(app, ["keys", "list", "--data-dir", data_dir])
    assert listed.exit_code == 0, listed.output
    assert key_id.group(1) in listed.output and "active" in listed.output
    assert "mmk_" not in listed.output, "a listing never shows secrets"
    revoked = runner.invoke(app, ["keys", "revoke", key_id.group(1), "--data-dir", data_dir])
    assert revoked.exit_code == 0, revoked.output
    again = runner.invoke(app, ["keys", "revoke", key_id.group(1), "--data-dir", data_dir])
    assert again.exit_code != 0 and "no active key" in again.output
    engine = make_engine(f"sqlite:///{(tmp_path / 'var' / 'mimamori.db').resolve()}")
    try:
        assert authenticate(engine, secret.group(0)) is None
    finally:
        engine.dispose()
    refused = runner.invoke(
        app, ["keys", "create", "--name", "x", "--role", "vendor_system", "--data-dir", data_dir]
    )
    assert refused.exit_code == 2 and "must be scoped" in refused.output
