"""The hardship registry, model bundles, explanations and threshold policies."""
