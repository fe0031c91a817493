"""Feature groups by the name the feature catalogue gives them (`group:` in features.yaml)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from features.pointintime.household import (
    Arrears,
    CareNeed,
    ChildMaster,
    Disability,
    Household,
    NameChange,
    Tax,
)
from features.pointintime.inputs import FeatureGroup, Inputs
from features.pointintime.maternal import (
    Birth,
    Epds,
    HouseholdEpds,
    InfantCheckup,
    MotherAge,
    Pregnancy,
    Vaccination,
)
from features.pointintime.school import Attendance, HealthCheck, SchoolAid, YoungCarer
from features.pointintime.welfare import (
    ChildProtection,
    Consultation,
    PublicAssistance,
    SingleParentAllowance,
)

__all__ = ["GROUPS", "INDICATOR_GROUP"]

# Missing-source indicators are computed by the builder itself, from the holdings.
INDICATOR_GROUP: Final = "indicators"

GROUPS: Final[Mapping[str, Callable[[Inputs], FeatureGroup]]] = {
    "child_master": ChildMaster,
    "household": Household,
    "name_change": NameChange,
    "care_need": CareNeed,
    "disability": Disability,
    "tax": Tax,
    "arrears": Arrears,
    "public_assistance": PublicAssistance,
    "single_parent_allowance": SingleParentAllowance,
    "consultation": Consultation,
    "child_protection": ChildProtection,
    "attendance": Attendance,
    "health_check": HealthCheck,
    "school_aid": SchoolAid,
    "young_carer": YoungCarer,
    "infant_checkup": InfantCheckup,
    "vaccination": Vaccination,
    "birth": Birth,
    "pregnancy": Pregnancy,
    "epds": Epds,
    "household_epds": HouseholdEpds,
    "mother_age": MotherAge,
}
