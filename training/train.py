"""`train_all`: one calibrated, audited LightGBM model per hardship type, tracked and registered.

    report = train_all(frame, load_training_config(), "sqlite:///var/mlflow.db")

Work happens in two phases. First every model is trained, calibrated and evaluated without
writing anything (bad input fails here: an unknown hardship, a missing feature table, a label
with no positives in a period, an unreachable tracking store is checked before it). Only then
are the runs logged and the models registered with the alias `challenger`, so a failure leaves
the registry as it was. `training.registry.promote` later decides about `champion`.

Per hardship:

1. rows: labelled and not yet supported (the model is for children not yet known);
2. split by time and by household (training.splits); training rows subsampled for negatives;
3. early stopping on the validation period; parameters from the config, or tuned (Optuna);
   optionally a refit with the chosen tree count on the training and early-stopping rows;
4. calibration on held-out households in the validation period;
5. test metrics overall and per municipality, the oracle gap when a true risk is given, and
   leave-one-municipality-out ranking;
6. over-influence audit with ablations; fairness at the review capacity; threshold table;
7. the current champion scored on the same test rows, for the promotion gates.
"""

from __future__ import annotations

import hashlib
import math
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from models.bundle import ModelBundle, category_maps_of, encode_features
from models.hardships import Hardship, load_hardship_registry
from training.audit import InfluenceAudit, ablate, audit_influence
from training.calibration import calibration_by, fit_calibrator
from training.config import TrainingConfig, load_training_config
from training.evaluation import OracleGap, oracle_gap
from training.fairness import fairness_table
from training.fit import FitResult, Fitter, fit_local
from training.frame import TrainingFrame, TrainingFrameError
from training.metrics import (
    Metrics,
    PairedIntervals,
    calibration_table,
    evaluate,
    evaluate_by,
    flag_at_capacity,
    paired_bootstrap_intervals,
    threshold_table,
)
from training.reviews import (
    ReviewConfig,
    ReviewOutcomes,
    apply_review_labels,
    human_confirmed_precision,
)
from training.splits import (
    Periods,
    Split,
    holdout_components,
    household_components,
    leave_one_municipality_out,
    plan_periods,
    split_rows,
    strided,
)

if TYPE_CHECKING:
    from training.registry import Champion

__all__ = [
    "ChampionComparison",
    "EmptyLabelError",
    "HardshipPlan",
    "HardshipResult",
    "Prepared",
    "Progress",
    "Provenance",
    "TrainingError",
    "TrainingReport",
    "plan_hardship",
    "prepare",
    "train_all",
    "train_hardship",
]


class TrainingError(RuntimeError):
    """Training cannot go on; the message says why."""


class EmptyLabelError(TrainingError, ValueError):
    """A hardship's label has no positives (or only positives) in a part of the split."""


class Progress(Protocol):
    def start(self, description: str, total: int) -> None: ...

    def advance(self, steps: int = 1) -> None: ...


class _Silent:
    def start(self, description: str, total: int) -> None:
        pass

    def advance(self, steps: int = 1) -> None:
        pass


@dataclass(frozen=True)
class Provenance:
    """Where the training data came from; logged with every run.

    The caller that built the frame knows the feature store's snapshot and the linkage settings
    hash; without them the snapshot is a hash of the training frame itself.
    """

    data_snapshot: str | None = None
    linkage_settings_hash: str | None = None
    git_commit: str | None = None

    def resolved(self, frame: TrainingFrame) -> Provenance:
        return Provenance(
            data_snapshot=self.data_snapshot or f"frame-sha256:{frame_digest(frame)}",
            linkage_settings_hash=self.linkage_settings_hash or "not recorded",
            git_commit=self.git_commit or git_commit(),
        )


