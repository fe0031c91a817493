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
                memory_limit=settings.link_memory_limit,
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
    from features.store.database import make_engine
    from features.store.migrate import SchemaNotCurrentError
    from training.frame import TrainingFrameError, load_training_frame
    from training.registry import TrackingUnavailableError
    from training.reviews import load_reviews
    from training.train import TrainingError, train_all

    settings = _settings(data_dir)
    try:
        frame = load_training_frame(settings.data_dir / "features", settings.resolved_database_url)
        engine = make_engine(settings.resolved_database_url)
        try:
            # Reviewers' decisions, if the service has recorded any (training.reviews).
            reviews = load_reviews(engine)
        finally:
            engine.dispose()
        with _progress() as progress:
            report = train_all(
                frame,
                tracking_uri=settings.resolved_mlflow_tracking_uri,
                hardships=hardship or None,
                progress=progress,
                reviews=reviews,
            )
    except SchemaNotCurrentError:
        raise _fail("the database is not set up; run `mimamori ingest` first") from None
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


def _service_settings(data_dir: Path | None, **overrides: object):  # type: ignore[no-untyped-def]
    """The scoring service's settings from the environment, with --data-dir and options applied."""
    from service.settings import get_service_settings

    update = {key: value for key, value in overrides.items() if value is not None}
    if data_dir is not None:
        update["data_dir"] = data_dir
    return get_service_settings().model_copy(update=update)


@app.command()
def serve(
    host: Annotated[
        str | None,
        typer.Option(help="Interface to listen on (default 127.0.0.1).", show_default=False),
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port (default 8000).", show_default=False)
    ] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    data_dir: DataDirOption = None,
) -> None:
    """Serve the scoring API (FastAPI on uvicorn) until interrupted.

    At start the service brings its tables up to date and loads each hardship's `champion`
    from the MLflow registry; it checks for newly promoted champions every 30 s
    (MIMAMORI_RELOAD_INTERVAL_SECONDS). /readyz says when it is ready, /docs documents the API.
    Callers need a key from `mimamori keys create`.
    """
    import os

    import uvicorn

    from service.app import create_app, log_config

    # Loading a champion downloads its artifacts; progress bars would clutter the service log.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    settings = _service_settings(data_dir, host=host, port=port)
    typer.echo(f"serving on http://{settings.host}:{settings.port} (API docs at /docs)")
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        log_config=log_config(log_level),
        log_level=log_level,
        # The service logs its own access lines with route templates, not raw paths.
        access_log=False,
        timeout_graceful_shutdown=30,
    )


@app.command()
def score(
    as_of: Annotated[str, typer.Option("--as-of", help="As-of month to score, YYYY-MM.")],
    drift: Annotated[
        bool,
        typer.Option("--drift/--no-drift", help="Measure drift against the training months."),
    ] = True,
    data_dir: DataDirOption = None,
) -> None:
    """Score every child at a month for every hardship with a champion, as one stored run.

    Bands come from each municipality's threshold policy; children in a band get their top
    three reasons. The run's rows become visible only when all of them are stored, so an
    interrupted run leaves nothing half-written; the API's flagged lists read the latest
    succeeded run. Drift (PSI per feature and of the scores) is stored with the run.
    """
    import re

    from features.store.database import session_factory
    from service.batch import BatchError, run_batch
    from service.scoring.engine import ScoringEngine
    from service.thresholds import ThresholdResolver

    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", as_of):
        raise _fail(f"--as-of must be a month like 2026-03, not {as_of!r}")
    settings = _service_settings(data_dir)
    if not (settings.features_dir / "features.parquet").exists():
        raise _fail(f"no feature store at {settings.features_dir}; run `mimamori features` first")
    database = _service_database(data_dir)
    try:
        engine = ScoringEngine.from_settings(settings)
        resolver = ThresholdResolver(engine, session_factory(database))
        with _progress() as progress:
            result = run_batch(
                engine, database, as_of, resolver=resolver, progress=progress, measure_drift=drift
            )
    except BatchError as error:
        raise _fail(str(error)) from None
    finally:
        database.dispose()
    _print_table("score run", result.as_rows())


keys_app = typer.Typer(
    help="API keys of the scoring service: create (shows the secret once), list, revoke.",
    no_args_is_help=True,
)
app.add_typer(keys_app, name="keys")


