"""Under load, through a promotion: 64 concurrent clients score children on a live `mimamori
serve` while two champions are promoted (one reloaded on request, one found by the periodic
check) and reviewers write decisions. No request may fail, no answered review may be missing
from the database, the new champions must be served, and the audit chain must stay intact.

The same code as `python -m benchmarks.load` (which runs 60 s and records the figures in
docs/benchmarks.md); here it runs 15 s on a copy of the served world.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

SECONDS = 15.0
CLIENTS = 64


def test_no_request_fails_and_no_review_is_lost_through_a_promotion(
    served_world: Any,
    tmp_path: Path,
) -> None:
    if shutil.which("locust", path=str(Path(sys.executable).parent)) is None:
        pytest.fail("locust is not installed in the virtual environment (see requirements.lock)")
    from benchmarks.load import PROMOTED, run_load

    report = run_load(
        served_world.data_dir,
        tmp_path / "work",
        clients=CLIENTS,
        seconds=SECONDS,
        reload_seconds=2.0,
    )
    summary = "\n".join([*report.rows(), *report.timeline, *report.failure_lines])
    print(summary)

    assert report.requests >= CLIENTS * 5, summary  # the load really ran
    assert report.failures == 0, summary
    assert report.reviews_written > 0, summary
    assert report.review_failures == 0, summary
    assert report.reviews_lost == [], summary
    assert set(report.promotions) == set(PROMOTED), summary
    for hardship, (old, new) in report.promotions.items():
        assert new != old
        assert report.served_after[hardship] == new, summary
    assert (
        report.reload_answer.get("versions", {}).get(PROMOTED[0])
        == report.promotions[PROMOTED[0]][1]
    ), summary
    assert report.audit_intact, summary
    assert report.p99_ms > 0, summary
