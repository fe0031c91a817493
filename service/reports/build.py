"""Assembling a reviewer's report from the scoring engine and the stores.

    row = engine.feature_row(child_id, month)           # the route checks scope first
    report = build_child_report(engine, session, row, sees=caller.sees)

Scores, bands, percentiles and explanations come from the engine exactly as POST /v1/scores
gives them. The sources and their freshness come from the feature row's missing-source
indicators and the linked source records; the history from the stored score runs and reviews,
limited to the municipalities the caller may see (a child who moved keeps one person_id across
the linked municipalities, so earlier scores and reviews follow it when the caller sees them).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from features.catalogue.feature_catalogue import FeatureCatalogue, FeatureSpec
from features.store.models import FamilyLink, HouseholdLink, PersonRecord, SourceRecord
from models.hardships import load_hardship_registry
from service.reports.model import (
    BlindSpot,
    ChildReport,
    Factor,
    HardshipReport,
    HistoryPoint,
    OverInfluence,
    ReviewLine,
    SourceStatus,
)
from service.scoring.engine import ChildRow, ScoringEngine
from service.store.models import ChildScore, Review, ScoreRun

__all__ = [
    "TOP_FACTORS",
    "blind_spots",
    "build_child_report",
    "child_history",
    "child_reviews",
    "source_freshness",
    "source_statuses",
]

TOP_FACTORS: Final = 8
_SUCCEEDED: Final = "succeeded"
_REGISTRY: Final = "registry"
_MISSING_SUFFIX: Final = "データなし"

Sees = Callable[[str], bool]


def _month_start(month: str) -> dt.date:
    year, number = (int(part) for part in month.split("-"))
    return dt.date(year, number, 1)


def _months_between(earlier: dt.date, month: str) -> int:
    start = _month_start(month)
    return (start.year - earlier.year) * 12 + start.month - earlier.month


# -- sources -------------------------------------------------------------------------------------


def source_statuses(
    catalogue: FeatureCatalogue,
    columns: Iterable[str],
    values: np.ndarray,
    used: Iterable[str],
) -> list[SourceStatus]:
    """Per holding the models read: whether the child's municipality holds it at the month.

    `columns`/`values` are the feature row (the store's column order); `used` the features of
    the loaded models. A holding without an indicator (the resident registry) is always held:
    it is the population itself.
    """
    position = {name: j for j, name in enumerate(columns)}
    used_names = set(used)
    specs: dict[str, list[FeatureSpec]] = {}
    indicators: dict[str, FeatureSpec] = {}
    for spec in catalogue.features:
        if spec.indicator:
            indicators[spec.holding] = spec
        elif spec.name in used_names:
            specs.setdefault(spec.holding, []).append(spec)
    statuses = []
    for holding, features in specs.items():
        first = features[0]
        indicator = indicators.get(holding)
        held = True
        if indicator is not None and indicator.name in position:
            flag = float(values[position[indicator.name]])
            held = not (not math.isnan(flag) and flag >= 0.5)
        name_ja = (
            indicator.label_ja.removesuffix(_MISSING_SUFFIX)
            if indicator is not None
            else (first.system or holding)
        )
        statuses.append(
            SourceStatus(
                holding=holding,
                name_ja=name_ja,
                name_en=holding.replace("_", " "),
                department=first.department,
                system=first.system,
                held=held,
                features=len(features),
            )
        )
    # The registry first (it is the population), then as the catalogue orders them.
    statuses.sort(key=lambda s: s.holding != _REGISTRY)
    return statuses


def _related_persons(session: Session, child_id: str) -> set[str]:
    """The child, the members of its registry households and its mother: the people whose
    records the child's features read (household income, a parent's certificate, EPDS)."""
    households = select(HouseholdLink.household_id).where(HouseholdLink.person_id == child_id)
    members = session.scalars(
        select(HouseholdLink.person_id).where(HouseholdLink.household_id.in_(households))
    ).all()
    mothers = session.scalars(
        select(FamilyLink.mother_person_id).where(FamilyLink.child_person_id == child_id)
    ).all()
    return {child_id, *members, *mothers}


def source_freshness(session: Session, child_id: str, month: str, sees: Sees) -> dict[str, dt.date]:
    """Per source, the latest known_date before the as-of month among records linked to the
    child, its household or its mother, in municipalities the caller may see."""
    persons = _related_persons(session, child_id)
    query = (
        select(SourceRecord.source, SourceRecord.municipality, func.max(SourceRecord.known_date))
        .join(
            PersonRecord,
            (PersonRecord.municipality == SourceRecord.municipality)
            & (PersonRecord.source == SourceRecord.source)
            & (PersonRecord.id_kind == SourceRecord.id_kind)
            & (PersonRecord.local_id == SourceRecord.local_id),
        )
        .where(
            PersonRecord.person_id.in_(persons),
            SourceRecord.known_date < _month_start(month),
        )
        .group_by(SourceRecord.source, SourceRecord.municipality)
    )
    latest: dict[str, dt.date] = {}
    for source, municipality, known in session.execute(query):
        if known is None or not sees(municipality):
            continue
        if source not in latest or known > latest[source]:
            latest[source] = known
    return latest


def _with_freshness(
    statuses: Iterable[SourceStatus],
    catalogue: FeatureCatalogue,
    freshness: Mapping[str, dt.date],
    month: str,
) -> list[SourceStatus]:
    source_of = {spec.holding: spec.source for spec in catalogue.features}
    result = []
    for status in statuses:
        known = freshness.get(source_of.get(status.holding, status.holding))
        result.append(
            SourceStatus(
                **{
                    **status.__dict__,
                    "last_known": known,
                    "months_old": _months_between(known, month) if known is not None else None,
                }
            )
        )
    return result


# -- history -------------------------------------------------------------------------------------


def child_history(session: Session, child_id: str, sees: Sees) -> list[HistoryPoint]:
    """Scores of the child in succeeded runs, oldest month first, where the caller may see."""
    rows = session.execute(
        select(ChildScore, ScoreRun.as_of_month)
        .join(ScoreRun, ScoreRun.id == ChildScore.run_id)
        .where(ChildScore.child_id == child_id, ScoreRun.status == _SUCCEEDED)
        .order_by(ScoreRun.as_of_month, ScoreRun.id, ChildScore.hardship)
    ).all()
    return [
        HistoryPoint(
            run_id=score.run_id,
            as_of_month=month,
            hardship=score.hardship,
            municipality=score.municipality,
            probability=score.probability,
            percentile=score.percentile,
            band=score.band,
            already_supported=score.already_supported,
            model_version=score.model_version,
        )
        for score, month in rows
        if sees(score.municipality)
    ]


def child_reviews(session: Session, child_id: str, sees: Sees) -> list[ReviewLine]:
    """The child's reviews, newest first, where the caller may see."""
    rows = session.execute(
        select(Review, ScoreRun.as_of_month)
        .outerjoin(ScoreRun, ScoreRun.id == Review.run_id)
        .where(Review.child_id == child_id)
        .order_by(Review.created_at.desc(), Review.id.desc())
    ).all()
    return [
        ReviewLine(
            created_at=review.created_at,
            hardship=review.hardship,
            municipality=review.municipality,
            decision=review.decision,
            reason=review.reason,
            note=review.note,
            band=review.band,
            run_month=month,
        )
        for review, month in rows
        if sees(review.municipality)
    ]


