"""Charts of the reports, drawn on the server with matplotlib and inlined as SVG.

SVG keeps the charts sharp on paper and small in the page. Text is drawn as paths (matplotlib's
default svg.fonttype), so the Japanese labels show whatever fonts the reader's browser or the
PDF renderer has; the glyphs come from the shipped IPAexGothic (service.reports.fonts).

Figures are built with `matplotlib.figure.Figure`, never pyplot: pyplot keeps global state and
is not safe in the threads that serve requests.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Final

from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties

from service.reports.fonts import font_path
from service.reports.model import HardshipReport, HistoryPoint

__all__ = ["LOWERS", "RAISES", "history_svg", "waterfall_svg"]

RAISES: Final = "#c0392b"
LOWERS: Final = "#2e6da4"
_TOTAL: Final = "#555555"
_BAND_COLOURS: Final = {"high": "#c0392b", "moderate": "#e67e22", "watch": "#d4ac0d"}
_LINE_COLOURS: Final = ("#c0392b", "#2e6da4", "#27ae60", "#8e44ad", "#d35400")
_LABEL_CHARS: Final = 22
_SVG_START: Final = re.compile(r"<svg\b")


@lru_cache(maxsize=4)
def _font(size: float) -> FontProperties:
    return FontProperties(fname=str(font_path()), size=size)


def _logistic(log_odds: float) -> float:
    return 1.0 / (1.0 + math.exp(-log_odds))


def _short(label: str) -> str:
    return label if len(label) <= _LABEL_CHARS else label[: _LABEL_CHARS - 1] + "…"


def _svg(figure: Figure, title: str) -> str:
    FigureCanvasSVG(figure)
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    match = _SVG_START.search(text)
    body = text[match.start() :] if match else text
    # Inline SVG: drop the XML prolog, and say what the picture is for screen readers.
    return body.replace("<svg ", f'<svg role="img" aria-label="{_attr(title)}" ', 1)


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def waterfall_svg(report: HardshipReport, lang: str = "ja") -> str:
    """From the model's base rate, each top factor's push up or down, to the child's score.

    Steps are in log-odds (TreeSHAP adds up there); the two ends are labelled as probabilities,
    which is what staff read.
    """
    ja = lang == "ja"
    rest = report.rest_log_odds
    # The long "missing" wording belongs in the table; the chart needs only the gist.
    missing = "データなし" if ja else "no data"
    steps = [
        (f"{_short(f.label_ja)}（{missing if f.missing else f.value_text}）", f.log_odds)
        for f in report.factors
    ]
    if abs(rest) > 1e-9:
        steps.append(("その他の項目" if ja else "all other items", rest))
    labels = ["基準（平均的な子ども）" if ja else "base (an average child)"]
    labels += [label for label, _ in steps]
    labels.append("この子どものスコア" if ja else "this child's score")

    height = 1.0 + 0.38 * len(labels)
    figure = Figure(figsize=(7.2, height), dpi=100)
    axes = figure.add_subplot(1, 1, 1)
    y = list(range(len(labels)))[::-1]
    axes.barh(y[0], report.base_log_odds, color=_TOTAL, height=0.6)
    running = report.base_log_odds
    for i, (_, value) in enumerate(steps, start=1):
        axes.barh(y[i], value, left=running, color=RAISES if value > 0 else LOWERS, height=0.6)
        axes.text(
            running + value,
            y[i],
            f" {value:+.2f} ",
            va="center",
            ha="left" if value > 0 else "right",
            fontproperties=_font(8),
        )
        running += value
    axes.barh(y[-1], report.log_odds, color=_TOTAL, height=0.6)
    for index, log_odds in ((0, report.base_log_odds), (len(labels) - 1, report.log_odds)):
        axes.text(
            log_odds,
            y[index],
            f" {_logistic(log_odds):.1%} ",
            va="center",
            ha="left" if log_odds >= 0 else "right",
            fontproperties=_font(8),
        )
    axes.axvline(0, color="#999999", linewidth=0.8)
    axes.set_yticks(y, labels)
    for tick in axes.get_yticklabels():
        tick.set_fontproperties(_font(9))
    axes.set_xlabel(
        "スコアへの寄与（対数オッズ。右ほど可能性が高い）"
        if ja
        else "contribution to the score (log-odds; further right is more likely)",
        fontproperties=_font(8),
    )
    lo, hi = axes.get_xlim()
    axes.set_xlim(lo - 0.15 * (hi - lo), hi + 0.15 * (hi - lo))
    for spine in ("top", "right"):
        axes.spines[spine].set_visible(False)
    figure.tight_layout()
    title = (
        f"{report.label_ja}のスコアの内訳" if ja else f"what makes up the {report.hardship} score"
    )
    return _svg(figure, title)


def history_svg(points: Sequence[HistoryPoint], labels: dict[str, str], lang: str = "ja") -> str:
    """Each hardship's probability across runs; banded runs marked. Empty for under 2 months."""
    months = sorted({p.as_of_month for p in points})
    if len(months) < 2:
        return ""
    figure = Figure(figsize=(7.2, 2.6), dpi=100)
    axes = figure.add_subplot(1, 1, 1)
    index = {m: i for i, m in enumerate(months)}
    hardships = sorted({p.hardship for p in points})
    for colour, hardship in zip(_LINE_COLOURS * 2, hardships, strict=False):
        # One point per month: the latest run of the month is the one that counted.
        latest = {p.as_of_month: p for p in points if p.hardship == hardship}
        xs = [index[m] for m in sorted(latest)]
        ys = [latest[m].probability for m in sorted(latest)]
        axes.plot(xs, ys, color=colour, marker="o", markersize=3, label=labels.get(hardship))
        for m in sorted(latest):
            band = latest[m].band
            if band is not None:
                axes.plot(
                    index[m],
                    latest[m].probability,
                    marker="s",
                    markersize=7,
                    color=_BAND_COLOURS.get(band, colour),
                    fillstyle="none",
                )
    axes.set_xticks(range(len(months)), months)
    for tick in axes.get_xticklabels():
        tick.set_fontproperties(_font(7))
        tick.set_rotation(45)
    axes.set_ylabel("確率" if lang == "ja" else "probability", fontproperties=_font(8))
    axes.legend(prop=_font(7), loc="upper left", frameon=False)
    for spine in ("top", "right"):
        axes.spines[spine].set_visible(False)
    figure.tight_layout()
    return _svg(figure, "スコアの推移" if lang == "ja" else "scores over time")
