"""`mimamori synth`: simulate, render the extracts, keep the ground truth apart, all or nothing."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from synthetic.calibration import measured_rates, oracle_auc
from synthetic.extracts import render_extracts
from synthetic.profiles import Profile
from synthetic.world import NullProgress, Progress, World, simulate

EXTRACTS = "extracts"
GROUND_TRUTH = "ground_truth"


class GenerationError(RuntimeError):
    """Generation refused or failed; nothing was written in the data folder."""


@dataclass
class GenerationSummary:
    profile: str
    seed: int
    children: int
    children_at_last_month: int
    households: int
    people: int
    files: int
    rows: int
    seconds: float
    rates: dict[str, float] = field(default_factory=dict)
    oracle_auc: dict[str, float] = field(default_factory=dict)

    def as_rows(self) -> list[tuple[str, str]]:
        rows = [
            ("profile", f"{self.profile} (seed {self.seed})"),
            ("children aged 0-17 at the last month", f"{self.children_at_last_month:,}"),
            ("children over the whole history", f"{self.children:,}"),
            ("households", f"{self.households:,}"),
            ("people", f"{self.people:,}"),
            ("extract files", f"{self.files:,}"),
            ("extract rows", f"{self.rows:,}"),
            ("seconds", f"{self.seconds:.1f}"),
        ]
        rows += [(f"rate: {k}", f"{v:.4f}") for k, v in self.rates.items()]
        rows += [(f"true-risk AUC: {k}", f"{v:.3f}") for k, v in self.oracle_auc.items()]
        return rows


def build_world(profile: Profile, progress: Progress | None = None) -> World:
    """The simulated world alone, in memory (tests and evaluation use it directly)."""
    rng = np.random.default_rng(profile.seed)
    return simulate(profile, rng, progress or NullProgress())


def generate(
    profile: Profile, data_dir: Path, *, overwrite: bool = False, progress: Progress | None = None
) -> GenerationSummary:
    """Write data_dir/extracts and data_dir/ground_truth for a profile, atomically."""
    began = time.perf_counter()
    progress = progress or NullProgress()
    targets = [data_dir / EXTRACTS, data_dir / GROUND_TRUTH]
    if not overwrite and any(path.exists() for path in targets):
        raise GenerationError(f"{data_dir / EXTRACTS} already exists; pass --force to replace it")
    data_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".synth-", dir=data_dir))
    try:
        rng = np.random.default_rng(profile.seed)
        world = simulate(profile, rng, progress)
        writer, id_map, defects = render_extracts(world, staging / EXTRACTS, rng, progress)
        progress.start("ground truth", 1)
        rates = measured_rates(world)
        aucs = oracle_auc(world)
        _write_ground_truth(world, staging / GROUND_TRUTH, id_map, defects, rates, aucs)
        progress.advance()
        _write_manifest(staging / EXTRACTS, profile, writer.row_counts)
        # Swap into place only once everything is written: never a half-written population.
        for name in (EXTRACTS, GROUND_TRUTH):
            final = data_dir / name
            if final.exists():
                shutil.rmtree(final)
            (staging / name).rename(final)
    except Exception as error:
        if isinstance(error, GenerationError):
            raise
        raise GenerationError(f"generation failed: {error}") from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    last = profile.n_months - 1
    age = last - world.children["birth_month"].to_numpy()
    present = world.present[world.children["household_id"].to_numpy(), last]
    return GenerationSummary(
        profile=profile.name,
        seed=profile.seed,
        children=len(world.children),
        children_at_last_month=int(((age >= 0) & (age < 216) & present).sum()),
        households=len(world.households),
        people=len(world.people),
        files=len(writer.row_counts),
        rows=sum(writer.row_counts.values()),
        seconds=time.perf_counter() - began,
        rates=rates,
        oracle_auc=aucs,
    )


def _write_manifest(root: Path, profile: Profile, row_counts: dict[str, int]) -> None:
    manifest = {
        "generator": "mimamori synthetic",
        "profile": profile.name,
        "seed": profile.seed,
        "first_month": f"{profile.start_year:04d}-{profile.start_month:02d}",
        "months": profile.n_months,
        "municipalities": [
            {
                "code": m.code,
                "name": m.name,
                "encoding": m.encoding,
                "missing_sources": list(m.missing_sources),
            }
            for m in profile.municipalities
        ],
        "files": row_counts,
    }
    (root / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2))


def _write_ground_truth(
    world: World,
    root: Path,
    id_map: object,
    defects: object,
    rates: dict[str, float],
    aucs: dict[str, float],
) -> None:
    import pandas as pd

    root.mkdir(parents=True, exist_ok=True)
    (root / "README.txt").write_text(
        "Ground truth of a synthetic population. Evaluation code only: no pipeline stage may read "
        "these files.\n",
        encoding="utf-8",
    )
    people = world.people.drop(columns=["twin"])
    people.to_parquet(root / "people.parquet", index=False)
    assert isinstance(id_map, pd.DataFrame) and isinstance(defects, pd.DataFrame)
    id_map.to_parquet(root / "id_map.parquet", index=False)
    defects.to_parquet(root / "defects.parquet", index=False)
    child_person = people[people["role"] == "child"].set_index("child_index")["person_id"]
    start = np.datetime64(f"{world.profile.start_year:04d}-{world.profile.start_month:02d}", "M")

    def month_label(months: np.ndarray) -> np.ndarray:
        return (start + months.astype("timedelta64[M]")).astype(str)

    onsets = world.onsets.copy()
    onsets["person_id"] = child_person.reindex(onsets["child_index"]).to_numpy()
    onsets["onset_month"] = month_label(onsets["month"].to_numpy())
    onsets[["person_id", "hardship", "onset_month"]].to_parquet(
        root / "onsets.parquet", index=False
    )
    risk = world.true_risk
    frame = pd.DataFrame(
        {
            "person_id": child_person.reindex(risk["child_index"]).to_numpy(),
            "as_of_month": month_label(risk["month"].to_numpy()),
        }
    )
    for column in risk.columns[2:]:
        frame[f"true_risk_{column}"] = risk[column].to_numpy()
    frame.to_parquet(root / "true_risk.parquet", index=False)
    (root / "calibration.json").write_text(
        json.dumps({"rates": rates, "true_risk_auc": aucs}, indent=2)
    )
