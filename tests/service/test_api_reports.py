"""The report and case-conference pages over HTTP: content, languages, roles, scope, audit."""

from __future__ import annotations

import contextlib
import csv
import io
import re
from collections.abc import Iterator

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from features.catalogue.feature_catalogue import load_feature_catalogue
from service.reports.fonts import font_path, licence_path
from service.reports.render import CSV_COLUMNS
from service.store.models import AuditEntry
from tests.service.reports.service_world import ReportWorld, app_with_pages, report_world


@pytest.fixture(scope="module")
def world(served_world) -> ReportWorld:  # type: ignore[no-untyped-def]
    return report_world(served_world)


@pytest.fixture(scope="module")
def client(world: ReportWorld) -> Iterator[TestClient]:
    with TestClient(app_with_pages(world.settings)) as client:
        yield client


def _entries(world: ReportWorld, child_id: str) -> list[AuditEntry]:
    with world.database.connect() as connection:
        return list(
            connection.execute(
                select(AuditEntry).where(AuditEntry.child_id == child_id).order_by(AuditEntry.seq)
            ).all()
        )


def test_a_flagged_childs_report_says_everything_a_reviewer_needs(
    client: TestClient, world: ReportWorld
) -> None:
    child = world.flagged[0]
    before = len(_entries(world, child))
    response = client.get(f"/v1/children/{child}/report", headers=world.headers())
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert '<html lang="ja">' in html
    for words in (
        "見守りレポート",
        "困難の種類ごとのスコア",
        "モデルにわからないこと",
        "スコアの推移",
    ):
        assert words in html
    assert child in html
    # One waterfall per scored hardship, plus the history chart (two runs were stored).
    assert html.count("<svg") == 5 + 1
    assert html.count('class="hardship"') == 5
    # Both stored runs appear in the history, and the band of the latest run is shown.
    for month in world.months:
        assert month in html
    assert re.search(r'class="band band-(high|moderate|watch)"', html)
    assert "/v1/static/fonts/ipaexg.ttf" in html
    entries = _entries(world, child)
    assert len(entries) == before + 1
    assert entries[-1].status_code == 200 and entries[-1].municipality == world.home
    assert entries[-1].purpose == "case_conference"


def _missing_sources_shown(html: str) -> set[str]:
    shown = re.search(r'<p id="missing-sources">(.*?)</p>', html, re.S)
    assert shown is not None
    return {s for s in shown.group(1).strip().split("、") if s}


def test_the_report_lists_exactly_the_sources_the_municipality_lacks(
    client: TestClient, world: ReportWorld
) -> None:
    # The stranger's municipality (seen through the admin key) lacks a source in the tiny world.
    child = world.stranger
    table = pq.read_table(world.settings.features_dir / "features.parquet")
    row = table.filter(
        pc.and_(
            pc.equal(table["person_id"], child), pc.equal(table["as_of_month"], world.months[1])
        )
    ).to_pylist()[0]
    engine = client.app.state.engine  # type: ignore[attr-defined]
    used = {
        name
        for hardship in engine.ready_hardships()
        for name in engine.champions.snapshot.get(hardship).bundle.feature_names
    }
    catalogue = load_feature_catalogue()
    read = {spec.holding for spec in catalogue.features if spec.name in used}
    expected = {
        spec.label_ja.removesuffix("データなし")
        for spec in catalogue.features
        if spec.indicator and row.get(spec.name) == 1 and spec.holding in read
    }
    assert expected, "the tiny world's other municipality should lack a source the models read"
    html = client.get(f"/v1/children/{child}/report", headers=world.headers("admin")).text
    assert _missing_sources_shown(html) == expected
    home = client.get(f"/v1/children/{world.flagged[1]}/report", headers=world.headers()).text
    assert _missing_sources_shown(home) == {"なし"}


def test_the_report_is_available_in_english(client: TestClient, world: ReportWorld) -> None:
    response = client.get(
        f"/v1/children/{world.flagged[0]}/report", params={"lang": "en"}, headers=world.headers()
    )
    assert response.status_code == 200
    assert '<html lang="en">' in response.text
    assert "What the model cannot know" in response.text
    assert "lang=ja" in response.text  # the switch back to Japanese


