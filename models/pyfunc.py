"""The bundle as an MLflow model: a custom pyfunc that serves scores and contributions.

    info = log_bundle(bundle, input_example=rows[:5])          # inside an active run
    bundle = load_bundle("models:/mimamori-abuse@champion", tracking_uri)

MLflow's LightGBM flavour cannot infer a signature or predict from JSON for a booster trained on
pandas category columns, and its pyfunc ignores `pred_contrib`. This pyfunc takes numpy rows
(float64, categories as codes, NaN for missing), so `mlflow models serve` answers
`{"inputs": [[...]], "params": {"contributions": true}}` with a score per row and, when asked,
the contributions. The bundle files travel as a model artifact; the code travels with
`code_paths` and the pyfunc is built by models/mlflow_model.py (models from code), so the model
holds no pickle and loads wherever numpy, pandas, lightgbm and mlflow are installed.

Only code that logs or loads MLflow models imports this module (it imports mlflow).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any, Final

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.pyfunc import PythonModel
from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema, TensorSpec

from models.bundle import ModelBundle

__all__ = [
    "BASE_COLUMN",
    "BUNDLE_ARTIFACT",
    "BundlePythonModel",
    "bundle_signature",
    "contribution_column",
    "load_bundle",
    "log_bundle",
    "save_bundle_model",
    "tracking",
]

BUNDLE_ARTIFACT: Final = "bundle"
BASE_COLUMN: Final = "base_log_odds"
_REQUIREMENTS: Final = ("lightgbm", "numpy", "pandas")


def contribution_column(feature: str) -> str:
    # A prefix keeps a feature that happens to be called "score" from colliding with outputs.
    return f"contrib_{feature}"


class BundlePythonModel(PythonModel):
    """Scores numpy rows with a `ModelBundle`; `params={"contributions": True}` adds SHAP."""

    def __init__(self) -> None:
        # Stateless when pickled: the bundle is read from the model's artifacts at load time.
        self._bundle: ModelBundle | None = None

    def load_context(self, context: Any) -> None:
        self._bundle = ModelBundle.load(context.artifacts[BUNDLE_ARTIFACT])

    @property
    def bundle(self) -> ModelBundle:
        if self._bundle is None:
            raise RuntimeError("the model's context has not been loaded")
        return self._bundle

    def predict(
        self, context: Any, model_input: np.ndarray, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        bundle = self.bundle
        rows = _as_rows(model_input, bundle)
        margin = bundle.margin(rows)
        columns: dict[str, np.ndarray] = {
            "score": bundle.calibrator.apply(margin),
            "log_odds": margin,
        }
        if params and bool(params.get("contributions", False)):
            contributions = bundle.contributions(rows)
            for j, name in enumerate(bundle.feature_names):
                columns[contribution_column(name)] = contributions[:, j]
            columns[BASE_COLUMN] = contributions[:, -1]
        return pd.DataFrame(columns)


def _as_rows(model_input: Any, bundle: ModelBundle) -> np.ndarray | pd.DataFrame:
    if isinstance(model_input, pd.DataFrame):
        return model_input
    if isinstance(model_input, dict):
        # A single named tensor arrives as a dict when a client names it.
        (model_input,) = model_input.values()
    rows = np.asarray(model_input, dtype=np.float64)
    return rows.reshape(1, -1) if rows.ndim == 1 else rows


def bundle_signature(bundle: ModelBundle) -> ModelSignature:
    outputs: list[ColSpec | TensorSpec] = [
        ColSpec("double", "score"),
        ColSpec("double", "log_odds"),
    ]
    outputs += [
        ColSpec("double", contribution_column(n), required=False) for n in bundle.feature_names
    ]
    outputs.append(ColSpec("double", BASE_COLUMN, required=False))
    return ModelSignature(
        inputs=Schema([TensorSpec(np.dtype(np.float64), (-1, bundle.n_features))]),
        outputs=Schema(outputs),
        params=ParamSchema([ParamSpec("contributions", "boolean", False)]),
    )


def _requirements() -> list[str]:
    pins = []
    for package in _REQUIREMENTS:
        try:
            pins.append(f"{package}=={metadata.version(package)}")
        except metadata.PackageNotFoundError:
            pins.append(package)
    return pins


def _model_arguments(bundle: ModelBundle, input_example: np.ndarray, folder: Path) -> dict:
    return {
        # A file, not an object: MLflow runs it at load time, so nothing is pickled.
        "python_model": str(Path(__file__).resolve().with_name("mlflow_model.py")),
        "artifacts": {BUNDLE_ARTIFACT: str(bundle.save(folder / BUNDLE_ARTIFACT))},
        "code_paths": [str(Path(__file__).resolve().parent)],
        "signature": bundle_signature(bundle),
        "input_example": np.asarray(input_example, dtype=np.float64),
        "pip_requirements": _requirements(),
        "metadata": {
            "feature_names": list(bundle.feature_names),
            "hardship": bundle.metadata.get("hardship"),
        },
    }


def log_bundle(
    bundle: ModelBundle, *, input_example: np.ndarray, name: str = "model"
) -> mlflow.models.model.ModelInfo:
    """Log the bundle as a pyfunc model in the active run."""
    with tempfile.TemporaryDirectory(prefix="mimamori-bundle-") as scratch:
        arguments = _model_arguments(bundle, input_example, Path(scratch))
        return mlflow.pyfunc.log_model(name=name, **arguments)


def save_bundle_model(bundle: ModelBundle, path: str | Path, *, input_example: np.ndarray) -> Path:
    """Write the bundle as a pyfunc model folder (no tracking store), e.g. for a handover."""
    with tempfile.TemporaryDirectory(prefix="mimamori-bundle-") as scratch:
        arguments = _model_arguments(bundle, input_example, Path(scratch))
        mlflow.pyfunc.save_model(path=str(path), **arguments)
    return Path(path)


def load_bundle(model_uri: str, tracking_uri: str | None = None) -> ModelBundle:
    """The bundle of a logged model, e.g. `models:/mimamori-abuse@champion`, without pyfunc."""
    with tracking(tracking_uri), tempfile.TemporaryDirectory(prefix="mimamori-load-") as scratch:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=f"{model_uri.rstrip('/')}/artifacts/{BUNDLE_ARTIFACT}", dst_path=scratch
        )
        return ModelBundle.load(local)


@contextlib.contextmanager
def tracking(uri: str | None) -> Iterator[None]:
    """Point MLflow's fluent API at `uri` for a block, then restore what was there."""
    if uri is None:
        yield
        return
    previous_tracking = mlflow.get_tracking_uri()
    previous_registry = mlflow.get_registry_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous_tracking)
        mlflow.set_registry_uri(previous_registry)
