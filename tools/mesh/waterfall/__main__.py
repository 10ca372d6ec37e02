"""Receives OTLP/gRPC and prints every finished trace as a waterfall:
`python -m tools.mesh.waterfall [--port 4317]`."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time

from rich.console import Console

from tools.mesh.waterfall.receiver import SpanStore, start_receiver
from tools.mesh.waterfall.render import render_trace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4317)
    parser.add_argument(
        "--quiet-seconds",
        type=float,
        default=1.5,
        help="print a trace once no span of it has arrived for this long",
    )
    parser.add_argument(
        "--drain-seconds", type=float, default=2.0, help="how long to keep receiving after SIGTERM or Ctrl-C"
    )
    args = parser.parse_args()

    console = Console(highlight=False)
    store = SpanStore()
    try:
        server, port = start_receiver(store, f"{args.host}:{args.port}")
    except RuntimeError:
        sys.exit(
            f"waterfall: {args.host}:{args.port} is taken. If a collector or Jaeger listens there, "
            "`TRACEMESH_WATERFALL=off make run` sends the spans to it instead."
        )
    console.print(f"waterfall: receiving OTLP/gRPC on {args.host}:{port}; traces appear below", style="dim")

    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())

    def print_quiet(quiet_seconds: float) -> None:
        for spans in store.pop_quiet(quiet_seconds):
            console.print(render_trace(spans))
            console.print()

    while not stopping.wait(0.25):
        print_quiet(args.quiet_seconds)
    # The services flush their last spans as they stop: keep receiving a moment longer, then print the rest.
    drain_until = time.monotonic() + args.drain_seconds
    while time.monotonic() < drain_until:
        time.sleep(0.25)
        print_quiet(args.quiet_seconds)
    server.stop(grace=None)
    print_quiet(0)


if __name__ == "__main__":
    main()
