"""The scoring engine: champion models over the in-memory feature store, numpy on every request.

    engine = ScoringEngine.from_settings(settings)       # loads champions and the store
    row = engine.feature_row("00a3...", "2026-03")       # ChildRow or None
    engine.score([row], explain=True, top_k=5)           # one ChildScores per row
    engine.reload()                                      # from a background thread

Requests read one immutable `_Serving` snapshot (models, the store, derived lookups) and keep
it to the end, so a reload that swaps in new models or a new store never mixes versions within
a response. Per request and hardship the work is one LightGBM call over the request's rows
(pred_contrib when explaining: its row sums are the margins, so the score costs nothing more;
a request of a few rows goes row by row through LightGBM's single-row API, checked at load to
give exactly what booster.predict gives, see service.scoring.single_row),
the calibrator, and a binary search in the cached, sorted scores of the child's municipality
and month for the percentile. Those population scores are computed once per (month,
municipality, hardship, model version) and kept in a small LRU; `reload()` warms the latest
month off the request path. They score the store's rows in place, without copying them (a model
that skips some store columns is given a copy of its trees renumbered to store positions), and
the child ids of a (month, municipality) are gathered once for every hardship.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

import lightgbm as lgb
import numpy as np

from features.catalogue.feature_catalogue import FeatureCatalogue, load_feature_catalogue
from models.hardships import load_hardship_registry
from service.scoring.champions import Champions, LoadedModel, ModelStatus
from service.scoring.explanations import ModelExplainer
from service.scoring.lookup import FeatureStore, FeatureStoreError
from service.scoring.payload import CheckedPayload, PayloadSchema, merged_category_maps
from service.scoring.single_row import SingleRowPredictor

__all__ = [
    "DEFAULT_BAND",
    "BandResolver",
    "ChildRow",
    "ChildScores",
    "EngineSettings",
    "HardshipScore",
    "ModelStatus",
    "NotReadyError",
    "PopulationScores",
    "ScoringEngine",
]

DEFAULT_BAND: Final = "high"
# Margins from pred_contrib (a sum of contributions) and from a plain prediction can differ in
# the last bits; without slack a child tied with others would count them all as "lower".
_TIE_SLACK: Final = 1e-12
_POPULATION_CACHE: Final = 128
# Child ids of a (month, municipality) population, shared by the populations of every hardship
# (a batch run scores them hardship by hardship, so this holds every municipality of a month).
_GROUP_CACHE: Final = 512
# Store rows on which a model rewritten to read the store's columns must score exactly as the
# model does on its own columns before the engine uses it.
_ALIGNED_CHECK_ROWS: Final = 2048
_SINGLE_THREAD_ROWS: Final = 64
# Requests of up to this many rows (one child, a what-if pair) are scored row by row through
# the FastConfig API, where LightGBM's per-call set-up would otherwise outweigh the trees.
_SINGLE_ROW_MAX_ROWS: Final = 8
# Store rows on which the single-row path must reproduce booster.predict exactly before use.
_SINGLE_ROW_CHECK_ROWS: Final = 512
_log = logging.getLogger(__name__)


class EngineSettings(Protocol):
    """What the engine reads from the service settings."""

    @property
    def features_dir(self) -> Path: ...

    @property
    def resolved_mlflow_tracking_uri(self) -> str: ...

    @property
    def over_influence_share(self) -> float: ...


class BandResolver(Protocol):
    """Bands of a threshold policy (service.thresholds.ThresholdResolver implements it)."""

    def band_for(
        self, hardship: str, municipality: str, probability: float, month: str
    ) -> str | None: ...


class NotReadyError(RuntimeError):
    """A hardship that has no model loaded; `reasons` says why per hardship."""

    def __init__(self, reasons: Mapping[str, str]) -> None:
        self.reasons = dict(reasons)
        super().__init__("; ".join(f"{h}: {r}" for h, r in self.reasons.items()))


@dataclass(frozen=True, eq=False)
class ChildRow:
    """One child's features at one month; `child_id` is None for a vendor's payload."""

    child_id: str | None
    month: str
    municipality: str
    values: np.ndarray  # float64 in the store's column order (catalogue order); NaN = missing
    already_supported: Mapping[str, bool] = field(default_factory=dict)
    missing: tuple[str, ...] = ()  # payload fields not sent


@dataclass(frozen=True)
class HardshipScore:
    hardship: str
    probability: float
    percentile: float | None  # % of the municipality's children that month scoring lower
    band: str | None
    already_supported: bool | None
    model_version: str
    explanation: dict[str, Any] | None = None


@dataclass(frozen=True)
class ChildScores:
    row: ChildRow
    scores: Mapping[str, HardshipScore]


@dataclass(frozen=True, eq=False)
class PopulationScores:
    """Every child of one municipality at one month, scored by one model version."""

    month: str
    municipality: str
    hardship: str
    model_version: str
    child_ids: np.ndarray  # object array of str
    probabilities: np.ndarray  # float64, aligned with child_ids
    already_supported: np.ndarray  # bool, aligned with child_ids
    sorted_probabilities: np.ndarray

    def __len__(self) -> int:
        return int(self.probabilities.shape[0])

    def percentile(self, probability: float) -> float | None:
        """Share (in %) of these children with a lower probability; None for no children."""
        n = self.sorted_probabilities.shape[0]
        if n == 0:
            return None
        below = int(self.sorted_probabilities.searchsorted(probability - _TIE_SLACK, "left"))
        return 100.0 * below / n


@dataclass(frozen=True, eq=False)
class _Model:
    """A champion prepared for this store: column positions, words for its features."""

    loaded: LoadedModel
    positions: np.ndarray
    explainer: ModelExplainer
    default_cut: float | None
    all_columns: bool  # the model reads every store column, in store order
    # The booster that scores the store's rows as they are, without gathering the model's
    # columns: the champion's own when it reads every column, else the same trees with their
    # feature indices rewritten to store positions (None if that cannot be built; then the
    # model's columns are gathered).
    store_booster: lgb.Booster | None = None
    # The booster's single-row path, checked equal to booster.predict (None: not available).
    single_row: SingleRowPredictor | None = None

    @property
    def version(self) -> str:
        return self.loaded.version


@dataclass(frozen=True, eq=False)
class _Serving:
    store: FeatureStore | None
    models: Mapping[str, _Model]
    statuses: Mapping[str, ModelStatus]
    payloads: PayloadSchema | None
    store_problem: str | None = None


class ScoringEngine:
    """Scores children with the champion of each hardship (see the module docstring)."""

    def __init__(
        self,
        champions: Champions,
        features_dir: Path,
        *,
        catalogue: FeatureCatalogue | None = None,
        over_influence_share: float = 0.5,
        band_resolver: BandResolver | None = None,
    ) -> None:
        self.champions = champions
        self.hardships: tuple[str, ...] = tuple(champions.hardships)
        self.features_dir = Path(features_dir)
        self.catalogue = catalogue or load_feature_catalogue()
        self.over_influence_share = over_influence_share
        self.band_resolver = band_resolver
        self._reload_lock = threading.Lock()
        self._cache_lock = threading.Lock()
        self._population: OrderedDict[tuple[Any, ...], PopulationScores] = OrderedDict()
        self._group_ids: OrderedDict[tuple[Any, ...], np.ndarray] = OrderedDict()
        self._serving = _Serving(
            store=None,
            models={},
            statuses=dict(champions.snapshot.statuses),
            payloads=None,
            store_problem="not loaded yet",
        )

    @classmethod
    def from_settings(cls, settings: EngineSettings, *, load: bool = True) -> ScoringEngine:
        """An engine on the settings' registry and feature store, loaded unless `load` is False."""
        champions = Champions(
            tracking_uri=settings.resolved_mlflow_tracking_uri,
            hardships=load_hardship_registry().ids,
        )
        engine = cls(
            champions,
            settings.features_dir,
            over_influence_share=settings.over_influence_share,
        )
        if load:
            engine.reload()
        return engine

    # -- state ------------------------------------------------------------------------------------

    def attach_band_resolver(self, resolver: BandResolver | None) -> None:
        self.band_resolver = resolver

    def status(self) -> dict[str, ModelStatus]:
        serving = self._serving
        if serving.store is None:
            reason = f"feature store: {serving.store_problem}"
            return {
                h: ModelStatus(h, False, s.version, reason) for h, s in serving.statuses.items()
            }
        return dict(serving.statuses)

    @property
    def ready(self) -> bool:
        return all(s.ready for s in self.status().values())

    def ready_hardships(self) -> tuple[str, ...]:
        serving = self._serving
        if serving.store is None:
            return ()
        return tuple(h for h in self.hardships if h in serving.models)

    def months(self) -> list[str]:
        store = self._serving.store
        return list(store.months) if store is not None else []

    @property
    def latest_month(self) -> str | None:
        store = self._serving.store
        return store.latest_month if store is not None else None

    def municipalities(self) -> tuple[str, ...]:
        store = self._serving.store
        return store.municipalities if store is not None else ()

    def model_version(self, hardship: str) -> str | None:
        model = self._serving.models.get(hardship)
        return model.version if model is not None else None

    def model_flags(self) -> dict[str, dict[str, Any]]:
        """Training's over-influence audit per loaded model."""
        return {
            h: {"model_version": m.version, **m.explainer.global_flags()}
            for h, m in self._serving.models.items()
        }

    # -- reload -----------------------------------------------------------------------------------

    def reload(self) -> dict[str, str]:
        """Pick up new champions and a rewritten feature store; blocking, so run it off-request."""
        with self._reload_lock:
            report = self.champions.reload()
            snapshot = self.champions.snapshot
            serving = self._serving
            maps = merged_category_maps(m.bundle.category_maps for m in snapshot.models.values())
            store, store_problem = serving.store, serving.store_problem
            if store is None or not store.is_current() or not store.compatible_with(maps):
                try:
                    store = FeatureStore.load(
                        self.features_dir, hardships=self.hardships, category_maps=maps
                    )
                    store_problem = None
                    report["features"] = (
                        f"loaded {store.n_rows:,} rows, {len(store.months)} months "
                        f"(latest {store.latest_month})"
                    )
                except (FeatureStoreError, OSError, ValueError) as error:
                    # Keep the copy in memory if there is one: stale features beat none.
                    store_problem = f"{type(error).__name__}: {error}"
                    report["features"] = f"cannot load: {store_problem}"
                    _log.warning("feature store: %s", store_problem)
            models: dict[str, _Model] = {}
            statuses = dict(snapshot.statuses)
            for hardship, loaded in snapshot.models.items():
                previous = serving.models.get(hardship)
                if (
                    previous is not None
                    and previous.loaded is loaded
                    and serving.store is store
                    and store is not None
                ):
                    models[hardship] = previous
                    continue
                if store is None:
                    continue
                try:
                    models[hardship] = self._prepare(loaded, store)
                except (FeatureStoreError, ValueError) as error:
                    statuses[hardship] = ModelStatus(
                        hardship, False, None, f"v{loaded.version} does not fit the store: {error}"
                    )
                    report[hardship] = statuses[hardship].reason or ""
            payloads = (
                PayloadSchema.build(self.catalogue, store.columns, store.category_maps)
                if store is not None
                else None
            )
            self._serving = _Serving(store, models, statuses, payloads, store_problem)
            self._drop_stale_populations()
        self._warm()
        return report

    def _prepare(self, loaded: LoadedModel, store: FeatureStore) -> _Model:
        bundle = loaded.bundle
        if not store.compatible_with(bundle.category_maps):
            raise ValueError("its category codes differ from the other models'")
        cut = bundle.metadata.get("threshold_at_capacity")
        positions = store.column_positions(bundle.feature_names)
        all_columns = bool(
            len(positions) == len(store.columns)
            and np.array_equal(positions, np.arange(len(positions)))
        )
        return _Model(
            loaded=loaded,
            positions=positions,
            all_columns=all_columns,
            explainer=ModelExplainer.build(
                bundle, self.catalogue, over_influence_share=self.over_influence_share
            ),
            default_cut=float(cut) if cut is not None else None,
            store_booster=bundle.booster
            if all_columns
            else _store_aligned_booster(bundle.booster, positions, store),
            single_row=SingleRowPredictor.build(
                bundle.booster, _sample_rows(store, _SINGLE_ROW_CHECK_ROWS)[:, positions]
            ),
        )

    def _drop_stale_populations(self) -> None:
        serving = self._serving
        live = {(h, m.version) for h, m in serving.models.items()}
        with self._cache_lock:
            for key in list(self._population):
                store_signature, _, _, hardship, version = key
                if store_signature != _signature(serving.store) or (hardship, version) not in live:
                    del self._population[key]
            for key in list(self._group_ids):
                if key[0] != _signature(serving.store):
                    del self._group_ids[key]

    def _warm(self) -> None:
        """Score the latest month for every municipality, so first requests find it cached."""
        serving = self._serving
        store = serving.store
        if store is None or store.latest_month is None:
            return
        for hardship in serving.models:
            for municipality in store.municipalities:
                self._population_of(serving, store.latest_month, municipality, hardship)

    # -- rows -------------------------------------------------------------------------------------

    def feature_row(self, child_id: str, month: str | None = None) -> ChildRow | None:
        """The stored row of a child at `month` (default: the latest), or None if absent."""
        store = self._serving.store
        if store is None:
            return None
        month = month or store.latest_month
        if month is None:
            return None
        index = store.row_index(child_id, month)
        if index is None:
            return None
        return ChildRow(
            child_id=child_id,
            month=month,
            municipality=store.municipality_of(index),
            values=store.values[index].astype(np.float64),
            already_supported={h: bool(a[index]) for h, a in store.supported.items()},
        )

    def payload_schema(self) -> PayloadSchema:
        payloads = self._serving.payloads
        if payloads is None:
            raise NotReadyError({"features": self._serving.store_problem or "not loaded"})
        return payloads

    def payload_row(
        self,
        municipality: str,
        features: Mapping[str, Any],
        month: str | None = None,
        *,
        where: str = "features",
    ) -> ChildRow:
        """A vendor's features as a row; raises PayloadError naming a bad field."""
        checked: CheckedPayload = self.payload_schema().check(features, where=where)
        return ChildRow(
            child_id=None,
            month=month or self.latest_month or "",
            municipality=municipality,
            values=checked.row,
            missing=checked.missing,
        )

    def changed_row(
        self, row: ChildRow, changes: Mapping[str, Any], *, where: str = "changes"
    ) -> ChildRow:
        """`row` with validated `changes` applied (for what-if); the original is untouched."""
        values = self.payload_schema().apply(row.values, changes, where=where)
        return ChildRow(
            child_id=row.child_id,
            month=row.month,
            municipality=row.municipality,
            values=values,
            already_supported=row.already_supported,
            missing=row.missing,
        )

    # -- scoring ----------------------------------------------------------------------------------

    def score(
        self,
        rows: Sequence[ChildRow],
        hardships: Sequence[str] | None = None,
        explain: bool = False,
        top_k: int = 5,
    ) -> list[ChildScores]:
        """Scores of every row for each hardship (default: every hardship with a model).

        Raises NotReadyError when a hardship asked for by name has no model.
        """
        serving = self._serving
        wanted = tuple(hardships) if hardships is not None else tuple(serving.models)
        absent = {h: self._reason(serving, h) for h in wanted if h not in serving.models}
        if absent or (wanted and serving.store is None):
            raise NotReadyError(absent or {"features": serving.store_problem or "not loaded"})
        if not rows:
            return []
        matrix = np.vstack([row.values for row in rows])
        # Few rows: one thread, so a request never waits for an OpenMP sibling thread that a
        # busy machine has descheduled; many rows: LightGBM's threads pay off.
        threads: dict[str, Any] = {"num_threads": 1} if len(rows) <= _SINGLE_THREAD_ROWS else {}
        results: list[dict[str, HardshipScore]] = [{} for _ in rows]
        for hardship in wanted:
            model = serving.models[hardship]
            bundle = model.loaded.bundle
            x = matrix[:, model.positions]
            single_row = model.single_row if len(rows) <= _SINGLE_ROW_MAX_ROWS else None
            explanations: list[dict[str, Any]] | None = None
            if explain:
                if single_row is not None:
                    contributions = np.empty((len(rows), x.shape[1] + 1))
                    for i in range(len(rows)):
                        single_row.contributions_into(x[i], contributions[i])
                else:
                    contributions = np.asarray(
                        bundle.booster.predict(x, pred_contrib=True, **threads)
                    )
                # The contributions sum to the margin: the score needs no second prediction.
                margins = contributions.sum(axis=1)
                explanations = model.explainer.explain_many(contributions, x, top_k)
            elif single_row is not None:
                margins = np.array([single_row.margin(x[i]) for i in range(len(rows))])
            else:
                margins = np.asarray(bundle.booster.predict(x, raw_score=True, **threads))
            probabilities = bundle.calibrator.apply(margins).tolist()
            populations: dict[tuple[str, str], PopulationScores | None] = {}
            for i, row in enumerate(rows):
                probability = probabilities[i]
                place = (row.month, row.municipality)
                if place not in populations:
                    populations[place] = self._population_of(
                        serving, row.month, row.municipality, hardship
                    )
                population = populations[place]
                results[i][hardship] = HardshipScore(
                    hardship=hardship,
                    probability=probability,
                    percentile=population.percentile(probability)
                    if population is not None
                    else None,
                    band=self._band(model, hardship, row, probability),
                    already_supported=row.already_supported.get(hardship)
                    if row.child_id is not None
                    else None,
                    model_version=model.version,
                    explanation=explanations[i] if explanations is not None else None,
                )
        return [ChildScores(row, scores) for row, scores in zip(rows, results, strict=True)]

    def _band(self, model: _Model, hardship: str, row: ChildRow, probability: float) -> str | None:
        resolver = self.band_resolver
        if resolver is not None:
            try:
                return resolver.band_for(hardship, row.municipality, probability, row.month)
            except ValueError as error:
                # A policy that cannot be resolved (no validation data for a recall target)
                # must not withhold the score itself; the band stays empty and the log says why.
                _log.warning("no band for %s in %s: %s", hardship, row.municipality, error)
                return None
        if model.default_cut is None:
            return None
        return DEFAULT_BAND if probability >= model.default_cut else None

    @staticmethod
    def _reason(serving: _Serving, hardship: str) -> str:
        status = serving.statuses.get(hardship)
        if status is None:
            return "unknown hardship"
        return status.reason or "no model loaded"

    # -- populations ------------------------------------------------------------------------------

    def clear_population_cache(self) -> None:
        """Forget cached population scores (benchmarks time them cold)."""
        with self._cache_lock:
            self._population.clear()
            self._group_ids.clear()

    def population(self, month: str, municipality: str, hardship: str) -> PopulationScores:
        """Scores of every child of `municipality` at `month` by the serving `hardship` model."""
        serving = self._serving
        if hardship not in serving.models or serving.store is None:
            raise NotReadyError({hardship: self._reason(serving, hardship)})
        population = self._population_of(serving, month, municipality, hardship)
        assert population is not None
        return population

    def _population_of(
        self, serving: _Serving, month: str, municipality: str, hardship: str
    ) -> PopulationScores | None:
        store = serving.store
        model = serving.models.get(hardship)
        if store is None or model is None:
            return None
        key = (_signature(store), month, municipality, hardship, model.version)
        with self._cache_lock:
            cached = self._population.get(key)
            if cached is not None:
                self._population.move_to_end(key)
                return cached
        # Computed outside the lock: two requests may both compute a cold key, which is cheaper
        # than making every request wait behind one computation.
        rows = store.group_slice(month, municipality)
        bundle = model.loaded.bundle
        if rows.stop > rows.start:
            # The store's rows as they are (a view: rows are grouped by month and municipality),
            # float32 as stored: LightGBM widens each value to double itself, exactly, so the
            # scores equal those of the model's float64 columns without a copy of the population.
            block = store.values[rows]
            if model.store_booster is not None:
                margins = np.asarray(model.store_booster.predict(block, raw_score=True))
            else:
                x = np.take(block, model.positions, axis=1)
                margins = np.asarray(bundle.booster.predict(x, raw_score=True))
            probabilities = bundle.calibrator.apply(margins)
        else:
            probabilities = np.empty(0, dtype=np.float64)
        supported = store.supported.get(hardship)
        population = PopulationScores(
            month=month,
            municipality=municipality,
            hardship=hardship,
            model_version=model.version,
            child_ids=self._child_ids(store, month, municipality, rows),
            probabilities=probabilities,
            already_supported=supported[rows]
            if supported is not None
            else np.zeros(len(probabilities), dtype=bool),
            sorted_probabilities=np.sort(probabilities),
        )
        with self._cache_lock:
            self._population[key] = population
            while len(self._population) > _POPULATION_CACHE:
                self._population.popitem(last=False)
        return population

    def _child_ids(
        self, store: FeatureStore, month: str, municipality: str, rows: slice
    ) -> np.ndarray:
        """Ids of the children in `rows`, gathered once for the populations of every hardship."""
        key = (_signature(store), month, municipality)
        with self._cache_lock:
            ids = self._group_ids.get(key)
            if ids is not None:
                self._group_ids.move_to_end(key)
                return ids
        ids = store.child_id_array[store.row_child[rows]]
        ids.setflags(write=False)  # shared by several PopulationScores
        with self._cache_lock:
            self._group_ids[key] = ids
            while len(self._group_ids) > _GROUP_CACHE:
                self._group_ids.popitem(last=False)
        return ids


