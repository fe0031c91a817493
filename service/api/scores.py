"""Scores, explanations and what-if for children; the models' over-influence flags.

The scoring routes are `async` and score small requests on the event loop: one child's five
models take a fraction of a millisecond, less than a hop to the thread pool. Larger requests
go to the thread pool so that they do not hold up other callers. Responses are serialised once,
straight from plain data (the response models document them; a test holds the two together).
The two child routes take key, role and purpose as one dependency and read the engine and
settings from the app rather than through dependencies: FastAPI walks every dependency node on
every request, at some 10 to 15 µs a node.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, Final, TypeVar

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi import Path as PathParam
from pydantic_core import to_json
from starlette.concurrency import run_in_threadpool

from service.audit import AuditContext
from service.deps import (
    Access,
    Caller,
    EngineDep,
    Role,
    SettingsDep,
    require_access,
    require_roles,
)
from service.errors import ERROR_RESPONSES, api_error
from service.schemas.common import ErrorBody
from service.schemas.scores import (
    ModelFlagsReport,
    ScoreRequest,
    ScoreResponse,
    WhatIfRequest,
    WhatIfResponse,
)
from service.scoring.engine import ChildRow, HardshipScore, NotReadyError, ScoringEngine
from service.scoring.payload import PayloadError
from service.settings import ServiceSettings

__all__ = ["router"]

router = APIRouter(responses=ERROR_RESPONSES)

# Above this many model rows (children x hardships) a request is scored in the thread pool.
_INLINE_ROWS: Final = 50
_T = TypeVar("_T")

# Key, role and purpose in one dependency: these are the service's hot routes.
ScorerDep = Annotated[Access, Depends(require_access(Role.VENDOR_SYSTEM, Role.REVIEWER))]
FlagReaderDep = Annotated[Caller, Depends(require_roles(Role.ANALYST, Role.REVIEWER))]

_CHILD_ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    400: {"model": ErrorBody, "description": "X-Purpose missing or not a registered purpose."},
    404: {"model": ErrorBody, "description": "Unknown child (or one the key may not see)."},
    503: {"model": ErrorBody, "description": "A hardship asked for has no model loaded."},
}


def _json(content: Any) -> Response:
    return Response(content=to_json(content), media_type="application/json")


async def _run(work: Callable[[], _T], rows: int) -> _T:
    if rows <= _INLINE_ROWS:
        return work()
    return await run_in_threadpool(work)


def _score_out(score: HardshipScore) -> dict[str, Any]:
    return {
        "probability": score.probability,
        "percentile": score.percentile,
        "band": score.band,
        "already_supported": score.already_supported,
        "model_version": score.model_version,
        "explanation": score.explanation,
    }


def _hardships(
    engine: ScoringEngine, asked: Sequence[str] | None
) -> tuple[tuple[str, ...], dict[str, str]]:
    """The hardships to score and those left out; 503 when one asked for by name has no model."""
    statuses = engine.status()
    if asked is not None:
        absent = {
            h: statuses[h].reason or "no model loaded" for h in asked if not statuses[h].ready
        }
        if absent:
            reasons = "; ".join(f"{h}: {r}" for h, r in absent.items())
            raise api_error(
                status.HTTP_503_SERVICE_UNAVAILABLE, f"no model serves {reasons}", "hardships"
            )
        return tuple(asked), {}
    ready = engine.ready_hardships()
    if not ready:
        raise api_error(status.HTTP_503_SERVICE_UNAVAILABLE, "no model is loaded yet", None)
    left_out = {h: s.reason or "no model loaded" for h, s in statuses.items() if h not in ready}
    return ready, left_out


def _month(engine: ScoringEngine, month: str | None, field: str) -> str:
    latest = engine.latest_month
    if latest is None:
        raise api_error(status.HTTP_503_SERVICE_UNAVAILABLE, "no feature store is loaded", None)
    if month is None:
        return latest
    if month not in engine.months():
        raise api_error(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"no features for the month {month}; loaded: {engine.months()[0]} to {latest}",
            field,
        )
    return month


def _child_rows(
    request: ScoreRequest, engine: ScoringEngine, caller: Caller, audit: AuditContext
) -> list[ChildRow]:
    rows = []
    for index, ref in enumerate(request.children or []):
        month = _month(engine, ref.as_of_month, f"children[{index}].as_of_month")
        row = engine.feature_row(ref.child_id, month)
        audit.child(ref.child_id, row.municipality if row is not None else None)
        if row is None or not caller.sees(row.municipality):
            raise api_error(
                status.HTTP_404_NOT_FOUND,
                f"unknown child at children[{index}] (or no features for it at {month})",
                f"children[{index}].child_id",
            )
        rows.append(row)
    return rows


def _payload_rows(request: ScoreRequest, engine: ScoringEngine, caller: Caller) -> list[ChildRow]:
    rows = []
    known = set(engine.municipalities())
    for index, payload in enumerate(request.payloads or []):
        where = f"payloads[{index}]"
        if not caller.sees(payload.municipality):
            raise api_error(
                status.HTTP_404_NOT_FOUND,
                f"unknown municipality at {where}",
                f"{where}.municipality",
            )
        if payload.municipality not in known:
            raise api_error(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                f"no children of municipality {payload.municipality} are loaded, so a payload "
                "of it cannot be placed in its population",
                f"{where}.municipality",
            )
        month = _month(engine, payload.as_of_month, f"{where}.as_of_month")
        try:
            rows.append(
                engine.payload_row(
                    payload.municipality, payload.features, month, where=f"{where}.features"
                )
            )
        except PayloadError as error:
            raise api_error(
                status.HTTP_422_UNPROCESSABLE_CONTENT, error.message, error.field
            ) from None
    return rows


@router.post(
    "/v1/scores",
    response_model=ScoreResponse,
    tags=["scores"],
    summary="Score children (by id or by feature payload)",
    responses={
        **_CHILD_ERRORS,
        413: {"model": ErrorBody, "description": "More children than one request may carry."},
    },
)
async def score_children(
    request: ScoreRequest,
    access: ScorerDep,
    http: Request,
) -> Response:
    """For each child and hardship: the calibrated probability, its percentile among the
    municipality's children that month, the band of the municipality's threshold policy, whether
    the child is already supported, the model version and, with `explain`, the top factors.

    Children are looked up by pseudonymous id in the feature store (`children`), or scored from
    features a vendor's system sends (`payloads`), checked against the feature catalogue.
    """
    engine: ScoringEngine = http.app.state.engine
    settings: ServiceSettings = http.app.state.settings
    if request.size > settings.max_children_per_request:
        raise api_error(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"{request.size} children in one request; at most {settings.max_children_per_request}",
            "children" if request.children is not None else "payloads",
        )
    hardships, unavailable = _hardships(engine, request.hardships)
    if request.children is not None:
        rows = _child_rows(request, engine, access.caller, access.audit)
    else:
        rows = _payload_rows(request, engine, access.caller)

    def work() -> list[Any]:
        return engine.score(rows, hardships, explain=request.explain, top_k=request.top_k)

    try:
        scored = await _run(work, len(rows) * len(hardships))
    except NotReadyError as error:  # a model unloaded between the check and the scoring
        raise api_error(status.HTTP_503_SERVICE_UNAVAILABLE, str(error), "hardships") from None
    results = [
        {
            "index": index,
            "child_id": item.row.child_id,
            "as_of_month": item.row.month,
            "municipality": item.row.municipality,
            "scores": {h: _score_out(s) for h, s in item.scores.items()},
            "missing_features": list(item.row.missing),
        }
        for index, item in enumerate(scored)
    ]
    return _json({"hardships": list(hardships), "unavailable": unavailable, "results": results})


@router.post(
    "/v1/children/{child_id}/what-if",
    response_model=WhatIfResponse,
    tags=["scores"],
    summary="Scores of a child with some features changed (nothing stored)",
    responses=_CHILD_ERRORS,
)
async def what_if(
    child_id: Annotated[str, PathParam(min_length=1, max_length=64)],
    request: WhatIfRequest,
    access: ScorerDep,
    http: Request,
) -> Response:
    """The child's stored features with `changes` applied, scored beside the original, both
    explained: what would move the score, for a case conference. Changes are checked like a
    payload; nothing is written anywhere."""
    engine: ScoringEngine = http.app.state.engine
    hardships, unavailable = _hardships(engine, request.hardships)
    month = _month(engine, request.as_of_month, "as_of_month")
    row = engine.feature_row(child_id, month)
    access.audit.child(child_id, row.municipality if row is not None else None)
    if row is None or not access.caller.sees(row.municipality):
        raise api_error(
            status.HTTP_404_NOT_FOUND,
            f"unknown child (or no features for it at {month})",
            "child_id",
        )
    try:
        changed = engine.changed_row(row, request.changes, where="changes")
    except PayloadError as error:
        raise api_error(status.HTTP_422_UNPROCESSABLE_CONTENT, error.message, error.field) from None

    def work() -> list[Any]:
        return engine.score([row, changed], hardships, explain=True, top_k=request.top_k)

    try:
        original, after = await _run(work, 2 * len(hardships))
    except NotReadyError as error:
        raise api_error(status.HTTP_503_SERVICE_UNAVAILABLE, str(error), "hardships") from None
    results = {
        h: {
            "original": _score_out(original.scores[h]),
            "changed": _score_out(after.scores[h]),
            "probability_change": after.scores[h].probability - original.scores[h].probability,
        }
        for h in hardships
    }
    return _json(
        {
            "child_id": child_id,
            "as_of_month": month,
            "municipality": row.municipality,
            "changed_features": list(request.changes),
            "unavailable": unavailable,
            "results": results,
        }
    )


@router.get(
    "/v1/models/flags",
    response_model=ModelFlagsReport,
    tags=["models"],
    summary="Features over-influential in each model (training's audit)",
)
def model_flags(
    caller: FlagReaderDep, engine: EngineDep, settings: SettingsDep
) -> ModelFlagsReport:
    """Per hardship: the features training's audit flagged because one carries too large a share
    of the model's decisions, and the most influential features. Reviewers should not let a
    flagged feature alone decide; every explained score also carries its own flag."""
    flags = engine.model_flags()
    return ModelFlagsReport.model_validate(
        {
            "over_influence_share": settings.over_influence_share,
            "models": [{"hardship": h, **item} for h, item in flags.items()],
        }
    )
