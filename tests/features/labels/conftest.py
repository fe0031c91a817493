"""Fixtures shared by the point-in-time tests (features.timeline, pointintime, labels)."""

from tests.features.timeline.fixtures import tiny, tiny_root

__all__ = ["tiny", "tiny_root"]
