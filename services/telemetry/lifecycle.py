"""Running an HTTP service so that SIGTERM never loses its spans."""

from __future__ import annotations

import signal
import sys
from types import FrameType
from typing import TYPE_CHECKING

import uvicorn

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from telemetry import Telemetry


def run_http(app: ASGIApp, host: str, port: int, telemetry: Telemetry) -> None:
    """Serves `app` until SIGTERM or Ctrl-C, lets in-flight requests finish, then flushes every span."""
    # docs-region: template-run-http
    # uvicorn turns SIGTERM into a graceful stop (in-flight requests finish, the lifespan shutdown runs),
    # then raises the signal again with the handler it found at start. Python's default handler would
    # kill the process on the spot, before the `finally` below: this one unwinds through it instead.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        uvicorn.run(app, host=host, port=port, log_config=None, timeout_graceful_shutdown=10)
    finally:
        # Only now are all requests done: flush their spans before the process exits.
        telemetry.shutdown()
        # docs-endregion: template-run-http


def _exit_on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    sys.exit(0)  # a requested stop, completed gracefully: a success
