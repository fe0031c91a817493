"""/v1/policies: read, change (admin, versioned, validated naming the band), simulate.

The module works on its own copy of the served world's database and reads the shared feature
store and registry.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from features.store.database import make_engine
from service.app import create_app
from service.security import create_key
from service.settings import ServiceSettings
from service.store.migrate import upgrade
from service.store.models import ThresholdPolicyVersion
from service.thresholds import period_months, recall_cut

HOME, OTHER = "990001", "990002"
DEFAULT = {
    "high": {"capacity_share": 0.025},
    "moderate": {"capacity_share": 0.05},
    "watch": {"capacity_share": 0.1},
}


def rules(bands: dict) -> dict:  # type: ignore[type-arg]
    """Bands as sent: the API answers every rule field, null where unused."""
    return {
        band: {k: v for k, v in rule.items() if v is not None}
        for band, rule in bands.items()
        if rule is not None
    }


@dataclass(frozen=True)
class Api:
    client: TestClient
    keys: dict[str, str]
    database_url: str

    def headers(self, key: str | None) -> dict[str, str]:
        return {} if key is None else {"X-API-Key": self.keys[key]}

    def policy_rows(self) -> int:
        database = make_engine(self.database_url)
        try:
            with database.connect() as connection:
                count = connection.execute(
                    select(func.count()).select_from(ThresholdPolicyVersion)
                ).scalar_one()
        finally:
            database.dispose()
        return int(count)


@pytest.fixture(scope="module")
def api(served_world, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:  # type: ignore[no-untyped-def]
    target = tmp_path_factory.mktemp("policies") / "mimamori.db"
    origin, copy = sqlite3.connect(served_world.data_dir / "mimamori.db"), sqlite3.connect(target)
    try:
        origin.backup(copy)  # includes what is still in the write-ahead log
    finally:
        origin.close()
        copy.close()
    url = f"sqlite:///{target}"
    upgrade(url)
    database = make_engine(url)
    specs = {
        "admin": ("admin", None),
        "analyst": ("analyst", HOME),
        "reviewer": ("reviewer", HOME),
        "vendor": ("vendor_system", HOME),
        "analyst_other": ("analyst", OTHER),
    }
    keys = {
        name: create_key(
            database, name=name, role=role, municipality=place, created_by="tests"
        ).secret
        for name, (role, place) in specs.items()
    }
    database.dispose()
    settings = ServiceSettings(
        data_dir=served_world.data_dir,
        database_url=url,
        mlflow_tracking_uri=served_world.tracking_uri,
        reload_interval_seconds=3600,
    )
    with TestClient(create_app(settings)) as client:
        yield Api(client, keys, url)


def test_the_default_policy_and_its_cuts(api: Api) -> None:
    response = api.client.get(f"/v1/policies/truancy/{HOME}", headers=api.headers("analyst"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["current"]["version"] is None
    assert rules(body["current"]["bands"]) == DEFAULT
    assert body["history"] == []
    assert body["month"] == api.client.app.state.engine.latest_month  # type: ignore[attr-defined]
    cuts = {c["band"]: c["cut"] for c in body["cuts"]}
    assert list(cuts) == ["high", "moderate", "watch"]
    assert cuts["high"] >= cuts["moderate"] >= cuts["watch"] > 0.0


@pytest.mark.parametrize(
    ("key", "path", "status", "field"),
    [
        (None, f"/v1/policies/abuse/{HOME}", 401, "X-API-Key"),
        ("vendor", f"/v1/policies/abuse/{HOME}", 403, "X-API-Key"),
        ("analyst", f"/v1/policies/abuse/{OTHER}", 404, "municipality"),
        ("admin", "/v1/policies/abuse/999999", 404, "municipality"),
        ("analyst", f"/v1/policies/bullying/{HOME}", 404, "hardship"),
    ],
)
def test_reading_refusals(api: Api, key: str | None, path: str, status: int, field: str) -> None:
    response = api.client.get(path, headers=api.headers(key))
    assert response.status_code == status, response.text
    assert response.json()["detail"]["field"] == field


def test_changes_are_versioned_with_who_and_why(api: Api) -> None:
    path = f"/v1/policies/poverty/{HOME}"
    first = {"bands": {"high": {"capacity_count": 12}}, "reason": "要対協 reviews 12 a month"}
    refused = api.client.put(path, json=first, headers=api.headers("analyst"))
    assert refused.status_code == 403

    response = api.client.put(path, json=first, headers=api.headers("admin"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["current"]["version"] == 1
    assert body["current"]["created_by"] == "admin"
    assert body["current"]["reason"] == "要対協 reviews 12 a month"
    assert [c["band"] for c in body["cuts"]] == ["high"]

    second = {
        "bands": {"high": {"probability": 0.3}, "watch": {"capacity_share": 0.2}},
        "reason": "a fixed cut",
    }
    response = api.client.put(path, json=second, headers=api.headers("admin"))
    assert response.status_code == 200, response.text
    read = api.client.get(path, headers=api.headers("reviewer")).json()
    assert read["current"]["version"] == 2
    assert rules(read["current"]["bands"]) == second["bands"]
    assert [v["version"] for v in read["history"]] == [2, 1]
    assert rules(read["history"][1]["bands"]) == first["bands"]  # the old version is kept as it was
    # Other hardships and municipalities keep the default.
    other = api.client.get(f"/v1/policies/poverty/{OTHER}", headers=api.headers("admin")).json()
    assert other["current"]["version"] is None


def test_a_new_policy_changes_bands_at_once(api: Api) -> None:
    engine = api.client.app.state.engine  # type: ignore[attr-defined]
    population = engine.population(engine.latest_month, HOME, "abuse")
    child = str(population.child_ids[int(np.argmax(population.probabilities))])
    top = float(population.probabilities.max())
    body = {"bands": {"high": {"probability": min(top + 0.01, 0.99)}}, "reason": "raise the bar"}
    assert (
        api.client.put(f"/v1/policies/abuse/{HOME}", json=body, headers=api.headers("admin"))
    ).status_code == 200
    row = engine.feature_row(child)
    assert engine.score([row], ["abuse"])[0].scores["abuse"].band is None
    body = {"bands": {"high": {"probability": top}}, "reason": "lower it again"}
    api.client.put(f"/v1/policies/abuse/{HOME}", json=body, headers=api.headers("admin"))
    assert engine.score([row], ["abuse"])[0].scores["abuse"].band == "high"


def test_overlapping_bands_are_refused_naming_the_band(api: Api) -> None:
    path = f"/v1/policies/young_carer/{HOME}"
    before = api.policy_rows()
    same_kind = {
        "bands": {"high": {"capacity_share": 0.05}, "moderate": {"capacity_share": 0.02}},
        "reason": "overlap",
    }
    response = api.client.put(path, json=same_kind, headers=api.headers("admin"))
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [["body", "bands", "moderate"]]

    # Kinds that can only be compared on scores: a fixed cut far above the cut that flags the
    # top tenth (a tiny model's tied scores can leave a count of 2 with no cut at all).
    crossing = {
        "bands": {"high": {"capacity_share": 0.1}, "moderate": {"probability": 0.99}},
        "reason": "crossing",
    }
    response = api.client.put(
        f"/v1/policies/poverty/{HOME}", json=crossing, headers=api.headers("admin")
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"]["field"] == "bands.moderate"

    no_reason = {"bands": DEFAULT}
    response = api.client.put(path, json=no_reason, headers=api.headers("admin"))
    assert response.status_code == 422
    assert ["body", "reason"] in [e["loc"] for e in response.json()["detail"]]

    two_rules = {"bands": {"high": {"capacity_share": 0.1, "probability": 0.2}}, "reason": "x y"}
    response = api.client.put(path, json=two_rules, headers=api.headers("admin"))
    assert response.status_code == 422
    assert api.policy_rows() == before


def test_simulation_counts_children_and_measures_the_test_period(api: Api) -> None:
    before = api.policy_rows()
    engine = api.client.app.state.engine  # type: ignore[attr-defined]
    proposal = {"bands": DEFAULT}
    response = api.client.post(
        f"/v1/policies/truancy/{HOME}/simulate", json=proposal, headers=api.headers("reviewer")
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert api.policy_rows() == before  # nothing stored
    population = engine.population(body["month"], HOME, "truancy")
    eligible = int((~population.already_supported).sum())
    bands = {b["band"]: b for b in body["bands"]}
    assert list(bands) == ["high", "moderate", "watch"]
    assert 0 < bands["high"]["children"] <= int(np.floor(eligible * 0.025 + 0.5))
    in_any = sum(b["children"] for b in bands.values())
    assert in_any <= int(np.floor(eligible * 0.10 + 0.5))
    supported_above = int((population.probabilities[population.already_supported] >= 0).sum())
    assert sum(b["already_supported"] for b in bands.values()) <= supported_above
    recalls = [b["test_period"]["cumulative_recall"] for b in bands.values()]
    assert body["test_onsets"] > 0
    assert all(r is not None and 0.0 <= r <= 1.0 for r in recalls)
    assert recalls == sorted(recalls)  # a looser band never finds fewer
    assert sum(b["test_period"]["onsets"] for b in bands.values()) == round(
        recalls[-1] * body["test_onsets"]
    )
    assert (
        body["test_period"]
        == (engine.champions.snapshot.get("truancy").bundle.metadata["periods"]["test"])
    )


def test_a_target_recall_cut_is_placed_on_the_validation_period(api: Api, served_world) -> None:  # type: ignore[no-untyped-def]
    engine = api.client.app.state.engine  # type: ignore[attr-defined]
    bundle = engine.champions.snapshot.get("poverty").bundle
    months = list(period_months(bundle.metadata["periods"]["validation"]))
    # Independently of the service: the feature store's rows, the bundle, the labels.
    features = pd.read_parquet(
        served_world.features_dir / "features.parquet",
        filters=[("as_of_month", "in", months)],
    )
    labels = pd.read_parquet(
        served_world.features_dir / "labels.parquet",
        columns=["person_id", "as_of_month", "label_poverty", "already_supported_poverty"],
        filters=[("as_of_month", "in", months)],
    )
    frame = features.merge(labels, on=["person_id", "as_of_month"])
    p = bundle.score(frame)
    positive = (
        frame["label_poverty"].fillna(False).astype(bool)
        & ~frame["already_supported_poverty"].astype(bool)
    ).to_numpy()
    expected = recall_cut(p[positive], 0.5)

    proposal = {"bands": {"high": {"target_recall": 0.5}}}
    response = api.client.post(
        f"/v1/policies/poverty/{HOME}/simulate", json=proposal, headers=api.headers("analyst")
    )
    assert response.status_code == 200, response.text
    assert response.json()["bands"][0]["cut"] == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(
    ("key", "municipality", "body", "status", "field"),
    [
        ("vendor", HOME, {"bands": DEFAULT}, 403, "X-API-Key"),
        ("analyst_other", HOME, {"bands": DEFAULT}, 404, "municipality"),
        ("analyst", HOME, {"bands": DEFAULT, "month": "2031-01"}, 422, "month"),
    ],
)
def test_simulation_refusals(
    api: Api, key: str, municipality: str, body: dict, status: int, field: str
) -> None:  # type: ignore[type-arg]
    response = api.client.post(
        f"/v1/policies/abuse/{municipality}/simulate", json=body, headers=api.headers(key)
    )
    assert response.status_code == status, response.text
    assert response.json()["detail"]["field"] == field


def test_the_openapi_document_shows_examples(api: Api) -> None:
    document = api.client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    for name in ("PolicyReport", "PolicyChange", "SimulationRequest", "SimulationReport"):
        assert schemas[name].get("examples"), name
    put = document["paths"]["/v1/policies/{hardship}/{municipality}"]["put"]
    assert put["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "PolicyReport"
    )
