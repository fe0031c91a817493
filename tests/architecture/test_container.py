"""The Dockerfile ships what `mimamori serve` imports, and runs it the way the issue asks.

No Docker engine runs on the development machines, so the image is checked from its recipe:
every one of our packages that the service reaches through imports (found by grimp, the graph
import-linter uses) is copied, dependencies come from the lock file before the code, the user is
not root, and the health check and command are the service's.
"""

from __future__ import annotations

import re
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[2]
OURS = ("mimamori", "features", "models", "training", "service", "synthetic")


def _instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    joined = re.sub(r"\\\n\s*", " ", text)
    lines = [line.strip() for line in joined.splitlines()]
    return [
        (line.split(maxsplit=1)[0].upper(), line.split(maxsplit=1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


def _packages_reached_by(package: str) -> set[str]:
    graph = grimp.build_graph(*OURS)
    reached = {package}
    for module in graph.find_descendants(package) | {package}:
        reached |= {m.split(".")[0] for m in graph.find_upstream_modules(module)}
    return reached & set(OURS)


def test_the_image_copies_every_package_the_service_imports() -> None:
    copied = {arguments.split()[0] for name, arguments in _instructions() if name == "COPY"}
    needed = _packages_reached_by("service")
    assert needed >= {"service", "models", "features"}
    assert "training" not in needed, "the service must not import training"
    assert needed | {"mimamori"} <= copied


def test_dependencies_install_from_the_lock_before_the_code() -> None:
    steps = _instructions()
    lock_copy = steps.index(("COPY", "requirements.lock ./"))
    code_copies = [
        i for i, (name, args) in enumerate(steps) if name == "COPY" and "service" in args
    ]
    assert lock_copy < min(code_copies)
    assert any(name == "RUN" and "-r requirements.lock" in args for name, args in steps)


def test_the_service_runs_as_a_non_root_user_with_a_health_check() -> None:
    steps = dict(_instructions())
    assert steps["USER"] not in {"root", "0"}
    assert steps["FROM"].startswith("python:3.11-slim")
    assert "/healthz" in steps["HEALTHCHECK"]
    assert '"mimamori", "serve"' in steps["CMD"]
