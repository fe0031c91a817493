"""Score runs and what they found: the run list, a run with its drift, the case-conference list
of a municipality, and one child's scores over time.

Readers see succeeded runs only (see service/batch): a run still going or one that failed has
no rows to show, and the flagged list and history never mix in a partial run. The run list
shows every status, so a failed run is visible with its error.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status
from fastapi import Path as PathParam
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from features.catalogue.feature_catalogue import FeatureCatalogue
from service.api.policies import check_hardship, check_municipality
from service.deps import (
    AuditDep,
    Caller,
    EngineDep,
    PurposeDep,
    Role,
    SessionDep,
    SettingsDep,
    require_roles,
)
from service.errors import ERROR_RESPONSES, api_error
from service.schemas.common import ErrorBody
from service.schemas.runs import (
    ChildHistory,
    ChildHistoryEntry,
    DriftReport,
    FlaggedChild,
    FlaggedList,
    Reason,
    RunDetail,
    RunList,
    RunSummary,
)
from service.store.models import ChildScore, ScoreRun
from service.thresholds import BandName

__all__ = ["one_line_reason", "router"]

router = APIRouter(tags=["runs"], responses=ERROR_RESPONSES)

SUCCEEDED = "succeeded"
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "Unknown run, municipality or child."}
}
# X-Purpose is read by the dependency, not declared as a parameter; say so in the document.
_PURPOSE_HEADER: dict[str, Any] = {
    "parameters": [
        {
            "name": "X-Purpose",
            "in": "header",
            "required": True,
            "schema": {"type": "string", "examples": ["case_conference"]},
            "description": "Why the children are looked at (a registered purpose); audited.",
        }
    ]
}
MISSING_WORD = "不明"

AggregateDep = Annotated[Caller, Depends(require_roles(Role.ANALYST, Role.REVIEWER))]
ChildLevelDep = Annotated[Caller, Depends(require_roles(Role.VENDOR_SYSTEM, Role.REVIEWER))]


def _summary_fields(run: ScoreRun) -> dict[str, Any]:
    flags = (run.drift or {}).get("flags")
    return {
        "id": run.id,
        "as_of_month": run.as_of_month,
        "status": run.status,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "children": run.children,
        "model_versions": {str(k): str(v) for k, v in (run.model_versions or {}).items()},
        "policy_versions": run.policy_versions,
        "drift_flags": len(flags) if flags is not None else None,
        "error": run.error,
    }


@router.get(
    "/v1/runs",
    response_model=RunList,
    summary="Score runs, newest first",
)
def list_runs(
    caller: AggregateDep,
    session: SessionDep,
    run_status: Annotated[
        str | None,
        Query(
            alias="status", pattern="^(running|succeeded|failed|abandoned)$", description="Filter."
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> RunList:
    query = select(ScoreRun).order_by(ScoreRun.id.desc()).limit(limit)
    if run_status is not None:
        query = query.where(ScoreRun.status == run_status)
    runs = session.scalars(query).all()
    return RunList(runs=[RunSummary(**_summary_fields(run)) for run in runs])


@router.get(
    "/v1/runs/{run_id}",
    response_model=RunDetail,
    responses=_NOT_FOUND,
    summary="One score run with its drift against training",
)
def get_run(
    run_id: Annotated[int, PathParam(ge=1, le=2**63 - 1)], caller: AggregateDep, session: SessionDep
) -> RunDetail:
    """Drift: PSI per feature against the training months, per hardship's scores against the
    test period, and missing-source rates now against then; PSI >= 0.2 major, >= 0.1 moderate."""
    run = session.get(ScoreRun, run_id)
    if run is None:
        raise api_error(status.HTTP_404_NOT_FOUND, "unknown run", "run_id")
    drift = DriftReport.model_validate(run.drift) if run.drift else None
    return RunDetail(**_summary_fields(run), drift=drift)


def _succeeded_run(session: Session, run_id: int | None) -> ScoreRun:
    if run_id is not None:
        run = session.get(ScoreRun, run_id)
        if run is None or run.status != SUCCEEDED:
            raise api_error(status.HTTP_404_NOT_FOUND, "no succeeded run with that id", "run_id")
        return run
    # The newest month first, then the latest run of it: re-scoring an old month for an
    # inquiry must not replace this month's list.
    latest = session.scalars(
        select(ScoreRun)
        .where(ScoreRun.status == SUCCEEDED)
        .order_by(ScoreRun.as_of_month.desc(), ScoreRun.id.desc())
        .limit(1)
    ).first()
    if latest is None:
        raise api_error(
            status.HTTP_404_NOT_FOUND, "no succeeded score run yet; run `mimamori score`", "run_id"
        )
    return latest


def _value_text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING_WORD
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.3g}"
    return str(value)


def _reasons(stored: Sequence[Any] | None, catalogue: FeatureCatalogue) -> list[Reason]:
    reasons = []
    for item in stored or ():
        feature, value, contribution = item[0], item[1], item[2]
        try:
            label = catalogue.spec(str(feature)).label_ja
        except KeyError:
            label = None
        reasons.append(
            Reason(feature=feature, label_ja=label, value=value, contribution=float(contribution))
        )
    return reasons


def one_line_reason(reasons: Sequence[Reason]) -> str:
    """The factors that raised the score, in staff's words: '欠席日数(3か月) 12 (+0.84)、...'.

    Factors that lowered it are left out of the line (they are in `reasons`): a case
    conference asks why a child is on the list.
    """
    raising = [r for r in reasons if r.contribution > 0] or list(reasons[:1])
    if not raising:
        return "理由の記録なし"
    return "、".join(
        f"{r.label_ja or r.feature} {_value_text(r.value)} ({r.contribution:+.2f})" for r in raising
    )


def _flagged(row: ChildScore, catalogue: FeatureCatalogue) -> FlaggedChild:
    reasons = _reasons(row.reasons, catalogue)
    return FlaggedChild(
        child_id=row.child_id,
        hardship=row.hardship,
        band=row.band or "",
        probability=row.probability,
        percentile=row.percentile,
        reason=one_line_reason(reasons),
        reasons=reasons,
    )


# The flagged list's filters, shared by its JSON, HTML and CSV forms (service/api/reports.py).
HardshipQuery = Annotated[str | None, Query(description="One hardship (default: all).")]
BandQuery = Annotated[BandName | None, Query(description="One band (default: all).")]
# Bounded to what a database integer holds: a larger number would fail in the driver, not here.
RunQuery = Annotated[
    int | None, Query(ge=1, le=2**63 - 1, description="A succeeded run (default: the latest).")
]
LimitQuery = Annotated[
    int | None, Query(ge=1, description="Children per list (default and maximum: the limit).")
]


@router.get(
    "/v1/municipalities/{municipality}/flagged",
    response_model=FlaggedList,
    responses=_NOT_FOUND,
    summary="The case-conference list: flagged children of the latest run",
    openapi_extra=_PURPOSE_HEADER,
)
def flagged_children(
    municipality: Annotated[str, PathParam(examples=["990001"])],
    caller: ChildLevelDep,
    purpose: PurposeDep,
    audit: AuditDep,
    session: SessionDep,
    engine: EngineDep,
    settings: SettingsDep,
    hardship: HardshipQuery = None,
    band: BandQuery = None,
    run_id: RunQuery = None,
    limit: LimitQuery = None,
) -> FlaggedList:
    """Children in a band in the run, highest probability first, each with a one-line reason
    from its stored top factors. Children already supported (顕在層) are listed apart: staff know
    them, and the review capacity is for the others. Every child listed is audited."""
    if hardship is not None:
        check_hardship(hardship, "hardship", status.HTTP_422_UNPROCESSABLE_CONTENT)
    check_municipality(caller, municipality, engine)
    cap = settings.max_children_per_request
    if limit is not None and limit > cap:
        raise api_error(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"limit must be at most {cap}", "limit"
        )
    size = limit or cap
    run = _succeeded_run(session, run_id)
    where = [
        ChildScore.run_id == run.id,
        ChildScore.municipality == municipality,
        ChildScore.band.is_not(None),
    ]
    if hardship is not None:
        where.append(ChildScore.hardship == hardship)
    if band is not None:
        where.append(ChildScore.band == band)
    lists: dict[bool, list[ChildScore]] = {}
    totals: dict[bool, int] = {}
    for supported in (False, True):
        condition = [*where, ChildScore.already_supported.is_(supported)]
        totals[supported] = int(
            session.scalar(select(func.count()).select_from(ChildScore).where(*condition)) or 0
        )
        lists[supported] = list(
            session.scalars(
                select(ChildScore)
                .where(*condition)
                .order_by(ChildScore.probability.desc(), ChildScore.child_id, ChildScore.hardship)
                .limit(size)
            ).all()
        )
    for row in (*lists[False], *lists[True]):
        audit.child(row.child_id, row.municipality)
    catalogue = engine.catalogue
    return FlaggedList(
        municipality=municipality,
        run_id=run.id,
        as_of_month=run.as_of_month,
        hardship=hardship,
        band=band,
        children=[_flagged(row, catalogue) for row in lists[False]],
        already_supported=[_flagged(row, catalogue) for row in lists[True]],
        total_children=totals[False],
        total_already_supported=totals[True],
        limit=size,
    )


@router.get(
    "/v1/children/{child_id}/history",
    response_model=ChildHistory,
    responses=_NOT_FOUND,
    summary="A child's scores across succeeded runs, oldest month first",
    openapi_extra=_PURPOSE_HEADER,
)
def child_history(
    child_id: Annotated[str, PathParam(min_length=1, max_length=64)],
    caller: ChildLevelDep,
    purpose: PurposeDep,
    audit: AuditDep,
    session: SessionDep,
    hardship: Annotated[str | None, Query(description="One hardship (default: all).")] = None,
) -> ChildHistory:
    """Only scores given while the child lived in a municipality the caller sees are shown; a
    child with none (unknown, or never in the caller's municipality) is 404."""
    if hardship is not None:
        check_hardship(hardship, "hardship", status.HTTP_422_UNPROCESSABLE_CONTENT)
    query = (
        select(ChildScore, ScoreRun.as_of_month)
        .join(ScoreRun, ScoreRun.id == ChildScore.run_id)
        .where(ChildScore.child_id == child_id, ScoreRun.status == SUCCEEDED)
        .order_by(ScoreRun.as_of_month, ScoreRun.id, ChildScore.hardship)
    )
    if hardship is not None:
        query = query.where(ChildScore.hardship == hardship)
    if caller.municipality is not None:
        query = query.where(ChildScore.municipality == caller.municipality)
    rows = session.execute(query).all()
    if not rows:
        raise api_error(status.HTTP_404_NOT_FOUND, "unknown child", "child_id")
    audit.child(child_id, rows[-1][0].municipality)
    return ChildHistory(
        child_id=child_id,
        scores=[
            ChildHistoryEntry(
                run_id=score.run_id,
                as_of_month=month,
                hardship=score.hardship,
                municipality=score.municipality,
                probability=score.probability,
                percentile=score.percentile,
                band=score.band,
                already_supported=score.already_supported,
                model_version=score.model_version,
            )
            for score, month in rows
        ],
    )
