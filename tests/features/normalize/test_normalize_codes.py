from __future__ import annotations

import ast
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import features.normalize
from features.normalize import kanji_to_int, normalize_digits, normalize_sex

PACKAGE_DIR = Path(features.normalize.__file__).parent


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1", "M"),
        ("2", "F"),
        ("9", "U"),
        ("0", "U"),
        (1, "M"),
        (2, "F"),
        (9, "U"),
        ("１", "M"),
        ("２", "F"),
        ("９", "U"),
        (" 1 ", "M"),
        ("男", "M"),
        ("女", "F"),
        ("男性", "M"),
        ("女性", "F"),
        ("男子", "M"),
        ("女子", "F"),
        ("M", "M"),
        ("F", "F"),
        ("m", "M"),
        ("f", "F"),
        ("Ｍ", "M"),
        ("ｆ", "F"),
        ("male", "M"),
        ("Female", "F"),
        ("FEMALE", "F"),
        ("U", "U"),
        ("不明", "U"),
        ("unknown", "U"),
    ],
)
def test_normalize_sex(value: str | int, expected: str) -> None:
    assert normalize_sex(value) == expected


@pytest.mark.parametrize(
    "value", ["", " ", "3", "12", "x", "男女", "man", "woman", "M F", "Ｘ", -1, 3, 10]
)
def test_normalize_sex_rejects_other_values(value: str | int) -> None:
    with pytest.raises(ValueError, match="unrecognised sex value"):
        normalize_sex(value)


@pytest.mark.parametrize("value", [True, False, None, 1.0, b"1"])
def test_normalize_sex_rejects_other_types(value: object) -> None:
    with pytest.raises(ValueError, match="unrecognised sex value"):
        normalize_sex(value)  # type: ignore[arg-type]


def test_normalize_sex_does_not_echo_long_values() -> None:
    with pytest.raises(ValueError, match="unrecognised sex value") as caught:
        normalize_sex("山田太郎 " * 50)
    assert len(str(caught.value)) < 60


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("０１２３４５６７８９", "0123456789"),
        ("令和７年", "令和7年"),
        ("abc-123", "abc-123"),
        ("\u0663", "3"),
        ("①", "①"),
        ("", ""),
    ],
)
def test_normalize_digits(text: str, expected: str) -> None:
    assert normalize_digits(text) == expected


@given(st.integers(min_value=0, max_value=10**12))
def test_normalize_digits_reads_full_width_numbers(number: int) -> None:
    full_width = str(number).translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    assert normalize_digits(full_width) == str(number)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("一", 1),
        ("十", 10),
        ("十二", 12),
        ("二十三", 23),
        ("百", 100),
        ("百二十三", 123),
        ("千二百", 1200),
        ("二千二十五", 2025),
        ("二〇二五", 2025),
        ("一〇一", 101),
        ("三万五千", 35000),
        ("弐拾参", 23),
    ],
)
def test_kanji_to_int(text: str, expected: int) -> None:
    assert kanji_to_int(text) == expected


@pytest.mark.parametrize("text", ["", "十十", "一百千", "二二十", "万", "一万二万", "十a"])
def test_kanji_to_int_rejects_malformed_numerals(text: str) -> None:
    with pytest.raises(ValueError):
        kanji_to_int(text)


FORBIDDEN_PACKAGES = {"mimamori", "models", "training", "service", "synthetic"}


@pytest.mark.parametrize("module", sorted(PACKAGE_DIR.glob("*.py")), ids=lambda path: path.name)
def test_normalize_imports_no_higher_layer(module: Path) -> None:
    tree = ast.parse(module.read_text(encoding="utf-8"))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & FORBIDDEN_PACKAGES


def test_public_api_is_exported() -> None:
    for name in features.normalize.__all__:
        assert hasattr(features.normalize, name), name
