"""The generated extracts look like what departments hand over, and generation is all-or-nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from synthetic.generator import GenerationError, generate
from synthetic.profiles import ProfileError, resolve_profile


def _read(population: Path, relative: str, encoding: str) -> pd.DataFrame:
    return pd.read_csv(population / "extracts" / relative, encoding=encoding, dtype=str)


def test_every_municipality_has_its_sources_in_its_encoding(tiny_population: Path) -> None:
    manifest = json.loads((tiny_population / "extracts" / "manifest.json").read_text())
    assert len(manifest["municipalities"]) == 4
    for municipality in manifest["municipalities"]:
        folder = tiny_population / "extracts" / municipality["code"]
        for path in folder.rglob("*.csv"):
            if path.name == "gaiji_map.csv":
                continue
            # Decoding with the declared encoding must succeed for every byte of every file.
            path.read_bytes().decode(municipality["encoding"])
        missing = set(municipality["missing_sources"])
        assert (folder / "young_carer").exists() == ("young_carer" not in missing)
        assert (folder / "epds").exists() == ("epds" not in missing)


def test_departments_use_their_own_ids(tiny_population: Path) -> None:
    registry = _read(tiny_population, "990001/registry/jumin.csv", "cp932")
    school = _read(tiny_population, "990001/school_register/gakuseki.csv", "cp932")
    assert registry["宛名番号"].str.fullmatch(r"\d{10}").all()
    assert school["児童生徒番号"].str.fullmatch(r"J?\d{7}").all()
    assert "宛名番号" not in school.columns


def test_extracts_carry_notation_variants_and_era_dates(tiny_population: Path) -> None:
    registry = _read(tiny_population, "990001/registry/jumin.csv", "cp932")
    school = _read(tiny_population, "990001/school_register/gakuseki.csv", "cp932")
    assert registry["生年月日"].str.contains("^(?:昭和|平成|令和)").mean() > 0.99
    assert school["生年月日"].str.contains("/").any()
    kana = school["氏名カナ"].dropna()
    assert kana.str.contains("[ｦ-ﾟ]").any(), "some half-width kana"
    assert kana.str.contains("[ぁ-ゖ]").any(), "some hiragana"
    names = registry["氏名"].dropna()
    assert names.str.contains("\u3000").any()
    private_use = names.map(lambda text: any(0xE000 <= ord(ch) <= 0xF8FF for ch in text))
    assert private_use.any(), "registry names use 外字 from the municipality's table"


def test_ground_truth_is_kept_apart(tiny_population: Path) -> None:
    truth = tiny_population / "ground_truth"
    ids = pd.read_parquet(truth / "id_map.parquet")
    risk = pd.read_parquet(truth / "true_risk.parquet")
    onsets = pd.read_parquet(truth / "onsets.parquet")
    assert set(ids["id_kind"]) >= {"atena", "pupil", "boshi"}
    assert {"true_risk_abuse", "true_risk_young_carer"} <= set(risk.columns)
    assert set(onsets["hardship"]) == {
        "abuse",
        "poverty",
        "truancy",
        "postpartum_depression",
        "young_carer",
    }
    # No extract holds a person_id: the truth is only in the ground-truth folder.
    registry = (tiny_population / "extracts" / "990002" / "registry" / "jumin.csv").read_text()
    assert "P0000" not in registry


def test_injected_defects_are_recorded_with_file_and_line(tiny_population: Path) -> None:
    defects = pd.read_parquet(tiny_population / "ground_truth" / "defects.parquet")
    assert {"empty_name", "impossible_date", "duplicate_row"} <= set(defects["defect"])
    sample = defects[defects["defect"] == "impossible_date"].iloc[0]
    encoding = "cp932" if sample["file"].startswith(("990001", "990003")) else "utf-8"
    lines = (tiny_population / "extracts" / sample["file"]).read_bytes().decode(encoding)
    assert "令和3年2月30日" in lines.splitlines()[sample["line"] - 1]


def test_existing_population_is_not_overwritten_without_force(
    tiny_population: Path, tmp_path: Path
) -> None:
    profile = resolve_profile("tiny", children=300, seed=1)
    generate(profile, tmp_path)
    before = (tmp_path / "extracts" / "manifest.json").read_text()
    with pytest.raises(GenerationError, match="--force"):
        generate(profile, tmp_path)
    assert (tmp_path / "extracts" / "manifest.json").read_text() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".synth-")]


@pytest.mark.parametrize(
    ("name", "children", "seed", "message"),
    [
        ("huge", None, 1, "unknown profile"),
        ("tiny", -5, 1, "at least 200"),
        ("tiny", 10**9, 1, "at most"),
        ("tiny", None, -1, "seed"),
    ],
)
def test_invalid_options_are_refused(
    name: str, children: int | None, seed: int, message: str
) -> None:
    with pytest.raises(ProfileError, match=message):
        resolve_profile(name, children=children, seed=seed)
