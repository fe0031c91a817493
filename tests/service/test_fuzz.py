"""The OpenAPI document fuzzed with schemathesis: no request, however odd, gets a 5xx or an
answer that breaks its own documented schema.

Every operation of the app's own /openapi.json gets positive cases (valid by the schema) and
negative ones (invalid on purpose), sent in-process through schemathesis' ASGI transport to an
app on a copy of the served world's database, with a score run stored so that runs, flagged
lists and histories have something to answer. Each case carries a valid key (an all-municipality
admin key, or a vendor or reviewer key scoped to one municipality) and, mostly, a registered
X-Purpose; half of the path and body fields that name a child, hardship, municipality, month or
run are replaced by real ones, so that the generated requests reach the code behind the checks
and do not all stop at 404. Two schemathesis checks judge every response:
`not_a_server_error` and `response_schema_conformance`. All failures are collected and listed
with a curl line that reproduces each.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.generation import GenerationMode  # noqa: E402
from schemathesis.specs.openapi.checks import response_schema_conformance  # noqa: E402

from service.app import create_app  # noqa: E402
from tests.service.test_app import World, build_world  # noqa: E402

pytestmark = pytest.mark.slow

MINIMUM_REQUESTS = 1000
# Examples per operation and generation mode. Operations without parameters are exhausted
# after one or two examples; the others make up the total (asserted below).
POSITIVE_EXAMPLES = 60
NEGATIVE_EXAMPLES = 30
KEYS = ("admin", "vendor", "reviewer")


@dataclass
class Tally:
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    by_operation: Counter[str] = field(default_factory=Counter)
    failures: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Real:
    """Values that exist in the fuzzed world, substituted for generated ones half the time."""

    children: tuple[str, ...]
    hardships: tuple[str, ...]
    municipalities: tuple[str, ...]
    months: tuple[str, ...]
    run_ids: tuple[int, ...]
    purposes: tuple[str, ...]

    def for_name(self, name: str) -> tuple[Any, ...]:
        return {
            "child_id": self.children,
            "hardship": self.hardships,
            "municipality": self.municipalities,
            "month": self.months,
            "as_of_month": self.months,
            "run_id": self.run_ids,
        }.get(name, ())


def _substitute(value: Any, real: Real, draw: Any) -> Any:
    """Half of the fields named like a child, hardship, ... get a real value (recursively)."""
    if isinstance(value, dict):
        out = {}
        for name, item in value.items():
            choices = real.for_name(name) if isinstance(name, str) else ()
            if choices and draw(st.booleans()):
                out[name] = draw(st.sampled_from(choices))
            else:
                out[name] = _substitute(item, real, draw)
        return out
    if isinstance(value, list):
        return [_substitute(item, real, draw) for item in value]
    return value


@pytest.fixture(scope="module")
def fuzz_world(served_world: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from features.store.database import session_factory
    from service.batch import run_batch
    from service.scoring.engine import ScoringEngine
    from service.thresholds import ThresholdResolver

    built = build_world(served_world, tmp_path_factory.mktemp("fuzz"))
    engine = ScoringEngine.from_settings(built.settings)
    month = engine.latest_month
    assert month is not None
    run_batch(
        engine,
        built.database,
        month,
        resolver=ThresholdResolver(engine, session_factory(built.database)),
        measure_drift=False,
    )
    yield built
    built.database.dispose()


def _real(world: World) -> Real:
    import pyarrow.parquet as pq
    from sqlalchemy import select

    from models.hardships import load_hardship_registry
    from service.store.models import ScoreRun

    table = pq.read_table(world.settings.features_dir / "features.parquet", columns=["as_of_month"])
    months = sorted(set(table["as_of_month"].to_pylist()))
    with world.database.connect() as connection:
        runs = tuple(int(r) for r in connection.execute(select(ScoreRun.id)).scalars())
    return Real(
        children=(world.child, world.stranger),
        hardships=tuple(load_hardship_registry().ids),
        municipalities=(world.home, world.stranger_municipality),
        months=(months[-1], months[0]),
        run_ids=runs,
        purposes=tuple(world.settings.purposes),
    )


def _run_operation(
    operation: Any, mode: GenerationMode, examples: int, world: World, real: Real, tally: Tally
) -> None:
    label = f"{operation.method.upper()} {operation.path}"

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,  # the same cases every run: a failure here is reproducible
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    def fuzz(case: Any, data: Any) -> None:
        key = data.draw(st.sampled_from(KEYS))
        if case.path_parameters:
            case.path_parameters = _substitute(case.path_parameters, real, data.draw)
        if isinstance(case.query, dict) and case.query:
            case.query = _substitute(case.query, real, data.draw)
        if isinstance(case.body, dict | list):
            case.body = _substitute(case.body, real, data.draw)
        headers = {"X-API-Key": world.keys[key]}
        if data.draw(st.integers(0, 9)) > 0:  # a tenth keep whatever X-Purpose was generated
            headers["X-Purpose"] = data.draw(st.sampled_from(real.purposes))
        tally.requests += 1
        tally.by_operation[label] += 1
        try:
            # In-process, an exception the app did not handle reaches us instead of a 500.
            response = case.call(headers=headers)
        except Exception as error:
            tally.statuses[500] += 1
            failure: BaseException = error
        else:
            tally.statuses[response.status_code] += 1
            try:
                case.validate_response(
                    response,
                    checks=[not_a_server_error, response_schema_conformance],
                    headers=headers,
                )
                return
            except (AssertionError, BaseExceptionGroup) as error:
                failure = error
        found = tally.failures.setdefault(label, [])  # collected: every failing operation listed
        if len(found) < 3:
            curl = case.as_curl_command(headers=headers)
            found.append(
                f"[{mode.value} as {key}] {type(failure).__name__}: {str(failure)[:1500]}\n{curl}"
            )

    try:
        fuzz()
    except Unsatisfiable:
        # Nothing can be invalid about an operation without parameters or body (/healthz).
        assert mode is GenerationMode.NEGATIVE, label


def test_every_route_survives_generated_requests(fuzz_world: World) -> None:
    from schemathesis.python import asgi

    app = create_app(fuzz_world.settings)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    real = _real(fuzz_world)
    tally = Tally()
    operations = [result.ok() for result in schema.get_all_operations()]
    try:
        for operation in operations:
            _run_operation(
                operation, GenerationMode.POSITIVE, POSITIVE_EXAMPLES, fuzz_world, real, tally
            )
            _run_operation(
                operation, GenerationMode.NEGATIVE, NEGATIVE_EXAMPLES, fuzz_world, real, tally
            )
    finally:
        asgi.shutdown_lifespans()  # stop this app's reload task and release its database

    routes = {f"{o.method.upper()} {o.path}" for o in operations}
    summary = (
        f"{tally.requests} requests over {len(routes)} operations; statuses "
        f"{dict(sorted(tally.statuses.items()))}"
    )
    print(summary)
    assert not tally.failures, (
        summary
        + "\n\n"
        + "\n\n".join(
            f"== {label}\n" + "\n--\n".join(found)
            for label, found in sorted(tally.failures.items())
        )
    )
    assert tally.requests >= MINIMUM_REQUESTS, summary
    assert set(tally.by_operation) == routes, (
        f"operations never called: {routes - set(tally.by_operation)}"
    )
    assert not [s for s in tally.statuses if s >= 500], summary
    # The fuzzing reached past authentication and validation, not only the error paths.
    assert sum(n for s, n in tally.statuses.items() if 200 <= s < 300) >= 100, summary


def test_the_fuzzed_requests_left_the_audit_chain_intact(fuzz_world: World) -> None:
    from service.audit import verify_chain

    verdict = verify_chain(fuzz_world.database)
    assert verdict.intact, verdict.describe()
    assert verdict.entries >= MINIMUM_REQUESTS // 2
