"""The service's schema migrations, driven from code like the feature store's.

    from service.store.migrate import upgrade
    upgrade("sqlite:///var/mimamori.db")

A separate Alembic history with its own version table, in the same database as the feature
store: `features.store.migrate.upgrade` and this `upgrade` each move only their own tables.
"""

from __future__ import annotations

from typing import Final

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import URL, Engine

from features.store.database import make_engine

__all__ = [
    "VERSION_TABLE",
    "SchemaNotCurrentError",
    "check_schema",
    "current_revision",
    "downgrade",
    "head_revision",
    "upgrade",
]

SCRIPT_LOCATION: Final = "service.store:migrations"
VERSION_TABLE: Final = "alembic_version_service"


class SchemaNotCurrentError(RuntimeError):
    """The service's tables are not at the latest migration."""


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    return config


def _run(target: str | URL | Engine, action: str, revision: str) -> None:
    owned = not isinstance(target, Engine)
    engine = make_engine(target) if not isinstance(target, Engine) else target
    try:
        with engine.begin() as connection:
            config = _config()
            config.attributes["connection"] = connection
            getattr(command, action)(config, revision)
    finally:
        if owned:
            engine.dispose()


def upgrade(target: str | URL | Engine, revision: str = "head") -> None:
    """Bring the service's tables up to `revision`, in one transaction."""
    _run(target, "upgrade", revision)


def downgrade(target: str | URL | Engine, revision: str) -> None:
    _run(target, "downgrade", revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()


def check_schema(engine: Engine) -> None:
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise SchemaNotCurrentError(
            f"the service's tables are at {current or 'no revision'}, expected {head}; "
            "run `mimamori serve` or service.store.migrate.upgrade(url) first"
        )
