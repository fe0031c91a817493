"""The scoring service's app factory: assembles settings, middleware and routers.

    app = create_app()                  # settings from the environment
    app = create_app(ServiceSettings(data_dir=...))

Nothing is loaded when the app is built. The lifespan opens the database, brings the service's
tables up to date, loads the champion models (through the scoring engine) and starts the task
that picks up newly promoted champions; on shutdown it stops the task and closes the pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from collections.abc import AsyncIterator
from typing import Any, Final

from fastapi import FastAPI
from sqlalchemy import Engine, make_url
from sqlalchemy.exc import DBAPIError
from starlette.concurrency import run_in_threadpool

from features.store.database import make_engine, session_factory
from service.api import admin, health, policies, reports, reviews, runs, scores
from service.audit import AuditMiddleware, AuditWriter
from service.errors import BodyLimitMiddleware, install_error_handlers
from service.metrics import MetricsMiddleware, ServiceMetrics
from service.scoring.engine import ScoringEngine
from service.security import KeyCache
from service.settings import ServiceSettings, get_service_settings
from service.store.migrate import upgrade
from service.thresholds import ThresholdResolver

__all__ = ["create_app", "database_engine", "log_config"]

logger = logging.getLogger(__name__)

DESCRIPTION: Final = """\
Scores from Mimamori (見守り): the probability that a child is in, or heading into, latent
hardship (abuse, poverty, truancy, a mother's postpartum depression, young caring) within the
label horizon, with the reasons behind each score, for the child-support systems that vendors
run for municipalities.

**Keys and roles.** Every route but the health checks needs `X-API-Key` (from `mimamori keys
create`). Roles: `vendor_system` (scores, what-if, flagged lists, history), `reviewer` (the same,
plus reviews), `analyst` (models, policies, runs, drift: aggregates only), `admin` (everything).
A key other than admin's sees one municipality; a child of another municipality is answered
404, exactly like a child that does not exist.

**Purpose and audit.** Child-level routes need `X-Purpose` (why the child is looked at). Every
request that touches a child, or tries to, is written to a hash-chained audit log with its
final status (`mimamori audit verify`).

**Errors.** `{"detail": {"message": ..., "field": ...}}`; validation errors keep FastAPI's list
with the field in `loc`. Submitted values are never echoed back.
"""

TAGS: Final = [
    {"name": "scores", "description": "Scores, explanations and what-if for children."},
    {"name": "policies", "description": "Band thresholds per hardship and municipality."},
    {"name": "runs", "description": "Batch scoring runs, flagged lists and drift."},
    {
        "name": "reports",
        "description": "Pages for reviewers: a child's report (HTML, A4 PDF) and the "
        "case-conference list (HTML, CSV).",
    },
    {
        "name": "reviews",
        "description": "Reviewers' decisions on flagged children and their summary.",
    },
    {"name": "models", "description": "The champion model serving each hardship."},
    {"name": "admin", "description": "Reloading models and disclosure exports (admin keys)."},
    {"name": "health", "description": "Liveness, readiness and Prometheus metrics (no key)."},
]


def database_engine(settings: ServiceSettings) -> Engine:
    """The service's connection pool.

    pool_pre_ping replaces connections that died while the database was away, so the service
    recovers from an outage without a restart; a connect timeout makes an outage a quick 503.
    """
    url = settings.resolved_database_url
    options: dict[str, Any] = {"pool_pre_ping": True}
    if make_url(url).get_backend_name() == "postgresql":
        options["connect_args"] = {"connect_timeout": settings.database_connect_timeout_seconds}
    return make_engine(url, **options)


async def _upgrade_schema(app: FastAPI) -> None:
    try:
        await run_in_threadpool(upgrade, app.state.database)
    except DBAPIError as error:
        # Start anyway: /readyz says the database is down, and the reload task retries.
        app.state.schema_error = f"database unreachable ({type(error).__name__})"
        logger.warning("service tables not upgraded: %s", app.state.schema_error)
    else:
        app.state.schema_error = None


async def _refresh(app: FastAPI) -> None:
    """One housekeeping pass: pending schema upgrade, then champions, then gauges."""
    if app.state.schema_error is not None:
        await _upgrade_schema(app)
    engine: ScoringEngine = app.state.engine
    await run_in_threadpool(engine.reload)
    app.state.metrics.record_statuses(engine.status())


async def _reload_periodically(app: FastAPI, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await _refresh(app)
        except Exception:
            # A failed pass must not end the loop: the next one may succeed.
            logger.exception("periodic reload failed")


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: ServiceSettings = app.state.settings
    app.state.database = database_engine(settings)
    await _upgrade_schema(app)
    # Loading models takes seconds; off the event loop so the loop stays responsive.
    engine = await run_in_threadpool(ScoringEngine.from_settings, settings)
    # Bands come from the municipalities' stored policies (C's resolver caches them).
    app.state.thresholds = ThresholdResolver(engine, session_factory(app.state.database))
    engine.attach_band_resolver(app.state.thresholds)
    app.state.engine = engine
    app.state.metrics.record_statuses(engine.status())
    task = asyncio.create_task(
        _reload_periodically(app, settings.reload_interval_seconds), name="mimamori-reload"
    )
    app.state.reload_task = task
    try:
        yield
    finally:
        # uvicorn has stopped accepting and drained requests by now; a reload in progress is
        # abandoned (its thread finishes on its own and nothing is swapped in after this).
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        # Requests have drained, so their entries are queued or written: write the rest.
        await run_in_threadpool(app.state.audit_writer.stop)
        app.state.database.dispose()


def log_config(level: str = "info") -> dict[str, Any]:
    """uvicorn's logging configuration, extended to the service's own loggers."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["mimamori"] = {"handlers": ["default"], "level": level.upper()}
    config["loggers"]["service"] = {"handlers": ["default"], "level": level.upper()}
    return config


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    """The service, configured by `settings` (default: from the environment)."""
    settings = settings or get_service_settings()
    metrics = ServiceMetrics()
    app = FastAPI(
        title="Mimamori scoring service",
        summary="Early signs of hardship in children, from linked municipal data.",
        description=DESCRIPTION,
        version="1.0.0",
        openapi_tags=TAGS,
        lifespan=lifespan,
        # The keyless surface is exactly /healthz, /readyz, /metrics, /docs and /openapi.json.
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    # Routes read these through service.deps (SettingsDep and the key check). Settings are
    # never swapped in through app.dependency_overrides: with any override present, FastAPI
    # rebuilds each route's dependency tree on every request (about 10 ms per request).
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.schema_error = None
    app.state.keys = KeyCache(lambda: app.state.database, settings.api_key_cache_seconds)
    app.state.audit_writer = AuditWriter(lambda: app.state.database)
    install_error_handlers(app)
    # Added innermost first: metrics time everything, audit sees the final status of
    # everything inside it, including the body limit's 413.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        AuditMiddleware,
        writer=app.state.audit_writer,
        keys=app.state.keys,
        on_failure=metrics.audit_failures.inc,
    )
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    for module in (health, admin, scores, policies, runs, reports, reviews):
        app.include_router(module.router)
    return app
