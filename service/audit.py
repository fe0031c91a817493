"""The audit log: one hash-chained entry per child a request touched, or tried to touch.

    entry_sha256 = sha256(previous_sha256 + canonical JSON of the entry's fields)

The first entry's previous_sha256 is 64 zeros. Editing an entry breaks its own hash; deleting
one breaks the link from the entry after it; `verify_chain` finds the first break. (Deleting the
newest entries leaves a shorter chain that is still intact: compare the count with an
independently kept copy, for example the seq last reported by `mimamori audit verify`.)

Routes never write entries. They register the children they touch on the request's
`AuditContext`; `AuditMiddleware` writes the entries when the response starts, with its final
status code, so refused attempts (401, 403, 404, 413, 422) are recorded as well as answers.
The response waits until its entries are committed. The commit happens on `AuditWriter`'s one
thread, which appends the entries of every request waiting at that moment in one transaction:
under load the transactions get fewer, never the guarantee weaker.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import logging
import queue
import threading
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, cast

from fastapi.routing import APIRoute
from sqlalchemy import Engine, false, insert, select, text, update
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import DATABASE_UNAVAILABLE
from service.security import KeyCache, plausible_secret
from service.store.models import AuditEntry

__all__ = [
    "AUDIT_STATE_KEY",
    "GENESIS_SHA256",
    "AuditContext",
    "AuditMiddleware",
    "AuditRecord",
    "AuditWriter",
    "ChainVerdict",
    "append_entries",
    "audit_context",
    "audit_of",
    "entries_about",
    "entry_sha256",
    "is_child_route",
    "outcome_for",
    "verify_chain",
]

GENESIS_SHA256: Final = "0" * 64
AUDIT_STATE_KEY: Final = "mimamori_audit"
# One fixed PostgreSQL advisory lock guards the chain's tail across processes and hosts.
_PG_LOCK_KEY: Final = int.from_bytes(hashlib.sha256(b"mimamori.audit_entry").digest()[:8], "big")
_PG_LOCK_KEY_SIGNED: Final = _PG_LOCK_KEY - (1 << 64) if _PG_LOCK_KEY >= 1 << 63 else _PG_LOCK_KEY
_CHILD_ID_MAX: Final = 64
_HASHED_FIELDS: Final = (
    "seq",
    "at",
    "key_id",
    "role",
    "purpose",
    "method",
    "route",
    "child_id",
    "municipality",
    "status_code",
    "outcome",
    "detail",
)

logger = logging.getLogger(__name__)

# Threads of this process append one at a time; the database lock below does the same
# across processes, but taking it from many threads at once would only queue them there.
_process_lock = threading.Lock()

_OUTCOMES: Final = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    413: "too_large",
    422: "invalid",
    503: "unavailable",
}


def outcome_for(status_code: int) -> str:
    if status_code < 400:
        return "answered"
    return _OUTCOMES.get(status_code, "refused" if status_code < 500 else "error")


@dataclass(frozen=True)
class AuditRecord:
    """An entry before it has a place in the chain."""

    at: dt.datetime
    method: str
    route: str
    status_code: int
    outcome: str
    key_id: str | None = None
    role: str | None = None
    purpose: str | None = None
    child_id: str | None = None
    municipality: str | None = None
    detail: str | None = None


def _canonical_time(value: dt.datetime) -> str:
    # SQLite hands back naive datetimes and PostgreSQL aware ones: hash one spelling of UTC.
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_sha256(previous_sha256: str, fields: dict[str, Any]) -> str:
    """The hash of an entry from its predecessor's hash and its own fields."""
    document = {name: fields[name] for name in _HASHED_FIELDS}
    document["at"] = _canonical_time(document["at"])
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((previous_sha256 + canonical).encode("utf-8")).hexdigest()


# Built once: constructing a statement per append cost more than the database work itself.
_PG_LOCK = text("SELECT pg_advisory_xact_lock(:key)")
_SQLITE_LOCK = update(AuditEntry).where(false()).values(seq=AuditEntry.seq)
_TAIL = select(AuditEntry.seq, AuditEntry.entry_sha256).order_by(AuditEntry.seq.desc()).limit(1)
_INSERT = insert(AuditEntry)


