"""Why a child scored as they did: the top factors of one model on one row, in words for staff.

    explainer = ModelExplainer.build(bundle, catalogue, over_influence_share=0.5)
    explainer.explain(contributions_row, values_row, top_k=5)

Contributions are LightGBM's TreeSHAP (`pred_contrib`) in log-odds, exact for the booster; the
row's contributions plus the bias sum to its raw margin, so the explanation is of the score
before calibration, whose monotone map keeps every sign and order. The base rate shown is the
bias mapped through the calibrator: what the model would say of a child about whom it knew
nothing beyond the training population.

A score is flagged for reviewers when one feature carries more than `over_influence_share` of
the factors that raised it: such a score rests on one record, and a wrong or stale record then
decides it. Labels, descriptions and decoders are prepared once per model, so explaining a row
costs one sort of its contributions and a few dict builds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from features.catalogue.feature_catalogue import FeatureCatalogue
from models.bundle import ModelBundle

__all__ = [
    "MISSING_TEXT",
    "ModelExplainer",
    "over_influence_sentences",
]

MISSING_TEXT: Final = "データなし (missing: the record is not held or not known)"
_FLAG_TEXT: Final = {0.0: "いいえ (no)", 1.0: "はい (yes)"}
# Up to this many rows, explaining row by row beats the vectorised selection's fixed costs.
_ROW_BY_ROW: Final = 8


def over_influence_sentences(label_ja: str, feature: str, share: float) -> tuple[str, str]:
    """The reviewer's warning, in Japanese and English."""
    percent = round(share * 100)
    return (
        f"このスコアは主に1つの項目（{label_ja}）に基づいています"
        f"（スコアを押し上げた要因の{percent}%）。記録が正確で最新か確認してください。",
        f"This score rests mostly on one item: {feature} ({label_ja}), {percent}% of what raised "
        "it. Check that this record is correct and current.",
    )


@dataclass(frozen=True)
class _Text:
    label_ja: str
    description: str
    unit: str


