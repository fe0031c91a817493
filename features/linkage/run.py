"""`mimamori link`: link the ingested records, store the people, keep the reviewers' decisions.

    from features.linkage.run import run_linkage
    result = run_linkage(engine, key=key, extracts_root=settings.extracts_dir)

A run reads the identity records from `source_record` (store_adapter.py) and the decided pairs
from `review_pair`, links them, and replaces the previous output (person, person_record,
household_link, family_link and the pending review pairs) in one transaction: a run that fails
leaves the previous linkage as it was, and is logged as failed in `linkage_run`. Decided review
pairs are never touched by a run; `record_review_decision` is how a reviewer records one.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import pandas as pd
from sqlalchemy import Date, Engine, Table, bindparam, delete, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from features.linkage.extract_adapter import gaiji_maps_from_extracts
from features.linkage.link import LinkageResult, link_records
from features.linkage.model import Progress
from features.linkage.store_adapter import identity_records_from_store
from features.store.database import session_factory
from features.store.migrate import check_schema
from features.store.models import (
    Base,
    FamilyLink,
    HouseholdLink,
    LinkageRun,
    Person,
    PersonRecord,
    ReviewPair,
)

__all__ = [
    "Decision",
    "LinkageRunError",
    "linkage_report_rows",
    "record_review_decision",
    "run_linkage",
]

Decision = Literal["accept", "reject"]
_STATUS_OF: Final[dict[str, str]] = {"accept": "accepted", "reject": "rejected"}
_DECISION_OF: Final[dict[str, str]] = {status: d for d, status in _STATUS_OF.items()}
_PENDING: Final = "pending"
# A pair a reviewer raised without the model proposing it (e.g. to split a wrong link).
_REVIEWER_REASON: Final = "reviewer"
_BATCH_ROWS: Final = 5_000
_ERROR_CHARS: Final = 2_000


class LinkageRunError(RuntimeError):
    """The run failed and was rolled back; the previous linkage output is unchanged."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _decisions(engine: Engine) -> pd.DataFrame:
    """Decided review pairs as link_records wants them (record_key_l, record_key_r, decision)."""
    statement = select(ReviewPair.record_key_l, ReviewPair.record_key_r, ReviewPair.status).where(
        ReviewPair.status.in_(list(_DECISION_OF))
    )
    with engine.connect() as connection:
        rows = connection.execute(statement.order_by(ReviewPair.id)).all()
    return pd.DataFrame(
        [(left, right, _DECISION_OF[status]) for left, right, status in rows],
        columns=["record_key_l", "record_key_r", "decision"],
    )


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _report_json(result: LinkageResult, notes: Mapping[str, int]) -> dict[str, Any]:
    report = result.report.to_dict() | {"identity_notes": dict(notes)}
    # numpy scalars may sit in the counts; the JSON column wants plain values.
    loaded: dict[str, Any] = json.loads(json.dumps(report, default=_plain, ensure_ascii=False))
    return loaded


