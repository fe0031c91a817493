"""Reports, lists and charts rendered from hand-made data: no database, no models."""

from __future__ import annotations

import csv
import datetime as dt
import io
from xml.etree import ElementTree

import numpy as np
import pytest
from fontTools.ttLib import TTFont

from features.catalogue.feature_catalogue import load_feature_catalogue
from models.hardships import load_hardship_registry
from service.reports.build import blind_spots, source_statuses
from service.reports.charts import waterfall_svg
from service.reports.fonts import font_path, licence_path
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
from service.reports.render import (
    CSV_COLUMNS,
    flagged_csv,
    render_flagged_html,
    render_report_html,
)
from service.reports.text import DECISIONS, REASONS, TEXT
from service.schemas.reviews import Decision, NoActionReason
from service.schemas.runs import FlaggedChild, FlaggedList, Reason


def _hardship(band: str | None = "high", **changes: object) -> HardshipReport:
    fields: dict[str, object] = {
        "hardship": "truancy",
        "label_ja": "不登校",
        "probability": 0.31,
        "percentile": 99.5,
        "band": band,
        "already_supported": False,
        "model_version": "3",
        "base_log_odds": -3.0,
        "log_odds": -0.8,
        "base_probability": 0.047,
        "factors": (
            Factor("absence_nonillness_days_3m", "直近3か月の病欠以外の欠席日数", "12", 1.4),
            Factor("late_days_3m", "直近3か月の遅刻日数", "データなし", 0.5, missing=True),
            Factor("age_months", "月齢", "150", -0.3),
        ),
        "over_influence": OverInfluence(
            "absence_nonillness_days_3m",
            "欠席",
            0.74,
            "主に1つの項目に基づいています",
            "rests on one item",
        ),
    }
    fields.update(changes)
    return HardshipReport(**fields)  # type: ignore[arg-type]


def _report(**changes: object) -> ChildReport:
    fields: dict[str, object] = {
        "child_id": "c0ffee",
        "municipality": "990001",
        "as_of_month": "2026-03",
        "generated_at": dt.datetime(2026, 4, 2, 9, 0, tzinfo=dt.UTC),
        "hardships": (_hardship(), _hardship(None, hardship="poverty", label_ja="貧困")),
        "sources": (
            SourceStatus(
                "registry",
                "住民基本台帳",
                "registry",
                "市民課",
                "住民基本台帳",
                True,
                9,
                dt.date(2026, 1, 10),
                2,
            ),
            SourceStatus("epds", "EPDS", "epds", "母子保健", None, False, 2),
        ),
        "history": (
            HistoryPoint(1, "2025-12", "truancy", "990002", 0.12, 90.0, None, False, "2"),
            HistoryPoint(2, "2026-03", "truancy", "990001", 0.31, 99.5, "high", False, "3"),
        ),
        "reviews": (
            ReviewLine(
                dt.datetime(2026, 3, 20),
                "truancy",
                "990002",
                "no_action",
                "already_supported_elsewhere",
                "<script>alert(1)</script>",
                "high",
                "2025-12",
            ),
        ),
        "blind_spots": (BlindSpot("見えないもの", "what is unseen"),),
    }
    fields.update(changes)
    return ChildReport(**fields)  # type: ignore[arg-type]


def test_the_report_shows_scores_factors_sources_history_reviews_and_blind_spots() -> None:
    html = render_report_html(_report(), "ja")
    for words in (
        "不登校",
        "貧困",
        "99.5%の子どもより高い",
        "直近3か月の病欠以外の欠席日数",
        "主に1つの項目に基づいています",
        "住民基本台帳",
        "2026-01-10",
        "2か月前",
        "他機関で支援中",
        "見えないもの",
        "2025-12",
        "990002",
    ):
        assert words in html, words
    assert '<p id="missing-sources">EPDS</p>' in html
    # The banded hardship comes first among the sections, whatever the registry order.
    assert html.index('id="hardship-truancy"') < html.index('id="hardship-poverty"')
    assert html.count("<svg") == 2 + 1  # two waterfalls and the history


def test_notes_are_escaped_so_a_note_cannot_run_in_the_page() -> None:
    html = render_report_html(_report(), "ja")
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_english_uses_the_english_words() -> None:
    html = render_report_html(_report(), "en")
    assert '<html lang="en">' in html
    assert "What the model cannot know" in html and "what is unseen" in html
    assert "rests on one item" in html and "already supported elsewhere" in html


def test_both_languages_have_every_word() -> None:
    assert TEXT["ja"].keys() == TEXT["en"].keys()
    for table in (DECISIONS, REASONS):
        assert table["ja"].keys() == table["en"].keys()
    assert set(DECISIONS["ja"]) == set(Decision.__args__)  # type: ignore[attr-defined]
    assert set(REASONS["ja"]) == set(NoActionReason.__args__)  # type: ignore[attr-defined]


