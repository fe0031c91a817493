"""Constrained clustering: strongest links first, local-ID limits, reviewers' rejections."""

from __future__ import annotations

import pytest

from features.linkage.clustering import (
    DecisionConflictError,
    Edge,
    LocalIdentity,
    cluster_records,
)

LIMITS = {"atena": 1, "pupil": 2}


def _identities(*keys: str) -> dict[str, LocalIdentity]:
    """Keys like 990001:registry:atena:1 give their municipality, ID kind and ID."""
    identities = {}
    for key in keys:
        municipality, _source, id_kind, local_id = key.split(":")
        identities[key] = LocalIdentity(municipality, id_kind, local_id)
    return identities


def _groups(cluster_of: dict[str, int]) -> set[frozenset[str]]:
    groups: dict[int, set[str]] = {}
    for key, cluster in cluster_of.items():
        groups.setdefault(cluster, set()).add(key)
    return {frozenset(g) for g in groups.values()}


A1, A2 = "990001:registry:atena:1", "990001:registry:atena:2"
B1 = "990002:registry:atena:9"
P1, P2, P3 = "990001:school:pupil:7", "990001:school:pupil:J8", "990001:school:pupil:6"


def test_a_pupil_maps_to_at_most_one_registry_person() -> None:
    result = cluster_records(
        _identities(A1, A2, P1),
        forced=[],
        candidates=[Edge(P1, A1, 0.97, "probabilistic"), Edge(P1, A2, 0.99, "probabilistic")],
        rejected=[],
        limits=LIMITS,
    )

    assert _groups(dict(result.cluster_of)) == {frozenset({P1, A2}), frozenset({A1})}
    assert [(e.left, e.right) for e in result.refused] == [(P1, A1)]


def test_a_renumbered_pupil_may_hold_two_numbers_but_not_three() -> None:
    result = cluster_records(
        _identities(A1, P1, P2, P3),
        forced=[],
        candidates=[
            Edge(A1, P1, 0.99, "probabilistic"),
            Edge(A1, P2, 0.98, "probabilistic"),
            Edge(A1, P3, 0.97, "probabilistic"),
        ],
        rejected=[],
        limits=LIMITS,
    )

    assert frozenset({A1, P1, P2}) in _groups(dict(result.cluster_of))
    assert len(result.refused) == 1


def test_a_mover_joins_registry_records_of_two_municipalities() -> None:
    result = cluster_records(
        _identities(A1, B1),
        forced=[],
        candidates=[Edge(A1, B1, 0.99, "probabilistic")],
        rejected=[],
        limits=LIMITS,
    )
    assert result.cluster_of[A1] == result.cluster_of[B1]


def test_a_rejected_pair_is_never_joined_even_through_others() -> None:
    result = cluster_records(
        _identities(A1, B1, P1),
        forced=[],
        candidates=[Edge(A1, P1, 0.99, "probabilistic"), Edge(P1, B1, 0.98, "probabilistic")],
        rejected=[(A1, B1)],
        limits=LIMITS,
    )

    assert result.cluster_of[A1] == result.cluster_of[P1] != result.cluster_of[B1]


def test_forced_links_ignore_limits_but_not_rejections() -> None:
    forced = [Edge(A1, A2, 1.0, "clerical")]
    result = cluster_records(
        _identities(A1, A2), forced=forced, candidates=[], rejected=[], limits=LIMITS
    )
    assert result.cluster_of[A1] == result.cluster_of[A2]

    with pytest.raises(DecisionConflictError) as raised:
        cluster_records(
            _identities(A1, A2), forced=forced, candidates=[], rejected=[(A1, A2)], limits=LIMITS
        )
    assert raised.value.pairs == ((A1, A2),)


def test_ties_are_broken_the_same_way_every_time() -> None:
    identities = _identities(A1, A2, P1)
    candidates = [Edge(P1, A2, 0.99, "probabilistic"), Edge(P1, A1, 0.99, "probabilistic")]
    first = cluster_records(
        identities, forced=[], candidates=candidates, rejected=[], limits=LIMITS
    )
    second = cluster_records(
        identities, forced=[], candidates=candidates[::-1], rejected=[], limits=LIMITS
    )
    assert first.cluster_of == second.cluster_of
    assert first.cluster_of[P1] == first.cluster_of[A1]
