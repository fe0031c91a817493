"""A served world with score runs and keys, for the report, review and browser tests.

Built once per test session (cached here, because a session fixture outside a conftest would be
rebuilt per module): its own copy of the database, keys for each role, and two succeeded score
runs (the latest month and three months before) so that lists and histories have content.
Tests that write reviews use their own children or compare counts before and after.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from tempfile import mkdtemp

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from features.store.database import make_engine, session_factory
from service.batch import run_batch
from service.scoring.engine import ScoringEngine
from service.security import create_key
from service.settings import ServiceSettings
from service.store.migrate import upgrade
from service.store.models import ChildScore
from service.thresholds import ThresholdResolver

PURPOSE = "case_conference"


@dataclass(frozen=True)
class ReportWorld:
    settings: ServiceSettings
    database: Engine
    keys: dict[str, str]  # name -> secret
    key_ids: dict[str, str]
    home: str
    other: str
    runs: tuple[int, int]  # (earlier, latest)
    months: tuple[str, str]
    flagged: tuple[str, ...]  # children banded for some hardship in the latest run, home
    stranger: str  # a child of the other municipality, scored in the latest run

    def headers(
        self, key: str | None = "reviewer", purpose: str | None = PURPOSE
    ) -> dict[str, str]:
        out = {}
        if key is not None:
            out["X-API-Key"] = self.keys[key]
        if purpose is not None:
            out["X-Purpose"] = purpose
        return out


def _copy(source: str, target: Path) -> str:
    origin, copy = sqlite3.connect(source.removeprefix("sqlite:///")), sqlite3.connect(target)
    try:
        origin.backup(copy)
    finally:
        origin.close()
        copy.close()
    url = f"sqlite:///{target}"
    upgrade(url)
    return url


@lru_cache(maxsize=1)
def _build(data_dir: Path, database_url: str, tracking_uri: str) -> ReportWorld:
    folder = Path(mkdtemp(prefix="mimamori-reports-"))
    url = _copy(database_url, folder / "mimamori.db")
    settings = ServiceSettings(
        data_dir=data_dir,
        database_url=url,
        mlflow_tracking_uri=tracking_uri,
        reload_interval_seconds=3600,
    )
    database = make_engine(url)
    engine = ScoringEngine.from_settings(settings)
    assert engine.ready, engine.status()
    months = engine.months()
    earlier, latest = months[-4], months[-1]
    resolver = ThresholdResolver(engine, session_factory(database))
    runs = tuple(
        run_batch(engine, database, month, resolver=resolver, measure_drift=False).run_id
        for month in (earlier, latest)
    )
    home, other = engine.municipalities()[:2]
    with Session(database) as session:
        flagged = tuple(
            dict.fromkeys(
                session.scalars(
                    select(ChildScore.child_id)
                    .where(
                        ChildScore.run_id == runs[1],
                        ChildScore.municipality == home,
                        ChildScore.band.is_not(None),
                        ChildScore.already_supported.is_(False),
                    )
                    .order_by(ChildScore.probability.desc())
                ).all()
            )
        )
        stranger = session.scalars(
            select(ChildScore.child_id)
            .where(ChildScore.run_id == runs[1], ChildScore.municipality == other)
            .limit(1)
        ).one()
    specs = {
        "admin": ("admin", None),
        "reviewer": ("reviewer", home),
        "reviewer_other": ("reviewer", other),
        "vendor": ("vendor_system", home),
        "analyst": ("analyst", home),
    }
    keys, key_ids = {}, {}
    for name, (role, municipality) in specs.items():
        created = create_key(
            database, name=name, role=role, municipality=municipality, created_by="tests"
        )
        keys[name], key_ids[name] = created.secret, created.key_id
    assert len(flagged) >= 6, "the tiny world should flag a handful of children"
    return ReportWorld(
        settings=settings,
        database=database,
        keys=keys,
        key_ids=key_ids,
        home=home,
        other=other,
        runs=(runs[0], runs[1]),
        months=(earlier, latest),
        flagged=flagged,
        stranger=stranger,
    )


def report_world(served_world) -> ReportWorld:  # type: ignore[no-untyped-def]
    return _build(served_world.data_dir, served_world.database_url, served_world.tracking_uri)


def app_with_pages(settings: ServiceSettings):  # type: ignore[no-untyped-def]
    """create_app, with the report and review routers included if app.py does not yet."""
    from service.api import reports, reviews
    from service.app import create_app

    app = create_app(settings)
    paths = {getattr(route, "path", None) for route in app.routes}
    for module, probe in ((reports, "/v1/children/{child_id}/report"), (reviews, "/v1/reviews")):
        if probe not in paths:
            app.include_router(module.router)
    return app
