"""`make run`'s Ctrl-C loses no span a service flushes on its way out: the waterfall receives until the last
service has exited, however long that one takes to drain (within honcho's 5 s), and prints what came last."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tools.mesh.ports import free_port

ROOT = Path(__file__).resolve().parents[2]

# A service that takes a while to stop: on SIGTERM it waits `delay` seconds (a request draining), then ends a
# span and flushes it over OTLP/gRPC, as the services' lifecycle does, and exits 0.
SLOW_SERVICE = """
import signal, sys, threading, time
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

endpoint, name, delay = sys.argv[1], sys.argv[2], float(sys.argv[3])
provider = TracerProvider(resource=Resource.create({"service.name": name}))
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint, insecure=True)))
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
print(f"{name} serving", flush=True)
stop.wait()
time.sleep(delay)
provider.get_tracer("drain").start_span(f"{name} drained").end()
provider.shutdown()
print(f"{name} flushed", flush=True)
"""

# make run's process manager over the processes given as JSON: `python -m tools.mesh` after migrating.
MANAGER = """
import json, sys
from tools.mesh.manager import run
from tools.mesh.plan import Process
sys.exit(run([Process(*process) for process in json.loads(sys.argv[1])], waterfall=sys.argv[2]))
"""


def test_ctrl_c_waits_for_the_slowest_service_before_the_waterfall_stops(tmp_path: Path) -> None:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = dict(os.environ, PYTHONUNBUFFERED="1", COLUMNS="150")
    processes = [
        # Stops at once: honcho's count to SIGKILL (5 s) starts when it exits.
        ("quick", [sys.executable, "-c", SLOW_SERVICE, endpoint, "quick", "0"], env),
        # Drains for longer than the waterfall used to keep receiving after Ctrl-C (2 s).
        ("slow", [sys.executable, "-c", SLOW_SERVICE, endpoint, "slow", "3.5"], env),
    ]
    log = tmp_path / "make-run.log"
    with log.open("wb") as output:
        manager = subprocess.Popen(
            [sys.executable, "-c", MANAGER, json.dumps(processes), f"127.0.0.1:{port}"],
            cwd=ROOT,
            env=env,  # the waterfall prints as wide as COLUMNS says
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while not all(f"{name} serving" in log.read_text() for name in ("quick", "slow")):
            assert manager.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        os.killpg(manager.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the foreground process group
        code = manager.wait(timeout=30)
    finally:
        if manager.poll() is None:
            os.killpg(manager.pid, signal.SIGKILL)
            manager.wait()
    printed = log.read_text()
    assert code == 0, printed
    lines = printed.splitlines()

    def first(text: str) -> int:
        found = [number for number, line in enumerate(lines) if text in line]
        assert found, f"{text!r} not in:\n{printed}"
        return found[0]

    # Both services drained and flushed, and the waterfall printed the span the slow one flushed last.
    assert first("slow flushed") < first("slow stopped (rc=0)")
    assert first("quick stopped (rc=0)") < first("slow stopped (rc=0)")
    drained = first("slow drained")
    assert lines[drained].split("|")[0].split()[-1] == "waterfall", printed
    # It was stopped only after the last service had exited, and stopped cleanly.
    assert first("slow stopped (rc=0)") < first("waterfall stopped (rc=0)")
    assert first("quick drained") < first("waterfall stopped (rc=0)")