def _lock_tail(connection: Connection) -> None:
    """Hold the chain's tail until this transaction ends, so two appends cannot both link to it.

    For work on the chain through a SQLAlchemy connection; `append_entries` takes the same locks
    on the driver's cursor. A `SELECT ... FOR UPDATE` on the last entry cannot guard an empty
    table, so PostgreSQL takes a transaction-scoped advisory lock instead. SQLite has neither;
    its first write statement takes the database's single write lock (what BEGIN IMMEDIATE
    would do, but the engine issues a plain BEGIN itself), and taking it before reading the
    tail makes the read current.
    """
    backend = connection.dialect.name
    if backend == "postgresql":
        connection.execute(_PG_LOCK, {"key": _PG_LOCK_KEY_SIGNED})
    elif backend == "sqlite":
        connection.execute(_SQLITE_LOCK)


@dataclass(frozen=True)
class _DriverStatement:
    """A statement compiled once for one dialect, run on the driver's cursor."""

    sql: str
    # The parameters' order for drivers that take them by position (SQLite's `?`).
    names: tuple[str, ...] | None
    defaults: dict[str, Any]

    @classmethod
    def compile(cls, statement: Any, dialect: Dialect) -> _DriverStatement:
        compiled = statement.compile(dialect=dialect)
        names = tuple(compiled.positiontup or ()) if dialect.positional else None
        return cls(compiled.string, names, dict(compiled.params))

    def parameters(self, values: dict[str, Any] | None = None) -> Sequence[Any] | dict[str, Any]:
        given = {**self.defaults, **values} if values else self.defaults
        if self.names is None:
            return given
        return tuple(given[name] for name in self.names)


@dataclass(frozen=True)
class _AppendPlan:
    """An append's statements for one dialect, with the columns' conversions to driver values.

    Run on the driver's own connection rather than through SQLAlchemy's `Connection`, whose
    bookkeeping for the four statements of an append cost about 170 µs against about 30 µs of
    database work on SQLite; the response of every child-level request waits for it. The
    statements are SQLAlchemy's, compiled by the dialect, and each value goes through its
    column type's bind processor, so the stored rows are the ones the ORM path would store.
    """

    begin: str | None  # SQLite: BEGIN IMMEDIATE takes the write lock before the tail is read
    lock: _DriverStatement | None  # PostgreSQL: the advisory lock of `_lock_tail`
    tail: _DriverStatement
    insert: _DriverStatement
    converters: tuple[tuple[str, Callable[[Any], Any]], ...]

    @classmethod
    def of(cls, dialect: Dialect) -> _AppendPlan:
        columns = AuditEntry.__table__.columns
        converters = []
        for column in columns:
            processor = column.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                converters.append((column.key, processor))
        lock = None
        if dialect.name == "postgresql":
            lock = _DriverStatement.compile(_PG_LOCK.bindparams(key=_PG_LOCK_KEY_SIGNED), dialect)
        return cls(
            begin="BEGIN IMMEDIATE" if dialect.name == "sqlite" else None,
            lock=lock,
            tail=_DriverStatement.compile(_TAIL, dialect),
            insert=_DriverStatement.compile(_INSERT, dialect),
            converters=tuple(converters),
        )

    def driver_row(self, row: dict[str, Any]) -> Any:
        converted = dict(row)
        for name, convert in self.converters:
            converted[name] = convert(converted[name])
        return self.insert.parameters(converted)


# Weak keys: a disposed engine's dialect (tests build many) takes its plan with it.
_plans: weakref.WeakKeyDictionary[Dialect, _AppendPlan] = weakref.WeakKeyDictionary()


def _plan_for(dialect: Dialect) -> _AppendPlan:
    plan = _plans.get(dialect)
    if plan is None:
        plan = _plans[dialect] = _AppendPlan.of(dialect)
    return plan


