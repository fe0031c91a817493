"""A model bundle: everything needed to turn feature rows into calibrated scores and explanations.

    bundle = ModelBundle.load(directory)
    rows = bundle.encode(features_frame)        # float64 matrix in the model's column order
    bundle.score(rows)                          # calibrated probabilities
    bundle.contributions(rows)                  # TreeSHAP values in log-odds, bias last

The booster is trained on a plain float64 matrix in which categorical columns hold integer codes
given by `category_maps`; the bundle does that encoding itself. That sidesteps two faults of
MLflow's LightGBM flavour with pandas category columns (no signature inferred, no predicting
from JSON) and keeps scoring a numpy operation, which the service needs for speed.

On disk a bundle is a folder with `model.txt` (LightGBM's text format, stable across versions)
and `bundle.json` (feature names, category maps, calibrator, metadata). No pickles.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import lightgbm as lgb
import numpy as np
import pandas as pd

__all__ = [
    "BUNDLE_FILE",
    "BUNDLE_FORMAT",
    "MODEL_FILE",
    "BundleError",
    "Calibrator",
    "ModelBundle",
    "category_maps_of",
    "encode_features",
]

MODEL_FILE: Final = "model.txt"
BUNDLE_FILE: Final = "bundle.json"
BUNDLE_FORMAT: Final = 1

CalibrationMethod = Literal["platt", "isotonic", "identity"]


class BundleError(ValueError):
    """Rows or a bundle folder that do not fit the model."""


def _sigmoid(values: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(values, -500.0, 500.0)))
    return out


@dataclass(frozen=True)
class Calibrator:
    """Maps the booster's raw log-odds to a probability.

    platt: sigmoid(a * margin + b), with params {"a": [a], "b": [b]}.
    isotonic: piecewise-linear through knots {"x": margins, "y": probabilities}, clipped at the
    ends. Stored as numbers so the bundle needs no scikit-learn at scoring time.
    """

    method: CalibrationMethod
    params: Mapping[str, tuple[float, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.method == "platt" and not {"a", "b"} <= set(self.params):
            raise BundleError("a Platt calibrator needs parameters a and b")
        if self.method == "isotonic":
            x, y = self.params.get("x", ()), self.params.get("y", ())
            if not x or len(x) != len(y):
                raise BundleError("an isotonic calibrator needs knots x and y of equal length")

    def apply(self, margin: np.ndarray) -> np.ndarray:
        margin = np.asarray(margin, dtype=np.float64)
        if self.method == "platt":
            return _sigmoid(self.params["a"][0] * margin + self.params["b"][0])
        if self.method == "isotonic":
            x = np.asarray(self.params["x"], dtype=np.float64)
            y = np.asarray(self.params["y"], dtype=np.float64)
            result: np.ndarray = np.interp(margin, x, y)
            return result
        return _sigmoid(margin)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "params": {k: list(v) for k, v in self.params.items()}}

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> Calibrator:
        params = {str(k): tuple(float(x) for x in v) for k, v in document["params"].items()}
        return cls(method=document["method"], params=params)


def _is_numeric(series: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series))


def category_maps_of(frame: pd.DataFrame, names: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Categories of each non-numeric column among `names`, sorted, as seen in `frame`."""
    maps: dict[str, tuple[str, ...]] = {}
    for name in names:
        column = frame[name]
        if _is_numeric(column):
            continue
        values = column.dropna().astype(str).unique()
        maps[name] = tuple(sorted(values))
    return maps


def encode_features(
    frame: pd.DataFrame, names: Sequence[str], category_maps: Mapping[str, Sequence[str]]
) -> np.ndarray:
    """A float64 matrix of `names` in order; categories become codes, unknown ones NaN."""
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise BundleError(f"feature columns missing from the input: {', '.join(missing)}")
    matrix = np.empty((len(frame), len(names)), dtype=np.float64)
    for j, name in enumerate(names):
        column = frame[name]
        if name in category_maps:
            codes = pd.Categorical(
                column.astype("string"), categories=list(category_maps[name])
            ).codes
            # Missing and never-seen categories alike become NaN, which LightGBM treats as missing.
            matrix[:, j] = np.where(codes < 0, np.nan, codes)
        elif _is_numeric(column):
            matrix[:, j] = column.astype("float64").to_numpy(na_value=np.nan)
        else:
            raise BundleError(f"column {name!r} is not numeric and has no category map")
    return matrix


