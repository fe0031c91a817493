"""What a reviewer's report says about one child, as plain data (no database, no HTML).

`service.reports.build` assembles a `ChildReport` from the engine and the stores;
`service.reports.render` turns it into HTML or PDF. Keeping the two apart lets the templates and
charts be tested on hand-made reports, and keeps rows and API schemas out of the templates.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

__all__ = [
    "BlindSpot",
    "ChildReport",
    "Factor",
    "HardshipReport",
    "HistoryPoint",
    "OverInfluence",
    "ReviewLine",
    "SourceStatus",
]


@dataclass(frozen=True)
class Factor:
    """One of the top factors behind a score (a TreeSHAP contribution, in log-odds)."""

    feature: str
    label_ja: str
    value_text: str
    log_odds: float
    missing: bool = False


@dataclass(frozen=True)
class OverInfluence:
    """One feature carried most of what raised the score (see service.scoring.explanations)."""

    feature: str
    label_ja: str
    share: float
    message_ja: str
    message_en: str


@dataclass(frozen=True)
class HardshipReport:
    hardship: str
    label_ja: str
    probability: float
    percentile: float | None
    band: str | None
    already_supported: bool | None
    model_version: str
    base_log_odds: float
    log_odds: float
    base_probability: float
    factors: tuple[Factor, ...]
    over_influence: OverInfluence | None = None
    # Features training's audit found over-influential in the model as a whole (labels).
    model_flagged: tuple[str, ...] = ()

    @property
    def rest_log_odds(self) -> float:
        """What the factors not shown add up to, so the waterfall ends on the score."""
        return self.log_odds - self.base_log_odds - sum(f.log_odds for f in self.factors)


@dataclass(frozen=True)
class SourceStatus:
    """One kind of data the models read, for this child at the as-of month.

    `held` comes from the feature row's missing-source indicator (a municipality that does not
    hold a source has it set for every child). `last_known` is the latest date on which a
    record of the source, linked to the child, its household or its mother, became known
    before the as-of month (source_record.known_date); None when there is none, which for a
    held source usually means simply that nothing happened (no consultation, no arrears).
    """

    holding: str
    name_ja: str
    name_en: str
    department: str
    system: str | None
    held: bool
    features: int
    last_known: dt.date | None = None
    months_old: int | None = None


@dataclass(frozen=True)
class HistoryPoint:
    run_id: int
    as_of_month: str
    hardship: str
    municipality: str
    probability: float
    percentile: float
    band: str | None
    already_supported: bool
    model_version: str = ""


@dataclass(frozen=True)
class ReviewLine:
    created_at: dt.datetime
    hardship: str
    municipality: str
    decision: str
    reason: str | None
    note: str | None
    band: str | None
    run_month: str | None


@dataclass(frozen=True)
class BlindSpot:
    """Something the model cannot know about this child, in both languages."""

    ja: str
    en: str


@dataclass(frozen=True)
class ChildReport:
    child_id: str
    municipality: str
    as_of_month: str
    generated_at: dt.datetime
    hardships: tuple[HardshipReport, ...]
    sources: tuple[SourceStatus, ...] = ()
    history: tuple[HistoryPoint, ...] = ()
    reviews: tuple[ReviewLine, ...] = ()
    blind_spots: tuple[BlindSpot, ...] = ()
    not_scored: dict[str, str] = field(default_factory=dict)  # hardship -> why (no model)

    @property
    def missing_sources(self) -> tuple[SourceStatus, ...]:
        return tuple(s for s in self.sources if not s.held)

    @property
    def by_concern(self) -> tuple[HardshipReport, ...]:
        """Banded hardships first (strictest band, then highest probability): what a
        reviewer reads first when the report is printed."""
        order = {"high": 0, "moderate": 1, "watch": 2}
        return tuple(
            sorted(self.hardships, key=lambda h: (order.get(h.band or "", 3), -h.probability))
        )

    @property
    def flagged(self) -> tuple[HardshipReport, ...]:
        return tuple(h for h in self.hardships if h.band is not None)
