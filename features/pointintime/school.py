"""School features: attendance, 保健室 visits, health checks, 就学援助 and young-carer records."""

from __future__ import annotations

from typing import Final

import numpy as np

from features.pointintime.growth_reference import obesity_degree, weight_z
from features.pointintime.inputs import (
    FeatureGroup,
    Inputs,
    siblings_mean,
    siblings_total,
)
from features.timeline.events import Events, Spells
from features.timeline.months import NEVER, school_year_start
from features.timeline.panel import MonthlyPanel
from features.timeline.population import AsOf
from features.timeline.tally import Tally

__all__ = ["Attendance", "HealthCheck", "SchoolAid", "YoungCarer"]

_WINDOWS: Final = (1, 3, 6, 12)
# A month is normally reported in the next one, so at T the latest report is for T-2; a child
# whose latest report is older than T-4 is no longer reported here (moved, left school).
_MAX_REPORT_LAG: Final = 4
# The longest stretch of reported months a feature sums (12 months; the trend needs 6).
_LONGEST: Final = 12
# Months of history one as-of month looks at: the oldest report lag plus the longest window.
_VIEW: Final = _MAX_REPORT_LAG + _LONGEST
# The siblings' year at school, averaged over those reported: strain at home shows in every
# child's absences and lateness, and a sibling's record is there before the child's own.
_SIBLING_COLUMNS: Final = frozenset(
    {"absence_nonillness_days_12m", "late_days_12m", "nurse_visits_12m"}
)


class Attendance(FeatureGroup):
    """Windowed sums over the latest reported months, so a late report is not read as zero."""

    def __init__(self, inputs: Inputs) -> None:
        super().__init__(inputs)
        rows = inputs.rows(
            "attendance",
            "target_month",
            "absence_days",
            "illness_absence_days",
            "late_days",
            "nurse_visits",
        )
        absence = rows["absence_days"].to_numpy(dtype=np.float64)
        illness = rows["illness_absence_days"].to_numpy(dtype=np.float64)
        self.panel = MonthlyPanel(
            inputs.codes(rows),
            inputs.month(rows, "target_month"),
            inputs.visible(rows),
            {
                "absence": absence,
                "nonillness": absence - illness,
                "late": rows["late_days"].to_numpy(dtype=np.float64),
                "nurse": rows["nurse_visits"].to_numpy(dtype=np.float64),
            },
        )

    def at(self, as_of: AsOf) -> dict[str, np.ndarray]:
        # Every resident pupil at once, so that the siblings' school life comes from the same
        # pass; only pupils with reports get values, everyone else is missing.
        residents = as_of.residents.person
        pupils = np.flatnonzero(self.panel.rows_of(residents) >= 0)
        columns = self._pupils(residents[pupils], as_of.month)
        own = as_of.resident_row
        out = {}
        for name, values in columns.items():
            full = np.full(len(residents), np.nan)
            full[pupils] = values
            out[name] = full[own]
            if name in _SIBLING_COLUMNS:
                out[f"siblings_{name}_mean"] = siblings_mean(as_of, full, self.inputs.n_households)
        return out

    def _pupils(self, person: np.ndarray, month: int) -> dict[str, np.ndarray]:
        view = self.panel.view(person, month, _VIEW)
        visible = view.visible
        n = len(person)
        reported = visible.any(axis=1)
        latest = _VIEW - 1 - np.argmax(visible[:, ::-1], axis=1)
        lag = (_VIEW - latest).astype(np.float64)
        current = reported & (lag <= _MAX_REPORT_LAG)
        # Running sums read backwards from each child's latest reported month: column j of
        # `back` is the sum of everything up to j months before it, so any window of reported
        # months is a difference of two columns.
        steps = np.arange(_LONGEST + 1)
        positions = np.clip(latest[:, None] + 1 - steps[None, :], 0, _VIEW)
        zero = np.zeros((n, 1))
        back: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for column in ("absence", "nonillness", "late", "nurse"):
            values = view.grids[column]
            filled = visible & ~np.isnan(values)
            sums = np.concatenate([zero, np.cumsum(np.where(filled, values, 0), axis=1)], 1)
            cells = np.concatenate([zero, np.cumsum(filled, axis=1)], axis=1)
            back[column] = (
                np.take_along_axis(sums, positions, axis=1),
                np.take_along_axis(cells, positions, axis=1),
            )

        def window(column: str, months: int, skip: int = 0) -> np.ndarray:
            """Sum over `months` reported months ending `skip` months before the latest one."""
            sums, cells = back[column]
            total = sums[:, skip] - sums[:, skip + months]
            # A window with no recorded cell (保健室 not recorded, 病気欠席 empty) is unknown.
            known = (cells[:, skip] - cells[:, skip + months]) > 0
            return np.where(current & known, total, np.nan)

        out = {}
        for months in _WINDOWS:
            out[f"absence_days_{months}m"] = window("absence", months)
            out[f"absence_nonillness_days_{months}m"] = window("nonillness", months)
        out["absence_days_trend_3m"] = window("absence", 3) - window("absence", 3, skip=3)
        out["absence_nonillness_trend_3m"] = window("nonillness", 3) - window(
            "nonillness", 3, skip=3
        )
        out["late_days_3m"] = window("late", 3)
        out["late_days_12m"] = window("late", 12)
        out["nurse_visits_3m"] = window("nurse", 3)
        out["nurse_visits_12m"] = window("nurse", 12)
        # This school year so far: view columns from its April on (all are before T).
        first = max(int(school_year_start(month)) - (month - _VIEW), 0)
        nonillness = view.grids["nonillness"][:, first:]
        seen = visible[:, first:]
        recorded = seen & ~np.isnan(nonillness)
        this_year = np.where(recorded, nonillness, 0).sum(axis=1)
        # Nothing reported yet this year is zero days; reports without 病気欠席 are unknown.
        unknown = seen.any(axis=1) & ~recorded.any(axis=1)
        out["absence_nonillness_days_school_year"] = np.where(current & ~unknown, this_year, np.nan)
        out["attendance_report_lag_months"] = np.where(current, lag, np.nan)
        return out


