"""The single-row path: bit-for-bit booster.predict, refused when it is not, safe to misuse.

The engine scores one child (and a what-if pair) through it, and everything else through
booster.predict; the last test holds the two paths to the same answers on the served world.
"""

from __future__ import annotations

import gc
import threading
from typing import Any

import lightgbm as lgb
import numpy as np
import pytest

from service.scoring.engine import ScoringEngine
from service.scoring.single_row import SingleRowPredictor


@pytest.fixture(scope="module")
def rows_and_booster() -> tuple[np.ndarray, lgb.Booster]:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(600, 6))
    x[rng.random(x.shape) < 0.15] = np.nan  # missing values take the trees' default branches
    x[:, 5] = rng.integers(0, 4, size=600)
    logit = 1.5 * np.nan_to_num(x[:, 0]) - np.nan_to_num(x[:, 1]) + (x[:, 5] == 2)
    y = (rng.random(600) < 1 / (1 + np.exp(-logit))).astype(int)
    data = lgb.Dataset(x, y, categorical_feature=[5], params={"verbose": -1})
    booster = lgb.train(
        {"objective": "binary", "num_leaves": 7, "verbose": -1, "min_data_in_leaf": 5},
        data,
        num_boost_round=25,
    )
    return x, booster


def test_contributions_and_margins_equal_booster_predict_bit_for_bit(
    rows_and_booster: tuple[np.ndarray, lgb.Booster],
) -> None:
    x, booster = rows_and_booster
    predictor = SingleRowPredictor.build(booster, x[:100])
    assert predictor is not None
    contributions = np.vstack([predictor.contributions(row) for row in x])
    margins = np.array([predictor.margin(row) for row in x])
    assert np.array_equal(contributions, booster.predict(x, pred_contrib=True))
    assert np.array_equal(margins, booster.predict(x, raw_score=True))
    into = np.empty(x.shape[1] + 1)
    predictor.contributions_into(x[3], into)
    assert np.array_equal(into, contributions[3])


def test_rows_in_another_dtype_or_layout_are_converted_not_misread(
    rows_and_booster: tuple[np.ndarray, lgb.Booster],
) -> None:
    x, booster = rows_and_booster
    predictor = SingleRowPredictor.build(booster, x[:50])
    assert predictor is not None
    fortran = np.asfortranarray(x[:20])
    for i in range(20):
        strided = fortran[i]  # not contiguous
        assert not strided.flags.c_contiguous
        assert predictor.margin(strided) == booster.predict(x[i : i + 1], raw_score=True)[0]
    as_float32 = x[:20].astype(np.float32)
    expected = booster.predict(as_float32.astype(np.float64), raw_score=True)
    assert [predictor.margin(row) for row in as_float32] == expected.tolist()


def test_a_wrong_width_or_buffer_is_refused_before_lightgbm_reads_or_writes(
    rows_and_booster: tuple[np.ndarray, lgb.Booster],
) -> None:
    x, booster = rows_and_booster
    predictor = SingleRowPredictor.build(booster, x[:10])
    assert predictor is not None
    with pytest.raises(ValueError, match="6 features"):
        predictor.margin(x[0, :4])
    with pytest.raises(ValueError, match="room for 7"):
        predictor.contributions_into(x[0], np.empty(3))


def test_a_predictor_that_disagrees_with_booster_predict_is_not_used(
    rows_and_booster: tuple[np.ndarray, lgb.Booster], monkeypatch: pytest.MonkeyPatch
) -> None:
    x, booster = rows_and_booster
    original = SingleRowPredictor.margin

    def off_by_one_bit(self: SingleRowPredictor, row: np.ndarray) -> float:
        return float(np.nextafter(original(self, row), np.inf))

    monkeypatch.setattr(SingleRowPredictor, "margin", off_by_one_bit)
    assert SingleRowPredictor.build(booster, x[:20]) is None


def test_closed_predictors_refuse_and_collected_ones_free_their_handles(
    rows_and_booster: tuple[np.ndarray, lgb.Booster], monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.scoring import single_row

    x, booster = rows_and_booster
    freed: list[int] = []
    free = single_row._free

    def counted(lib: Any, handles: list[Any]) -> None:
        freed.append(len(handles))
        free(lib, handles)

    monkeypatch.setattr(single_row, "_free", counted)
    predictor = SingleRowPredictor(booster)
    predictor.close()
    assert freed == [2]
    with pytest.raises(ValueError, match="closed"):
        predictor.margin(x[0])
    SingleRowPredictor(booster)  # dropped at once
    gc.collect()
    assert freed == [2, 2]


def test_threads_sharing_a_predictor_get_their_own_rows_answers(
    rows_and_booster: tuple[np.ndarray, lgb.Booster],
) -> None:
    x, booster = rows_and_booster
    predictor = SingleRowPredictor.build(booster, x[:10])
    assert predictor is not None
    expected = booster.predict(x, pred_contrib=True)
    wrong: list[int] = []

    def work(offset: int) -> None:
        for _ in range(5):
            for i in range(offset, len(x), 4):
                if not np.array_equal(predictor.contributions(x[i]), expected[i]):
                    wrong.append(i)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not wrong


def test_the_engine_answers_the_same_by_either_path(
    scoring_engine: ScoringEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.scoring import engine

    assert all(m.single_row is not None for m in scoring_engine._serving.models.values())
    month = scoring_engine.latest_month
    assert month is not None
    municipality = scoring_engine.municipalities()[0]
    hardship = scoring_engine.hardships[0]
    children = scoring_engine.population(month, municipality, hardship).child_ids[:6]
    rows = [scoring_engine.feature_row(str(c), month) for c in children]
    requests = [[row] for row in rows if row is not None] + [rows[:2]]  # one child; a pair
    for explain in (True, False):
        single_row = [scoring_engine.score(r, explain=explain, top_k=5) for r in requests]
        with monkeypatch.context() as patch:
            patch.setattr(engine, "_SINGLE_ROW_MAX_ROWS", 0)  # booster.predict for every request
            predicted = [scoring_engine.score(r, explain=explain, top_k=5) for r in requests]
        for got, expected in zip(single_row, predicted, strict=True):
            assert [g.scores for g in got] == [e.scores for e in expected]
