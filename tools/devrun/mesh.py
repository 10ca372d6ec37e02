"""The three services as real processes, exporting real OTLP/gRPC to a receiver run by the caller
(the end-to-end tests and the benchmark)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import httpx

from waterfall import ReceivedSpan, SpanStore, start_receiver

SERVICES = ("inventory", "orders", "gateway")
# The services that own a database: each is migrated (`python -m <service>.migrate`) before it starts.
MIGRATED = ("inventory", "orders")


@dataclass
class Mesh:
    """A running mesh: its gateway URL, its processes, and every span they exported."""

    gateway_url: str
    inventory_url: str
    store: SpanStore
    # None when the caller receives the spans itself (its endpoint set in extra_env).
    receiver: grpc.Server | None
    logs: Path
    env: dict[str, dict[str, str]]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, service: str) -> None:
        with (self.logs / f"{service}.log").open("ab") as log:  # the child keeps its own copy
            self.processes[service] = subprocess.Popen(
                [sys.executable, "-m", service], env=self.env[service], stdout=log, stderr=subprocess.STDOUT
            )

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


def start_mesh(
    logs: Path,
    orders_db: str,
    inventory_db: str,
    extra_env: dict[str, str] | None = None,
    *,
    receive: bool = True,
) -> Mesh:
    """Starts the three services on free ports and waits until they are ready. With `receive`, their spans
    go to a receiver in this process (`Mesh.store`); otherwise `extra_env` says where they go."""
    store = SpanStore()
    receiver, receiver_port = start_receiver(store, "127.0.0.1:0") if receive else (None, 0)
    ports = {service: free_port() for service in SERVICES}
    # The caller's own OTEL_* and service settings must not leak into the services under test.
    prefixes = ("OTEL_", "TRACEMESH_OTLP_", "GATEWAY_", "ORDERS_", "INVENTORY_", "LOADGEN_")
    base = {key: value for key, value in os.environ.items() if not key.startswith(prefixes)}
    base |= {
        "PYTHONUNBUFFERED": "1",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver_port}",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        # Stock and orders change only through requests, unless a caller turns the background jobs on.
        "INVENTORY_RESTOCK_INTERVAL_SECONDS": "0",
        "ORDERS_SETTLE_INTERVAL_SECONDS": "0",
    }
    base |= extra_env or {}
    env = {
        "inventory": base
        | {"INVENTORY_PORT": str(ports["inventory"]), "INVENTORY_DATABASE_URL": inventory_db},
        "orders": base
        | {
            "ORDERS_PORT": str(ports["orders"]),
            "ORDERS_DATABASE_URL": orders_db,
            "ORDERS_INVENTORY_URL": f"http://127.0.0.1:{ports['inventory']}",
        },
        "gateway": base
        | {"GATEWAY_PORT": str(ports["gateway"]), "GATEWAY_ORDERS_ADDRESS": f"127.0.0.1:{ports['orders']}"},
    }
    mesh = Mesh(
        gateway_url=f"http://127.0.0.1:{ports['gateway']}",
        inventory_url=f"http://127.0.0.1:{ports['inventory']}",
        store=store,
        receiver=receiver,
        logs=logs,
        env=env,
    )
    for service in MIGRATED:
        migrate(service, env[service])
    for service in SERVICES:
        mesh.start(service)
    try:
        mesh.wait_ready()
    except BaseException:
        for process in mesh.processes.values():
            process.kill()
        if receiver is not None:
            receiver.stop(grace=None)
        raise
    return mesh


def migrate(service: str, env: dict[str, str]) -> None:
    """Brings a service's database to its newest schema, as make run, compose and Kubernetes do first."""
    done = subprocess.run(
        [sys.executable, "-m", f"{service}.migrate"], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{service}.migrate failed:\n{done.stdout}{done.stderr}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def answers(url: str) -> bool:
    """Whether `url` answers 200 within a second."""
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
