"""Ingest a folder of departmental extracts into the store, all or nothing.

    from features.store.database import make_engine
    from features.store.migrate import upgrade
    from features.ingest.run import ingest_extracts

    engine = make_engine(url)
    upgrade(engine)
    report = ingest_extracts(Path("var/extracts"), engine)

A run is one database transaction: if anything fails midway, the store keeps exactly what it
had before (the failed run is still logged in `ingest_run`). A file whose bytes and catalogue
are unchanged since it was last loaded is skipped; a changed file replaces its previous
records. Files that disappeared from the folder keep their records (extracts may be monthly
deltas) and are listed in the report as absent.

A large load reads its files in a second process while this one writes them (_ReadingWorker);
the transaction never leaves this process. On a first load, source_record's indexes are built
once at the end of the run instead of row by row.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import multiprocessing
import os
import queue
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, Protocol, cast

from sqlalchemy import Connection, Engine, Index, Table, delete, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from features.ingest.catalogue import (
    MUNICIPALITY_OVERRIDE_FILE,
    Catalogue,
    CatalogueError,
    SourceSpec,
    load_catalogue,
    load_municipality_override,
)
from features.ingest.reader import SourceFileReader
from features.store.database import session_factory
from features.store.migrate import check_schema
from features.store.models import Base, IngestRun, Quarantine, SourceFile, SourceRecord

__all__ = [
    "FileReport",
    "IngestError",
    "IngestReport",
    "NullProgress",
    "PlannedFile",
    "Progress",
    "ingest_extracts",
    "plan_files",
]

# Rows per INSERT batch: large enough to amortise round trips, small enough to bound memory.
_BATCH_ROWS: Final = 5_000
# Below this many bytes to read, starting a worker process (about a second) is not worth it.
_WORKER_MIN_BYTES: Final = 16 * 1024 * 1024
_QUEUED_BATCHES: Final = 16
_ERROR_CHARS: Final = 2_000

FileStatus = Literal["loaded", "replaced", "unchanged"]
_STATUSES: Final[tuple[FileStatus, ...]] = ("loaded", "replaced", "unchanged")


class Progress(Protocol):
    def start(self, description: str, total: int) -> None: ...

    def advance(self, steps: int = 1) -> None: ...


class NullProgress:
    def start(self, description: str, total: int) -> None:
        pass

    def advance(self, steps: int = 1) -> None:
        pass


class IngestError(RuntimeError):
    """The run failed and was rolled back; the store is as it was before the run."""


@dataclass(frozen=True)
class PlannedFile:
    """An extract file matched to its source, with the catalogue its municipality uses."""

    municipality: str
    source: str
    spec: SourceSpec
    path: Path
    relative_path: str
    catalogue_sha256: str


@dataclass(frozen=True)
class FileReport:
    relative_path: str
    municipality: str
    source: str
    status: FileStatus
    encoding: str
    rows_read: int
    rows_loaded: int
    rows_quarantined: int
    reasons: dict[str, int] = field(default_factory=dict)
    missing_optional_columns: tuple[str, ...] = ()
    unmapped_columns: tuple[str, ...] = ()


@dataclass
class IngestReport:
    run_id: int
    extracts_root: Path
    run_date: dt.date
    catalogue_sha256: str
    files: list[FileReport]
    unrecognised_files: list[str]
    absent_files: list[str]
    seconds: float

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows_loaded for f in self.files)

    @property
    def rows_quarantined(self) -> int:
        return sum(f.rows_quarantined for f in self.files)

    def reasons(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for report in self.files:
            for reason, count in report.reasons.items():
                totals[reason] = totals.get(reason, 0) + count
        return dict(sorted(totals.items()))

    def as_rows(self) -> list[tuple[str, str]]:
        """(item, value) pairs for a two-column table: totals first, then one line per file."""
        by_status = {s: sum(f.status == s for f in self.files) for s in _STATUSES}
        rows = [
            ("run", f"#{self.run_id}, run date {self.run_date.isoformat()}"),
            ("extracts", str(self.extracts_root)),
            (
                "files",
                f"{len(self.files):,} ({by_status['loaded']} new, {by_status['replaced']} "
                f"replaced, {by_status['unchanged']} unchanged)",
            ),
            ("rows read", f"{self.rows_read:,}"),
            ("rows loaded", f"{self.rows_loaded:,}"),
            ("rows quarantined", f"{self.rows_quarantined:,}"),
        ]
        rows += [(f"quarantined: {reason}", f"{n:,}") for reason, n in self.reasons().items()]
        rows += [
            (
                f.relative_path,
                f"{f.rows_read:,} read, {f.rows_loaded:,} loaded, "
                f"{f.rows_quarantined:,} quarantined ({f.status})",
            )
            for f in self.files
        ]
        rows += [(path, "not a known extract: skipped") for path in self.unrecognised_files]
        rows += [(path, "absent from the folder: records kept") for path in self.absent_files]
        rows.append(("seconds", f"{self.seconds:.1f}"))
        return rows


def plan_files(extracts_root: Path, catalogue: Catalogue) -> tuple[list[PlannedFile], list[str]]:
    """Match every file under `extracts_root/<municipality>/` to a source.

    Returns the planned files (sorted by path) and the relative paths of files no source
    claims. A file claimed by two sources is a catalogue error, raised before anything runs.
    """
    if not extracts_root.is_dir():
        raise IngestError(f"extracts folder {extracts_root} does not exist")
    planned: list[PlannedFile] = []
    unrecognised: list[str] = []
    for entry in sorted(extracts_root.iterdir()):
        relative = entry.relative_to(extracts_root).as_posix()
        if entry.is_file():
            if not any(entry.match(pattern) for pattern in catalogue.ignore):
                unrecognised.append(relative)
            continue
        if not entry.name.isdigit():
            unrecognised.append(relative + "/")
            continue
        municipal = _municipal_catalogue(catalogue, entry)
        claimed: dict[Path, str] = {}
        for source, spec in municipal.sources.items():
            for path in sorted(entry.glob(spec.pattern)):
                if not path.is_file():
                    continue
                if path in claimed:
                    raise CatalogueError(
                        f"{path.relative_to(extracts_root)} matches both {claimed[path]!r} "
                        f"and {source!r}"
                    )
                claimed[path] = source
        ignored = {path for pattern in municipal.ignore for path in entry.glob(pattern)}
        for path in sorted(entry.rglob("*")):
            if not path.is_file() or path in ignored:
                continue
            relative_path = path.relative_to(extracts_root).as_posix()
            source_id = claimed.get(path)
            if source_id is None:
                unrecognised.append(relative_path)
                continue
            planned.append(
                PlannedFile(
                    municipality=entry.name,
                    source=source_id,
                    spec=municipal.sources[source_id],
                    path=path,
                    relative_path=relative_path,
                    catalogue_sha256=municipal.sha256,
                )
            )
    return sorted(planned, key=lambda p: p.relative_path), unrecognised


def _municipal_catalogue(catalogue: Catalogue, folder: Path) -> Catalogue:
    loaded = load_municipality_override(folder / MUNICIPALITY_OVERRIDE_FILE)
    if loaded is None:
        return catalogue
    override, text = loaded
    return catalogue.with_override(override, text)


def ingest_extracts(
    extracts_root: Path,
    engine: Engine,
    *,
    progress: Progress | None = None,
    today: dt.date | None = None,
    catalogue: Catalogue | None = None,
) -> IngestReport:
    """Load every extract under `extracts_root` into the store behind `engine`.

    `today` is the run date against which future dates are quarantined (default: the
    clock's date); `catalogue` defaults to the packaged one. The database must be migrated
    (`features.store.migrate.upgrade`). Raises IngestError after rolling back on failure.
    """
    began = time.perf_counter()
    progress = progress or NullProgress()
    run_date = today or dt.date.today()
    catalogue = catalogue or load_catalogue()
    check_schema(engine)
    planned, unrecognised = plan_files(extracts_root, catalogue)
    sessions = session_factory(engine)
    with sessions.begin() as session:
        run = IngestRun(
            started_at=dt.datetime.now(dt.UTC),
            status="running",
            extracts_root=str(extracts_root),
            catalogue_version=catalogue.version,
            catalogue_sha256=catalogue.sha256,
            run_date=run_date,
        )
        session.add(run)
        session.flush()
        run_id = run.id
    progress.start("ingest extracts", len(planned))
    current = None
    try:
        with sessions.begin() as session:
            deferred = _drop_record_indexes_if_empty(session)
            changed = _changed_files(session, planned)
            to_read = {p.relative_path for p in changed}
            worker = None
            if _worth_a_worker(changed):
                writer = _BulkWriter(session.connection())
                worker = _ReadingWorker(changed, run_date, writer.iso_dates, writer.encode_json)
            try:
                reports = []
                for current in planned:
                    parsed = (
                        worker.messages(current)
                        if worker is not None and current.relative_path in to_read
                        else None
                    )
                    reports.append(_ingest_file(session, run_id, current, run_date, parsed))
                    progress.advance()
            finally:
                if worker is not None:
                    worker.close()
            current = None
            for index in deferred:
                index.create(session.connection())
            seen = {p.relative_path for p in planned}
            absent = [
                path
                for path in session.scalars(
                    select(SourceFile.relative_path).order_by(SourceFile.relative_path)
                )
                if path not in seen
            ]
            session.execute(
                update(IngestRun)
                .where(IngestRun.id == run_id)
                .values(status="succeeded", finished_at=dt.datetime.now(dt.UTC))
            )
    except BaseException as error:
        where = f" at {current.relative_path}" if current is not None else ""
        try:
            _mark_failed(sessions, run_id, f"{type(error).__name__}{where}: {error}")
        except Exception as marking:
            error.add_note(f"ingest run {run_id} could not be marked failed: {marking}")
        if not isinstance(error, Exception):
            raise  # KeyboardInterrupt and the like: rolled back, but not an ingest error
        raise IngestError(f"ingest failed{where} and was rolled back: {error}") from error
    return IngestReport(
        run_id=run_id,
        extracts_root=extracts_root,
        run_date=run_date,
        catalogue_sha256=catalogue.sha256,
        files=reports,
        unrecognised_files=unrecognised,
        absent_files=absent,
        seconds=time.perf_counter() - began,
    )


def _changed_files(session: Session, planned: list[PlannedFile]) -> list[PlannedFile]:
    """The files whose bytes or catalogue differ from what the store last loaded."""
    stored = {
        path: (sha256, catalogue_sha256)
        for path, sha256, catalogue_sha256 in session.execute(
            select(SourceFile.relative_path, SourceFile.sha256, SourceFile.catalogue_sha256)
        )
    }
    return [
        p
        for p in planned
        if stored.get(p.relative_path)
        != (hashlib.sha256(p.path.read_bytes()).hexdigest(), p.catalogue_sha256)
    ]


def _worth_a_worker(changed: list[PlannedFile]) -> bool:
    """A reading worker pays off for large loads on more than one core, not for a few files."""
    if (os.cpu_count() or 1) < 2:
        return False
    return sum(p.path.stat().st_size for p in changed) >= _WORKER_MIN_BYTES


def _drop_record_indexes_if_empty(session: Session) -> list[Index]:
    """On a first load, drop source_record's secondary indexes; the caller recreates them.

    Building an index once over millions of rows is several times cheaper than updating it
    row by row (a default-size population: about 10 s against 40 s on SQLite). Both SQLite and
    PostgreSQL make DDL part of the transaction, so a failed run gets its indexes back with
    its rollback. A store that already holds records keeps them, as re-ingests replace a few
    files and readers may be using the indexes meanwhile.
    """
    connection = session.connection()
    if connection.execute(select(SourceRecord.id).limit(1)).first() is not None:
        return []
    table = Base.metadata.tables[SourceRecord.__tablename__]
    indexes = sorted(table.indexes, key=lambda index: str(index.name))
    for index in indexes:
        index.drop(connection)
    return indexes


def _mark_failed(sessions: sessionmaker[Session], run_id: int, message: str) -> None:
    with sessions.begin() as session:
        session.execute(
            update(IngestRun)
            .where(IngestRun.id == run_id)
            .values(
                status="failed",
                finished_at=dt.datetime.now(dt.UTC),
                error=message[:_ERROR_CHARS],
            )
        )


def _ingest_file(
    session: Session,
    run_id: int,
    planned: PlannedFile,
    run_date: dt.date,
    parsed: Iterator[_Message] | None = None,
) -> FileReport:
    """Load one file. `parsed` is its message stream when a worker process is reading it."""
    data = planned.path.read_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    existing = session.scalars(
        select(SourceFile).where(SourceFile.relative_path == planned.relative_path)
    ).one_or_none()
    if (
        existing is not None
        and existing.sha256 == sha256
        and existing.catalogue_sha256 == planned.catalogue_sha256
    ):
        if parsed is not None:
            raise IngestError(f"{planned.relative_path} changed while it was being ingested")
        return _unchanged(session, existing)
    status: FileStatus = "loaded"
    if existing is not None:
        # Explicit deletes rather than relying on ON DELETE CASCADE alone: SQLite only
        # cascades when the foreign-keys pragma is on for this connection.
        session.execute(delete(SourceRecord).where(SourceRecord.source_file_id == existing.id))
        session.execute(delete(Quarantine).where(Quarantine.source_file_id == existing.id))
        session.execute(delete(SourceFile).where(SourceFile.id == existing.id))
        status = "replaced"
    writer = _BulkWriter(session.connection())
    if parsed is None:
        parsed = _parse_messages(data, planned, run_date, writer.iso_dates, writer.encode_json)
    started = next(parsed)
    assert isinstance(started, _Started)
    file_row = SourceFile(
        run_id=run_id,
        municipality=planned.municipality,
        source=planned.source,
        relative_path=planned.relative_path,
        sha256=sha256,
        catalogue_sha256=planned.catalogue_sha256,
        encoding=started.encoding,
        rows_read=0,
        rows_loaded=0,
        rows_quarantined=0,
    )
    session.add(file_row)
    session.flush()
    file_id = file_row.id
    for message in parsed:
        if isinstance(message, _Rows):
            writer.write(_RECORDS, _RECORD_COLUMNS, message.records, file_id)
            writer.write(_QUARANTINE, _QUARANTINE_COLUMNS, message.quarantined, file_id)
            continue
        assert isinstance(message, _Finished)
        if message.sha256 != sha256:
            raise IngestError(f"{planned.relative_path} changed while it was being ingested")
        file_row.rows_read = message.rows_read
        file_row.rows_loaded = message.loaded
        file_row.rows_quarantined = message.quarantined
        session.flush()
        return FileReport(
            relative_path=planned.relative_path,
            municipality=planned.municipality,
            source=planned.source,
            status=status,
            encoding=started.encoding,
            rows_read=message.rows_read,
            rows_loaded=message.loaded,
            rows_quarantined=message.quarantined,
            reasons=message.reasons,
            missing_optional_columns=message.missing_optional_columns,
            unmapped_columns=message.unmapped_columns,
        )
    raise IngestError(f"{planned.relative_path}: the reader stopped before the end of the file")


@dataclass(frozen=True)
class _Started:
    relative_path: str
    encoding: str


@dataclass(frozen=True)
class _Rows:
    """A batch of rows in the writer's storage form, without their source_file_id."""

    records: list[tuple[Any, ...]]
    quarantined: list[tuple[Any, ...]]


@dataclass(frozen=True)
class _Finished:
    sha256: str
    rows_read: int
    loaded: int
    quarantined: int
    reasons: dict[str, int]
    missing_optional_columns: tuple[str, ...]
    unmapped_columns: tuple[str, ...]


_Message = _Started | _Rows | _Finished


def _parse_messages(
    data: bytes,
    planned: PlannedFile,
    run_date: dt.date,
    iso_dates: bool,
    encode: Callable[[Any], str] | None,
) -> Iterator[_Message]:
    """Read one file into batches of storage-form rows: _Started, _Rows..., _Finished.

    Runs in the ingesting process or in the reading worker; the rows do not depend on which.
    """
    reader = SourceFileReader(
        data,
        planned.spec,
        source=planned.source,
        relative_path=planned.relative_path,
        today=run_date,
    )
    yield _Started(planned.relative_path, reader.encoding)
    municipality = planned.municipality
    source = planned.source
    records: list[tuple[Any, ...]] = []
    quarantined: list[tuple[Any, ...]] = []
    # The loop body runs once per row (millions): plain tuples in the writer's storage form,
    # built inline, are most of what makes a large ingest fast.
    for row in reader.row_values():
        if isinstance(row, tuple):
            line, id_kind, local_id, event_date, known_date, payload = row
            records.append(
                (
                    municipality,
                    source,
                    line,
                    id_kind,
                    local_id,
                    event_date.isoformat() if iso_dates else event_date,
                    known_date.isoformat() if iso_dates else known_date,
                    payload if encode is None else encode(payload),
                )
            )
            if len(records) >= _BATCH_ROWS:
                yield _Rows(records, [])
                records = []
        else:
            quarantined.append((row.line, row.reason.value, row.message, row.redacted))
            if len(quarantined) >= _BATCH_ROWS:
                yield _Rows([], quarantined)
                quarantined = []
    yield _Rows(records, quarantined)
    yield _Finished(
        sha256=hashlib.sha256(data).hexdigest(),
        rows_read=reader.rows_read,
        loaded=reader.loaded,
        quarantined=reader.quarantined,
        reasons=dict(sorted(reader.reasons.items())),
        missing_optional_columns=reader.missing_optional_columns,
        unmapped_columns=reader.unmapped_columns,
    )


class _ReadingWorker:
    """A process that reads the changed files, in order, while this one writes to the store.

    Reading (decoding, CSV, validation, JSON) costs more than SQLite's inserts, so on two cores
    the two overlap. The worker never touches the database: the run's transaction stays in this
    process and a failure still rolls everything back. Batches travel through a bounded queue,
    so at most a few batches are in memory whatever the file sizes.
    """

    def __init__(
        self,
        files: list[PlannedFile],
        run_date: dt.date,
        iso_dates: bool,
        encode: Callable[[Any], str] | None,
    ) -> None:
        context = multiprocessing.get_context("spawn")
        self._queue: multiprocessing.Queue[_Message | BaseException] = context.Queue(
            maxsize=_QUEUED_BATCHES
        )
        self._process = context.Process(
            target=_read_files,
            args=(files, run_date, iso_dates, encode, self._queue),
            name="mimamori-ingest-reader",
            daemon=True,
        )
        self._process.start()

    def messages(self, planned: PlannedFile) -> Iterator[_Message]:
        """The message stream of `planned`, the next file the worker reads."""
        started = self._next()
        if not isinstance(started, _Started) or started.relative_path != planned.relative_path:
            raise IngestError(f"reading worker out of step at {planned.relative_path}")
        yield started
        while True:
            message = self._next()
            yield message
            if isinstance(message, _Finished):
                return

    def _next(self) -> _Message:
        while True:
            try:
                message = self._queue.get(timeout=1.0)
            except queue.Empty:
                if not self._process.is_alive():
                    raise IngestError("the reading worker stopped unexpectedly") from None
                continue
            if isinstance(message, BaseException):
                raise message
            return message

    def close(self) -> None:
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()
        self._queue.close()


def _read_files(
    files: list[PlannedFile],
    run_date: dt.date,
    iso_dates: bool,
    encode: Callable[[Any], str] | None,
    out: multiprocessing.Queue[_Message | BaseException],
) -> None:
    try:
        for planned in files:
            data = planned.path.read_bytes()
            for message in _parse_messages(data, planned, run_date, iso_dates, encode):
                out.put(message)
    except Exception as error:  # reported to the ingesting process, which rolls back
        out.put(RuntimeError(f"reading {planned.relative_path}: {type(error).__name__}: {error}"))


_RECORDS: Final = SourceRecord.__tablename__
_QUARANTINE: Final = Quarantine.__tablename__
_RECORD_COLUMNS: Final = (
    "source_file_id",
    "municipality",
    "source",
    "line",
    "id_kind",
    "local_id",
    "event_date",
    "known_date",
    "payload",
)
_QUARANTINE_COLUMNS: Final = ("source_file_id", "line", "reason", "message", "redacted_text")


class _BulkWriter:
    """Inserts rows given as tuples through the fastest path the connection's driver has.

    SQLite: the driver's executemany on a plain INSERT, with dates as ISO text and payloads as
    JSON text, exactly what SQLAlchemy's Date and JSON types would store, without their
    per-row processing (which cost more than SQLite's own work). psycopg: COPY. Any other
    driver: a Core executemany, which processes the Python values itself.
    """

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        dialect = connection.dialect
        self.mode: Literal["sqlite", "copy", "core"] = (
            "sqlite"
            if dialect.name == "sqlite"
            else "copy"
            if dialect.name == "postgresql" and dialect.driver == "psycopg"
            else "core"
        )
        self.iso_dates = self.mode == "sqlite"
        # The engine's own serialiser (features.store.database), so text matches the JSON type.
        self.encode_json: Callable[[Any], str] | None = (
            None if self.mode == "core" else _json_serializer(connection)
        )

    def write(
        self, table_name: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]], file_id: int
    ) -> None:
        """Insert `rows` (values in `columns` order after the first, source_file_id)."""
        if not rows:
            return
        table = Base.metadata.tables[table_name]
        if self.mode == "sqlite":
            preparer = self.connection.dialect.identifier_preparer
            # The file's id is an integer the store itself issued, so it goes into the statement
            # as a literal and the rows need not be copied to carry it.
            statement = "INSERT INTO {} ({}) VALUES ({:d}, {})".format(
                preparer.format_table(table),
                ", ".join(preparer.quote(name) for name in columns),
                int(file_id),
                ", ".join("?" for _ in columns[1:]),
            )
            self.connection.exec_driver_sql(statement, rows)
        elif self.mode == "copy":
            _copy(self.connection, table, columns, [(file_id, *row) for row in rows])
        else:
            parameters = [dict(zip(columns, (file_id, *row), strict=True)) for row in rows]
            self.connection.execute(insert(table), parameters)


