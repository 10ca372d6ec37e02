"""The services of `make run` as real processes on free ports, exporting real OTLP/gRPC to a receiver in
this process (or wherever the caller says): the mesh of the end-to-end tests, the benchmark and the fault
suite."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from tools.mesh.plan import SERVICES, Addresses, Process, services
from tools.mesh.ports import answers, free_port
from tools.mesh.schema import migrate
from tools.mesh.waterfall import ReceivedSpan, SpanStore, start_receiver


@dataclass
class Mesh:
    """A running mesh: where it listens, its processes, and every span they exported."""

    addresses: Addresses
    # What each service runs, by name: its command line and its environment.
    plan: dict[str, Process]
    store: SpanStore
    # None when the caller receives the spans itself (its endpoint set in extra_env).
    receiver: grpc.Server | None
    logs: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def gateway_url(self) -> str:
        return self.addresses.gateway_url

    @property
    def inventory_url(self) -> str:
        return self.addresses.inventory_url

    @property
    def env(self) -> dict[str, dict[str, str]]:
        return {name: process.env for name, process in self.plan.items()}

    def start(self, service: str) -> None:
        _, argv, env = self.plan[service]
        with (self.logs / f"{service}.log").open("ab") as log:  # the child keeps its own copy
            self.processes[service] = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)

    def stop(self, service: str, timeout: float = 20) -> int:
        """SIGTERM, as an orchestrator sends it; returns the exit code."""
        process = self.processes[service]
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        return process.wait(timeout)

    def stop_all(self) -> dict[str, int]:
        codes = {service: self.stop(service) for service in reversed(SERVICES) if service in self.processes}
        if self.receiver is not None:
            self.receiver.stop(grace=None)
        return codes

    def stop_all_now(self) -> None:
        """SIGKILL whatever still runs: for clean-up after a test, not for a graceful stop."""
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
        if self.receiver is not None:
            self.receiver.stop(grace=None)

    def pid(self, service: str) -> int:
        return self.processes[service].pid

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        for url in (f"{self.inventory_url}/readyz", f"{self.gateway_url}/readyz"):
            while not answers(url):
                for service, process in self.processes.items():
                    if process.poll() is not None:
                        raise RuntimeError(
                            f"{service} exited with {process.returncode}:\n{self.log(service)}"
                        )
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{url} not ready:\n" + "\n".join(map(self.log, self.processes)))
                time.sleep(0.1)

    def log(self, service: str) -> str:
        return (self.logs / f"{service}.log").read_text(errors="replace")

    def trace(
        self, trace_id: str, until: Callable[[list[ReceivedSpan]], bool], timeout: float = 15
    ) -> list[ReceivedSpan]:
        return self.store.wait_for(trace_id, until, timeout)


def unwind_on_sigterm() -> None:
    """Makes SIGTERM unwind this process as Ctrl-C does, so that the meshes it started in `with` blocks are
    stopped on the way out. (By default SIGTERM ends Python at once and leaves the services running.)"""

    def unwind(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, unwind)


def start_mesh(
    logs: Path,
    orders_db: str,
    inventory_db: str,
    extra_env: dict[str, str] | None = None,
    *,
    receive: bool = True,
) -> Mesh:
    """Starts the services on free ports and waits until they are ready. With `receive`, their spans go to
    a receiver in this process (`Mesh.store`); otherwise `extra_env` says where they go."""
    store = SpanStore()
    receiver, receiver_port = start_receiver(store, "127.0.0.1:0") if receive else (None, 0)
    addresses = Addresses(gateway=free_port(), inventory=free_port(), orders=free_port(), otlp=receiver_port)
    # The caller's own OTEL_* and service settings must not leak into the services under test.
    prefixes = ("OTEL_", "TRACEMESH_OTLP_", "GATEWAY_", "ORDERS_", "INVENTORY_", "LOADGEN_")
    base = {key: value for key, value in os.environ.items() if not key.startswith(prefixes)}
    base |= {
        "PYTHONUNBUFFERED": "1",
        "OTEL_EXPORTER_OTLP_ENDPOINT": addresses.otlp_endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        # Stock and orders change only through requests, unless a caller turns the background jobs on.
        "INVENTORY_RESTOCK_INTERVAL_SECONDS": "0",
        "ORDERS_SETTLE_INTERVAL_SECONDS": "0",
    }
    base |= extra_env or {}
    settings = addresses.settings()
    settings["orders"]["ORDERS_DATABASE_URL"] = orders_db
    settings["inventory"]["INVENTORY_DATABASE_URL"] = inventory_db
    plan = {process.name: process for process in services(base, settings)}
    mesh = Mesh(addresses=addresses, plan=plan, store=store, receiver=receiver, logs=logs)
    try:
        migrate(plan.values())
        for service in SERVICES:
            mesh.start(service)
        mesh.wait_ready()
    except BaseException:
        for process in mesh.processes.values():
            process.kill()
        if receiver is not None:
            receiver.stop(grace=None)
        raise
    return mesh