@dataclass(frozen=True, eq=False)
class ModelExplainer:
    """Everything needed to put one model's contributions into words, prepared once."""

    hardship: str
    feature_names: tuple[str, ...]
    texts: tuple[_Text, ...]
    categories: Mapping[int, tuple[str, ...]]  # feature position -> category names
    calibrator_apply: Any
    # pred_contrib's bias is the model's expected value, the same for every row: map it once.
    base_log_odds: float
    base_probability: float
    over_influence_share: float
    flagged_features: tuple[str, ...]
    influence_shares: Mapping[str, float]
    over_influence_max_share: float | None
    # Per feature position: its name, label and description, as each factor shows them.
    _words: tuple[tuple[str, str, str], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        words = tuple(
            (name, text.label_ja, text.description)
            for name, text in zip(self.feature_names, self.texts, strict=True)
        )
        object.__setattr__(self, "_words", words)

    @classmethod
    def build(
        cls, bundle: ModelBundle, catalogue: FeatureCatalogue, *, over_influence_share: float
    ) -> ModelExplainer:
        specs = {spec.name: spec for spec in catalogue.features}
        texts = []
        for name in bundle.feature_names:
            spec = specs.get(name)
            if spec is None:
                texts.append(_Text(name, name, "unknown"))
            else:
                texts.append(_Text(spec.label_ja, spec.description, spec.unit))
        categories = {
            j: tuple(bundle.category_maps[n])
            for j, n in enumerate(bundle.feature_names)
            if n in bundle.category_maps
        }
        metadata = bundle.metadata
        blank = np.full((1, bundle.n_features), np.nan)
        base = float(bundle.contributions(blank)[0, -1])
        max_share = metadata.get("over_influence_max_share")
        return cls(
            hardship=str(metadata.get("hardship", "")),
            feature_names=bundle.feature_names,
            texts=tuple(texts),
            categories=categories,
            calibrator_apply=bundle.calibrator.apply,
            base_log_odds=base,
            base_probability=float(bundle.calibrator.apply(np.array([base]))[0]),
            over_influence_share=over_influence_share,
            flagged_features=tuple(metadata.get("flagged_features", ()) or ()),
            influence_shares={
                str(k): float(v) for k, v in (metadata.get("influence_shares") or {}).items()
            },
            over_influence_max_share=float(max_share) if max_share is not None else None,
        )

    def value_of(self, position: int, value: float) -> tuple[float | str | None, str]:
        """The value as shown (decoded category, number or None) and its wording."""
        if math.isnan(value):
            return None, MISSING_TEXT
        names = self.categories.get(position)
        if names is not None:
            code = int(value)
            shown = names[code] if 0 <= code < len(names) else str(code)
            return shown, shown
        unit = self.texts[position].unit
        if unit == "flag" and value in _FLAG_TEXT:
            return value, _FLAG_TEXT[value]
        text = str(int(value)) if value.is_integer() else f"{value:.4g}"
        return value, text

    def explain(self, contributions: np.ndarray, values: np.ndarray, top_k: int) -> dict[str, Any]:
        """The explanation of one row (contributions: features then bias; the model's inputs).

        The one-row path of a request: a dozen vectorised calls on a single row cost more than
        these few on a vector.
        """
        features = contributions[:-1]
        raised = float(features[features > 0].sum())
        k = min(top_k, features.shape[0])
        # Negated once and ranked through the array methods: the same selection and order as
        # np.argpartition and np.argsort of -magnitude, without their wrappers' overhead.
        negated = -np.abs(features)
        top = negated.argpartition(k - 1)[:k] if k < features.shape[0] else np.arange(k)
        top = top[negated[top].argsort(kind="stable")]
        strongest = int(features.argmax())
        share = float(features[strongest]) / raised if raised > 0 else 0.0
        return self._document(
            top.tolist(),
            features[top].tolist(),
            values[top].tolist(),
            raised,
            strongest,
            share,
            float(contributions[-1]),
            float(contributions.sum()),
        )

    def _document(
        self,
        positions: list[int],
        sizes: list[float],
        shown_values: list[float],
        raised: float,
        strongest: int,
        share: float,
        bias: float,
        margin: float,
    ) -> dict[str, Any]:
        factors = []
        words = self._words
        for j, contribution, value in zip(positions, sizes, shown_values, strict=True):
            if contribution == 0.0:
                break
            shown, wording = self.value_of(j, value)
            feature, label_ja, description = words[j]
            factors.append(
                {
                    "feature": feature,
                    "label_ja": label_ja,
                    "description": description,
                    "value": shown,
                    "value_text": wording,
                    "missing": shown is None,
                    "direction": "raises" if contribution > 0 else "lowers",
                    "log_odds": contribution,
                    "share_of_raise": contribution / raised if contribution > 0 else None,
                }
            )
        over = None
        if share > self.over_influence_share:
            text_ja, text_en = over_influence_sentences(
                self.texts[strongest].label_ja, self.feature_names[strongest], share
            )
            over = {
                "feature": self.feature_names[strongest],
                "label_ja": self.texts[strongest].label_ja,
                "share": share,
                "message_ja": text_ja,
                "message_en": text_en,
            }
        return {
            "base_log_odds": bias,
            "base_probability": self.base_probability
            if bias == self.base_log_odds
            else float(self.calibrator_apply(np.array([bias]))[0]),
            "log_odds": margin,
            "factors": factors,
            "over_influence": over,
            "model_flagged_features": list(self.flagged_features),
        }

    def explain_many(
        self, contributions: np.ndarray, values: np.ndarray, top_k: int
    ) -> list[dict[str, Any]]:
        """Explanations of rows as JSON-ready dicts (see service.schemas.scores).

        `contributions` is pred_contrib's output (features then bias, per row), `values` the
        model's input rows. The selection is vectorised over the batch; only building the
        dicts is per row, from plain Python numbers.
        """
        features = contributions[:, :-1]
        n, width = features.shape
        if n <= _ROW_BY_ROW:
            return [self.explain(contributions[i], values[i], top_k) for i in range(n)]
        raised = np.where(features > 0, features, 0.0).sum(axis=1)
        k = min(top_k, width)
        magnitude = np.abs(features)
        if k < width:
            top = np.argpartition(-magnitude, k - 1, axis=1)[:, :k]
        else:
            top = np.broadcast_to(np.arange(width), (n, width)).copy()
        order = np.argsort(-np.take_along_axis(magnitude, top, axis=1), axis=1, kind="stable")
        top = np.take_along_axis(top, order, axis=1)
        top_contributions = np.take_along_axis(features, top, axis=1).tolist()
        top_values = np.take_along_axis(values, top, axis=1).tolist()
        strongest = features.argmax(axis=1)
        strongest_share = np.divide(
            features[np.arange(n), strongest],
            raised,
            out=np.zeros(n),
            where=raised > 0,
        ).tolist()
        biases = contributions[:, -1].tolist()
        margins = contributions.sum(axis=1).tolist()
        strongest_list = strongest.tolist()
        raised_list = raised.tolist()
        results = [
            self._document(
                positions,
                sizes,
                shown_values,
                raised_list[i],
                strongest_list[i],
                strongest_share[i],
                biases[i],
                margins[i],
            )
            for i, (positions, sizes, shown_values) in enumerate(
                zip(top.tolist(), top_contributions, top_values, strict=True)
            )
        ]
        return results

    def global_flags(self) -> dict[str, Any]:
        """What training's audit found about this model as a whole."""
        shares = sorted(self.influence_shares.items(), key=lambda item: -item[1])
        positions = {n: j for j, n in enumerate(self.feature_names)}
        return {
            "flagged_features": [
                {
                    "feature": name,
                    "label_ja": self.texts[positions[name]].label_ja if name in positions else name,
                    "share": self.influence_shares.get(name),
                }
                for name in self.flagged_features
            ],
            "over_influence_max_share": self.over_influence_max_share,
            "top_influence": [
                {
                    "feature": name,
                    "label_ja": self.texts[positions[name]].label_ja if name in positions else name,
                    "share": share,
                }
                for name, share in shares[:10]
                if share > 0
            ],
        }