def frame_digest(frame: TrainingFrame) -> str:
    hashed = pd.util.hash_pandas_object(frame.data, index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()[:16]


def git_commit(start: Path | None = None) -> str:
    """The checked-out commit, read from .git without running git ("unknown" outside a checkout)."""
    here = (start or Path(__file__)).resolve()
    for folder in (here, *here.parents):
        git = folder / ".git"
        if not git.is_dir():
            continue
        try:
            head = (git / "HEAD").read_text().strip()
            if not head.startswith("ref: "):
                return head
            ref = head.removeprefix("ref: ")
            loose = git / ref
            if loose.is_file():
                return loose.read_text().strip()
            packed = git / "packed-refs"
            if packed.is_file():
                for line in packed.read_text().splitlines():
                    if line.endswith(f" {ref}"):
                        return line.split(" ", 1)[0]
        except OSError:
            return "unknown"
        return "unknown"
    return "unknown"


@dataclass(frozen=True)
class ChampionComparison:
    """The champion at training time, scored on the challenger's test rows."""

    version: str
    metrics: Metrics | None
    reason: str = ""
    # Challenger minus champion on resamples of the same test children: whether a difference
    # is more than this test period's noise.
    difference: PairedIntervals | None = None

    @property
    def comparable(self) -> bool:
        return self.metrics is not None


@dataclass(frozen=True)
class Prepared:
    """What every hardship shares: periods, household groups and the encoded feature matrix."""

    frame: TrainingFrame
    feature_names: tuple[str, ...]
    category_maps: dict[str, tuple[str, ...]]
    periods: Periods
    months: np.ndarray
    municipalities: np.ndarray
    components: np.ndarray
    held_out: np.ndarray
    # Encoded rows only for the months some part can use (strided training months, validation
    # and test); position maps a frame row to its matrix row (-1: not encoded).
    matrix: np.ndarray
    position: np.ndarray

    def x(self, rows: np.ndarray, columns: Sequence[int] | None = None) -> np.ndarray:
        at = self.position[rows]
        if (at < 0).any():
            raise TrainingError("internal: a row outside the encoded months was requested")
        if columns is None or len(columns) == self.matrix.shape[1]:
            return self.matrix[at]
        return self.matrix[np.ix_(at, np.asarray(columns))]


@dataclass(frozen=True)
class HardshipPlan:
    hardship: Hardship
    y: np.ndarray
    # Rows that may be evaluated: labelled and not yet supported.
    usable: np.ndarray
    split: Split
    columns: tuple[int, ...]
    feature_names: tuple[str, ...]


@dataclass
class HardshipResult:
    hardship: Hardship
    bundle: ModelBundle
    periods: Periods
    split_sizes: dict[str, int]
    params: dict[str, Any]
    best_iteration: int
    tuning_trials: int
    metrics: Metrics
    uncalibrated: Metrics
    calibration_ece: float
    by_municipality: dict[str, Metrics]
    calibration_by_municipality: pd.DataFrame
    calibration_curve: pd.DataFrame
    oracle: OracleGap | None
    leave_one_out: dict[str, Metrics]
    audit: InfluenceAudit
    fairness: pd.DataFrame
    thresholds: pd.DataFrame
    champion: ChampionComparison | None
    seconds: float
    # Test outcomes and scores, kept for the plots.
    y_test: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    p_test: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    audit_contributions: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 0)))
    audit_rows: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 0)))
    model_card: str = ""
    # Human-confirmed precision by band (training.reviews), when reviews were given.
    human_review: pd.DataFrame | None = None

    def bars(self, config: TrainingConfig) -> dict[str, bool | None]:
        """The benchmark bars: None where they cannot be judged (no oracle)."""
        ratios = self.oracle.ratios if self.oracle else {}
        roc, recall = ratios.get("roc_auc", math.nan), ratios.get("recall_at_capacity", math.nan)
        return {
            "roc_auc_ratio": None
            if math.isnan(roc)
            else roc >= config.bars.roc_auc_ratio_to_oracle,
            "recall_ratio": (
                None if math.isnan(recall) else recall >= config.bars.recall_ratio_to_oracle
            ),
            "ece": self.metrics.ece <= config.bars.max_ece,
        }