def test_the_waterfall_is_valid_svg_with_one_bar_per_step() -> None:
    report = _hardship()
    svg = waterfall_svg(report, "ja")
    root = ElementTree.fromstring(svg)
    assert root.tag.endswith("svg") and root.get("aria-label") == "不登校のスコアの内訳"
    # base + 3 factors + the rest + the score: matplotlib names each bar patch_<n>.
    patches = [e for e in root.iter() if (e.get("id") or "").startswith("patch_")]
    bars = [p for p in patches if p.find("{http://www.w3.org/2000/svg}path") is not None]
    assert len(bars) >= 6
    assert abs(report.rest_log_odds - (-0.8 + 3.0 - 1.6)) < 1e-12


def test_the_shipped_font_draws_every_japanese_label_staff_see() -> None:
    cmap = TTFont(font_path(), lazy=True).getBestCmap()
    words = [spec.label_ja for spec in load_feature_catalogue().features]
    words += [load_hardship_registry().get(h).label_ja for h in load_hardship_registry().ids]
    for table in (TEXT, DECISIONS, REASONS):
        words += list(table["ja"].values())
    missing = {ch for word in words for ch in word if ord(ch) > 0x7F and ord(ch) not in cmap}
    assert not missing, f"IPAexGothic lacks {sorted(missing)}"
    assert "IPA" in licence_path().read_text("utf-8")


def _flagged() -> FlaggedList:
    child = FlaggedChild(
        child_id="c0ffee",
        hardship="truancy",
        band="high",
        probability=0.31,
        percentile=99.5,
        reason="直近3か月の病欠以外の欠席日数 12 (+1.40)",
        reasons=[Reason(feature="x", label_ja="欠席", value=12.0, contribution=1.4)],
    )
    supported = child.model_copy(update={"child_id": "beef", "band": "watch"})
    return FlaggedList(
        municipality="990001",
        run_id=7,
        as_of_month="2026-03",
        hardship=None,
        band=None,
        children=[child],
        already_supported=[supported],
        total_children=1,
        total_already_supported=1,
        limit=1000,
    )


def test_the_list_page_links_each_child_to_its_report() -> None:
    html = render_flagged_html(_flagged(), "ja", report_url=lambda c: f"/r/{c}")
    assert 'href="/r/c0ffee"' in html and 'href="/r/beef"' in html
    assert "直近3か月の病欠以外の欠席日数 12 (+1.40)" in html
    assert "すでに支援中の子ども" in html


def test_the_csv_has_a_bom_a_header_and_one_row_per_child() -> None:
    data = flagged_csv(_flagged())
    assert data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert rows[0] == [name for name, _ in CSV_COLUMNS]
    assert [r[3] for r in rows[1:]] == ["c0ffee", "beef"]
    assert rows[1][5] == "不登校" and rows[1][7] == "高" and rows[2][10] == "1"
    assert data.decode("utf-8-sig").encode("cp932")  # Excel's Japanese code page can hold it


def test_source_statuses_read_the_missing_indicators_of_the_row() -> None:
    catalogue = load_feature_catalogue()
    columns = catalogue.names
    values = np.zeros(len(columns))
    values[columns.index("missing_epds")] = 1.0
    used = ["mother_epds_latest", "age_months", "absence_days_3m"]
    statuses = {s.holding: s for s in source_statuses(catalogue, columns, values, used)}
    assert set(statuses) == {"epds", "registry", "attendance"}
    assert not statuses["epds"].held and statuses["epds"].name_ja == "EPDS"
    assert statuses["registry"].held and statuses["attendance"].held
    assert next(iter(statuses.values())).holding == "registry"


def test_blind_spots_name_missing_sources_and_the_test_precision() -> None:
    sources = [SourceStatus("epds", "EPDS", "epds", "母子保健", None, False, 2)]
    metadata = {
        "truancy": {
            "label_horizon_months": 6,
            "capacity": 0.025,
            "periods": {"test": "2025-04..2026-03"},
            "test_metrics": {"precision_at_capacity": 0.21, "recall_at_capacity": 0.4},
        }
    }
    spots = blind_spots(
        [_hardship(already_supported=True)], sources, metadata, {"abuse": "gone"}, "2026-03"
    )
    text = " ".join(s.ja for s in spots)
    assert "EPDS" in text and "6か月以内" in text and "21%" in text and "40%" in text
    assert "すでに支援を受けています" in text and "虐待" in text


@pytest.mark.slow
def test_the_pdf_is_a4_and_embeds_the_font() -> None:
    import re
    import zlib

    from service.reports.render import render_report_pdf

    data = render_report_pdf(_report(), "ja")
    assert data.startswith(b"%PDF-")
    blobs = [data]
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            blobs.append(zlib.decompress(match.group(1)))
        except zlib.error:
            continue
    text = b"".join(blobs)
    assert re.search(rb"/BaseFont\s*/[A-Z]{6}\+IPAexGothic", text)
    assert re.search(rb"/MediaBox\s*\[\s*0\s+0\s+595\.2\d*\s+841\.8\d*\s*\]", text)