def _signature(store: FeatureStore | None) -> object:
    return None if store is None else (id(store), store.signature)


def _sample_rows(store: FeatureStore, count: int) -> np.ndarray:
    """Up to `count` store rows spread evenly over the store, float32 as stored."""
    n = store.n_rows
    sample = np.unique(np.linspace(0, n - 1, min(n, count)).astype(np.intp))
    return store.values[sample]


def _store_aligned_booster(
    booster: lgb.Booster, positions: np.ndarray, store: FeatureStore
) -> lgb.Booster | None:
    """`booster` reading the store's rows as they are: feature i becomes column positions[i].

    The trees, thresholds and leaf values are untouched; only the split features' indices are
    renumbered, and the columns the model does not use are declared unused. A model whose
    rewritten copy does not score store rows exactly as the model scores its own columns
    (checked on a sample of rows) gets None, and its columns are gathered instead.
    """
    width = len(store.columns)
    try:
        aligned = lgb.Booster(
            model_str=_renumbered_model(booster.model_to_string(), positions, width)
        )
        if aligned.num_trees() != booster.num_trees() or aligned.num_feature() != width:
            raise ValueError("the rewritten model has other trees or features")
        rows = _sample_rows(store, _ALIGNED_CHECK_ROWS)
        expected = booster.predict(
            rows[:, positions].astype(np.float64), raw_score=True, num_threads=1
        )
        got = aligned.predict(rows, raw_score=True, num_threads=1)
        if not np.array_equal(np.asarray(expected), np.asarray(got)):
            raise ValueError("the rewritten model scores store rows differently")
    except (lgb.basic.LightGBMError, ValueError, IndexError) as error:
        _log.warning("model columns gathered per population (no store-aligned copy): %s", error)
        return None
    return aligned


