"""Engines and sessions for the store, built on request from a URL (never at import time)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import URL, Engine, Table, create_engine, event, false, make_url, update
from sqlalchemy.orm import Session, sessionmaker

from features.settings import get_settings

__all__ = ["lock_for_write", "make_engine", "session_factory"]


def make_engine(url: str | URL | None = None, **kwargs: Any) -> Engine:
    """An engine for a SQLAlchemy URL: SQLite (the default store) or PostgreSQL.

    Without a URL, the settings' database (MIMAMORI_DATABASE_URL, else a SQLite file in the
    data folder, which is created if missing).

    On SQLite, foreign keys are enforced, file databases use write-ahead logging (readers
    are not blocked while an ingest writes), and SQLAlchemy issues BEGIN itself: the sqlite3
    driver's legacy mode would otherwise run DDL and SELECTs outside the transaction, and a
    run that must be all-or-nothing could not rely on ROLLBACK.
    """
    if url is None:
        settings = get_settings()
        if settings.database_url is None:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        url = settings.resolved_database_url
    parsed = make_url(url)
    # Payloads are mostly Japanese: stored as text, not as \uXXXX escapes three times longer.
    # One encoder per engine: json.dumps with options would build a new one for every row.
    encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
    kwargs.setdefault("json_serializer", encoder.encode)
    # Bound parameters are records (names, addresses): keep them out of errors and logs.
    kwargs.setdefault("hide_parameters", True)
    engine = create_engine(parsed, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys = ON")
            # In-memory databases answer "memory" and keep their journal; that is fine.
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            # The default 2 MB page cache thrashes while a million-row ingest updates the
            # record indexes; 64 MB cuts a demo-size ingest from about 75 s to about 60 s.
            cursor.execute("PRAGMA cache_size = -65536")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions bound to `engine`; objects stay readable after commit (no lazy reload)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def lock_for_write(session: Session, table: Table) -> None:
    """Take the database's write lock now, before a read-then-write transaction reads.

    On SQLite a transaction that reads first and writes later cannot wait for the write lock if
    another connection committed in between: SQLite refuses the upgrade at once (SQLITE_BUSY)
    because the reader's snapshot is stale. A no-op UPDATE as the first statement takes the lock
    the way BEGIN IMMEDIATE would (the engine issues a plain BEGIN itself), so the transaction
    waits its turn instead of failing. PostgreSQL needs nothing: its row locks and unique
    constraints settle concurrent writers.
    """
    if session.get_bind().dialect.name != "sqlite":
        return
    column = next(iter(table.primary_key.columns))
    session.execute(update(table).where(false()).values({column.name: column}))