@dataclass
class ModelBundle:
    """A trained booster with what it needs to be used and explained outside training."""

    booster: lgb.Booster
    feature_names: tuple[str, ...]
    category_maps: dict[str, tuple[str, ...]]
    calibrator: Calibrator
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        booster_names = tuple(self.booster.feature_name())
        if len(booster_names) != len(self.feature_names):
            raise BundleError(
                f"the booster has {len(booster_names)} features, the bundle names "
                f"{len(self.feature_names)}"
            )
        unknown = set(self.category_maps) - set(self.feature_names)
        if unknown:
            raise BundleError(f"category maps for unknown features: {sorted(unknown)}")

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    @property
    def categorical_features(self) -> tuple[str, ...]:
        return tuple(n for n in self.feature_names if n in self.category_maps)

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        return encode_features(frame, self.feature_names, self.category_maps)

    def _rows(self, rows: np.ndarray | pd.DataFrame) -> np.ndarray:
        if isinstance(rows, pd.DataFrame):
            if set(self.feature_names) <= {str(c) for c in rows.columns}:
                return self.encode(rows)
            rows = rows.to_numpy(dtype=np.float64)
        matrix = np.asarray(rows, dtype=np.float64)
        if matrix.ndim == 1:
            matrix = matrix.reshape(1, -1)
        if matrix.ndim != 2 or matrix.shape[1] != self.n_features:
            raise BundleError(
                f"expected rows of {self.n_features} features, got shape {matrix.shape}"
            )
        return matrix

    def margin(self, rows: np.ndarray | pd.DataFrame) -> np.ndarray:
        """Raw log-odds of the booster (before calibration)."""
        return np.asarray(self.booster.predict(self._rows(rows), raw_score=True))

    def score(self, rows: np.ndarray | pd.DataFrame) -> np.ndarray:
        """Calibrated probability of the hardship within the label horizon."""
        return self.calibrator.apply(self.margin(rows))

    def contributions(self, rows: np.ndarray | pd.DataFrame) -> np.ndarray:
        """TreeSHAP values (n, n_features + 1) in log-odds; the last column is the bias.

        Each row sums to the raw margin, so the explanation is of the uncalibrated score; a
        monotone calibration keeps every contribution's sign and order.
        """
        return np.asarray(self.booster.predict(self._rows(rows), pred_contrib=True))

    # -- persistence -----------------------------------------------------------------------------

    def save(self, directory: str | os.PathLike[str]) -> Path:
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / MODEL_FILE).write_text(self.booster.model_to_string(), encoding="utf-8")
        document = {
            "format": BUNDLE_FORMAT,
            "feature_names": list(self.feature_names),
            "category_maps": {k: list(v) for k, v in self.category_maps.items()},
            "calibrator": self.calibrator.to_dict(),
            "metadata": self.metadata,
        }
        (folder / BUNDLE_FILE).write_text(
            json.dumps(document, ensure_ascii=False, indent=2, default=_json_default),
            encoding="utf-8",
        )
        return folder

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> ModelBundle:
        folder = Path(directory)
        try:
            document = json.loads((folder / BUNDLE_FILE).read_text(encoding="utf-8"))
            model_text = (folder / MODEL_FILE).read_text(encoding="utf-8")
        except FileNotFoundError as error:
            raise BundleError(f"{folder} is not a model bundle: {error.filename} missing") from None
        if document.get("format") != BUNDLE_FORMAT:
            raise BundleError(f"unsupported bundle format {document.get('format')!r}")
        return cls(
            booster=lgb.Booster(model_str=model_text),
            feature_names=tuple(document["feature_names"]),
            category_maps={k: tuple(v) for k, v in document["category_maps"].items()},
            calibrator=Calibrator.from_dict(document["calibrator"]),
            metadata=dict(document.get("metadata", {})),
        )


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in bundle metadata")
