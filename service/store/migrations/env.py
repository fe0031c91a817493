"""Alembic environment for the service's tables; driven by `service.store.migrate`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection
from sqlalchemy.pool import NullPool

from features.store.database import make_engine
from service.store.migrate import VERSION_TABLE
from service.store.models import ServiceBase

config = context.config
target_metadata = ServiceBase.metadata


def _include_object(obj: object, name: str | None, type_: str, *_: object) -> bool:
    # The feature store's tables share the database; they belong to the other history.
    return type_ != "table" or name in target_metadata.tables


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=VERSION_TABLE,
        include_object=_include_object,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        raise RuntimeError("no database URL: use service.store.migrate.upgrade(url)")
    engine = make_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as new_connection:
            _configure(new_connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline migrations are not supported; pass a connection")
run_migrations_online()