@dataclass
class TrainingReport:
    results: dict[str, HardshipResult]
    config_digest: str
    provenance: Provenance
    tracking_uri: str
    parent_run_id: str | None = None
    run_ids: dict[str, str] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def rows(self) -> list[tuple[str, str]]:
        """(item, value) pairs for a summary table."""
        rows: list[tuple[str, str]] = []
        for name, result in self.results.items():
            m = result.metrics
            version = self.versions.get(name, "-")
            rows.append(
                (
                    f"{name} ({result.hardship.label_ja}) v{version}",
                    f"AUC {m.roc_auc:.3f}  PR-AUC {m.pr_auc:.3f}  ECE {m.ece:.4f}  "
                    f"recall@{m.flagged} flagged {m.recall_at_capacity:.2f}",
                )
            )
        rows.append(("time", f"{self.seconds:.1f} s"))
        return rows


# -- preparation ---------------------------------------------------------------------------------


def _observed_until(frame: TrainingFrame, hardships: Sequence[Hardship]) -> str | None:
    months = frame.data["as_of_month"].to_numpy(dtype=str)
    observed = np.zeros(len(frame), dtype=bool)
    for hardship in hardships:
        observed |= ~np.isnan(frame.labels(hardship.id))
    return max(np.unique(months[observed]).tolist()) if observed.any() else None


def prepare(
    frame: TrainingFrame, config: TrainingConfig, hardships: Sequence[Hardship]
) -> Prepared:
    missing = [h.id for h in hardships if h.id not in frame.hardships]
    if missing:
        raise TrainingFrameError(
            f"the training frame has no label column for: {', '.join(missing)}"
        )
    names = tuple(n for n in frame.feature_names if n not in config.features.exclude)
    if not names:
        raise TrainingFrameError("no feature columns are left after the configured exclusions")
    data = frame.data
    months = data["as_of_month"].to_numpy(dtype=str)
    periods = plan_periods(
        frame.months, observed_until=_observed_until(frame, hardships), config=config
    )
    components = household_components(data["person_id"].to_numpy(), data["household_id"].to_numpy())
    held_out = holdout_components(
        data["person_id"].to_numpy(),
        components,
        config.splits.holdout_fraction,
        config.splits.seed,
    )
    # Categories come from the training period only: later months must not shape the encoding.
    in_train_period = periods.train.mask(months)
    maps = category_maps_of(data.loc[in_train_period, list(names)], names)
    needed = (
        strided(months, periods.train, config.splits.train_month_stride)
        | periods.validation.mask(months)
        | periods.test.mask(months)
    )
    rows = np.flatnonzero(needed)
    position = np.full(len(data), -1, dtype=np.int64)
    position[rows] = np.arange(len(rows))
    matrix = encode_features(data.iloc[rows], names, maps)
    return Prepared(
        frame=frame,
        feature_names=names,
        category_maps=maps,
        periods=periods,
        months=months,
        municipalities=data["municipality"].to_numpy(dtype=str),
        components=components,
        held_out=held_out,
        matrix=matrix,
        position=position,
    )


def plan_hardship(prepared: Prepared, hardship: Hardship, config: TrainingConfig) -> HardshipPlan:
    """The hardship's rows and split; raises EmptyLabelError when a part has one outcome only."""
    frame = prepared.frame
    y = frame.labels(hardship.id)
    labelled = ~np.isnan(y)
    usable = labelled & ~frame.supported(hardship.id)
    train_usable = usable if config.exclude_already_supported else labelled
    split = split_rows(
        frame,
        usable,
        prepared.periods,
        config,
        train_usable=train_usable,
        components=prepared.components,
        held_out=prepared.held_out,
        months=prepared.months,
    )
    parts = {
        "training": (split.train, prepared.periods.train),
        "early-stopping": (split.early_stopping, prepared.periods.validation),
        "calibration": (split.calibration, prepared.periods.validation),
        "test": (split.test, prepared.periods.test),
    }
    for part, (rows, period) in parts.items():
        positives = int(np.nansum(y[rows]))
        if positives == 0 or positives == len(rows):
            outcome = "no positives" if positives == 0 else "no negatives"
            raise EmptyLabelError(
                f"label_{hardship.id} has {outcome} in the {part} rows "
                f"({period}, {len(rows):,} rows): nothing to learn or measure; check the label "
                "definition and the months covered"
            )
    excluded = set(hardship.exclude_features)
    columns = tuple(i for i, n in enumerate(prepared.feature_names) if n not in excluded)
    return HardshipPlan(
        hardship=hardship,
        y=y,
        usable=usable,
        split=split,
        columns=columns,
        feature_names=tuple(prepared.feature_names[i] for i in columns),
    )


