"""Route by route access control, generated from the app's routes so a new route cannot escape.

For every route: no key is refused (401), except the keyless health and documentation routes.
For every route that takes a child (a child_id in its path or child ids in its body) and every
route the audit middleware records: no key -> 401, an analyst -> 403 (analysts see aggregates
only), another municipality's child -> 404, a child in scope -> answered, no purpose -> 400, and
an audit entry is written for each of those attempts.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute

from service.app import create_app
from service.audit import is_child_route
from service.security import Role
from service.settings import ServiceSettings
from tests.service.test_app import World, audit_count, build_world, headers, last_entries

PUBLIC = {"/healthz", "/readyz", "/metrics", "/docs", "/openapi.json", "/v1/static/fonts/{name}"}
PURPOSE = {"/v1/admin/children/{child_id}/disclosure": "disclosure_request"}
_PARAM = re.compile(r"{(\w+)(?::\w+)?}")


def flatten(routes: list[BaseRoute]) -> Iterator[BaseRoute]:
    """Every route, including those of included routers (kept apart since FastAPI 0.160)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from flatten(inner.routes)
        else:
            yield route


# Built without its lifespan: enumerating routes loads nothing.
_APP = create_app(ServiceSettings())
ROUTES = sorted(
    (
        (method, route.path, route)
        for route in flatten(_APP.routes)
        for method in (getattr(route, "methods", None) or {"GET"})
        if method != "HEAD"
    ),
    key=lambda item: (item[1], item[0]),
)
OPENAPI = _APP.openapi()


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    resolved: dict[str, Any] = OPENAPI
    for part in ref.removeprefix("#/").split("/"):
        resolved = resolved[part]
    return resolved


def _names_child(schema: dict[str, Any], seen: frozenset[str] = frozenset()) -> bool:
    ref = schema.get("$ref")
    if ref in seen:
        return False
    seen = seen | {ref} if ref else seen
    schema = _resolve(schema)
    properties = schema.get("properties", {})
    if any(name in ("child_id", "child_ids") for name in properties):
        return True
    parts = [*properties.values(), *schema.get("anyOf", []), *schema.get("allOf", [])]
    if "items" in schema:
        parts.append(schema["items"])
    if isinstance(schema.get("additionalProperties"), dict):
        parts.append(schema["additionalProperties"])
    return any(_names_child(part, seen) for part in parts)


