"""HTML, PDF and CSV from reports and case-conference lists.

    html = render_report_html(report, "ja", font_url="/v1/static/fonts/ipaexg.ttf")
    pdf = render_report_pdf(report, "ja")                  # A4, the same template
    data = flagged_csv(flagged_list)                        # UTF-8 with BOM

Templates are Jinja2 with autoescaping; charts are inline SVG built in service.reports.charts.
The PDF is WeasyPrint rendering the very HTML a browser gets (only the font URL differs: a
file URL, so nothing is fetched over the network), so the printed page and the screen agree.
WeasyPrint is imported only when a PDF is asked for: it is heavy and needs pango.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Sequence
from functools import lru_cache
from importlib import resources
from typing import Any, Final

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from models.hardships import load_hardship_registry
from service.reports.charts import history_svg, waterfall_svg
from service.reports.fonts import FONT_FAMILY, LICENCE_FILE, font_path
from service.reports.model import ChildReport
from service.reports.text import TEXT, band_name, decision_name, reason_name
from service.schemas.runs import FlaggedChild, FlaggedList

__all__ = [
    "CSV_COLUMNS",
    "STATIC_PREFIX",
    "flagged_csv",
    "render_flagged_html",
    "render_report_html",
    "render_report_pdf",
]

STATIC_PREFIX: Final = "/v1/static"
# The columns of the CSV export, in order, with what each holds (documented in the route too).
CSV_COLUMNS: Final[tuple[tuple[str, str], ...]] = (
    ("municipality", "地方公共団体コード (6 digits)"),
    ("as_of_month", "as-of month of the score run, YYYY-MM"),
    ("run_id", "the score run"),
    ("child_id", "pseudonymous child id (person_id)"),
    ("hardship", "abuse, poverty, truancy, postpartum_depression or young_carer"),
    ("hardship_ja", "the hardship in Japanese"),
    ("band", "high, moderate or watch"),
    ("band_ja", "the band in Japanese"),
    ("probability", "calibrated probability, 0..1, 4 decimals"),
    ("percentile", "% of the municipality's children that month with a lower probability"),
    ("already_supported", "1 when the child is already supported for the hardship (顕在層)"),
    ("reason", "one line of the factors that raised the score"),
)


@lru_cache(maxsize=1)
def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("service.reports", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["percent"] = _percent
    environment.filters["number"] = _number
    return environment


@lru_cache(maxsize=1)
def _css() -> str:
    return resources.files("service.reports").joinpath("static/report.css").read_text("utf-8")


def _percent(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}%}"


def _number(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:+.{digits}f}"


def _labels() -> dict[str, str]:
    registry = load_hardship_registry()
    return {h: registry.get(h).label_ja for h in registry.ids}


def _translator(lang: str) -> Callable[..., str]:
    words = TEXT[lang]

    def t(key: str, **values: Any) -> str:
        return words[key].format(**values) if values else words[key]

    return t


def _common(lang: str, font_url: str, static_prefix: str) -> dict[str, Any]:
    return {
        "lang": lang,
        "t": _translator(lang),
        "band_name": lambda band: band_name(band, lang),
        "decision_name": lambda decision: decision_name(decision, lang),
        "reason_name": lambda reason: reason_name(reason, lang),
        "hardship_labels": _labels(),
        "css": _css(),
        "font_family": FONT_FAMILY,
        "font_url": font_url,
        "licence_url": f"{static_prefix}/fonts/{LICENCE_FILE}",
    }


def render_report_html(
    report: ChildReport,
    lang: str = "ja",
    *,
    font_url: str | None = None,
    static_prefix: str = STATIC_PREFIX,
    pdf_url: str | None = None,
    other_lang_url: str | None = None,
) -> str:
    """The report page; `font_url` is where the browser fetches IPAexGothic."""
    charts = {h.hardship: waterfall_svg(h, lang) for h in report.hardships}
    labels = _labels()
    return (
        _environment()
        .get_template("report.html")
        .render(
            report=report,
            charts=charts,
            history_chart=history_svg(report.history, labels, lang),
            pdf_url=pdf_url,
            other_lang_url=other_lang_url,
            **_common(lang, font_url or f"{static_prefix}/fonts/ipaexg.ttf", static_prefix),
        )
    )


def render_report_pdf(report: ChildReport, lang: str = "ja") -> bytes:
    """The same page as an A4 PDF, the font embedded (subset) from the local file."""
    # No type information ships with WeasyPrint.
    from weasyprint import HTML  # type: ignore[import-untyped]

    html = render_report_html(report, lang, font_url=font_path().as_uri())
    pdf: bytes = HTML(string=html, base_url=str(font_path().parent)).write_pdf()
    return pdf


def render_flagged_html(
    flagged: FlaggedList,
    lang: str = "ja",
    *,
    report_url: Callable[[str], str],
    csv_url: str | None = None,
    other_lang_url: str | None = None,
    static_prefix: str = STATIC_PREFIX,
) -> str:
    """The case-conference list page; each child links to `report_url(child_id)`."""
    return (
        _environment()
        .get_template("flagged.html")
        .render(
            flagged=flagged,
            report_url=report_url,
            csv_url=csv_url,
            other_lang_url=other_lang_url,
            **_common(lang, f"{static_prefix}/fonts/ipaexg.ttf", static_prefix),
        )
    )


def _csv_row(flagged: FlaggedList, child: FlaggedChild, supported: bool) -> list[str]:
    labels = _labels()
    return [
        flagged.municipality,
        flagged.as_of_month,
        str(flagged.run_id),
        child.child_id,
        child.hardship,
        labels.get(child.hardship, child.hardship),
        child.band,
        band_name(child.band, "ja"),
        f"{child.probability:.4f}",
        f"{child.percentile:.1f}",
        "1" if supported else "0",
        child.reason,
    ]


def flagged_csv(flagged: FlaggedList, *, include_supported: bool = True) -> bytes:
    """The list for the municipal system: UTF-8 with a BOM (Excel then reads the Japanese
    correctly), CRLF line ends, a header row of CSV_COLUMNS, not-yet-supported children first."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(name for name, _ in CSV_COLUMNS)
    rows: Sequence[tuple[FlaggedChild, bool]] = [(c, False) for c in flagged.children]
    if include_supported:
        rows = [*rows, *((c, True) for c in flagged.already_supported)]
    for child, supported in rows:
        writer.writerow(_csv_row(flagged, child, supported))
    return buffer.getvalue().encode("utf-8-sig")