def _optional(value: object) -> Any:
    """None for NaN / NaT, a plain Python value otherwise."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, np.generic):
        return value.item()
    return value


@dataclass(frozen=True)
class _TableRows:
    """Rows for one table as tuples in `columns` order: no dict per row on the fast paths."""

    columns: tuple[str, ...]
    tuples: list[tuple[Any, ...]]


def _plain_list(series: pd.Series) -> list[Any]:
    """The column as plain Python values, None for NaN / NaT (as `_optional` gives, per value)."""
    if series.dtype == object:
        return [_optional(value) for value in series]
    missing = series.isna().to_numpy()
    values = series.tolist()
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return [None if gap else value.date() for value, gap in zip(values, missing, strict=True)]
    if missing.any():
        return [None if gap else value for value, gap in zip(values, missing, strict=True)]
    return values


def _rows(frame: pd.DataFrame, columns: Mapping[str, str], **constants: Any) -> _TableRows:
    """Frame columns renamed to table columns, as plain Python values."""
    names = list(columns)
    lists = [_plain_list(frame[name]) for name in names]
    lists += [[value] * len(frame) for value in constants.values()]
    return _TableRows(
        tuple(columns[name] for name in names) + tuple(constants),
        list(zip(*lists, strict=True)),
    )


def _insert(session: Session, model: type[Base], rows: _TableRows) -> None:
    if not rows.tuples:
        return
    table: Table = Base.metadata.tables[model.__tablename__]
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        # The driver's executemany on plain tuples: SQLAlchemy's per-row parameter processing
        # cost more than SQLite's own work. Dates go in as the ISO text the Date type stores.
        dated = {i for i, name in enumerate(rows.columns) if isinstance(table.c[name].type, Date)}
        values = rows.tuples
        if dated:
            values = [
                tuple(
                    v.isoformat() if i in dated and v is not None else v for i, v in enumerate(row)
                )
                for row in values
            ]
        preparer = connection.dialect.identifier_preparer
        statement = "INSERT INTO {} ({}) VALUES ({})".format(
            preparer.format_table(table),
            ", ".join(preparer.quote(name) for name in rows.columns),
            ", ".join("?" for _ in rows.columns),
        )
        connection.exec_driver_sql(statement, values)
        return
    for start in range(0, len(rows.tuples), _BATCH_ROWS):
        batch = rows.tuples[start : start + _BATCH_ROWS]
        session.execute(insert(table), [dict(zip(rows.columns, row, strict=True)) for row in batch])


def _replace_output(session: Session, run_id: int, result: LinkageResult) -> None:
    """Swap the previous run's output for this one's, inside the caller's transaction."""
    for model in (FamilyLink, HouseholdLink, PersonRecord, Person):
        session.execute(delete(model))
    _insert(
        session,
        Person,
        _rows(
            result.persons,
            {"person_id": "person_id", "role": "role", "birth_date": "birth_date", "sex": "sex"},
            run_id=run_id,
        ),
    )
    _insert(
        session,
        PersonRecord,
        _rows(
            result.mapping,
            {
                "record_key": "record_key",
                "municipality": "municipality",
                "source": "source",
                "id_kind": "id_kind",
                "local_id": "local_id",
                "person_id": "person_id",
                "match_probability": "probability",
                "method": "method",
            },
            run_id=run_id,
        ),
    )
    _insert(
        session,
        HouseholdLink,
        _rows(
            result.households.drop_duplicates(["person_id", "household_key"]),
            {
                "person_id": "person_id",
                "household_key": "household_key",
                "household_id": "household_id",
                "municipality": "municipality",
            },
        ),
    )
    _insert(
        session,
        FamilyLink,
        _rows(
            result.family_links.drop_duplicates(["child_person_id", "mother_person_id"]),
            {
                "child_person_id": "child_person_id",
                "mother_person_id": "mother_person_id",
                "relation": "relation",
                "method": "method",
            },
        ),
    )
    _refresh_review_queue(session, run_id, result.review_queue)


