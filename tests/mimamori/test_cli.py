"""The command line answers at once, explains itself and refuses bad input in one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from mimamori.cli import app

runner = CliRunner()


def test_help_lists_the_stages() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "synth" in result.output and "demo" in result.output


def test_help_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys; from typer.testing import CliRunner; from mimamori.cli import app;"
        "CliRunner().invoke(app, ['--help']);"
        "heavy = [m for m in ('mlflow', 'shap', 'lightgbm', 'splink', 'pandas')"
        " if m in sys.modules];"
        "print(','.join(heavy))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert output.stdout.strip() == ""


def test_unknown_profile_is_one_clear_line_and_writes_nothing(tmp_path: Path) -> None:
    result = runner.invoke(app, ["synth", "--profile", "huge", "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 2
    assert "unknown profile 'huge'" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "d").exists()


def test_negative_size_is_refused(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["synth", "--profile", "tiny", "--children", "-3", "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "at least 200" in result.output


def test_synth_writes_a_small_population(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["synth", "--profile", "tiny", "--children", "300", "--data-dir", str(tmp_path)],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "extracts" / "manifest.json").exists()
    assert (tmp_path / "ground_truth" / "true_risk.parquet").exists()


def test_ingest_without_extracts_is_one_clear_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["ingest", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "no extracts folder" in result.output
    assert "Traceback" not in result.output


def test_ingest_reports_every_file_and_is_idempotent(tmp_path: Path) -> None:
    synth_result = runner.invoke(
        app, ["synth", "--profile", "tiny", "--children", "250", "--data-dir", str(tmp_path)]
    )
    assert synth_result.exit_code == 0, synth_result.output
    first = runner.invoke(app, ["ingest", "--data-dir", str(tmp_path)])
    assert first.exit_code == 0, first.output
    assert "quarantined" in first.output
    second = runner.invoke(app, ["ingest", "--data-dir", str(tmp_path)])
    assert second.exit_code == 0, second.output
    assert "unchanged" in second.output


def test_pipeline_stages_run_end_to_end(tmp_path: Path) -> None:
    steps = [
        ["synth", "--profile", "tiny", "--children", "250", "--seed", "3"],
        ["ingest"],
        ["link"],
        ["features", "--from", "2023-04", "--to", "2023-09"],
    ]
    for step in steps:
        result = runner.invoke(app, [*step, "--data-dir", str(tmp_path)])
        assert result.exit_code == 0, (step, result.output)
    import pandas as pd

    features = pd.read_parquet(tmp_path / "features" / "features.parquet")
    labels = pd.read_parquet(tmp_path / "features" / "labels.parquet")
    assert set(features["as_of_month"]) == {f"2023-{m:02d}" for m in range(4, 10)}
    assert len(features) == len(labels) > 200
    assert features["person_id"].str.fullmatch(r"[0-9a-f]{24}").all()


def test_features_before_linkage_is_one_clear_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["features", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "mimamori ingest" in result.output


def test_features_rejects_a_reversed_month_range(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["features", "--from", "2025-04", "--to", "2024-04", "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "before --from" in result.output


def test_train_without_a_feature_store_is_one_clear_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "mimamori features" in result.output


def test_promote_rejects_an_unknown_hardship(tmp_path: Path) -> None:
    result = runner.invoke(app, ["promote", "--hardship", "nonsense", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "unknown hardship 'nonsense'" in result.output


def test_review_lists_pending_pairs_and_records_a_decision(tmp_path: Path) -> None:
    for step in (
        ["synth", "--profile", "tiny", "--children", "400", "--seed", "5"],
        ["ingest"],
        ["link"],
    ):
        result = runner.invoke(app, [*step, "--data-dir", str(tmp_path)])
        assert result.exit_code == 0, (step, result.output)
    listing = runner.invoke(app, ["review", "--data-dir", str(tmp_path)])
    assert listing.exit_code == 0, listing.output
    assert "pending" in listing.output

    from sqlalchemy import select

    from features.settings import Settings
    from features.store.database import make_engine
    from features.store.models import PersonRecord

    url = Settings(data_dir=tmp_path).resolved_database_url
    engine = make_engine(url)
    with engine.connect() as connection:
        keys = [row[0] for row in connection.execute(select(PersonRecord.record_key).limit(2))]
    engine.dispose()
    anonymous = runner.invoke(app, ["review", "--reject", *keys, "--data-dir", str(tmp_path)])
    assert anonymous.exit_code == 2
    assert "--by" in anonymous.output
    decided = runner.invoke(
        app, ["review", "--reject", *keys, "--by", "reviewer-1", "--data-dir", str(tmp_path)]
    )
    assert decided.exit_code == 0, decided.output
    assert "recorded: reject" in decided.output
    unknown = runner.invoke(
        app, ["review", "--accept", "x:y:z:1", "x:y:z:2", "--by", "r", "--data-dir", str(tmp_path)]
    )
    assert unknown.exit_code == 2
