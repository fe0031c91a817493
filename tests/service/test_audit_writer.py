"""The audit writer: each append returns only once its entries are committed, requests waiting
together share a transaction, and one bad entry fails only its own request."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError, OperationalError

from features.store.database import make_engine
from service import audit
from service.audit import AuditRecord, AuditWriter, _lock_tail, verify_chain
from service.store.migrate import upgrade
from service.store.models import AuditEntry


def _record(child: str, method: str = "POST") -> AuditRecord:
    return AuditRecord(
        at=dt.datetime(2026, 4, 1, 9, 0, 0, tzinfo=dt.UTC),
        method=method,
        route="/v1/scores",
        status_code=200,
        outcome="answered",
        key_id="k1",
        role="vendor_system",
        purpose="child_welfare_screening",
        child_id=child,
        municipality="990001",
    )


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    sqlite = make_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    upgrade(sqlite)
    yield sqlite
    sqlite.dispose()


def _children(engine: Engine) -> list[str | None]:
    with engine.connect() as connection:
        return list(
            connection.execute(select(AuditEntry.child_id).order_by(AuditEntry.seq)).scalars()
        )


def test_appends_return_committed_and_concurrent_ones_share_transactions(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = AuditWriter(lambda: engine)
    commits: list[int] = []
    append = audit.append_entries

    def counted(engine: Engine, records: Sequence[AuditRecord]) -> list[int]:
        commits.append(1)  # one transaction per call
        return append(engine, records)

    monkeypatch.setattr(audit, "append_entries", counted)

    async def many() -> None:
        await asyncio.gather(*(writer.append([_record(f"c{i}")]) for i in range(50)))
        # Returned means committed: readable from another connection right away.
        assert len(_children(engine)) == 50

    try:
        asyncio.run(many())
    finally:
        writer.stop()
    assert sorted(str(c) for c in _children(engine)) == sorted(f"c{i}" for i in range(50))
    assert 0 < len(commits) < 50, "requests waiting together were not batched"
    assert verify_chain(engine).intact


def test_one_bad_entry_fails_only_its_own_request(engine: Engine) -> None:
    writer = AuditWriter(lambda: engine)
    holder = make_engine(engine.url)

    async def scenario() -> list[BaseException | None]:
        # Hold the chain's tail so the first append blocks the writer; the next three then
        # queue up and are written as one batch once it is released.
        with holder.begin() as connection:
            _lock_tail(connection)
            first = asyncio.ensure_future(writer.append([_record("first")]))
            await asyncio.sleep(0.2)
            rest = [
                asyncio.ensure_future(writer.append([_record("good1")])),
                asyncio.ensure_future(writer.append([_record("bad", method=None)])),  # type: ignore[arg-type]
                asyncio.ensure_future(writer.append([_record("good2")])),
            ]
            await asyncio.sleep(0.2)
        outcomes = await asyncio.gather(first, *rest, return_exceptions=True)
        return [o if isinstance(o, BaseException) else None for o in outcomes]

    try:
        outcomes = asyncio.run(scenario())
    finally:
        writer.stop()
        holder.dispose()
    assert outcomes[0] is None and outcomes[1] is None and outcomes[3] is None
    assert isinstance(outcomes[2], IntegrityError)
    assert _children(engine) == ["first", "good1", "good2"]
    assert verify_chain(engine).intact


def test_an_unreachable_database_fails_every_waiting_request(tmp_path: Path) -> None:
    gone = make_engine(f"sqlite:///{tmp_path / 'missing' / 'audit.db'}")
    writer = AuditWriter(lambda: gone)

    async def scenario() -> list[object]:
        return await asyncio.gather(
            *(writer.append([_record(f"c{i}")]) for i in range(5)), return_exceptions=True
        )

    try:
        outcomes = asyncio.run(scenario())
    finally:
        writer.stop()
        gone.dispose()
    assert all(isinstance(o, OperationalError) for o in outcomes)


def test_stop_writes_what_is_queued(engine: Engine) -> None:
    writer = AuditWriter(lambda: engine)
    released = threading.Event()
    holder = make_engine(engine.url)

    async def enqueue() -> None:
        loop = asyncio.get_running_loop()
        with holder.begin() as connection:
            _lock_tail(connection)
            pending = [asyncio.ensure_future(writer.append([_record(f"q{i}")])) for i in range(3)]
            await asyncio.sleep(0.1)

            # stop() blocks until the queue is written: run it beside the loop.
            def stop() -> None:
                writer.stop()
                released.set()

            stopping = loop.run_in_executor(None, stop)
            await asyncio.sleep(0.2)
            assert not released.is_set(), "stop returned before the queued entries were written"
        await asyncio.gather(*pending, stopping)

    try:
        asyncio.run(enqueue())
    finally:
        holder.dispose()
    assert released.is_set()
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(AuditEntry)).scalar_one() == 3
