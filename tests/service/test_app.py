"""The app as a whole: lifespan, health and readiness, errors, limits, outages, models, disclosure.

Each module works on its own copy of the served world's database (keys and audit entries are
written), and reads the shared feature store and MLflow registry.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text

from features.store.database import make_engine
from service.app import create_app
from service.audit import verify_chain
from service.security import create_key
from service.settings import ServiceSettings
from service.store.migrate import upgrade
from service.store.models import AuditEntry

HARDSHIPS = {"abuse", "poverty", "truancy", "postpartum_depression", "young_carer"}


def copy_database(source_url: str, target: Path) -> str:
    """A consistent copy of a SQLite store (the backup API includes what is still in the WAL)."""
    source = sqlite3.connect(source_url.removeprefix("sqlite:///"))
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)
    finally:
        source.close()
        copy.close()
    url = f"sqlite:///{target}"
    upgrade(url)
    return url


@dataclass(frozen=True)
class World:
    settings: ServiceSettings
    database: Engine
    keys: dict[str, str]  # name -> secret
    key_ids: dict[str, str]
    home: str  # municipality of the scoped keys
    child: str  # a child of `home` at the latest month
    stranger: str  # a child of another municipality at the latest month
    stranger_municipality: str


def build_world(served_world, directory: Path, **overrides: object) -> World:  # type: ignore[no-untyped-def]
    url = copy_database(served_world.database_url, directory / "mimamori.db")
    settings = ServiceSettings(
        data_dir=served_world.data_dir,
        database_url=url,
        mlflow_tracking_uri=served_world.tracking_uri,
        reload_interval_seconds=3600,
        **overrides,
    )
    table = pq.read_table(
        settings.features_dir / "features.parquet",
        columns=["person_id", "as_of_month", "municipality"],
    )
    latest = table.filter(pc.equal(table["as_of_month"], pc.max(table["as_of_month"])))
    municipalities = sorted(set(latest["municipality"].to_pylist()))
    home, other = municipalities[0], municipalities[1]
    child = latest.filter(pc.equal(latest["municipality"], home))["person_id"][0].as_py()
    stranger = latest.filter(pc.equal(latest["municipality"], other))["person_id"][0].as_py()
    database = make_engine(url)
    specs = {
        "admin": ("admin", None),
        "admin_home": ("admin", home),
        "admin_other": ("admin", other),
        "vendor": ("vendor_system", home),
        "reviewer": ("reviewer", home),
        "analyst": ("analyst", home),
        "vendor_other": ("vendor_system", other),
    }
    keys, key_ids = {}, {}
    for name, (role, municipality) in specs.items():
        created = create_key(
            database, name=name, role=role, municipality=municipality, created_by="tests"
        )
        keys[name], key_ids[name] = created.secret, created.key_id
    return World(settings, database, keys, key_ids, home, child, stranger, other)


def headers(world: World, key: str | None, purpose: str | None = "case_conference") -> dict:  # type: ignore[type-arg]
    out = {}
    if key is not None:
        out["X-API-Key"] = world.keys[key]
    if purpose is not None:
        out["X-Purpose"] = purpose
    return out


def audit_count(world: World) -> int:
    with world.database.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(AuditEntry)).scalar_one())


def last_entries(world: World, n: int = 1) -> list:  # type: ignore[type-arg]
    with world.database.connect() as connection:
        rows = connection.execute(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(n)).all()
    return list(reversed(rows))


@pytest.fixture(scope="module")
def world(served_world, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:  # type: ignore[no-untyped-def]
    built = build_world(served_world, tmp_path_factory.mktemp("app"), max_body_bytes=50_000)
    yield built
    built.database.dispose()


@pytest.fixture(scope="module")
def client(world: World) -> Iterator[TestClient]:
    with TestClient(create_app(world.settings)) as client:
        yield client


# -- health ----------------------------------------------------------------------------------


def test_healthz_and_readyz_need_no_key_and_report_every_model(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    response = client.get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ready"] is True and body["database"]["ready"] is True
    assert set(body["models"]) == HARDSHIPS
    assert all(model["version"] for model in body["models"].values())


def test_building_the_app_loads_nothing(world: World) -> None:
    """Models load in the lifespan: importing and building the app must not touch MLflow."""
    script = textwrap.dedent(
        f"""
        import sys
        from service.app import create_app
        from service.settings import ServiceSettings
        app = create_app(ServiceSettings(data_dir={str(world.settings.data_dir)!r}))
        assert "mlflow" not in sys.modules, "mlflow imported at build time"
        assert not hasattr(app.state, "engine"), "engine built outside the lifespan"
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_a_champion_missing_at_start_is_named_by_readyz_and_a_reload_fixes_it(
    served_world,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    from mlflow import MlflowClient

    tracking = tmp_path / "mlflow.db"
    shutil.copy(served_world.tracking_uri.removeprefix("sqlite:///"), tracking)
    tracking_uri = f"sqlite:///{tracking}"
    registry = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    version = registry.get_model_version_by_alias("mimamori-poverty", "champion").version
    registry.delete_registered_model_alias("mimamori-poverty", "champion")
    built = build_world(served_world, tmp_path)
    settings = built.settings.model_copy(update={"mlflow_tracking_uri": tracking_uri})
    with TestClient(create_app(settings)) as client:
        response = client.get("/readyz")
        assert response.status_code == 503
        body = response.json()
        assert body["ready"] is False
        assert body["models"]["poverty"]["ready"] is False
        assert body["models"]["poverty"]["reason"]
        assert all(body["models"][h]["ready"] for h in HARDSHIPS - {"poverty"})
        assert "mimamori_ready 0.0" in client.get("/metrics").text

        registry.set_registered_model_alias("mimamori-poverty", "champion", version)
        denied = client.post("/v1/admin/reload", headers=headers(built, "analyst"))
        assert denied.status_code == 403
        reloaded = client.post("/v1/admin/reload", headers=headers(built, "admin"))
        assert reloaded.status_code == 200, reloaded.text
        assert reloaded.json()["versions"]["poverty"] == str(version)
        assert reloaded.json()["ready"] is True
        assert client.get("/readyz").status_code == 200
    built.database.dispose()


# -- models ----------------------------------------------------------------------------------


def test_models_are_described_to_every_role_but_not_to_strangers(
    client: TestClient, world: World
) -> None:
    assert client.get("/v1/models").status_code == 401
    for key in ("analyst", "vendor", "reviewer", "admin"):
        response = client.get("/v1/models", headers=headers(world, key, None))
        assert response.status_code == 200, response.text
    models = {item["hardship"]: item for item in response.json()["models"]}
    assert set(models) == HARDSHIPS
    abuse = models["abuse"]
    assert abuse["ready"] and abuse["version"] and abuse["label_ja"]
    assert {"train", "test"} <= set(abuse["periods"])
    assert abuse["test_metrics"]
    assert abuse["over_influence_share"] == world.settings.over_influence_share
    assert isinstance(abuse["flagged_features"], list)


# -- errors and limits -----------------------------------------------------------------------


def test_malformed_json_is_422_naming_the_body_without_echoing_it(
    client: TestClient, world: World
) -> None:
    response = client.post(
        "/v1/scores",
        content='{"children": [{"child_id": "山田太郎"',
        headers={**headers(world, "vendor"), "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][0] == "body"
    assert "山田" not in response.text


def test_validation_errors_name_the_field_but_never_echo_the_value(
    client: TestClient, world: World
) -> None:
    response = client.post(
        "/v1/scores",
        json={"children": [{"child_id": ["山田花子", "東京都千代田区"]}]},
        headers=headers(world, "vendor"),
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][:2] == ["body", "children"]
    assert "山田" not in response.text and "千代田" not in response.text


def test_a_body_over_the_limit_is_413_and_the_attempt_is_audited(
    client: TestClient, world: World
) -> None:
    before = audit_count(world)
    children = [{"child_id": f"{i:024x}"} for i in range(2000)]
    response = client.post(
        "/v1/scores", json={"children": children}, headers=headers(world, "vendor")
    )
    assert response.status_code == 413
    assert response.json()["detail"]["field"] == "body"
    assert "50000 bytes" in response.json()["detail"]["message"]
    assert audit_count(world) == before + 1
    (entry,) = last_entries(world)
    assert (entry.status_code, entry.outcome, entry.route) == (413, "too_large", "/v1/scores")
    assert entry.key_id == world.key_ids["vendor"], "the key is recorded even before it is checked"


def test_a_streamed_body_without_length_is_cut_at_the_limit(
    client: TestClient, world: World
) -> None:
    chunk = b'{"children": [' + b'{"child_id": "0123456789abcdef01234567"},' * 400

    def chunks() -> Iterator[bytes]:
        for _ in range(5):
            yield chunk

    response = client.post(
        "/v1/scores",
        content=chunks(),
        headers={**headers(world, "vendor"), "Content-Type": "application/json"},
    )
    assert response.status_code == 413


def test_errors_have_one_shape(client: TestClient, world: World) -> None:
    unknown = client.get("/v1/no-such-route", headers=headers(world, "admin"))
    assert unknown.status_code == 404
    assert set(unknown.json()["detail"]) == {"message", "field"}
    missing = client.get("/v1/models")
    assert missing.json() == {
        "detail": {"message": "missing or invalid API key", "field": "X-API-Key"}
    }


def test_a_revoked_key_is_refused_on_its_next_request(client: TestClient, world: World) -> None:
    from service.security import revoke_key

    created = create_key(
        world.database, name="short-lived", role="analyst", municipality=world.home, created_by="t"
    )
    assert client.get("/v1/models", headers={"X-API-Key": created.secret}).status_code == 200
    assert revoke_key(world.database, created.key_id)
    assert client.get("/v1/models", headers={"X-API-Key": created.secret}).status_code == 401


# -- disclosure ------------------------------------------------------------------------------


def _disclosure(client: TestClient, world: World, child: str, key: str, purpose: str):  # type: ignore[no-untyped-def]
    return client.get(
        f"/v1/admin/children/{child}/disclosure", headers=headers(world, key, purpose)
    )


def test_disclosure_exports_everything_held_on_the_child_and_is_audited(
    client: TestClient, world: World
) -> None:
    # Something for the export to show: a scoring request about the child.
    scored = client.post(
        "/v1/scores",
        json={"children": [{"child_id": world.child}]},
        headers=headers(world, "vendor", "child_welfare_screening"),
    )
    assert scored.status_code == 200, scored.text
    response = _disclosure(client, world, world.child, "admin", "disclosure_request")
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert bundle["child_id"] == world.child and bundle["municipality"] == world.home
    assert bundle["person"]["person_id"] == world.child
    assert bundle["source_records"], "the linked departmental records"
    assert {r["municipality"] for r in bundle["source_records"]} >= {world.home}
    assert bundle["features"] and all(r["person_id"] == world.child for r in bundle["features"])
    months = [r["as_of_month"] for r in bundle["features"]]
    assert months == sorted(months)
    assert len(bundle["labels"]) == len(bundle["features"])
    assert any(
        e["route"] == "/v1/scores" and e["status_code"] == 200 for e in bundle["audit_entries"]
    )
    (entry,) = last_entries(world)
    assert entry.route == "/v1/admin/children/{child_id}/disclosure"
    assert (entry.child_id, entry.status_code, entry.purpose) == (
        world.child,
        200,
        "disclosure_request",
    )
    assert entry.detail and "disclosure export" in entry.detail


def test_disclosure_matches_the_linked_records_in_the_store(
    client: TestClient, world: World
) -> None:
    with world.database.connect() as connection:
        expected = connection.execute(
            text(
                "SELECT count(*) FROM source_record s JOIN person_record p "
                "ON p.municipality = s.municipality AND p.id_kind = s.id_kind "
                "AND p.local_id = s.local_id AND p.source = s.source "
                "WHERE p.person_id = :child"
            ),
            {"child": world.child},
        ).scalar_one()
    bundle = _disclosure(client, world, world.child, "admin", "disclosure_request").json()
    assert len(bundle["source_records"]) == expected > 0


def test_disclosure_needs_its_purpose_an_admin_and_the_child_in_scope(
    client: TestClient, world: World
) -> None:
    wrong_purpose = _disclosure(client, world, world.child, "admin", "case_conference")
    assert wrong_purpose.status_code == 403
    assert wrong_purpose.json()["detail"]["field"] == "X-Purpose"
    assert (
        _disclosure(client, world, world.child, "vendor", "disclosure_request").status_code == 403
    )
    out_of_scope = _disclosure(client, world, world.child, "admin_other", "disclosure_request")
    unknown = _disclosure(client, world, "f" * 24, "admin", "disclosure_request")
    assert out_of_scope.status_code == unknown.status_code == 404
    assert out_of_scope.json() == unknown.json(), "existence must not leak"
    scoped = _disclosure(client, world, world.child, "admin_home", "disclosure_request")
    assert scoped.status_code == 200


# -- outages ---------------------------------------------------------------------------------


def test_a_database_outage_is_503_and_the_service_recovers_without_restart(
    served_world,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    folder = tmp_path / "db"
    folder.mkdir()
    built = build_world(served_world, folder)
    moved = tmp_path / "db-away"
    with TestClient(create_app(built.settings)) as client:
        app_database: Engine = client.app.state.database  # type: ignore[attr-defined]
        assert client.get("/v1/models", headers=headers(built, "analyst")).status_code == 200
        built.database.dispose()
        app_database.dispose()
        folder.rename(moved)  # new connections now fail: the file is gone
        try:
            # A key verified in the last few seconds is trusted from memory (KeyCache), so a
            # key not used yet is what needs the database here.
            down = client.get("/v1/models", headers=headers(built, "reviewer"))
            assert down.status_code == 503
            assert down.json()["detail"]["message"] == "database unavailable, retry later"
            ready = client.get("/readyz")
            assert ready.status_code == 503
            assert "unreachable" in ready.json()["database"]["reason"]
            child = client.post(
                "/v1/scores",
                json={"children": [{"child_id": built.child}]},
                headers=headers(built, "vendor"),
            )
            assert child.status_code == 503, "no child data leaves unaudited"
        finally:
            moved.rename(folder)
        assert client.get("/v1/models", headers=headers(built, "analyst")).status_code == 200
        assert client.get("/readyz").status_code == 200
    built.database.dispose()


@pytest.mark.postgres
def test_connections_killed_by_postgres_are_replaced_transparently(
    served_world,  # type: ignore[no-untyped-def]
    empty_postgres: Engine,
    tmp_path: Path,
) -> None:
    upgrade(empty_postgres)
    with empty_postgres.connect() as connection:
        schema = connection.execute(text("SELECT current_schema()")).scalar_one()
    name = f"mimamori-{schema[-12:]}"
    url = empty_postgres.url.update_query_dict(
        {"options": f"-csearch_path={schema}", "application_name": name}
    ).render_as_string(hide_password=False)
    secret = create_key(
        empty_postgres, name="a", role="analyst", municipality="990001", created_by="t"
    ).secret
    settings = ServiceSettings(
        data_dir=served_world.data_dir,
        database_url=url,
        mlflow_tracking_uri=served_world.tracking_uri,
        reload_interval_seconds=3600,
    )
    with TestClient(create_app(settings)) as client:
        assert client.get("/v1/models", headers={"X-API-Key": secret}).status_code == 200
        with empty_postgres.connect() as connection:
            killed = connection.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = :name"
                ),
                {"name": name},
            ).scalar_one()
        assert killed >= 1
        assert client.get("/v1/models", headers={"X-API-Key": secret}).status_code == 200
        assert client.get("/readyz").status_code == 200


def test_the_audit_chain_stays_intact_through_all_of_the_above(world: World) -> None:
    verdict = verify_chain(world.database)
    assert verdict.intact, verdict.describe()
    assert verdict.entries > 0


def test_champions_are_reloaded_periodically_and_the_task_stops_on_shutdown(
    served_world,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    import time

    built = build_world(served_world, tmp_path)
    settings = built.settings.model_copy(update={"reload_interval_seconds": 0.2})
    app = create_app(settings)
    with TestClient(app):
        engine = app.state.engine
        calls: list[float] = []
        original = engine.reload

        def counting_reload() -> dict[str, str]:
            calls.append(time.monotonic())
            return original()

        engine.reload = counting_reload
        deadline = time.monotonic() + 15
        while len(calls) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(calls) >= 2, "the reload task did not run every interval"
        task = app.state.reload_task
        assert not task.done()
    assert task.done(), "shutdown must stop the reload task"
    built.database.dispose()


def test_the_demo_prints_keys_and_a_request_that_works(
    served_world,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json
    import re

    from mimamori.cli import _demo_access, score

    data_dir = tmp_path / "var"
    data_dir.mkdir()
    (data_dir / "features").symlink_to(served_world.features_dir)
    # Read only here: the demo's score run needs the champions, not a registry of its own.
    (data_dir / "mlflow.db").symlink_to(served_world.data_dir / "mlflow.db")
    copy_database(served_world.database_url, data_dir / "mimamori.db")
    score(as_of="2026-03", drift=False, data_dir=data_dir)
    capsys.readouterr()
    _demo_access(data_dir)
    printed = capsys.readouterr().out
    secret = re.search(r"X-API-Key: (mmk_[\w-]+)", printed)
    purpose = re.search(r"X-Purpose: (\w+)", printed)
    body = re.search(r"-d '(.+)'", printed)
    assert secret and purpose and body, printed
    assert "http://127.0.0.1:8000/v1/scores" in printed
    settings = ServiceSettings(
        data_dir=served_world.data_dir,
        database_url=f"sqlite:///{data_dir / 'mimamori.db'}",
        mlflow_tracking_uri=served_world.tracking_uri,
        reload_interval_seconds=3600,
    )
    with TestClient(create_app(settings)) as client:
        response = client.post(
            "/v1/scores",
            json=json.loads(body.group(1)),
            headers={"X-API-Key": secret.group(1), "X-Purpose": purpose.group(1)},
        )
        listing = re.search(
            r"curl -s '(http://[^']+flagged\.csv[^']*)' -H 'X-API-Key: (\S+)'", printed
        )
        assert listing, printed
        csv = client.get(
            listing.group(1).removeprefix("http://127.0.0.1:8000"),
            headers={"X-API-Key": listing.group(2), "X-Purpose": "case_conference"},
        )
    assert response.status_code == 200, response.text
    assert response.json()["results"][0]["scores"]
    assert csv.status_code == 200, csv.text
    assert csv.headers["content-type"].startswith("text/csv")
