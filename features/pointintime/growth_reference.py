"""Reference tables for school health-check weights, by sex and age in years.

Weight for age: national mean and standard deviation of weight (kg) of pupils aged 6-15, in
the shape of 学校保健統計調査 (文部科学省) 年齢別 体重の平均値及び標準偏差. The figures are rounded
values of recent years (around 令和4年度) and have NOT been checked against the published
table: verify and update them before real data is scored. A z-score is monotone in weight
within an age and sex, so an error here shifts the scale of the feature, not the order of
children.

Standard weight: coefficients (a, b) of the school-health standard weight for height,
a x height_cm - b (日本学校保健会 児童生徒等の健康診断マニュアル, 村田式), used for 肥満度 =
(weight - standard weight) / standard weight x 100. Also to be verified against the manual.
"""

from __future__ import annotations

from typing import Final

import numpy as np

__all__ = [
    "MAX_STANDARD_AGE",
    "MAX_WEIGHT_AGE",
    "MIN_STANDARD_AGE",
    "MIN_WEIGHT_AGE",
    "obesity_degree",
    "weight_z",
]

MIN_WEIGHT_AGE: Final = 6
MAX_WEIGHT_AGE: Final = 15
MIN_STANDARD_AGE: Final = 5
MAX_STANDARD_AGE: Final = 17

# age: (mean, sd) for boys and girls.
_WEIGHT_BOYS: Final = {
    6: (21.3, 3.5),
    7: (24.0, 4.3),
    8: (27.2, 5.4),
    9: (30.7, 6.6),
    10: (34.4, 7.6),
    11: (38.7, 8.7),
    12: (44.2, 9.9),
    13: (48.8, 10.1),
    14: (54.0, 10.3),
    15: (58.9, 10.6),
}
_WEIGHT_GIRLS: Final = {
    6: (20.8, 3.4),
    7: (23.5, 4.0),
    8: (26.5, 4.9),
    9: (30.0, 6.0),
    10: (34.1, 7.0),
    11: (39.0, 7.7),
    12: (43.7, 8.1),
    13: (47.3, 7.9),
    14: (50.0, 7.6),
    15: (51.6, 7.9),
}
_STANDARD_BOYS: Final = {
    5: (0.386, 23.699),
    6: (0.461, 32.382),
    7: (0.513, 38.878),
    8: (0.592, 48.804),
    9: (0.687, 61.390),
    10: (0.752, 70.461),
    11: (0.782, 75.106),
    12: (0.783, 75.642),
    13: (0.815, 81.348),
    14: (0.832, 83.695),
    15: (0.766, 70.989),
    16: (0.656, 51.822),
    17: (0.672, 53.642),
}
_STANDARD_GIRLS: Final = {
    5: (0.377, 22.750),
    6: (0.458, 32.079),
    7: (0.508, 38.367),
    8: (0.561, 45.006),
    9: (0.652, 56.992),
    10: (0.730, 68.091),
    11: (0.803, 78.846),
    12: (0.796, 76.934),
    13: (0.655, 54.234),
    14: (0.594, 43.264),
    15: (0.560, 37.002),
    16: (0.578, 39.057),
    17: (0.598, 42.339),
}


def _lookup(
    table_boys: dict[int, tuple[float, float]],
    table_girls: dict[int, tuple[float, float]],
    age: np.ndarray,
    female: np.ndarray,
    lowest: int,
    highest: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ages = np.arange(lowest, highest + 1)
    years = [int(a) for a in ages]
    first = np.array([[table_boys[a][0] for a in years], [table_girls[a][0] for a in years]])
    second = np.array([[table_boys[a][1] for a in years], [table_girls[a][1] for a in years]])
    inside = (age >= lowest) & (age <= highest)
    index = np.clip(np.nan_to_num(age, nan=lowest).astype(np.int64) - lowest, 0, len(ages) - 1)
    row = np.asarray(female, dtype=np.int64)
    return first[row, index], second[row, index], inside


def weight_z(weight: np.ndarray, age_years: np.ndarray, female: np.ndarray) -> np.ndarray:
    """Weight-for-age z-score; NaN outside ages 6-15 or without a weight."""
    mean, sd, inside = _lookup(
        _WEIGHT_BOYS, _WEIGHT_GIRLS, age_years, female, MIN_WEIGHT_AGE, MAX_WEIGHT_AGE
    )
    return np.where(inside, (weight - mean) / sd, np.nan)


def obesity_degree(
    weight: np.ndarray, height: np.ndarray, age_years: np.ndarray, female: np.ndarray
) -> np.ndarray:
    """肥満度 in percent; NaN outside ages 5-17 or without weight and height."""
    a, b, inside = _lookup(
        _STANDARD_BOYS, _STANDARD_GIRLS, age_years, female, MIN_STANDARD_AGE, MAX_STANDARD_AGE
    )
    standard = a * height - b
    valid = inside & (standard > 0)
    return np.where(valid, (weight - standard) / np.where(valid, standard, 1.0) * 100, np.nan)