# -- fitting -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Fitted:
    bundle: ModelBundle
    best_iteration: int
    validation_score: float


def _seed(config: TrainingConfig, *parts: str) -> int:
    return (config.splits.seed + zlib.crc32("/".join(parts).encode())) % 2**32


def _subsample(y: np.ndarray, rows: np.ndarray, rate: float, seed: int) -> np.ndarray:
    if rate >= 1.0:
        return rows
    draw = np.random.default_rng(seed).random(len(rows))
    result: np.ndarray = rows[(y[rows] == 1) | (draw < rate)]
    return result


def _fit(
    prepared: Prepared,
    plan: HardshipPlan,
    split: Split,
    columns: Sequence[int],
    params: dict[str, Any],
    config: TrainingConfig,
    fitter: Fitter,
    tag: str,
) -> _Fitted:
    y = plan.y
    names = tuple(prepared.feature_names[i] for i in columns)
    rows = _subsample(
        y, split.train, config.class_balance.negative_rate, _seed(config, plan.hardship.id, tag)
    )
    categorical = [j for j, n in enumerate(names) if n in prepared.category_maps]
    fitted: FitResult = fitter(
        prepared.x(rows, columns),
        y[rows],
        prepared.x(split.early_stopping, columns),
        y[split.early_stopping],
        params={**params, "seed": _seed(config, plan.hardship.id, tag, "lightgbm")},
        feature_names=names,
        categorical=categorical,
        max_rounds=config.lightgbm.max_rounds,
        early_stopping_rounds=config.lightgbm.early_stopping_rounds,
    )
    if config.lightgbm.refit_with_early_stopping_rows:
        fitted = _refit(prepared, plan, split, columns, params, config, fitter, tag, fitted)
    margin = np.asarray(
        fitted.booster.predict(prepared.x(split.calibration, columns), raw_score=True)
    )
    calibrator = fit_calibrator(margin, y[split.calibration], config.calibration.method)
    bundle = ModelBundle(
        booster=fitted.booster,
        feature_names=names,
        category_maps={n: prepared.category_maps[n] for n in names if n in prepared.category_maps},
        calibrator=calibrator,
        metadata={"hardship": plan.hardship.id},
    )
    return _Fitted(bundle, fitted.best_iteration, fitted.validation_score)


def _refit(
    prepared: Prepared,
    plan: HardshipPlan,
    split: Split,
    columns: Sequence[int],
    params: dict[str, Any],
    config: TrainingConfig,
    fitter: Fitter,
    tag: str,
    first: FitResult,
) -> FitResult:
    """The chosen number of trees, fitted on the training and early-stopping rows together.

    The training period is short (the months before the validation period, less a gap) and misses
    seasons that the validation period has; the early-stopping rows (the validation period's
    training households) add those. The early-stopping rows are passed again only because a
    fitter needs validation rows: with patience as long as the fit nothing stops it early, though
    the fitter may still drop trailing trees that did not raise the (now in-sample) AUC.
    """
    y = plan.y
    names = tuple(prepared.feature_names[i] for i in columns)
    rows = _subsample(
        y,
        np.concatenate([split.train, split.early_stopping]),
        config.class_balance.negative_rate,
        _seed(config, plan.hardship.id, tag, "refit"),
    )
    rounds = max(1, first.best_iteration)
    refitted = fitter(
        prepared.x(rows, columns),
        y[rows],
        prepared.x(split.early_stopping, columns),
        y[split.early_stopping],
        params={**params, "seed": _seed(config, plan.hardship.id, tag, "lightgbm", "refit")},
        feature_names=names,
        categorical=[j for j, n in enumerate(names) if n in prepared.category_maps],
        max_rounds=rounds,
        early_stopping_rounds=rounds + 1,
    )
    # Keep the out-of-sample score of the first fit: the refit saw the early-stopping rows.
    return FitResult(
        booster=refitted.booster,
        best_iteration=refitted.best_iteration,
        validation_score=first.validation_score,
    )


