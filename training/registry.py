"""The model registry side of training: challengers in, champions by gate.

    decision = promote("abuse", tracking_uri, gates)

Every training registers a new version per hardship with the alias `challenger`, tagged with
its test metrics and with the then-champion's metrics on the same test rows. `promote` moves
the alias `champion` to the challenger only when the gates pass: its calibration error is in
bound and, if there is a champion, it is not worse than the champion on that same test period
beyond the tolerances. The decision and its reasons are written as version tags either way.

The service loads `models:/mimamori-<hardship>@champion` (models.pyfunc.load_bundle).
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlparse

from models.hardships import load_hardship_registry, registered_model_name
from training.config import PromotionGates

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from models.bundle import ModelBundle

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "Champion",
    "PromotionDecision",
    "PromotionError",
    "TrackingUnavailableError",
    "check_tracking_uri",
    "current_champions",
    "default_artifact_location",
    "promote",
    "register_challenger",
]

CHALLENGER: Final = "challenger"
CHAMPION: Final = "champion"
_PROBE_TIMEOUT_SECONDS: Final = 5.0


class TrackingUnavailableError(RuntimeError):
    """The MLflow tracking store cannot be reached or opened."""


class PromotionError(RuntimeError):
    """Promotion cannot be decided (no registered model, no challenger)."""


def _client(tracking_uri: str) -> MlflowClient:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def default_artifact_location(tracking_uri: str) -> str | None:
    """Beside a SQLite store: <folder of mlflow.db>/mlartifacts, so nothing lands in the cwd."""
    parsed = urlparse(tracking_uri)
    if parsed.scheme != "sqlite":
        return None
    database = Path(tracking_uri.removeprefix("sqlite:///")).expanduser()
    return (database.resolve().parent / "mlartifacts").as_uri()


def check_tracking_uri(tracking_uri: str) -> None:
    """Fail fast, with a clear message, when the tracking store cannot be used.

    An HTTP store is probed with one short request (MLflow's own client would retry for
    minutes); any store is then asked for one experiment.
    """
    parsed = urlparse(tracking_uri)
    if parsed.scheme in ("http", "https"):
        probe = tracking_uri.rstrip("/") + "/health"
        try:
            with urllib.request.urlopen(probe, timeout=_PROBE_TIMEOUT_SECONDS):
                pass
        except urllib.error.HTTPError:
            pass  # the server answered; a proxy may simply not route /health
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            raise TrackingUnavailableError(
                f"cannot reach the MLflow tracking server at {tracking_uri}: {error}"
            ) from None
    elif parsed.scheme == "sqlite":
        database = Path(tracking_uri.removeprefix("sqlite:///")).expanduser()
        try:
            database.resolve().parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise TrackingUnavailableError(
                f"cannot create the folder of the MLflow database {database}: {error}"
            ) from None
    try:
        _client(tracking_uri).search_experiments(max_results=1)
    except Exception as error:
        raise TrackingUnavailableError(
            f"cannot use the MLflow tracking store at {tracking_uri}: {error}"
        ) from None


def _version_by_alias(client: MlflowClient, name: str, alias: str) -> Any | None:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as error:
        if error.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            return None
        raise


@dataclass(frozen=True)
class Champion:
    """The current champion of a hardship; `bundle` is None when it could not be loaded."""

    version: str
    bundle: ModelBundle | None
    problem: str = ""


def current_champions(tracking_uri: str, hardships: Sequence[str]) -> dict[str, Champion]:
    """The champion of each hardship that has one (read only)."""
    from models.pyfunc import load_bundle

    client = _client(tracking_uri)
    champions = {}
    for hardship in hardships:
        name = registered_model_name(hardship)
        version = _version_by_alias(client, name, CHAMPION)
        if version is None:
            continue
        try:
            bundle = load_bundle(f"models:/{name}/{version.version}", tracking_uri)
        except Exception as error:  # a broken champion must not stop training
            champions[hardship] = Champion(str(version.version), None, f"cannot load it: {error}")
        else:
            champions[hardship] = Champion(str(version.version), bundle)
    return champions


def register_challenger(
    tracking_uri: str,
    hardship: str,
    model_uri: str,
    *,
    run_id: str,
    tags: Mapping[str, str],
    description: str,
) -> str:
    """A new version of the hardship's registered model, aliased `challenger`."""
    from mlflow.exceptions import MlflowException

    client = _client(tracking_uri)
    name = registered_model_name(hardship)
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, description=description, tags={"hardship": hardship})
    import mlflow

    from models.pyfunc import tracking

    with tracking(tracking_uri):
        version = mlflow.register_model(model_uri, name, tags=dict(tags))
    client.update_model_version(name, str(version.version), description=description)
    client.set_model_version_tag(name, str(version.version), "run_id", run_id)
    client.set_registered_model_alias(name, CHALLENGER, str(version.version))
    return str(version.version)


