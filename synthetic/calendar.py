"""Month arithmetic on the generator's timeline (month 0 is the profile's first month)."""

from __future__ import annotations

import numpy as np

# School days per calendar month in a Japanese school year (summer break in August).
SCHOOL_DAYS = {4: 17, 5: 19, 6: 21, 7: 14, 8: 1, 9: 19, 10: 20, 11: 18, 12: 15, 1: 15, 2: 18, 3: 15}


def month_start(start: tuple[int, int], index: np.ndarray | int) -> np.ndarray:
    """First day of each month index, as datetime64[D]; works for negative indices too."""
    base = np.datetime64(f"{start[0]:04d}-{start[1]:02d}", "M")
    months = base + np.asarray(index, dtype=np.int64).astype("timedelta64[M]")
    return months.astype("datetime64[D]")


def calendar_month(start: tuple[int, int], index: np.ndarray) -> np.ndarray:
    """Calendar month (1-12) of each month index."""
    return ((start[1] - 1 + np.asarray(index)) % 12) + 1


def calendar_year(start: tuple[int, int], index: np.ndarray) -> np.ndarray:
    return start[0] + (start[1] - 1 + np.asarray(index)) // 12


def fiscal_year(start: tuple[int, int], index: np.ndarray) -> np.ndarray:
    """Japanese fiscal (and school) year: April to March."""
    year = calendar_year(start, index)
    return np.where(calendar_month(start, index) >= 4, year, year - 1)


def school_grade(birth_date: np.ndarray, start: tuple[int, int], index: np.ndarray) -> np.ndarray:
    """School grade 1-12 (小1=1, 中1=7, 高1=10); 0 before school, 13 after high school.

    Japanese school years group children born 2 April to 1 April of the next year.
    """
    fy = fiscal_year(start, index)
    born = birth_date.astype("datetime64[D]")
    year = born.astype("datetime64[Y]").astype(np.int64) + 1970
    month_day = (born - born.astype("datetime64[Y]").astype("datetime64[D]")).astype(np.int64)
    # Born on or before 1 April (day-of-year index 90 in a non-leap year, 91 in a leap one) starts
    # school a year earlier than those born later in the same calendar year.
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    early = month_day <= np.where(leap, 91, 90)
    cohort = np.where(early, year - 1, year)  # the fiscal year of birth
    grade = fy - cohort - 6
    return np.clip(grade, 0, 13)
