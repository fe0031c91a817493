"""No personal data in any log line or console output of the demo flow.

Runs every stage on a copy of the tiny population with the root logger at DEBUG (so libraries'
debug output, Splink's included, is searched too) and stdout/stderr captured, then searches all
of it for the synthetic people's names, kana, addresses and raw source IDs (宛名番号 and the
like). The names come from the ground truth and the addresses from the registry extracts, so
the search covers what a real deployment would hold.
"""

from __future__ import annotations

import io
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

# Short strings (a one-kanji surname such as 森) would match innocent text; full names and
# addresses are long enough to be personal data only.
_MIN_LENGTH = 3


def _personal_strings(population: Path) -> set[str]:
    people = pd.read_parquet(population / "ground_truth" / "people.parquet")
    found: set[str] = set()
    for row in people.itertuples():
        for surname, given in (
            (row.surname, row.given_name),
            (row.surname_kana, row.given_name_kana),
        ):
            found |= {f"{surname}{given}", f"{surname} {given}", f"{surname}　{given}"}
        if len(str(row.given_name)) >= 2:
            found.add(str(row.given_name_kana))
    for registry in (population / "extracts").glob("*/registry/jumin.csv"):
        text = registry.read_bytes()
        for encoding in ("utf-8", "cp932"):
            try:
                frame = pd.read_csv(io.StringIO(text.decode(encoding)), dtype=str)
                break
            except UnicodeDecodeError:
                continue
        found |= set(frame["住所"].dropna())
    ids = pd.read_parquet(population / "ground_truth" / "id_map.parquet")
    found |= {value for value in ids["id_value"].astype(str) if len(value) >= 8}
    return {s for s in found if len(s) >= _MIN_LENGTH}


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


@pytest.mark.slow
def test_demo_flow_logs_no_personal_data(
    tiny_population: Path,
    tmp_path: Path,
    captured_logs: io.StringIO,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from mimamori import cli

    data_dir = tmp_path / "var"
    shutil.copytree(tiny_population, data_dir)
    cli.ingest(extracts=None, data_dir=data_dir)
    cli.link(data_dir=data_dir)
    console = capfd.readouterr()
    # The review queue is shown on purpose to the clerk who resolves it, with the record keys
    # they need to find the records in their own systems; its logs are still searched.
    cli.review(accept=None, reject=None, by="", note=None, data_dir=data_dir)
    capfd.readouterr()
    cli.features(first="2025-01", last="2026-03", purpose=None, horizon=6, data_dir=data_dir)
    after = capfd.readouterr()
    text = "\n".join([captured_logs.getvalue(), console.out, console.err, after.out, after.err])
    assert len(text) > 1_000, "nothing was captured; the test would prove nothing"
    personal = _personal_strings(tiny_population)
    assert len(personal) > 1_000
    leaked = sorted(s for s in personal if s in text)
    assert not leaked, f"{len(leaked)} personal strings in the logs, e.g. {leaked[:3]}"


@pytest.mark.slow
def test_the_services_logs_hold_no_personal_data(
    served_world,  # type: ignore[no-untyped-def]
    tiny_population: Path,
    tmp_path: Path,
    captured_logs: io.StringIO,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """The API's own logs, while it scores, explains, lists, reports and exports a child."""
    from fastapi.testclient import TestClient

    from service.app import create_app
    from service.batch import run_batch
    from tests.service.test_app import build_world, headers

    world = build_world(served_world, tmp_path)
    with TestClient(create_app(world.settings)) as client:
        state = client.app.state  # type: ignore[attr-defined]
        run_batch(
            state.engine, state.database, state.engine.latest_month, resolver=state.thresholds
        )
        child = {"children": [{"child_id": world.child}], "explain": True}
        answers = [
            client.post("/v1/scores", json=child, headers=headers(world, "vendor")),
            client.post(
                f"/v1/children/{world.child}/what-if",
                json={"changes": {"siblings": 3}},
                headers=headers(world, "vendor"),
            ),
            client.get(
                f"/v1/municipalities/{world.home}/flagged.csv", headers=headers(world, "reviewer")
            ),
            client.get(f"/v1/children/{world.child}/report", headers=headers(world, "reviewer")),
            client.get(
                f"/v1/admin/children/{world.child}/disclosure",
                headers=headers(world, "admin", "disclosure_request"),
            ),
            # Refusals log too: a stranger's child and a malformed body.
            client.post(
                "/v1/scores",
                json={"children": [{"child_id": world.stranger}]},
                headers=headers(world, "vendor"),
            ),
            client.post("/v1/scores", content=b"{not json", headers=headers(world, "vendor")),
        ]
    world.database.dispose()
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 200, 404, 422]
    # The disclosure export does hold the child's records: that answer is the point of it,
    # and it proves the search below looks for strings that really are in play.
    personal = _personal_strings(tiny_population)
    assert any(s in answers[4].text for s in personal)
    console = capfd.readouterr()
    text = "\n".join([captured_logs.getvalue(), console.out, console.err])
    assert "/v1/scores" in text, "the access log was not captured; the test would prove nothing"
    leaked = sorted(s for s in personal if s in text)
    assert not leaked, f"{len(leaked)} personal strings in the service's logs, e.g. {leaked[:3]}"
