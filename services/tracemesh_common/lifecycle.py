"""One lifecycle for every service, HTTP or gRPC: start, serve until SIGTERM or Ctrl-C, drain, flush spans.

    run(HttpServer(app, host, port), telemetry, jobs=[...])   # FastAPI services
    run(orders_server, telemetry)                             # the gRPC service: the same path

A default SIGTERM kills a Python process on the spot, with its spans still queued; uvicorn and grpc each have
their own idea of signals. Here one handler turns SIGTERM and SIGINT into an orderly stop: stop the background
jobs, stop taking requests and let those in flight finish, then flush every span before the process exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import uvicorn
    from starlette.types import ASGIApp

    from tracemesh_common.tracing import Telemetry

logger = logging.getLogger(__name__)

# How long in-flight HTTP requests may take to finish after SIGTERM.
HTTP_DRAIN_SECONDS = 10


class Server(Protocol):
    """What `run` serves: something that starts serving in the background and stops gracefully."""

    async def start(self) -> None:
        """Binds and serves; returns once requests are taken."""

    async def stop(self) -> None:
        """Stops taking requests and lets those in flight finish (within the server's grace period)."""


@dataclass
class Job:
    """Background work a service does on its own, every `interval_seconds` (0 turns it off). A run that does
    something is a trace of its own: the job starts its root span itself, in an empty context."""

    name: str
    interval_seconds: float
    run_once: Callable[[], Awaitable[object]]

    async def run_forever(self) -> None:
        while True:
            await asyncio.sleep(self.interval_seconds)
            try:
                await self.run_once()
            except Exception:  # a failed run (the database down, say) must not end the job
                logger.exception("%s failed; trying again in %.0f s", self.name, self.interval_seconds)


# docs-region: template-run
def run(server: Server, telemetry: Telemetry, jobs: Sequence[Job] = ()) -> None:
    """Serves until SIGTERM or Ctrl-C, then stops gracefully and flushes every span. Exits 0 on a requested
    stop: that is how a service ends."""
    with asyncio.Runner(loop_factory=getattr(server, "loop_factory", None)) as runner:
        runner.run(serve(server, telemetry, jobs))


async def serve(server: Server, telemetry: Telemetry, jobs: Sequence[Job] = ()) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await server.start()
        async with running(jobs):
            await stop.wait()
            logger.info("stopping: finishing the requests in flight")
        await server.stop()
    finally:
        # Only now are all requests done: flush their spans before the process exits.
        if not telemetry.shutdown():
            logger.warning("spans not exported within the shutdown's flush were dropped")
        # docs-endregion: template-run


@asynccontextmanager
async def running(jobs: Sequence[Job]) -> AsyncIterator[None]:
    """The jobs run beside the requests, in the same event loop, until the block ends."""
    tasks = [asyncio.create_task(job.run_forever()) for job in jobs if job.interval_seconds > 0]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class HttpServer:
    """An ASGI app served by uvicorn, started and stopped by `run` like any other server."""

    def __init__(self, app: ASGIApp, host: str, port: int) -> None:
        # Imported here: the gRPC service shares this module and runs no HTTP server (uvicorn, uvloop and
        # httptools are 3 MiB it would carry for nothing).
        import uvicorn

        config = uvicorn.Config(
            app, host=host, port=port, log_config=None, timeout_graceful_shutdown=HTTP_DRAIN_SECONDS
        )
        self._server = _without_signal_handlers(uvicorn.Server)(config)
        self._serving: asyncio.Task[None] | None = None
        # uvloop when it is installed, as `uvicorn.run` would: the HTTP services' event loop.
        self.loop_factory = config.get_loop_factory()

    @property
    def port(self) -> int:
        """The bound port (useful when asked for port 0)."""
        port: int = self._server.servers[0].sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        self._serving = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._serving.done():  # failed to start: say why
                await self._serving
                raise RuntimeError("the HTTP server stopped while starting")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        """uvicorn's graceful stop: no new connections, in-flight requests finish, the lifespan ends."""
        self._server.should_exit = True
        if self._serving is not None:
            await self._serving


def _without_signal_handlers(server: type[uvicorn.Server]) -> type[uvicorn.Server]:
    """uvicorn without its own signal handlers: `run` owns the signals for every kind of server."""

    class Server(server):  # type: ignore[misc,valid-type]
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return Server