def _renumbered_model(text: str, positions: np.ndarray, width: int) -> str:
    """LightGBM model text whose feature i is feature positions[i] of `width` features."""
    used = set(positions.tolist())
    names = [f"unused_store_column_{j}" if j not in used else "" for j in range(width)]
    infos = ["none"] * width
    rewritten: list[str] = []
    for line in text.split("\n"):
        key, sep, value = line.partition("=")
        if not sep:
            rewritten.append(line)
        elif key == "max_feature_idx":
            if int(value) + 1 != len(positions):
                raise ValueError(f"the model has {int(value) + 1} features, not {len(positions)}")
            rewritten.append(f"max_feature_idx={width - 1}")
        elif key in ("feature_names", "feature_infos"):
            target = names if key == "feature_names" else infos
            own = value.split(" ")
            if len(own) != len(positions):
                raise ValueError(f"the model's {key} do not match its features")
            for i, item in enumerate(own):
                target[int(positions[i])] = item
            rewritten.append(f"{key}={' '.join(target)}")
        elif key == "tree_sizes":
            continue  # the renumbered trees have other sizes; LightGBM then reads them in turn
        elif key == "split_feature":
            features = [str(int(positions[int(f)])) for f in value.split(" ") if f]
            rewritten.append(f"split_feature={' '.join(features)}")
        elif key == "is_linear" and value.strip() != "0":
            raise ValueError("linear leaves name features too; not rewritten")
        else:
            rewritten.append(line)
    return "\n".join(rewritten)
