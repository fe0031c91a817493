"""Pairwise precision and recall from cluster sizes, checked against counting pairs."""

from __future__ import annotations

from itertools import combinations

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from features.linkage import pairwise_metrics


def _frames(predicted: list[int], true: list[int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    keys = [f"r{i}" for i in range(len(predicted))]
    return (
        pd.DataFrame({"record_key": keys, "person_id": [f"p{c}" for c in predicted]}),
        pd.DataFrame({"record_key": keys, "true_person": [f"t{c}" for c in true]}),
    )


def test_a_known_example() -> None:
    # Predicted {a,b,c} {d}; true {a,b} {c,d}: one right pair (a,b) of three predicted, of two.
    mapping, truth = _frames([0, 0, 0, 1], [0, 0, 1, 1])
    metrics = pairwise_metrics(mapping, truth)

    assert (metrics.true_positive_pairs, metrics.predicted_pairs, metrics.true_pairs) == (1, 3, 2)
    assert metrics.precision == pytest.approx(1 / 3)
    assert metrics.recall == pytest.approx(1 / 2)
    assert metrics.f1 == pytest.approx(0.4)


def test_no_pairs_at_all_is_perfect_and_unmatched_records_are_ignored() -> None:
    mapping, truth = _frames([0, 1, 2], [0, 1, 2])
    extra = pd.concat([mapping, pd.DataFrame({"record_key": ["x"], "person_id": ["p0"]})])
    assert pairwise_metrics(extra, truth)[:3] == (1.0, 1.0, 1.0)


def test_duplicate_record_keys_are_refused() -> None:
    mapping, truth = _frames([0, 0], [0, 0])
    with pytest.raises(ValueError, match="unique"):
        pairwise_metrics(pd.concat([mapping, mapping]), truth)


@given(
    st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), min_size=1, max_size=40),
)
def test_cluster_sizes_count_the_same_pairs_as_listing_them(
    labels: list[tuple[int, int]],
) -> None:
    predicted, true = [p for p, _ in labels], [t for _, t in labels]
    mapping, truth = _frames(predicted, true)
    pairs = list(combinations(range(len(labels)), 2))
    same_predicted = {(i, j) for i, j in pairs if predicted[i] == predicted[j]}
    same_true = {(i, j) for i, j in pairs if true[i] == true[j]}

    metrics = pairwise_metrics(mapping, truth)

    assert metrics.predicted_pairs == len(same_predicted)
    assert metrics.true_pairs == len(same_true)
    assert metrics.true_positive_pairs == len(same_predicted & same_true)