def append_entries(engine: Engine, records: Sequence[AuditRecord]) -> list[int]:
    """Append records to the chain in one transaction; returns their sequence numbers.

    Database errors are raised as SQLAlchemy's (IntegrityError, OperationalError, ...), as if
    the append had run through a SQLAlchemy connection.
    """
    if not records:
        return []
    dialect = engine.dialect
    plan = _plan_for(dialect)
    driver_error: type[Exception] = dialect.loaded_dbapi.Error
    sql: str | None = None
    with _process_lock:
        try:
            connection = engine.raw_connection()
        except driver_error as error:
            raise _wrapped(error, None, dialect) from error
        cursor = None
        try:
            cursor = connection.cursor()
            if plan.begin is not None:
                sql = plan.begin
                cursor.execute(sql)
            if plan.lock is not None:
                sql = plan.lock.sql
                cursor.execute(sql, plan.lock.parameters())
            sql = plan.tail.sql
            cursor.execute(sql, plan.tail.parameters())
            tail = cursor.fetchone()
            # seq is assigned here, not by the database: sequences skip numbers on rollback,
            # and a gap must mean a deleted entry.
            seq, previous = (int(tail[0]), str(tail[1])) if tail else (0, GENESIS_SHA256)
            rows = []
            for record in records:
                seq += 1
                fields: dict[str, Any] = {
                    "seq": seq,
                    "at": record.at,
                    "key_id": record.key_id,
                    "role": record.role,
                    "purpose": record.purpose,
                    "method": record.method,
                    "route": record.route,
                    "child_id": record.child_id,
                    "municipality": record.municipality,
                    "status_code": record.status_code,
                    "outcome": record.outcome,
                    "detail": record.detail,
                }
                digest = entry_sha256(previous, fields)
                rows.append({**fields, "previous_sha256": previous, "entry_sha256": digest})
                previous = digest
            sql = plan.insert.sql
            cursor.executemany(sql, [plan.driver_row(row) for row in rows])
            sql = None
            connection.commit()
        except Exception as error:
            _abandon(connection, cursor, error, dialect)
            if isinstance(error, driver_error):
                raise _wrapped(error, sql, dialect) from error
            raise
        finally:
            if cursor is not None:
                with contextlib.suppress(Exception):
                    cursor.close()
            connection.close()
    return [row["seq"] for row in rows]


def _abandon(connection: Any, cursor: Any, error: Exception, dialect: Dialect) -> None:
    """Roll back a failed append; a connection that is gone, or cannot roll back, is dropped."""
    try:
        gone = dialect.is_disconnect(cast(Any, error), connection.dbapi_connection, cursor)
    except Exception:
        gone = False
    if not gone:
        try:
            connection.rollback()
        except Exception:
            gone = True
    if gone:
        connection.invalidate(error)


def _wrapped(error: Exception, sql: str | None, dialect: Dialect) -> BaseException:
    return DBAPIError.instance(
        sql, None, error, dialect.loaded_dbapi.Error, hide_parameters=True, dialect=dialect
    )


_Done = Callable[[BaseException | None], None]
_STOP: Final = None
# Requests whose entries share one transaction at most; more wait for the next one.
_MAX_BATCH_REQUESTS: Final = 64


class AuditWriter:
    """Appends entries on one background thread, each waiting request's entries in one go.

    `await writer.append(records)` returns once the records are committed, and raises what the
    database raised if they were not: the caller decides what the request answers. When a
    transaction with several requests' entries fails for anything but an unreachable database,
    each request's entries are tried again on their own, so one bad entry fails one request.
    """

    def __init__(self, engine_of: Callable[[], Engine]) -> None:
        # A callable, because the app's database engine only exists once the lifespan ran.
        self._engine_of = engine_of
        self._queue: queue.SimpleQueue[tuple[Sequence[AuditRecord], _Done] | None] = (
            queue.SimpleQueue()
        )
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    async def append(self, records: Sequence[AuditRecord]) -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()

        def done(error: BaseException | None) -> None:
            # A closed loop raises RuntimeError: nobody is waiting any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, future, error)

        self._ensure_started()
        self._queue.put((records, done))
        await future

    def _ensure_started(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="mimamori-audit-writer", daemon=True
                )
                self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Write what is queued, then end the thread (blocking: call it off the event loop)."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None and thread.is_alive():
            self._queue.put(_STOP)
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            batch = [item]
            stopping = False
            while len(batch) < _MAX_BATCH_REQUESTS:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stopping = True
                    break
                batch.append(more)
            self._write(batch)
            if stopping:
                return

    def _write(self, batch: list[tuple[Sequence[AuditRecord], _Done]]) -> None:
        try:
            engine = self._engine_of()
            append_entries(engine, [record for records, _ in batch for record in records])
        except Exception as error:
            unreachable = not isinstance(error, DBAPIError) or isinstance(
                error, OperationalError | InterfaceError
            )
            if len(batch) == 1 or unreachable:
                for _, done in batch:
                    done(error)
                return
            for records, done in batch:
                try:
                    append_entries(engine, records)
                except Exception as single:
                    done(single)
                else:
                    done(None)
            return
        for _, done in batch:
            done(None)


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():  # the request was cancelled meanwhile; its entries are written anyway
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


