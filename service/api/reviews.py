"""Reviewers' decisions on flagged children, their summary, and a child's earlier reviews.

Recording a decision is a child-level write: it needs X-Purpose and is audited (one entry for
the child, with the final status) like every other child-level route. The summary is an
aggregate, so it needs neither; it is limited to the caller's municipality all the same.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status
from fastapi import Path as PathParam

from service.api.policies import check_hardship
from service.deps import (
    AuditDep,
    Caller,
    EngineDep,
    PurposeDep,
    Role,
    SessionDep,
    require_roles,
)
from service.errors import ERROR_RESPONSES, api_error
from service.reports.build import child_history
from service.reviews import (
    ReviewError,
    UnknownChildError,
    record_review,
    review_out,
    reviews_of_child,
    summarise_reviews,
)
from service.schemas.common import ErrorBody, ValidationErrorBody
from service.schemas.reviews import ChildReviews, ReviewIn, ReviewOut, ReviewSummary
from service.schemas.runs import ChildHistoryEntry
from service.scoring.engine import ScoringEngine

__all__ = ["router"]

router = APIRouter(tags=["reviews"], responses=ERROR_RESPONSES)

ReviewerDep = Annotated[Caller, Depends(require_roles(Role.REVIEWER))]
SummaryDep = Annotated[Caller, Depends(require_roles(Role.REVIEWER, Role.ANALYST))]

_PURPOSE_HEADER: dict[str, Any] = {
    "parameters": [
        {
            "name": "X-Purpose",
            "in": "header",
            "required": True,
            "schema": {"type": "string", "examples": ["case_conference"]},
            "description": "Why the child is looked at (a registered purpose); audited.",
        }
    ]
}
_CHILD_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "X-Purpose missing or not a registered purpose."},
    404: {"model": ErrorBody, "description": "Unknown child (or one the key may not see)."},
}
MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"


def _municipality_of(engine: ScoringEngine) -> Any:
    def municipality_of(child_id: str) -> str | None:
        row = engine.feature_row(child_id)
        return row.municipality if row is not None else None

    return municipality_of


@router.post(
    "/v1/reviews",
    status_code=status.HTTP_201_CREATED,
    response_model=ReviewOut,
    responses={
        **_CHILD_ERRORS,
        422: {
            "model": ValidationErrorBody | ErrorBody,
            "description": "The run did not score the child, or the "
            "body did not validate (reason required for no_action).",
        },
    },
    summary="Record a reviewer's decision on a flagged child",
    openapi_extra=_PURPOSE_HEADER,
)
def create_review(
    body: ReviewIn,
    caller: ReviewerDep,
    purpose: PurposeDep,
    audit: AuditDep,
    session: SessionDep,
    engine: EngineDep,
) -> ReviewOut:
    """preventive_support, monitoring, no_action (with a reason) or needs_information, and a
    short note. The band is taken from the run reviewed (default: the latest run that scored
    the child for the hardship). A child outside the caller's municipality is 404."""
    check_hardship(body.hardship, "hardship", status.HTTP_422_UNPROCESSABLE_CONTENT)
    audit.child(body.child_id, None)
    try:
        review, month = record_review(
            session,
            body,
            key_id=caller.key_id,
            sees=caller.sees,
            municipality_of=_municipality_of(engine),
        )
    except UnknownChildError as error:
        raise api_error(status.HTTP_404_NOT_FOUND, str(error), error.field) from None
    except ReviewError as error:
        raise api_error(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error), error.field) from None
    audit.child(review.child_id, review.municipality)
    session.commit()
    return review_out(review, month)


@router.get(
    "/v1/reviews/summary",
    response_model=ReviewSummary,
    responses={404: {"model": ErrorBody, "description": "Unknown municipality."}},
    summary="Flagged against confirmed, per month and band; what rejected children share",
)
def review_summary(
    caller: SummaryDep,
    session: SessionDep,
    engine: EngineDep,
    municipality: Annotated[
        str | None, Query(description="Default: the key's municipality (admin: all).")
    ] = None,
    hardship: Annotated[str | None, Query(description="Default: every hardship.")] = None,
    month: Annotated[str | None, Query(pattern=MONTH, description="One as-of month.")] = None,
) -> ReviewSummary:
    """Confirmed = preventive_support or monitoring; the FY2025 reference was 852 of 2,475
    flagged children (34 %). Rejected features: the stored top factors that raised the scores
    of children reviewers decided no_action on."""
    if hardship is not None:
        check_hardship(hardship, "hardship", status.HTTP_422_UNPROCESSABLE_CONTENT)
    if municipality is None:
        municipality = caller.municipality
    elif not caller.sees(municipality):
        raise api_error(status.HTTP_404_NOT_FOUND, "unknown municipality", "municipality")
    labels = {spec.name: spec.label_ja for spec in engine.catalogue.features}
    return summarise_reviews(
        session, municipality=municipality, hardship=hardship, month=month, labels=labels
    )


@router.get(
    "/v1/children/{child_id}/reviews",
    response_model=ChildReviews,
    responses=_CHILD_ERRORS,
    summary="A child's earlier reviews and scores, across school stages and moves",
    openapi_extra=_PURPOSE_HEADER,
)
def child_reviews(
    child_id: Annotated[str, PathParam(min_length=1, max_length=64)],
    caller: ReviewerDep,
    purpose: PurposeDep,
    audit: AuditDep,
    session: SessionDep,
    engine: EngineDep,
) -> ChildReviews:
    """One person_id follows the child through the linked municipalities; only reviews and
    scores made where the caller may see are shown. Nothing visible: 404."""
    reviews = reviews_of_child(session, child_id, caller.sees)
    scores = child_history(session, child_id, caller.sees)
    row = engine.feature_row(child_id)
    current = row.municipality if row is not None and caller.sees(row.municipality) else None
    if not reviews and not scores and current is None:
        audit.child(child_id, None)
        raise api_error(status.HTTP_404_NOT_FOUND, "unknown child", "child_id")
    audit.child(
        child_id, current or (scores[-1].municipality if scores else reviews[0].municipality)
    )
    return ChildReviews(
        child_id=child_id,
        reviews=reviews,
        scores=[
            ChildHistoryEntry(
                run_id=p.run_id,
                as_of_month=p.as_of_month,
                hardship=p.hardship,
                municipality=p.municipality,
                probability=p.probability,
                percentile=p.percentile,
                band=p.band,
                already_supported=p.already_supported,
                model_version=p.model_version,
            )
            for p in scores
        ],
    )
