"""Schema migrations, driven from code: no alembic.ini is needed at run time.

    from features.store.migrate import upgrade
    upgrade("sqlite:///var/mimamori.db")

Developers adding a revision can call `revision("what changed", url)` (autogenerate against a
database at head), then review the generated file under `migrations/versions/`.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import URL, Engine

from features.store.database import make_engine

__all__ = [
    "SCRIPT_LOCATION",
    "SchemaNotCurrentError",
    "alembic_config",
    "check_schema",
    "current_revision",
    "downgrade",
    "head_revision",
    "revision",
    "upgrade",
]

# Resolved through importlib.resources, so it works from a wheel as well as from the tree.
SCRIPT_LOCATION = "features.store:migrations"


class SchemaNotCurrentError(RuntimeError):
    """The database is not at the latest migration; run `upgrade(url)` first."""


def alembic_config() -> Config:
    """An Alembic configuration pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    return config


def _engine(target: str | URL | Engine) -> tuple[Engine, bool]:
    if isinstance(target, Engine):
        return target, False
    return make_engine(target), True


def upgrade(target: str | URL | Engine, revision: str = "head") -> None:
    """Bring a database (URL or engine) up to `revision`, in one transaction."""
    engine, owned = _engine(target)
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        if owned:
            engine.dispose()


def downgrade(target: str | URL | Engine, revision: str) -> None:
    """Take a database back to `revision` ("base" drops every table of the store)."""
    engine, owned = _engine(target)
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.downgrade(config, revision)
    finally:
        if owned:
            engine.dispose()


def revision(message: str, target: str | URL | Engine) -> None:
    """Autogenerate a new revision from the difference between the models and `target`."""
    engine, owned = _engine(target)
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.revision(config, message=message, autogenerate=True)
    finally:
        if owned:
            engine.dispose()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def check_schema(engine: Engine) -> None:
    """Raise SchemaNotCurrentError unless the database is at the latest migration."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise SchemaNotCurrentError(
            f"database schema is at {current or 'no revision'}, expected {head}; "
            "run features.store.migrate.upgrade(url) first"
        )