class HealthCheck(FeatureGroup):
    def __init__(self, inputs: Inputs) -> None:
        super().__init__(inputs)
        rows = inputs.rows("health_check", "measured_on", "height_cm", "weight_kg")
        measured = inputs.month(rows, "measured_on")
        self.people = inputs.population.people
        self.measurements = Tally.build(
            inputs.codes(rows),
            np.maximum(inputs.visible(rows), np.where(measured >= NEVER, NEVER, measured + 1)),
            {
                "weight": rows["weight_kg"].to_numpy(dtype=np.float64),
                "height": rows["height_cm"].to_numpy(dtype=np.float64),
                "month": measured.astype(np.float64),
                "day": rows["measured_on"].dt.day.to_numpy(dtype=np.float64),
            },
            order=rows["measured_on"].to_numpy(dtype="datetime64[ns]").astype(np.int64),
        )

    def at(self, as_of: AsOf) -> dict[str, np.ndarray]:
        # Every resident at once: the siblings' growth is read from the same pass.
        person, month = as_of.residents.person, as_of.month
        tally = self.measurements
        weight = tally.latest(person, month, "weight")
        height = tally.latest(person, month, "height")
        measured = tally.latest(person, month, "month")
        day = tally.latest(person, month, "day")
        before_weight = tally.latest(person, month, "weight", back=1)
        before = tally.latest(person, month, "month", back=1)
        age_months = (
            measured - self.people.birth_month[person] - (self.people.birth_day[person] > day)
        )
        age_years = np.floor(age_months / 12)
        female = self.people.female[person]
        elapsed = measured - before
        change = np.where(
            elapsed > 0, (weight - before_weight) / np.where(elapsed > 0, elapsed, 1) * 12, np.nan
        )
        z = weight_z(weight, age_years, female)
        own = as_of.resident_row
        return {
            "weight_for_age_z": z[own],
            "obesity_degree_pct": obesity_degree(weight, height, age_years, female)[own],
            "weight_change_kg_per_year": change[own],
            "siblings_weight_for_age_z_mean": siblings_mean(as_of, z, self.inputs.n_households),
        }


class SchoolAid(FeatureGroup):
    def __init__(self, inputs: Inputs) -> None:
        super().__init__(inputs)
        rows = inputs.rows("school_aid", "certified_on", "cancelled_on", "school_year", "aid_kind")
        certified = inputs.month(rows, "certified_on")
        # A certification runs to the end of its school year unless it is cancelled earlier;
        # that end is known in advance, a cancellation only once it reaches the extract.
        year = rows["school_year"].to_numpy(dtype=np.float64)
        april = np.where(
            np.isnan(year),
            school_year_start(np.minimum(certified, NEVER)) + 12,
            (np.nan_to_num(year) - 1970) * 12 + 3 + 12,
        ).astype(np.int64)
        cancelled = inputs.end_visible(rows, "cancelled_on", "school_aid")
        end = np.where(cancelled >= NEVER, april, np.minimum(cancelled, april))
        codes = inputs.codes(rows)
        visible = inputs.visible(rows)
        protection = (rows["aid_kind"] == "protection").to_numpy()
        self.any = Spells(codes, certified, end, visible)
        self.protection = Spells(
            codes[protection], certified[protection], end[protection], visible[protection]
        )

    def at(self, as_of: AsOf) -> dict[str, np.ndarray]:
        person, month = as_of.person, as_of.month
        return {
            "school_aid_current": self.any.active(person, month).astype(np.float64),
            "school_aid_protection": self.protection.active(person, month).astype(np.float64),
        }


class YoungCarer(FeatureGroup):
    def __init__(self, inputs: Inputs) -> None:
        super().__init__(inputs)
        rows = inputs.rows("young_carer", "identified_on")
        self.identified = Events(
            inputs.codes(rows), inputs.month(rows, "identified_on"), inputs.visible(rows)
        )

    def at(self, as_of: AsOf) -> dict[str, np.ndarray]:
        found = (self.identified.count(as_of.residents.person, as_of.month) > 0).astype(np.float64)
        return {
            "young_carer_identified": found[as_of.resident_row],
            # A household that needs one child's care often needs the others' too.
            "siblings_young_carer_identified": siblings_total(
                as_of, found, self.inputs.n_households
            ),
        }