def _refresh_review_queue(session: Session, run_id: int, review_queue: pd.DataFrame) -> None:
    """Pending pairs become this run's queue; decided pairs are left as they are.

    A pair still queued keeps its row (and id), so a reviewer's open link to it survives a run.
    """
    table = Base.metadata.tables[ReviewPair.__tablename__]
    status_of: dict[tuple[str, str], tuple[int, str]] = {
        (left, right): (pair_id, status)
        for pair_id, left, right, status in session.execute(
            select(table.c.id, table.c.record_key_l, table.c.record_key_r, table.c.status)
        )
    }
    queue = review_queue.drop_duplicates(["record_key_l", "record_key_r"])
    queued: set[tuple[str, str]] = set()
    new: list[dict[str, Any]] = []
    kept: list[dict[str, Any]] = []
    for left, right, probability, reason in zip(
        queue["record_key_l"],
        queue["record_key_r"],
        queue["match_probability"],
        queue["reason"],
        strict=True,
    ):
        pair = (left, right)
        queued.add(pair)
        values = {"probability": _optional(probability), "reason": reason, "run_id": run_id}
        existing = status_of.get(pair)
        if existing is None:
            new.append({"record_key_l": left, "record_key_r": right, "status": _PENDING} | values)
        elif existing[1] == _PENDING:
            kept.append({"pair_id": existing[0]} | values)
    stale = [
        pair_id
        for pair, (pair_id, status) in status_of.items()
        if status == _PENDING and pair not in queued
    ]
    for start in range(0, len(stale), _BATCH_ROWS):
        session.execute(delete(table).where(table.c.id.in_(stale[start : start + _BATCH_ROWS])))
    if kept:
        session.execute(
            update(table)
            .where(table.c.id == bindparam("pair_id"))
            .values(
                probability=bindparam("probability"),
                reason=bindparam("reason"),
                run_id=bindparam("run_id"),
            ),
            kept,
        )
    columns = tuple(new[0]) if new else ()
    _insert(
        session, ReviewPair, _TableRows(columns, [tuple(row[c] for c in columns) for row in new])
    )


def _mark_failed(sessions: sessionmaker[Session], run_id: int, message: str) -> None:
    with sessions.begin() as session:
        session.execute(
            update(LinkageRun)
            .where(LinkageRun.id == run_id)
            .values(status="failed", finished_at=_now(), error=message[:_ERROR_CHARS])
        )


def run_linkage(
    engine: Engine,
    *,
    key: bytes,
    extracts_root: Path | None,
    progress: Progress | None = None,
    settings_path: Path | None = None,
    memory_limit: str | None = None,
) -> LinkageResult:
    """Link the records in the store behind `engine` and store the result.

    `key` keys the pseudonyms (features.settings: pseudonym_key). `extracts_root` is the
    extracts folder, read only for the municipalities' 外字 maps (extracts/<code>/gaiji_map.csv,
    which ingestion does not load); None links without them. `settings_path` overrides the
    shipped linkage settings; `memory_limit` bounds DuckDB (features.settings:
    link_memory_limit). Raises LinkageRunError after rolling back on any failure,
    including reviewers' decisions that contradict shared IDs (DecisionConflictError, the
    cause); the previous linkage output is then intact. Raises SchemaNotCurrentError, before
    anything is logged, when the store is not migrated to the latest revision.
    """
    check_schema(engine)
    sessions = session_factory(engine)
    with sessions.begin() as session:
        run = LinkageRun(started_at=_now(), status="running")
        session.add(run)
        session.flush()
        run_id = run.id
    try:
        if progress is not None:
            progress.start("record linkage: identity records", 1)
        records = identity_records_from_store(engine)
        gaiji_maps = gaiji_maps_from_extracts(extracts_root) if extracts_root is not None else {}
        if progress is not None:
            progress.advance()
        result = link_records(
            records,
            key=key,
            settings_path=settings_path,
            decisions=_decisions(engine),
            progress=progress,
            gaiji_maps=gaiji_maps,
            memory_limit=memory_limit,
        )
        if progress is not None:
            progress.start("record linkage: store", 1)
        with sessions.begin() as session:
            _replace_output(session, run_id, result)
            session.execute(
                update(LinkageRun)
                .where(LinkageRun.id == run_id)
                .values(
                    status="succeeded",
                    finished_at=_now(),
                    settings_name=result.report.settings_name,
                    settings_version=result.report.settings_version,
                    settings_sha256=result.report.settings_sha256,
                    report=_report_json(result, records.attrs.get("notes", {})),
                )
            )
        if progress is not None:
            progress.advance()
    except BaseException as error:
        try:
            _mark_failed(sessions, run_id, f"{type(error).__name__}: {error}")
        except Exception as marking:
            error.add_note(f"linkage run {run_id} could not be marked failed: {marking}")
        if not isinstance(error, Exception):
            raise  # KeyboardInterrupt and the like: rolled back, but not a linkage error
        raise LinkageRunError(f"linkage failed and was rolled back: {error}") from error
    return result