@dataclass(frozen=True)
class ChainVerdict:
    entries: int
    broken_seq: int | None = None
    reason: str | None = None

    @property
    def intact(self) -> bool:
        return self.broken_seq is None

    def describe(self) -> str:
        if self.intact:
            return f"{self.entries} entries, chain intact"
        return f"chain broken at seq {self.broken_seq}: {self.reason}"


def verify_chain(engine: Engine, *, batch_size: int = 5000) -> ChainVerdict:
    """Walk the chain from the first entry and report the first entry that does not hold."""
    columns = [getattr(AuditEntry, name) for name in _HASHED_FIELDS]
    query = select(*columns, AuditEntry.previous_sha256, AuditEntry.entry_sha256).order_by(
        AuditEntry.seq
    )
    count, expected_seq, previous = 0, 1, GENESIS_SHA256
    with engine.connect() as connection:
        result = connection.execution_options(yield_per=batch_size).execute(query)
        for row in result:
            fields = dict(row._mapping)
            seq = fields["seq"]
            if seq != expected_seq:
                return ChainVerdict(count, expected_seq, f"entry {expected_seq} is missing")
            if fields["previous_sha256"] != previous:
                return ChainVerdict(
                    count, seq, "does not link to the entry before it (deleted or changed)"
                )
            if entry_sha256(previous, fields) != fields["entry_sha256"]:
                return ChainVerdict(count, seq, "its fields do not match its hash (edited)")
            previous = fields["entry_sha256"]
            count += 1
            expected_seq += 1
    return ChainVerdict(count)


def entries_about(engine: Engine, child_id: str) -> list[dict[str, Any]]:
    """Every entry that names a child, oldest first (for a disclosure export)."""
    query = select(AuditEntry).where(AuditEntry.child_id == child_id).order_by(AuditEntry.seq)
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]


# -- per request -----------------------------------------------------------------------------


@dataclass
class AuditContext:
    """What the audit middleware will record about one request; filled in as it is handled."""

    method: str
    route: str
    key_id: str | None = None
    role: str | None = None
    purpose: str | None = None
    children: dict[str, str | None] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    path_child_id: str | None = None

    def child(self, child_id: str, municipality: str | None) -> None:
        """Register a child the request touches (its municipality if known)."""
        if municipality is not None or child_id not in self.children:
            self.children[child_id] = municipality

    def note(self, text_: str) -> None:
        """A short remark for the entries (never names, addresses or source IDs)."""
        self.notes.append(text_)

    def records(self, status_code: int, at: dt.datetime) -> list[AuditRecord]:
        children: Iterable[tuple[str | None, str | None]] = self.children.items()
        if not self.children:
            # Refused before the route looked anything up: the child asked for is still worth
            # recording, if it was in the path and could be one of ours.
            wanted = self.path_child_id
            valid = wanted is not None and 0 < len(wanted) <= _CHILD_ID_MAX
            children = [(wanted if valid else None, None)]
        detail = "; ".join(self.notes) or None
        outcome = outcome_for(status_code)
        return [
            AuditRecord(
                at=at,
                method=self.method,
                route=self.route,
                status_code=status_code,
                outcome=outcome,
                key_id=self.key_id,
                role=self.role,
                purpose=self.purpose,
                child_id=child_id,
                municipality=municipality,
                detail=detail,
            )
            for child_id, municipality in children
        ]


