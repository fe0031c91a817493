"""The reader on hand-written bad input: every defect is quarantined at its line, with a reason,
counts reconcile, and no quarantine record ever carries a name, kana or address."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.ingest.catalogue import load_catalogue
from features.ingest.reader import (
    FileRead,
    QuarantineReason,
    SourceFileReader,
    decode_lines,
    read_source_file,
)

RUN_DATE = dt.date(2026, 6, 30)
NAME = "山田　花子"
KANA = "ヤマダ　ハナコ"
ADDRESS = "架空県桜ヶ丘市本町一丁目2番3号"
BUILDING = "コーポ本101"
PERSONAL = (NAME, KANA, ADDRESS, BUILDING, "山田", "花子", "ヤマダ", "ハナコ", "桜ヶ丘", "本町")
REGISTRY_HEADER = (
    "宛名番号,世帯番号,氏名,氏名カナ,生年月日,性別,続柄,"
    "住所,方書,国籍,異動事由,住定日,届出日,消除日"
)


def registry_line(
    atena: str = "1000000001",
    *,
    name: str = NAME,
    birth: str = "令和2年4月1日",
    moved: str = "R2.5.1",
    notified: str = "令和2年5月8日",
    relationship: str = "子",
) -> str:
    return (
        f"{atena},20000001,{name},{KANA},{birth},2,{relationship},{ADDRESS},{BUILDING},日本,"
        f"出生,{moved},{notified},"
    )


def encode(lines: list[str], encoding: str = "cp932", newline: str = "\r\n") -> bytes:
    return "".join(line + newline for line in lines).encode(encoding)


def read(
    tmp_path: Path, data: bytes, source: str = "registry", *, today: dt.date = RUN_DATE
) -> FileRead:
    path = tmp_path / f"{source}.csv"
    path.write_bytes(data)
    spec = load_catalogue().sources[source]
    return read_source_file(
        path, spec, source=source, relative_path=f"990001/{source}/x.csv", today=today
    )


def assert_reconciles(result: FileRead) -> None:
    assert result.rows_read == len(result.loaded) + len(result.quarantined)
    lines = [row.line for row in result.loaded] + [row.line for row in result.quarantined]
    assert len(set(lines)) == len(lines)


def assert_no_personal_text(result: FileRead) -> None:
    for row in result.quarantined:
        for text in PERSONAL:
            assert text not in row.message, (row.reason, row.message)
            assert text not in row.redacted, (row.reason, row.redacted)


def quarantined_at(result: FileRead) -> dict[int, QuarantineReason]:
    return {row.line: row.reason for row in result.quarantined}


def test_a_clean_cp932_file_loads_every_row_with_its_line(tmp_path: Path) -> None:
    lines = [REGISTRY_HEADER, registry_line("1000000001"), registry_line("1000000002")]
    result = read(tmp_path, encode(lines))
    assert result.encoding == "cp932"
    assert [row.line for row in result.loaded] == [2, 3]
    first = result.loaded[0]
    assert (first.id_kind, first.local_id) == ("atena", "1000000001")
    assert first.event_date == dt.date(2020, 5, 1)
    assert first.known_date == dt.date(2020, 5, 8)
    # Names and addresses are kept exactly as received; codes become canonical.
    assert first.payload["name"] == NAME
    assert first.payload["address"] == ADDRESS
    assert first.payload["birth_date"] == "2020-04-01"
    assert first.payload["sex"] == "F"
    assert first.payload["relationship"] == "child"
    assert first.payload["removed_on"] is None


def test_invalid_cp932_bytes_quarantine_only_their_line(tmp_path: Path) -> None:
    data = encode([REGISTRY_HEADER, registry_line("1000000001")])
    # 0x81 0x7F is no CP932 character (0x7F is never a trail byte).
    data += b"1000000002,20000001,\x81\x7f\x82\xa0," + encode([registry_line()])[30:]
    data += encode([registry_line("1000000003")])
    result = read(tmp_path, data)
    assert result.encoding == "cp932"
    assert quarantined_at(result) == {3: QuarantineReason.BROKEN_ENCODING}
    assert [row.line for row in result.loaded] == [2, 4]
    assert_reconciles(result)
    assert_no_personal_text(result)


def test_a_utf8_file_with_one_broken_line_stays_utf8(tmp_path: Path) -> None:
    lines = [REGISTRY_HEADER] + [registry_line(f"10000000{i:02d}") for i in range(1, 6)]
    data = bytearray(encode(lines, "utf-8", "\n"))
    cut = data.index(NAME.encode("utf-8"), data.index(b"1000000003"))
    data[cut + 1] = 0xFF  # break the middle of one multi-byte character
    result = read(tmp_path, bytes(data))
    assert result.encoding == "utf-8"
    assert quarantined_at(result) == {4: QuarantineReason.BROKEN_ENCODING}
    assert len(result.loaded) == 4
    assert_no_personal_text(result)


def test_a_utf8_bom_is_not_part_of_the_first_header(tmp_path: Path) -> None:
    data = b"\xef\xbb\xbf" + encode([REGISTRY_HEADER, registry_line()], "utf-8", "\n")
    result = read(tmp_path, data)
    assert result.encoding == "utf-8"
    assert len(result.loaded) == 1 and not result.quarantined


def test_decode_lines_keeps_line_ends_for_the_csv_module() -> None:
    encoding, lines, broken = decode_lines("a,b\r\nc,d\n".encode("cp932"), "detect")
    assert lines == ["a,b\r\n", "c,d\n"]
    assert broken == [False, False]
    assert encoding == "utf-8"  # pure ASCII is valid UTF-8, and the same text in CP932


def test_truncated_lines_are_quarantined_as_wrong_field_count(tmp_path: Path) -> None:
    full = registry_line("1000000002")
    lines = [REGISTRY_HEADER, registry_line("1000000001"), full[:30], registry_line("1000000003")]
    # The last line is cut off too, without its line end, as when a transfer stops midway.
    data = encode(lines) + full[:45].encode("cp932")
    result = read(tmp_path, data)
    assert quarantined_at(result) == {
        3: QuarantineReason.WRONG_FIELD_COUNT,
        5: QuarantineReason.WRONG_FIELD_COUNT,
    }
    assert [row.line for row in result.loaded] == [2, 4]
    assert_reconciles(result)
    assert_no_personal_text(result)


def test_an_unclosed_quote_costs_one_line_not_the_rest_of_the_file(tmp_path: Path) -> None:
    lines = [
        REGISTRY_HEADER,
        registry_line("1000000001"),
        registry_line("1000000002", name=f'"{NAME}'),  # opens a quote it never closes
        registry_line("1000000003"),
        registry_line("1000000004", name=f'"{NAME}"様'),  # text after the closing quote
        registry_line("1000000005"),
    ]
    result = read(tmp_path, encode(lines))
    assert quarantined_at(result) == {
        3: QuarantineReason.MALFORMED_QUOTE,
        5: QuarantineReason.MALFORMED_QUOTE,
    }
    assert [row.line for row in result.loaded] == [2, 4, 6]
    assert_reconciles(result)
    assert_no_personal_text(result)


def test_a_quote_inside_an_unquoted_field_is_kept_as_received(tmp_path: Path) -> None:
    result = read(tmp_path, encode([REGISTRY_HEADER, registry_line(name='山田"花子"')]))
    assert result.loaded[0].payload["name"] == '山田"花子"'


def test_a_quoted_line_break_is_one_record_and_line_numbers_stay_physical(tmp_path: Path) -> None:
    moved_line = registry_line("1000000002").replace(ADDRESS, f'"{ADDRESS}\r\n{BUILDING}"')
    lines = [REGISTRY_HEADER, registry_line("1000000001"), moved_line, registry_line("1000000003")]
    result = read(tmp_path, encode(lines))
    assert [row.line for row in result.loaded] == [2, 3, 5]
    assert result.loaded[1].payload["address"] == f"{ADDRESS}\r\n{BUILDING}"


def test_impossible_and_unparseable_dates(tmp_path: Path) -> None:
    lines = [
        REGISTRY_HEADER,
        registry_line("1000000001", birth="令和3年2月30日"),
        registry_line("1000000002", birth="平成31年5月1日"),  # 平成 had ended
        registry_line("1000000003", birth="いつか"),
        registry_line("1000000004", birth="R3.4.1"),
    ]
    result = read(tmp_path, encode(lines))
    assert quarantined_at(result) == {
        2: QuarantineReason.IMPOSSIBLE_DATE,
        3: QuarantineReason.IMPOSSIBLE_DATE,
        4: QuarantineReason.UNPARSEABLE_VALUE,
    }
    impossible = result.quarantined[0]
    assert "生年月日" in impossible.message and "令和3年2月30日" in impossible.message
    assert "令和3年2月30日" in impossible.redacted
    assert_no_personal_text(result)


def test_an_empty_name_is_missing_required_and_names_no_one(tmp_path: Path) -> None:
    lines = [REGISTRY_HEADER, registry_line("1000000001", name=""), registry_line("1000000002")]
    result = read(tmp_path, encode(lines))
    assert quarantined_at(result) == {2: QuarantineReason.MISSING_REQUIRED}
    assert "氏名" in result.quarantined[0].message
    assert "<氏名カナ>" in result.quarantined[0].redacted
    assert_no_personal_text(result)


def test_a_missing_required_column_quarantines_every_row_naming_it(tmp_path: Path) -> None:
    header = REGISTRY_HEADER.replace("生年月日", "誕生日")
    lines = [header, registry_line("1000000001"), registry_line("1000000002")]
    result = read(tmp_path, encode(lines))
    assert not result.loaded
    assert quarantined_at(result) == {
        2: QuarantineReason.MISSING_COLUMN,
        3: QuarantineReason.MISSING_COLUMN,
    }
    assert all("生年月日 (birth_date)" in row.message for row in result.quarantined)
    assert result.unmapped_columns == ("誕生日",)
    assert_reconciles(result)
    assert_no_personal_text(result)


def test_a_missing_optional_column_loads_as_null(tmp_path: Path) -> None:
    header = REGISTRY_HEADER.removesuffix(",消除日")
    lines = [header, registry_line().removesuffix(",")]
    result = read(tmp_path, encode(lines))
    assert result.missing_optional_columns == ("消除日",)
    assert result.loaded[0].payload["removed_on"] is None


def test_dates_after_the_run_date_are_future_dates(tmp_path: Path) -> None:
    lines = [
        REGISTRY_HEADER,
        registry_line("1000000001", notified="令和8年7月1日"),
        registry_line("1000000002", notified="令和8年6月30日"),
    ]
    result = read(tmp_path, encode(lines), today=dt.date(2026, 6, 30))
    assert quarantined_at(result) == {2: QuarantineReason.FUTURE_DATE}
    assert "2026-07-01" in result.quarantined[0].message


def test_an_expected_delivery_date_may_lie_in_the_future(tmp_path: Path) -> None:
    header = "母子記録番号,母氏名,母氏名カナ,母生年月日,住所,届出日,届出時妊娠週数,出産予定日"
    line = f"M0000001,{NAME},{KANA},H7.3.25,{ADDRESS},R8.6.1,8,R9.1.10"
    result = read(tmp_path, encode([header, line], "utf-8", "\n"), "pregnancy")
    assert not result.quarantined
    assert result.loaded[0].payload["due_date"] == "2027-01-10"


def test_exact_duplicates_load_once(tmp_path: Path) -> None:
    first, second = registry_line("1000000001"), registry_line("1000000002")
    result = read(tmp_path, encode([REGISTRY_HEADER, first, second, first, first]))
    assert [row.line for row in result.loaded] == [2, 3]
    assert quarantined_at(result) == {
        4: QuarantineReason.DUPLICATE_ROW,
        5: QuarantineReason.DUPLICATE_ROW,
    }
    assert_no_personal_text(result)


def test_blank_lines_are_not_records(tmp_path: Path) -> None:
    lines = [REGISTRY_HEADER, registry_line("1000000001"), "", registry_line("1000000002"), ""]
    result = read(tmp_path, encode(lines))
    assert result.rows_read == 2
    assert [row.line for row in result.loaded] == [2, 4]


def test_enum_values_map_to_codes_with_a_fallback(tmp_path: Path) -> None:
    lines = [
        REGISTRY_HEADER,
        registry_line("1000000001", relationship="妻（未届）"),  # full-width brackets
        registry_line("1000000002", relationship="縁故者"),  # not listed: fallback
    ]
    result = read(tmp_path, encode(lines))
    assert [row.payload["relationship"] for row in result.loaded] == ["spouse", "other"]


def test_unknown_values_without_fallback_and_out_of_range_numbers(tmp_path: Path) -> None:
    header = "宛名番号,年度,課税区分,所得段階,決定日"
    lines = [
        header,
        "1000000001,2024,課税,4,R6.6.10",
        "1000000002,2024,免除,4,R6.6.10",  # not a catalogued tax status
        "1000000003,2024,課税,four,R6.6.10",
        "1000000004,2024,課税,120,R6.6.10",
        "1000000005,２０２４,非課税,１,令和6年6月10日",  # full-width digits are fine
    ]
    result = read(tmp_path, encode(lines, "utf-8", "\n"), "tax")
    assert quarantined_at(result) == {
        3: QuarantineReason.UNPARSEABLE_VALUE,
        4: QuarantineReason.UNPARSEABLE_VALUE,
        5: QuarantineReason.OUT_OF_RANGE,
    }
    assert result.loaded[1].payload == {
        "atena_no": "1000000005",
        "fiscal_year": 2024,
        "tax_status": "exempt",
        "income_bracket": 1,
        "decided_on": "2024-06-10",
    }


def test_a_row_is_filed_under_its_first_non_empty_id(tmp_path: Path) -> None:
    header = "児童生徒番号,宛名番号,把握日,把握経路,ケア対象,開始時期"
    lines = [
        header,
        "1234567,,2025/7/10,調査,きょうだい,2025/04",
        ",9876543210,R7.7.11,ケース,親,",
        ",,2025-07-12,ケース,親,",
    ]
    result = read(tmp_path, encode(lines, "utf-8", "\n"), "young_carer")
    ids = [(row.id_kind, row.local_id) for row in result.loaded]
    assert ids == [("pupil", "1234567"), ("atena", "9876543210")]
    assert quarantined_at(result) == {4: QuarantineReason.MISSING_REQUIRED}
    assert "児童生徒番号 or 宛名番号" in result.quarantined[0].message


def test_known_date_rules(tmp_path: Path) -> None:
    register = "児童生徒番号,年度,学校種別,学年,氏名,氏名カナ,生年月日,性別,住所,在籍開始日"
    line = f"1234567,2025,小学校,3,{NAME},{KANA},2017/5/1,女,{ADDRESS},2025-04-07"
    result = read(tmp_path, encode([register, line], "utf-8", "\n"), "school_register")
    # No recording date in the register: the catalogue's delivery lag applies.
    assert result.loaded[0].known_date == dt.date(2025, 4, 7) + dt.timedelta(days=31)
    attendance = (
        "児童生徒番号,対象年月,授業日数,欠席日数,うち病気欠席,遅刻日数,保健室来室回数,報告日"
    )
    line = "1234567,R7.5,19,2,1,0,,2025-06-11"
    result = read(tmp_path, encode([attendance, line], "utf-8", "\n"), "attendance")
    row = result.loaded[0]
    assert (row.event_date, row.known_date) == (dt.date(2025, 5, 1), dt.date(2025, 6, 11))
    assert row.payload["target_month"] == "2025-05"
    assert row.payload["nurse_visits"] is None


def test_a_shifted_row_does_not_leak_a_name_into_messages(tmp_path: Path) -> None:
    # The name lands in the date column: the message must withhold it.
    shifted = registry_line("1000000001").replace("令和2年4月1日", NAME)
    result = read(tmp_path, encode([REGISTRY_HEADER, shifted]))
    assert result.quarantined[0].reason == QuarantineReason.UNPARSEABLE_VALUE
    assert "withheld" in result.quarantined[0].message
    assert_no_personal_text(result)


def test_an_empty_file_and_a_header_only_file_have_no_rows(tmp_path: Path) -> None:
    assert read(tmp_path, b"").rows_read == 0
    assert read(tmp_path, encode([REGISTRY_HEADER])).rows_read == 0


_CLEAN = encode(
    [REGISTRY_HEADER] + [registry_line(f"10000000{i:02d}", birth=f"R2.4.{i}") for i in range(1, 7)]
)


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    data = bytearray(_CLEAN)
    for _ in range(draw(st.integers(1, 6))):
        position = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["insert", "delete", "quote", "comma", "newline"]))
        if action == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=3))
        elif action == "delete":
            del data[position : position + draw(st.integers(1, 40))]
        else:
            data[position:position] = {"quote": b'"', "comma": b",", "newline": b"\r\n"}[action]
    return bytes(data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=damaged())
def test_any_damage_reconciles_and_never_leaks_a_name(data: bytes) -> None:
    spec = load_catalogue().sources["registry"]
    reader = SourceFileReader(data, spec, source="registry", relative_path="x", today=RUN_DATE)
    rows = list(reader.rows())
    assert reader.rows_read == reader.loaded + reader.quarantined == len(rows)
    lines = [row.line for row in rows]
    assert lines == sorted(set(lines))
    physical = len(data.splitlines())
    assert all(2 <= line <= physical for line in lines)
    for row in rows:
        if hasattr(row, "reason"):
            for text in (NAME, KANA, ADDRESS, BUILDING):
                assert text not in row.message and text not in row.redacted


@pytest.mark.parametrize("encoding", ["cp932", "utf-8"])
def test_pinned_encodings_are_honoured(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "jumin.csv"
    path.write_bytes(encode([REGISTRY_HEADER, registry_line()], encoding))
    spec = load_catalogue().sources["registry"].model_copy(update={"encoding": encoding})
    result = read_source_file(path, spec, source="registry", relative_path="x", today=RUN_DATE)
    assert result.encoding == encoding
    assert result.loaded[0].payload["name"] == NAME


def test_an_unreadable_header_quarantines_every_row_as_missing_column(tmp_path: Path) -> None:
    header = '"宛名番号"x,' + REGISTRY_HEADER.split(",", 1)[1]  # text after a closing quote
    result = read(tmp_path, encode([header, registry_line("1000000001"), registry_line()]))
    assert set(quarantined_at(result).values()) == {QuarantineReason.MISSING_COLUMN}
    assert "宛名番号 (atena_no)" in result.quarantined[0].message
    assert_reconciles(result)
    assert_no_personal_text(result)


def test_rows_can_be_read_once() -> None:
    spec = load_catalogue().sources["registry"]
    reader = SourceFileReader(b"", spec, source="registry", relative_path="x", today=RUN_DATE)
    assert list(reader.rows()) == []
    with pytest.raises(RuntimeError):
        list(reader.rows())
