"""The feature catalogue as data: every feature's meaning, unit, source, purpose and legal basis."""

from features.catalogue.feature_catalogue import (
    FeatureCatalogue,
    FeatureCatalogueError,
    FeatureSpec,
    load_feature_catalogue,
    parse_feature_catalogue,
)

__all__ = [
    "FeatureCatalogue",
    "FeatureCatalogueError",
    "FeatureSpec",
    "load_feature_catalogue",
    "parse_feature_catalogue",
]
