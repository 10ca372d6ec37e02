"""A real Jaeger per module, and the e2e meshes (`mesh`, `sqlite_mesh`) exporting to it rather than to the
tests' own receiver."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.jaeger.backend import Jaeger, run_jaeger
from tests.support import require_go_tools


@pytest.fixture(scope="session")
def go_bin() -> Path:
    """build/go, with the programs `make gotools` builds (built here on first use when Go is installed)."""
    return require_go_tools()


@pytest.fixture(scope="module")
def jaeger(go_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jaeger]:
    """Jaeger with deploy/jaeger/config.yaml, on ports of its own; its memory storage lasts for the module."""
    with run_jaeger(go_bin / "jaeger", tmp_path_factory.mktemp("jaeger") / "jaeger.log") as started:
        yield started


@pytest.fixture(scope="module")
def mesh_env(jaeger: Jaeger) -> dict[str, str]:
    """As compose sets the services up: OTLP/gRPC to `jaeger`, the demo scenarios on, and the demo page's
    links to Jaeger's UI. A module overrides it to try another exporter."""
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": jaeger.otlp_grpc,
        "GATEWAY_SCENARIOS_ENABLED": "true",
        "GATEWAY_JAEGER_UI_URL": jaeger.ui,
    }


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests here are timed without their fixtures: the first one may build Jaeger (minutes), and the
    fixtures bound their own waits (Jaeger's health, the mesh's readiness)."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(120, func_only=True))
