"""Each service loads only the libraries it uses: the modules a fresh interpreter holds once it has imported a
service's entry point (`python -m <service>` runs its __main__). Every library a service does not need costs
each of its processes memory (and start-up time) for nothing."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# What each service must not load just by being imported: the other transport's server and framework, the
# database it does not have, and the PostgreSQL driver while it runs on SQLite (the default).
NOT_LOADED = {
    # gRPC only: no HTTP server, no web framework. (httpx is its client to inventory.)
    "orders": {"uvicorn", "fastapi", "starlette", "asyncpg"},
    # No database, and no HTTP client: orders is called over gRPC (the demo's Jaeger check imports httpx
    # when it first runs).
    "gateway": {"sqlalchemy", "aiosqlite", "asyncpg", "httpx", "grpc_health.v1.health"},
    # HTTP only: no gRPC of its own (the OTLP/gRPC exporter loads grpc once tracing is set up).
    "inventory": {"grpc", "httpx", "asyncpg"},
}


def loaded_by(module: str) -> set[str]:
    """The top-level packages, and the modules named in NOT_LOADED, that importing `module` loads."""
    watched = sorted(set().union(*NOT_LOADED.values()))
    script = (
        f"import importlib, json, sys; importlib.import_module({module!r}); "
        f"print(json.dumps(sorted({{name.split('.')[0] for name in sys.modules}} "
        f"| {{name for name in {watched!r} if name in sys.modules}})))"
    )
    # A fresh interpreter: this one has imported every test's libraries already.
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return set(json.loads(done.stdout))


@pytest.mark.parametrize("service", sorted(NOT_LOADED))
def test_a_service_loads_only_what_it_uses(service: str) -> None:
    loaded = loaded_by(f"{service}.__main__")
    # The check sees the libraries the service does load, so an absent one means something.
    assert {"opentelemetry", "pydantic_settings"} <= loaded
    assert not loaded & NOT_LOADED[service]


def test_the_services_transports_are_where_expected() -> None:
    # The counterpart of the test above: each service loads its own server and framework.
    assert {"grpc", "sqlalchemy", "httpx"} <= loaded_by("orders.__main__")
    assert {"fastapi", "grpc"} <= loaded_by("gateway.__main__")
    assert {"fastapi", "sqlalchemy"} <= loaded_by("inventory.__main__")