# -- what the model cannot know ------------------------------------------------------------------


def _percent(value: Any) -> str | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else f"{number:.0%}"


def blind_spots(
    hardships: Iterable[HardshipReport],
    sources: Iterable[SourceStatus],
    metadata: Mapping[str, Mapping[str, Any]],
    not_scored: Mapping[str, str],
    as_of_month: str,
) -> list[BlindSpot]:
    """The limits a reviewer must weigh, from the bundles' training metadata and the row."""
    spots: list[BlindSpot] = []
    missing = [s for s in sources if not s.held]
    if missing:
        spots.append(
            BlindSpot(
                "この自治体は次のデータを保有していないため、モデルはその情報を使えません："
                + "、".join(s.name_ja for s in missing)
                + "。該当する困難の兆しは、このスコアには表れません。",
                "The municipality does not hold "
                + ", ".join(s.name_en for s in missing)
                + "; whatever those records would show is absent from this score.",
            )
        )
    spots.append(
        BlindSpot(
            "対象は住民基本台帳に記録のある子どもだけです。住民票を移していない子ども、転出した"
            "子ども、連携していない自治体や機関（児童相談所、医療機関、私立学校など）の記録は"
            "見えません。",
            "Only children in the resident registry are scored. Children not registered here, "
            "children who moved away, and records of bodies not linked (child guidance centres, "
            "hospitals, private schools) are invisible to the model.",
        )
    )
    spots.append(
        BlindSpot(
            "モデルは、過去に記録された困難（相談・保護・把握の記録）から学んでいます。"
            "記録に至らなかった困難は学習できず、スコアが低いことは困難がないことを意味しません。",
            "The model learned from hardships that were recorded (consultations, protection, "
            "identification). Hardship that never reached a record cannot be learned: a low "
            "score does not mean no hardship.",
        )
    )
    horizons = {
        str(m.get("label_horizon_months"))
        for m in metadata.values()
        if m.get("label_horizon_months")
    }
    horizon = "/".join(sorted(horizons)) or "?"
    spots.append(
        BlindSpot(
            f"スコアは{as_of_month}時点までに把握された記録だけに基づく、{horizon}か月以内の"
            "見込みです。それ以降の出来事や、まだ届いていない記録は反映されていません。",
            f"The score uses only records known by {as_of_month} and estimates the next "
            f"{horizon} months; later events and records not yet delivered are not in it.",
        )
    )
    for hardship in hardships:
        meta = metadata.get(hardship.hardship, {})
        metrics = meta.get("test_metrics") or {}
        periods = meta.get("periods") or {}
        precision = _percent(metrics.get("precision_at_capacity"))
        recall = _percent(metrics.get("recall_at_capacity"))
        capacity = _percent(meta.get("capacity"))
        if precision is not None and recall is not None and capacity is not None:
            spots.append(
                BlindSpot(
                    f"{hardship.label_ja}：テスト期間（{periods.get('test', '?')}）に上位{capacity}"
                    f"として選ばれた子どものうち、実際に把握に至ったのは{precision}、把握された"
                    f"子どものうち上位に入っていたのは{recall}でした。",
                    f"{hardship.hardship}: in the test period ({periods.get('test', '?')}), "
                    f"{precision} of the children in the top {capacity} had a recorded onset, "
                    f"and the top {capacity} held {recall} of all onsets.",
                )
            )
        if hardship.already_supported:
            spots.append(
                BlindSpot(
                    f"{hardship.label_ja}：この子どもはすでに支援を受けています。支援中の子どもは"
                    "学習から除かれているため、このスコアは参考値です。",
                    f"{hardship.hardship}: the child is already supported; supported children "
                    "were left out of training, so this score is for reference only.",
                )
            )
    for name, reason in not_scored.items():
        spots.append(
            BlindSpot(
                f"{_label(name)}：モデルが読み込まれていないため評価していません（{reason}）。",
                f"{name}: not scored, no model is loaded ({reason}).",
            )
        )
    return spots