def test_the_pdf_is_a4_with_the_japanese_font_embedded(
    client: TestClient, world: ReportWorld
) -> None:
    import zlib

    response = client.get(f"/v1/children/{world.flagged[0]}/report.pdf", headers=world.headers())
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["cache-control"] == "no-store"
    data = response.content
    assert data.startswith(b"%PDF-")
    streams = []
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        with contextlib.suppress(zlib.error):
            streams.append(zlib.decompress(match.group(1)))
    text = data + b"".join(streams)
    assert re.search(rb"/BaseFont\s*/[A-Z]{6}\+IPAexGothic", text)
    box = re.search(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", text)
    assert box is not None
    assert abs(float(box.group(1)) - 595.28) < 1 and abs(float(box.group(2)) - 841.89) < 1


@pytest.mark.parametrize(
    ("key", "purpose", "status"),
    [
        (None, "case_conference", 401),
        ("vendor", "case_conference", 403),
        ("analyst", "case_conference", 403),
        ("reviewer", None, 400),
        ("reviewer_other", "case_conference", 404),
    ],
)
def test_reports_follow_the_rules_of_child_level_routes(
    client: TestClient, world: ReportWorld, key: str | None, purpose: str | None, status: int
) -> None:
    child = world.flagged[2]
    before = len(_entries(world, child))
    for suffix in ("report", "report.pdf"):
        response = client.get(f"/v1/children/{child}/{suffix}", headers=world.headers(key, purpose))
        assert response.status_code == status, response.text
        assert "detail" in response.json()
    entries = _entries(world, child)
    assert len(entries) == before + 2
    assert {e.status_code for e in entries[-2:]} == {status}


def test_a_child_of_another_municipality_is_unknown_not_forbidden(
    client: TestClient, world: ReportWorld
) -> None:
    response = client.get(f"/v1/children/{world.stranger}/report", headers=world.headers())
    unknown = client.get("/v1/children/no-such-child/report", headers=world.headers())
    assert response.status_code == unknown.status_code == 404
    assert response.json() == unknown.json()
    assert (
        client.get(
            f"/v1/children/{world.stranger}/report", headers=world.headers("admin")
        ).status_code
        == 200
    )


def test_the_font_and_its_licence_are_served_without_a_key(client: TestClient) -> None:
    font = client.get("/v1/static/fonts/ipaexg.ttf")
    assert font.status_code == 200
    assert font.headers["content-type"] == "font/ttf"
    assert font.content == font_path().read_bytes()
    licence = client.get("/v1/static/fonts/IPA_Font_License_Agreement_v1.0.txt")
    assert licence.status_code == 200 and licence.content == licence_path().read_bytes()
    assert client.get("/v1/static/fonts/..%2F__init__.py").status_code == 404
    assert client.get("/v1/static/fonts/ipaexm.ttf").status_code == 404


def test_the_case_conference_page_links_every_listed_child_to_its_report(
    client: TestClient, world: ReportWorld
) -> None:
    listed = client.get(f"/v1/municipalities/{world.home}/flagged", headers=world.headers())
    assert listed.status_code == 200, listed.text
    body = listed.json()
    page = client.get(f"/v1/municipalities/{world.home}/flagged.html", headers=world.headers())
    assert page.status_code == 200, page.text
    html = page.text
    assert "ケース会議リスト" in html and body["as_of_month"] in html
    links = re.findall(r'href="/v1/children/([^/"]+)/report\?lang=ja"', html)
    expected = [c["child_id"] for c in body["children"] + body["already_supported"]]
    assert sorted(links) == sorted(expected)
    for child in body["children"][:3]:
        assert child["reason"].split("、")[0].split(" (")[0] in html
    # Every child shown is audited, as on the JSON list.
    assert _entries(world, body["children"][0]["child_id"])[-1].route.endswith("flagged.html")


def test_the_case_conference_page_follows_the_list_rules(
    client: TestClient, world: ReportWorld
) -> None:
    url = f"/v1/municipalities/{world.home}/flagged.html"
    assert client.get(url, headers=world.headers("vendor")).status_code == 200
    assert client.get(url, headers=world.headers("analyst")).status_code == 403
    assert client.get(url, headers=world.headers("reviewer_other")).status_code == 404
    assert client.get(url, headers=world.headers(purpose=None)).status_code == 400


@pytest.mark.parametrize("form", ["flagged", "flagged.html", "flagged.csv"])
def test_every_form_of_the_list_refuses_a_run_id_no_database_can_hold(
    client: TestClient, world: ReportWorld, form: str
) -> None:
    # The three forms share one set of filters: a bound added to one reaches them all.
    response = client.get(
        f"/v1/municipalities/{world.home}/{form}",
        params={"run_id": 2**63},
        headers=world.headers("vendor"),
    )
    assert response.status_code == 422, response.text


def test_the_csv_export_opens_in_excel_and_matches_the_list(
    client: TestClient, world: ReportWorld
) -> None:
    body = client.get(
        f"/v1/municipalities/{world.home}/flagged",
        params={"hardship": "truancy"},
        headers=world.headers(),
    ).json()
    response = client.get(
        f"/v1/municipalities/{world.home}/flagged.csv",
        params={"hardship": "truancy"},
        headers=world.headers("vendor"),
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    data = response.content
    assert data.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert rows[0] == [name for name, _ in CSV_COLUMNS]
    records = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert [r["child_id"] for r in records] == [
        c["child_id"] for c in body["children"] + body["already_supported"]
    ]
    assert {r["hardship_ja"] for r in records} <= {"不登校"}
    assert all(r["already_supported"] in {"0", "1"} for r in records)
    assert data.count(b"\r\n") == len(rows)
