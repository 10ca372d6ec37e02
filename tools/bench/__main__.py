"""`make bench`: the mesh under wrk in five tracing modes, interleaved, on SQLite and PostgreSQL; then the
CPU each request costs at a constant rate (vegeta) untraced, sampled and traced, and the highest constant
rate the traced mesh holds without losing a span.

    python -m tools.bench [--rounds 3] [--seconds 10] [--databases sqlite,postgres] [--modes traced,...]

Prints a table, writes bench/results.json and draws bench/tracing-cost.png.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tools.bench import profile
from tools.bench.counting import Completeness, SpanCounter, start_counter
from tools.bench.floor import span_floor_us
from tools.bench.footprint import import_footprint, make_run_footprint
from tools.bench.hanging import HangingEndpoint
from tools.bench.load import LoadResult, ensure_wrk, lua_script, parse, start_wrk
from tools.bench.rate import RateStep, VegetaReport, attack, broken, ensure_vegeta, search
from tools.mesh.databases import mesh_databases
from tools.mesh.plan import SERVICES
from tools.mesh.ports import free_port
from tools.mesh.probes import PeakRss, cpu_seconds, rss_mib
from tools.mesh.processes import Mesh, start_mesh, unwind_on_sigterm

ROOT = Path(__file__).resolve().parents[2]
BENCH_SKU = "STICKER-3"


def modes(counter_port: int, hanging_port: int) -> dict[str, dict[str, str]]:
    """Each mode's environment for the three services. The batch processor keeps its defaults (5 s, 512)."""
    traced = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{counter_port}",
        "OTEL_BSP_SCHEDULE_DELAY": "5000",
    }
    return {
        "untraced": {"OTEL_SDK_DISABLED": "true"},
        "traced": traced,
        "sampled 1%": traced
        | {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.01"},
        # Nothing listens there: every export fails, and the span queue fills and drops.
        "backend down": traced | {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{free_port()}"},
        # Connections are accepted and never answered (tools/bench/hanging.py): each export waits out the
        # exporter's timeout.
        "backend hangs": traced | {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{hanging_port}"},
    }


def steady_modes(counter_port: int) -> dict[str, dict[str, str]]:
    """The modes measured at a constant rate: the untraced baseline, production's low rate, every request."""
    every = modes(counter_port, 0)
    return {name: every[name] for name in ("untraced", "sampled 1%", "traced")}


def knob_modes(counter_port: int) -> dict[str, dict[str, str]]:
    """Configuration knobs people reach for first, each against the traced defaults (`--knobs`)."""
    traced = modes(counter_port, 0)["traced"]
    return {
        "untraced": {"OTEL_SDK_DISABLED": "true"},
        "traced": traced,
        "gzip": traced | {"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip"},
        "batch 2048, queue 8192": traced
        | {"OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "2048", "OTEL_BSP_MAX_QUEUE_SIZE": "8192"},
        "export every 1 s": traced | {"OTEL_BSP_SCHEDULE_DELAY": "1000"},
        "8 attributes per span": traced | {"OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT": "8"},
        # A structural lever rather than a knob: the opt-in OTLP encoder (tracemesh_common/fast_otlp.py)
        # against the SDK exporter's own, the default.
        "fast OTLP encoder": traced | {"TRACEMESH_OTLP_ENCODER": "fast"},
    }


# The cheap read and the full chain (gateway -> orders -> inventory -> both databases).
WORKLOADS = {
    "read": ("GET", None),
    "order": ("POST", json.dumps({"sku": BENCH_SKU, "quantity": 1})),
}
# The root span of each workload's traces: how the receiver tells them apart.
ROOTS = {"read": "GET /orders/{order_id}", "order": "POST /orders"}


def workload_path(workload: str, order_id: str) -> str:
    """The gateway path a workload's requests go to: the order placed to read back, or the orders."""
    return f"/orders/{order_id}" if workload == "read" else "/orders"


def cpu_ms_per_request(pids: dict[str, int], before: dict[str, float], requests: int) -> dict[str, float]:
    """Each service's CPU since `before` (its cpu_seconds then), in ms per request."""
    return {
        service: (cpu_seconds(pid) - before[service]) * 1000 / max(requests, 1)
        for service, pid in pids.items()
    }


DROPPED = re.compile(r"spans dropped since start \(queue full or export failed\): (\d+)")


@dataclass
class Run:
    database: str
    mode: str
    workload: str
    round: int
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    cpu_ms_per_request: dict[str, float]
    rss_idle_mib: dict[str, float]
    rss_peak_mib: dict[str, float]
    rss_peak_total_mib: float
    pss_peak_total_mib: float


@dataclass
class MeshRun:
    """One mesh's lifetime in one mode: its load runs, then how many spans arrived of those expected."""

    database: str
    mode: str
    round: int
    runs: list[Run] = field(default_factory=list)
    # Every trace the mesh sent, checked against the spans its kind of request makes, after each service
    # flushed its queue on SIGTERM.
    completeness: Completeness | None = None
    # What the services' batch processors dropped (queue full), as each logged it on the way out.
    sdk_spans_dropped: int = 0
    # Every request wrk saw answered (warm-ups included) and the order placed to read back: each is a trace.
    requests_answered: int = 0


def databases(name: str, directory: Path) -> AbstractContextManager[tuple[str, str]]:
    """Fresh orders and inventory databases for one mesh (SQLite files in a folder of their own)."""
    return mesh_databases(name, directory / uuid.uuid4().hex[:8], "bench")


async def _restock(inventory_db: str) -> None:
    """Enough stock that the order workload never runs out (the demo catalogue holds 500 of BENCH_SKU)."""
    engine = create_async_engine(inventory_db)
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE products SET stock = 1000000000 WHERE sku = :sku"), {"sku": BENCH_SKU}
        )
    await engine.dispose()


def load(
    wrk: str,
    mesh: Mesh,
    workload: str,
    order_id: str,
    seconds: float,
    directory: Path,
) -> tuple[LoadResult, dict[str, float], dict[str, float], float, float]:
    method, body = WORKLOADS[workload]
    path = workload_path(workload, order_id)
    script = lua_script(directory, method, body)
    pids = {service: mesh.pid(service) for service in SERVICES}
    before = {service: cpu_seconds(pid) for service, pid in pids.items()}
    with PeakRss(pids) as rss:
        process = start_wrk(wrk, mesh.gateway_url + path, script, seconds)
        output, _ = process.communicate()
    result = parse(output)
    cpu = cpu_ms_per_request(pids, before, result.requests)
    return result, cpu, rss.peak, rss.peak_total, rss.peak_pss_total


def one_mesh(
    wrk: str,
    database: str,
    mode: str,
    env: dict[str, str],
    round_: int,
    seconds: float,
    directory: Path,
    counter: SpanCounter,
    console: Console,
    per_request: dict[str, float],
) -> MeshRun:
    record = MeshRun(database, mode, round_)
    counter.reset()
    with bench_mesh(database, env, directory) as (mesh, order_id, _logs):
        record.requests_answered = 1
        idle = {service: rss_mib(mesh.pid(service)) for service in SERVICES}
        for workload in WORKLOADS:
            warm_up, *_ = load(wrk, mesh, workload, order_id, 2, directory)  # not recorded
            result, cpu, peak, peak_total, pss_total = load(wrk, mesh, workload, order_id, seconds, directory)
            record.requests_answered += warm_up.requests + result.requests
            record.runs.append(
                Run(
                    database,
                    mode,
                    workload,
                    round_,
                    result.rps,
                    result.p50_ms,
                    result.p99_ms,
                    result.requests,
                    result.errors,
                    cpu,
                    idle,
                    peak,
                    peak_total,
                    pss_total,
                )
            )
            console.print(
                f"  {database:8} {mode:13} {workload:6} round {round_}: {result.rps:7.0f} req/s "
                f"p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:6.2f} ms  errors {result.errors}"
            )
    record.completeness = counter.completeness({ROOTS[w]: per_request[w] for w in WORKLOADS})
    record.sdk_spans_dropped = sum(spans_dropped(mesh.log(service)) for service in SERVICES)
    return record


def spans_dropped(log: str) -> int:
    """The count a service logs as it stops (tracemesh_common.drops.DropReporter.stop); 0 when tracing was
    off."""
    found = DROPPED.findall(log)
    return int(found[-1]) if found else 0


@contextmanager
def bench_mesh(database: str, env: dict[str, str], directory: Path) -> Iterator[tuple[Mesh, str, Path]]:
    """A fresh mesh on fresh databases, stocked for the order workload, with one order to read back.
    Yields it, the order's id and its log folder; stops it with SIGTERM (each service flushes its queue)
    and waits a moment for the last exports to land."""
    logs = directory / uuid.uuid4().hex[:8]
    logs.mkdir()
    with databases(database, directory) as (orders_db, inventory_db):
        mesh = start_mesh(logs, orders_db, inventory_db, extra_env=env, receive=False)
        try:
            asyncio.run(_restock(inventory_db))
            placed = httpx.post(f"{mesh.gateway_url}/orders", json={"sku": BENCH_SKU, "quantity": 1})
            yield mesh, placed.json()["id"], logs
        finally:
            mesh.stop_all()
        time.sleep(0.5)


def spans_per_request(database: str, directory: Path, counter: SpanCounter, port: int) -> dict[str, float]:
    """How many spans one request of each workload makes, counted over the wire."""
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}", "OTEL_BSP_SCHEDULE_DELAY": "100"}
    result = {}
    with bench_mesh(database, env, directory) as (mesh, order_id, _logs):
        time.sleep(1)
        for workload, (method, body) in WORKLOADS.items():
            counter.reset()
            path = workload_path(workload, order_id)
            for _ in range(20):
                httpx.request(
                    method,
                    mesh.gateway_url + path,
                    content=body,
                    headers={"content-type": "application/json"},
                )
            time.sleep(1.5)
            result[workload] = counter.spans / 20
    return result


def median_of(runs: list[Run], key: str) -> float:
    return float(statistics.median(getattr(run, key) for run in runs))


def paired_ratio(chosen: list[Run], base: list[Run], key: str) -> float:
    """The median, over the rounds, of each round's ratio to the untraced run of the same round. The rounds
    are interleaved so that a machine slowing down (or speeding up) during the run moves both sides of a
    round together; a ratio of the two medians would mix rounds and keep that drift."""
    untraced = {run.round: getattr(run, key) for run in base}
    ratios = [getattr(run, key) / untraced[run.round] for run in chosen if untraced.get(run.round)]
    return float(statistics.median(ratios))


def summarise(
    runs: list[Run],
    mesh_runs: list[MeshRun],
    per_request: dict[str, dict[str, float]],
    floor: dict[str, float],
) -> list[dict[str, Any]]:
    rows = []
    groups = sorted({(r.database, r.workload) for r in runs})
    for database, workload in groups:
        base = [r for r in runs if (r.database, r.workload, r.mode) == (database, workload, "untraced")]
        base_cpu = statistics.median(sum(r.cpu_ms_per_request.values()) for r in base)
        for mode in dict.fromkeys(r.mode for r in runs):
            chosen = [r for r in runs if (r.database, r.workload, r.mode) == (database, workload, mode)]
            cpu = statistics.median(sum(r.cpu_ms_per_request.values()) for r in chosen)
            spans = per_request[database][workload]
            meshes = [m for m in mesh_runs if (m.database, m.mode) == (database, mode)]
            checks = [m.completeness for m in meshes]
            rows.append(
                {
                    "database": database,
                    "workload": workload,
                    "mode": mode,
                    "rps": median_of(chosen, "rps"),
                    "rps_ratio": paired_ratio(chosen, base, "rps"),
                    "p50_ms": median_of(chosen, "p50_ms"),
                    "p99_ms": median_of(chosen, "p99_ms"),
                    "p99_ratio": paired_ratio(chosen, base, "p99_ms"),
                    "cpu_ms_per_request": {
                        s: statistics.median(r.cpu_ms_per_request[s] for r in chosen) for s in SERVICES
                    },
                    "rss_idle_mib": {
                        s: statistics.median(r.rss_idle_mib[s] for r in chosen) for s in SERVICES
                    },
                    "rss_peak_mib": {
                        s: statistics.median(r.rss_peak_mib[s] for r in chosen) for s in SERVICES
                    },
                    "rss_peak_total_mib": median_of(chosen, "rss_peak_total_mib"),
                    "pss_peak_total_mib": median_of(chosen, "pss_peak_total_mib"),
                    "errors": sum(r.errors for r in chosen),
                    "spans_per_request": spans,
                    # Tracing's extra CPU per request, spread over the spans that request makes.
                    "cost_per_span_us": (cpu - base_cpu) * 1000 / spans if mode == "traced" else None,
                    "sdk_floor_per_span_us": floor["total_us"],
                    # Over each mesh's lifetime (both workloads), after every service flushed on SIGTERM.
                    "traces_received": sum(c.traces for c in checks if c),
                    "spans_received": sum(c.spans for c in checks if c),
                    "spans_lost": sum(c.spans_missing for c in checks if c) if mode == "traced" else None,
                    "traces_lost": sum(
                        m.completeness.traces_missing(m.requests_answered) for m in meshes if m.completeness
                    )
                    if mode == "traced"
                    else None,
                    "traces_without_root": sum(c.traces_without_root for c in checks if c),
                    "sdk_spans_dropped": sum(m.sdk_spans_dropped for m in meshes),
                }
            )
    return rows


def rate_step(
    vegeta: str,
    directory: Path,
    counter: SpanCounter,
    env: dict[str, str],
    rate: float,
    seconds: float,
    per_request: dict[str, float],
) -> RateStep:
    """`rate` reads per second, every one traced, on a fresh mesh (SQLite) after 2 s at the same rate to
    warm it; then its spans are counted once every service has flushed and stopped."""
    counter.reset()
    with bench_mesh("sqlite", env, directory) as (mesh, order_id, _logs):
        url = mesh.gateway_url + workload_path("read", order_id)
        warm_up = attack(vegeta, url, rate, 2, directory)
        report = attack(vegeta, url, rate, seconds, directory)
    check = counter.completeness({ROOTS[w]: per_request[w] for w in WORKLOADS})
    expected, lost = reads_accounted(check, warm_up.answered + report.answered, per_request)
    return RateStep(
        rate=rate,
        report=report,
        spans_expected=expected,
        spans_received=check.spans,
        spans_lost=lost,
        sdk_spans_dropped=sum(spans_dropped(mesh.log(service)) for service in SERVICES),
    )


def reads_accounted(check: Completeness, reads: int, per_request: dict[str, float]) -> tuple[int, int]:
    """The spans a run of `reads` answered reads should have delivered (with the one order placed to read
    back), and how many of them did not arrive: those missing from traces that arrived short, plus every
    span of each answered request whose trace never arrived."""
    spans_per_read = round(per_request["read"])
    expected = reads * spans_per_read + round(per_request["order"])
    lost_whole = check.traces_missing(reads + 1)
    return expected, check.spans_missing + lost_whole * spans_per_read


def sustained(
    vegeta: str,
    directory: Path,
    counter: SpanCounter,
    port: int,
    args: argparse.Namespace,
    per_request: dict[str, float],
    console: Console,
) -> dict[str, Any]:
    """The highest constant rate of traced reads the mesh holds with no span lost: rates tried in steps."""
    env = modes(port, 0)["traced"]

    def run(rate: float) -> RateStep:
        step = rate_step(vegeta, directory, counter, env, rate, args.sustained_seconds, per_request)
        verdict = broken(step, args.sustained_p99_ms) or "held"
        console.print(
            f"  sustained {rate:5.0f}/s: sent {step.report.rate:5.0f}/s, p50 {step.report.p50_ms:6.2f} ms "
            f"p99 {step.report.p99_ms:7.2f} ms, spans {step.spans_received}/{step.spans_expected} "
            f"(lost {step.spans_lost}, SDK dropped {step.sdk_spans_dropped}): {verdict}"
        )
        return step

    tried, held = search(
        run, args.sustained_from, args.sustained_step, args.sustained_to, args.sustained_p99_ms
    )
    return {
        "seconds": args.sustained_seconds,
        "p99_limit_ms": args.sustained_p99_ms,
        "held": asdict(held) if held else None,
        "broke": broken(tried[-1], args.sustained_p99_ms) if tried else None,
        "steps": [asdict(step) | {"verdict": broken(step, args.sustained_p99_ms)} for step in tried],
    }


@dataclass(frozen=True)
class SteadyRun:
    """One workload at a constant rate on a fresh mesh (SQLite), in one mode, in one round."""

    mode: str
    workload: str
    round: int
    rate: float  # asked
    report: VegetaReport
    cpu_ms_per_request: dict[str, float]


def steady(
    vegeta: str,
    directory: Path,
    chosen: dict[str, dict[str, str]],
    args: argparse.Namespace,
    console: Console,
) -> list[SteadyRun]:
    """Each mode at a constant rate of reads, then of orders, well below what the mesh answers flat out:
    the CPU each request costs each service when the machine is not the bottleneck, as in production. Flat
    out, a slower mode answers fewer requests a second, and each costs more (less work shares each wake-up
    of an event loop or a gRPC poller), so the throughput ratios above compound the two."""
    rates = {"read": args.steady_read_rate, "order": args.steady_order_rate}
    runs = []
    for round_ in range(1, args.rounds + 1):
        for mode, env in chosen.items():
            with bench_mesh("sqlite", env, directory) as (mesh, order_id, _logs):
                pids = {service: mesh.pid(service) for service in SERVICES}
                for workload, rate in rates.items():
                    method, body = WORKLOADS[workload]
                    url = mesh.gateway_url + workload_path(workload, order_id)
                    attack(vegeta, url, rate, 2, directory, method, body)  # warm-up, not recorded
                    before = {service: cpu_seconds(pid) for service, pid in pids.items()}
                    report = attack(vegeta, url, rate, args.steady_seconds, directory, method, body)
                    cpu = cpu_ms_per_request(pids, before, report.requests)
                    runs.append(SteadyRun(mode, workload, round_, rate, report, cpu))
                    console.print(
                        f"  steady {mode:13} {workload:6} {rate:4.0f}/s round {round_}: "
                        f"CPU {sum(cpu.values()):6.2f} ms/request, p50 {report.p50_ms:6.2f} ms "
                        f"p99 {report.p99_ms:7.2f} ms, failed {report.failed + report.unanswered}"
                    )
    return runs


def summarise_steady(runs: list[SteadyRun]) -> list[dict[str, Any]]:
    """Per workload and mode: medians over the rounds, and what the mode adds to each request's CPU over the
    untraced run of the same round (in µs, per service and in all)."""
    rows = []
    for workload in dict.fromkeys(run.workload for run in runs):
        base = {run.round: run for run in runs if (run.workload, run.mode) == (workload, "untraced")}
        for mode in dict.fromkeys(run.mode for run in runs):
            chosen = [r for r in runs if (r.workload, r.mode) == (workload, mode) and r.round in base]
            if not chosen:
                continue
            pairs = [(run, base[run.round]) for run in chosen]
            rows.append(
                {
                    "workload": workload,
                    "mode": mode,
                    "rate": chosen[0].rate,
                    "sent_rate": statistics.median(run.report.rate for run in chosen),
                    "cpu_ms_per_request": statistics.median(_cpu_ms(run) for run in chosen),
                    "cpu_ratio": statistics.median(
                        _cpu_ms(run) / _cpu_ms(untraced) for run, untraced in pairs
                    ),
                    "added_us": 1000
                    * statistics.median(_cpu_ms(run) - _cpu_ms(untraced) for run, untraced in pairs),
                    "added_us_by_service": {
                        service: 1000
                        * statistics.median(
                            _cpu_ms(run, service) - _cpu_ms(untraced, service) for run, untraced in pairs
                        )
                        for service in chosen[0].cpu_ms_per_request
                    },
                    "p50_ms": statistics.median(run.report.p50_ms for run in chosen),
                    "p99_ms": statistics.median(run.report.p99_ms for run in chosen),
                    "failed": sum(run.report.failed + run.report.unanswered for run in chosen),
                }
            )
    return rows


def _cpu_ms(run: SteadyRun, service: str | None = None) -> float:
    """A run's CPU per request: one service's, or all three's."""
    shares = run.cpu_ms_per_request
    return sum(shares.values()) if service is None else shares[service]


def print_steady(console: Console, rows: list[dict[str, Any]]) -> None:
    table = Table(title="CPU per request at a constant rate (SQLite; medians of the rounds)")
    for column in (
        "workload",
        "mode",
        "rate /s",
        "CPU ms/req (3 services)",
        "/ untraced",
        "added µs/req",
        "added µs by service",
        "p50 ms",
        "p99 ms",
        "failed",
    ):
        table.add_column(column, justify="left" if column in ("workload", "mode") else "right")
    for row in rows:
        added = row["added_us_by_service"].items() if row["mode"] != "untraced" else ()
        by_service = ", ".join(f"{service} {us:+.0f}" for service, us in added)
        table.add_row(
            row["workload"],
            row["mode"],
            f"{row['rate']:.0f}",
            f"{row['cpu_ms_per_request']:.2f}",
            f"{row['cpu_ratio']:.2f}",
            f"{row['added_us']:+.0f}",
            by_service,
            f"{row['p50_ms']:.2f}",
            f"{row['p99_ms']:.2f}",
            str(row["failed"]),
        )
    console.print(table)


def where_it_goes(
    wrk: str, database: str, env: dict[str, str], seconds: float, directory: Path
) -> dict[str, Any]:
    """py-spy on each service while wrk runs each workload in one mode: CPU ms per request by layer."""
    result: dict[str, Any] = {}
    with bench_mesh(database, env, directory) as (mesh, order_id, logs):
        for workload in WORKLOADS:
            load(wrk, mesh, workload, order_id, 2, directory)  # warm-up
            samples = {service: logs / f"{workload}-{service}.txt" for service in SERVICES}
            samplers = [profile.record(mesh.pid(service), seconds, path) for service, path in samples.items()]
            _, cpu, *_ = load(wrk, mesh, workload, order_id, seconds, directory)
            for sampler in samplers:
                sampler.wait()
            result[workload] = {
                service: {layer: share * cpu[service] for layer, share in profile.layers(path).items()}
                for service, path in samples.items()
                if path.exists()
            }
    return result


def profile_modes(
    wrk: str, chosen: dict[str, dict[str, str]], database: str, seconds: float, directory: Path
) -> dict[str, Any]:
    return {name: where_it_goes(wrk, database, env, seconds, directory) for name, env in chosen.items()}


def print_profile(console: Console, profiles: dict[str, dict[str, Any]]) -> None:
    table = Table(title="Where the CPU of one request goes (ms, all three services, from py-spy samples)")
    table.add_column("mode")
    table.add_column("workload")
    layer_names = [name for name, _ in profile.LAYERS] + [profile.OTHER]
    for name in layer_names:
        table.add_column(name, justify="right")
    for mode, by_workload in profiles.items():
        for workload, by_service in by_workload.items():
            totals = [sum(layers.get(name, 0.0) for layers in by_service.values()) for name in layer_names]
            table.add_row(mode, workload, *(f"{value:.2f}" for value in totals))
    console.print(table)


def print_table(console: Console, rows: list[dict[str, Any]]) -> None:
    table = Table(title="What tracing costs (medians of interleaved rounds; ratios against untraced)")
    for column in (
        "db",
        "workload",
        "mode",
        "req/s",
        "ratio",
        "p50 ms",
        "p99 ms",
        "p99 ratio",
        "CPU ms/req",
        "RSS peak MiB",
        "PSS peak MiB",
        "spans lost",
        "traces lost",
        "SDK dropped",
        "µs/span (floor)",
    ):
        table.add_column(column, justify="right")
    for row in rows:
        cost = row["cost_per_span_us"]
        table.add_row(
            row["database"],
            row["workload"],
            row["mode"],
            f"{row['rps']:.0f}",
            f"{row['rps_ratio']:.2f}",
            f"{row['p50_ms']:.2f}",
            f"{row['p99_ms']:.2f}",
            f"{row['p99_ratio']:.2f}",
            f"{sum(row['cpu_ms_per_request'].values()):.2f}",
            f"{row['rss_peak_total_mib']:.0f}",
            f"{row['pss_peak_total_mib']:.0f}",
            "-" if row["spans_lost"] is None else str(row["spans_lost"]),
            "-" if row.get("traces_lost") is None else str(row["traces_lost"]),
            str(row["sdk_spans_dropped"]),
            "-" if cost is None else f"{cost:.0f} ({row['sdk_floor_per_span_us']:.0f})",
        )
    console.print(table)


# The share of the untraced throughput tracing every request is to keep (what the chart's line marks for
# reads), and its CPU per span: when the CPU is the bottleneck, a request whose CPU grows by a factor k is
# answered 1/k as often.
TRACED_KEEPS = {"read": 0.85, "order": 0.90}


def span_budgets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per database and workload, the CPU a span may add, in µs, for traced requests to keep
    TRACED_KEEPS of the untraced throughput, beside what a span adds in the run (`cost_per_span_us`)."""
    budgets = []
    for traced in (row for row in rows if row["mode"] == "traced" and row["workload"] in TRACED_KEEPS):
        untraced = next(
            row
            for row in rows
            if (row["database"], row["workload"], row["mode"])
            == (traced["database"], traced["workload"], "untraced")
        )
        keep = TRACED_KEEPS[traced["workload"]]
        base_ms = sum(untraced["cpu_ms_per_request"].values())
        budgets.append(
            {
                "database": traced["database"],
                "workload": traced["workload"],
                "keep": keep,
                "budget_us": base_ms * (1 / keep - 1) * 1000 / traced["spans_per_request"],
                "cost_per_span_us": traced["cost_per_span_us"],
            }
        )
    return budgets


def print_budgets(console: Console, rows: list[dict[str, Any]], floor: dict[str, float]) -> None:
    budgets = span_budgets(rows)
    if not budgets:
        return  # no traced mode in this run
    console.print(
        "tracing every request, what a span may add to keep the share of the untraced throughput, against "
        "what it adds: "
        + "; ".join(
            f"{b['database']} {b['workload']} ({b['keep']:.2f}) {b['budget_us']:.0f} µs against "
            f"{b['cost_per_span_us']:.0f}"
            for b in budgets
        )
        + f". The SDK alone takes {floor['total_us']:.0f} µs a span with tracemesh's encoder, "
        f"{floor['start_end_us'] + floor['stock_encode_us']:.0f} with its own."
    )


def names(option: str) -> list[str]:
    """The names in a comma-separated option."""
    return [name.strip() for name in option.split(",") if name.strip()]


def print_sustained(console: Console, sustained: dict[str, Any]) -> None:
    held = sustained["held"]
    if held is None:
        console.print(f"sustained: no rate held ({sustained['broke']})")
        return
    report = held["report"]
    after = (
        f"the next rate broke: {sustained['broke']}"
        if sustained["broke"]
        else "the highest rate tried (--sustained-to)"
    )
    console.print(
        f"sustained: {held['rate']:.0f} req/s held for {sustained['seconds']:.0f} s (reads, traced, vegeta), "
        f"p50 {report['p50_ms']:.2f} ms, p99 {report['p99_ms']:.2f} ms, {held['spans_received']} spans "
        f"received of {held['spans_expected']} expected, 0 lost; {after}"
    )


def print_footprint(console: Console, footprint: dict[str, Any], imports: dict[str, Any]) -> None:
    console.print(
        "imports alone (MiB RSS, fresh interpreter): "
        + ", ".join(f"{service} {mib:.0f}" for service, mib in imports["rss_mib"].items())
        + f" (a bare interpreter: {imports['bare_interpreter_rss_mib']:.0f})"
    )
    for service, shares in imports["rss_mib_by_library"].items():
        console.print(
            f"  {service}, what each library adds to those before it: "
            + ", ".join(f"{library} {mib:.1f}" for library, mib in shares.items())
        )
    before = imports["before_serving_rss_mib"]
    console.print(
        "each process make run starts, with all it imports before serving (MiB RSS): "
        + ", ".join(f"{name} {mib:.0f}" for name, mib in before.items())
        + f"; {sum(before.values()):.0f} in all"
    )
    if "skipped" in footprint:
        console.print(f"make run's memory: not measured ({footprint['skipped']})")
        return
    console.print(
        f"make run's memory ({', '.join(footprint['processes'])}): "
        f"idle {footprint['idle_rss_mib']:.0f} MiB RSS ({footprint['idle_pss_mib']:.0f} MiB PSS), "
        f"under traced load {footprint['peak_rss_mib']:.0f} MiB RSS ({footprint['peak_pss_mib']:.0f} MiB PSS)"
    )


def draw(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = sorted({(r["database"], r["workload"]) for r in rows})
    mode_names = list(dict.fromkeys(r["mode"] for r in rows))
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    width = 0.8 / len(mode_names)
    for index, mode in enumerate(mode_names):
        for axis, key in zip(axes, ("rps_ratio", "p99_ratio"), strict=True):
            values = [
                next(r[key] for r in rows if (r["database"], r["workload"]) == g and r["mode"] == mode)
                for g in groups
            ]
            axis.bar([i + index * width for i in range(len(groups))], values, width, label=mode)
    for axis, title, goal in zip(
        axes,
        ("throughput / untraced (higher is better)", "p99 latency / untraced (lower is better)"),
        (TRACED_KEEPS["read"], 1.25),
        strict=True,
    ):
        axis.set_title(title)
        axis.set_xticks([i + width * (len(mode_names) - 1) / 2 for i in range(len(groups))])
        axis.set_xticklabels([f"{db}\n{workload}" for db, workload in groups])
        axis.axhline(goal, color="grey", linestyle="--", linewidth=1)
        axis.axhline(1.0, color="black", linewidth=0.6)
    axes[0].legend(fontsize=8, loc="lower left", framealpha=0.9)
    figure.suptitle("tracemesh: the cost of tracing, measured by `make bench`")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def update_results(path: Path, key: str, value: Any) -> None:
    """Replaces one part of an earlier run's results.json, keeping the rest."""
    results = json.loads(path.read_text())
    results[key] = value
    path.write_text(json.dumps(results, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument(
        "--modes",
        help="only these modes, comma-separated (untraced is always added: the ratios need it)",
    )
    parser.add_argument(
        "--profile-modes",
        default="untraced,traced",
        help="the modes py-spy profiles, comma-separated (default: untraced,traced)",
    )
    parser.add_argument("--sustained-from", type=float, default=100, help="first constant rate tried (req/s)")
    parser.add_argument("--sustained-step", type=float, default=50, help="rate added at each step")
    parser.add_argument("--sustained-to", type=float, default=600, help="highest rate tried")
    parser.add_argument(
        "--sustained-seconds", type=float, default=15, help="length of each step (0: no sustained run)"
    )
    parser.add_argument(
        "--sustained-p99-ms", type=float, default=250, help="a step breaks when its p99 is above this"
    )
    parser.add_argument(
        "--steady-seconds",
        type=float,
        default=10,
        help="length of each constant-rate run that measures CPU per request (0: none)",
    )
    parser.add_argument("--steady-read-rate", type=float, default=100, help="reads per second in those runs")
    parser.add_argument("--steady-order-rate", type=float, default=30, help="orders per second in those runs")
    parser.add_argument("--output", type=Path, default=ROOT / "bench")
    parser.add_argument(
        "--chart-only",
        action="store_true",
        help="print the table and redraw the chart from the results.json of an earlier run",
    )
    parser.add_argument(
        "--knobs",
        action="store_true",
        help="compare configuration knobs against the traced defaults instead; writes bench/knobs.json",
    )
    parser.add_argument(
        "--profile-only",
        action="store_true",
        help="only profile (--profile-modes), and add that to the results.json of an earlier run",
    )
    parser.add_argument(
        "--footprint-only",
        action="store_true",
        help="only measure the services' imports and what make run starts, in memory, and add them to the "
        "results.json of an earlier run",
    )
    parser.add_argument(
        "--steady-only",
        action="store_true",
        help="only measure CPU per request at a constant rate, and add that to the results.json of an "
        "earlier run",
    )
    args = parser.parse_args()
    unwind_on_sigterm()  # a stopped run stops the meshes it started

    console = Console(width=170)
    if args.chart_only:
        recorded = json.loads((args.output / "results.json").read_text())
        summary = recorded["summary"]
        print_table(console, summary)
        print_budgets(console, summary, recorded["sdk_floor_us_per_span"])
        draw(summary, args.output / "tracing-cost.png")
        return
    profile_names = names(args.profile_modes)
    if args.profile_only:
        wrk = ensure_wrk()
        server, port, _counter = start_counter()
        with HangingEndpoint() as hanging, tempfile.TemporaryDirectory(prefix="tracemesh-bench-") as scratch:
            chosen = {n: env for n, env in modes(port, hanging.port).items() if n in profile_names}
            profiles = profile_modes(wrk, chosen, args.databases.split(",")[0], args.seconds, Path(scratch))
        server.stop(grace=None)
        print_profile(console, profiles)
        update_results(args.output / "results.json", "profile", profiles)
        return
    if args.footprint_only:
        wrk = ensure_wrk()
        with tempfile.TemporaryDirectory(prefix="tracemesh-bench-") as scratch:
            footprint = make_run_footprint(wrk, Path(scratch), args.seconds)
        imports = import_footprint()
        print_footprint(console, footprint, imports)
        update_results(args.output / "results.json", "make_run", footprint)
        update_results(args.output / "results.json", "imports", imports)
        return
    if args.steady_only:
        vegeta = ensure_vegeta()
        server, port, _counter = start_counter()
        with tempfile.TemporaryDirectory(prefix="tracemesh-bench-") as scratch:
            steady_rows = summarise_steady(steady(vegeta, Path(scratch), steady_modes(port), args, console))
        server.stop(grace=None)
        print_steady(console, steady_rows)
        update_results(args.output / "results.json", "steady", steady_rows)
        return
    wrk = ensure_wrk()
    vegeta = ensure_vegeta() if args.sustained_seconds > 0 or args.steady_seconds > 0 else ""
    args.output.mkdir(parents=True, exist_ok=True)
    server, port, counter = start_counter()
    chosen_databases = names(args.databases)
    runs: list[Run] = []
    mesh_runs: list[MeshRun] = []
    with ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tracemesh-bench-")))
        hanging = stack.enter_context(HangingEndpoint())
        every_mode = knob_modes(port) if args.knobs else modes(port, hanging.port)
        wanted = ["untraced", *names(args.modes)] if args.modes else list(every_mode)
        chosen_modes = {name: env for name, env in every_mode.items() if name in wanted}
        floor = span_floor_us()
        console.print(
            f"SDK floor: {floor['total_us']:.1f} µs per span "
            f"(start+end {floor['start_end_us']:.1f}, OTLP encoding {floor['encode_us']:.1f}; "
            f"with the SDK's encoder {floor['stock_encode_us']:.1f})"
        )
        per_request = {db: spans_per_request(db, directory, counter, port) for db in chosen_databases}
        console.print(f"spans per request: {per_request}")
        for round_ in range(1, args.rounds + 1):
            for database in chosen_databases:
                for mode, env in chosen_modes.items():
                    record = one_mesh(
                        wrk,
                        database,
                        mode,
                        env,
                        round_,
                        args.seconds,
                        directory,
                        counter,
                        console,
                        per_request[database],
                    )
                    mesh_runs.append(record)
                    runs.extend(record.runs)
        rows = summarise(runs, mesh_runs, per_request, floor)
        if args.knobs:
            server.stop(grace=None)
            print_table(console, rows)
            knobs = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "summary": rows}
            (args.output / "knobs.json").write_text(json.dumps(knobs, indent=2) + "\n")
            console.print(f"wrote {args.output / 'knobs.json'}")
            return
        profiled = {n: env for n, env in modes(port, hanging.port).items() if n in profile_names}
        profiles = profile_modes(wrk, profiled, chosen_databases[0], args.seconds, directory)
        steady_rows = (
            summarise_steady(steady(vegeta, directory, steady_modes(port), args, console))
            if args.steady_seconds > 0
            else []
        )
        held = (
            sustained(vegeta, directory, counter, port, args, per_request["sqlite"], console)
            if args.sustained_seconds > 0 and "sqlite" in per_request
            else None
        )
        footprint = make_run_footprint(wrk, directory, args.seconds)
        imports = import_footprint()
    server.stop(grace=None)

    print_table(console, rows)
    print_budgets(console, rows, floor)
    print_profile(console, profiles)
    if steady_rows:
        print_steady(console, steady_rows)
    if held:
        print_sustained(console, held)
    print_footprint(console, footprint, imports)
    results = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "settings": vars(args) | {"output": str(args.output)},
        "sdk_floor_us_per_span": floor,
        "summary": rows,
        "profile": profiles,
        "steady": steady_rows,
        "sustained": held,
        "make_run": footprint,
        "imports": imports,
        "runs": [asdict(run) for run in runs],
    }
    (args.output / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    draw(rows, args.output / "tracing-cost.png")
    console.print(f"wrote {args.output / 'results.json'} and {args.output / 'tracing-cost.png'}")


if __name__ == "__main__":
    main()
