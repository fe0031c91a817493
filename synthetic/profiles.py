"""Population profiles and the municipalities they contain.

Municipality names and codes are fictional (codes in the unused 99xxxx range) so that nobody
mistakes synthetic output for a real place's data.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

# The FY2025 demonstration screened 98,116 children; `default` matches that scale.
PROFILE_CHILDREN = {"tiny": 2_000, "demo": 20_000, "default": 100_000}
MAX_CHILDREN = 2_000_000

ALL_SOURCES = (
    "registry",
    "tax",
    "arrears",
    "public_assistance",
    "single_parent_allowance",
    "disability",
    "care_need",
    "consultation",
    "child_protection",
    "school_register",
    "attendance",
    "nurse_visits",
    "health_check",
    "school_aid",
    "young_carer",
    "pregnancy",
    "birth",
    "epds",
    "infant_checkup",
    "vaccination",
)


class ProfileError(ValueError):
    """An option the generator cannot honour; the message is one line for the CLI."""


@dataclass(frozen=True)
class Municipality:
    code: str
    name: str
    prefecture: str
    share: float
    encoding: str
    # 就学援助 rates differ widely between prefectures (6.9 % to 25.5 %), so each town has its own.
    school_aid_rate: float
    missing_sources: tuple[str, ...] = ()
    # This town's education board issues new pupil numbers at junior-high entry, which breaks
    # history at the school transition unless linkage restores it.
    renumber_at_junior_high: bool = False

    def holds(self, source: str) -> bool:
        return source not in self.missing_sources


DEFAULT_MUNICIPALITIES = (
    Municipality("990001", "桜ヶ丘市", "架空県", 0.55, "cp932", 0.15),
    Municipality("990002", "緑川市", "架空県", 0.28, "utf-8", 0.12, ("health_check",)),
    Municipality(
        "990003",
        "青葉町",
        "架空県",
        0.12,
        "cp932",
        0.10,
        ("young_carer", "epds"),
        renumber_at_junior_high=True,
    ),
    Municipality(
        "990004",
        "白浜村",
        "架空県",
        0.05,
        "utf-8",
        0.20,
        ("nurse_visits", "health_check", "young_carer"),
    ),
)


@dataclass(frozen=True)
class Profile:
    name: str
    n_children: int
    seed: int
    # Monthly history from April 2021 (FY2021) to March 2026: five school years.
    start_year: int = 2021
    start_month: int = 4
    n_months: int = 60
    municipalities: tuple[Municipality, ...] = field(default=DEFAULT_MUNICIPALITIES)

    @property
    def start(self) -> tuple[int, int]:
        return self.start_year, self.start_month


def resolve_profile(name: str, *, children: int | None = None, seed: int = 7) -> Profile:
    """Validate options and build a profile; raise ProfileError with a one-line reason."""
    if name not in PROFILE_CHILDREN:
        known = ", ".join(PROFILE_CHILDREN)
        raise ProfileError(f"unknown profile {name!r}; choose one of: {known}")
    n_children = PROFILE_CHILDREN[name] if children is None else children
    if n_children < 200:
        raise ProfileError(f"children must be at least 200 (got {n_children})")
    if n_children > MAX_CHILDREN:
        raise ProfileError(f"children must be at most {MAX_CHILDREN:,} on one machine")
    if seed < 0:
        raise ProfileError(f"seed must be zero or positive (got {seed})")
    profile = Profile(name=name, n_children=n_children, seed=seed)
    return replace(profile)
