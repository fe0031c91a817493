"""require_access (key, role and purpose in one dependency) against the three it stands for.

Two child routes on one app, one declaring require_roles and PurposeDep, one require_access:
every refusal and the answer must look the same to the caller, in the audit log and in the
OpenAPI document.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from features.store.database import make_engine
from service.app import create_app
from service.audit import is_child_route
from service.deps import Access, AuditDep, Caller, PurposeDep, require_access, require_roles
from service.security import Role, create_key
from service.settings import ServiceSettings
from service.store.migrate import upgrade
from service.store.models import AuditEntry

HOME = "990001"
router = APIRouter()


@router.get("/t/{child_id}/separate")
async def separate(
    child_id: str,
    caller: Annotated[Caller, Depends(require_roles(Role.VENDOR_SYSTEM, Role.REVIEWER))],
    purpose: PurposeDep,
    audit: AuditDep,
) -> dict[str, Any]:
    audit.child(child_id, HOME)
    return {"key": caller.key_id, "purpose": purpose}


@router.get("/t/{child_id}/combined")
async def combined(
    child_id: str,
    access: Annotated[Access, Depends(require_access(Role.VENDOR_SYSTEM, Role.REVIEWER))],
) -> dict[str, Any]:
    access.audit.child(child_id, HOME)
    return {"key": access.caller.key_id, "purpose": access.purpose}


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Engine, dict]]:  # type: ignore[type-arg]
    folder: Path = tmp_path_factory.mktemp("deps")
    url = f"sqlite:///{folder / 'service.db'}"
    upgrade(url)
    database = make_engine(url)
    app = create_app(ServiceSettings(data_dir=folder, database_url=url))
    app.include_router(router)
    # No lifespan: these routes need the key store and the audit log, not the models.
    app.state.database = database
    keys = {
        role: create_key(
            database,
            name=role,
            role=role,
            municipality=None if role == "admin" else HOME,
            created_by="tests",
        ).secret
        for role in ("vendor_system", "analyst", "admin")
    }
    yield TestClient(app), database, keys
    app.state.audit_writer.stop()
    database.dispose()


def _last_entry(database: Engine) -> dict[str, Any]:
    with database.connect() as connection:
        row = connection.execute(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1))
        entry = dict(row.one()._mapping)
    return {
        name: entry[name]
        for name in ("status_code", "outcome", "key_id", "role", "purpose", "child_id", "detail")
    }


CASES = {
    "no key": (None, "case_conference"),
    "unknown key": ("mmk_" + "x" * 43, "case_conference"),
    "refused role": ("analyst", "case_conference"),
    "refused role and no purpose": ("analyst", None),
    "no key and no purpose": (None, None),
    "no purpose": ("vendor_system", None),
    "blank purpose": ("vendor_system", "  "),
    "unknown purpose": ("vendor_system", "curiosity"),
    "answered": ("vendor_system", " case_conference "),
    "admin": ("admin", "model_monitoring"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_combined_check_answers_and_audits_as_the_separate_checks(
    setup: tuple[TestClient, Engine, dict],  # type: ignore[type-arg]
    case: str,
) -> None:
    client, database, keys = setup
    key, purpose = CASES[case]
    headers = {}
    if key is not None:
        headers["X-API-Key"] = keys.get(key, key)
    if purpose is not None:
        headers["X-Purpose"] = purpose
    seen = []
    for variant in ("separate", "combined"):
        response = client.get(f"/t/child-1/{variant}", headers=headers)
        seen.append((response.status_code, response.json(), _last_entry(database)))
    assert seen[0] == seen[1]
    expected = {
        "no key": 401,
        "unknown key": 401,
        "refused role": 403,
        "refused role and no purpose": 403,
        "no key and no purpose": 401,
        "answered": 200,
        "admin": 200,
    }.get(case, 400)
    assert seen[0][0] == expected


def test_the_combined_check_is_documented_and_recognised_as_the_separate_checks(
    setup: tuple[TestClient, Engine, dict],  # type: ignore[type-arg]
) -> None:
    client, _, _ = setup
    paths = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    separate, combined = (paths[f"/t/{{child_id}}/{v}"]["get"] for v in ("separate", "combined"))
    for part in ("parameters", "security"):
        assert separate[part] == combined[part]
    assert {"X-Purpose", "child_id"} == {p["name"] for p in combined["parameters"]}


def test_a_route_with_the_combined_check_is_audited_without_a_child_in_its_path() -> None:
    bare = APIRouter()

    @bare.post("/t/children")
    async def children(
        access: Annotated[Access, Depends(require_access(Role.VENDOR_SYSTEM))],
    ) -> None: ...

    @bare.post("/t/aggregate")
    async def aggregate(
        caller: Annotated[Caller, Depends(require_roles(Role.VENDOR_SYSTEM))],
    ) -> None: ...

    audited = {route.path: is_child_route(route) for route in bare.routes}
    assert audited == {"/t/children": True, "/t/aggregate": False}
