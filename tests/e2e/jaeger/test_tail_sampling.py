"""The collector profile's tail sampling, proven under load: deploy/collector/config.yaml itself, run by a
second Jaeger configured as a plain collector in front of the one that stores. Every trace with an error and
every slow trace reaches Jaeger, about a tenth of the rest, and each one whole.

The statistical bound. The policy `some-of-the-rest` keeps a trace when a hash of its trace id falls in the
lowest 10% of the hash's range; the SDK's trace ids are random, so each of the n fast, error-free traces is
kept independently with p = 0.1, and the number kept is Binomial(n, 0.1). The test accepts the interval
whose two tails each hold less than one in a million (computed exactly below): a correct sampler fails it
less than twice in a million runs. With n = 600 the interval is 28 to 98 (4.7% to 16.3%), so keeping none,
all, or a rate outside it fails.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from tests.e2e.jaeger.backend import (
    COLLECTOR_ADDRESSES,
    COLLECTOR_CONFIG,
    Jaeger,
    JaegerTrace,
    collector_flags,
    run_jaeger,
)
from tests.e2e.jaeger.shapes import is_whole_order, shape
from tools.mesh.databases import sqlite_urls
from tools.mesh.processes import Mesh, start_mesh

REST = 600  # fast, error-free requests: GET /products
SLOW = 6  # orders with the slow-query scenario
REFUSED = 20  # each of: more than the stock (409), an unknown sku (404)
OUTAGE = 20  # GET /products with inventory stopped (503)
LATENCY_MS = 500  # the policy's threshold (keep-slow), checked against the file below
# One in a million per tail: the chance that a correct sampler falls outside the accepted interval.
TAIL = 1e-6
SLOW_QUERY = {"baggage": "tracemesh.scenario=slow-query"}
LIST_PRODUCTS = "/tracemesh.orders.v1.OrderService/ListProducts"
PRODUCTS = Counter(
    {
        ("gateway", "server", "GET /products"): 1,
        ("gateway", "client", LIST_PRODUCTS): 1,
        ("orders", "server", LIST_PRODUCTS): 1,
        ("orders", "client", "GET"): 1,
        ("inventory", "server", "GET /products"): 1,
        ("inventory", "sql", "SELECT"): 1,
    }
)
Job = tuple[str, str, str, dict[str, object] | None, dict[str, str]]  # kind, method, path, body, headers


@dataclass(frozen=True)
class Sent:
    kind: str  # rest, slow, refused, outage
    trace_id: str
    status: int
    latency_ms: float


@pytest.fixture(scope="module")
def collector(go_bin: Path, jaeger: Jaeger, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jaeger]:
    """A second Jaeger, running deploy/collector/config.yaml and exporting to `jaeger`."""
    log = tmp_path_factory.mktemp("collector") / "collector.log"
    with run_jaeger(go_bin / "jaeger", log, collector_flags(jaeger), COLLECTOR_ADDRESSES) as started:
        yield started


@pytest.fixture
def sampled_mesh(collector: Jaeger, tmp_path: Path) -> Iterator[Mesh]:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.otlp_grpc,
        "GATEWAY_SCENARIOS_ENABLED": "true",
        # Slow in the database itself: about 0.8 s on 2 cores, and slower on a busy machine.
        "INVENTORY_SLOW_QUERY_ROWS": "3000000",
        # The slow query holds SQLite's write lock for as long as it runs: on a busy machine longer than
        # orders' 1.5 s per attempt, and the orders queued behind it wait as long again. Here only the
        # policy's view of a slow trace is wanted, not a timeout: one patient attempt, within a patient
        # gateway.
        "ORDERS_INVENTORY_TIMEOUT_SECONDS": "15",
        "ORDERS_INVENTORY_ATTEMPTS": "1",
        "GATEWAY_ORDERS_TIMEOUT_SECONDS": "20",
    }
    mesh = start_mesh(tmp_path, *sqlite_urls(tmp_path), env, receive=False)
    yield mesh
    mesh.stop_all_now()


def accepted_interval(n: int, p: float = 0.1) -> tuple[int, int]:
    """The smallest and largest counts whose tails under Binomial(n, p) each hold no more than TAIL."""
    pmf = [math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(n + 1)]
    low, below = 0, 0.0
    while below + pmf[low] <= TAIL:
        below += pmf[low]
        low += 1
    high, above = n, 0.0
    while above + pmf[high] <= TAIL:
        above += pmf[high]
        high -= 1
    return low, high


async def send(mesh: Mesh, jobs: list[Job], concurrency: int) -> list[Sent]:
    limit = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=mesh.gateway_url, timeout=30) as client:

        async def one(job: Job) -> Sent:
            kind, method, path, body, headers = job
            async with limit:
                started = time.monotonic()
                response = await client.request(method, path, json=body, headers=headers)
                latency = (time.monotonic() - started) * 1000
            return Sent(kind, response.headers["traceresponse"].split("-")[1], response.status_code, latency)

        return await asyncio.gather(*(one(job) for job in jobs))


def wait_until_decided_and_stored(collector: Jaeger, jaeger: Jaeger, traces: int) -> None:
    """Polls the two Jaegers' own metrics (8888 in compose) until the collector has decided on every trace
    it received and the storing Jaeger has taken in every span the collector sent."""
    deadline = time.monotonic() + 90
    while True:
        received = collector.metric("otelcol_processor_tail_sampling_new_trace_id_received_total")
        decided = collector.metric("otelcol_processor_tail_sampling_global_count_traces_sampled_total")
        sent = collector.metric("otelcol_exporter_sent_spans_total", exporter="otlp/jaeger")
        stored = jaeger.metric("otelcol_receiver_accepted_spans_total", receiver="otlp")
        if received >= traces and decided >= received and sent == stored:
            return
        assert time.monotonic() < deadline, f"{received=} {decided=} {sent=} {stored=} of {traces} traces"
        time.sleep(0.5)


def assert_whole(trace: JaegerTrace, services: set[str]) -> None:
    """One root, the gateway's server span; every other span under a parent in the trace; a server span of
    every service the request crossed."""
    (root,) = trace.roots()
    assert (root.service, root.kind) == ("gateway", "server"), trace.trace_id
    assert {s.service for s in trace.spans if s.kind == "server"} == services, trace.trace_id


def test_the_policy_is_the_compose_collectors() -> None:
    config = yaml.safe_load(COLLECTOR_CONFIG.read_text())
    policies = {p["name"]: p for p in config["processors"]["tail_sampling"]["policies"]}
    assert policies["keep-errors"]["status_code"]["status_codes"] == ["ERROR"]
    assert policies["keep-slow"]["latency"]["threshold_ms"] == LATENCY_MS
    assert policies["some-of-the-rest"]["probabilistic"]["sampling_percentage"] == 10
    # The bound stated above, for the test below.
    assert accepted_interval(600) == (28, 98)  # 4.7% to 16.3%


# About a minute: the load, then the policy's 15 s decision wait; twice that on a busy machine.
@pytest.mark.timeout(300, func_only=True)
def test_errors_and_slow_traces_are_all_kept_and_a_tenth_of_the_rest(
    jaeger: Jaeger, collector: Jaeger, sampled_mesh: Mesh
) -> None:
    load: list[Job] = [("rest", "GET", "/products", None, {})] * REST
    load += [("refused", "POST", "/orders", {"sku": "LAMP-9", "quantity": 1000}, {})] * REFUSED
    load += [("refused", "POST", "/orders", {"sku": "NO-SUCH-SKU", "quantity": 1}, {})] * REFUSED
    random.Random(7).shuffle(load)  # the errors amid the load, in the same order every run
    slow: list[Job] = [("slow", "POST", "/orders", {"sku": "STICKER-3", "quantity": 1}, SLOW_QUERY)] * SLOW

    async def both() -> list[Sent]:
        # The slow orders one at a time, beside the load: each holds inventory's SQLite write lock for its
        # whole query, and two in a row would keep a third writer waiting past the deadline.
        batches = await asyncio.gather(send(sampled_mesh, load, 3), send(sampled_mesh, slow, 1))
        return [s for batch in batches for s in batch]

    sent = asyncio.run(both())
    assert sampled_mesh.stop("inventory") == 0
    sent += asyncio.run(send(sampled_mesh, [("outage", "GET", "/products", None, {})] * OUTAGE, 3))

    statuses = Counter((s.kind, s.status) for s in sent)
    assert statuses == {
        ("rest", 200): REST,
        ("slow", 201): SLOW,
        ("refused", 409): REFUSED,
        ("refused", 404): REFUSED,
        ("outage", 503): OUTAGE,
    }
    wait_until_decided_and_stored(collector, jaeger, len(sent))
    # No trace was decided on before its spans could all arrive (decision_wait is long enough).
    assert collector.metric("otelcol_processor_tail_sampling_sampling_trace_dropped_too_early_total") == 0
    kept = {s.trace_id: trace for s in sent if (trace := jaeger.trace(s.trace_id)) is not None}

    # Every error, whole, with the spans Jaeger marks as errors.
    for s in sent:
        if s.kind in ("refused", "outage"):
            trace = kept.get(s.trace_id)
            assert trace is not None, f"{s} did not reach Jaeger"
            assert_whole(trace, {"gateway", "orders"} | ({"inventory"} if s.kind == "refused" else set()))
            assert any(span.error for span in trace.spans)

    # Every slow trace, whole, and slow indeed.
    for s in sent:
        if s.kind == "slow":
            trace = kept.get(s.trace_id)
            assert trace is not None, f"{s} did not reach Jaeger"
            assert is_whole_order(trace)
            assert trace.duration_us >= LATENCY_MS * 1000

    # About a tenth of the rest. Only the requests answered within the threshold count: their traces cannot
    # be slow (every span lies within the request), so only the probabilistic policy can keep them.
    rest = [s for s in sent if s.kind == "rest" and s.latency_ms < LATENCY_MS * 0.9]
    assert len(rest) >= REST // 2, "the machine is too busy: most requests took longer than 450 ms"
    rest_kept = [kept[s.trace_id] for s in rest if s.trace_id in kept]
    low, high = accepted_interval(len(rest))
    assert low <= len(rest_kept) <= high, f"{len(rest_kept)} of {len(rest)} kept; expected {low} to {high}"
    for trace in rest_kept:
        assert shape(trace) == PRODUCTS, trace.trace_id  # whole: every span, none more
        assert not any(span.error for span in trace.spans)