def _evaluate(
    prepared: Prepared,
    bundle: ModelBundle,
    plan: HardshipPlan,
    rows: np.ndarray,
    columns: Any,
    config: TrainingConfig,
) -> tuple[Metrics, np.ndarray]:
    p = bundle.score(prepared.x(rows, columns))
    metrics = evaluate(
        plan.y[rows],
        p,
        prepared.months[rows],
        capacity=config.capacity,
        ece_bins=config.calibration.ece_bins,
    )
    return metrics, p


# -- one hardship --------------------------------------------------------------------------------


def train_hardship(
    prepared: Prepared,
    plan: HardshipPlan,
    config: TrainingConfig,
    *,
    fitter: Fitter = fit_local,
    true_risk: pd.DataFrame | None = None,
    champion: Champion | None = None,
    progress: Progress | None = None,
) -> HardshipResult:
    """Train, calibrate, evaluate and audit one hardship's model (no MLflow)."""
    started = time.perf_counter()
    progress = progress or _Silent()
    hardship, split, y = plan.hardship, plan.split, plan.y
    columns = plan.columns
    frame = prepared.frame
    capacity, bins = config.capacity, config.calibration.ece_bins

    params = config.lightgbm_params()
    trials = 0
    if config.tuning.enabled:
        from training.tuning import tune

        train_rows = _subsample(
            y, split.train, config.class_balance.negative_rate, _seed(config, hardship.id, "tune")
        )
        params, _, trials = tune(
            prepared.x(train_rows, columns),
            y[train_rows],
            prepared.x(split.early_stopping, columns),
            y[split.early_stopping],
            config=config,
            feature_names=plan.feature_names,
            categorical=[
                j for j, n in enumerate(plan.feature_names) if n in prepared.category_maps
            ],
            fitter=fitter,
            seed=_seed(config, hardship.id, "optuna"),
        )
    fitted = _fit(prepared, plan, split, columns, params, config, fitter, "main")
    bundle = fitted.bundle
    progress.advance()

    test = split.test
    x_test = prepared.x(test, columns)
    y_test = y[test]
    months_test = prepared.months[test]
    municipalities_test = prepared.municipalities[test]
    margin_test = bundle.margin(x_test)
    p_test = bundle.calibrator.apply(margin_test)
    metrics = evaluate(y_test, p_test, months_test, capacity=capacity, ece_bins=bins)
    uncalibrated = evaluate(
        y_test, 1.0 / (1.0 + np.exp(-margin_test)), months_test, capacity=capacity, ece_bins=bins
    )
    p_calibration = bundle.score(prepared.x(split.calibration, columns))
    by_municipality = evaluate_by(
        y_test, p_test, months_test, municipalities_test, capacity=capacity, ece_bins=bins
    )
    keys = frame.data.iloc[test][["person_id", "as_of_month"]]
    oracle = (
        oracle_gap(keys, y_test, p_test, true_risk, hardship.id, capacity=capacity, ece_bins=bins)
        if true_risk is not None
        else None
    )
    progress.advance()

    leave_one_out: dict[str, Metrics] = {}
    if config.evaluation.leave_one_municipality_out:
        for municipality in sorted(set(prepared.municipalities.tolist())):
            local = leave_one_municipality_out(
                split, prepared.months, prepared.municipalities, municipality, plan.usable
            )
            if not _has_both(y, local):
                continue
            other = _fit(
                prepared, plan, local, columns, params, config, fitter, f"lomo/{municipality}"
            )
            leave_one_out[municipality], _ = _evaluate(
                prepared, other.bundle, plan, local.test, columns, config
            )
    progress.advance()

    audit_rows = _audit_sample(test, config.audit.max_rows, _seed(config, hardship.id, "audit"))
    x_audit = prepared.x(audit_rows, columns)
    contributions = bundle.contributions(x_audit)
    audit = audit_influence(
        contributions,
        plan.feature_names,
        prepared.municipalities[audit_rows],
        ~np.isnan(x_audit),
        config.audit,
    )
    if config.audit.ablate and audit.flagged:

        def retrain_without(feature: str) -> Metrics:
            kept = tuple(c for c in columns if prepared.feature_names[c] != feature)
            other = _fit(prepared, plan, split, kept, params, config, fitter, f"ablate/{feature}")
            result, _ = _evaluate(prepared, other.bundle, plan, test, kept, config)
            return result

        ablate(audit, metrics, retrain_without, config.audit.max_ablations)
    progress.advance()

    flags = flag_at_capacity(p_test, months_test, capacity)
    attributes = {
        a: frame.data[a].iloc[test].to_numpy()
        for a in config.evaluation.fairness_attributes
        if a in frame.data.columns
    }
    fairness = fairness_table(y_test, flags, attributes)
    thresholds = threshold_table(
        p_calibration, y_test, p_test, months_test, config.threshold_capacities
    )
    comparison = _compare_champion(champion, frame, test, y_test, p_test, months_test, config)
    operating = thresholds.loc[np.isclose(thresholds["capacity"], capacity), "threshold"]
    bundle.metadata.update(
        {
            "hardship": hardship.id,
            "label_ja": hardship.label_ja,
            "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "periods": prepared.periods.as_dict(),
            "label_horizon_months": config.label_horizon_months,
            "capacity": capacity,
            "threshold_at_capacity": float(operating.iloc[0]) if len(operating) else None,
            "best_iteration": fitted.best_iteration,
            "params": {k: v for k, v in params.items() if isinstance(v, int | float | str)},
            "config_digest": config.digest(),
            "test_metrics": metrics.as_dict(),
            "influence_shares": {k: float(v) for k, v in audit.shares.items()},
            "over_influence_max_share": config.audit.max_share,
            "flagged_features": list(audit.flagged_features),
        }
    )
    progress.advance()
    return HardshipResult(
        hardship=hardship,
        bundle=bundle,
        periods=prepared.periods,
        split_sizes=split.sizes(),
        params=params,
        best_iteration=fitted.best_iteration,
        tuning_trials=trials,
        metrics=metrics,
        uncalibrated=uncalibrated,
        calibration_ece=float(
            evaluate(
                y[split.calibration],
                p_calibration,
                prepared.months[split.calibration],
                capacity=capacity,
                ece_bins=bins,
            ).ece
        ),
        by_municipality=by_municipality,
        calibration_by_municipality=calibration_by(y_test, p_test, municipalities_test, bins),
        calibration_curve=calibration_table(y_test, p_test, bins),
        oracle=oracle,
        leave_one_out=leave_one_out,
        audit=audit,
        fairness=fairness,
        thresholds=thresholds,
        champion=comparison,
        seconds=time.perf_counter() - started,
        y_test=y_test,
        p_test=p_test,
        audit_contributions=contributions,
        audit_rows=x_audit,
    )


