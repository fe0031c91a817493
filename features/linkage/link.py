"""Link identity records into people: shared IDs, Fellegi-Sunter scores, reviewers' decisions.

    identity records ──keys──▶ comparison keys ──Splink──▶ scored pairs ──guards──┐
    shared IDs (same 宛名番号 / 記録番号 in one municipality) ─────────────────────┤
    review decisions (accept / reject) from earlier runs ─────────────────────────┤
                                                                                   ▼
          constrained clustering ──▶ person master, record→person mapping, households,
                                     mother links, clerical review queue, report

Pairs scoring at least the link threshold are linked, pairs between the review threshold and the
link threshold go to clerical review, and the reviewers' decisions come back as input to the
next run: accepted pairs are forced together, rejected pairs are never merged, however the
scores move. person_id is a keyed hash of the cluster's smallest registry record_key (of its
smallest record_key when it has no registry record), so it survives reruns and cannot be traced
to a 宛名番号 without the key.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Final

import numpy as np
import pandas as pd

from features.linkage.clustering import Edge, LocalIdentity, cluster_records
from features.linkage.config import LinkageSettings, Thresholds, load_linkage_settings
from features.linkage.keys import GaijiMaps, KeyBuilder, comparison_keys
from features.linkage.model import Progress, score_pairs
from features.linkage.pseudonyms import check_key, pseudonym
from features.linkage.records import validate_identity_records
from features.normalize import UNKNOWN_CHAR

__all__ = [
    "DECISION_COLUMNS",
    "LinkageReport",
    "LinkageResult",
    "link_records",
]

DECISION_COLUMNS: Final = ("record_key_l", "record_key_r", "decision")
_DECISIONS: Final = frozenset({"accept", "reject"})
_REGISTRY_SOURCE: Final = "registry"
_METHOD_ORDER: Final[dict[str, int]] = {"deterministic": 0, "clerical": 1, "probabilistic": 2}
_REVIEW_DISPLAY: Final = (
    "source",
    "municipality",
    "name_display",
    "kana_display",
    "birth_date",
    "sex",
    "address_display",
)


@dataclass(frozen=True)
class LinkageReport:
    """What one run did, for the run log and for people checking the linkage over time."""

    settings_name: str
    settings_version: str
    settings_sha256: str
    trained: bool
    records: int
    records_by_source: Mapping[str, int]
    persons: int
    persons_by_role: Mapping[str, int]
    records_by_method: Mapping[str, int]
    links_by_method: Mapping[str, int]
    candidate_pairs: int
    review_queue: int
    refused_links: int
    twin_guard_blocked: int
    decisions: Mapping[str, int]
    unmapped_gaiji_records: int
    unmapped_gaiji_characters: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        report = asdict(self)
        return {k: dict(v) if isinstance(v, Mapping) else v for k, v in report.items()}


@dataclass(frozen=True)
class LinkageResult:
    """Outputs of one run; every frame is keyed by the pseudonymous person_id.

    persons: person_id, role, birth_date, sex, n_records, n_sources, municipalities.
    mapping: record_key, municipality, source, id_kind, local_id, person_id,
        match_probability (NaN when unlinked), method (deterministic, clerical,
        probabilistic or unlinked: the strongest link holding the record to its person).
    households: person_id, municipality, household_key, household_id (keyed hash).
    family_links: child_person_id, mother_person_id, relation, method.
    review_queue: record_key_l, record_key_r, match_probability, match_weight, reason, and the
        display fields of both sides for the reviewer.
    links: the links applied, record_key_l, record_key_r, match_probability, method.
    """

    persons: pd.DataFrame
    mapping: pd.DataFrame
    households: pd.DataFrame
    family_links: pd.DataFrame
    review_queue: pd.DataFrame
    links: pd.DataFrame
    report: LinkageReport


def _deterministic_edges(records: pd.DataFrame) -> list[Edge]:
    """Same municipality, same kind of ID, same ID: the same person, in whatever source."""
    group = ["municipality", "id_kind", "local_id"]
    ordered = records[[*group, "record_key"]].sort_values([*group, "record_key"])
    first = ordered.groupby(group, sort=False)["record_key"].transform("first")
    others = ordered["record_key"] != first
    return [
        Edge(a, b, 1.0, "deterministic")
        for a, b in zip(first[others].tolist(), ordered["record_key"][others].tolist(), strict=True)
    ]


def _ordered_pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


def _read_decisions(
    decisions: pd.DataFrame | None, known: set[str]
) -> tuple[list[Edge], list[tuple[str, str]], dict[str, int]]:
    """Accepted links, rejected pairs and counts; a later row overrides an earlier one."""
    counts = {"accepted": 0, "rejected": 0, "unknown_records": 0}
    if decisions is None or decisions.empty:
        return [], [], counts
    missing = [c for c in DECISION_COLUMNS if c not in decisions.columns]
    if missing:
        raise ValueError(f"review decisions: missing columns {', '.join(missing)}")
    verdicts = decisions["decision"].astype(str).str.strip().str.lower()
    if not verdicts.isin(_DECISIONS).all():
        raise ValueError("review decisions: decision must be accept or reject")
    latest: dict[tuple[str, str], str] = {}
    for left, right, verdict in zip(
        decisions["record_key_l"].astype(str),
        decisions["record_key_r"].astype(str),
        verdicts,
        strict=True,
    ):
        if left not in known or right not in known:
            counts["unknown_records"] += 1
            continue
        if left != right:
            latest[_ordered_pair(left, right)] = verdict
    accepted = [
        Edge(a, b, 1.0, "clerical") for (a, b), v in sorted(latest.items()) if v == "accept"
    ]
    rejected = [pair for pair, v in sorted(latest.items()) if v == "reject"]
    counts["accepted"] = len(accepted)
    counts["rejected"] = len(rejected)
    return accepted, rejected, counts


def _known(series: pd.Series) -> pd.Series:
    return series.notna() & (series.astype(object) != "")


def _agree(pairs: pd.DataFrame, column: str) -> pd.Series:
    """Both sides known, free of unreadable 外字, and equal."""
    left, right = pairs[f"{column}_l"], pairs[f"{column}_r"]
    readable = ~left.astype(str).str.contains(UNKNOWN_CHAR, regex=False) & ~right.astype(
        str
    ).str.contains(UNKNOWN_CHAR, regex=False)
    return _known(left) & _known(right) & readable & (left == right)


def _both_known(pairs: pd.DataFrame, column: str) -> pd.Series:
    left, right = pairs[f"{column}_l"], pairs[f"{column}_r"]
    return (
        _known(left)
        & _known(right)
        & ~left.astype(str).str.contains(UNKNOWN_CHAR, regex=False)
        & ~right.astype(str).str.contains(UNKNOWN_CHAR, regex=False)
    )


def _twin_guard(pairs: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """(blocked, unverifiable) masks for pairs that twins would produce.

    Twins share date of birth, address and surname, so when the date of birth agrees together
    with the address or the surname, only the given name tells them apart, and its reading is
    what parents choose to differ: given-name kana that disagree block the link. Without kana on
    both sides the kanji must agree (free of unreadable 外字); if they do not, a one-character
    difference may be a typo or a twin, and a reviewer decides. The surname counts as well as
    the address because a birth or checkup record has no address.
    """
    same_birth = _agree(pairs, "birth_date")
    same_place = _agree(pairs, "address_key")
    same_surname = _agree(pairs, "surname_key") | _agree(pairs, "surname_kana_key")
    context = same_birth & (same_place | same_surname)
    # The whole kana agreeing settles it too, whatever the split of a name written without space.
    kana_agree = _agree(pairs, "given_kana_key") | _agree(pairs, "kana_key")
    kanji_agree = _agree(pairs, "given_key") | _agree(pairs, "name_key")
    blocked = context & _both_known(pairs, "given_kana_key") & ~kana_agree
    unverifiable = context & ~blocked & ~kana_agree & ~kanji_agree
    return blocked.fillna(False).astype(bool), unverifiable.fillna(False).astype(bool)


def _record_methods(keys: list[str], applied: tuple[Edge, ...]) -> tuple[list[str], list[float]]:
    best: dict[str, tuple[int, float]] = {}
    for edge in applied:
        rank = _METHOD_ORDER[edge.method]
        for key in (edge.left, edge.right):
            current = best.get(key)
            if current is None or (rank, -edge.probability) < (current[0], -current[1]):
                best[key] = (rank, edge.probability)
    names = {rank: method for method, rank in _METHOD_ORDER.items()}
    methods = [names[best[k][0]] if k in best else "unlinked" for k in keys]
    probabilities = [best[k][1] if k in best else np.nan for k in keys]
    return methods, probabilities


def _person_ids(records: pd.DataFrame, cluster: pd.Series, key: bytes) -> pd.Series:
    is_registry = records["source"] == _REGISTRY_SOURCE
    # Registry records sort first, so a cluster's anchor is its smallest registry record_key.
    anchors = (
        pd.DataFrame(
            {"cluster": cluster, "rank": np.where(is_registry, 0, 1), "key": records["record_key"]}
        )
        .sort_values(["cluster", "rank", "key"])
        .drop_duplicates("cluster")
        .set_index("cluster")["key"]
    )
    ids = {c: pseudonym(key, "person", anchor) for c, anchor in anchors.items()}
    return cluster.map(ids)


def _most_common(frame: pd.DataFrame, column: str) -> pd.Series:
    """Per person the most frequent value of `column`; ties go to the smallest value."""
    counts = frame.groupby(["person_id", column]).size().rename("n").reset_index()
    counts = counts.sort_values(["person_id", "n", column], ascending=[True, False, True])
    return counts.drop_duplicates("person_id").set_index("person_id")[column]


def _roles(records: pd.DataFrame) -> pd.Series:
    """The registry's role where the registry knows the person, else the other sources' role.

    A tie between child and adult goes to child: the system exists for them.
    """
    known = records[records["role"] != "unknown"].assign(
        from_registry=lambda f: f["source"] == _REGISTRY_SOURCE
    )
    best_source = known.groupby("person_id")["from_registry"].transform("max")
    known = known[known["from_registry"] == best_source]
    counts = known.groupby(["person_id", "role"]).size().rename("n").reset_index()
    counts["not_child"] = counts["role"] != "child"
    counts = counts.sort_values(["person_id", "n", "not_child"], ascending=[True, False, True])
    return counts.drop_duplicates("person_id").set_index("person_id")["role"]


def _municipality_lists(records: pd.DataFrame) -> pd.Series:
    """Per person the sorted list of its municipalities."""
    # Slicing one sorted list at the person boundaries: a groupby aggregating to lists runs a
    # Python function per person, seconds at a few hundred thousand people.
    pairs = (
        records[["person_id", "municipality"]]
        .drop_duplicates()
        .sort_values(["person_id", "municipality"])
    )
    people = pairs["person_id"].to_numpy(dtype=object)
    municipalities = pairs["municipality"].tolist()
    if not municipalities:
        return pairs.groupby("person_id")["municipality"].agg(list)
    starts = np.flatnonzero(np.r_[True, people[1:] != people[:-1]])
    ends = np.r_[starts[1:], len(municipalities)]
    return pd.Series(
        [municipalities[start:end] for start, end in zip(starts, ends, strict=True)],
        index=pd.Index(people[starts], name="person_id"),
        dtype=object,
        name="municipality",
    )


def _persons(records: pd.DataFrame) -> pd.DataFrame:
    grouped = records.groupby("person_id", sort=True)
    persons = pd.DataFrame(
        {
            "n_records": grouped.size(),
            "n_sources": grouped["source"].nunique(),
            "municipalities": _municipality_lists(records),
        }
    )
    persons["role"] = _roles(records).reindex(persons.index).fillna("unknown")
    dated = records[records["birth_date"].notna()]
    persons["birth_date"] = _most_common(dated, "birth_date").reindex(persons.index)
    sexed = records[records["sex"].isin(["M", "F"])]
    persons["sex"] = _most_common(sexed, "sex").reindex(persons.index).fillna("U")
    columns = ["role", "birth_date", "sex", "n_records", "n_sources", "municipalities"]
    return persons[columns].rename_axis("person_id").reset_index()


def _households(records: pd.DataFrame, key: bytes) -> pd.DataFrame:
    known = records[records["household_key"] != ""]
    households = (
        known[["person_id", "municipality", "household_key"]]
        .drop_duplicates()
        .sort_values(["person_id", "household_key"])
        .reset_index(drop=True)
    )
    households["household_id"] = [
        pseudonym(key, "household", h) for h in households["household_key"]
    ]
    return households


def _family_links(records: pd.DataFrame) -> pd.DataFrame:
    person_of = dict(zip(records["record_key"], records["person_id"], strict=True))
    children = records[records["mother_record_key"] != ""]
    links = pd.DataFrame(
        {
            "child_person_id": children["person_id"].to_numpy(),
            "mother_person_id": children["mother_record_key"].map(person_of).to_numpy(),
            "relation": "mother",
            "method": "deterministic",
        }
    )
    return links.drop_duplicates().sort_values(["child_person_id"]).reset_index(drop=True)


def _pair_flags(pairs: pd.DataFrame, pairs_of: set[tuple[str, str]]) -> np.ndarray:
    return np.array(
        [
            (a, b) in pairs_of
            for a, b in zip(pairs["record_key_l"], pairs["record_key_r"], strict=True)
        ],
        dtype=bool,
    )


def _lower_key_left(pairs: pd.DataFrame) -> pd.DataFrame:
    """Every pair with record_key_l < record_key_r, so pairs compare as (a, b) tuples."""
    pairs = pairs.copy()
    swap = (pairs["record_key_l"] > pairs["record_key_r"]).to_numpy()
    if swap.any():
        for left in [c for c in pairs.columns if c.endswith("_l")]:
            right = left[:-2] + "_r"
            if right in pairs.columns:
                pairs.loc[swap, [left, right]] = pairs.loc[swap, [right, left]].to_numpy()
    return pairs


def _classify(
    pairs: pd.DataFrame, settings: LinkageSettings, thresholds: Thresholds
) -> pd.DataFrame:
    """Add `status` (link, review or blocked) and `reason` to the scored pairs."""
    if pairs.empty:
        return pairs.assign(status=pd.Series(dtype=str), reason=pd.Series(dtype=str))
    none = pd.Series(False, index=pairs.index)
    blocked, unverifiable = _twin_guard(pairs) if settings.twin_guard else (none, none)
    birth_differs = none
    if settings.review_unless_birth_dates_agree:
        # A date of birth a digit apart is as often two people of one name as one person
        # mistyped; only a reviewer can tell, however well the names agree.
        birth_differs = _both_known(pairs, "birth_date") & ~_agree(pairs, "birth_date")
    likely = pairs["match_probability"] >= thresholds.link
    status = np.select(
        [blocked, likely & ~unverifiable & ~birth_differs], ["blocked", "link"], "review"
    )
    reason = np.select(
        [blocked, unverifiable, likely & birth_differs],
        ["twin_guard", "twin_check", "birth_date_differs"],
        "uncertain",
    )
    return pairs.assign(status=status, reason=reason)


def _review_queue(
    pairs: pd.DataFrame,
    refused: tuple[Edge, ...],
    cluster_of: Mapping[str, int],
    keys: pd.DataFrame,
) -> pd.DataFrame:
    """Undecided pairs a reviewer should look at, most likely first, with both sides shown.

    Pairs already in one person (through other links) are left out: their decision is made.
    """
    conflict = _pair_flags(pairs, {(e.left, e.right) for e in refused})
    queue = pairs.assign(reason=np.where(conflict, "conflict", pairs["reason"]))
    apart = np.array(
        [
            cluster_of[a] != cluster_of[b]
            for a, b in zip(queue["record_key_l"], queue["record_key_r"], strict=True)
        ],
        dtype=bool,
    )
    queue = queue[((queue["status"] == "review") | conflict) & apart]
    columns = ["record_key_l", "record_key_r", "match_probability", "match_weight", "reason"]
    queue = queue[columns]
    display = keys.set_index("record_key")[list(_REVIEW_DISPLAY)]
    for side in ("l", "r"):
        queue = queue.join(display.add_suffix(f"_{side}"), on=f"record_key_{side}")
    return queue.sort_values(
        ["match_probability", "record_key_l", "record_key_r"], ascending=[False, True, True]
    ).reset_index(drop=True)


def link_records(
    records: pd.DataFrame,
    *,
    key: bytes,
    settings_path: str | os.PathLike[str] | None = None,
    decisions: pd.DataFrame | None = None,
    progress: Progress | None = None,
    gaiji_maps: GaijiMaps | None = None,
    thresholds: Thresholds | None = None,
    key_builder: KeyBuilder | None = None,
    memory_limit: str | None = None,
) -> LinkageResult:
    """Link identity records (see records.py for the schema) into people.

    `key` keys the pseudonyms (at least 16 bytes). `settings_path` defaults to the shipped
    linkage_v1.json. `decisions` holds earlier review decisions (record_key_l, record_key_r,
    decision = accept | reject). `gaiji_maps` maps a municipality code to its 外字 map;
    `thresholds` overrides the settings' link and review thresholds; `key_builder` replaces
    Mimamori's comparison keys (for baselines); `memory_limit` bounds DuckDB while it scores
    pairs (model.score_pairs). Raises IdentityRecordsError for a malformed
    frame and DecisionConflictError when decisions contradict shared IDs or each other.
    """
    check_key(key)
    settings: LinkageSettings = load_linkage_settings(settings_path)
    limits = thresholds or settings.thresholds
    validated = validate_identity_records(records)
    if progress is not None:
        progress.start("record linkage: comparison keys", 1)
    keys = (key_builder or comparison_keys)(validated, gaiji_maps or {})
    if progress is not None:
        progress.advance()
    known = set(validated["record_key"])

    accepted, rejected, decision_counts = _read_decisions(decisions, known)
    decided = {(e.left, e.right) for e in accepted} | set(rejected)

    scored = score_pairs(
        keys,
        settings,
        threshold=limits.review_lower,
        progress=progress,
        memory_limit=memory_limit,
    )
    classified = _classify(_lower_key_left(scored.pairs), settings, limits)
    undecided = classified[~_pair_flags(classified, decided)]
    pairs = undecided[undecided["status"] != "blocked"]

    if progress is not None:
        progress.start("record linkage: people", 1)
    identities = {
        k: LocalIdentity(m, kind, local)
        for k, m, kind, local in zip(
            validated["record_key"],
            validated["municipality"],
            validated["id_kind"],
            validated["local_id"],
            strict=True,
        )
    }
    candidates = [
        Edge(a, b, float(p), "probabilistic")
        for a, b, p in zip(
            pairs.loc[pairs["status"] == "link", "record_key_l"],
            pairs.loc[pairs["status"] == "link", "record_key_r"],
            pairs.loc[pairs["status"] == "link", "match_probability"],
            strict=True,
        )
    ]
    clustering = cluster_records(
        identities,
        forced=[*_deterministic_edges(validated), *accepted],
        candidates=candidates,
        rejected=rejected,
        limits=settings.max_local_ids_per_municipality,
    )

    cluster = validated["record_key"].map(clustering.cluster_of)
    linked = validated.assign(person_id=_person_ids(validated, cluster, key))
    methods, probabilities = _record_methods(list(validated["record_key"]), clustering.applied)
    mapping = linked[
        ["record_key", "municipality", "source", "id_kind", "local_id", "person_id"]
    ].assign(match_probability=probabilities, method=methods)
    persons = _persons(linked)
    review = _review_queue(pairs, clustering.refused, clustering.cluster_of, keys)
    links = pd.DataFrame(
        [(e.left, e.right, e.probability, e.method) for e in clustering.applied],
        columns=["record_key_l", "record_key_r", "match_probability", "method"],
    )

    unmapped = keys["unmapped_gaiji"].map(len) > 0
    method_counts: Counter[str] = Counter(e.method for e in clustering.applied)
    report = LinkageReport(
        settings_name=settings.name,
        settings_version=settings.version,
        settings_sha256=settings.sha256,
        trained=scored.trained,
        records=len(validated),
        records_by_source=dict(sorted(Counter(validated["source"]).items())),
        persons=len(persons),
        persons_by_role=dict(sorted(Counter(persons["role"]).items())),
        records_by_method=dict(sorted(Counter(methods).items())),
        links_by_method={m: method_counts.get(m, 0) for m in _METHOD_ORDER},
        candidate_pairs=len(scored.pairs),
        review_queue=len(review),
        refused_links=len(clustering.refused),
        twin_guard_blocked=int((classified["status"] == "blocked").sum()),
        decisions=decision_counts,
        unmapped_gaiji_records=int(unmapped.sum()),
        unmapped_gaiji_characters=tuple(
            sorted({ch for chars in keys["unmapped_gaiji"] for ch in chars})
        ),
    )
    if progress is not None:
        progress.advance()
    return LinkageResult(
        persons=persons,
        mapping=mapping.reset_index(drop=True),
        households=_households(linked, key),
        family_links=_family_links(linked),
        review_queue=review,
        links=links,
        report=report,
    )
