"""Dependencies every router uses: who is calling, why, for which children, on which stores.

    @router.post("/v1/scores", dependencies=[Depends(require_roles(Role.VENDOR_SYSTEM))])
    def score(caller: CallerDep, purpose: PurposeDep, audit: AuditDep, engine: EngineDep): ...

The key is checked first (401) whatever order a route declares its dependencies in, because
the role and purpose checks depend on it. Declare the role before the purpose, so that a wrong
role is a 403 before a missing purpose is a 400.

Every dependency that does no I/O is `async`, so it runs on the event loop instead of costing
a hop to the thread pool; the key check goes to the thread pool only when the key is not in
the app's `KeyCache`. The key, role and purpose checks reach the audit context and the settings
through the request rather than as sub-dependencies: FastAPI walks every sub-dependency on
every request, cached or not, at some 15 µs a node. For the same reason the hot child routes
(scoring) declare `require_access(*roles)`, the three checks in one node with the same order,
audit notes and OpenAPI declarations.

Settings are the app's own (`app.state.settings`, set by `create_app`): a test that needs
other settings builds its app with them, or assigns `app.state.settings` before the first
request. Never `app.dependency_overrides` for settings in production code:
any override makes FastAPI rebuild every route's dependency tree on every request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Final

from fastapi import Depends, Header, Request, Security, status
from fastapi.security import APIKeyHeader
from sqlalchemy import Engine, false, update
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from service.audit import AuditContext, audit_context, audit_of
from service.errors import api_error
from service.scoring.engine import ScoringEngine
from service.security import Caller, KeyCache, Role, plausible_secret
from service.settings import ServiceSettings
from service.store.models import ApiKey

__all__ = [
    "Access",
    "AuditDep",
    "Caller",
    "CallerDep",
    "DatabaseDep",
    "EngineDep",
    "PurposeDep",
    "Role",
    "SessionDep",
    "SettingsDep",
    "app_settings",
    "get_database",
    "get_engine",
    "get_session",
    "require_access",
    "require_caller",
    "require_purpose",
    "require_roles",
]


async def app_settings(request: Request) -> ServiceSettings:
    """The settings the app was built with."""
    settings: ServiceSettings = request.app.state.settings
    return settings


SettingsDep = Annotated[ServiceSettings, Depends(app_settings)]
AuditDep = Annotated[AuditContext, Depends(audit_context)]

_api_key = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="A key from `mimamori keys create` (mmk_...).",
)


async def get_database(request: Request) -> Engine:
    """The app's SQLAlchemy engine (built in the lifespan)."""
    engine: Engine = request.app.state.database
    return engine


DatabaseDep = Annotated[Engine, Depends(get_database)]


_WRITING_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# A write that matches nothing: on SQLite it takes the database's write lock all the same.
_SQLITE_WRITE_LOCK: Final = update(ApiKey).where(false()).values(id=ApiKey.id)


def get_session(request: Request, database: DatabaseDep) -> Iterator[Session]:
    """A session for one request; the route commits, anything unfinished is rolled back.

    On SQLite, a request that may write takes the write lock before its first read. A route
    that reads, then writes (a review checks the run it reviews) would otherwise fail with
    "database is locked" whenever another connection commits in between, which the audit
    writer does all the time under load; taking the lock first makes it wait its turn instead.
    """
    with Session(database, expire_on_commit=False) as session:
        if request.method in _WRITING_METHODS and database.dialect.name == "sqlite":
            session.execute(_SQLITE_WRITE_LOCK)
        try:
            yield session
        except Exception:
            session.rollback()
            raise


SessionDep = Annotated[Session, Depends(get_session)]


async def get_engine(request: Request) -> ScoringEngine:
    """The scoring engine loaded in the lifespan."""
    engine: ScoringEngine = request.app.state.engine
    return engine


EngineDep = Annotated[ScoringEngine, Depends(get_engine)]