def _label(hardship: str) -> str:
    try:
        return load_hardship_registry().get(hardship).label_ja
    except (KeyError, ValueError):
        return hardship


# -- the report ----------------------------------------------------------------------------------


def _hardship_report(hardship: str, score: Any, flagged_labels: tuple[str, ...]) -> HardshipReport:
    explanation = score.explanation or {}
    over = explanation.get("over_influence")
    return HardshipReport(
        hardship=hardship,
        label_ja=_label(hardship),
        probability=score.probability,
        percentile=score.percentile,
        band=score.band,
        already_supported=score.already_supported,
        model_version=score.model_version,
        base_log_odds=float(explanation.get("base_log_odds", 0.0)),
        log_odds=float(explanation.get("log_odds", 0.0)),
        base_probability=float(explanation.get("base_probability", math.nan)),
        factors=tuple(
            Factor(
                feature=str(f["feature"]),
                label_ja=str(f["label_ja"]),
                value_text=str(f["value_text"]),
                log_odds=float(f["log_odds"]),
                missing=bool(f.get("missing")),
            )
            for f in explanation.get("factors", ())
        ),
        over_influence=OverInfluence(
            feature=over["feature"],
            label_ja=over["label_ja"],
            share=float(over["share"]),
            message_ja=over["message_ja"],
            message_en=over["message_en"],
        )
        if over
        else None,
        model_flagged=flagged_labels,
    )


def build_child_report(
    engine: ScoringEngine,
    session: Session,
    row: ChildRow,
    *,
    sees: Sees,
    now: dt.datetime | None = None,
) -> ChildReport:
    """The report on a stored child row (`row.child_id` set) the caller may see."""
    assert row.child_id is not None, "reports are of stored children"
    ready = engine.ready_hardships()
    statuses = engine.status()
    not_scored = {
        h: statuses[h].reason or "no model loaded" for h in engine.hardships if h not in ready
    }
    scored = engine.score([row], ready, explain=True, top_k=TOP_FACTORS)[0] if ready else None
    snapshot = engine.champions.snapshot
    metadata: dict[str, Mapping[str, Any]] = {}
    used: set[str] = set()
    flags = engine.model_flags()
    hardships = []
    for hardship in ready:
        loaded = snapshot.get(hardship)
        if loaded is not None:
            metadata[hardship] = loaded.bundle.metadata
            used.update(loaded.bundle.feature_names)
        flagged = tuple(
            str(f.get("label_ja") or f.get("feature"))
            for f in flags.get(hardship, {}).get("flagged_features", [])
        )
        assert scored is not None
        hardships.append(_hardship_report(hardship, scored.scores[hardship], flagged))
    # The payload schema holds the store's columns in the order of row.values.
    store_columns = engine.payload_schema().columns
    sources = source_statuses(engine.catalogue, store_columns, row.values, used)
    sources = _with_freshness(
        sources,
        engine.catalogue,
        source_freshness(session, row.child_id, row.month, sees),
        row.month,
    )
    return ChildReport(
        child_id=row.child_id,
        municipality=row.municipality,
        as_of_month=row.month,
        generated_at=now or dt.datetime.now(dt.UTC),
        hardships=tuple(hardships),
        sources=tuple(sources),
        history=tuple(child_history(session, row.child_id, sees)),
        reviews=tuple(child_reviews(session, row.child_id, sees)),
        blind_spots=tuple(blind_spots(hardships, sources, metadata, not_scored, row.month)),
        not_scored=not_scored,
    )
