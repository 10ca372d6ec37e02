"""Starts inventory, orders and gateway (and the waterfall receiver) under one process manager.

Ctrl-C or SIGTERM stops them all: each service drains its requests and flushes its spans first.
"""

from __future__ import annotations

import os
import shlex
import sys

from honcho.manager import Manager

from devrun.mesh import MIGRATED, migrate

# Where the OTLP exporters send when OTEL_EXPORTER_OTLP_ENDPOINT is unset.
DEFAULT_ENDPOINT = "http://localhost:4317"


def plan(environ: dict[str, str]) -> list[tuple[str, list[str], dict[str, str]]]:
    """The processes to start, as (name, argv, environment)."""
    python = sys.executable
    env = dict(environ)
    # Export every half second instead of every five, so each trace appears right after its request.
    env.setdefault("OTEL_BSP_SCHEDULE_DELAY", "500")
    # The local demo: the page at http://localhost:8080 may ask for scenarios.
    env.setdefault("GATEWAY_SCENARIOS_ENABLED", "true")
    env["PYTHONUNBUFFERED"] = "1"
    processes = []
    endpoint = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "")
    wanted = environ.get("TRACEMESH_WATERFALL", "auto") != "off"
    if wanted and endpoint.rstrip("/") in ("", DEFAULT_ENDPOINT, "http://127.0.0.1:4317"):
        # Nobody else is named to receive the spans: print them here. A real collector or Jaeger named in
        # OTEL_EXPORTER_OTLP_ENDPOINT is left to do that job, and so is one already listening on the default
        # endpoint when TRACEMESH_WATERFALL=off.
        receiver_env = dict(env, COLUMNS=env.get("COLUMNS", "150"))
        if sys.stdout.isatty():
            receiver_env.setdefault("FORCE_COLOR", "1")
        processes.append(("waterfall", [python, "-m", "waterfall"], receiver_env))
    for service in ("inventory", "orders", "gateway"):
        processes.append((service, [python, "-m", service], env))
    return processes


def main() -> None:
    manager = Manager()
    processes = plan(dict(os.environ))
    # The databases first: no service creates tables as it starts.
    for name, _, env in processes:
        if name in MIGRATED:
            migrate(name, env)
    for name, argv, env in processes:
        # honcho runs each command through a shell; `exec` makes the service the process that receives
        # SIGTERM, instead of a shell that would die at once and leave the service behind.
        manager.add_process(name, "exec " + shlex.join(argv), env=env)
    manager.loop()
    # Stopped on request (Ctrl-C or SIGTERM, exit codes 130 and 143): that is how a dev run ends.
    sys.exit(0 if manager.returncode in (130, 143) else manager.returncode)


if __name__ == "__main__":
    main()