@dataclass(frozen=True)
class PromotionDecision:
    hardship: str
    model_name: str
    challenger_version: str
    champion_before: str | None
    promoted: bool
    reasons: tuple[str, ...]
    checks: dict[str, bool] = field(default_factory=dict)

    @property
    def champion_after(self) -> str | None:
        return self.challenger_version if self.promoted else self.champion_before

    def rows(self) -> list[tuple[str, str]]:
        rows = [
            ("model", self.model_name),
            ("challenger", f"v{self.challenger_version}"),
            ("champion before", f"v{self.champion_before}" if self.champion_before else "none"),
            ("decision", "promoted" if self.promoted else "kept the champion"),
        ]
        rows += [(f"check: {name}", "pass" if ok else "FAIL") for name, ok in self.checks.items()]
        rows += [("reason", reason) for reason in self.reasons]
        return rows


def _number(tags: Mapping[str, str], key: str) -> float:
    try:
        return float(tags[key])
    except (KeyError, ValueError):
        return math.nan


def _judge(
    tags: Mapping[str, str], champion: str | None, gates: PromotionGates
) -> tuple[dict[str, bool], list[str]]:
    checks: dict[str, bool] = {}
    reasons: list[str] = []
    ece = _number(tags, "test.ece")
    checks["calibration"] = ece <= gates.max_ece
    reasons.append(
        f"test ECE {ece:.4f} {'within' if checks['calibration'] else 'above'} the bound "
        f"{gates.max_ece}"
    )
    if champion is None:
        reasons.append("no champion yet: the calibration gate alone decides")
        return checks, reasons
    compared = tags.get("champion.version")
    checks["same_champion"] = compared == champion
    if not checks["same_champion"]:
        reasons.append(
            f"the challenger was compared with {'v' + compared if compared else 'no champion'}, "
            f"but the champion is now v{champion}: retrain to compare on the same test period"
        )
        return checks, reasons
    checks["comparable"] = tags.get("champion.comparable") == "true"
    if not checks["comparable"]:
        reasons.append(
            "the champion could not be scored on the challenger's test period: "
            + tags.get("champion.reason", "no reason recorded")
        )
        return checks, reasons
    for metric, tolerance in (
        ("roc_auc", gates.roc_auc_tolerance),
        ("recall_at_capacity", gates.recall_tolerance),
    ):
        mine, theirs = _number(tags, f"test.{metric}"), _number(tags, f"champion.{metric}")
        checks[metric] = mine >= theirs - tolerance
        reasons.append(
            f"{metric} {mine:.4f} vs champion v{champion} {theirs:.4f} on the same test period "
            f"(tolerance {tolerance}): {'not worse' if checks[metric] else 'worse'}"
            + _noise(tags, metric)
        )
    return checks, reasons


def _noise(tags: Mapping[str, str], metric: str) -> str:
    """The difference's 95 % interval over resamples of the test children, in words: a
    data scientist reads whether the gate decided on the models or on the test period's luck.
    The gate itself stays the configured tolerance."""
    low = _number(tags, f"champion.{metric}_difference_low")
    high = _number(tags, f"champion.{metric}_difference_high")
    if math.isnan(low) or math.isnan(high):
        return ""
    if low > 0:
        verdict = "better beyond this test period's noise"
    elif high < 0:
        verdict = "worse beyond this test period's noise"
    else:
        verdict = "within this test period's noise"
    return f"; difference 95 % interval {low:+.4f} to {high:+.4f}, {verdict}"


def promote(
    hardship: str, tracking_uri: str, gates: PromotionGates | None = None
) -> PromotionDecision:
    """Move `champion` to the challenger if it passes the gates; tag the decision either way.

    `gates` defaults to the packaged training config's.
    """
    hardship_id = load_hardship_registry().get(hardship).id
    if gates is None:
        from training.config import load_training_config

        gates = load_training_config().gates
    check_tracking_uri(tracking_uri)
    client = _client(tracking_uri)
    name = registered_model_name(hardship_id)
    challenger = _version_by_alias(client, name, CHALLENGER)
    if challenger is None:
        raise PromotionError(f"{name} has no challenger version: run `mimamori train` first")
    champion = _version_by_alias(client, name, CHAMPION)
    champion_version = str(champion.version) if champion is not None else None
    version = str(challenger.version)
    if champion_version == version:
        return PromotionDecision(
            hardship_id, name, version, champion_version, False, ("already the champion",)
        )
    checks, reasons = _judge(dict(challenger.tags), champion_version, gates)
    promoted = all(checks.values())
    now = datetime.now(UTC).isoformat(timespec="seconds")
    decision_tags = {
        "promotion.decision": "promoted" if promoted else "rejected",
        "promotion.reasons": json.dumps(reasons, ensure_ascii=False),
        "promotion.checks": json.dumps(checks),
        "promotion.gates": gates.model_dump_json(),
        "promotion.champion_before": champion_version or "none",
        "promotion.decided_at": now,
    }
    for key, value in decision_tags.items():
        client.set_model_version_tag(name, version, key, value)
    if promoted:
        client.set_registered_model_alias(name, CHAMPION, version)
        client.delete_registered_model_alias(name, CHALLENGER)
        if champion_version is not None:
            client.set_model_version_tag(name, champion_version, "promotion.replaced_by", version)
            client.set_model_version_tag(name, champion_version, "promotion.replaced_at", now)
    return PromotionDecision(
        hardship=hardship_id,
        model_name=name,
        challenger_version=version,
        champion_before=champion_version,
        promoted=promoted,
        reasons=tuple(reasons),
        checks=checks,
    )
