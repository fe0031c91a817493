"""Prometheus metrics of one app: request latency and counts, model versions, readiness.

Each app has its own CollectorRegistry, so apps built by tests do not collide in the process's
default registry. Requests are labelled by route template (`/v1/children/{child_id}/scores`),
never by the raw path: child IDs stay out of the metrics and the label set stays small.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Final, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["UNMATCHED_ROUTE", "MetricsMiddleware", "ServiceMetrics", "route_template"]

UNMATCHED_ROUTE: Final = "unmatched"
# Scoring one child takes milliseconds; a thousand-child batch up to a few seconds.
_LATENCY_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

access_log = logging.getLogger("mimamori.service.access")


class ModelState(Protocol):
    @property
    def version(self) -> str | None: ...

    @property
    def ready(self) -> bool: ...


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path_format", None) if isinstance(route, BaseRoute) else None
    return path if isinstance(path, str) else UNMATCHED_ROUTE


class DriftSample(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def documentation(self) -> str: ...

    @property
    def labels(self) -> Mapping[str, str]: ...

    @property
    def value(self) -> float: ...


class _DriftCollector(Collector):
    """The latest score run's drift (service.drift.drift_gauges), as of the last refresh.

    A custom collector rather than Gauges: a new run replaces the whole set of series, so a
    feature that stopped drifting disappears instead of keeping its old value.
    """

    def __init__(self) -> None:
        self.samples: Sequence[DriftSample] = ()
        self.run_id: int | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        families: dict[str, GaugeMetricFamily] = {}
        for sample in self.samples:
            family = families.get(sample.name)
            if family is None:
                family = GaugeMetricFamily(
                    sample.name, sample.documentation, labels=[*sample.labels, "run_id"]
                )
                families[sample.name] = family
            family.add_metric([*sample.labels.values(), str(self.run_id)], sample.value)
        yield from families.values()


class ServiceMetrics:
    """The app's collectors."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.latency = Histogram(
            "mimamori_http_request_duration_seconds",
            "Time to answer a request, by route template, method and status.",
            ("route", "method", "status"),
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.requests = Counter(
            "mimamori_http_requests",
            "Requests answered, by route template, method and status.",
            ("route", "method", "status"),
            registry=self.registry,
        )
        self.model_version = Gauge(
            "mimamori_model_version_info",
            "1 for the registered model version serving each hardship.",
            ("hardship", "version"),
            registry=self.registry,
        )
        self.model_ready = Gauge(
            "mimamori_model_ready",
            "1 when the hardship's model is loaded and serving.",
            ("hardship",),
            registry=self.registry,
        )
        self.ready = Gauge(
            "mimamori_ready",
            "1 when /readyz answers 200 (database reachable and every model ready).",
            registry=self.registry,
        )
        self.audit_failures = Counter(
            "mimamori_audit_write_failures",
            "Responses withheld because their audit entries could not be written.",
            registry=self.registry,
        )
        self._versions: dict[str, str] = {}
        self._series: dict[tuple[str, str, int], tuple[Histogram, Counter]] = {}
        self._drift = _DriftCollector()
        self.registry.register(self._drift)

    @property
    def drift_run_id(self) -> int | None:
        return self._drift.run_id

    def set_drift(self, run_id: int | None, samples: Sequence[DriftSample]) -> None:
        """Export the drift of run `run_id` (the latest succeeded run), replacing the last."""
        self._drift.run_id = run_id
        self._drift.samples = tuple(samples)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        series = self._series.get(key)
        if series is None:
            # labels() validates and locks on every call; the label sets are few and never
            # removed, so each request's pair of series is looked up once and kept.
            labels = (route, method, str(status))
            series = self._series[key] = (
                self.latency.labels(*labels),
                self.requests.labels(*labels),
            )
        latency, requests = series
        latency.observe(seconds)
        requests.inc()

    def set_models(self, versions: Mapping[str, str | None], ready: Mapping[str, bool]) -> None:
        """Record the serving versions; a replaced version's series is removed, not left at 1."""
        for hardship, version in versions.items():
            previous = self._versions.get(hardship)
            if previous is not None and previous != version:
                self.model_version.remove(hardship, previous)
                del self._versions[hardship]
            if version is not None:
                self.model_version.labels(hardship, version).set(1)
                self._versions[hardship] = version
        for hardship, is_ready in ready.items():
            self.model_ready.labels(hardship).set(1 if is_ready else 0)

    def record_statuses(self, statuses: Mapping[str, ModelState]) -> None:
        self.set_models(
            {h: s.version for h, s in statuses.items()}, {h: s.ready for h, s in statuses.items()}
        )

    def set_ready(self, ready: bool) -> None:
        self.ready.set(1 if ready else 0)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Times every HTTP request and logs one access line without the raw path."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_timed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_timed)
        finally:
            seconds = time.perf_counter() - started
            route = route_template(scope)
            self.metrics.observe(route, scope["method"], status, seconds)
            access_log.info("%s %s %d %.1f ms", scope["method"], route, status, seconds * 1000)