def record_review_decision(
    engine: Engine,
    record_key_l: str,
    record_key_r: str,
    decision: Decision,
    decided_by: str,
    note: str | None = None,
) -> None:
    """Record a reviewer's verdict on a pair; the next run links (accept) or separates (reject).

    The pair may be in the review queue or not (a reviewer splitting a wrong link raises it
    anew); a later decision on the same pair replaces the earlier one. Both records must be in
    the latest linkage output. Raises ValueError for an unknown decision or record, a pair of
    one record, or an empty `decided_by`.
    """
    if decision not in _STATUS_OF:
        raise ValueError("decision must be accept or reject")
    if not decided_by.strip():
        raise ValueError("decided_by must name the reviewer")
    left, right = sorted((record_key_l, record_key_r))
    if left == right:
        raise ValueError("a review pair needs two different records")
    values = {
        "status": _STATUS_OF[decision],
        "decided_by": decided_by.strip(),
        "decided_at": _now(),
        "note": note,
    }
    with session_factory(engine).begin() as session:
        known = set(
            session.scalars(
                select(PersonRecord.record_key).where(PersonRecord.record_key.in_([left, right]))
            )
        )
        if known != {left, right}:
            raise ValueError("record_key not in the latest linkage output")
        pair = session.scalars(
            select(ReviewPair).where(
                ReviewPair.record_key_l == left, ReviewPair.record_key_r == right
            )
        ).one_or_none()
        if pair is None:
            session.add(
                ReviewPair(
                    record_key_l=left,
                    record_key_r=right,
                    probability=None,
                    reason=_REVIEWER_REASON,
                    run_id=None,
                    **values,
                )
            )
        else:
            for name, value in values.items():
                setattr(pair, name, value)


def linkage_report_rows(result: LinkageResult) -> list[tuple[str, str]]:
    """(item, value) pairs for a two-column table of what a run did."""
    report = result.report
    rows = [
        (
            "settings",
            f"{report.settings_name} v{report.settings_version} ({report.settings_sha256[:12]})"
            + (", trained" if report.trained else ", prior parameters"),
        ),
        ("identity records", f"{report.records:,}"),
    ]
    rows += [(f"records: {s}", f"{n:,}") for s, n in report.records_by_source.items()]
    rows.append(("persons", f"{report.persons:,}"))
    rows += [(f"persons: {r}", f"{n:,}") for r, n in report.persons_by_role.items()]
    rows += [(f"links: {m}", f"{n:,}") for m, n in report.links_by_method.items()]
    rows += [(f"records held by: {m}", f"{n:,}") for m, n in report.records_by_method.items()]
    rows += [
        ("candidate pairs", f"{report.candidate_pairs:,}"),
        ("review queue", f"{report.review_queue:,}"),
        ("links refused (ID limits, rejections)", f"{report.refused_links:,}"),
        ("twin guard blocked", f"{report.twin_guard_blocked:,}"),
    ]
    rows += [(f"review decisions: {k}", f"{n:,}") for k, n in report.decisions.items()]
    rows.append(("records with unmapped 外字", f"{report.unmapped_gaiji_records:,}"))
    if report.unmapped_gaiji_characters:
        # Private-use characters print as nothing: show their code points.
        rows.append(
            (
                "unmapped 外字",
                " ".join(f"U+{ord(ch):04X}" for ch in report.unmapped_gaiji_characters),
            )
        )
    rows += [
        ("households", f"{result.households['household_id'].nunique():,}"),
        ("mother links", f"{len(result.family_links):,}"),
    ]
    return rows
