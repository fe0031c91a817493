"""The champion model of each hardship, loaded from the MLflow registry and swapped atomically.

    champions = Champions(tracking_uri, hardships)
    champions.reload()                 # {"abuse": "loaded v3", "poverty": "unchanged v2", ...}
    snapshot = champions.snapshot      # immutable; a request keeps the one it started with

Reloading asks the registry for each alias (one cheap call per hardship) and downloads only
the versions that changed. The version the alias names is loaded as `models:/<name>/<version>`
rather than through the alias again, so an alias that moves during the download cannot mix
two versions up. A version that cannot be loaded (artifact missing or corrupt, registry down)
leaves the previous one serving; the hardship is reported not ready only when nothing is
loaded for it, with the reason. A failed version is retried after `retry_after_seconds`, not
on every reload, so a broken artifact does not cost a download every interval.

The registry is only touched here and only from `reload()`, which the app runs in a
background thread; requests read `snapshot`, a plain attribute read.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from models.bundle import ModelBundle
from models.hardships import registered_model_name

__all__ = [
    "CHAMPION_ALIAS",
    "AliasLookup",
    "BundleLoader",
    "ChampionSnapshot",
    "Champions",
    "LoadedModel",
    "ModelStatus",
]

CHAMPION_ALIAS: Final = "champion"
_log = logging.getLogger(__name__)

# (registered model name, alias) -> version, or None when the alias is not set.
AliasLookup = Callable[[str, str], str | None]
# (model URI) -> bundle; raises when the artifact cannot be read.
BundleLoader = Callable[[str], ModelBundle]


@dataclass(frozen=True)
class ModelStatus:
    hardship: str
    ready: bool
    version: str | None
    reason: str | None


@dataclass(frozen=True, eq=False)
class LoadedModel:
    hardship: str
    version: str
    model_uri: str
    bundle: ModelBundle
    loaded_at: float


@dataclass(frozen=True)
class ChampionSnapshot:
    """The models serving at one moment; never mutated, replaced whole on reload."""

    models: Mapping[str, LoadedModel]
    statuses: Mapping[str, ModelStatus]
    generation: int = 0

    def get(self, hardship: str) -> LoadedModel | None:
        return self.models.get(hardship)


@dataclass
class _Failure:
    version: str
    reason: str
    at: float


@dataclass
class Champions:
    """Champion bundles per hardship, reloaded from the registry on demand."""

    tracking_uri: str
    hardships: Sequence[str]
    alias: str = CHAMPION_ALIAS
    retry_after_seconds: float = 300.0
    lookup: AliasLookup | None = None
    loader: BundleLoader | None = None
    _snapshot: ChampionSnapshot = field(init=False)
    _failures: dict[str, _Failure] = field(init=False, default_factory=dict)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.hardships = tuple(self.hardships)
        self._snapshot = ChampionSnapshot(
            models=MappingProxyType({}),
            statuses=MappingProxyType(
                {h: ModelStatus(h, False, None, "not loaded yet") for h in self.hardships}
            ),
        )

    @property
    def snapshot(self) -> ChampionSnapshot:
        return self._snapshot

    def reload(self, *, force_retry: bool = False) -> dict[str, str]:
        """Check every alias, load what changed, swap in a new snapshot; one line per hardship."""
        with self._lock:  # two overlapping reloads would race to swap their snapshots
            return self._reload(force_retry)

    def _reload(self, force_retry: bool) -> dict[str, str]:
        current = self._snapshot
        models = dict(current.models)
        statuses: dict[str, ModelStatus] = {}
        report: dict[str, str] = {}
        for hardship in self.hardships:
            serving = models.get(hardship)
            name = registered_model_name(hardship)
            try:
                wanted = self._lookup(name, self.alias)
            except Exception as error:
                reason = f"the model registry cannot be read: {_short(error)}"
                report[hardship] = reason
                statuses[hardship] = _status(hardship, serving, reason)
                continue
            if wanted is None:
                reason = f"{name} has no {self.alias!r} alias in the registry"
                report[hardship] = (
                    reason if serving is None else f"{reason}; keeps v{serving.version}"
                )
                statuses[hardship] = _status(hardship, serving, reason)
                continue
            if serving is not None and serving.version == wanted:
                self._failures.pop(hardship, None)
                report[hardship] = f"unchanged v{wanted}"
                statuses[hardship] = _status(hardship, serving, None)
                continue
            failure = self._failures.get(hardship)
            if (
                failure is not None
                and failure.version == wanted
                and not force_retry
                and time.monotonic() - failure.at < self.retry_after_seconds
            ):
                report[hardship] = f"v{wanted} failed to load before; {failure.reason}"
                statuses[hardship] = _status(hardship, serving, failure.reason)
                continue
            uri = f"models:/{name}/{wanted}"
            try:
                bundle = self._load(uri)
                _check(bundle, hardship)
            except Exception as error:
                reason = f"v{wanted} could not be loaded: {_short(error)}"
                _log.warning("champion %s: %s", hardship, reason)
                self._failures[hardship] = _Failure(wanted, reason, time.monotonic())
                kept = f"; keeps v{serving.version}" if serving is not None else ""
                report[hardship] = reason + kept
                statuses[hardship] = _status(hardship, serving, reason)
                continue
            self._failures.pop(hardship, None)
            models[hardship] = LoadedModel(hardship, wanted, uri, bundle, time.time())
            before = f" (was v{serving.version})" if serving is not None else ""
            report[hardship] = f"loaded v{wanted}{before}"
            statuses[hardship] = _status(hardship, models[hardship], None)
        self._snapshot = ChampionSnapshot(
            models=MappingProxyType(models),
            statuses=MappingProxyType(statuses),
            generation=current.generation + 1,
        )
        return report

    def _lookup(self, name: str, alias: str) -> str | None:
        if self.lookup is not None:
            return self.lookup(name, alias)
        return registry_alias(self.tracking_uri, name, alias)

    def _load(self, uri: str) -> ModelBundle:
        if self.loader is not None:
            return self.loader(uri)
        from models.pyfunc import load_bundle

        return load_bundle(uri, self.tracking_uri)


def registry_alias(tracking_uri: str, name: str, alias: str) -> str | None:
    """The version an alias points at, or None when the model or the alias does not exist."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        version = client.get_model_version_by_alias(name, alias)
    except MlflowException as error:
        if error.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            return None
        raise
    return str(version.version)


def _check(bundle: ModelBundle, hardship: str) -> None:
    # A bundle registered under the wrong name would score one hardship with another's model.
    declared = bundle.metadata.get("hardship")
    if declared is not None and declared != hardship:
        raise ValueError(f"the bundle says it is a {declared!r} model")


def _status(hardship: str, serving: LoadedModel | None, problem: str | None) -> ModelStatus:
    if serving is None:
        return ModelStatus(hardship, False, None, problem or "no model loaded")
    return ModelStatus(hardship, True, serving.version, problem)


def _short(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(error).__name__}: {first}"[:300]
