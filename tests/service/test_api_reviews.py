"""The review feedback loop over HTTP: recording a decision, the summary, a child's reviews."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.store.models import AuditEntry, ChildScore, Review
from tests.service.reports.service_world import ReportWorld, app_with_pages, report_world


@pytest.fixture(scope="module")
def world(served_world) -> ReportWorld:  # type: ignore[no-untyped-def]
    return report_world(served_world)


@pytest.fixture(scope="module")
def client(world: ReportWorld) -> Iterator[TestClient]:
    with TestClient(app_with_pages(world.settings)) as client:
        yield client


def _scores(world: ReportWorld, run_id: int, **where: object) -> list[ChildScore]:
    with Session(world.database) as session:
        query = select(ChildScore).where(ChildScore.run_id == run_id)
        for name, value in where.items():
            query = query.where(getattr(ChildScore, name) == value)
        return list(session.scalars(query).all())


def _banded(world: ReportWorld, hardship: str) -> list[ChildScore]:
    rows = _scores(world, world.runs[1], municipality=world.home, hardship=hardship)
    return sorted(
        (r for r in rows if r.band is not None and not r.already_supported),
        key=lambda r: -r.probability,
    )


def _busiest_hardship(world: ReportWorld) -> str:
    hardships = ("abuse", "poverty", "truancy", "postpartum_depression", "young_carer")
    return max(hardships, key=lambda h: len(_banded(world, h)))


def _post(client: TestClient, world: ReportWorld, key: str = "reviewer", **body: object):  # type: ignore[no-untyped-def]
    return client.post("/v1/reviews", json=body, headers=world.headers(key))


def test_a_decision_is_recorded_with_the_band_of_the_latest_run_and_audited(
    client: TestClient, world: ReportWorld
) -> None:
    score = _banded(world, _busiest_hardship(world))[0]
    response = _post(
        client,
        world,
        child_id=score.child_id,
        hardship=score.hardship,
        decision="monitoring",
        note="学校と連携して様子を見る",
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["run_id"] == world.runs[1] and body["as_of_month"] == world.months[1]
    assert body["band"] == score.band and body["municipality"] == world.home
    assert body["reviewer_key_id"] == world.key_ids["reviewer"]
    with Session(world.database) as session:
        stored = session.get(Review, body["id"])
        assert stored is not None and stored.note == "学校と連携して様子を見る"
        entry = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.child_id == score.child_id)
            .order_by(AuditEntry.seq.desc())
        ).first()
    assert entry is not None
    assert (entry.method, entry.status_code, entry.municipality) == ("POST", 201, world.home)


def test_a_decision_on_an_earlier_run_takes_that_runs_band(
    client: TestClient, world: ReportWorld
) -> None:
    hardship = _busiest_hardship(world)
    earlier = _scores(world, world.runs[0], municipality=world.home, hardship=hardship)
    score = next(r for r in earlier if r.band is not None)
    response = _post(
        client,
        world,
        child_id=score.child_id,
        hardship=hardship,
        decision="needs_information",
        run_id=world.runs[0],
    )
    assert response.status_code == 201, response.text
    assert response.json()["band"] == score.band
    assert response.json()["as_of_month"] == world.months[0]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"decision": "no_action"}, None),  # the reason is required with no_action
        ({"decision": "monitoring", "reason": "data_error"}, None),
        ({"decision": "no_action", "reason": "looked_fine"}, "reason"),
        ({"decision": "closed"}, "decision"),
        ({"decision": "monitoring", "note": "あ" * 501}, "note"),
        ({"decision": "monitoring", "hardship": "bullying"}, "hardship"),
    ],
)
def test_invalid_decisions_are_refused_naming_the_field(
    client: TestClient, world: ReportWorld, body: dict[str, object], field: str | None
) -> None:
    request = {"child_id": world.flagged[0], "hardship": "truancy", **body}
    response = _post(client, world, **request)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    if field is not None:
        text = str(detail)
        assert field in text


def test_a_run_that_did_not_score_the_child_is_refused(
    client: TestClient, world: ReportWorld
) -> None:
    response = _post(
        client,
        world,
        child_id=world.flagged[0],
        hardship="truancy",
        decision="monitoring",
        run_id=999_999,
    )
    assert response.status_code == 422
    assert response.json()["detail"]["field"] == "run_id"
    # For a child the caller may not see, the same request says nothing about runs.
    hidden = _post(
        client,
        world,
        child_id=world.stranger,
        hardship="truancy",
        decision="monitoring",
        run_id=999_999,
    )
    assert hidden.status_code == 404


@pytest.mark.parametrize(
    ("key", "purpose", "status"),
    [
        ("vendor", "case_conference", 403),
        ("analyst", "case_conference", 403),
        ("reviewer", None, 400),
        (None, "case_conference", 401),
    ],
)
def test_only_reviewers_record_decisions(
    client: TestClient, world: ReportWorld, key: str | None, purpose: str | None, status: int
) -> None:
    with Session(world.database) as session:
        before = session.scalar(select(func.count()).select_from(Review))
    response = client.post(
        "/v1/reviews",
        json={"child_id": world.flagged[3], "hardship": "truancy", "decision": "monitoring"},
        headers=world.headers(key, purpose),
    )
    assert response.status_code == status
    with Session(world.database) as session:
        assert session.scalar(select(func.count()).select_from(Review)) == before


def test_a_child_of_another_municipality_is_unknown(client: TestClient, world: ReportWorld) -> None:
    stranger = _post(
        client, world, child_id=world.stranger, hardship="truancy", decision="monitoring"
    )
    unknown = _post(
        client, world, child_id="no-such-child", hardship="truancy", decision="monitoring"
    )
    assert stranger.status_code == unknown.status_code == 404
    assert stranger.json() == unknown.json()
    with Session(world.database) as session:
        entry = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.child_id == world.stranger)
            .order_by(AuditEntry.seq.desc())
        ).first()
    assert entry is not None and entry.status_code == 404


def test_the_next_summary_counts_decisions_per_band_and_the_rejected_features(
    client: TestClient, world: ReportWorld
) -> None:
    hardship = _busiest_hardship(world)
    params = {"hardship": hardship, "month": world.months[1]}

    def summary() -> dict:  # type: ignore[type-arg]
        response = client.get("/v1/reviews/summary", params=params, headers=world.headers())
        assert response.status_code == 200, response.text
        return response.json()

    def row(body: dict, band: str) -> dict:  # type: ignore[type-arg]
        return next(
            (r for r in body["bands"] if r["band"] == band),
            {"flagged": 0, "reviewed": 0, "confirmed": 0, "rejected": 0},
        )

    before = summary()
    banded = _banded(world, hardship)
    band = banded[0].band
    assert band is not None
    in_band = [r for r in banded if r.band == band][1:4]  # [0] may be reviewed by another test
    assert len(in_band) == 3
    decisions = [("preventive_support", None), ("monitoring", None), ("no_action", "data_error")]
    for score, (decision, reason) in zip(in_band, decisions, strict=True):
        body = {"child_id": score.child_id, "hardship": hardship, "decision": decision}
        if reason:
            body["reason"] = reason
        assert _post(client, world, **body).status_code == 201
    after = summary()
    flagged = sum(1 for r in banded if r.band == band)
    assert row(after, band)["flagged"] == flagged
    assert row(after, band)["reviewed"] - row(before, band)["reviewed"] == 3
    assert row(after, band)["confirmed"] - row(before, band)["confirmed"] == 2
    assert row(after, band)["rejected"] - row(before, band)["rejected"] == 1
    assert after["reference"]["flagged"] == 2475 and after["reference"]["confirmed"] == 852
    assert after["rejection_reasons"].get("data_error", 0) >= 1
    rejected_reasons = [r[0] for r in in_band[2].reasons or [] if r[2] > 0]
    assert rejected_reasons, "a banded child has stored reasons"
    assert {f["feature"] for f in after["rejected_features"]} >= set(rejected_reasons)

    # Reviewing again: the latest decision is the one that counts.
    again = {"child_id": in_band[2].child_id, "hardship": hardship, "decision": "monitoring"}
    assert _post(client, world, **again).status_code == 201
    final = summary()
    assert row(final, band)["reviewed"] == row(after, band)["reviewed"]
    assert row(final, band)["confirmed"] == row(after, band)["confirmed"] + 1
    assert row(final, band)["rejected"] == row(after, band)["rejected"] - 1


def test_the_summary_stays_within_the_callers_municipality(
    client: TestClient, world: ReportWorld
) -> None:
    other = client.get(
        "/v1/reviews/summary",
        params={"municipality": world.home},
        headers=world.headers("reviewer_other"),
    )
    assert other.status_code == 404
    own = client.get("/v1/reviews/summary", headers=world.headers("analyst", None))
    assert own.status_code == 200 and own.json()["municipality"] == world.home
    assert client.get("/v1/reviews/summary", headers=world.headers("vendor")).status_code == 403


def test_a_childs_reviews_and_scores_follow_it_within_scope(
    client: TestClient, world: ReportWorld
) -> None:
    child = world.flagged[4]
    assert (
        _post(client, world, child_id=child, hardship="abuse", decision="monitoring").status_code
        == 201
    )
    response = client.get(f"/v1/children/{child}/reviews", headers=world.headers())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["reviews"][0]["hardship"] == "abuse"
    assert {s["as_of_month"] for s in body["scores"]} == set(world.months)
    assert all(s["model_version"] for s in body["scores"])
    # The report shows the same review.
    report = client.get(f"/v1/children/{child}/report", headers=world.headers()).text
    assert "見守り継続" in report
    hidden = client.get(f"/v1/children/{child}/reviews", headers=world.headers("reviewer_other"))
    assert hidden.status_code == 404
