"""The scoring routes over HTTP: answers, every refusal, audit, and the documented shapes.

The app runs on the served world's feature store and registry with a database of its own (keys
and audit entries are written there), so nothing here changes what other modules read.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from features.store.database import make_engine
from models.hardships import load_hardship_registry
from service.app import create_app
from service.schemas.scores import ModelFlagsReport, ScoreResponse, WhatIfResponse
from service.scoring.engine import ScoringEngine
from service.security import create_key
from service.settings import ServiceSettings
from service.store.migrate import upgrade
from service.store.models import AuditEntry, ChildScore

HARDSHIPS = load_hardship_registry().ids
MAX_CHILDREN = 5


@dataclass(frozen=True)
class Api:
    client: TestClient
    engine: ScoringEngine
    database: Engine
    keys: dict[str, str]
    home: str
    other: str
    child: str  # of `home`, latest month
    stranger: str  # of `other`, latest month

    def headers(self, key: str | None = "vendor", purpose: str | None = "case_conference") -> dict:  # type: ignore[type-arg]
        out = {}
        if key is not None:
            out["X-API-Key"] = self.keys[key]
        if purpose is not None:
            out["X-Purpose"] = purpose
        return out

    def score(self, body: dict, key: str | None = "vendor", **options: str | None):  # type: ignore[no-untyped-def,type-arg]
        return self.client.post("/v1/scores", json=body, headers=self.headers(key, **options))

    def what_if(self, child: str, body: dict, key: str = "vendor"):  # type: ignore[no-untyped-def,type-arg]
        return self.client.post(
            f"/v1/children/{child}/what-if", json=body, headers=self.headers(key)
        )


@pytest.fixture(scope="module")
def api(served_world, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:  # type: ignore[no-untyped-def]
    folder: Path = tmp_path_factory.mktemp("api-scores")
    url = f"sqlite:///{folder / 'service.db'}"
    upgrade(url)
    settings = ServiceSettings(
        data_dir=served_world.data_dir,
        database_url=url,
        mlflow_tracking_uri=served_world.tracking_uri,
        reload_interval_seconds=3600,
        max_children_per_request=MAX_CHILDREN,
    )
    database = make_engine(url)
    app = create_app(settings)
    with TestClient(app) as client:
        engine: ScoringEngine = app.state.engine
        home, other = engine.municipalities()[:2]
        month = engine.latest_month or ""
        child = str(engine.population(month, home, "abuse").child_ids[0])
        stranger = str(engine.population(month, other, "abuse").child_ids[0])
        specs = {
            "vendor": ("vendor_system", home),
            "reviewer": ("reviewer", home),
            "analyst": ("analyst", home),
            "admin": ("admin", None),
        }
        keys = {
            name: create_key(
                database, name=name, role=role, municipality=place, created_by="tests"
            ).secret
            for name, (role, place) in specs.items()
        }
        yield Api(client, engine, database, keys, home, other, child, stranger)
    database.dispose()


def _detail(response) -> dict:  # type: ignore[no-untyped-def,type-arg]
    body = response.json()
    assert set(body) == {"detail"}
    return body["detail"]  # type: ignore[no-any-return]


def _audit_rows(api: Api, n: int) -> list:  # type: ignore[type-arg]
    with api.database.connect() as connection:
        rows = connection.execute(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(n))
        return list(reversed(rows.all()))


# -- answers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["vendor", "reviewer", "admin"])
def test_scores_of_a_child_for_every_hardship(api: Api, key: str) -> None:
    response = api.score({"children": [{"child_id": api.child}]}, key=key)
    assert response.status_code == 200, response.text
    body = ScoreResponse.model_validate(response.json())
    assert body.hardships == list(HARDSHIPS) and body.unavailable == {}
    (result,) = body.results
    assert (result.child_id, result.municipality) == (api.child, api.home)
    assert result.as_of_month == api.engine.latest_month
    (expected,) = api.engine.score([api.engine.feature_row(api.child)])
    for hardship in HARDSHIPS:
        got, want = result.scores[hardship], expected.scores[hardship]
        assert got.probability == pytest.approx(want.probability)
        assert got.percentile == pytest.approx(want.percentile)
        assert got.band == want.band
        assert got.already_supported == want.already_supported
        assert got.model_version == api.engine.model_version(hardship)
        assert got.explanation is None


def test_explained_scores_carry_factors_and_flags(api: Api) -> None:
    month = api.engine.months()[-3]
    response = api.score(
        {
            "children": [{"child_id": api.child, "as_of_month": month}],
            "hardships": ["truancy", "poverty"],
            "explain": True,
            "top_k": 3,
        }
    )
    assert response.status_code == 200, response.text
    (result,) = ScoreResponse.model_validate(response.json()).results
    assert result.as_of_month == month
    assert list(result.scores) == ["truancy", "poverty"]
    for score in result.scores.values():
        explanation = score.explanation
        assert explanation is not None and 0 < len(explanation.factors) <= 3
        sizes = [abs(f.log_odds) for f in explanation.factors]
        assert sizes == sorted(sizes, reverse=True)
        if explanation.over_influence is not None:
            assert explanation.over_influence.share > 0.5
            assert explanation.over_influence.message_ja.startswith("このスコアは主に1つの項目")


def test_payloads_are_scored_and_unsent_features_listed(api: Api) -> None:
    body = {
        "payloads": [
            {"municipality": api.home, "features": {"age_months": 130, "absence_days_3m": 14}},
            {"municipality": api.home, "features": {"age_months": 40, "single_parent": True}},
        ],
        "hardships": ["abuse"],
        "explain": True,
    }
    response = api.score(body)
    assert response.status_code == 200, response.text
    results = ScoreResponse.model_validate(response.json()).results
    assert [r.index for r in results] == [0, 1]
    assert results[0].child_id is None and results[0].municipality == api.home
    assert "absence_days_3m" not in results[0].missing_features
    assert "single_parent" in results[0].missing_features
    assert results[0].scores["abuse"].already_supported is None
    assert results[0].scores["abuse"].percentile is not None


def test_a_payload_of_a_stored_child_scores_as_the_child(api: Api) -> None:
    row = api.engine.feature_row(api.child)
    names = api.engine.payload_schema().columns
    values = np.asarray(row.values, dtype=float)
    features = {n: (None if np.isnan(v) else float(v)) for n, v in zip(names, values, strict=True)}
    by_id = api.score({"children": [{"child_id": api.child}]}).json()["results"][0]["scores"]
    by_payload = api.score({"payloads": [{"municipality": api.home, "features": features}]})
    assert by_payload.status_code == 200, by_payload.text
    scores = by_payload.json()["results"][0]["scores"]
    for hardship in HARDSHIPS:
        assert scores[hardship]["probability"] == pytest.approx(by_id[hardship]["probability"])


# -- refusals --------------------------------------------------------------------------------


def test_an_unknown_hardship_is_422_naming_it(api: Api) -> None:
    response = api.score({"children": [{"child_id": api.child}], "hardships": ["abuse", "bully"]})
    assert response.status_code == 422
    (item,) = _detail(response)
    assert item["loc"] == ["body", "hardships"] and "'bully'" in item["msg"]


def test_too_many_children_is_413(api: Api) -> None:
    children = [{"child_id": api.child}] * (MAX_CHILDREN + 1)
    response = api.score({"children": children})
    assert response.status_code == 413
    assert _detail(response)["field"] == "children"


@pytest.mark.parametrize("who", ["unknown", "stranger"])
def test_an_unknown_child_and_one_out_of_scope_get_the_same_404(api: Api, who: str) -> None:
    child = "f" * 24 if who == "unknown" else api.stranger
    response = api.score({"children": [{"child_id": api.child}, {"child_id": child}]})
    assert response.status_code == 404
    detail = _detail(response)
    assert detail["field"] == "children[1].child_id"
    assert "children[1]" in detail["message"] and child not in detail["message"]
    assert api.stranger not in response.text


def test_the_admin_sees_every_municipality(api: Api) -> None:
    response = api.score({"children": [{"child_id": api.stranger}]}, key="admin")
    assert response.status_code == 200
    assert response.json()["results"][0]["municipality"] == api.other


@pytest.mark.parametrize(
    ("features", "field", "words"),
    [
        ({"shoe_size": 23}, "shoe_size", "unknown feature"),
        ({"absence_days_1m": 45}, "absence_days_1m", "out of range"),
        ({"single_parent": 3}, "single_parent", "out of range"),
        ({"siblings": "two"}, "siblings", "got text"),
        ({"siblings": 1.5}, "siblings", "whole number"),
    ],
)
def test_a_bad_payload_value_is_422_naming_the_field(
    api: Api,
    features: dict,
    field: str,
    words: str,  # type: ignore[type-arg]
) -> None:
    body = {"payloads": [{"municipality": api.home, "features": {"age_months": 50, **features}}]}
    response = api.score(body)
    assert response.status_code == 422
    detail = _detail(response)
    assert detail["field"] == f"payloads[0].features.{field}"
    assert words in detail["message"]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"payloads": [{"features": {"age_months": 50}}]}, ["body", "payloads", 0, "municipality"]),
        (
            {"payloads": [{"municipality": "990001", "features": {"age_months": [1]}}]},
            ["body", "payloads", 0, "features", "age_months"],
        ),
        (
            {"children": [{"child_id": "x", "as_of_month": "2026-13"}]},
            ["body", "children", 0, "as_of_month"],
        ),
        ({"children": [{"child_id": "x"}], "top_k": 0}, ["body", "top_k"]),
        ({"children": [{"child_id": "x"}], "colour": "red"}, ["body", "colour"]),
        ({}, ["body"]),
    ],
)
def test_malformed_requests_are_422_with_the_field_in_loc(api: Api, body: dict, loc: list) -> None:  # type: ignore[type-arg]
    response = api.score(body)
    assert response.status_code == 422
    assert any(item["loc"][: len(loc)] == loc for item in _detail(response)), response.text


def test_both_children_and_payloads_is_422(api: Api) -> None:
    body = {
        "children": [{"child_id": api.child}],
        "payloads": [{"municipality": api.home, "features": {}}],
    }
    assert api.score(body).status_code == 422


def test_a_month_without_features_is_422(api: Api) -> None:
    response = api.score({"children": [{"child_id": api.child, "as_of_month": "2001-04"}]})
    assert response.status_code == 422
    assert _detail(response)["field"] == "children[0].as_of_month"


def test_a_payload_for_another_municipality_is_404(api: Api) -> None:
    response = api.score({"payloads": [{"municipality": api.other, "features": {}}]})
    assert response.status_code == 404
    assert _detail(response)["field"] == "payloads[0].municipality"


def test_keys_roles_and_purposes_are_checked(api: Api) -> None:
    body = {"children": [{"child_id": api.child}]}
    assert api.score(body, key=None).status_code == 401
    assert api.score(body, key="analyst").status_code == 403
    assert api.score(body, purpose=None).status_code == 400
    assert api.score(body, purpose="curiosity").status_code == 400


def test_every_attempt_on_a_child_is_audited_with_its_status(api: Api) -> None:
    api.score({"children": [{"child_id": api.child}]})
    api.score({"children": [{"child_id": api.stranger}]})
    answered, refused = _audit_rows(api, 2)
    assert (answered.child_id, answered.status_code) == (api.child, 200)
    assert (refused.child_id, refused.status_code) == (api.stranger, 404)
    assert answered.purpose == "case_conference"


def test_concurrent_requests_each_leave_their_entry_in_an_intact_chain(api: Api) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from service.audit import verify_chain

    with api.database.connect() as connection:
        before = connection.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
    children = [api.child if i % 3 else api.stranger for i in range(48)]
    # Eight callers at once on the app's one event loop: their entries share transactions.
    with ThreadPoolExecutor(8) as callers:
        statuses = list(
            callers.map(
                lambda child: api.score({"children": [{"child_id": child}]}).status_code,
                children,
            )
        )
    assert statuses == [200 if c == api.child else 404 for c in children]
    rows = _audit_rows(api, len(children))
    assert rows[0].seq == before + 1, "an entry is missing or one was written twice"
    assert sorted((r.child_id, r.status_code) for r in rows) == sorted(
        zip(children, statuses, strict=True)
    )
    verdict = verify_chain(api.database)
    assert verdict.intact and verdict.entries == before + len(children), verdict.describe()


# -- what-if ---------------------------------------------------------------------------------


def test_what_if_scores_the_changed_row_beside_the_original_and_stores_nothing(api: Api) -> None:
    with api.database.connect() as connection:
        stored_before = connection.execute(select(func.count()).select_from(ChildScore)).scalar()
    row = api.engine.feature_row(api.child)
    response = api.what_if(
        api.child, {"changes": {"single_parent": 1, "absence_days_3m": 30}, "top_k": 2}
    )
    assert response.status_code == 200, response.text
    body = WhatIfResponse.model_validate(response.json())
    assert body.changed_features == ["single_parent", "absence_days_3m"]
    assert set(body.results) == set(HARDSHIPS)
    (original,) = api.engine.score([row])
    changed_row = api.engine.changed_row(row, {"single_parent": 1, "absence_days_3m": 30})
    (changed,) = api.engine.score([changed_row])
    for hardship, item in body.results.items():
        assert item.original.probability == pytest.approx(original.scores[hardship].probability)
        assert item.changed.probability == pytest.approx(changed.scores[hardship].probability)
        assert item.probability_change == pytest.approx(
            item.changed.probability - item.original.probability
        )
        assert item.original.explanation is not None and item.changed.explanation is not None
    # The stored row is untouched: scoring it again gives the original.
    (again,) = api.engine.score([api.engine.feature_row(api.child)])
    assert again.scores["abuse"].probability == original.scores["abuse"].probability
    with api.database.connect() as connection:
        stored_after = connection.execute(select(func.count()).select_from(ChildScore)).scalar()
    assert stored_after == stored_before


def test_what_if_refuses_bad_changes_and_unseen_children(api: Api) -> None:
    response = api.what_if(api.child, {"changes": {"single_parent": 5}})
    assert response.status_code == 422
    assert _detail(response)["field"] == "changes.single_parent"
    response = api.what_if(api.child, {"changes": {"favourite_colour": 1}})
    assert _detail(response)["field"] == "changes.favourite_colour"
    assert api.what_if(api.stranger, {"changes": {"siblings": 1}}).status_code == 404
    assert api.what_if("0" * 24, {"changes": {"siblings": 1}}).status_code == 404
    assert api.what_if(api.child, {"changes": {}}).status_code == 422
    response = api.what_if(api.child, {"changes": {"siblings": 1}, "hardships": ["bully"]})
    assert response.status_code == 422


# -- flags -----------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["analyst", "reviewer", "admin"])
def test_model_flags_for_analysts_reviewers_and_admins(api: Api, key: str) -> None:
    response = api.client.get("/v1/models/flags", headers=api.headers(key, purpose=None))
    assert response.status_code == 200
    report = ModelFlagsReport.model_validate(response.json())
    assert report.over_influence_share == 0.5
    assert {m.hardship for m in report.models} == set(HARDSHIPS)
    for model in report.models:
        metadata = api.engine.champions.snapshot.get(model.hardship).bundle.metadata
        assert [f.feature for f in model.flagged_features] == list(
            metadata.get("flagged_features", [])
        )


def test_model_flags_are_not_for_vendor_systems(api: Api) -> None:
    response = api.client.get("/v1/models/flags", headers=api.headers("vendor", purpose=None))
    assert response.status_code == 403


def test_the_openapi_document_describes_the_scoring_routes(api: Api) -> None:
    document = api.client.get("/openapi.json").json()
    post = document["paths"]["/v1/scores"]["post"]
    assert post["tags"] == ["scores"]
    assert post["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "ScoreResponse"
    )
    assert {"404", "413", "422"} <= set(post["responses"])
    assert "/v1/children/{child_id}/what-if" in document["paths"]
    assert "/v1/models/flags" in document["paths"]