STEPS_PER_HARDSHIP = 5


def _has_both(y: np.ndarray, split: Split) -> bool:
    for rows in (split.train, split.early_stopping, split.calibration, split.test):
        values = y[rows]
        if len(values) == 0 or np.nanmin(values) == np.nanmax(values):
            return False
    return True


def _audit_sample(rows: np.ndarray, limit: int, seed: int) -> np.ndarray:
    if len(rows) <= limit:
        return rows
    chosen = np.random.default_rng(seed).choice(len(rows), size=limit, replace=False)
    result: np.ndarray = rows[np.sort(chosen)]
    return result


def _compare_champion(
    champion: Champion | None,
    frame: TrainingFrame,
    test: np.ndarray,
    y_test: np.ndarray,
    p_test: np.ndarray,
    months_test: np.ndarray,
    config: TrainingConfig,
) -> ChampionComparison | None:
    if champion is None:
        return None
    bundle = champion.bundle
    if bundle is None:
        return ChampionComparison(champion.version, None, champion.problem)
    absent = [n for n in bundle.feature_names if n not in frame.data.columns]
    if absent:
        return ChampionComparison(
            champion.version,
            None,
            f"the champion needs features this frame lacks: {', '.join(absent)}",
        )
    p = bundle.score(bundle.encode(frame.data.iloc[test]))
    metrics = evaluate(
        y_test, p, months_test, capacity=config.capacity, ece_bins=config.calibration.ece_bins
    )
    difference = (
        paired_bootstrap_intervals(
            y_test,
            p_test,
            p,
            months_test,
            frame.data["person_id"].iloc[test].to_numpy(dtype=str),
            capacity=config.capacity,
            compare="difference",
        )
        if 0 < np.nansum(y_test) < len(y_test)
        else None
    )
    return ChampionComparison(champion.version, metrics, difference=difference)