async def _authenticate(request: Request, secret: str | None) -> Caller:
    audit = audit_of(request)
    keys: KeyCache = request.app.state.keys
    caller = keys.cached(secret)
    if caller is None and plausible_secret(secret):
        caller = await run_in_threadpool(keys.authenticate, secret)
    if caller is None:
        audit.note("no key" if not secret else "unknown or revoked key")
        raise api_error(status.HTTP_401_UNAUTHORIZED, "missing or invalid API key", "X-API-Key")
    audit.key_id, audit.role = caller.key_id, caller.role.value
    return caller


async def require_caller(
    request: Request,
    secret: Annotated[str | None, Security(_api_key)] = None,
) -> Caller:
    """The caller behind X-API-Key; 401 when it is missing, unknown or revoked."""
    return await _authenticate(request, secret)


CallerDep = Annotated[Caller, Depends(require_caller)]


def _check_role(request: Request, caller: Caller, allowed: frozenset[Role]) -> None:
    if caller.role not in allowed:
        audit_of(request).note(f"role {caller.role.value} refused")
        raise api_error(
            status.HTTP_403_FORBIDDEN,
            f"the {caller.role.value} role may not use this route",
            "X-API-Key",
        )


def require_roles(*roles: Role) -> Callable[..., Any]:
    """A dependency admitting the given roles (and admin, who may do everything); else 403."""
    allowed = frozenset((*roles, Role.ADMIN))

    async def check_role(request: Request, caller: CallerDep) -> Caller:
        _check_role(request, caller, allowed)
        return caller

    # The route-by-route access test reads this to pick a role that must be refused.
    check_role.allowed_roles = allowed  # type: ignore[attr-defined]
    return check_role


_PurposeHeader = Annotated[
    str | None,
    Header(
        alias="X-Purpose",
        description="Why the caller looks at these children (利用目的), recorded in the "
        "audit log: child_welfare_screening, case_conference, model_monitoring or "
        "disclosure_request.",
        examples=["child_welfare_screening"],
    ),
]


def _check_purpose(request: Request, purpose: str | None) -> str:
    audit = audit_of(request)
    settings: ServiceSettings = request.app.state.settings
    if purpose is None or not purpose.strip():
        audit.note("no purpose")
        raise api_error(status.HTTP_400_BAD_REQUEST, "X-Purpose header is required", "X-Purpose")
    purpose = purpose.strip()
    if purpose not in settings.purposes:
        audit.note("unknown purpose")
        raise api_error(
            status.HTTP_400_BAD_REQUEST,
            f"unknown purpose; use one of {', '.join(settings.purposes)}",
            "X-Purpose",
        )
    audit.purpose = purpose
    return purpose


async def require_purpose(
    request: Request, _caller: CallerDep, purpose: _PurposeHeader = None
) -> str:
    """X-Purpose: one of the registered purposes; 400 naming the header otherwise.

    Optional at the schema level so that a missing header is our 400 with the field named,
    after the key check, rather than a 422 that would come before it.
    """
    return _check_purpose(request, purpose)


PurposeDep = Annotated[str, Depends(require_purpose)]


@dataclass(frozen=True, slots=True)
class Access:
    """Who calls a child-level route, why, and the request's audit context."""

    caller: Caller
    purpose: str
    audit: AuditContext


def require_access(*roles: Role) -> Callable[..., Any]:
    """`require_roles(*roles)` and `require_purpose` in one dependency, for the hot routes.

    The same checks in the same order (401 key, 403 role, 400 purpose) with the same audit
    notes and the same OpenAPI declarations (the X-API-Key scheme, the X-Purpose header), in
    two dependency nodes instead of six: FastAPI walks every node on every request.
    """
    allowed = frozenset((*roles, Role.ADMIN))

    async def check_access(
        request: Request,
        secret: Annotated[str | None, Security(_api_key)] = None,
        purpose: _PurposeHeader = None,
    ) -> Access:
        caller = await _authenticate(request, secret)
        _check_role(request, caller, allowed)
        return Access(caller, _check_purpose(request, purpose), audit_of(request))

    # Read by the route-by-route access test (a role to refuse) and by the audit middleware
    # (a route declaring a purpose is child-level).
    check_access.allowed_roles = allowed  # type: ignore[attr-defined]
    check_access.declares_purpose = True  # type: ignore[attr-defined]
    return check_access