def audit_of(request: Request) -> AuditContext:
    """The request's audit context, for dependencies that hold the request anyway."""
    context = request.scope.get("state", {}).get(AUDIT_STATE_KEY)
    if not isinstance(context, AuditContext):
        raise RuntimeError("AuditMiddleware is not installed; build the app with create_app")
    return context


async def audit_context(request: Request) -> AuditContext:
    """The request's audit context (a dependency: `AuditDep` in service.deps)."""
    return audit_of(request)


def is_child_route(route: BaseRoute) -> bool:
    """A route is child-level when it declares the audit context or a purpose itself (alone or
    within `service.deps.require_access`), or takes a child_id in its path.

    Only the route's own dependencies count: every authenticated route reaches the audit
    context through the key check, which records who called. The path rule catches a child
    route whose author forgot the audit dependency.
    """
    if not isinstance(route, APIRoute):
        return False
    from service.deps import require_purpose  # deps imports this module

    own = {dependant.call for dependant in route.dependant.dependencies}
    return (
        "{child_id}" in route.path_format
        or bool(own & {audit_context, require_purpose})
        or any(getattr(call, "declares_purpose", False) for call in own)
    )


class AuditMiddleware:
    """Writes the audit entries of child-level requests, with the final status code.

    The entries are written when the response starts, before its first byte leaves: a response
    about a child never goes out unrecorded. If they cannot be written, the caller gets 503
    instead of the answer.
    """

    def __init__(
        self,
        app: ASGIApp,
        writer: AuditWriter,
        keys: KeyCache,
        on_failure: Callable[[], object] | None = None,
    ) -> None:
        self.app = app
        self._writer = writer
        self._keys = keys
        self._on_failure = on_failure
        self._child_routes: dict[int, bool] = {}

    def _is_child_route(self, route: BaseRoute | None) -> bool:
        if route is None:
            return False
        known = self._child_routes.get(id(route))
        if known is None:
            known = self._child_routes[id(route)] = is_child_route(route)
        return known

    async def _identify(self, context: AuditContext, secret: str | None) -> None:
        """Refused before the key was checked (a 413 or a malformed body is caught while the
        body is read, ahead of the dependencies): still record whose key it was."""
        if not plausible_secret(secret):
            return
        caller = self._keys.cached(secret)
        if caller is None:
            caller = await run_in_threadpool(self._keys.authenticate, secret)
        if caller is not None:
            context.key_id, context.role = caller.key_id, caller.role.value

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        context = AuditContext(method=scope["method"], route="")
        scope.setdefault("state", {})[AUDIT_STATE_KEY] = context
        written = False

        async def write(status_code: int) -> bool:
            nonlocal written
            written = True
            route = scope.get("route")
            if not self._is_child_route(route):
                return True
            assert isinstance(route, APIRoute)
            context.route = route.path_format
            path_child = scope.get("path_params", {}).get("child_id")
            context.path_child_id = path_child if isinstance(path_child, str) else None
            try:
                if context.key_id is None:
                    await self._identify(context, _header(scope, b"x-api-key"))
                at = dt.datetime.now(dt.UTC)
                await self._writer.append(context.records(status_code, at))
            except Exception:
                # No child IDs in the log line: the failure, not the request, is the news.
                logger.exception("audit entries could not be written (%s %s)", *_where(context))
                if self._on_failure is not None:
                    self._on_failure()
                return False
            return True

        async def send_audited(message: Message) -> None:
            starting = message["type"] == "http.response.start" and not written
            if starting and not await write(message["status"]):
                await _send_unavailable(send)
                raise _AuditUnavailableError
            await send(message)

        try:
            await self.app(scope, receive, send_audited)
        except _AuditUnavailableError:
            return
        except Exception:
            # Unhandled errors become a 500 further out; the attempt is still recorded.
            if not written:
                await write(500)
            raise


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def _where(context: AuditContext) -> tuple[str, str]:
    return context.method, context.route


class _AuditUnavailableError(Exception):
    """The audit log refused the entry; the caller was told 503 and nothing else is sent."""


async def _send_unavailable(send: Send) -> None:
    # The audit log lives in the database: to the caller this is the database being away.
    body = json.dumps({"detail": {"message": DATABASE_UNAVAILABLE, "field": None}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", b"5"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