# -- all hardships -------------------------------------------------------------------------------


def _with_review_labels(
    frame: TrainingFrame, reviews: ReviewOutcomes, hardships: Sequence[str]
) -> TrainingFrame:
    data = frame.data
    for hardship in hardships:
        data = apply_review_labels(data, reviews.outcomes, ReviewConfig(use="labels"), hardship)
    return TrainingFrame(data=data, feature_names=frame.feature_names)


def train_all(
    frame: TrainingFrame | pd.DataFrame,
    config: TrainingConfig | None = None,
    tracking_uri: str | None = None,
    *,
    hardships: Sequence[str] | None = None,
    progress: Progress | None = None,
    true_risk: pd.DataFrame | None = None,
    provenance: Provenance | None = None,
    fitter: Fitter | None = None,
    artifact_location: str | None = None,
    reviews: ReviewOutcomes | None = None,
) -> TrainingReport:
    """Train every chosen hardship's model, then log and register them all as challengers.

    `hardships` (default: the config's list, else the whole registry) must be in the hardship
    registry. `tracking_uri` defaults to the settings' (a SQLite store in the data folder).
    `true_risk` (synthetic ground truth mapped to the frame's ids) adds the oracle gap.
    `fitter` swaps the in-process LightGBM fit for another (training.dask_train).
    `reviews` (reviewers' decisions, training.reviews.load_reviews) become extra labels or a
    human-confirmed precision table in the model card, as `config.reviews.use` says.
    """
    started = time.perf_counter()
    config = config or load_training_config()
    progress = progress or _Silent()
    chosen = load_hardship_registry().select(
        hardships if hardships is not None else config.hardships
    )
    if not isinstance(frame, TrainingFrame):
        frame = TrainingFrame.from_dataframe(frame)
    if reviews is not None and config.reviews.use == "labels":
        frame = _with_review_labels(frame, reviews, [h.id for h in chosen])
    if tracking_uri is None:
        from features.settings import get_settings

        tracking_uri = get_settings().resolved_mlflow_tracking_uri

    from training.registry import check_tracking_uri, current_champions

    check_tracking_uri(tracking_uri)
    prepared = prepare(frame, config, chosen)
    plans = [plan_hardship(prepared, hardship, config) for hardship in chosen]
    champions = current_champions(tracking_uri, [h.id for h in chosen])

    progress.start("training", total=len(plans) * STEPS_PER_HARDSHIP)
    results: dict[str, HardshipResult] = {}
    from training.model_card import render_model_card

    for plan in plans:
        result = train_hardship(
            prepared,
            plan,
            config,
            fitter=fitter or fit_local,
            true_risk=true_risk,
            champion=champions.get(plan.hardship.id),
            progress=progress,
        )
        if reviews is not None and config.reviews.use != "off":
            result.human_review = human_confirmed_precision(
                reviews.outcomes,
                reviews.flagged,
                plan.hardship.id,
                min_reviews=config.reviews.min_reviews,
            )
        result.model_card = render_model_card(result, config, frame)
        results[plan.hardship.id] = result

    report = TrainingReport(
        results=results,
        config_digest=config.digest(),
        provenance=(provenance or Provenance()).resolved(frame),
        tracking_uri=tracking_uri,
    )
    from training.tracking import record_training

    progress.start("recording in MLflow", total=len(results))
    record_training(report, config, artifact_location=artifact_location, progress=progress)
    report.seconds = time.perf_counter() - started
    return report
