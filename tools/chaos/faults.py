"""Each fault: a fresh mesh, a bounded load, the fault injected and lifted mid-load, then what must hold."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

from bench.probes import PeakRss, rss_mib
from chaos import invariant
from chaos.load import Tally, drive
from devrun.databases import admin, mesh_databases
from devrun.mesh import Mesh, free_port, start_mesh
from waterfall import SpanStore, start_receiver

MESH_ENV = {
    # Settle pending orders soon after the gateway's deadline (5 s) has passed, so a run ends with none.
    "ORDERS_SETTLE_INTERVAL_SECONDS": "0.5",
    "ORDERS_SETTLE_AFTER_SECONDS": "6",
    # Restock every second, so the load mostly buys rather than hears "sold out" (the invariant counts it).
    "INVENTORY_RESTOCK_INTERVAL_SECONDS": "1",
}
SERVICES = ("gateway", "orders", "inventory")
# With the trace backend gone, spans wait in a bounded queue (2048 by default): a few MiB, not a leak.
MAX_RSS_GROWTH_MIB = 64


@dataclass
class Outcome:
    fault: str
    database: str
    tally: Tally
    verdict: invariant.Verdict
    # Successful requests whose trace lacks a server span of some service; None where nothing receives.
    spans_lost: int | None
    # What else was checked and seen (export resuming, readiness, ...), or what was not.
    notes: list[str]

    @property
    def ok(self) -> bool:
        return (
            self.tally.failed_badly == 0
            and self.verdict.holds
            and not any(n.startswith("NOT") for n in self.notes)
        )


@dataclass
class Run:
    """What a fault gets to work with."""

    mesh: Mesh
    orders_db: str
    inventory_db: str
    notes: list[str]


def run(fault: str, database: str, workdir: Path, *, seconds: float, concurrency: int) -> Outcome:
    chosen = FAULTS[fault]()
    receive = chosen.receive
    with ExitStack() as stack:
        orders_db, inventory_db = stack.enter_context(mesh_databases(database, workdir, "chaos"))
        env = MESH_ENV | chosen.env(stack)
        mesh = start_mesh(workdir, orders_db, inventory_db, env, receive=receive)
        stack.callback(mesh.stop_all_now)
        state = Run(mesh, orders_db, inventory_db, [])
        tally = Tally()

        async def under_load() -> None:
            load = asyncio.create_task(drive(mesh.gateway_url, seconds, concurrency, tally))
            await asyncio.sleep(seconds / 3)
            lift = await asyncio.to_thread(chosen.inject, state)
            await asyncio.sleep(seconds / 3)
            await asyncio.to_thread(lift)
            await load

        if receive:
            asyncio.run(under_load())
        else:  # a fault of the trace backend: the services' memory must stay bounded meanwhile
            pids = {service: mesh.pid(service) for service in SERVICES}
            before = {service: rss_mib(pid) for service, pid in pids.items()}
            with PeakRss(pids) as peak:
                asyncio.run(under_load())
            growth = max(peak.peak[service] - before[service] for service in SERVICES)
            bounded = growth < MAX_RSS_GROWTH_MIB
            state.notes.append(f"{'' if bounded else 'NOT bounded: '}RSS grew {growth:.0f} MiB at most")
        verdict = _settled_verdict(orders_db, inventory_db)
        spans_lost = _spans_lost(mesh.store, tally.traces) if receive else None
        if receive:
            mesh.stop_all()
        else:  # with no backend, each service would spend its full flush timeout on the way out
            mesh.stop_all_now()
        if not receive:
            # The SDK drops spans while its queue is full and says so at most once per 20 s window, not
            # once per span (a run can straddle one more window boundary).
            said = max(mesh.log(service).count("Queue full") for service in SERVICES)
            rarely = said <= 2 + seconds // 20
            state.notes.append(f"{'' if rarely else 'NOT rarely: '}'queue full' logged {said}x")
        return Outcome(fault, database, tally, verdict, spans_lost, state.notes)


def _settled_verdict(orders_db: str, inventory_db: str, timeout: float = 30) -> invariant.Verdict:
    """The invariant, once the sweep has settled every pending order (or the time is up)."""
    deadline = time.monotonic() + timeout
    verdict = invariant.check(orders_db, inventory_db)
    while verdict.pending and time.monotonic() < deadline:
        time.sleep(0.5)
        verdict = invariant.check(orders_db, inventory_db)
    if verdict.pending:
        return invariant.Verdict(
            False, [*verdict.problems, f"{verdict.pending} orders still pending"], verdict.pending
        )
    return verdict


def _spans_lost(store: SpanStore, traces: list[str], wait: float = 5) -> int:
    def complete(trace_id: str) -> bool:
        servers = {span.service for span in store.trace(trace_id) if span.kind == "SERVER"}
        return servers >= set(SERVICES)

    deadline = time.monotonic() + wait
    missing = [trace_id for trace_id in traces if not complete(trace_id)]
    while missing and time.monotonic() < deadline:
        time.sleep(0.25)
        missing = [trace_id for trace_id in missing if not complete(trace_id)]
    return len(missing)


# ---- the faults ----


class Fault:
    """A fault: settings for the mesh it runs in, and how to inject it (which returns how to lift it)."""

    receive = True  # whether a receiver collects the mesh's spans (faults of the trace backend say no)

    def env(self, stack: ExitStack) -> dict[str, str]:
        return {}

    def inject(self, run: Run) -> Callable[[], None]:
        raise NotImplementedError


class BackendDown(Fault):
    """Nothing listens where the services export; lifting the fault starts a receiver there, and export
    must resume."""

    receive = False

    def env(self, stack: ExitStack) -> dict[str, str]:
        self.port = free_port()
        return {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{self.port}"}

    def inject(self, run: Run) -> Callable[[], None]:
        def lift() -> None:
            store = SpanStore()
            receiver, _ = start_receiver(store, f"127.0.0.1:{self.port}")
            try:
                deadline = time.monotonic() + 30
                while not store.all_spans() and time.monotonic() < deadline:
                    httpx.get(f"{run.mesh.gateway_url}/products", timeout=10)
                    time.sleep(1)
                run.notes.append("export resumed" if store.all_spans() else "NOT resumed: no span after 30 s")
            finally:
                receiver.stop(grace=None)

        return lift


class BackendSilent(Fault):
    """The exporters' endpoint accepts connections and never answers, for the whole run."""

    receive = False

    def env(self, stack: ExitStack) -> dict[str, str]:
        listener = socket.create_server(("127.0.0.1", 0))
        stack.callback(listener.close)
        return {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{listener.getsockname()[1]}"}

    def inject(self, run: Run) -> Callable[[], None]:
        return lambda: None


class Killed(Fault):
    """SIGKILL: the service vanishes mid-request, with whatever it had not written or exported."""

    def __init__(self, service: str) -> None:
        self.service = service

    def inject(self, run: Run) -> Callable[[], None]:
        run.mesh.processes[self.service].kill()
        run.mesh.processes[self.service].wait()

        def lift() -> None:
            run.mesh.start(self.service)
            run.mesh.wait_ready()
            run.notes.append(f"{self.service} restarted and ready")

        return lift


class Terminated(Fault):
    """SIGTERM, as an orchestrator stops a service: it drains its calls and flushes its spans."""

    def __init__(self, service: str) -> None:
        self.service = service

    def inject(self, run: Run) -> Callable[[], None]:
        code = run.mesh.stop(self.service)
        run.notes.append(
            f"{self.service} exited {code} on SIGTERM" if code == 0 else f"NOT a clean exit: {code}"
        )

        def lift() -> None:
            run.mesh.start(self.service)
            run.mesh.wait_ready()

        return lift


class DatabaseDown(Fault):
    """inventory's PostgreSQL database refuses every connection (new ones disallowed, open ones ended)."""

    def inject(self, run: Run) -> Callable[[], None]:
        name = make_url(run.inventory_db).database
        asyncio.run(admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
        asyncio.run(admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
        ready = httpx.get(f"{run.mesh.inventory_url}/readyz", timeout=10).status_code
        run.notes.append("unready while down" if ready == 503 else f"NOT unready while down: {ready}")

        def lift() -> None:
            asyncio.run(admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
            run.mesh.wait_ready()
            run.notes.append("recovered without a restart")

        return lift


FAULTS: dict[str, Callable[[], Fault]] = {
    "trace backend down": BackendDown,
    "trace backend silent": BackendSilent,
    "inventory killed": lambda: Killed("inventory"),
    "orders killed": lambda: Killed("orders"),
    "orders SIGTERM": lambda: Terminated("orders"),
    "inventory database down": DatabaseDown,
}
# Faults that need a database server to take down.
POSTGRES_ONLY = {"inventory database down"}
