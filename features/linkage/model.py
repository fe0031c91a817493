"""Fellegi-Sunter scoring of candidate pairs with Splink on an embedded DuckDB.

Parameters start from the priors in the settings file. With enough records they are
re-estimated on the run's own data: the share of matching pairs from near-certain rules, u by
random sampling, m by expectation maximisation on blocks that are never names alone (a block on
names would leave the name parameters unestimated and would see only the pairs whose names
already agree, which hides exactly the notation variants and surname changes linkage must
survive). m is then floored, so that a disagreement never seen in training (a mistyped date of
birth, say) weighs heavily against a match without ruling it out.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

import numpy as np
import pandas as pd

from features.linkage.config import LinkageSettings

__all__ = ["SPLINK_COLUMNS", "Progress", "ScoredPairs", "score_pairs", "splink_input"]

logger = logging.getLogger(__name__)

SPLINK_COLUMNS: Final = (
    "record_key",
    "municipality",
    "source",
    "id_kind",
    "birth_date",
    "sex",
    "name_key",
    "surname_key",
    "given_key",
    "kana_key",
    "surname_kana_key",
    "given_kana_key",
    "history_surname_keys",
    "history_surname_kana_keys",
    "address_key",
)
_TEXT_COLUMNS: Final = tuple(
    c
    for c in SPLINK_COLUMNS
    if c not in ("birth_date", "sex", "history_surname_keys", "history_surname_kana_keys")
)


class Progress(Protocol):
    """The progress protocol every stage accepts (mimamori.progress.RichProgress implements it)."""

    def start(self, description: str, total: int) -> None: ...

    def advance(self, steps: int = 1) -> None: ...


@dataclass(frozen=True)
class ScoredPairs:
    """Candidate pairs at or above the review threshold, with the model that scored them."""

    pairs: pd.DataFrame
    trained: bool
    model: Mapping[str, Any]


def _text_or_none(series: pd.Series) -> np.ndarray:
    """Non-empty strings kept, everything else None, as an object array."""
    values = series.to_numpy(dtype=object)
    if isinstance(series.dtype, pd.StringDtype):
        keep = (series.notna() & (series != "")).to_numpy(dtype=bool)
    else:
        keep = np.fromiter(
            (isinstance(v, str) and v != "" for v in values), dtype=bool, count=len(values)
        )
    kept: np.ndarray = np.where(keep, values, np.array(None, dtype=object))
    return kept


def splink_input(keys: pd.DataFrame) -> pd.DataFrame:
    """The columns Splink compares, with NULL for every missing value (U sex included)."""
    # Column-wise rather than value by value: at half a million records the per-value loops
    # over Arrow-backed strings took seconds.
    frame = pd.DataFrame(index=keys.index)
    for column in _TEXT_COLUMNS:
        frame[column] = pd.Series(_text_or_none(keys[column]), index=keys.index, dtype=object)
    birth_dates = pd.to_datetime(keys["birth_date"])
    frame["birth_date"] = pd.Series(
        np.where(
            birth_dates.notna().to_numpy(dtype=bool),
            birth_dates.dt.strftime("%Y-%m-%d").to_numpy(dtype=object),
            None,
        ),
        index=keys.index,
        dtype=object,
    )
    sex = keys["sex"].to_numpy(dtype=object)
    frame["sex"] = pd.Series(
        np.where(np.isin(sex, ["M", "F"]), sex, None), index=keys.index, dtype=object
    )
    for column in ("history_surname_keys", "history_surname_kana_keys"):
        frame[column] = pd.Series([list(h) for h in keys[column]], index=keys.index, dtype=object)
    return frame.reset_index(drop=True)


def _floored(model: dict[str, Any], priors: Mapping[str, Any], m_floor: float) -> dict[str, Any]:
    """Fill untrained m and u from the priors, floor m, and keep each comparison's m summing to 1.

    u is never left at zero: a level no random pair reached (names swapped, say) keeps its prior.
    """
    prior_levels = {
        comparison["output_column_name"]: comparison["comparison_levels"]
        for comparison in priors["comparisons"]
    }
    for comparison in model["comparisons"]:
        levels = comparison["comparison_levels"]
        defaults = prior_levels.get(comparison["output_column_name"], [])
        non_null = [level for level in levels if not level.get("is_null_level")]
        for index, level in enumerate(levels):
            if level.get("is_null_level"):
                continue
            prior = defaults[index] if index < len(defaults) else {}
            for parameter in ("m_probability", "u_probability"):
                value = level.get(parameter)
                unusable = value is None or not math.isfinite(value) or value <= 0
                if unusable and parameter in prior:
                    level[parameter] = prior[parameter]
            if level.get("m_probability") is not None and not level.get("fix_m_probability"):
                level["m_probability"] = max(level["m_probability"], m_floor)
        free = [lv for lv in non_null if not lv.get("fix_m_probability") and "m_probability" in lv]
        total = sum(lv["m_probability"] for lv in non_null if "m_probability" in lv)
        fixed = total - sum(lv["m_probability"] for lv in free)
        free_total = sum(lv["m_probability"] for lv in free)
        if free and free_total > 0 and total > 0:
            for level in free:
                level["m_probability"] *= (1.0 - fixed) / free_total
    return model


def _without_term_frequencies(model: dict[str, Any]) -> dict[str, Any]:
    """Switch term-frequency adjustments off.

    Frequencies are counted in the run's own records; in a few dozen records every name looks
    common, and the adjustment would punish exactly the agreements that matter. The adjustment
    is removed rather than weighted 0: Splink 5 drops a zero weight when it serialises a level
    and falls back to 1.
    """
    tf_keys = (
        "tf_adjustment_column",
        "tf_adjustment_weight",
        "tf_minimum_u_value",
        "disable_tf_exact_match_detection",
    )
    for comparison in model["comparisons"]:
        for level in comparison["comparison_levels"]:
            for tf_key in tf_keys:
                level.pop(tf_key, None)
    return model


def _train(linker: Any, settings: LinkageSettings, progress: Progress | None) -> dict[str, Any]:
    training = settings.training
    rules = [settings.with_filter(rule) for rule in training.prior_deterministic_rules]
    try:
        linker.training.estimate_probability_two_random_records_match(
            rules, recall=training.prior_recall
        )
    except ValueError:
        # Too many deterministic matches for the stated recall: keep the prior instead.
        logger.warning("kept the prior probability that two records match")
    if progress is not None:
        progress.advance()
    linker.training.estimate_u_using_random_sampling(
        max_pairs=training.u_max_pairs, seed=training.u_seed
    )
    if progress is not None:
        progress.advance()
    for rule in training.em_blocking_rules:
        linker.training.estimate_parameters_using_expectation_maximisation(
            settings.with_filter(rule)
        )
        if progress is not None:
            progress.advance()
    trained: dict[str, Any] = linker.misc.save_model_to_json()
    return trained


def default_memory_limit(share: float = 0.4) -> str:
    """`share` of the machine's physical memory, in DuckDB's notation (whole MiB)."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return f"{max(256, int(total * share) // 2**20)}MiB"


def score_pairs(
    keys: pd.DataFrame,
    settings: LinkageSettings,
    *,
    threshold: float,
    progress: Progress | None = None,
    memory_limit: str | None = None,
) -> ScoredPairs:
    """Score every candidate pair (blocking rules, pair filter) and keep those >= threshold.

    Trains when there are at least `settings.training.min_records` records; otherwise the
    priors in the settings score the pairs as they are. `memory_limit` bounds DuckDB (default
    `default_memory_limit()`); beyond it DuckDB spills to the temporary folder.
    """
    import duckdb
    from splink import DuckDBAPI, Linker

    frame = splink_input(keys)
    priors = settings.splink_settings()
    train = len(frame) >= settings.training.min_records
    steps = 1 + (2 + len(settings.training.em_blocking_rules) if train else 0)
    if progress is not None:
        progress.start("record linkage: scoring pairs", steps)
    connection = duckdb.connect()
    try:
        # DuckDB's own default (80 % of the machine) leaves too little for the pandas frames
        # linkage holds beside it: at 300k children the run grew past 24 GiB and was killed.
        connection.execute(f"SET memory_limit = '{memory_limit or default_memory_limit()}'")
        connection.execute(f"SET temp_directory = '{tempfile.gettempdir()}'")
        connection.execute("SET preserve_insertion_order = false")
        db_api = DuckDBAPI(connection=connection)
        records = db_api.register(frame, table_name="mimamori_identity_records")
        model = _without_term_frequencies(copy.deepcopy(priors))
        if train and len(frame) > 1:
            trainer = Linker(records, copy.deepcopy(priors), log_level=None)
            model = _train(trainer, settings, progress)
            model = _floored(model, priors, settings.training.m_floor)
        linker = Linker(records, copy.deepcopy(model), log_level=None)
        if len(frame) > 1:
            predictions = linker.inference.predict(
                threshold_match_probability=threshold, warning_mode="never"
            )
            pairs = predictions.as_pandas_dataframe()
        else:
            pairs = pd.DataFrame(
                columns=["record_key_l", "record_key_r", "match_weight", "match_probability"]
            )
        if progress is not None:
            progress.advance()
    finally:
        connection.close()
    return ScoredPairs(pairs=pairs, trained=train, model=model)
