"""`run_linkage` stores its output, keeps reviewers' decisions and never half-replaces a run."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine, func, select

from features.ingest.run import ingest_extracts
from features.linkage import run as linkage_run
from features.linkage.run import (
    LinkageRunError,
    linkage_report_rows,
    record_review_decision,
    run_linkage,
)
from features.store.database import make_engine
from features.store.migrate import upgrade
from features.store.models import (
    FamilyLink,
    HouseholdLink,
    LinkageRun,
    Person,
    PersonRecord,
    ReviewPair,
)

CODE = "990009"
KEY = b"test-key-of-at-least-16-bytes"
RUN_DATE = dt.date(2026, 6, 30)
CHILD = f"{CODE}:registry:atena:0000000001"
PUPIL = f"{CODE}:school_register:pupil:1234567"
MOTHER = f"{CODE}:registry:atena:0000000002"
PREGNANCY = f"{CODE}:pregnancy:maternal_record:M0001"
BIRTH = f"{CODE}:birth:child_record:C0001"


def _write(root: Path, relative: str, header: str, rows: list[str]) -> None:
    """Rows are written with | between fields, which keeps the long test rows readable."""
    path = root / CODE / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [header, *(row.replace("|", ",") for row in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def extracts(tmp_path: Path) -> Path:
    """One town: a mother and her daughter across registry, school and maternal health."""
    root = tmp_path / "extracts"
    root.mkdir()
    manifest = {"municipalities": [{"code": CODE, "name": "試験町", "encoding": "utf-8"}]}
    (root / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), "utf-8")
    (root / CODE).mkdir()
    (root / CODE / "gaiji_map.csv").write_text(
        "codepoint,replacement,note\nU+E000,髙,「高」の異体字\n", encoding="utf-8"
    )
    _write(
        root,
        "registry/jumin.csv",
        "宛名番号,世帯番号,氏名,氏名カナ,生年月日,性別,続柄,住所,方書,国籍,異動事由,住定日,届出日,消除日",
        [
            "0000000001|11|中村　千央|ナカムラ　チヒロ|2019-06-24|2|子"
            "|試験町本町一丁目1番1号||日本|出生|2019-06-24|2019-06-30|",
            "0000000002|11|中村　花子|ナカムラ　ハナコ|1990-03-15|2|世帯主"
            "|試験町本町一丁目1番1号||日本|既存|2019-01-01|2019-01-01|",
            "0000000003|22|\ue000橋　一郎|タカハシ　イチロウ|2018-02-02|1|子"
            "|試験町栄町二丁目2番2号||日本|既存|2019-01-01|2019-01-01|",
        ],
    )
    _write(
        root,
        "school_register/gakuseki.csv",
        "児童生徒番号,年度,学校種別,学年,氏名,氏名カナ,生年月日,性別,住所,在籍開始日",
        ["1234567,2025,小学校,1,中村千央,ナカムラ チヒロ,2019-06-24,女,試験町本町1-1-1,2025-04-08"],
    )
    _write(
        root,
        "pregnancy/ninshin_todokede.csv",
        "母子記録番号,母氏名,母氏名カナ,母生年月日,住所,届出日,届出時妊娠週数,出産予定日",
        [
            "M0001|中村　花子|ナカムラ　ハナコ|1990-03-15|試験町本町一丁目1番1号"
            "|2018-11-01|10|2019-06-20"
        ],
    )
    _write(
        root,
        "birth/shussei.csv",
        "子記録番号,母子記録番号,子氏名,子氏名カナ,生年月日,性別,出生体重,登録日",
        ["C0001,M0001,中村　千央,ナカムラ　チヒロ,2019-06-24,2,3010,2019-07-01"],
    )
    return root


@pytest.fixture
def store(extracts: Path, tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    ingest_extracts(extracts, engine, today=RUN_DATE)
    yield engine
    engine.dispose()


def _person_of(engine: Engine) -> dict[str, str]:
    with engine.connect() as connection:
        rows = connection.execute(select(PersonRecord.record_key, PersonRecord.person_id))
        return {record: person for record, person in rows}


def _table(engine: Engine, model: Any) -> pd.DataFrame:
    with engine.connect() as connection:
        return pd.read_sql(select(model), connection)


def test_the_output_is_stored_as_returned(store: Engine, extracts: Path) -> None:
    result = run_linkage(store, key=KEY, extracts_root=extracts)

    mapping = _table(store, PersonRecord).set_index("record_key").sort_index()
    expected = result.mapping.set_index("record_key").sort_index()
    assert mapping["person_id"].to_dict() == expected["person_id"].to_dict()
    assert mapping["method"].to_dict() == expected["method"].to_dict()
    pd.testing.assert_series_equal(
        mapping["probability"], expected["match_probability"], check_names=False
    )
    persons = _table(store, Person).set_index("person_id").sort_index()
    assert persons["role"].to_dict() == result.persons.set_index("person_id")["role"].to_dict()
    assert len(_table(store, HouseholdLink)) == len(result.households) > 0
    family = _table(store, FamilyLink)
    assert family[["child_person_id", "mother_person_id"]].to_numpy().tolist() == [
        [result.mapping.set_index("record_key").loc[BIRTH, "person_id"], _person_of(store)[MOTHER]]
    ]
    assert len(_table(store, ReviewPair)) == len(result.review_queue)

    run = _table(store, LinkageRun).iloc[-1]
    assert run["status"] == "succeeded"
    assert run["settings_sha256"] == result.report.settings_sha256
    report = run["report"] if isinstance(run["report"], dict) else json.loads(run["report"])
    assert report["records"] == len(result.mapping) == 6

    people = _person_of(store)
    # The daughter's registry, school and birth records are one person; her mother is another.
    assert people[CHILD] == people[PUPIL] == people[BIRTH]
    assert people[MOTHER] == people[PREGNANCY] != people[CHILD]
    rows = dict(linkage_report_rows(result))
    assert rows["identity records"] == "6"
    assert rows["records: registry"] == "3"


def test_a_second_run_gives_the_same_person_ids(store: Engine, extracts: Path) -> None:
    run_linkage(store, key=KEY, extracts_root=extracts)
    first = _person_of(store)
    run_linkage(store, key=KEY, extracts_root=extracts)
    assert _person_of(store) == first
    with store.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(Person)) == len(
            set(first.values())
        )
        statuses = connection.scalars(select(LinkageRun.status)).all()
    assert statuses == ["succeeded", "succeeded"]


def test_a_rejected_pair_stays_apart_on_the_next_run(store: Engine, extracts: Path) -> None:
    run_linkage(store, key=KEY, extracts_root=extracts)
    assert _person_of(store)[CHILD] == _person_of(store)[PUPIL]

    record_review_decision(store, PUPIL, CHILD, "reject", "reviewer-1", note="別人")
    result = run_linkage(store, key=KEY, extracts_root=extracts)

    people = _person_of(store)
    assert people[CHILD] != people[PUPIL]
    assert result.report.decisions["rejected"] == 1
    with store.connect() as connection:
        pair = connection.execute(select(ReviewPair).where(ReviewPair.status != "pending")).one()
    assert (pair.record_key_l, pair.record_key_r) == tuple(sorted((CHILD, PUPIL)))
    assert (pair.status, pair.decided_by, pair.note) == ("rejected", "reviewer-1", "別人")

    # A decision is kept by every later run, not only by the next one.
    run_linkage(store, key=KEY, extracts_root=extracts)
    assert _person_of(store)[CHILD] != _person_of(store)[PUPIL]


def test_a_decision_needs_known_records(store: Engine, extracts: Path) -> None:
    run_linkage(store, key=KEY, extracts_root=extracts)
    with pytest.raises(ValueError, match="latest linkage output"):
        record_review_decision(store, CHILD, f"{CODE}:registry:atena:9", "accept", "reviewer-1")
    with pytest.raises(ValueError, match="accept or reject"):
        record_review_decision(store, CHILD, PUPIL, "maybe", "reviewer-1")  # type: ignore[arg-type]


def test_a_failure_midway_leaves_the_previous_linkage_intact(
    store: Engine, extracts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_linkage(store, key=KEY, extracts_root=extracts)
    before = {
        model.__tablename__: _table(store, model)
        for model in (Person, PersonRecord, HouseholdLink, FamilyLink, ReviewPair)
    }
    insert = linkage_run._insert

    def failing_insert(session: Any, model: Any, rows: Any) -> None:
        # Persons and records are already replaced when the family links fail.
        if model is FamilyLink:
            raise RuntimeError("disk full")
        insert(session, model, rows)

    monkeypatch.setattr(linkage_run, "_insert", failing_insert)
    # Changed input, so that a partial write could not pass for the old output.
    record_review_decision(store, CHILD, PUPIL, "reject", "reviewer-1")
    with pytest.raises(LinkageRunError, match="disk full"):
        run_linkage(store, key=KEY, extracts_root=extracts)

    for model in (Person, PersonRecord, HouseholdLink, FamilyLink):
        pd.testing.assert_frame_equal(_table(store, model), before[model.__tablename__])
    runs = _table(store, LinkageRun)
    assert runs["status"].tolist() == ["succeeded", "failed"]
    assert "disk full" in runs["error"].iloc[-1]
