"""Fixtures shared by every layer of tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.support import postgres_database, require_postgres
from tracemesh_common.settings import TelemetrySettings
from tracemesh_common.tracing import Telemetry, setup_telemetry


@pytest.fixture
def span_exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def make_telemetry(span_exporter: InMemorySpanExporter) -> Iterator[Callable[[str], Telemetry]]:
    """Telemetry for a service in this test process: spans go to `span_exporter` as each one ends."""
    made: list[Telemetry] = []

    def make(service_name: str) -> Telemetry:
        telemetry = setup_telemetry(
            service_name,
            TelemetrySettings(sdk_disabled=False, traces_exporter="none"),
            span_processors=[SimpleSpanProcessor(span_exporter)],
            set_global=False,
        )
        made.append(telemetry)
        return telemetry

    yield make
    for telemetry in made:
        telemetry.shutdown()


@pytest.fixture
def postgres_reachable() -> None:
    """For tests that need the PostgreSQL server itself: skips, or fails with CI=true, when it is down."""
    require_postgres()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Each test using it runs twice: on a SQLite file, and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db')}/test.db"
        return
    require_postgres()
    with postgres_database("it") as url:
        yield url
