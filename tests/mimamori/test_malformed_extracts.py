"""Malformed extracts end to end: one `mimamori ingest` over a small folder in which each file
has one kind of damage a department's export can have: the wrong encoding, a file cut off
mid-character, unescaped quotes, a column missing, 外字 without a mapping, dates in the future.

Every row is accounted for, per file and per line: rows read = rows loaded + rows quarantined
(in the report and in the store), each data line is either loaded or quarantined exactly once,
and each quarantined line has a reason. The reader's unit tests
(tests/features/ingest/test_ingest_reader.py) cover each defect on its own; this checks that
they survive the whole command together, in one run, next to clean files.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from features.ingest.reader import QuarantineReason
from mimamori.cli import app

HEADER = (
    "宛名番号,世帯番号,氏名,氏名カナ,生年月日,性別,続柄,"
    "住所,方書,国籍,異動事由,住定日,届出日,消除日"
)
GAIJI = "\ue000"  # the first user-defined character of CP932 (bytes F0 40)
_counter = iter(range(1_000_000_001, 1_999_999_999))


def row(*, name: str = "架空　花子", notified: str = "令和2年5月8日", quote: str = "") -> str:
    atena = next(_counter)
    building = quote or "コーポ本101"
    return (
        f"{atena},2{atena % 10_000_000:07d},{name},カクウ　ハナコ,令和2年4月1日,2,子,"
        f"架空県桜ヶ丘市本町一丁目2番3号,{building},日本,出生,R2.5.1,{notified},"
    )


def lines_bytes(lines: list[str], encoding: str = "cp932") -> bytes:
    return "".join(line + "\r\n" for line in lines).encode(encoding)


def build_extracts(root: Path) -> dict[str, dict[str, object]]:
    """Write the damaged files; return, per file, its data lines and the reasons expected."""
    folder = root / "990001" / "registry"
    folder.mkdir(parents=True)
    expected: dict[str, dict[str, object]] = {}

    def write(name: str, data: bytes, data_lines: int, reasons: set[str], loaded: int) -> None:
        (folder / name).write_bytes(data)
        expected[f"990001/registry/{name}"] = {
            "lines": set(range(2, 2 + data_lines)),
            "reasons": reasons,
            "loaded": loaded,
        }

    clean = [row() for _ in range(10)]
    write("jumin_0_clean.csv", lines_bytes([HEADER, *clean]), 10, set(), 10)

    # A department exported EUC-JP: neither UTF-8 nor CP932 reads its header.
    euc = [row() for _ in range(6)]
    write(
        "jumin_1_encoding.csv",
        lines_bytes([HEADER, *euc], "euc_jp"),
        6,
        {"missing_column", "broken_encoding"},
        0,
    )

    # The transfer stopped in the middle of a line, inside a two-byte character.
    whole = lines_bytes([HEADER, *[row() for _ in range(8)]])
    last = row().encode("cp932")
    cut = last[: last.index("架".encode("cp932")) + 1]  # the first byte of 架 only
    write("jumin_2_truncated.csv", whole + cut, 9, {"broken_encoding", "wrong_field_count"}, 8)

    # Quotes: one inside a quoted field, not doubled; one opened and never closed.
    quotes = [
        row(),
        row(quote='"コーポ"本"101"'),
        row(),
        row(quote='"コーポ本101'),
        row(),
        row(),
    ]
    write(
        "jumin_3_quotes.csv",
        lines_bytes([HEADER, *quotes]),
        6,
        {"malformed_quote", "wrong_field_count"},
        4,
    )

    # 生年月日 (required) missing from the header and from every row.
    columns = HEADER.split(",")
    birth = columns.index("生年月日")
    dropped = [",".join(c for i, c in enumerate(line.split(",")) if i != birth) for line in clean]
    missing = [",".join(c for i, c in enumerate(columns) if i != birth), *dropped]
    write("jumin_4_column.csv", lines_bytes(missing), 10, {"missing_column"}, 0)

    # A vendor's 外字 in a name, and no gaiji_map.csv for this municipality: loaded as received.
    gaiji = [row(name=f"架{GAIJI}　花子"), row(), row(name=f"{GAIJI}田　一郎")]
    write("jumin_5_gaiji.csv", lines_bytes([HEADER, *gaiji]), 3, set(), 3)

    # Notified in 2100: after the run date.
    future = [row(), row(notified="令和82年1月1日"), row(), row(notified="2100-01-01")]
    write("jumin_6_future.csv", lines_bytes([HEADER, *future]), 4, {"future_date"}, 2)
    return expected


def test_every_row_of_malformed_extracts_is_loaded_or_quarantined_with_a_reason(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "var"
    expected = build_extracts(data_dir / "extracts")
    result = CliRunner().invoke(app, ["ingest", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output

    connection = sqlite3.connect(data_dir / "mimamori.db")
    try:
        files = {
            path: (file_id, read, loaded, quarantined)
            for file_id, path, read, loaded, quarantined in connection.execute(
                "SELECT id, relative_path, rows_read, rows_loaded, rows_quarantined "
                "FROM source_file"
            )
        }
        assert set(files) == set(expected), "every file was ingested"
        valid_reasons = {reason.value for reason in QuarantineReason}
        for path, want in expected.items():
            file_id, read, loaded, quarantined = files[path]
            lines: set[int] = want["lines"]  # type: ignore[assignment]
            assert read == loaded + quarantined, path
            assert read == len(lines), (path, read)
            assert loaded == want["loaded"], (path, loaded)
            loaded_lines = [
                line
                for (line,) in connection.execute(
                    "SELECT line FROM source_record WHERE source_file_id = ?", (file_id,)
                )
            ]
            held = connection.execute(
                "SELECT line, reason, message FROM quarantine WHERE source_file_id = ?",
                (file_id,),
            ).fetchall()
            assert len(loaded_lines) == loaded and len(held) == quarantined, path
            accounted = loaded_lines + [line for line, _, _ in held]
            assert sorted(accounted) == sorted(lines), f"{path}: lines not accounted once"
            for line, reason, message in held:
                assert reason in valid_reasons and message.strip(), (path, line, reason)
            reasons = {reason for _, reason, _ in held}
            assert reasons <= want["reasons"], (path, reasons)  # type: ignore[operator]
            if want["reasons"]:
                assert reasons, path
            # The command's own report says the same, per file.
            assert f"{read} read, {loaded} loaded" in result.output, path

        # 外字 without a mapping is kept as received, for linkage to treat as unknown.
        (gaiji_id, *_) = files["990001/registry/jumin_5_gaiji.csv"]
        names = [
            payload
            for (payload,) in connection.execute(
                "SELECT payload FROM source_record WHERE source_file_id = ?", (gaiji_id,)
            )
        ]
        assert sum(GAIJI in payload for payload in names) == 2
    finally:
        connection.close()


@pytest.fixture(autouse=True)
def _no_environment_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MIMAMORI_DATABASE_URL", "MIMAMORI_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
