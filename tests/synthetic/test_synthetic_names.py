import re
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

from synthetic.names import NameTables, load_name_tables, sample_given_names, sample_surnames

KATAKANA = re.compile(r"[ァ-ヶー]+")


@pytest.fixture(scope="module")
def tables() -> NameTables:
    return load_name_tables()


def test_import_does_no_work() -> None:
    code = (
        "import sys, synthetic.names, synthetic.notation\n"
        "assert synthetic.names.load_name_tables.cache_info().currsize == 0\n"
        "assert 'japanese_personal_name_dataset' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_tables_are_cached_and_read_only(tables: NameTables) -> None:
    assert load_name_tables() is tables
    assert not tables.surname_kanji.flags.writeable
    assert not tables.male_weight.flags.writeable
    with pytest.raises(ValueError):
        tables.surname_weight[0] = 1.0


def test_table_sizes_and_weights(tables: NameTables) -> None:
    assert len(tables.surname_kanji) > 1500
    assert len(tables.male_kanji) > 5000
    assert len(tables.female_kanji) > 2000
    for kanji, kana, weight in (
        (tables.surname_kanji, tables.surname_kana, tables.surname_weight),
        (tables.male_kanji, tables.male_kana, tables.male_weight),
        (tables.female_kanji, tables.female_kana, tables.female_weight),
    ):
        assert len(kanji) == len(kana) == len(weight)
        assert weight.sum() == pytest.approx(1.0)
        assert (weight > 0).all()


def test_everything_is_cp932_and_kana_is_katakana(tables: NameTables) -> None:
    for kanji, kana in (
        (tables.surname_kanji, tables.surname_kana),
        (tables.male_kanji, tables.male_kana),
        (tables.female_kanji, tables.female_kana),
    ):
        for k, r in zip(kanji.tolist(), kana.tolist(), strict=True):
            k.encode("cp932")
            r.encode("cp932")
            assert KATAKANA.fullmatch(r), r


def test_surnames_follow_population(tables: NameTables) -> None:
    kanji, kana = sample_surnames(tables, np.random.default_rng(0), 100_000)
    counts = Counter(kanji.tolist())
    top3 = [name for name, _ in counts.most_common(3)]
    top5 = [name for name, _ in counts.most_common(5)]
    assert "佐藤" in top3
    assert "鈴木" in top3
    assert "高橋" in top5
    # 佐藤 is about 1.9 % of the covered population.
    assert 0.016 < counts["佐藤"] / 100_000 < 0.022
    reading = dict(zip(tables.surname_kanji.tolist(), tables.surname_kana.tolist(), strict=True))
    assert all(reading[k] == r for k, r in zip(kanji.tolist(), kana.tolist(), strict=True))
    assert reading["佐藤"] == "サトウ"


def test_sampling_is_reproducible(tables: NameTables) -> None:
    sexes = np.array(["M", "F"] * 500)
    a = sample_surnames(tables, np.random.default_rng(7), 1000)
    b = sample_surnames(tables, np.random.default_rng(7), 1000)
    c = sample_surnames(tables, np.random.default_rng(8), 1000)
    assert (a[0] == b[0]).all()
    assert (a[1] == b[1]).all()
    assert not (a[0] == c[0]).all()
    g1 = sample_given_names(tables, np.random.default_rng(7), sexes)
    g2 = sample_given_names(tables, np.random.default_rng(7), sexes)
    assert (g1[0] == g2[0]).all()
    assert (g1[1] == g2[1]).all()


def test_given_names_follow_sex(tables: NameTables) -> None:
    sexes = np.array(["M"] * 3000 + ["F"] * 3000, dtype=object)
    kanji, kana = sample_given_names(tables, np.random.default_rng(1), sexes)
    male_pairs = set(zip(tables.male_kanji.tolist(), tables.male_kana.tolist(), strict=True))
    female_pairs = set(zip(tables.female_kanji.tolist(), tables.female_kana.tolist(), strict=True))
    pairs = list(zip(kanji.tolist(), kana.tolist(), strict=True))
    assert all(p in male_pairs for p in pairs[:3000])
    assert all(p in female_pairs for p in pairs[3000:])


def test_given_names_reject_unknown_sex(tables: NameTables) -> None:
    with pytest.raises(ValueError, match="'M' or 'F'"):
        sample_given_names(tables, np.random.default_rng(0), np.array(["M", "X"]))
    kanji, kana = sample_given_names(tables, np.random.default_rng(0), np.array([], dtype=str))
    assert len(kanji) == len(kana) == 0


def test_given_name_distribution_is_skewed_but_varied(tables: NameTables) -> None:
    sexes = np.array(["F"] * 50_000)
    _, kana = sample_given_names(tables, np.random.default_rng(2), sexes)
    counts = Counter(kana.tolist())
    n_readings = len(set(tables.female_kana.tolist()))
    top_share = counts.most_common(1)[0][1] / 50_000
    assert top_share > 5 / n_readings  # far from uniform
    assert top_share < 0.10  # but no single name dominates
    assert len(counts) > 0.8 * n_readings


def test_usual_spelling_ranks_first(tables: NameTables) -> None:
    taro = tables.male_kana == "タロウ"
    assert tables.male_kanji[taro][np.argmax(tables.male_weight[taro])] == "太郎"
