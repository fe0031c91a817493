"""Point-in-time features: one row per child and as-of month, from what was known before it."""

from features.pointintime.builder import KEY_COLUMNS, FeatureBuildError, build_features

__all__ = ["KEY_COLUMNS", "FeatureBuildError", "build_features"]
