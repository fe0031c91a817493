"""The package layering holds: features <- models <- training | service <- mimamori."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _lint_imports() -> subprocess.CompletedProcess[str]:
    executable = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    return subprocess.run([executable], cwd=ROOT, capture_output=True, text=True)


def test_contracts_are_kept() -> None:
    result = _lint_imports()
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_forbidden_import_is_caught(tmp_path: Path) -> None:
    # Prove the check can fail: a features module importing service must break the contract.
    offender = ROOT / "features" / "_contract_probe.py"
    offender.write_text("import service  # noqa: F401\n")
    try:
        result = _lint_imports()
    finally:
        offender.unlink()
    assert result.returncode != 0
    assert "BROKEN" in result.stdout
