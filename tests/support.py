"""Test helpers: free ports, PostgreSQL databases per test run, services served in-process, and the Go
programs built from source (Jaeger, grpcurl, grpc-health-probe)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from inventory.domain import StoreUnavailable as StockUnavailable
from orders.domain import StoreUnavailable as OrdersUnavailable
from tools.mesh.databases import POSTGRES_URL, postgres_database
from tools.mesh.ports import free_port
from tools.mesh.processes import Mesh
from tracemesh_common.database import Database, create_engine
from tracemesh_common.migrations import upgrade

__all__ = [
    "GO_BIN",
    "JAEGER_UI_STAND_IN",
    "POSTGRES_URL",
    "LoopThread",
    "free_port",
    "migrate",
    "orders_database",
    "postgres_database",
    "require_chromium",
    "require_go_tools",
    "require_postgres",
    "serve_app",
    "stock_database",
]

ROOT = Path(__file__).resolve().parents[1]
# Where `make gotools` puts Jaeger, grpcurl, grpc-health-probe and vegeta.
GO_BIN = ROOT / "build" / "go"
GO_TOOLS = ("jaeger", "grpcurl", "grpc-health-probe", "vegeta")

# Debian's Chromium (`apt-get install chromium`; .ci/run installs it). Tests never download a browser.
CHROMIUM = os.environ.get("TRACEMESH_TEST_CHROMIUM", "/usr/bin/chromium")


def orders_database(url: str, **engine_options: Any) -> Database:
    """orders' database, as orders' server makes it."""
    return Database(url, lambda: OrdersUnavailable("orders database unavailable"), **engine_options)


def stock_database(url: str, **engine_options: Any) -> Database:
    """inventory's database, as inventory's app makes it."""
    return Database(url, lambda: StockUnavailable("stock database unavailable"), **engine_options)


def migrate(service: str, url: str) -> None:
    """Brings a service's database to its newest schema, as `python -m <service>.migrate` does."""

    async def run() -> None:
        engine = create_engine(url)
        try:
            await upgrade(engine, service)
        finally:
            await engine.dispose()

    asyncio.run(run())


def require_postgres() -> None:
    """Skips the test when PostgreSQL is unreachable, or fails it when CI=true (where it must be there)."""
    try:
        asyncio.run(_ping(POSTGRES_URL))
    except (OSError, asyncpg.PostgresError) as error:
        message = (
            f"PostgreSQL at {POSTGRES_URL} is unreachable ({error}); "
            "start it, or point TRACEMESH_TEST_POSTGRES_URL at one"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def require_chromium() -> str:
    """The browser's path; skips the test when it is not installed, or fails it when CI=true."""
    found = shutil.which(CHROMIUM)
    if found is None:
        message = (
            f"no Chromium at {CHROMIUM}; install Debian's `chromium` package, or set TRACEMESH_TEST_CHROMIUM"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


@cache
def require_go_tools() -> Path:
    """GO_BIN, with Jaeger, grpcurl, grpc-health-probe and vegeta built by `make gotools` (a few minutes the
    first time, then nothing to do); skips the test when there is no Go to build them with, or fails it when
    CI=true. A build that fails fails the test, with make's output."""
    if shutil.which("go") is None:
        if all((GO_BIN / tool).is_file() for tool in GO_TOOLS):
            return GO_BIN  # built earlier, or by someone else: used as they are
        message = (
            "no Go toolchain to build Jaeger, grpcurl, grpc-health-probe and vegeta with (`make gotools`)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    built = subprocess.run(
        ["make", "--no-print-directory", "gotools"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if built.returncode != 0:
        pytest.fail(
            f"make gotools failed ({built.returncode}):\n{built.stdout[-5000:]}{built.stderr[-5000:]}"
        )
    return GO_BIN


async def _ping(url: str) -> None:
    connection = await asyncpg.connect(url, timeout=3)
    await connection.close()


@contextmanager
def serve_app(app: ASGIApp, port: int = 0) -> Iterator[str]:
    """Serves an ASGI app with uvicorn in a background thread, on `port` (0: a free one); yields its URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the app failed to start")
        threading.Event().wait(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def start_beside(
    mesh: Mesh, module: str, env: dict[str, str], ready: Callable[[], bool], log_name: str | None = None
) -> subprocess.Popen[bytes]:
    """`python -m <module>` beside a running mesh, its output in the mesh's logs (`<log_name>.log`, the
    module's name by default); returns once `ready()` says it serves. A process that exits first, or is not
    ready within 30 s, is killed and its log raised."""
    log = mesh.logs / f"{log_name or module}.log"
    with log.open("ab") as output:  # the child keeps its own copy
        process = subprocess.Popen(
            [sys.executable, "-m", module], env=env, stdout=output, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 30
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"{module} did not start:\n{log.read_text(errors='replace')}")
        time.sleep(0.1)
    return process


class LoopThread:
    """An asyncio event loop in a background thread, for servers that must live on one loop (grpc.aio)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, Any], timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


async def _jaeger_ui_page(_request: Request) -> HTMLResponse:
    return HTMLResponse("<!doctype html><title>Jaeger UI stand-in</title>")


# Stands in for the Jaeger UI where only its answering matters (the demo page's links): like the UI's
# single-page app, it answers every path, /trace/<id> included, with a page.
JAEGER_UI_STAND_IN = Starlette(routes=[Route("/{path:path}", _jaeger_ui_page)])
