"""Welfare features of the child: 生活保護, 児童扶養手当, consultations and 要対協 history.

Consultations and 要対協 registrations of the child's siblings (the other residents under 18 of
its household at T) are counted beside the child's own: what a household's other children went
through is the first thing a case conference asks about a newborn, who has no history yet.
"""

from __future__ import annotations

import numpy as np

from features.pointintime.inputs import FeatureGroup, Inputs, siblings_total
from features.timeline.events import Events, Spells
from features.timeline.population import AsOf

__all__ = ["ChildProtection", "Consultation", "PublicAssistance", "SingleParentAllowance"]


class PublicAssistance(FeatureGroup):
    def __init__(self, inputs: Inputs) -> None:
        super().__init__(inputs)
        rows = inputs.rows("public_assistance", "started_on", "ended_on")
        self.spells = Spells(
            inputs.codes(rows),
            inputs.month(rows, "started_on"),
            inputs.end_visible(rows, "ended_on", "public_assistance"),
            inputs.visible(rows),
        )

    def at(self, as_of: AsOf) -> dict[str, np.ndarray]:
        return {
            "public_assistance_current": self.spells.active(as_of.person, as_of.month).astype(
                np.float64
            ),
            "public_assistance_ever": self.spells.ever(as_of.person, as_of.month).astype(
                np.float64
            ),
        }


class SingleParentAllowance(FeatureGroup):
    def __init__(self, inputs: Inputs) -> None:
        super().__init__(inputs)
        # The row's subject is the child covered (対象児童宛名番号 comes first in the catalogue).
        rows = inputs.rows("single_parent_allowance", "certified_on", "lost_on")
        self.spells = Spells(
            inputs.codes(rows),
            inputs.month(rows, "certified_on"),
            inputs.end_visible(rows, "lost_on", "single_parent_allowance"),
            inputs.visible(rows),
        )

    def at(self, as_of: AsOf) -> dict[str, np.ndarray]:
        active = self.spells.active(as_of.person, as_of.month)
        return {"single_parent_allowance_current": active.astype(np.float64)}


class Consultation(FeatureGroup):
    def __init__(self, inputs: Inputs) -> None:
        super().__init__(inputs)
        rows = inputs.rows("consultation", "received_on", "outcome")
        substantiated = (rows["outcome"] == "abuse_substantiated").to_numpy(dtype=np.float64)
        self.events = Events(
            inputs.codes(rows),
            inputs.month(rows, "received_on"),
            inputs.visible(rows),
            {"substantiated": substantiated},
            windows=(12,),
        )

    def at(self, as_of: AsOf) -> dict[str, np.ndarray]:
        residents, month = as_of.residents.person, as_of.month
        total = self.events.count(residents, month)
        recent = self.events.count(residents, month, within=12)
        substantiated = self.events.total(residents, month, "substantiated")
        own = as_of.resident_row
        n = self.inputs.n_households
        return {
            "consultations_total": total[own],
            "consultations_12m": recent[own],
            "abuse_substantiated_total": substantiated[own],
            "siblings_consultations_12m": siblings_total(as_of, recent, n),
            "siblings_abuse_substantiated_total": siblings_total(as_of, substantiated, n),
        }


class ChildProtection(FeatureGroup):
    def __init__(self, inputs: Inputs) -> None:
        super().__init__(inputs)
        rows = inputs.rows("child_protection", "registered_on", "closed_on")
        self.spells = Spells(
            inputs.codes(rows),
            inputs.month(rows, "registered_on"),
            inputs.end_visible(rows, "closed_on", "child_protection"),
            inputs.visible(rows),
        )

    def at(self, as_of: AsOf) -> dict[str, np.ndarray]:
        residents, month = as_of.residents.person, as_of.month
        active = self.spells.active(residents, month).astype(np.float64)
        ever = self.spells.ever(residents, month).astype(np.float64)
        own = as_of.resident_row
        n = self.inputs.n_households
        return {
            "child_protection_current": active[own],
            "child_protection_ever": ever[own],
            "siblings_child_protection_current": siblings_total(as_of, active, n),
            "siblings_child_protection_ever": siblings_total(as_of, ever, n),
        }