def _body_schema(method: str, path: str) -> dict[str, Any] | None:
    operation = OPENAPI["paths"].get(path, {}).get(method.lower(), {})
    content = operation.get("requestBody", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema")
    return _resolve(schema) if schema else None


def takes_child(method: str, route: BaseRoute) -> bool:
    if not isinstance(route, APIRoute):
        return False
    body = _body_schema(method, route.path)
    return "{child_id}" in route.path or (body is not None and _names_child(body))


def allowed_roles(route: APIRoute) -> frozenset[Role] | None:
    for dependant in route.dependant.dependencies:
        roles = getattr(dependant.call, "allowed_roles", None)
        if roles is not None:
            return frozenset(roles)
    return None


CHILD_ROUTES = [
    (method, path, route)
    for method, path, route in ROUTES
    if path.startswith("/v1") and (takes_child(method, route) or is_child_route(route))
]


def _ids(items: list[tuple[str, str, BaseRoute]]) -> list[str]:
    return [f"{method} {path}" for method, path, _ in items]


@pytest.fixture(scope="module")
def world(served_world, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:  # type: ignore[no-untyped-def]
    built = build_world(served_world, tmp_path_factory.mktemp("routes"))
    yield built
    built.database.dispose()


@pytest.fixture(scope="module")
def client(world: World) -> Iterator[TestClient]:
    from service.batch import run_batch

    with TestClient(create_app(world.settings)) as client:
        state = client.app.state  # type: ignore[attr-defined]
        # History and flagged lists read stored runs: one run at the latest month.
        run_batch(
            state.engine,
            world.database,
            state.engine.latest_month,
            resolver=state.thresholds,
            measure_drift=False,
        )
        yield client


def _path(world: World, path: str, child: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "child_id":
            return child
        if name == "municipality":
            return world.home
        if name == "hardship":
            return "abuse"
        if name == "run_id":
            return "1"
        if name == "name":
            # The one keyless file route: the reports' Japanese font.
            return "ipaexg.ttf"
        return "x"

    return _PARAM.sub(value, path)


def _with_child(example: Any, child: str) -> Any:
    if isinstance(example, dict):
        return {
            key: child
            if key == "child_id"
            else [child]
            if key == "child_ids"
            else _with_child(value, child)
            for key, value in example.items()
        }
    if isinstance(example, list):
        return [_with_child(item, child) for item in example]
    return example


def _body(method: str, path: str, child: str) -> Any:
    """The route's documented example, about `child`; the first example naming a child wins."""
    schema = _body_schema(method, path)
    if schema is None:
        return None
    examples = schema.get("examples") or []
    assert examples, f"{method} {path} takes a body but documents no example of it"
    naming = [e for e in examples if _names_child_in_example(e)]
    return _with_child(copy.deepcopy((naming or examples)[0]), child)


def _names_child_in_example(example: Any) -> bool:
    if isinstance(example, dict):
        return (
            "child_id" in example
            or "child_ids" in example
            or any(_names_child_in_example(v) for v in example.values())
        )
    if isinstance(example, list):
        return any(_names_child_in_example(v) for v in example)
    return False


def _call(
    client: TestClient,
    world: World,
    method: str,
    path: str,
    *,
    child: str,
    key: str | None,
    purpose: str | None = "",
) -> Any:
    if purpose == "":
        purpose = PURPOSE.get(path, "child_welfare_screening")
    return client.request(
        method,
        _path(world, path, child),
        json=_body(method, path, child),
        headers=headers(world, key, purpose),
    )


def _scoped_key(route: APIRoute) -> str:
    """A key of a role the route admits, scoped to the home municipality."""
    roles = allowed_roles(route) or frozenset(Role)
    for role, key in ((Role.VENDOR_SYSTEM, "vendor"), (Role.REVIEWER, "reviewer")):
        if role in roles:
            return key
    return "admin_home"


# -- every route -----------------------------------------------------------------------------


def test_the_route_inventory_is_what_the_openapi_document_shows() -> None:
    """No route hides from the schema (and so from the checks generated from it)."""
    documented = {
        (method.upper(), path)
        for path, operations in OPENAPI["paths"].items()
        for method in operations
    }
    served = {(method, path) for method, path, _ in ROUTES if path not in PUBLIC}
    assert served == documented - {(m, p) for m, p in documented if p in PUBLIC}
    assert CHILD_ROUTES, "the child-level routes were not found"


@pytest.mark.parametrize(("method", "path", "route"), ROUTES, ids=_ids(ROUTES))
def test_only_the_health_and_documentation_routes_answer_without_a_key(
    client: TestClient, world: World, method: str, path: str, route: BaseRoute
) -> None:
    response = client.request(method, _path(world, path, world.child))
    if path in PUBLIC:
        assert response.status_code == 200, response.text
    else:
        assert response.status_code == 401, f"{method} {path} answered {response.status_code}"
        assert response.json()["detail"]["field"] == "X-API-Key"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        (method, path)
        for path, operations in OPENAPI["paths"].items()
        for method in operations
        if path not in PUBLIC
    ],
)
def test_every_protected_operation_documents_the_key_and_its_response(
    method: str, path: str
) -> None:
    operation = OPENAPI["paths"][path][method]
    assert operation.get("security"), f"{method} {path} does not document X-API-Key"
    ok = next(code for code in operation["responses"] if code.startswith("2"))
    # Pages answer HTML, PDF or CSV: any documented media type with a schema will do.
    content = operation["responses"][ok].get("content", {})
    assert any(media.get("schema") for media in content.values()), (
        f"{method} {path} has no response model"
    )
    assert "401" in operation["responses"]


# -- child-level routes ----------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "route"), CHILD_ROUTES, ids=_ids(CHILD_ROUTES))
def test_child_routes_refuse_and_audit_a_missing_key(
    client: TestClient, world: World, method: str, path: str, route: APIRoute
) -> None:
    before = audit_count(world)
    response = _call(client, world, method, path, child=world.child, key=None)
    assert response.status_code == 401
    assert audit_count(world) == before + 1, "the attempt must be audited"
    (entry,) = last_entries(world)
    assert (entry.route, entry.method, entry.status_code) == (path, method, 401)
    assert entry.key_id is None and entry.outcome == "unauthenticated"


@pytest.mark.parametrize(("method", "path", "route"), CHILD_ROUTES, ids=_ids(CHILD_ROUTES))
def test_child_routes_refuse_and_audit_an_analyst(
    client: TestClient, world: World, method: str, path: str, route: APIRoute
) -> None:
    roles = allowed_roles(route)
    assert roles is not None, f"{method} {path} touches children but restricts no role"
    assert Role.ANALYST not in roles, "analysts see aggregates only"
    before = audit_count(world)
    response = _call(client, world, method, path, child=world.child, key="analyst")
    assert response.status_code == 403
    assert audit_count(world) == before + 1
    (entry,) = last_entries(world)
    assert (entry.status_code, entry.key_id, entry.role) == (
        403,
        world.key_ids["analyst"],
        "analyst",
    )


@pytest.mark.parametrize(("method", "path", "route"), CHILD_ROUTES, ids=_ids(CHILD_ROUTES))
def test_child_routes_answer_in_scope_and_404_out_of_scope_and_audit_both(
    client: TestClient, world: World, method: str, path: str, route: APIRoute
) -> None:
    key = _scoped_key(route)
    if not takes_child(method, route):
        # A list of children (no child asked for): scope is the municipality in the path.
        response = _call(client, world, method, path, child=world.child, key=key)
        assert response.status_code < 400, response.text
        return
    before = audit_count(world)
    answered = _call(client, world, method, path, child=world.child, key=key)
    assert answered.status_code < 400, f"control request failed: {answered.text[:500]}"
    entries = last_entries(world, audit_count(world) - before)
    assert any(
        e.child_id == world.child and e.municipality == world.home and e.status_code < 400
        for e in entries
    ), "an answered request must name the child and its municipality in the audit log"

    before = audit_count(world)
    refused = _call(client, world, method, path, child=world.stranger, key=key)
    assert refused.status_code == 404, refused.text
    assert world.stranger_municipality not in refused.text
    entries = last_entries(world, audit_count(world) - before)
    assert entries, "the out-of-scope attempt must be audited"
    assert all(e.status_code == 404 and e.key_id == world.key_ids[key] for e in entries)


@pytest.mark.parametrize(("method", "path", "route"), CHILD_ROUTES, ids=_ids(CHILD_ROUTES))
@pytest.mark.parametrize("purpose", [None, "curiosity"])
def test_child_routes_need_a_registered_purpose(
    client: TestClient,
    world: World,
    method: str,
    path: str,
    route: APIRoute,
    purpose: str | None,
) -> None:
    before = audit_count(world)
    response = _call(
        client, world, method, path, child=world.child, key=_scoped_key(route), purpose=purpose
    )
    assert response.status_code == 400
    assert response.json()["detail"]["field"] == "X-Purpose"
    assert audit_count(world) == before + 1
    (entry,) = last_entries(world)
    assert entry.status_code == 400 and entry.purpose is None


def test_the_purpose_is_recorded_with_each_answered_request(
    client: TestClient, world: World
) -> None:
    response = client.post(
        "/v1/scores",
        json={"children": [{"child_id": world.child}]},
        headers=headers(world, "reviewer", "case_conference"),
    )
    assert response.status_code == 200, response.text
    (entry,) = last_entries(world)
    assert (entry.purpose, entry.role, entry.child_id) == (
        "case_conference",
        "reviewer",
        world.child,
    )
