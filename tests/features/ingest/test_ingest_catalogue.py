"""The source catalogue is data: it validates, covers every departmental source, and a
municipality can override encodings, file patterns and headers without touching code."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from features.ingest.catalogue import (
    CatalogueError,
    MunicipalityOverride,
    load_catalogue,
    load_municipality_override,
    parse_catalogue,
)

EXPECTED_SOURCES = {
    "registry",
    "registry_name_change",
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
    "health_check",
    "school_aid",
    "young_carer",
    "pregnancy",
    "birth",
    "epds",
    "infant_checkup",
    "vaccination",
}


def test_the_packaged_catalogue_covers_every_source() -> None:
    catalogue = load_catalogue()
    assert set(catalogue.sources) == EXPECTED_SOURCES
    assert len(catalogue.sha256) == 64


@pytest.mark.parametrize("source", sorted(EXPECTED_SOURCES))
def test_each_source_declares_purpose_ids_and_dates(source: str) -> None:
    spec = load_catalogue().sources[source]
    assert spec.department and spec.description
    assert spec.ids
    names = {column.name for column in spec.columns.values()}
    assert spec.event_date in names
    assert (spec.known_date.column in names) or (spec.known_date.lag_days is not None)
    # Names, kana and addresses must be marked personal so quarantine redacts them.
    for header, column in spec.columns.items():
        if any(word in header for word in ("氏名", "住所", "方書")):
            assert column.personal, header


def test_id_kinds_follow_the_departments() -> None:
    sources = load_catalogue().sources
    assert sources["registry"].ids[0].kind == "atena"
    assert sources["attendance"].ids[0].kind == "pupil"
    assert sources["pregnancy"].ids[0].kind == "maternal_record"
    assert sources["birth"].ids[0].kind == "child_record"


def _raw_catalogue() -> dict:  # type: ignore[type-arg]
    from importlib import resources

    text = resources.files("features.ingest").joinpath("catalogue.yaml").read_text("utf-8")
    return yaml.safe_load(text)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (lambda s: s.update(event_date="no_such_column"), "event_date"),
        (lambda s: s["known_date"].update(lag_days=3), "exactly one"),
        (lambda s: s.update(legal_basis="because"), "legal_basis"),
        (lambda s: s["columns"]["宛名番号"].update(type="decimal"), "type"),
        (lambda s: s["columns"]["宛名番号"].update(unknown_key=1), "unknown_key"),
        (lambda s: s["columns"]["課税区分"].pop("values"), "values"),
    ],
)
def test_invalid_catalogues_are_refused_with_a_reason(change, complaint: str) -> None:  # type: ignore[no-untyped-def]
    raw = _raw_catalogue()
    change(raw["sources"]["tax"])
    with pytest.raises(CatalogueError, match=complaint):
        parse_catalogue(yaml.safe_dump(raw, allow_unicode=True).encode())


def test_a_municipality_override_renames_headers_and_pins_encoding(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.yaml"
    path.write_text(
        "sources:\n"
        "  registry:\n"
        "    encoding: cp932\n"
        "    pattern: registry/JUKI_*.csv\n"
        "    headers:\n"
        "      カナ氏名: 氏名カナ\n",
        encoding="utf-8",
    )
    loaded = load_municipality_override(path)
    assert loaded is not None
    base = load_catalogue()
    local = base.with_override(*loaded)
    registry = local.sources["registry"]
    assert registry.encoding == "cp932"
    assert registry.pattern == "registry/JUKI_*.csv"
    assert registry.columns["カナ氏名"].name == "name_kana"
    assert "氏名カナ" not in registry.columns
    assert local.sha256 != base.sha256
    assert local.sources["tax"] == base.sources["tax"]


def test_an_override_naming_an_unknown_header_is_refused() -> None:
    override = MunicipalityOverride.model_validate(
        {"sources": {"registry": {"headers": {"カナ": "存在しない列"}}}}
    )
    with pytest.raises(CatalogueError, match="存在しない列"):
        load_catalogue().with_override(override, b"x")


def test_an_override_for_an_unknown_source_is_refused() -> None:
    override = MunicipalityOverride.model_validate({"sources": {"daycare": {"encoding": "cp932"}}})
    with pytest.raises(CatalogueError, match="daycare"):
        load_catalogue().with_override(override, b"x")


def test_no_override_file_means_no_override(tmp_path: Path) -> None:
    assert load_municipality_override(tmp_path / "catalogue.yaml") is None
