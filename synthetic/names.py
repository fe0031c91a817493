"""Japanese surnames and given names to sample from, in kanji with their katakana readings.

The tables come from the ``japanese_personal_name_dataset`` package. Its surname list carries real
population counts; its given-name lists carry none, so plausible frequencies are made up here (see
``_given_name_pairs``). Everything is loaded lazily: importing this module reads no file.
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import jaconv
import numpy as np
import numpy.typing as npt

__all__ = ["NameTables", "load_name_tables", "sample_given_names", "sample_surnames"]

_DATASET_PACKAGE = "japanese_personal_name_dataset"
_SURNAME_FILE = "dataset/last_name_org.csv"
# The "opti" lists keep the popular readings; the "org" ones add thousands of rare names that would
# make same-name collisions (the hard case for record linkage) unrealistically scarce.
_MALE_FILE = "dataset/first_name_man_opti.csv"
_FEMALE_FILE = "dataset/first_name_woman_opti.csv"

# With 700 male / 240 female readings this gives the top reading about 2 % / 3.5 % of its sex, the
# order of the most popular readings in birth-name rankings; exponent 1 would give one in seven.
_READING_ZIPF_EXPONENT = 0.5
# Within a reading the first few spellings dominate in reality (明子 far ahead of 亜紀子).
_SPELLING_ZIPF_EXPONENT = 1.0
# How much general name-character frequency counts next to the reading's own character frequency
# when ranking spellings; tuned by eye on ひろし, たろう, さくら, ゆい.
_GLOBAL_CHAR_WEIGHT = 0.5

ObjectArray = npt.NDArray[np.object_]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class NameTables:
    """Name tables with sampling probabilities; arrays are read-only because the loader is cached.

    Given names are flattened (reading, spelling) pairs, so one draw picks both at once.
    """

    surname_kanji: ObjectArray
    surname_kana: ObjectArray
    surname_weight: FloatArray
    male_kanji: ObjectArray
    male_kana: ObjectArray
    male_weight: FloatArray
    female_kanji: ObjectArray
    female_kana: ObjectArray
    female_weight: FloatArray


def _read_rows(filename: str) -> list[list[str]]:
    text = resources.files(_DATASET_PACKAGE).joinpath(filename).read_text(encoding="utf-8-sig")
    return [row for row in csv.reader(io.StringIO(text)) if row]


def _cp932_ok(text: str) -> bool:
    try:
        text.encode("cp932")
    except UnicodeEncodeError:
        return False
    return True


def _frozen_objects(values: Sequence[str]) -> ObjectArray:
    array = np.empty(len(values), dtype=object)
    array[:] = list(values)
    array.setflags(write=False)
    return array


def _frozen_weights(values: Sequence[float] | FloatArray) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    array = array / array.sum()
    array.setflags(write=False)
    return array


def _zipf(n: int, exponent: float) -> FloatArray:
    ranks = np.arange(1, n + 1, dtype=np.float64)
    weights: FloatArray = ranks**-exponent
    return weights / weights.sum()


def _given_name_pairs(rows: list[list[str]]) -> tuple[list[str], list[str], FloatArray]:
    spellings_by_reading: list[tuple[str, list[str]]] = []
    for row in rows:
        reading = jaconv.hira2kata(row[0].strip())
        spellings = [k.strip() for k in row[2:] if k.strip() and _cp932_ok(k.strip())]
        if reading and spellings and _cp932_ok(reading):
            spellings_by_reading.append((reading, spellings))

    # The file lists spellings in dictionary order, which would make 亜喜央 the usual あきお. The
    # usual spellings reuse the characters that write this reading most often (明, 夫), are built
    # from common name characters, and spend about one character per two kana; scoring on those
    # three puts 明夫, 太郎 and 結衣-like spellings first.
    global_counts = Counter(
        ch for _, spellings in spellings_by_reading for s in spellings for ch in s
    )
    total = sum(global_counts.values())
    global_log_p = {ch: math.log(count / total) for ch, count in global_counts.items()}

    def spelling_score(reading: str, spellings: list[str]) -> dict[str, float]:
        local = Counter(ch for s in spellings for ch in s)
        n = len(spellings)
        return {
            s: sum(math.log(local[ch] / n) + _GLOBAL_CHAR_WEIGHT * global_log_p[ch] for ch in s)
            / len(s)
            - abs(len(s) - len(reading) / 2)
            for s in spellings
        }

    # Readings with many attested spellings are the popular ones (ひろし, たかひろ), so that count
    # stands in for the popularity ranking the dataset lacks. Stable sort keeps file order on ties.
    spellings_by_reading.sort(key=lambda item: -len(item[1]))
    reading_weight = _zipf(len(spellings_by_reading), _READING_ZIPF_EXPONENT)

    kanji: list[str] = []
    kana: list[str] = []
    weights: list[FloatArray] = []
    for (reading, spellings), w in zip(spellings_by_reading, reading_weight, strict=True):
        score = spelling_score(reading, spellings)
        ranked = sorted(spellings, key=lambda s: -score[s])
        kanji.extend(ranked)
        kana.extend([reading] * len(ranked))
        weights.append(w * _zipf(len(ranked), _SPELLING_ZIPF_EXPONENT))
    return kanji, kana, np.concatenate(weights)


@lru_cache(maxsize=1)
def load_name_tables() -> NameTables:
    """Read the packaged name lists once per process; entries CP932 cannot encode are dropped."""
    surname_kanji: list[str] = []
    surname_kana: list[str] = []
    surname_count: list[float] = []
    for row in _read_rows(_SURNAME_FILE):
        kanji, count, hiragana = row[0].strip(), row[1].strip(), row[2].strip()
        kana = jaconv.hira2kata(hiragana)
        if kanji and kana and _cp932_ok(kanji) and _cp932_ok(kana) and float(count) > 0:
            surname_kanji.append(kanji)
            surname_kana.append(kana)
            surname_count.append(float(count))

    male_kanji, male_kana, male_weight = _given_name_pairs(_read_rows(_MALE_FILE))
    female_kanji, female_kana, female_weight = _given_name_pairs(_read_rows(_FEMALE_FILE))
    return NameTables(
        surname_kanji=_frozen_objects(surname_kanji),
        surname_kana=_frozen_objects(surname_kana),
        surname_weight=_frozen_weights(surname_count),
        male_kanji=_frozen_objects(male_kanji),
        male_kana=_frozen_objects(male_kana),
        male_weight=_frozen_weights(male_weight),
        female_kanji=_frozen_objects(female_kanji),
        female_kana=_frozen_objects(female_kana),
        female_weight=_frozen_weights(female_weight),
    )


def sample_surnames(
    tables: NameTables, rng: np.random.Generator, n: int
) -> tuple[ObjectArray, ObjectArray]:
    """Draw ``n`` surnames in proportion to their population; returns (kanji, katakana)."""
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    idx = rng.choice(len(tables.surname_weight), size=n, p=tables.surname_weight)
    return tables.surname_kanji[idx], tables.surname_kana[idx]


def sample_given_names(
    tables: NameTables, rng: np.random.Generator, sexes: npt.ArrayLike
) -> tuple[ObjectArray, ObjectArray]:
    """Draw one given name per entry of ``sexes`` ("M" or "F"); returns (kanji, katakana)."""
    sex = np.asarray(sexes)
    if sex.ndim != 1:
        raise ValueError("sexes must be one-dimensional")
    male = sex == "M"
    female = sex == "F"
    unknown = ~(male | female)
    if unknown.any():
        bad = sorted({str(v) for v in sex[unknown][:5]})
        raise ValueError(f"sexes must hold only 'M' or 'F', found {bad}")

    kanji = np.empty(len(sex), dtype=object)
    kana = np.empty(len(sex), dtype=object)
    m_idx = rng.choice(len(tables.male_weight), size=int(male.sum()), p=tables.male_weight)
    f_idx = rng.choice(len(tables.female_weight), size=int(female.sum()), p=tables.female_weight)
    kanji[male] = tables.male_kanji[m_idx]
    kana[male] = tables.male_kana[m_idx]
    kanji[female] = tables.female_kanji[f_idx]
    kana[female] = tables.female_kana[f_idx]
    return kanji, kana
