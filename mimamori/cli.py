"""`mimamori`: one command, a sub-command per stage.

This module is the composition root. Heavy libraries (mlflow, shap, lightgbm, splink) are imported
inside the commands that need them so that `mimamori --help` answers at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

app = typer.Typer(
    name="mimamori",
    help=(
        "Mimamori (見守り): find children in latent hardship early from linked municipal data.\n\n"
        "Stages, in order: synth (synthetic extracts) -> ingest -> link -> features -> train -> "
        "promote -> score -> serve. `mimamori demo` runs every stage that exists on synthetic data."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _fail(message: str) -> typer.Exit:
    """One clear line on stderr and a non-zero exit, never a traceback for bad input."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=2)


DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Working data folder (default: $MIMAMORI_DATA_DIR or ./var).",
        show_default=False,
    ),
]


@app.command()
def synth(
    profile: Annotated[
        str,
        typer.Option(
            help="Population size: tiny (about 2,000 children, for tests), demo (about 20,000) "
            "or default (about 100,000, the size of the FY2025 demonstration)."
        ),
    ] = "demo",
    children: Annotated[
        int | None,
        typer.Option(
            help="Override the number of children (aged 0-17 at the last month) of the profile.",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same files.")] = 7,
    data_dir: DataDirOption = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing synthetic population.")
    ] = False,
) -> None:
    """Generate a synthetic population: departmental CSV extracts plus a separate ground truth.

    The extracts (data-dir/extracts/<municipality>/<department>/...) look like what municipal
    departments hand over: CP932 or UTF-8 CSV, Japanese-era dates, notation variants and 外字.
    The ground truth (data-dir/ground_truth/) is for evaluation code only.
    """
    from synthetic.generator import GenerationError, generate
    from synthetic.profiles import ProfileError, resolve_profile

    try:
        resolved = resolve_profile(profile, children=children, seed=seed)
    except ProfileError as error:
        raise _fail(str(error)) from None
    root = _settings(data_dir).data_dir
    with _progress() as progress:
        try:
            summary = generate(resolved, root, overwrite=force, progress=progress)
        except GenerationError as error:
            raise _fail(str(error)) from None
    _print_table("synthetic population", summary.as_rows())


def _progress():  # type: ignore[no-untyped-def]
    from mimamori.progress import RichProgress

    return RichProgress()


def _print_table(title: str, rows: list[tuple[str, str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    table.add_column("item")
    table.add_column("value", justify="right")
    for item, value in rows:
        table.add_row(item, value)
    Console().print(table)


@app.command()
def ingest(
    extracts: Annotated[
        Path | None,
        typer.Option(
            help="Folder of departmental extracts, one sub-folder per municipality code "
            "(default: data-dir/extracts).",
            show_default=False,
        ),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Load departmental CSV extracts into the database, all or nothing.

    Each file is read in its declared encoding (CP932 or UTF-8) and every row is checked against
    the source catalogue. A row that cannot be read is quarantined with its file, line and reason;
    per file, rows read = rows loaded + rows quarantined. Re-running with unchanged files changes
    nothing; if anything fails, the database keeps what it had before.
    """
    from features.ingest.run import IngestError, ingest_extracts
    from features.store.database import make_engine
    from features.store.migrate import upgrade

    settings = _settings(data_dir)
    root = extracts or settings.extracts_dir
    if not root.is_dir():
        raise _fail(f"no extracts folder at {root}; run `mimamori synth` or pass --extracts")
    url = settings.resolved_database_url
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(url)
    engine = make_engine(url)
    try:
        with _progress() as progress:
            report = ingest_extracts(root, engine, progress=progress)
    except IngestError as error:
        raise _fail(str(error)) from None
    finally:
        engine.dispose()
    _print_table("ingestion", report.as_rows())


@app.command()
def link(data_dir: DataDirOption = None) -> None:
    """Link the ingested records into one person master (名寄せ) and store it.

    Records sharing a 宛名番号 within a municipality are linked directly; school and maternal-
    health records, and people who moved between municipalities, are linked by name (kanji and
    kana, normalised for old/new kanji, width, kana and 外字), date of birth, sex and address.
    Uncertain pairs go to a review queue; decisions recorded there are respected on the next run.
    Each person gets a pseudonymous id keyed by MIMAMORI_PSEUDONYM_KEY.
    """
    from features.linkage.run import LinkageRunError, linkage_report_rows, run_linkage
    from features.store.database import make_engine
    from features.store.migrate import upgrade

    settings = _settings(data_dir)
    url = settings.resolved_database_url
    upgrade(url)
    engine = make_engine(url)
    extracts = settings.extracts_dir if settings.extracts_dir.is_dir() else None
    try:
        with _progress() as progress:
            result = run_linkage(
                engine,
                key=settings.pseudonym_key.get_secret_value().encode(),
                extracts_root=extracts,
                progress=progress,
            )
    except LinkageRunError as error:
        raise _fail(str(error)) from None
    finally:
        engine.dispose()
    _print_table("linkage", linkage_report_rows(result))


@app.command()
def review(
    accept: Annotated[
        tuple[str, str] | None,
        typer.Option(help="Link these two record keys on the next run.", show_default=False),
    ] = None,
    reject: Annotated[
        tuple[str, str] | None,
        typer.Option(help="Keep these two record keys apart.", show_default=False),
    ] = None,
    by: Annotated[str, typer.Option("--by", help="Who decides (recorded with the decision).")] = "",
    note: Annotated[str | None, typer.Option(help="A short reason.")] = None,
    data_dir: DataDirOption = None,
) -> None:
    """The linkage review queue: list uncertain pairs, or record a decision on one.

    Without --accept or --reject, lists the pending pairs by record key with their match
    probability and why they are uncertain. A decision is respected by every later
    `mimamori link` run. Record keys look like 990001:school_register:pupil:1234567.
    """
    from sqlalchemy import select

    from features.linkage.run import record_review_decision
    from features.store.database import make_engine
    from features.store.migrate import SchemaNotCurrentError, check_schema
    from features.store.models import ReviewPair

    if accept and reject:
        raise _fail("give either --accept or --reject, not both")
    settings = _settings(data_dir)
    engine = make_engine(settings.resolved_database_url)
    try:
        check_schema(engine)
        if accept or reject:
            pair = accept or reject
            assert pair is not None
            if not by.strip():
                raise _fail("--by must name the reviewer")
            decision: Literal["accept", "reject"] = "accept" if accept else "reject"
            try:
                record_review_decision(engine, pair[0], pair[1], decision, by, note)
            except ValueError as error:
                raise _fail(str(error)) from None
            typer.echo(f"recorded: {decision} {pair[0]} {pair[1]}; run `mimamori link` to apply")
            return
        query = select(
            ReviewPair.record_key_l,
            ReviewPair.record_key_r,
            ReviewPair.probability,
            ReviewPair.reason,
        ).where(ReviewPair.status == "pending")
        with engine.connect() as connection:
            pending = connection.execute(query.order_by(ReviewPair.id)).all()
    except SchemaNotCurrentError:
        raise _fail("the database is not set up; run `mimamori ingest` first") from None
    finally:
        engine.dispose()
    rows = [
        (f"{left}  ~  {right}", f"{(p or 0):.3f} {reason}") for left, right, p, reason in pending
    ]
    _print_table(f"review queue: {len(rows)} pending", rows)


@app.command()
def features(
    first: Annotated[str, typer.Option("--from", help="First as-of month, YYYY-MM.")] = "2022-04",
    last: Annotated[str, typer.Option("--to", help="Last as-of month, YYYY-MM.")] = "2026-03",
    purpose: Annotated[
        list[str] | None,
        typer.Option(
            help="Use only sources collected for this purpose (repeatable), for two-stage "
            "screening: e.g. --purpose school first, welfare only for children flagged.",
            show_default=False,
        ),
    ] = None,
    horizon: Annotated[
        int, typer.Option(help="Label horizon in months: did onset happen within it?")
    ] = 6,
    data_dir: DataDirOption = None,
) -> None:
    """Build point-in-time features and labels for every child and as-of month.

    A feature as of month T uses only records the municipality knew before the first day of T.
    A source the municipality does not hold is missing (NaN with an indicator), never zero.
    Writes data-dir/features/features.parquet and labels.parquet.
    """
    from features.linkage.persisted import load_identity_map
    from features.pointintime.store import (
        FeatureStoreError,
        build_feature_store,
        month_range,
    )
    from features.store.database import make_engine
    from features.store.migrate import SchemaNotCurrentError, check_schema
    from features.timeline.adapters import linked_records_from_store

    settings = _settings(data_dir)
    if horizon < 1:
        raise _fail("--horizon must be at least 1 month")
    try:
        months = month_range(first, last)
    except FeatureStoreError as error:
        raise _fail(str(error)) from None
    engine = make_engine(settings.resolved_database_url)
    try:
        check_schema(engine)
        identity_map = load_identity_map(engine)
        if identity_map.empty:
            raise _fail("no linked persons yet; run `mimamori ingest` and `mimamori link`")
        with _progress() as progress:
            progress.start("features and labels", 1)
            records = linked_records_from_store(engine, identity_map)
            summary = build_feature_store(
                records,
                months,
                settings.data_dir / "features",
                purposes=purpose or None,
                horizon=horizon,
            )
            progress.advance()
    except SchemaNotCurrentError:
        raise _fail("the database is not set up; run `mimamori ingest` first") from None
    except FeatureStoreError as error:
        raise _fail(str(error)) from None
    finally:
        engine.dispose()
    _print_table("feature store", summary.as_rows())


@app.command()
def train(
    hardship: Annotated[
        list[str] | None,
        typer.Option(
            help="Hardship to train (repeatable): abuse, poverty, truancy, "
            "postpartum_depression, young_carer. Default: every one in the registry.",
            show_default=False,
        ),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Train, calibrate and audit one model per hardship; register each as `challenger`.

    Reads the feature store written by `mimamori features`, splits by time (with a gap of the
    label horizon) and by household, calibrates on a held-out period, measures on the test
    period, audits over-influential features and fairness, writes a model card, and logs it all
    to MLflow (a SQLite store in the data folder unless MIMAMORI_MLFLOW_TRACKING_URI is set).
    """
    import pandas as pd
    from sqlalchemy import select

    from features.store.database import make_engine
    from features.store.migrate import SchemaNotCurrentError, check_schema
    from features.store.models import HouseholdLink, Person
    from training.frame import TrainingFrameError, training_frame_from
    from training.registry import TrackingUnavailableError
    from training.train import TrainingError, train_all

    settings = _settings(data_dir)
    store = settings.data_dir / "features"
    if not (store / "features.parquet").exists():
        raise _fail(f"no feature store at {store}; run `mimamori features` first")
    engine = make_engine(settings.resolved_database_url)
    try:
        check_schema(engine)
        with engine.connect() as connection:
            households = pd.DataFrame(
                connection.execute(select(HouseholdLink.person_id, HouseholdLink.household_id)),
                columns=["person_id", "household_id"],
            )
            attributes = pd.DataFrame(
                connection.execute(select(Person.person_id, Person.sex)),
                columns=["person_id", "sex"],
            )
    except SchemaNotCurrentError:
        raise _fail("the database is not set up; run `mimamori ingest` first") from None
    finally:
        engine.dispose()
    try:
        frame = training_frame_from(
            pd.read_parquet(store / "features.parquet"),
            pd.read_parquet(store / "labels.parquet"),
            households=households,
            attributes=attributes,
        )
        with _progress() as progress:
            report = train_all(
                frame,
                tracking_uri=settings.resolved_mlflow_tracking_uri,
                hardships=hardship or None,
                progress=progress,
            )
    except (TrainingFrameError, TrainingError, TrackingUnavailableError, KeyError) as error:
        raise _fail(str(error).strip("'")) from None
    _print_table("training (test period)", report.rows())


@app.command()
def promote(
    hardship: Annotated[
        list[str] | None,
        typer.Option(help="Hardship to promote (repeatable); default: all.", show_default=False),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Move each hardship's `champion` alias to its challenger if the challenger passes the gates.

    Gates (training/config.yaml): not worse than the current champion beyond a tolerance on the
    same test period, and calibration error within bound. The decision and its reasons are
    recorded as tags on the model version either way.
    """
    from models.hardships import load_hardship_registry
    from training.registry import PromotionError, TrackingUnavailableError
    from training.registry import promote as promote_challenger

    settings = _settings(data_dir)
    registry = load_hardship_registry()
    try:
        chosen = registry.select(hardship or None)
        rows = []
        for item in chosen:
            decision = promote_challenger(item.id, settings.resolved_mlflow_tracking_uri)
            verdict = "promoted" if decision.promoted else "kept champion"
            rows.append(
                (
                    f"{item.id} ({item.label_ja}) v{decision.challenger_version}",
                    f"{verdict}: {'; '.join(decision.reasons)}",
                )
            )
    except (PromotionError, TrackingUnavailableError, KeyError, ValueError) as error:
        raise _fail(str(error).strip("'")) from None
    _print_table("promotion", rows)


def _settings(data_dir: Path | None):  # type: ignore[no-untyped-def]
    """Settings from the environment, with the data folder overridden by --data-dir."""
    from features.settings import get_settings

    settings = get_settings()
    if data_dir is not None:
        settings = settings.model_copy(update={"data_dir": data_dir})
    return settings


@app.command()
def demo(
    profile: Annotated[
        str, typer.Option(help="tiny, demo (about 20,000 children) or default (about 100,000).")
    ] = "demo",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
    data_dir: DataDirOption = None,
) -> None:
    """Run every stage that exists so far on a fresh synthetic population.

    Today that is: generate the synthetic extracts, ingest, link, build features, train and
    promote. Later stages (the scoring API) join as they land.
    """
    synth(profile=profile, children=None, seed=seed, data_dir=data_dir, force=True)
    ingest(extracts=None, data_dir=data_dir)
    link(data_dir=data_dir)
    features(first="2022-04", last="2026-03", purpose=None, horizon=6, data_dir=data_dir)
    train(hardship=None, data_dir=data_dir)
    promote(hardship=None, data_dir=data_dir)


def main() -> None:
    app()
