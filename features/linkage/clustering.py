"""Records into people: union of links, strongest first, under the constraints of the sources.

Splink's connected components would let one wrong link chain two people together, and cannot
honour a reviewer's "these two are different people". Here links are applied in order (shared
IDs, then reviewers' acceptances, then probabilistic links from the most to the least likely) and
a link is refused when the merged person would hold more local IDs of a kind in one municipality
than the settings allow (two 宛名番号 in one town are two people; a pupil number therefore maps
to at most one registry person) or would join two records a reviewer has rejected.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["DecisionConflictError", "Edge", "LocalIdentity", "Method", "cluster_records"]

Method = Literal["deterministic", "clerical", "probabilistic"]


@dataclass(frozen=True)
class Edge:
    """A proposed link between two records."""

    left: str
    right: str
    probability: float
    method: Method


@dataclass(frozen=True)
class LocalIdentity:
    municipality: str
    id_kind: str
    local_id: str


class DecisionConflictError(ValueError):
    """Links that must hold (shared IDs, accepted pairs) join a pair a reviewer rejected."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self.pairs = tuple(pairs)
        super().__init__(
            f"{len(self.pairs)} rejected pair(s) are joined by shared IDs or accepted pairs; "
            "revise the review decisions"
        )


@dataclass
class _Cluster:
    members: set[str]
    local_ids: dict[tuple[str, str], set[str]]
    forbidden: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Clustering:
    """Cluster index per record, the links that were applied and the ones that were refused."""

    cluster_of: Mapping[str, int]
    applied: tuple[Edge, ...]
    refused: tuple[Edge, ...]


class _Forest:
    """Union-find over record keys; a record's cluster is built when a link first touches it.

    Most records of a large run are never linked to anything but their own shared-ID group, and
    building a cluster (three sets) for each of half a million records up front cost seconds.
    A key absent from `parent` is its own root.
    """

    def __init__(self, identities: Mapping[str, LocalIdentity]) -> None:
        self.identities = identities
        self.parent: dict[str, str] = {}
        self._clusters: dict[str, _Cluster] = {}

    def cluster(self, root: str) -> _Cluster:
        found = self._clusters.get(root)
        if found is None:
            ident = self.identities[root]
            found = _Cluster(
                members={root},
                local_ids={(ident.municipality, ident.id_kind): {ident.local_id}},
            )
            self._clusters[root] = found
        return found

    def find(self, key: str) -> str:
        if key not in self.identities:
            raise KeyError(key)
        parent = self.parent
        root = key
        while root in parent:
            root = parent[root]
        while key != root:
            parent[key], key = root, parent[key]
        return root

    def forbid(self, left: str, right: str) -> None:
        self.cluster(self.find(left)).forbidden.add(right)
        self.cluster(self.find(right)).forbidden.add(left)

    def rejected_between(self, a: str, b: str) -> bool:
        first, second = self.cluster(a), self.cluster(b)
        if len(first.forbidden) > len(second.forbidden):
            first, second = second, first
        return not first.forbidden.isdisjoint(second.members)

    def over_limit(self, a: str, b: str, limits: Mapping[str, int]) -> bool:
        first, second = self.cluster(a), self.cluster(b)
        for group, ids in first.local_ids.items():
            limit = limits.get(group[1])
            other = second.local_ids.get(group)
            if limit is not None and other is not None and len(ids | other) > limit:
                return True
        return False

    def union(self, a: str, b: str) -> None:
        if len(self.cluster(a).members) < len(self.cluster(b).members):
            a, b = b, a
        big, small = self.cluster(a), self._clusters.pop(b)
        big.members |= small.members
        big.forbidden |= small.forbidden
        for group, ids in small.local_ids.items():
            big.local_ids.setdefault(group, set()).update(ids)
        self.parent[b] = a


def cluster_records(
    identities: Mapping[str, LocalIdentity],
    *,
    forced: Iterable[Edge],
    candidates: Iterable[Edge],
    rejected: Iterable[tuple[str, str]],
    limits: Mapping[str, int],
) -> Clustering:
    """Cluster records (keys of `identities`) from links.

    `forced` links (shared IDs, reviewers' acceptances) are always applied; `candidates` are
    applied from the highest probability down unless they break a local-ID limit or join a
    rejected pair. Raises DecisionConflictError when forced links join a rejected pair.
    Deterministic: ties in probability are broken by the record keys.
    """
    forest = _Forest(identities)
    rejected_pairs = [(a, b) for a, b in rejected if a in identities and b in identities]
    applied: list[Edge] = []
    refused: list[Edge] = []
    for edge in forced:
        a, b = forest.find(edge.left), forest.find(edge.right)
        if a != b:
            forest.union(a, b)
            applied.append(edge)
    conflicts = [(a, b) for a, b in rejected_pairs if forest.find(a) == forest.find(b)]
    if conflicts:
        raise DecisionConflictError(conflicts)
    for a, b in rejected_pairs:
        forest.forbid(a, b)
    ordered = sorted(candidates, key=lambda e: (-e.probability, e.left, e.right))
    for edge in ordered:
        a, b = forest.find(edge.left), forest.find(edge.right)
        if a == b:
            continue
        if forest.rejected_between(a, b) or forest.over_limit(a, b, limits):
            refused.append(edge)
            continue
        forest.union(a, b)
        applied.append(edge)
    roots = sorted({forest.find(key) for key in identities})
    index = {root: i for i, root in enumerate(roots)}
    return Clustering(
        cluster_of={key: index[forest.find(key)] for key in identities},
        applied=tuple(applied),
        refused=tuple(refused),
    )