def _json_serializer(connection: Connection) -> Callable[[Any], str]:
    serializer = getattr(connection.dialect, "_json_serializer", None)
    if serializer is not None:
        return cast(Callable[[Any], str], serializer)
    return json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _copy(
    connection: Connection, table: Table, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> None:
    """COPY rows into a PostgreSQL table, inside the run's transaction.

    COPY loads a demo-size population about 2.5 times faster than executemany. It bypasses
    SQLAlchemy's type processing: JSON columns arrive here already encoded as text.
    """
    preparer = connection.dialect.identifier_preparer
    statement = "COPY {} ({}) FROM STDIN".format(
        preparer.format_table(table), ", ".join(preparer.quote(name) for name in columns)
    )
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def _unchanged(session: Session, existing: SourceFile) -> FileReport:
    counts = session.execute(
        select(Quarantine.reason, func.count())
        .where(Quarantine.source_file_id == existing.id)
        .group_by(Quarantine.reason)
        .order_by(Quarantine.reason)
    )
    return FileReport(
        relative_path=existing.relative_path,
        municipality=existing.municipality,
        source=existing.source,
        status="unchanged",
        encoding=existing.encoding,
        rows_read=existing.rows_read,
        rows_loaded=existing.rows_loaded,
        rows_quarantined=existing.rows_quarantined,
        reasons={reason: count for reason, count in counts},
    )