def _service_database(data_dir: Path | None):  # type: ignore[no-untyped-def]
    """The database engine with the service's tables brought up to date."""
    from features.store.database import make_engine
    from service.store.migrate import upgrade

    settings = _service_settings(data_dir)
    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    upgrade(engine)
    return engine


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="Who holds the key, e.g. the vendor's system.")],
    role: Annotated[str, typer.Option(help="vendor_system, reviewer, analyst or admin.")],
    municipality: Annotated[
        str | None,
        typer.Option(
            help="6-digit municipality code the key is limited to (required but for admin).",
            show_default=False,
        ),
    ] = None,
    by: Annotated[
        str | None, typer.Option(help="Who creates it (default: your login).", show_default=False)
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Create a key and print its secret. The secret is shown this once; only a hash is kept."""
    import getpass

    from service.security import ApiKeyError, create_key

    engine = _service_database(data_dir)
    try:
        created = create_key(
            engine,
            name=name,
            role=role,
            municipality=municipality,
            created_by=by or getpass.getuser(),
        )
    except ApiKeyError as error:
        raise _fail(str(error)) from None
    finally:
        engine.dispose()
    scope = created.municipality or "all municipalities"
    typer.echo(f"key {created.key_id}: {created.name}, {created.role.value}, {scope}")
    typer.echo(f"secret (shown once, store it now): {created.secret}")


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id, as `mimamori keys list` shows.")],
    data_dir: DataDirOption = None,
) -> None:
    """Revoke a key; requests with it are refused (401) from now on."""
    from service.security import revoke_key

    engine = _service_database(data_dir)
    try:
        revoked = revoke_key(engine, key_id)
    finally:
        engine.dispose()
    if not revoked:
        raise _fail(f"no active key {key_id}")
    typer.echo(f"revoked {key_id}")


@keys_app.command("list")
def keys_list(data_dir: DataDirOption = None) -> None:
    """List keys with their role, scope and state (never their secrets)."""
    from service.security import list_keys

    engine = _service_database(data_dir)
    try:
        keys = list_keys(engine)
    finally:
        engine.dispose()
    rows = [
        (
            f"{key.key_id}  {key.name}",
            f"{key.role} {key.municipality or 'all'} "
            + (f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"),
        )
        for key in keys
    ]
    _print_table(f"API keys: {len(rows)}", rows)


audit_app = typer.Typer(help="The scoring service's audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(data_dir: DataDirOption = None) -> None:
    """Walk the hash chain of the audit log; exit 1 at the first edited or deleted entry."""
    from features.store.database import make_engine
    from service.audit import verify_chain
    from service.store.migrate import SchemaNotCurrentError, check_schema

    settings = _service_settings(data_dir)
    engine = make_engine(settings.resolved_database_url)
    try:
        check_schema(engine)
        verdict = verify_chain(engine)
    except SchemaNotCurrentError:
        raise _fail("the service's tables are not set up; run `mimamori serve` once") from None
    finally:
        engine.dispose()
    if not verdict.intact:
        typer.secho(verdict.describe(), fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1)
    typer.echo(verdict.describe())


def _demo_access(data_dir: Path | None, municipality: str = "990001") -> None:
    """Keys for the demo and an example request with a real child of `municipality`."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from service.security import create_key

    settings = _service_settings(data_dir)
    engine = _service_database(data_dir)
    try:
        admin = create_key(
            engine, name="demo administrator", role="admin", municipality=None, created_by="demo"
        )
        vendor = create_key(
            engine,
            name=f"demo vendor system ({municipality})",
            role="vendor_system",
            municipality=municipality,
            created_by="demo",
        )
        reviewer = create_key(
            engine,
            name=f"demo reviewer ({municipality})",
            role="reviewer",
            municipality=municipality,
            created_by="demo",
        )
    finally:
        engine.dispose()
    table = pq.read_table(
        settings.features_dir / "features.parquet",
        columns=["person_id", "as_of_month", "municipality"],
        filters=[("municipality", "==", municipality)],
    )
    latest = pc.max(table["as_of_month"]).as_py()
    child_id = table.filter(pc.equal(table["as_of_month"], latest))["person_id"][0].as_py()
    typer.echo(f"admin key {admin.key_id} (all municipalities): {admin.secret}")
    typer.echo(f"vendor key {vendor.key_id} ({municipality}): {vendor.secret}")
    typer.echo(f"reviewer key {reviewer.key_id} ({municipality}): {reviewer.secret}")
    typer.echo("keys are shown once; `mimamori keys list` shows them without secrets.\n")
    address = f"http://{settings.host}:{settings.port}"
    typer.echo("score a child (once the service below is ready, see /readyz):")
    typer.echo(
        f"  curl -s -X POST http://{settings.host}:{settings.port}/v1/scores \\\n"
        f"    -H 'X-API-Key: {vendor.secret}' -H 'X-Purpose: child_welfare_screening' \\\n"
        f"    -H 'Content-Type: application/json' \\\n"
        f'    -d \'{{"children": [{{"child_id": "{child_id}"}}], "explain": true}}\''
    )
    reviewer_headers = f"-H 'X-API-Key: {reviewer.secret}' -H 'X-Purpose: case_conference'"
    typer.echo("\nthe case-conference list of the latest score run (CSV for the municipal system):")
    typer.echo(
        f"  curl -s '{address}/v1/municipalities/{municipality}/flagged.csv?hardship=abuse' "
        f"{reviewer_headers}"
    )
    typer.echo("a reviewer's report on that child (A4 PDF; report without .pdf is the HTML page):")
    typer.echo(
        f"  curl -s -o report.pdf {address}/v1/children/{child_id}/report.pdf {reviewer_headers}"
    )


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
    serve_api: Annotated[
        bool,
        typer.Option(
            "--serve/--no-serve",
            help="Serve the API at the end (--no-serve: stop after printing the keys).",
        ),
    ] = True,
) -> None:
    """Run every stage on a fresh synthetic population, then serve the scoring API.

    Generates the synthetic extracts, ingests, links, builds features, trains, promotes and
    scores the latest month as a stored run; then creates demo API keys (admin, vendor system,
    reviewer), prints example requests for a real child, and serves on
    127.0.0.1:8000 until interrupted (--no-serve for scripts and CI).
    """
    synth(profile=profile, children=None, seed=seed, data_dir=data_dir, force=True)
    ingest(extracts=None, data_dir=data_dir)
    link(data_dir=data_dir)
    features(first="2022-04", last="2026-03", purpose=None, horizon=6, data_dir=data_dir)
    train(hardship=None, data_dir=data_dir)
    promote(hardship=None, data_dir=data_dir)
    # A stored run of the latest month, so the case-conference lists and reports have data.
    score(as_of="2026-03", drift=True, data_dir=data_dir)
    _demo_access(data_dir)
    if serve_api:
        serve(host=None, port=None, log_level="info", data_dir=data_dir)


def main() -> None:
    app()
