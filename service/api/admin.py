"""Models, reloads and disclosure exports.

GET /v1/models is for every role; the /v1/admin routes are for admin keys only.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

import pyarrow.parquet as pq
from fastapi import APIRouter, Depends, Request, status
from fastapi import Path as PathParam
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from features.store.models import Person, PersonRecord, SourceRecord
from models.hardships import load_hardship_registry
from service.audit import entries_about
from service.deps import (
    AuditDep,
    Caller,
    CallerDep,
    EngineDep,
    PurposeDep,
    Role,
    SessionDep,
    SettingsDep,
    require_roles,
)
from service.errors import ERROR_RESPONSES, api_error
from service.schemas.common import (
    ComponentStatus,
    DisclosureAuditEntry,
    DisclosureBundle,
    DisclosureReview,
    DisclosureScore,
    DisclosureSourceRecord,
    ErrorBody,
    ModelInfo,
    ModelsReport,
    ReloadReport,
)
from service.settings import DISCLOSURE_PURPOSE
from service.store.models import ChildScore, Review

__all__ = ["router"]

router = APIRouter(responses=ERROR_RESPONSES)

AdminDep = Annotated[Caller, Depends(require_roles(Role.ADMIN))]


@router.get(
    "/v1/models",
    response_model=ModelsReport,
    tags=["models"],
    summary="The champion serving each hardship",
)
def list_models(caller: CallerDep, engine: EngineDep, settings: SettingsDep) -> ModelsReport:
    """Per hardship: the registered version serving it, whether it is ready, the periods it was
    trained and tested on, its test metrics, and training's over-influence audit (features that
    carry too large a share of the model's decisions)."""
    registry = load_hardship_registry()
    snapshot = engine.champions.snapshot
    flags = engine.model_flags()
    models = []
    for hardship, item in engine.status().items():
        loaded = snapshot.get(hardship)
        metadata: dict[str, Any] = dict(loaded.bundle.metadata) if loaded is not None else {}
        flag = flags.get(hardship, {})
        horizon = metadata.get("label_horizon_months")
        models.append(
            ModelInfo(
                hardship=hardship,
                label_ja=registry.get(hardship).label_ja if hardship in registry.ids else None,
                version=item.version,
                ready=item.ready,
                reason=item.reason,
                periods=metadata.get("periods"),
                label_horizon_months=int(horizon) if horizon is not None else None,
                test_metrics=metadata.get("test_metrics"),
                over_influence_share=settings.over_influence_share,
                over_influence_max_share=flag.get(
                    "over_influence_max_share", metadata.get("over_influence_max_share")
                ),
                flagged_features=flag.get("flagged_features", []),
                top_influence=flag.get("top_influence", []),
            )
        )
    return ModelsReport(models=models)


@router.post(
    "/v1/admin/reload",
    response_model=ReloadReport,
    tags=["admin"],
    summary="Load newly promoted champions now",
)
async def reload_models(request: Request, _admin: AdminDep, engine: EngineDep) -> ReloadReport:
    """Checks each hardship's `champion` alias and loads the versions that changed.

    Requests keep being answered meanwhile: the new models replace the old in one swap once
    loaded, and a version that fails to load leaves the previous one serving.
    """
    await run_in_threadpool(engine.reload)
    statuses = engine.status()
    request.app.state.metrics.record_statuses(statuses)
    return ReloadReport(
        ready=bool(statuses) and all(s.ready for s in statuses.values()),
        versions={h: s.version for h, s in statuses.items()},
        models={
            h: ComponentStatus(ready=s.ready, version=s.version, reason=s.reason)
            for h, s in statuses.items()
        },
    )


# -- disclosure ------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """JSON-safe: NaN (a missing feature) becomes null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _parquet_rows(path: Path, child_id: str) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    table = pq.read_table(path, filters=[("person_id", "==", child_id)])
    rows = [{k: _plain(v) for k, v in row.items()} for row in table.to_pylist()]
    return sorted(rows, key=lambda row: str(row.get("as_of_month", "")))


def _visible(rows: Iterable[dict[str, Any]], sees: Any) -> list[dict[str, Any]]:
    return [row for row in rows if row.get("municipality") is None or sees(row["municipality"])]


