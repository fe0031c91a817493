"""Prometheus metrics: latency and counts by route template, model versions, readiness."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from service.app import create_app
from service.metrics import ServiceMetrics
from tests.service.test_app import World, build_world, headers


@pytest.fixture(scope="module")
def world(served_world, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:  # type: ignore[no-untyped-def]
    built = build_world(served_world, tmp_path_factory.mktemp("metrics"))
    yield built
    built.database.dispose()


@pytest.fixture(scope="module")
def client(world: World) -> Iterator[TestClient]:
    with TestClient(create_app(world.settings)) as client:
        yield client


def _samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def test_requests_are_counted_and_timed_by_route_template(client: TestClient, world: World) -> None:
    for _ in range(3):
        client.post(
            f"/v1/children/{world.child}/what-if",
            json={"changes": {"age_months": 100}},
            headers=headers(world, "vendor", "case_conference"),
        )
    client.get(f"/v1/children/{world.child}/history")  # 401
    text = client.get("/metrics").text
    assert world.child not in text, "raw child ids must not become label values"
    samples = _samples(text)
    counts = {
        (labels["route"], labels["method"], labels["status"]): value
        for name, labels, value in samples
        if name == "mimamori_http_requests_total"
    }
    what_if = [
        value
        for (route, method, _), value in counts.items()
        if route == "/v1/children/{child_id}/what-if" and method == "POST"
    ]
    assert sum(what_if) == 3
    assert counts[("/v1/children/{child_id}/history", "GET", "401")] == 1
    buckets = [
        labels
        for name, labels, _ in samples
        if name == "mimamori_http_request_duration_seconds_bucket"
        and labels["route"] == "/v1/children/{child_id}/what-if"
    ]
    assert buckets and {"le", "method", "status"} <= set(buckets[0])


def test_unknown_paths_share_one_label(client: TestClient) -> None:
    for i in range(5):
        client.get(f"/nowhere/{i}")
    samples = _samples(client.get("/metrics").text)
    routes = {labels["route"] for name, labels, _ in samples if name.startswith("mimamori_http")}
    assert "unmatched" in routes
    assert not any(route.startswith("/nowhere") for route in routes)


def test_model_versions_and_readiness_are_exported(client: TestClient) -> None:
    ready = client.get("/readyz").json()
    samples = _samples(client.get("/metrics").text)
    versions = {
        labels["hardship"]: labels["version"]
        for name, labels, value in samples
        if name == "mimamori_model_version_info" and value == 1
    }
    assert versions == {h: m["version"] for h, m in ready["models"].items()}
    assert ("mimamori_ready", {}, 1.0) in samples
    model_ready = {
        labels["hardship"]: value
        for name, labels, value in samples
        if name == "mimamori_model_ready"
    }
    assert set(model_ready.values()) == {1.0}


def test_a_replaced_model_version_leaves_no_stale_series() -> None:
    metrics = ServiceMetrics()
    metrics.set_models({"abuse": "1"}, {"abuse": True})
    metrics.set_models({"abuse": "2"}, {"abuse": True})
    metrics.set_models({"abuse": None}, {"abuse": False})
    metrics.set_models({"abuse": "3"}, {"abuse": True})
    series = [
        labels
        for name, labels, _ in _samples(metrics.exposition().decode())
        if name == "mimamori_model_version_info"
    ]
    assert series == [{"hardship": "abuse", "version": "3"}]
