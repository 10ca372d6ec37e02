"""Each fault: a fresh mesh, a bounded load, the fault injected and lifted mid-load, then what must hold."""

from __future__ import annotations

import asyncio
import re
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import grpc
import httpx
from sqlalchemy.engine import make_url

from tools.chaos import invariant
from tools.chaos.frozen import Frozen, thaw_tree, unsupported
from tools.chaos.load import HANG_SECONDS, SKUS, Latency, Tally, drive
from tools.mesh.databases import admin, mesh_databases, sqlite_urls
from tools.mesh.ports import free_port
from tools.mesh.probes import PeakRss, rss_mib
from tools.mesh.processes import Mesh, start_mesh
from tools.mesh.waterfall import ReceivedSpan, SpanStore, start_receiver
from tracemesh_common.drops import DROP_REPORT_SECONDS

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
# What each service logs as it stops (tracemesh_common.drops.DropReporter.stop).
DROPPED = re.compile(r"spans dropped since start \(queue full or export failed\): (\d+)")
# A database that is down must cost a request a quick 503, well inside the gateway's 5 s deadline.
FAIL_FAST_SECONDS = 2.0
# How long a service may take to serve again once its database is back, without being restarted: longer
# than SQLite's busy timeout (30 s, services' create_engine), the longest a writer is designed to wait for
# another. The report gives the time it took; anything near 30 s means a writer held the lock that long.
RECOVERY_SECONDS = 40.0

# The trace backend stays away for half the load, long enough (15 s in `make chaos`) for the busiest
# service's span queue to fill at this machine's rate, so that what the SDK drops is seen too.
BACKEND_PHASES = (1 / 4, 1 / 2)