def _source_records(session: Session, child_id: str) -> list[DisclosureSourceRecord]:
    # A person's identity records (person_record) name the departmental IDs; every loaded row
    # under those IDs is data held on the child.
    query = (
        select(SourceRecord)
        .join(
            PersonRecord,
            (PersonRecord.municipality == SourceRecord.municipality)
            & (PersonRecord.source == SourceRecord.source)
            & (PersonRecord.id_kind == SourceRecord.id_kind)
            & (PersonRecord.local_id == SourceRecord.local_id),
        )
        .where(PersonRecord.person_id == child_id)
        .order_by(SourceRecord.id)
    )
    return [
        DisclosureSourceRecord(
            id=record.id,
            municipality=record.municipality,
            source=record.source,
            line=record.line,
            id_kind=record.id_kind,
            local_id=record.local_id,
            event_date=record.event_date,
            known_date=record.known_date,
            payload=record.payload,
        )
        for record in session.scalars(query)
    ]


def _municipalities(session: Session, child_id: str, features: list[dict[str, Any]]) -> list[str]:
    """The child's municipalities, current (latest feature month) first."""
    found = [str(row["municipality"]) for row in reversed(features) if row.get("municipality")]
    found += session.scalars(
        select(PersonRecord.municipality).where(PersonRecord.person_id == child_id).distinct()
    ).all()
    return list(dict.fromkeys(found))


@router.get(
    "/v1/admin/children/{child_id}/disclosure",
    response_model=DisclosureBundle,
    tags=["admin"],
    summary="Everything held on one child (開示請求)",
    responses={
        400: {"model": ErrorBody, "description": "X-Purpose missing or unknown."},
        404: {"model": ErrorBody, "description": "Unknown child (or not in the key's scope)."},
    },
)
def disclosure(
    child_id: Annotated[
        str,
        PathParam(
            description="The child's pseudonymous id.", max_length=64, examples=["c_3f9a0b..."]
        ),
    ],
    caller: AdminDep,
    purpose: PurposeDep,
    audit: AuditDep,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
) -> DisclosureBundle:
    """One JSON document of everything Mimamori holds on the child, to answer a data subject's
    request: the departmental records linked to the child as they were ingested, the person
    master row, the feature and label rows per month, stored scores, reviewers' decisions, and
    every audit entry about the child. Needs `X-Purpose: disclosure_request`; the export itself
    is audited. A municipality-scoped admin key gets that municipality's part only."""
    if purpose != DISCLOSURE_PURPOSE:
        audit.note("purpose does not allow disclosure")
        raise api_error(
            status.HTTP_403_FORBIDDEN,
            f"a disclosure export needs X-Purpose: {DISCLOSURE_PURPOSE}",
            "X-Purpose",
        )
    sees = caller.sees
    features = _visible(_parquet_rows(settings.features_dir / "features.parquet", child_id), sees)
    municipalities = _municipalities(session, child_id, features)
    visible = [m for m in municipalities if sees(m)]
    if not visible:
        # Unknown and out-of-scope children look the same: existence never leaks.
        raise api_error(status.HTTP_404_NOT_FOUND, "unknown child", "child_id")
    municipality = visible[0]
    audit.child(child_id, municipality)
    audit.note("disclosure export")
    labels_by_month = {
        row.get("as_of_month"): row
        for row in _parquet_rows(settings.features_dir / "labels.parquet", child_id)
    }
    months = [row.get("as_of_month") for row in features]
    labels = [labels_by_month[month] for month in months if month in labels_by_month]
    person = session.get(Person, child_id)
    scores = session.scalars(
        select(ChildScore).where(ChildScore.child_id == child_id).order_by(ChildScore.run_id)
    ).all()
    reviews = session.scalars(
        select(Review).where(Review.child_id == child_id).order_by(Review.created_at)
    ).all()
    entries = entries_about(request.app.state.database, child_id)
    return DisclosureBundle(
        child_id=child_id,
        municipality=municipality,
        generated_at=dt.datetime.now(dt.UTC),
        person=None
        if person is None
        else {
            "person_id": person.person_id,
            "role": person.role,
            "birth_date": person.birth_date,
            "sex": person.sex,
        },
        source_records=[r for r in _source_records(session, child_id) if sees(r.municipality)],
        features=features,
        labels=labels,
        scores=[
            DisclosureScore.model_validate(score, from_attributes=True)
            for score in scores
            if sees(score.municipality)
        ],
        reviews=[
            DisclosureReview.model_validate(review, from_attributes=True)
            for review in reviews
            if sees(review.municipality)
        ],
        audit_entries=[
            DisclosureAuditEntry.model_validate(entry)
            for entry in entries
            if entry["municipality"] is None or sees(entry["municipality"])
        ],
    )
