"""Threshold policies per hardship and municipality: read, change (admin), simulate.

Aggregates only, so no X-Purpose and no audit entries: no child is named in these answers.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, status
from fastapi import Path as PathParam
from sqlalchemy.exc import IntegrityError

from models.hardships import load_hardship_registry
from service.deps import Caller, EngineDep, Role, SessionDep, require_roles
from service.errors import ERROR_RESPONSES, api_error
from service.schemas.common import ErrorBody
from service.schemas.policies import (
    BandCutOut,
    BandSimulationOut,
    PeriodOutcome,
    PolicyChange,
    PolicyReport,
    PolicyVersionOut,
    SimulationReport,
    SimulationRequest,
)
from service.scoring.engine import NotReadyError, ScoringEngine
from service.thresholds import (
    EMPTY,
    BandCuts,
    BandOutcome,
    PolicyOrderError,
    StoredPolicy,
    ThresholdError,
    ThresholdResolver,
    current_policy,
    policy_history,
    save_policy,
)

__all__ = ["check_hardship", "check_municipality", "get_resolver", "router"]

router = APIRouter(prefix="/v1/policies", tags=["policies"], responses=ERROR_RESPONSES)

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "Unknown hardship or municipality."}
}
HardshipPath = Annotated[str, PathParam(description="abuse, poverty, truancy, ...")]
MunicipalityPath = Annotated[
    str, PathParam(description="6-digit 地方公共団体コード", examples=["990001"])
]


def get_resolver(request: Request) -> ThresholdResolver:
    """The app's resolver (built with the engine in the lifespan)."""
    resolver: ThresholdResolver = request.app.state.thresholds
    return resolver


ResolverDep = Annotated[ThresholdResolver, Depends(get_resolver)]
ReadDep = Annotated[Caller, Depends(require_roles(Role.ANALYST, Role.REVIEWER))]
SimulateDep = Annotated[Caller, Depends(require_roles(Role.ANALYST, Role.REVIEWER))]
AdminDep = Annotated[Caller, Depends(require_roles(Role.ADMIN))]


def check_hardship(hardship: str, field: str = "hardship", code: int = 404) -> str:
    registry = load_hardship_registry()
    if hardship not in registry.ids:
        raise api_error(code, f"unknown hardship; use one of {', '.join(registry.ids)}", field)
    return hardship


def check_municipality(caller: Caller, municipality: str, engine: ScoringEngine) -> str:
    """404 for a municipality outside the caller's scope, exactly as for one that is unknown."""
    known = engine.municipalities()
    if not caller.sees(municipality) or (known and municipality not in known):
        raise api_error(status.HTTP_404_NOT_FOUND, "unknown municipality", "municipality")
    return municipality


def _version(stored: StoredPolicy) -> PolicyVersionOut:
    return PolicyVersionOut(
        version=stored.version,
        bands=stored.policy,
        created_at=stored.created_at,
        created_by=stored.created_by,
        reason=stored.reason,
    )


def _cut(value: float) -> float | None:
    return None if value == EMPTY else value


def _cuts(cuts: BandCuts | None) -> list[BandCutOut]:
    if cuts is None:
        return []
    return [
        BandCutOut(
            band=band,
            rule=cuts.rules.get(band, ""),
            cut=_cut(value),
            clamped=band in cuts.clamped,
        )
        for band, value in cuts.cuts.items()
    ]


def _report(
    session: SessionDep,
    resolver: ThresholdResolver,
    hardship: str,
    municipality: str,
    stored: StoredPolicy,
) -> PolicyReport:
    cuts: BandCuts | None = None
    if resolver.engine.model_version(hardship) is not None:
        try:
            cuts = resolver.cuts(hardship, municipality, policy=stored)
        except (ThresholdError, NotReadyError):
            # The policy stands; its cuts just cannot be shown while the model or data is away.
            cuts = None
    return PolicyReport(
        hardship=hardship,
        municipality=municipality,
        current=_version(stored),
        month=cuts.month if cuts is not None else None,
        model_version=cuts.model_version if cuts is not None else None,
        cuts=_cuts(cuts),
        history=[_version(v) for v in policy_history(session, hardship, municipality)],
    )


