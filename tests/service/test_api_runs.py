"""/v1/runs, the case-conference list and a child's history, on a copy of the served world's
database holding one succeeded run, one failed run and one still running (with a stray row
that no reader may show)."""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from features.store.database import make_engine
from service.app import create_app
from service.batch import BatchResult, run_batch
from service.security import create_key
from service.settings import ServiceSettings
from service.store.migrate import upgrade
from service.store.models import AuditEntry, ChildScore, ScoreRun

HOME, OTHER = "990001", "990002"


@dataclass(frozen=True)
class Api:
    client: TestClient
    keys: dict[str, str]
    database_url: str
    run: BatchResult
    failed_id: int
    running_id: int
    stray_child: str

    def headers(self, key: str | None, purpose: str | None = "case_conference") -> dict:  # type: ignore[type-arg]
        out = {} if key is None else {"X-API-Key": self.keys[key]}
        if purpose is not None:
            out["X-Purpose"] = purpose
        return out

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        database = make_engine(self.database_url)
        try:
            with Session(database) as session:
                yield session
        finally:
            database.dispose()


def _copy(source: Path, target: Path) -> str:
    origin, copy = sqlite3.connect(source), sqlite3.connect(target)
    try:
        origin.backup(copy)  # includes what is still in the write-ahead log
    finally:
        origin.close()
        copy.close()
    url = f"sqlite:///{target}"
    upgrade(url)
    return url


