"""The words of the reports, Japanese first, English for `?lang=en`.

Kept as data beside the templates (rather than inside them) so both languages have the same
keys: a test checks that they do.
"""

from __future__ import annotations

from typing import Final, Literal

__all__ = [
    "BANDS",
    "DECISIONS",
    "LANGUAGES",
    "REASONS",
    "TEXT",
    "Lang",
    "band_name",
    "decision_name",
    "reason_name",
]

Lang = Literal["ja", "en"]
LANGUAGES: Final[tuple[Lang, ...]] = ("ja", "en")

BANDS: Final[dict[str, dict[str, str]]] = {
    "ja": {"high": "高", "moderate": "中", "watch": "要観察"},
    "en": {"high": "high", "moderate": "moderate", "watch": "watch"},
}
DECISIONS: Final[dict[str, dict[str, str]]] = {
    "ja": {
        "preventive_support": "予防的支援",
        "monitoring": "見守り継続",
        "no_action": "対応不要",
        "needs_information": "情報収集が必要",
    },
    "en": {
        "preventive_support": "preventive support",
        "monitoring": "monitoring",
        "no_action": "no action needed",
        "needs_information": "needs more information",
    },
}
REASONS: Final[dict[str, dict[str, str]]] = {
    "ja": {
        "already_supported_elsewhere": "他機関で支援中",
        "data_error": "データの誤り",
        "over_influential_item": "特定の項目に偏った判定",
        "other": "その他",
    },
    "en": {
        "already_supported_elsewhere": "already supported elsewhere",
        "data_error": "data error",
        "over_influential_item": "over-influential item",
        "other": "other",
    },
}

TEXT: Final[dict[str, dict[str, str]]] = {
    "ja": {
        "report_title": "見守りレポート",
        "child": "子ども（仮名ID）",
        "municipality": "自治体",
        "as_of": "基準月",
        "generated": "作成日時",
        "confidential": "取扱注意：個人に関する情報です。目的外の利用・複製をしないでください。",
        "notice": "このスコアは支援の必要性を見直すきっかけであり、判断そのものではありません。"
        "記録を確認し、関係者と協議のうえで判断してください。",
        "scores": "困難の種類ごとのスコア",
        "hardship": "困難の種類",
        "probability": "確率",
        "percentile": "自治体内の順位",
        "percentile_text": "{value}%の子どもより高い",
        "band": "区分",
        "no_band": "区分外",
        "supported": "支援状況",
        "supported_yes": "支援中",
        "supported_no": "未支援",
        "model": "モデル",
        "factors": "主な要因",
        "factor": "項目",
        "value": "この子どもの値",
        "contribution": "寄与",
        "raises": "押し上げ",
        "lowers": "押し下げ",
        "chart": "要因の内訳（ウォーターフォール図）",
        "base_rate": "平均的な子どもの確率",
        "warning": "注意",
        "model_flagged": "このモデルで影響が大きすぎると判定された項目",
        "sources": "スコアの元になったデータと鮮度",
        "source": "データ",
        "department": "担当課",
        "held": "保有",
        "held_yes": "あり",
        "held_no": "なし（この自治体は保有していません）",
        "last_known": "基準月より前の最新記録",
        "months_old": "{months}か月前",
        "no_record": "記録なし",
        "freshness_note": "最新記録は、この子ども・同じ世帯の人・母親に結び付いた記録のうち、"
        "基準月より前に自治体が把握した日付の最も新しいものです。記録がないことは、多くの場合"
        "その出来事がなかったことを意味します。",
        "missing_sources": "この自治体にないデータ",
        "none": "なし",
        "history": "スコアの推移",
        "run_month": "月",
        "no_history": "保存されたスコアの記録はまだありません。",
        "reviews": "これまでの検討結果",
        "decision": "判断",
        "reason": "理由",
        "note": "メモ",
        "date": "日付",
        "no_reviews": "検討の記録はありません。",
        "blind_spots": "モデルにわからないこと",
        "not_scored": "評価していない困難",
        "font_licence": "フォント：IPAexゴシック（IPAフォントライセンスv1.0）",
        "flagged_title": "ケース会議リスト",
        "flagged_intro": "この月のスコアで区分に入った子ども（確率の高い順）。子どもIDから"
        "レポートを開けます。",
        "children": "未支援の子ども",
        "already_supported": "すでに支援中の子ども（顕在層）",
        "one_line": "主な理由",
        "run": "スコア実行",
        "total": "件",
        "shown": "表示",
        "csv": "CSVで出力",
        "english": "English",
        "japanese": "日本語",
        "print": "印刷",
        "pdf": "PDF",
    },
    "en": {
        "report_title": "Mimamori report",
        "child": "Child (pseudonymous id)",
        "municipality": "Municipality",
        "as_of": "As-of month",
        "generated": "Generated",
        "confidential": "Confidential: personal information. Do not use or copy it for any "
        "other purpose.",
        "notice": "A score is a prompt to review a child's need for support, never a decision. "
        "Check the records and decide together with the people involved.",
        "scores": "Scores per hardship",
        "hardship": "Hardship",
        "probability": "Probability",
        "percentile": "Rank in the municipality",
        "percentile_text": "higher than {value}% of children",
        "band": "Band",
        "no_band": "none",
        "supported": "Support",
        "supported_yes": "already supported",
        "supported_no": "not yet supported",
        "model": "Model",
        "factors": "Top factors",
        "factor": "Item",
        "value": "This child's value",
        "contribution": "Contribution",
        "raises": "raises",
        "lowers": "lowers",
        "chart": "What makes up the score (waterfall)",
        "base_rate": "Probability for an average child",
        "warning": "Caution",
        "model_flagged": "Items this model relies on too much (training audit)",
        "sources": "Data behind the score and how fresh it is",
        "source": "Data",
        "department": "Department",
        "held": "Held",
        "held_yes": "yes",
        "held_no": "no (this municipality does not hold it)",
        "last_known": "Latest record before the as-of month",
        "months_old": "{months} months before",
        "no_record": "no record",
        "freshness_note": "The latest record is the most recent date, before the as-of month, "
        "on which the municipality learned of a record linked to the child, its household or "
        "its mother. No record usually means that nothing of the kind happened.",
        "missing_sources": "Data this municipality does not hold",
        "none": "none",
        "history": "Scores over time",
        "run_month": "Month",
        "no_history": "No stored scores yet.",
        "reviews": "Earlier reviews",
        "decision": "Decision",
        "reason": "Reason",
        "note": "Note",
        "date": "Date",
        "no_reviews": "No reviews recorded.",
        "blind_spots": "What the model cannot know",
        "not_scored": "Hardships not scored",
        "font_licence": "Font: IPAexGothic (IPA Font License v1.0)",
        "flagged_title": "Case-conference list",
        "flagged_intro": "Children in a band in this month's run, highest probability first. "
        "Open a child's report from its id.",
        "children": "Not yet supported",
        "already_supported": "Already supported",
        "one_line": "Main reasons",
        "run": "Score run",
        "total": "in total",
        "shown": "shown",
        "csv": "Export CSV",
        "english": "English",
        "japanese": "日本語",
        "print": "Print",
        "pdf": "PDF",
    },
}


def band_name(band: str | None, lang: str) -> str:
    if band is None:
        return TEXT[lang]["no_band"]
    return BANDS[lang].get(band, band)


def decision_name(decision: str, lang: str) -> str:
    return DECISIONS[lang].get(decision, decision)


def reason_name(reason: str | None, lang: str) -> str:
    if reason is None:
        return ""
    return REASONS[lang].get(reason, reason)