@router.get(
    "/{hardship}/{municipality}",
    response_model=PolicyReport,
    responses=_NOT_FOUND,
    summary="The band policy in force, its cuts this month, and its history",
)
def get_policy(
    hardship: HardshipPath,
    municipality: MunicipalityPath,
    caller: ReadDep,
    session: SessionDep,
    engine: EngineDep,
    resolver: ResolverDep,
) -> PolicyReport:
    """The latest stored version (or the default: high 2.5 %, moderate 5 %, watch 10 % of the
    municipality's not-yet-supported children), resolved to probability cuts on the latest
    month, with every stored version newest first."""
    check_hardship(hardship)
    check_municipality(caller, municipality, engine)
    stored = current_policy(session, hardship, municipality)
    return _report(session, resolver, hardship, municipality, stored)


@router.put(
    "/{hardship}/{municipality}",
    response_model=PolicyReport,
    responses={
        **_NOT_FOUND,
        409: {"model": ErrorBody, "description": "Another change was saved at the same time."},
    },
    summary="Store a new version of the band policy (admin)",
)
def put_policy(
    hardship: HardshipPath,
    municipality: MunicipalityPath,
    change: PolicyChange,
    caller: AdminDep,
    session: SessionDep,
    engine: EngineDep,
    resolver: ResolverDep,
) -> PolicyReport:
    """Adds a version (never edits one) with the caller's key name and the reason.

    Bands must be ordered, high strictest, and must not overlap: rules of the same kind are
    compared directly; rules of different kinds are resolved on the latest month, and a band
    whose cut would lie above a stricter band's is refused with 422 naming it.
    """
    check_hardship(hardship)
    check_municipality(caller, municipality, engine)
    try:
        resolver.check(hardship, municipality, change.bands)
    except PolicyOrderError as error:
        raise api_error(
            status.HTTP_422_UNPROCESSABLE_CONTENT, str(error), f"bands.{error.band}"
        ) from None
    except ThresholdError as error:
        raise api_error(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error), "bands") from None
    try:
        stored = save_policy(
            session, hardship, municipality, change.bands, who=caller.name, why=change.reason
        )
        session.commit()
    except IntegrityError:
        session.rollback()
        raise api_error(
            status.HTTP_409_CONFLICT,
            "another policy change was saved at the same time; read the policy and retry",
            "bands",
        ) from None
    except ThresholdError as error:
        raise api_error(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error), "reason") from None
    resolver.invalidate(hardship, municipality)
    return _report(session, resolver, hardship, municipality, stored)


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _outcome(outcome: BandOutcome, onsets: int) -> PeriodOutcome:
    return PeriodOutcome(
        children=outcome.children,
        onsets=outcome.onsets,
        recall=_rate(outcome.onsets, onsets),
        precision=_rate(outcome.onsets, outcome.labelled),
        cumulative_recall=_rate(outcome.cumulative_onsets, onsets),
        cumulative_precision=_rate(outcome.cumulative_onsets, outcome.cumulative_labelled),
    )


@router.post(
    "/{hardship}/{municipality}/simulate",
    response_model=SimulationReport,
    responses={
        **_NOT_FOUND,
        503: {"model": ErrorBody, "description": "The hardship's model is not loaded."},
    },
    summary="What a proposed policy would flag, and what it would have found (not stored)",
)
def simulate_policy(
    hardship: HardshipPath,
    municipality: MunicipalityPath,
    proposal: SimulationRequest,
    caller: SimulateDep,
    engine: EngineDep,
    resolver: ResolverDep,
) -> SimulationReport:
    """Per band: the children it would hold at the month (already-supported children counted
    apart), and recall and precision on the model's test period for this municipality, with
    the policy resolved month by month as the service would have. Nothing is stored.

    The first simulation after a model changes scores its test period (seconds on a large
    population); later ones reuse it.
    """
    check_hardship(hardship)
    check_municipality(caller, municipality, engine)
    if proposal.month is not None and proposal.month not in engine.months():
        raise api_error(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "no feature rows at that month", "month"
        )
    try:
        result = resolver.simulate(proposal.bands, hardship, municipality, proposal.month)
    except NotReadyError as error:
        raise api_error(
            status.HTTP_503_SERVICE_UNAVAILABLE, f"model not ready: {error}", "hardship"
        ) from None
    except ThresholdError as error:
        raise api_error(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error), "bands") from None
    return SimulationReport(
        hardship=result.hardship,
        municipality=result.municipality,
        month=result.month,
        model_version=result.model_version,
        test_period=result.test_period,
        test_onsets=result.test_onsets,
        bands=[
            BandSimulationOut(
                band=band.band,
                rule=band.rule,
                cut=_cut(band.cut),
                clamped=band.clamped,
                children=band.children,
                already_supported=band.already_supported,
                test_period=_outcome(band.test, result.test_onsets),
            )
            for band in result.bands
        ],
    )
