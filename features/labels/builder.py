"""`build_labels`: per child and as-of month T, did each hardship begin in [T, T + H)?

    labels = build_labels(records, months, horizon=6)

Columns per hardship h: `label_<h>` (nullable boolean) and `already_supported_<h>` (bool).
A label looks forward, so it reads all the records; it is missing when the window reaches past
the observed history (`observed_until`, by default the latest event month in the records), when
the child's age at T is outside the hardship's eligible range, or when the child's municipality
at T does not hold every source the hardship's label reads (a town without EPDS screenings sees
no postpartum depression: its newborns are unlabelled, not negatives). `already_supported_<h>`
uses only what was known before T: such rows are kept for scoring, and training can drop them.
The rows are the same as `build_features` gives for the same records and months.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from features.ingest.catalogue import Catalogue, load_catalogue
from features.labels.definitions import HardshipDefinition, LabelDefinitions, load_label_definitions
from features.labels.rules import RULES, Observation, RuleContext
from features.timeline.months import NEVER, month_index
from features.timeline.population import Population, person_codes_for
from features.timeline.records import LinkedRecords
from features.timeline.residence import ADULT_AGE_MONTHS, PeopleIndex
from features.timeline.tally import PersonCodes, Tally

__all__ = ["LabelBuildError", "build_labels", "derive_onsets", "observed_until_of"]


class LabelBuildError(ValueError):
    """A definition names an unknown rule, or the horizon is not positive."""


def observed_until_of(records: LinkedRecords) -> int:
    """The latest event month in the records (month index): the end of the observed history.

    Sources and residence spells count; a label window must end by then to be observed.
    """
    dates = [frame["event_date"] for frame in records.sources.values()]
    dates.append(records.residence["resident_from"])
    latest = [int(month_index(d).max(initial=-NEVER)) for d in dates if len(d)]
    latest = [m for m in latest if m < NEVER]
    if not latest:
        raise LabelBuildError("the records hold no event dates: nothing was observed")
    return max(latest)


def _context(
    records: LinkedRecords, observed_until: str | pd.Period | None, catalogue: Catalogue
) -> RuleContext:
    until = (
        observed_until_of(records)
        if observed_until is None
        else pd.Period(observed_until, freq="M").ordinal
    )
    lags = {name: spec.known_date.lag_days or 0 for name, spec in catalogue.sources.items()}
    return RuleContext(observed_until=int(until), end_lag_days=lags)


def _observe(
    records: LinkedRecords, definition: HardshipDefinition, context: RuleContext
) -> Observation:
    function = RULES.get(definition.rule)
    if function is None:
        raise LabelBuildError(f"no label rule named {definition.rule!r}")
    return function(records, definition.params, context)


def _onsets(events: pd.DataFrame, definition: HardshipDefinition) -> pd.DataFrame:
    """Event months that start something new: none in the `lookback_months` before them."""
    frame = events.drop_duplicates().sort_values(["person_id", "month"]).reset_index(drop=True)
    if frame.empty:
        return frame
    if definition.lookback_months:
        previous = frame.groupby("person_id")["month"].shift(1)
        gap = frame["month"] - previous
        frame = frame[previous.isna() | (gap > definition.lookback_months)]
    if definition.left_censored:
        frame = frame[frame["month"] > events["month"].min()]
    return frame.reset_index(drop=True)


def derive_onsets(
    records: LinkedRecords,
    *,
    definitions: LabelDefinitions | None = None,
    observed_until: str | pd.Period | None = None,
    catalogue: Catalogue | None = None,
) -> pd.DataFrame:
    """Every onset of a child the extracts show: person_id, hardship, onset_month ('YYYY-MM').

    Rows about adults (生活保護 covers the whole household) are left out: labels are the
    children's. This is what evaluation compares with a ground truth.
    """
    definitions = definitions or load_label_definitions()
    context = _context(records, observed_until, catalogue or load_catalogue())
    codes = person_codes_for(records)
    people = PeopleIndex.build(records.people, codes)
    frames = []
    for hardship, definition in definitions.hardships.items():
        onsets = _onsets(_observe(records, definition, context).events, definition)
        code = codes.encode(onsets["person_id"])
        month = onsets["month"].to_numpy(dtype=np.int64)
        known = code >= 0
        child = np.zeros(len(onsets), dtype=bool)
        age = people.age(code[known], 0) + month[known]  # age at the start of the onset month
        child[known] = (
            people.may_be_child[code[known]]
            & (people.birth_month[code[known]] <= month[known])
            & (age < ADULT_AGE_MONTHS)
        )
        onsets = onsets[child & (month <= context.observed_until)]
        frames.append(
            pd.DataFrame(
                {
                    "person_id": onsets["person_id"].to_numpy(),
                    "hardship": hardship,
                    "onset_month": onsets["month"]
                    .to_numpy(dtype=np.int64)
                    .astype("datetime64[M]")
                    .astype(str),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def build_labels(
    records: LinkedRecords,
    months: Sequence[str | pd.Period],
    *,
    horizon: int | None = None,
    hardships: Iterable[str] | None = None,
    definitions: LabelDefinitions | None = None,
    observed_until: str | pd.Period | None = None,
    catalogue: Catalogue | None = None,
) -> pd.DataFrame:
    """Labels and support flags for the population at each as-of month (as build_features)."""
    definitions = definitions or load_label_definitions()
    horizon = definitions.default_horizon_months if horizon is None else horizon
    if horizon < 1:
        raise LabelBuildError(f"horizon must be at least one month, not {horizon}")
    chosen = list(definitions.hardships) if hardships is None else list(hardships)
    context = _context(records, observed_until, catalogue or load_catalogue())
    population = Population(records, months)
    frame = population.keys()
    for hardship in chosen:
        definition = definitions.hardships[hardship]
        observation = _observe(records, definition, context)
        onsets = _onsets(observation.events, definition)
        label, supported = _columns(
            population,
            onsets,
            observation.support,
            definition,
            horizon,
            context.observed_until,
            _holding(records, population, definition),
        )
        frame[f"label_{hardship}"] = pd.array(label, dtype="boolean")
        frame[f"already_supported_{hardship}"] = supported
    return frame


def _holding(
    records: LinkedRecords, population: Population, definition: HardshipDefinition
) -> np.ndarray:
    """Per municipality (by residence index), whether it holds every source the label reads.

    Where a town keeps no such records, no onset can be seen there: its children are not
    negatives but unlabelled. Counting them as negatives would teach a model that children of
    a town without, say, a young-carer survey never become young carers, and it would score
    them low for exactly the reason their town cannot see them.
    """
    municipalities = population.residence.municipalities
    sources = definition.sources
    return np.array(
        [all(records.holds(str(m), source) for source in sources) for m in municipalities],
        dtype=bool,
    )


def _columns(
    population: Population,
    onsets: pd.DataFrame,
    support: pd.DataFrame,
    definition: HardshipDefinition,
    horizon: int,
    observed_until: int,
    holding: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    codes: PersonCodes = population.codes
    onset_tally = Tally.build(codes.encode(onsets["person_id"]), onsets["month"].to_numpy())
    started = Tally.build(codes.encode(support["person_id"]), support["start"].to_numpy())
    ended = Tally.build(codes.encode(support["person_id"]), support["end"].to_numpy())
    low, high = definition.eligible_age_months
    labels: list[np.ndarray] = []
    supported: list[np.ndarray] = []
    for as_of in population.as_of:
        person, month = as_of.person, as_of.month
        # Onsets in months [T, T + H): filed by onset month, counted up to T + H - 1 and T - 1.
        hits = onset_tally.count(person, month + horizon - 1) - onset_tally.count(person, month - 1)
        label = np.where(hits > 0, 1.0, 0.0)
        eligible = (as_of.age >= low) & (as_of.age < high)
        observed = (month + horizon - 1 <= observed_until) & holding[as_of.municipality]
        labels.append(np.where(eligible & observed, label, np.nan))
        active = started.count(person, month) - ended.count(person, month)
        supported.append(active > 0)
    if not labels:
        return np.array([], dtype=np.float64), np.array([], dtype=bool)
    return np.concatenate(labels), np.concatenate(supported)
