"""Liveness, readiness and metrics: the routes a load balancer and Prometheus call, keyless."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from sqlalchemy import Engine, bindparam, select, text
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from service.drift import drift_gauges
from service.metrics import ServiceMetrics
from service.schemas.common import ComponentStatus, HealthStatus, ReadinessReport
from service.store.migrate import current_revision, head_revision
from service.store.models import ScoreRun

__all__ = ["readiness", "router"]

router = APIRouter(tags=["health"])

_PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"
_LATEST_RUN = (
    select(ScoreRun.id)
    .where(ScoreRun.status == "succeeded")
    .order_by(ScoreRun.as_of_month.desc(), ScoreRun.id.desc())
    .limit(1)
)
_RUN_DRIFT = select(ScoreRun.drift).where(ScoreRun.id == bindparam("id"))


@router.get("/healthz", response_model=HealthStatus, summary="The process is alive")
async def healthz() -> HealthStatus:
    """Answers as long as the process serves HTTP; says nothing about models or database."""
    return HealthStatus(status="ok")


def _database_status(database: Engine, schema_error: str | None) -> ComponentStatus:
    try:
        with database.connect() as connection:
            connection.execute(text("SELECT 1"))
        current = current_revision(database)
    except SQLAlchemyError as error:
        return ComponentStatus(ready=False, reason=f"database unreachable ({type(error).__name__})")
    if current != head_revision():
        reason = schema_error or f"service tables at {current or 'no revision'}, not current"
        return ComponentStatus(ready=False, reason=reason)
    return ComponentStatus(ready=True)


async def readiness(request: Request) -> ReadinessReport:
    """The database and every hardship's model, as /readyz reports them."""
    state = request.app.state
    database = await run_in_threadpool(_database_status, state.database, state.schema_error)
    models = {
        hardship: ComponentStatus(ready=item.ready, version=item.version, reason=item.reason)
        for hardship, item in state.engine.status().items()
    }
    ready = database.ready and bool(models) and all(item.ready for item in models.values())
    state.metrics.set_ready(ready)
    return ReadinessReport(ready=ready, database=database, models=models)


@router.get(
    "/readyz",
    response_model=ReadinessReport,
    summary="Ready to score",
    responses={503: {"model": ReadinessReport, "description": "Not ready; the body says why."}},
)
async def readyz(request: Request, response: Response) -> ReadinessReport:
    """200 only when the database answers and every hardship's champion is loaded.

    Otherwise 503, naming each hardship that is not ready and why, or the database problem.
    """
    report = await readiness(request)
    if not report.ready:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return report


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {_PROMETHEUS_TEXT: {}}, "description": "Text exposition."}},
)
async def metrics(request: Request) -> Response:
    """Request latency and counts by route template, model version per hardship, readiness.

    Plain text in Prometheus' exposition format, so there is no JSON response model.
    """
    state = request.app.state
    report = await readiness(request)
    state.metrics.record_statuses(report.models)
    await run_in_threadpool(_refresh_drift, state.database, state.metrics)
    return Response(state.metrics.exposition(), media_type=_PROMETHEUS_TEXT)


def _refresh_drift(database: Engine, metrics: ServiceMetrics) -> None:
    """Export the latest succeeded run's drift; keep what was exported if the database is down.

    Only the run's id is read on every scrape; its drift document only when a new run appears.
    """
    try:
        with database.connect() as connection:
            latest = connection.execute(_LATEST_RUN).first()
            if latest is None or latest.id == metrics.drift_run_id:
                return
            drift = connection.execute(_RUN_DRIFT, {"id": latest.id}).scalar_one_or_none()
    except SQLAlchemyError:
        return
    metrics.set_drift(latest.id, drift_gauges(drift))
