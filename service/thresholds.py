"""Threshold policies: which children a municipality's staff see in each band, and why there.

    resolver = ThresholdResolver(engine, session_factory)
    resolver.cuts("abuse", "990001", "2026-03")        # BandCuts: a probability cut per band
    resolver.band_for("abuse", "990001", 0.04)         # 'high', 'moderate', 'watch' or None

A policy holds three bands, strictest first: high, moderate, watch. Each band is defined by
exactly one of

- `capacity_share`: the top share of the municipality's not-yet-supported children that month
  (the FY2025 funnel reviewed 2,475 of 98,116 children, 2.5 %);
- `capacity_count`: the top N of those children;
- `target_recall`: the probability cut at which recall on the model's validation period
  reaches the target;
- `probability`: a fixed probability cut.

Bands are cumulative cuts: a child belongs to the strictest band whose cut its probability
reaches, so moderate holds the children between the moderate and the high cut. Capacity is
counted only among children not already supported (顕在層): they are known to staff already,
so the review capacity goes to children not yet reached, and they are reported apart.

Policies are versioned: every change is a new `ThresholdPolicyVersion` row with who, why and
when, and the latest version is the one in force. A municipality with no stored policy uses
`DEFAULT_POLICY`.

Target recall is computed from the feature store rows of the bundle's validation period
(bundle.metadata['periods']['validation']), scored by the serving model through the engine and
joined with labels.parquet, pooled over municipalities: a small municipality has too few
onsets in a year to place a cut of its own, and the model is one model for all of them. Only
labelled, not-yet-supported rows count, as in training's evaluation. Bundle metadata alone
holds only the cut at the training capacity, which cannot answer other targets.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, Self

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from features.store.database import lock_for_write
from models.hardships import label_column
from service.store.models import ThresholdPolicyVersion

if TYPE_CHECKING:
    from service.scoring.engine import ScoringEngine

__all__ = [
    "BANDS",
    "DEFAULT_POLICY",
    "EMPTY",
    "BandCuts",
    "BandName",
    "BandOutcome",
    "BandRule",
    "BandSimulation",
    "EvaluationSet",
    "PeriodKind",
    "PolicyOrderError",
    "PolicySimulation",
    "RuleKind",
    "StoredPolicy",
    "ThresholdError",
    "ThresholdPolicy",
    "ThresholdResolver",
    "band_of",
    "capacity_cut",
    "current_policy",
    "evaluate_policy",
    "period_months",
    "policy_history",
    "recall_cut",
    "resolve_cuts",
    "save_policy",
    "share_quota",
]

BandName = Literal["high", "moderate", "watch"]
RuleKind = Literal["capacity_share", "capacity_count", "target_recall", "probability"]
BANDS: Final[tuple[BandName, ...]] = ("high", "moderate", "watch")
RULE_KINDS: Final[tuple[RuleKind, ...]] = (
    "capacity_share",
    "capacity_count",
    "target_recall",
    "probability",
)
# A cut no probability reaches: the band is empty (no capacity, or nothing to place it by).
EMPTY: Final = math.inf


class ThresholdError(ValueError):
    """A policy cannot be resolved (no model, no such month, no onsets to place a recall)."""


class PolicyOrderError(ThresholdError):
    """Resolved cuts put a band above a stricter one; `band` names the offending band."""

    def __init__(self, band: BandName, message: str) -> None:
        self.band = band
        super().__init__(message)


# -- the policy ----------------------------------------------------------------------------------


class BandRule(BaseModel):
    """One band's cut, defined by exactly one of the four fields."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra={"examples": [{"capacity_share": 0.025}, {"probability": 0.08}]},
    )

    capacity_share: float | None = Field(
        default=None,
        gt=0.0,
        le=1.0,
        description="Top share of the municipality's not-yet-supported children each month.",
    )
    capacity_count: int | None = Field(
        default=None, ge=1, description="Top N of the municipality's not-yet-supported children."
    )
    target_recall: float | None = Field(
        default=None,
        gt=0.0,
        le=1.0,
        description="Cut at which recall on the model's validation period reaches this.",
    )
    probability: float | None = Field(
        default=None, gt=0.0, lt=1.0, description="A fixed probability cut."
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        given = [k for k in RULE_KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"a band is defined by exactly one of {', '.join(RULE_KINDS)}; got "
                f"{', '.join(given) or 'none'}"
            )
        return self

    @property
    def kind(self) -> RuleKind:
        for kind in RULE_KINDS:
            if getattr(self, kind) is not None:
                return kind
        raise AssertionError("validated to have one rule")  # pragma: no cover

    @property
    def value(self) -> float:
        return float(getattr(self, self.kind))

    def describe(self) -> str:
        return f"{self.kind} {self.value:g}"

    def stricter_than(self, other: BandRule) -> bool | None:
        """Whether this rule admits fewer children than `other`; None across kinds (unknowable
        until resolved on a month's scores)."""
        if self.kind != other.kind:
            return None
        if self.kind == "probability":
            return self.value > other.value
        # Smaller capacity or a lower recall target both mean a higher cut.
        return self.value < other.value


def _check_order(band: BandName, rule: BandRule | None, info: ValidationInfo) -> BandRule | None:
    if rule is None:
        return None
    for stricter in reversed(BANDS[: BANDS.index(band)]):
        above = info.data.get(stricter)
        if above is None:
            continue
        if above.stricter_than(rule) is False:
            raise ValueError(
                f"band {band} ({rule.describe()}) overlaps band {stricter} "
                f"({above.describe()}): {band} must admit more children than {stricter}"
            )
        break
    return rule


class ThresholdPolicy(BaseModel):
    """The bands of one hardship in one municipality, strictest first; moderate and watch may
    be left out (no such band)."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "high": {"capacity_share": 0.025},
                    "moderate": {"capacity_share": 0.05},
                    "watch": {"capacity_share": 0.10},
                }
            ]
        },
    )

    high: BandRule
    moderate: BandRule | None = None
    watch: BandRule | None = None

    # Field validators (not a model validator) so a 422 locates the offending band.
    @field_validator("moderate")
    @classmethod
    def _moderate_below_high(cls, rule: BandRule | None, info: ValidationInfo) -> BandRule | None:
        return _check_order("moderate", rule, info)

    @field_validator("watch")
    @classmethod
    def _watch_below_moderate(cls, rule: BandRule | None, info: ValidationInfo) -> BandRule | None:
        return _check_order("watch", rule, info)

    def rules(self) -> Iterator[tuple[BandName, BandRule]]:
        for band in BANDS:
            rule = getattr(self, band)
            if rule is not None:
                yield band, rule

    def needs_recall(self) -> bool:
        return any(rule.kind == "target_recall" for _, rule in self.rules())

    def document(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


# The FY2025 demonstration's funnel: 2,475 of 98,116 children flagged for review (2.5 %).
DEFAULT_POLICY: Final = ThresholdPolicy(
    high=BandRule(capacity_share=0.025),
    moderate=BandRule(capacity_share=0.05),
    watch=BandRule(capacity_share=0.10),
)


# -- resolving a policy on a month's scores ------------------------------------------------------


def capacity_cut(probabilities: np.ndarray, eligible: np.ndarray, quota: int) -> float:
    """The lowest cut at which at most `quota` eligible children reach it (EMPTY: nobody).

    Capacity is a limit staff cannot exceed, so children tied at the boundary are left out
    together rather than admitted together: a model that gives most children one value (the
    postpartum model outside the first year of life) would otherwise put all of them in.
    """
    candidates = np.asarray(probabilities, dtype=np.float64)[np.asarray(eligible, dtype=bool)]
    candidates = candidates[~np.isnan(candidates)]
    quota = min(int(quota), len(candidates))
    if quota <= 0:
        return EMPTY
    # The quota-th largest without a full sort.
    cut = float(np.partition(candidates, len(candidates) - quota)[len(candidates) - quota])
    if int((candidates >= cut).sum()) <= quota:
        return cut
    above = candidates[candidates > cut]
    return float(above.min()) if len(above) else EMPTY


def share_quota(share: float, eligible: int) -> int:
    # Round half up like training's flag_at_capacity, so the service flags what was evaluated.
    return math.floor(eligible * share + 0.5)


def recall_cut(positive_probabilities: np.ndarray, target: float) -> float:
    """The highest cut at which `p >= cut` finds at least `target` of the positives."""
    positives = np.sort(np.asarray(positive_probabilities, dtype=np.float64))[::-1]
    if len(positives) == 0:
        raise ThresholdError("the validation period has no onsets to place a recall target on")
    # A tiny tolerance so 0.5 of 10 positives asks for 5, not 6 after float rounding.
    needed = max(1, math.ceil(target * len(positives) - 1e-9))
    return float(positives[min(needed, len(positives)) - 1])


@dataclass(frozen=True)
class BandCuts:
    """Probability cuts of a policy resolved for one hardship, municipality and month."""

    hardship: str
    municipality: str
    month: str
    model_version: str | None
    policy_version: int | None  # None: the default policy
    cuts: Mapping[BandName, float]  # only the bands the policy defines; EMPTY = nobody
    rules: Mapping[BandName, str] = field(default_factory=dict)
    # Bands whose cut was raised to the stricter band's cut (mixed rule kinds that crossed).
    clamped: tuple[BandName, ...] = ()

    def band(self, probability: float) -> BandName | None:
        return band_of(self.cuts, probability)

    def bands(self, probabilities: np.ndarray) -> np.ndarray:
        """Vectorised `band`: an object array of band names or None."""
        result = np.full(len(probabilities), None, dtype=object)
        # Least strict first, so stricter bands overwrite.
        for name in reversed(BANDS):
            cut = self.cuts.get(name)
            if cut is not None and cut != EMPTY:
                result[np.asarray(probabilities) >= cut] = name
        return result


def band_of(cuts: Mapping[BandName, float], probability: float) -> BandName | None:
    for name in BANDS:
        cut = cuts.get(name)
        if cut is not None and probability >= cut:
            return name
    return None


def resolve_cuts(
    policy: ThresholdPolicy,
    probabilities: np.ndarray,
    already_supported: np.ndarray,
    recall_cut_for: Callable[[float], float] | None = None,
    *,
    strict: bool = False,
) -> tuple[dict[BandName, float], tuple[BandName, ...]]:
    """A cut per band of `policy` on one municipality's scores of one month.

    Capacity bands count only children not already supported. When rules of different kinds
    cross (a fixed probability above the high band's capacity cut, say), `strict` raises
    PolicyOrderError naming the band; otherwise the band's cut is raised to the stricter one's,
    leaving it empty, and the band is listed as clamped.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    eligible = ~np.asarray(already_supported, dtype=bool)
    n_eligible = int(eligible.sum())
    cuts: dict[BandName, float] = {}
    clamped: list[BandName] = []
    previous: tuple[BandName, float] | None = None
    for band, rule in policy.rules():
        if rule.kind == "capacity_share":
            cut = capacity_cut(probabilities, eligible, share_quota(rule.value, n_eligible))
        elif rule.kind == "capacity_count":
            cut = capacity_cut(probabilities, eligible, int(rule.value))
        elif rule.kind == "target_recall":
            if recall_cut_for is None:
                raise ThresholdError(f"band {band}: no validation scores to place a recall on")
            cut = recall_cut_for(rule.value)
        else:
            cut = rule.value
        # An empty band (no capacity this month) cannot overlap anything.
        if previous is not None and cut != EMPTY and cut > previous[1]:
            stricter, stricter_cut = previous
            if strict:
                raise PolicyOrderError(
                    band,
                    f"band {band} ({rule.describe()}, cut {cut:.4f}) overlaps band {stricter} "
                    f"(cut {stricter_cut:.4f}): {band} must admit more children than {stricter}",
                )
            cut = stricter_cut
            clamped.append(band)
        cuts[band] = cut
        if cut != EMPTY:
            previous = (band, cut)
    return cuts, tuple(clamped)


# -- storage -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredPolicy:
    """A policy version as stored (version None: the built-in default, never stored)."""

    policy: ThresholdPolicy
    version: int | None
    created_at: dt.datetime | None
    created_by: str | None
    reason: str | None

    @classmethod
    def of(cls, row: ThresholdPolicyVersion) -> StoredPolicy:
        return cls(
            policy=ThresholdPolicy.model_validate(row.policy),
            version=row.version,
            created_at=row.created_at,
            created_by=row.created_by,
            reason=row.reason,
        )


DEFAULT_STORED: Final = StoredPolicy(DEFAULT_POLICY, None, None, None, None)


def current_policy(session: Session, hardship: str, municipality: str) -> StoredPolicy:
    """The latest stored version, or the default policy."""
    row = session.scalars(
        select(ThresholdPolicyVersion)
        .where(
            ThresholdPolicyVersion.hardship == hardship,
            ThresholdPolicyVersion.municipality == municipality,
        )
        .order_by(ThresholdPolicyVersion.version.desc())
        .limit(1)
    ).first()
    return DEFAULT_STORED if row is None else StoredPolicy.of(row)


def policy_history(session: Session, hardship: str, municipality: str) -> list[StoredPolicy]:
    """Every stored version, newest first."""
    rows = session.scalars(
        select(ThresholdPolicyVersion)
        .where(
            ThresholdPolicyVersion.hardship == hardship,
            ThresholdPolicyVersion.municipality == municipality,
        )
        .order_by(ThresholdPolicyVersion.version.desc())
    ).all()
    return [StoredPolicy.of(row) for row in rows]


def save_policy(
    session: Session,
    hardship: str,
    municipality: str,
    policy: ThresholdPolicy,
    *,
    who: str,
    why: str,
    now: dt.datetime | None = None,
) -> StoredPolicy:
    """Add a new version (never an update); the caller commits.

    Two concurrent saves may pick the same number; the unique constraint on (hardship,
    municipality, version) then refuses the second at commit rather than losing either.
    """
    if not who.strip():
        raise ThresholdError("a policy change must name who made it")
    if not why.strip():
        raise ThresholdError("a policy change must give a reason")
    lock_for_write(session, ThresholdPolicyVersion.__table__)  # type: ignore[arg-type]
    latest = session.scalar(
        select(func.max(ThresholdPolicyVersion.version)).where(
            ThresholdPolicyVersion.hardship == hardship,
            ThresholdPolicyVersion.municipality == municipality,
        )
    )
    row = ThresholdPolicyVersion(
        hardship=hardship,
        municipality=municipality,
        version=(latest or 0) + 1,
        policy=policy.document(),
        created_at=now or dt.datetime.now(dt.UTC),
        created_by=who.strip(),
        reason=why.strip(),
    )
    session.add(row)
    session.flush()
    return StoredPolicy.of(row)


# -- evaluation on a labelled period -------------------------------------------------------------


@dataclass(frozen=True)
class EvaluationSet:
    """Scores of every child in a labelled period with outcomes, per (month, municipality).

    `labelled` is False where the outcome is not known (label NA); such rows still take part
    in capacity (staff would have reviewed them) but not in recall or precision.
    """

    months: np.ndarray  # str per row
    municipalities: np.ndarray  # str per row
    probabilities: np.ndarray
    outcomes: np.ndarray  # bool per row (False where unlabelled)
    labelled: np.ndarray  # bool per row
    already_supported: np.ndarray  # bool per row

    def __len__(self) -> int:
        return len(self.probabilities)

    def positive_probabilities(self) -> np.ndarray:
        """Probabilities of the onsets that capacity could find (labelled, not yet supported)."""
        mask = self.outcomes & self.labelled & ~self.already_supported
        return self.probabilities[mask]


@dataclass(frozen=True)
class BandOutcome:
    band: BandName
    children: int  # not yet supported, over the period
    onsets: int  # of those, with the outcome within the horizon
    labelled: int
    cumulative_children: int
    cumulative_onsets: int
    cumulative_labelled: int


def evaluate_policy(
    policy: ThresholdPolicy,
    evaluation: EvaluationSet,
    municipality: str | None,
    recall_cut_for: Callable[[float], float] | None,
) -> tuple[list[BandOutcome], int]:
    """What each band would have held on the evaluation period; also the onsets to find.

    Cuts are resolved per month (capacity is a monthly quota) on that month's children of the
    municipality (None: each municipality on its own, pooled), as the service would have.
    """
    mask_place = (
        np.ones(len(evaluation), dtype=bool)
        if municipality is None
        else evaluation.municipalities == municipality
    )
    eligible_rows = mask_place & ~evaluation.already_supported
    found = evaluation.labelled & evaluation.outcomes
    bands = np.full(len(evaluation), None, dtype=object)
    groups = sorted(
        set(zip(evaluation.months[mask_place], evaluation.municipalities[mask_place], strict=True))
    )
    for month, place in groups:
        rows = np.flatnonzero(
            mask_place & (evaluation.months == month) & (evaluation.municipalities == place)
        )
        cuts, _ = resolve_cuts(
            policy,
            evaluation.probabilities[rows],
            evaluation.already_supported[rows],
            recall_cut_for,
        )
        bands[rows] = BandCuts("", place, month, None, None, cuts).bands(
            evaluation.probabilities[rows]
        )
    outcomes: list[BandOutcome] = []
    cumulative = np.zeros(len(evaluation), dtype=bool)
    for band, _ in policy.rules():
        inside = eligible_rows & (bands == band)
        cumulative |= inside
        outcomes.append(
            BandOutcome(
                band=band,
                children=int(inside.sum()),
                onsets=int((inside & found).sum()),
                labelled=int((inside & evaluation.labelled).sum()),
                cumulative_children=int(cumulative.sum()),
                cumulative_onsets=int((cumulative & found).sum()),
                cumulative_labelled=int((cumulative & evaluation.labelled).sum()),
            )
        )
    return outcomes, int((eligible_rows & found).sum())


# -- the resolver the engine and the routes use --------------------------------------------------


def period_months(period: str) -> tuple[str, ...]:
    """'2023-05..2024-04' -> every month in it (the format training stores in metadata)."""
    first, _, last = period.partition("..")
    try:
        year, month = (int(part) for part in first.split("-"))
        end_year, end_month = (int(part) for part in (last or first).split("-"))
    except ValueError:
        raise ThresholdError(f"cannot read the period {period!r}") from None
    months: list[str] = []
    while (year, month) <= (end_year, end_month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return tuple(months)


@dataclass(frozen=True)
class BandSimulation:
    band: BandName
    rule: str
    cut: float
    clamped: bool
    children: int
    already_supported: int
    test: BandOutcome


@dataclass(frozen=True)
class PolicySimulation:
    hardship: str
    municipality: str
    month: str
    model_version: str | None
    test_period: str
    test_onsets: int
    bands: tuple[BandSimulation, ...]


PeriodKind = Literal["validation", "test", "train"]


class ThresholdResolver:
    """Resolves threshold policies to probability cuts for the engine, the routes and batches.

    Implements the engine's BandResolver. `band_for` sits on the scoring path, so both the
    policy in force (re-read from the database at most every `policy_ttl_seconds`, and at once
    after a change through `invalidate`) and the cuts per (hardship, municipality, month, model
    version, policy version) are cached; evaluation periods are scored once per model version.
    """

    def __init__(
        self,
        engine: ScoringEngine,
        session_factory: Callable[[], Session],
        *,
        policy_ttl_seconds: float = 30.0,
        max_cached_cuts: int = 4096,
    ) -> None:
        self.engine = engine
        self.session_factory = session_factory
        self.policy_ttl_seconds = policy_ttl_seconds
        self.max_cached_cuts = max_cached_cuts
        self._lock = threading.Lock()
        self._policies: dict[tuple[str, str], tuple[float, StoredPolicy]] = {}
        self._cuts: dict[tuple[object, ...], BandCuts] = {}
        self._evaluations: dict[tuple[str, str, str], EvaluationSet] = {}

    # -- policies ---------------------------------------------------------------------------------

    def policy(self, hardship: str, municipality: str) -> StoredPolicy:
        """The policy in force (cached for `policy_ttl_seconds`)."""
        key = (hardship, municipality)
        now = time.monotonic()
        with self._lock:
            cached = self._policies.get(key)
        if cached is not None and now - cached[0] < self.policy_ttl_seconds:
            return cached[1]
        try:
            with self.session_factory() as session:
                stored = current_policy(session, hardship, municipality)
        except Exception:
            # A database hiccup should not stop scoring while a policy is known.
            if cached is not None:
                return cached[1]
            raise
        with self._lock:
            self._policies[key] = (now, stored)
        return stored

    def invalidate(self, hardship: str | None = None, municipality: str | None = None) -> None:
        """Forget cached policies (after a change), all or one hardship and municipality."""
        with self._lock:
            if hardship is None or municipality is None:
                self._policies.clear()
            else:
                self._policies.pop((hardship, municipality), None)

    # -- cuts -------------------------------------------------------------------------------------

    def cuts(
        self,
        hardship: str,
        municipality: str,
        month: str | None = None,
        *,
        policy: StoredPolicy | None = None,
        strict: bool = False,
    ) -> BandCuts:
        """The probability cut per band at `month` (default: the latest) for the policy in force
        (or `policy`). `strict` raises PolicyOrderError where mixed rules cross."""
        month = month or self.engine.latest_month
        if month is None:
            raise ThresholdError("the feature store has no months loaded")
        stored = policy or self.policy(hardship, municipality)
        version = self.engine.model_version(hardship)
        key = (hardship, municipality, month, version, stored.version, stored.policy, strict)
        with self._lock:
            cached = self._cuts.get(key)
        if cached is not None:
            return cached
        population = self.engine.population(month, municipality, hardship)
        cuts, clamped = resolve_cuts(
            stored.policy,
            population.probabilities,
            population.already_supported,
            self._recall_cut_for(hardship) if stored.policy.needs_recall() else None,
            strict=strict,
        )
        result = BandCuts(
            hardship=hardship,
            municipality=municipality,
            month=month,
            model_version=version,
            policy_version=stored.version,
            cuts=cuts,
            rules={band: rule.describe() for band, rule in stored.policy.rules()},
            clamped=clamped,
        )
        with self._lock:
            if len(self._cuts) >= self.max_cached_cuts:
                self._cuts.clear()  # months move on; old keys are rarely asked for again
            self._cuts[key] = result
        return result

    def band_for(
        self, hardship: str, municipality: str, probability: float, month: str | None = None
    ) -> BandName | None:
        return self.cuts(hardship, municipality, month).band(probability)

    def check(self, hardship: str, municipality: str, policy: ThresholdPolicy) -> BandCuts | None:
        """Resolve a proposed policy strictly at the latest month (None if no model serves):
        raises PolicyOrderError when rules of different kinds cross there."""
        if self.engine.model_version(hardship) is None or self.engine.latest_month is None:
            return None
        return self.cuts(
            hardship, municipality, policy=StoredPolicy(policy, None, None, None, None), strict=True
        )

    # -- evaluation periods -----------------------------------------------------------------------

    def period(self, hardship: str, kind: PeriodKind) -> str:
        """The serving model's `kind` period (validation falls back to calibration)."""
        loaded = self.engine.champions.snapshot.get(hardship)
        if loaded is None:
            raise ThresholdError(f"no model serves {hardship}")
        periods = loaded.bundle.metadata.get("periods") or {}
        names = ("validation", "calibration") if kind == "validation" else (kind,)
        for name in names:
            if periods.get(name):
                return str(periods[name])
        raise ThresholdError(f"the {hardship} model's metadata names no {kind} period")

    def evaluation(self, hardship: str, kind: PeriodKind) -> EvaluationSet:
        """Every child of the model's `kind` period scored by the serving model, with outcomes."""
        version = self.engine.model_version(hardship)
        if version is None:
            raise ThresholdError(f"no model serves {hardship}")
        period = self.period(hardship, kind)
        key = (hardship, version, period)
        with self._lock:
            cached = self._evaluations.get(key)
        if cached is not None:
            return cached
        result = self._score_period(hardship, period)
        with self._lock:
            # Older versions of this hardship will not be asked for again.
            for stale in [k for k in self._evaluations if k[0] == hardship and k[1] != version]:
                del self._evaluations[stale]
            self._evaluations[key] = result
        return result

    def _score_period(self, hardship: str, period: str) -> EvaluationSet:
        import pandas as pd  # off the request path: once per model version and period

        available = set(self.engine.months())
        months = [m for m in period_months(period) if m in available]
        frames = []
        for month in months:
            for municipality in self.engine.municipalities():
                population = self.engine.population(month, municipality, hardship)
                if len(population.probabilities) == 0:
                    continue
                frames.append(
                    pd.DataFrame(
                        {
                            "person_id": population.child_ids.astype(str),
                            "as_of_month": month,
                            "municipality": municipality,
                            "probability": population.probabilities,
                            "already_supported": population.already_supported,
                        }
                    )
                )
        if not frames:
            raise ThresholdError(f"the feature store holds no rows of the period {period}")
        scored = pd.concat(frames, ignore_index=True)
        labels = self._labels(hardship, months)
        merged = scored.merge(labels, on=["person_id", "as_of_month"], how="left")
        label = merged["label"]
        return EvaluationSet(
            months=merged["as_of_month"].to_numpy(dtype=str),
            municipalities=merged["municipality"].to_numpy(dtype=str),
            probabilities=merged["probability"].to_numpy(dtype=np.float64),
            outcomes=label.fillna(False).astype(bool).to_numpy(),
            labelled=label.notna().to_numpy(),
            already_supported=merged["already_supported"].to_numpy(dtype=bool),
        )

    def _labels(self, hardship: str, months: Sequence[str]) -> Any:
        import pandas as pd

        path = Path(self.engine.features_dir) / "labels.parquet"
        column = label_column(hardship)
        try:
            labels = pd.read_parquet(
                path,
                columns=["person_id", "as_of_month", column],
                filters=[("as_of_month", "in", list(months))],
            )
        except (FileNotFoundError, OSError, KeyError, ValueError) as error:
            raise ThresholdError(f"cannot read {column} from {path}: {error}") from None
        labels = labels.rename(columns={column: "label"})
        labels["person_id"] = labels["person_id"].astype(str)
        labels["as_of_month"] = labels["as_of_month"].astype(str)
        return labels

    def _recall_cut_for(self, hardship: str) -> Callable[[float], float]:
        def cut(target: float) -> float:
            validation = self.evaluation(hardship, "validation")
            return recall_cut(validation.positive_probabilities(), target)

        return cut

    # -- simulation -------------------------------------------------------------------------------

    def simulate(
        self,
        policy: ThresholdPolicy,
        hardship: str,
        municipality: str,
        month: str | None = None,
    ) -> PolicySimulation:
        """What `policy` would do, without storing it: per band, the children in it at `month`
        (already-supported ones apart) and recall and precision on the model's test period."""
        month = month or self.engine.latest_month
        if month is None:
            raise ThresholdError("the feature store has no months loaded")
        stored = StoredPolicy(policy, None, None, None, None)
        cuts = self.cuts(hardship, municipality, month, policy=stored)
        population = self.engine.population(month, municipality, hardship)
        bands = cuts.bands(population.probabilities)
        supported = np.asarray(population.already_supported, dtype=bool)
        recall_for = self._recall_cut_for(hardship) if policy.needs_recall() else None
        outcomes, onsets = evaluate_policy(
            policy, self.evaluation(hardship, "test"), municipality, recall_for
        )
        by_band = {outcome.band: outcome for outcome in outcomes}
        return PolicySimulation(
            hardship=hardship,
            municipality=municipality,
            month=month,
            model_version=cuts.model_version,
            test_period=self.period(hardship, "test"),
            test_onsets=onsets,
            bands=tuple(
                BandSimulation(
                    band=band,
                    rule=rule.describe(),
                    cut=cuts.cuts[band],
                    clamped=band in cuts.clamped,
                    children=int(((bands == band) & ~supported).sum()),
                    already_supported=int(((bands == band) & supported).sum()),
                    test=by_band[band],
                )
                for band, rule in policy.rules()
            ),
        )
