"""The review feedback loop: reviewers' decisions on flagged children, and what they add up to.

    review = record_review(session, request, municipality_of=..., sees=..., key_id=...)
    summary = summarise_reviews(session, municipality="990001", hardship="truancy")

A decision is about one child and hardship as flagged in one score run; by default the latest
succeeded run that scored the child for it, since that is the flag the reviewer is looking at.
The band is copied from that run's score, so a later policy change does not rewrite what was
reviewed. A child may be reviewed again (more information came in): the latest decision per
child, hardship and run is the one that counts in the summary, and earlier ones stay stored.

Confirmed means preventive_support or monitoring, the FY2025 demonstration's measure: 852 of
the 2,475 flagged children were confirmed by human review (about 34 %).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from features.store.database import lock_for_write
from service.schemas.reviews import (
    BandMonthSummary,
    RejectedFeature,
    ReviewIn,
    ReviewOut,
    ReviewSummary,
)
from service.store.models import ChildScore, Review, ScoreRun

__all__ = [
    "CONFIRMED",
    "REJECTED",
    "ReviewError",
    "UnknownChildError",
    "record_review",
    "review_out",
    "reviews_of_child",
    "summarise_reviews",
]

CONFIRMED: Final = frozenset({"preventive_support", "monitoring"})
REJECTED: Final = "no_action"
NEEDS_INFORMATION: Final = "needs_information"
_SUCCEEDED: Final = "succeeded"
_BANDS: Final = ("high", "moderate", "watch")
_TOP_FEATURES: Final = 10


class ReviewError(ValueError):
    """The review cannot be recorded as asked; `field` names what is wrong."""

    def __init__(self, message: str, field: str) -> None:
        self.field = field
        super().__init__(message)


class UnknownChildError(ReviewError):
    """No such child, or one the caller may not see (answered alike, 404)."""


@dataclass(frozen=True)
class _Flag:
    run_id: int
    as_of_month: str
    municipality: str
    band: str | None


def _flag_in_run(
    session: Session, child_id: str, hardship: str, run_id: int | None
) -> _Flag | None:
    query = (
        select(ChildScore.run_id, ScoreRun.as_of_month, ChildScore.municipality, ChildScore.band)
        .join(ScoreRun, ScoreRun.id == ChildScore.run_id)
        .where(
            ChildScore.child_id == child_id,
            ChildScore.hardship == hardship,
            ScoreRun.status == _SUCCEEDED,
        )
    )
    if run_id is not None:
        query = query.where(ChildScore.run_id == run_id)
    else:
        query = query.order_by(ScoreRun.as_of_month.desc(), ScoreRun.id.desc()).limit(1)
    row = session.execute(query).first()
    return None if row is None else _Flag(row[0], row[1], row[2], row[3])


def record_review(
    session: Session,
    request: ReviewIn,
    *,
    key_id: str,
    sees: Callable[[str], bool],
    municipality_of: Callable[[str], str | None],
    now: dt.datetime | None = None,
) -> tuple[Review, str | None]:
    """Store a decision (the caller commits); returns the row and the reviewed run's month.

    `municipality_of(child_id)` gives the child's municipality from the feature store, for a
    child no run has scored yet. Raises UnknownChildError for a child that does not exist or
    lives outside the caller's scope, ReviewError for a run that did not score the child.
    """
    # Audit appends commit between this read and the insert below; see lock_for_write.
    lock_for_write(session, Review.__table__)  # type: ignore[arg-type]
    flag = _flag_in_run(session, request.child_id, request.hardship, request.run_id)
    if flag is None and request.run_id is not None:
        # Say no more than "not in that run" until we know the caller may see the child.
        municipality = municipality_of(request.child_id)
        if municipality is None or not sees(municipality):
            raise UnknownChildError("unknown child", "child_id")
        raise ReviewError("the run did not score this child for this hardship", "run_id")
    municipality = flag.municipality if flag is not None else municipality_of(request.child_id)
    if municipality is None or not sees(municipality):
        raise UnknownChildError("unknown child", "child_id")
    review = Review(
        child_id=request.child_id,
        hardship=request.hardship,
        municipality=municipality,
        run_id=flag.run_id if flag is not None else None,
        band=flag.band if flag is not None else None,
        decision=request.decision,
        reason=request.reason,
        note=request.note,
        reviewer_key_id=key_id,
        created_at=now or dt.datetime.now(dt.UTC),
    )
    session.add(review)
    session.flush()
    return review, flag.as_of_month if flag is not None else None


def review_out(review: Review, as_of_month: str | None) -> ReviewOut:
    return ReviewOut(
        id=review.id,
        child_id=review.child_id,
        hardship=review.hardship,
        municipality=review.municipality,
        run_id=review.run_id,
        as_of_month=as_of_month,
        band=review.band,
        decision=review.decision,
        reason=review.reason,
        note=review.note,
        reviewer_key_id=review.reviewer_key_id,
        created_at=review.created_at,
    )


def reviews_of_child(
    session: Session, child_id: str, sees: Callable[[str], bool]
) -> list[ReviewOut]:
    rows = session.execute(
        select(Review, ScoreRun.as_of_month)
        .outerjoin(ScoreRun, ScoreRun.id == Review.run_id)
        .where(Review.child_id == child_id)
        .order_by(Review.created_at.desc(), Review.id.desc())
    ).all()
    return [review_out(review, month) for review, month in rows if sees(review.municipality)]


# -- the summary ---------------------------------------------------------------------------------


def _latest_runs(session: Session, month: str | None) -> dict[str, int]:
    """The latest succeeded run of each month: the list a case conference worked from."""
    query = (
        select(ScoreRun.as_of_month, func.max(ScoreRun.id))
        .where(ScoreRun.status == _SUCCEEDED)
        .group_by(ScoreRun.as_of_month)
    )
    if month is not None:
        query = query.where(ScoreRun.as_of_month == month)
    return {m: int(run_id) for m, run_id in session.execute(query)}


def _filtered(query: Any, column_m: Any, column_h: Any, m: str | None, h: str | None) -> Any:
    if m is not None:
        query = query.where(column_m == m)
    if h is not None:
        query = query.where(column_h == h)
    return query


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _band_summary(
    month: str, band: str, flagged: int, decisions: Iterable[str]
) -> BandMonthSummary:
    counts = Counter(decisions)
    confirmed = sum(counts[d] for d in CONFIRMED)
    reviewed = sum(counts.values())
    return BandMonthSummary(
        as_of_month=month,
        band=band,
        flagged=flagged,
        reviewed=reviewed,
        confirmed=confirmed,
        rejected=counts[REJECTED],
        needs_information=counts[NEEDS_INFORMATION],
        confirmed_share=_share(confirmed, flagged),
        confirmed_share_of_reviewed=_share(confirmed, reviewed),
    )


def summarise_reviews(
    session: Session,
    *,
    municipality: str | None,
    hardship: str | None,
    month: str | None,
    labels: Mapping[str, str] | None = None,
) -> ReviewSummary:
    """Per month and band: flagged, reviewed, confirmed; why and on what children were rejected.

    Flagged children are those of the latest succeeded run of each month, in a band and not
    already supported (the review capacity goes to them). A decision counts for the month and
    band of the run it reviewed; reviews recorded outside any run are only counted.
    """
    runs = _latest_runs(session, month)
    month_of_run = {run_id: m for m, run_id in runs.items()}
    flagged_rows = session.execute(
        _filtered(
            select(ChildScore.run_id, ChildScore.band, func.count())
            .where(
                ChildScore.run_id.in_(list(month_of_run)),
                ChildScore.band.is_not(None),
                ChildScore.already_supported.is_(False),
            )
            .group_by(ChildScore.run_id, ChildScore.band),
            ChildScore.municipality,
            ChildScore.hardship,
            municipality,
            hardship,
        )
    ).all()
    flagged: dict[tuple[str, str], int] = {
        (month_of_run[run_id], band): int(n) for run_id, band, n in flagged_rows
    }

    review_query = _filtered(
        select(Review, ScoreRun.as_of_month)
        .outerjoin(ScoreRun, ScoreRun.id == Review.run_id)
        .order_by(Review.created_at, Review.id),
        Review.municipality,
        Review.hardship,
        municipality,
        hardship,
    )
    if month is not None:
        review_query = review_query.where(ScoreRun.as_of_month == month)
    latest: dict[tuple[str, str, int | None], tuple[Review, str | None]] = {}
    outside = 0
    for review, run_month in session.execute(review_query):
        if review.run_id is None:
            outside += 1
            continue
        latest[(review.child_id, review.hardship, review.run_id)] = (review, run_month)

    decisions: dict[tuple[str, str], list[str]] = defaultdict(list)
    rejected: list[Review] = []
    for review, run_month in latest.values():
        if review.band is None or run_month is None:
            continue
        decisions[(run_month, review.band)].append(review.decision)
        if review.decision == REJECTED:
            rejected.append(review)

    keys = sorted(
        set(flagged) | set(decisions),
        key=lambda k: (k[0], -_BANDS.index(k[1]) if k[1] in _BANDS else 0),
        reverse=True,
    )
    bands = [
        _band_summary(m, b, flagged.get((m, b), 0), decisions.get((m, b), ())) for m, b in keys
    ]
    totals = (
        _band_summary(
            "all",
            "all",
            sum(flagged.values()),
            [d for values in decisions.values() for d in values],
        )
        if keys
        else None
    )
    return ReviewSummary(
        municipality=municipality,
        hardship=hardship,
        month=month,
        bands=bands,
        totals=totals,
        outside_runs=outside,
        rejection_reasons=dict(Counter(r.reason or "unknown" for r in rejected).most_common()),
        rejected_features=_rejected_features(session, rejected, labels or {}),
    )


def _rejected_features(
    session: Session, rejected: list[Review], labels: Mapping[str, str]
) -> list[RejectedFeature]:
    """Which stored reasons (the run's top factors) raised the rejected children's scores.

    A feature that keeps appearing here is one reviewers keep overruling: a stale source, a
    record that means something else locally, or an item the model leans on too much.
    """
    if not rejected:
        return []
    wanted = {(r.run_id, r.child_id, r.hardship) for r in rejected}
    runs = {run_id for run_id, _, _ in wanted}
    children = {child for _, child, _ in wanted}
    rows = session.execute(
        select(
            ChildScore.run_id, ChildScore.child_id, ChildScore.hardship, ChildScore.reasons
        ).where(ChildScore.run_id.in_(runs), ChildScore.child_id.in_(children))
    ).all()
    counts: Counter[str] = Counter()
    totals: dict[str, float] = defaultdict(float)
    with_reasons = 0
    for run_id, child_id, hardship, reasons in rows:
        if (run_id, child_id, hardship) not in wanted or not reasons:
            continue
        with_reasons += 1
        for item in reasons:
            feature, contribution = str(item[0]), float(item[2])
            if contribution > 0:
                counts[feature] += 1
                totals[feature] += contribution
    return [
        RejectedFeature(
            feature=feature,
            label_ja=labels.get(feature),
            children=n,
            share=round(n / with_reasons, 4),
            mean_contribution=round(totals[feature] / n, 4),
        )
        for feature, n in counts.most_common(_TOP_FEATURES)
    ]
