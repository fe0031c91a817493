"""Scoring: champion models, the in-memory feature store, payload checks and explanations."""