@pytest.fixture(scope="module")
def api(served_world, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:  # type: ignore[no-untyped-def]
    url = _copy(
        served_world.data_dir / "mimamori.db", tmp_path_factory.mktemp("runs") / "mimamori.db"
    )
    database = make_engine(url)
    specs = {
        "admin": ("admin", None),
        "analyst": ("analyst", HOME),
        "reviewer": ("reviewer", HOME),
        "vendor": ("vendor_system", HOME),
        "vendor_other": ("vendor_system", OTHER),
    }
    keys = {
        name: create_key(
            database, name=name, role=role, municipality=place, created_by="tests"
        ).secret
        for name, (role, place) in specs.items()
    }
    settings = ServiceSettings(
        data_dir=served_world.data_dir,
        database_url=url,
        mlflow_tracking_uri=served_world.tracking_uri,
        reload_interval_seconds=3600,
    )
    with TestClient(create_app(settings)) as client:
        state = client.app.state  # type: ignore[attr-defined]
        month = state.engine.latest_month
        result = run_batch(state.engine, state.database, month, resolver=state.thresholds)
        with Session(database) as session:
            now = dt.datetime.now(dt.UTC)
            failed = ScoreRun(
                as_of_month=month,
                started_at=now,
                finished_at=now,
                status="failed",
                model_versions={},
                error="RuntimeError: disk full",
            )
            # A run still going, with a row it should never have shown: readers must skip it.
            running = ScoreRun(
                as_of_month="2099-01", started_at=now, status="running", model_versions={}
            )
            session.add_all([failed, running])
            session.flush()
            stray = session.scalars(
                select(ChildScore.child_id).where(
                    ChildScore.run_id == result.run_id, ChildScore.municipality == HOME
                )
            ).first()
            assert stray is not None
            session.add(
                ChildScore(
                    run_id=running.id,
                    child_id=stray,
                    hardship="abuse",
                    municipality=HOME,
                    probability=0.99,
                    percentile=100.0,
                    band="high",
                    already_supported=False,
                    model_version="0",
                    reasons=None,
                )
            )
            session.commit()
            failed_id, running_id = failed.id, running.id
        database.dispose()
        yield Api(client, keys, url, result, failed_id, running_id, stray)


def _audit_count(api: Api) -> int:
    with api.session() as session:
        return int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def test_runs_list_every_status_newest_first(api: Api) -> None:
    response = api.client.get("/v1/runs", headers=api.headers("analyst", None))
    assert response.status_code == 200, response.text
    runs = response.json()["runs"]
    assert [r["id"] for r in runs] == [api.running_id, api.failed_id, api.run.run_id]
    assert [r["status"] for r in runs] == ["running", "failed", "succeeded"]
    assert runs[1]["error"] == "RuntimeError: disk full"
    succeeded = api.client.get(
        "/v1/runs", params={"status": "succeeded"}, headers=api.headers("reviewer", None)
    ).json()["runs"]
    assert [r["id"] for r in succeeded] == [api.run.run_id]
    assert succeeded[0]["children"] == api.run.children
    assert api.client.get("/v1/runs", headers=api.headers("vendor", None)).status_code == 403


def test_a_run_with_its_drift(api: Api) -> None:
    response = api.client.get(f"/v1/runs/{api.run.run_id}", headers=api.headers("analyst", None))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "succeeded"
    drift = body["drift"]
    assert set(drift["scores"]) == set(api.run.model_versions)
    assert drift["features"] and drift["missing"]
    assert body["drift_flags"] == len(drift["flags"])
    for flag in drift["flags"]:
        assert flag["level"] in {"moderate", "major"} and flag["psi"] >= 0.1
    missing = api.client.get("/v1/runs/987654", headers=api.headers("analyst", None))
    assert missing.status_code == 404 and missing.json()["detail"]["field"] == "run_id"


def test_the_case_conference_list(api: Api) -> None:
    before = _audit_count(api)
    response = api.client.get(
        f"/v1/municipalities/{HOME}/flagged",
        params={"hardship": "abuse"},
        headers=api.headers("vendor"),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["run_id"] == api.run.run_id  # the running run's later month is not "latest"
    children, apart = body["children"], body["already_supported"]
    assert children, "the default policy flags someone"
    probabilities = [c["probability"] for c in children]
    assert probabilities == sorted(probabilities, reverse=True)
    assert {c["hardship"] for c in children + apart} == {"abuse"}
    assert all(c["band"] in {"high", "moderate", "watch"} for c in children + apart)
    assert all(c["reason"] and c["reasons"] for c in children)
    first = children[0]["reasons"][0]
    assert first["label_ja"] and first["feature"]
    with api.session() as session:
        flagged = select(ChildScore).where(
            ChildScore.run_id == api.run.run_id,
            ChildScore.municipality == HOME,
            ChildScore.hardship == "abuse",
            ChildScore.band.is_not(None),
        )
        rows = session.scalars(flagged).all()
    assert body["total_children"] == sum(not r.already_supported for r in rows) == len(children)
    assert body["total_already_supported"] == sum(r.already_supported for r in rows) == len(apart)
    assert {c["child_id"] for c in apart} == {r.child_id for r in rows if r.already_supported}
    # One audit entry per child listed.
    assert _audit_count(api) - before == len(children) + len(apart)


def test_the_list_filters_by_band_and_limits(api: Api) -> None:
    response = api.client.get(
        f"/v1/municipalities/{HOME}/flagged",
        params={"band": "high", "limit": 3},
        headers=api.headers("reviewer"),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["hardship"] is None and body["limit"] == 3
    assert len(body["children"]) <= 3 and body["total_children"] >= len(body["children"])
    assert {c["band"] for c in body["children"]} <= {"high"}
    assert len({c["hardship"] for c in body["children"]}) >= 1


@pytest.mark.parametrize(
    ("key", "municipality", "params", "purpose", "status", "field"),
    [
        ("vendor", OTHER, {}, "case_conference", 404, "municipality"),
        ("analyst", HOME, {}, "case_conference", 403, "X-API-Key"),
        ("vendor", HOME, {}, None, 400, "X-Purpose"),
        ("vendor", HOME, {"hardship": "bullying"}, "case_conference", 422, "hardship"),
        ("vendor", HOME, {"limit": 100_000}, "case_conference", 422, "limit"),
    ],
)
def test_list_refusals(
    api: Api,
    key: str,
    municipality: str,
    params: dict,  # type: ignore[type-arg]
    purpose: str | None,
    status: int,
    field: str,
) -> None:
    response = api.client.get(
        f"/v1/municipalities/{municipality}/flagged",
        params=params,
        headers=api.headers(key, purpose),
    )
    assert response.status_code == status, response.text
    assert response.json()["detail"]["field"] == field


def test_only_succeeded_runs_can_be_listed(api: Api) -> None:
    for run_id in (api.failed_id, api.running_id, 987654):
        response = api.client.get(
            f"/v1/municipalities/{HOME}/flagged",
            params={"run_id": run_id},
            headers=api.headers("vendor"),
        )
        assert response.status_code == 404
        assert response.json()["detail"]["field"] == "run_id"
    bad_band = api.client.get(
        f"/v1/municipalities/{HOME}/flagged",
        params={"band": "extreme"},
        headers=api.headers("vendor"),
    )
    assert bad_band.status_code == 422
    assert bad_band.json()["detail"][0]["loc"] == ["query", "band"]


def test_a_childs_history(api: Api) -> None:
    before = _audit_count(api)
    response = api.client.get(
        f"/v1/children/{api.stray_child}/history", headers=api.headers("vendor")
    )
    assert response.status_code == 200, response.text
    scores = response.json()["scores"]
    # Every hardship of the succeeded run, nothing of the running one.
    assert {s["run_id"] for s in scores} == {api.run.run_id}
    assert {s["hardship"] for s in scores} == set(api.run.model_versions)
    assert _audit_count(api) == before + 1
    with api.session() as session:
        entry = session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc())).first()
        assert entry is not None
        assert (entry.child_id, entry.municipality, entry.status_code) == (
            api.stray_child,
            HOME,
            200,
        )
    one = api.client.get(
        f"/v1/children/{api.stray_child}/history",
        params={"hardship": "truancy"},
        headers=api.headers("reviewer"),
    ).json()["scores"]
    assert [s["hardship"] for s in one] == ["truancy"]


def test_history_of_an_unknown_or_out_of_scope_child_is_404(api: Api) -> None:
    for key in ("vendor_other", "vendor"):
        child = api.stray_child if key == "vendor_other" else "no-such-child"
        response = api.client.get(f"/v1/children/{child}/history", headers=api.headers(key))
        assert response.status_code == 404
        assert response.json()["detail"] == {"message": "unknown child", "field": "child_id"}
    assert (
        api.client.get(
            f"/v1/children/{api.stray_child}/history", headers=api.headers("admin")
        ).status_code
        == 200
    )


def test_the_latest_runs_drift_is_exported_to_prometheus(api: Api) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    response = api.client.get("/metrics")
    assert response.status_code == 200
    samples = {
        (sample.name, sample.labels.get("run_id"))
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }
    run = str(api.run.run_id)
    assert ("mimamori_score_psi", run) in samples
    assert ("mimamori_feature_psi", run) in samples
    assert ("mimamori_drift_flags", run) in samples
    # The failed and the still-running runs are never what the gauges describe.
    assert {label for name, label in samples if name == "mimamori_score_psi"} == {run}