_Bound = TypeVar("_Bound")


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
    # Latency of the requests sent while all was well (after a warm-up), then while the fault lasted.
    healthy: Latency | None = None
    faulty: Latency | None = None

    @property
    def ok(self) -> bool:
        return (
            self.tally.failed_badly == 0
            and self.tally.keys_with_two_orders == 0
            and self.tally.on_the_wire == self.tally.sent
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
    # Clean-ups that must happen however the run ends (they run before the mesh's databases go).
    cleanup: ExitStack
    # When the mesh took orders again after a fault that did not restart it (time.monotonic()).
    recovered_at: float | None = None

    def database(self, service: str) -> str:
        return {"orders": self.orders_db, "inventory": self.inventory_db}[service]


def unavailable(fault: str, database: str, workdir: Path) -> str | None:
    """Why `fault` cannot be injected on this machine (then it is skipped), or None."""
    return FAULTS[fault]().unavailable(database, workdir)


def run(fault: str, database: str, workdir: Path, *, seconds: float, concurrency: int) -> Outcome:
    chosen = FAULTS[fault]()
    with ExitStack() as stack:
        # The backstop, registered first so that it runs last: nothing immutable outlives the run.
        stack.callback(thaw_tree, workdir)
        orders_db, inventory_db = stack.enter_context(_databases(database, workdir))
        env = MESH_ENV | chosen.env(stack)
        mesh = start_mesh(workdir, orders_db, inventory_db, env, receive=chosen.receive)
        stack.callback(mesh.stop_all_now)
        state = Run(mesh, orders_db, inventory_db, [], stack.enter_context(ExitStack()))
        tally = Tally()
        started = injected = lifted = 0.0

        async def under_load() -> None:
            nonlocal started, injected, lifted
            started = time.monotonic()
            load = asyncio.create_task(drive(mesh.gateway_url, seconds, concurrency, tally))
            healthy, faulty = chosen.phases
            await asyncio.sleep(seconds * healthy)
            injected = time.monotonic()
            lift = await asyncio.to_thread(chosen.inject, state)
            await asyncio.sleep(max(0.0, injected + seconds * faulty - time.monotonic()))
            lifted = time.monotonic()
            await asyncio.to_thread(lift)
            await load

        if chosen.receive:
            asyncio.run(under_load())
        else:  # a fault of the trace backend: the services' memory must stay bounded meanwhile
            pids = {service: mesh.pid(service) for service in SERVICES}
            before = {service: rss_mib(pid) for service, pid in pids.items()}
            with PeakRss(pids) as peak:
                asyncio.run(under_load())
            growth = max(peak.peak[service] - before[service] for service in SERVICES)
            bounded = growth < MAX_RSS_GROWTH_MIB
            state.notes.append(f"{'' if bounded else 'NOT bounded: '}RSS grew {growth:.0f} MiB at most")
        state.cleanup.close()
        verdict = _settled_verdict(orders_db, inventory_db, tally.order_of_key)
        spans_lost = _spans_lost(mesh.store, tally.traces) if chosen.receive else None
        # A graceful stop: every fault is lifted by now, the trace backend back, so each service flushes.
        mesh.stop_all()
        if not chosen.receive:
            # Each service says how many spans it dropped at most once a report period (DROP_REPORT_SECONDS),
            # not once per span; a run can straddle one more boundary.
            said = max(mesh.log(service).count("spans dropped:") for service in SERVICES)
            rarely = said <= 1 + seconds // DROP_REPORT_SECONDS
            state.notes.append(f"{'' if rarely else 'NOT rarely: '}'spans dropped' logged {said}x")
            dropped = [int(n) for service in SERVICES for n in DROPPED.findall(mesh.log(service))]
            state.notes.append(f"{sum(dropped)} spans dropped (queue full or export failed)")
        if state.recovered_at is not None:
            # Recovered means for good: a connection opened while the database was down must not linger.
            refused = tally.refused_since(state.recovered_at)
            state.notes.append(
                f"NOT recovered for good: {refused} orders refused after" if refused else "none refused after"
            )
        state.notes.append(_repeats(tally))
        # The first quarter of the healthy phase warms the mesh up (connections, caches): left out.
        healthy = tally.latency(started + (injected - started) / 4, injected)
        return Outcome(
            fault, database, tally, verdict, spans_lost, state.notes, healthy, tally.latency(injected, lifted)
        )


@contextmanager
def _databases(kind: str, workdir: Path) -> Iterator[tuple[str, str]]:
    """The mesh's databases. On SQLite each file gets a directory of its own: a fault that freezes one
    database's directory must leave the other's alone."""
    if kind == "sqlite":
        yield sqlite_urls(workdir / "orders-db")[0], sqlite_urls(workdir / "inventory-db")[1]
        return
    with mesh_databases(kind, workdir, "chaos") as urls:
        yield urls


def _repeats(tally: Tally) -> str:
    two = tally.keys_with_two_orders
    return (
        f"{tally.keys_repeated} keys repeated ({tally.repeats} repeats), "
        f"{tally.keys_ordered_after_repeating} then ordered, "
        + (f"NOT idempotent: {two} keys answered with two orders" if two else "no key got two orders")
    )


def _settled_verdict(
    orders_db: str, inventory_db: str, answered: dict[str, str], timeout: float = 30
) -> invariant.Verdict:
    """The invariant, once the sweep has settled every pending order (or the time is up). `answered`: the
    order each key was answered 201 with."""
    deadline = time.monotonic() + timeout
    verdict = invariant.check(orders_db, inventory_db, answered=answered)
    while verdict.pending and time.monotonic() < deadline:
        time.sleep(0.5)
        verdict = invariant.check(orders_db, inventory_db, answered=answered)
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

    receive = True  # whether the mesh's own receiver collects the spans (faults of the trace backend say no)
    # The shares of the load run healthy, then with the fault; the rest runs after the fault is lifted.
    phases = (1 / 3, 1 / 3)

    def unavailable(self, database: str, workdir: Path) -> str | None:
        """Why this fault cannot be injected here, or None."""
        return None

    def env(self, stack: ExitStack) -> dict[str, str]:
        return {}

    def inject(self, run: Run) -> Callable[[], None]:
        raise NotImplementedError


class Backend:
    """The trace backend the services export to, on a port of its own that it can leave and come back to."""

    def __init__(self, stack: ExitStack) -> None:
        self.port = free_port()
        self.store = SpanStore()
        self._receiver: grpc.Server | None = None
        stack.callback(self.stop)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Receives again, into an empty store."""
        self.store = SpanStore()
        self._receiver = _retry_bind(lambda: start_receiver(self.store, f"127.0.0.1:{self.port}")[0])

    def stop(self) -> None:
        if self._receiver is not None:
            self._receiver.stop(grace=None).wait(5)
            self._receiver = None

    def resumed(self, run: Run, timeout: float = 30) -> str:
        """Whether the services' spans arrive again: a note for the report."""
        deadline = time.monotonic() + timeout
        while not self.store.all_spans() and time.monotonic() < deadline:
            httpx.get(f"{run.mesh.gateway_url}/products", timeout=10)
            time.sleep(1)
        return "export resumed" if self.store.all_spans() else f"NOT resumed: no span after {timeout:.0f} s"


class BackendDown(Fault):
    """The trace backend goes away: nothing listens where the services export. When it comes back,
    export must resume."""

    receive = False
    phases = BACKEND_PHASES

    def env(self, stack: ExitStack) -> dict[str, str]:
        self.backend = Backend(stack)
        self.backend.start()
        return {"OTEL_EXPORTER_OTLP_ENDPOINT": self.backend.endpoint}

    def inject(self, run: Run) -> Callable[[], None]:
        self.backend.stop()

        def lift() -> None:
            self.backend.start()
            run.notes.append(self.backend.resumed(run))

        return lift


class BackendSilent(Fault):
    """The trace backend hangs: its port accepts connections and never answers. When it answers again,
    export must resume."""

    receive = False
    phases = BACKEND_PHASES

    def env(self, stack: ExitStack) -> dict[str, str]:
        self.backend = Backend(stack)
        self.backend.start()
        return {"OTEL_EXPORTER_OTLP_ENDPOINT": self.backend.endpoint}

    def inject(self, run: Run) -> Callable[[], None]:
        self.backend.stop()
        # The kernel completes the handshakes of a listening socket nobody accepts from: the exporters
        # connect, send, and wait for an answer that never comes.
        listener = _retry_bind(lambda: socket.create_server(("127.0.0.1", self.backend.port)))
        run.cleanup.callback(listener.close)

        def lift() -> None:
            listener.close()
            self.backend.start()
            run.notes.append(self.backend.resumed(run))

        return lift


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
    """One service's database stops working under it, then comes back; the service is not restarted.

    PostgreSQL: the database refuses every connection (new ones disallowed, open ones ended). SQLite: the
    database file, its write-ahead log and their directory become immutable, so every write fails as on a
    disk gone bad, while reads still work.
    """

    def __init__(self, service: str) -> None:
        self.service = service

    def unavailable(self, database: str, workdir: Path) -> str | None:
        return unsupported(workdir) if database == "sqlite" else None

    def inject(self, run: Run) -> Callable[[], None]:
        url = run.database(self.service)
        restore = _freeze(run, url) if url.startswith("sqlite") else _refuse_connections(url)
        try:
            trace_id = _refused_fast(run)
            if self.service == "inventory":
                ready = httpx.get(f"{run.mesh.inventory_url}/readyz", timeout=10).status_code
                if url.startswith("sqlite"):  # readiness asks whether the database answers; it reads fine
                    run.notes.append(f"readyz {ready} while down (reads still work)")
                else:
                    run.notes.append(
                        "unready while down" if ready == 503 else f"NOT unready while down: {ready}"
                    )
        except BaseException:
            restore()
            raise

        def lift() -> None:
            restore()
            run.notes.append(_recovered(run))
            if trace_id:
                run.notes.append(_error_span(run.mesh, trace_id, self.service))

        return lift


def _freeze(run: Run, url: str) -> Callable[[], None]:
    """Makes a SQLite database unwritable; returns how to make it writable again."""
    database = Path(make_url(url).database or "")
    frozen = Frozen()
    run.cleanup.callback(frozen.thaw)  # registered before anything is frozen
    # The directory first, so no -journal or -wal can be created (nor the -wal removed) meanwhile, then
    # the files. Never the -shm: SQLite writes it through a memory mapping, and a write through a mapping
    # of an immutable file is a SIGBUS that kills the service instead of failing its request.
    for path in (
        database.parent,
        database,
        *(database.with_name(database.name + s) for s in ("-wal", "-journal")),
    ):
        if path.exists():
            frozen.freeze(path)
    return frozen.thaw


def _refuse_connections(url: str) -> Callable[[], None]:
    """Makes a PostgreSQL database refuse every connection; returns how to let them in again."""
    name = make_url(url).database
    asyncio.run(admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))

    def restore() -> None:
        asyncio.run(admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))

    try:
        asyncio.run(admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
    except BaseException:
        restore()
        raise
    return restore


def _order(gateway_url: str, sku: str = SKUS[0]) -> tuple[httpx.Response | None, str, float]:
    """One order with a key of its own, as the load sends it: the answer (None if there was none), what
    it said, and how long it took."""
    started = time.monotonic()
    try:
        response = httpx.post(
            f"{gateway_url}/orders",
            json={"sku": sku, "quantity": 1},
            headers={"Idempotency-Key": str(uuid.uuid4())},
            timeout=HANG_SECONDS,
        )
    except httpx.HTTPError as error:
        return None, f"{type(error).__name__}: {error}", time.monotonic() - started
    return response, f"{response.status_code} {response.text[:80]}", time.monotonic() - started


def _refused_fast(run: Run) -> str | None:
    """An order sent while the database is down must get a 503 with its trace id, quickly. Returns the
    trace id, to look for its error spans later."""
    response, said, seconds = _order(run.mesh.gateway_url)
    trace_id: object = None
    with suppress(ValueError, KeyError, TypeError):
        trace_id = None if response is None else response.json()["error"]["trace_id"]
    refused = response is not None and response.status_code == 503
    if refused and isinstance(trace_id, str) and seconds <= FAIL_FAST_SECONDS:
        run.notes.append(f"503 with trace id in {seconds:.2f} s while down")
        return trace_id
    run.notes.append(f"NOT refused fast: {said} in {seconds:.2f} s")
    return None


def _recovered(run: Run) -> str:
    """Whether orders are taken again soon after the database is back, by the processes that ran all along."""
    started = time.monotonic()
    attempt = 0
    while True:
        response, said, _ = _order(run.mesh.gateway_url, SKUS[attempt % len(SKUS)])
        if response is not None and response.status_code == 201:
            break
        if time.monotonic() - started > RECOVERY_SECONDS:
            return f"NOT recovered within {RECOVERY_SECONDS:.0f} s: {said}"
        attempt += 1
        time.sleep(0.2)
    stopped = [service for service, process in run.mesh.processes.items() if process.poll() is not None]
    if stopped:
        return f"NOT without a restart: {', '.join(stopped)} stopped"
    run.recovered_at = time.monotonic()
    return f"recovered without a restart in {run.recovered_at - started:.1f} s"


def _error_span(mesh: Mesh, trace_id: str, service: str) -> str:
    """Whether the refused order's trace shows the failure where it happened: `service`'s server span."""

    def failed(spans: list[ReceivedSpan]) -> bool:
        return any(s.service == service and s.kind == "SERVER" and s.status == "ERROR" for s in spans)

    if failed(mesh.trace(trace_id, failed, timeout=10)):
        return f"{service}'s error span recorded"
    return f"NOT recorded: no failed server span of {service} in trace {trace_id}"


def _retry_bind(bind: Callable[[], _Bound], timeout: float = 5) -> _Bound:
    """Binds a port just released by a receiver or listener, retrying while the kernel still holds it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return bind()
        except (OSError, RuntimeError):  # grpc says RuntimeError("Failed to bind ...")
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


FAULTS: dict[str, Callable[[], Fault]] = {
    "trace backend down": BackendDown,
    "trace backend silent": BackendSilent,
    "inventory killed": lambda: Killed("inventory"),
    "orders killed": lambda: Killed("orders"),
    "orders SIGTERM": lambda: Terminated("orders"),
    "orders database down": lambda: DatabaseDown("orders"),
    "inventory database down": lambda: DatabaseDown("inventory"),
}
# Faults that take a database down: `make test` runs them on PostgreSQL too.
DATABASE_FAULTS = {"orders database down", "inventory database down"}
# Faults of the trace backend: their report compares the latency while the backend is away with the
# latency before, against the benchmark's budget.
BACKEND_FAULTS = {"trace backend down", "trace backend silent"}
