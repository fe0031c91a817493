"""The hardship registry: five types by default, Japanese labels, config-driven."""

from __future__ import annotations

import pytest

from models.hardships import (
    HardshipRegistryError,
    UnknownHardshipError,
    load_hardship_registry,
    parse_hardship_registry,
    registered_model_name,
)

EXPECTED = {
    "abuse": "虐待",
    "poverty": "貧困",
    "truancy": "不登校",
    "postpartum_depression": "産後うつ",
    "young_carer": "ヤングケアラー",
}


def test_default_registry_has_the_five_hardships() -> None:
    registry = load_hardship_registry()
    assert {h.id: h.label_ja for h in registry.hardships} == EXPECTED
    abuse = registry.get("abuse")
    assert (abuse.label_column, abuse.supported_column) == (
        "label_abuse",
        "already_supported_abuse",
    )
    assert abuse.registered_model_name == registered_model_name("abuse") == "mimamori-abuse"


def test_unknown_hardship_names_the_known_ones() -> None:
    with pytest.raises(UnknownHardshipError) as raised:
        load_hardship_registry().select(["abuse", "bullying"])
    assert "bullying" in str(raised.value) and "young_carer" in str(raised.value)


def test_a_new_hardship_is_configuration(tmp_path) -> None:
    path = tmp_path / "hardships.yaml"
    path.write_text(
        "version: 1\nhardships:\n"
        "  abuse: {label_ja: 虐待, description: d}\n"
        "  bullying: {label_ja: いじめ, description: d, exclude_features: [nurse_visits_3m]}\n",
        encoding="utf-8",
    )
    registry = load_hardship_registry(path)
    assert registry.ids == ("abuse", "bullying")
    assert registry.get("bullying").exclude_features == ("nurse_visits_3m",)
    assert [h.id for h in registry.select(["bullying"])] == ["bullying"]


@pytest.mark.parametrize(
    "text",
    [
        "version: 1\nhardships: {}\n",
        "version: 1\nhardships:\n  Bad-Name: {label_ja: x, description: y}\n",
    ],
)
def test_invalid_registry_is_refused(text: str) -> None:
    with pytest.raises(HardshipRegistryError):
        parse_hardship_registry(text)


def test_every_hardship_has_a_label_definition() -> None:
    from features.labels import load_label_definitions

    definitions = load_label_definitions().hardships
    for hardship in load_hardship_registry().hardships:
        assert hardship.id in definitions
        assert definitions[hardship.id].label_ja == hardship.label_ja
