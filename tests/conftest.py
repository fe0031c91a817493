"""Shared fixtures: one tiny synthetic population per test session, generated once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


@pytest.fixture(scope="session")
def tiny_profile():  # type: ignore[no-untyped-def]
    from synthetic.profiles import resolve_profile

    return resolve_profile("tiny", seed=11)


@pytest.fixture(scope="session")
def tiny_world(tiny_profile):  # type: ignore[no-untyped-def]
    from synthetic.generator import build_world

    return build_world(tiny_profile)


@pytest.fixture(scope="session")
def tiny_population(tmp_path_factory: pytest.TempPathFactory, tiny_profile) -> Path:  # type: ignore[no-untyped-def]
    """A generated tiny population on disk (extracts and ground truth)."""
    from synthetic.generator import generate

    root = tmp_path_factory.mktemp("tiny-population")
    generate(tiny_profile, root)
    return root
