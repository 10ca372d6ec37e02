"""The benchmark's own arithmetic: reading wrk's and vegeta's reports, telling whole traces from broken ones,
deciding which constant rate the mesh held, the backend that hangs, and finding every process `make run`
started."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult

from tests.support import require_go_tools
from tools.bench.__main__ import Run, SteadyRun, paired_ratio, reads_accounted, span_budgets, summarise_steady
from tools.bench.counting import Completeness, SpanCounter
from tools.bench.footprint import STARTS_WITH, import_footprint, process_tree
from tools.bench.hanging import HangingEndpoint
from tools.bench.load import parse
from tools.bench.rate import RateStep, VegetaReport, attack, broken, parse_report, search

WRK_REPORT = """Running 10s test @ http://127.0.0.1:8080/orders
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    65.71ms   20.11ms 161.44ms   70.00%
    Req/Sec   219.50     30.02   270.00     66.00%
  Latency Distribution
     50%   65.71ms
     75%   80.00ms
     90%  100.00ms
     99%    1.15s
  2190 requests in 10.01s, 500.00KB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 7
Requests/sec:    218.78
Transfer/sec:     49.95KB
"""


def test_wrk_report_is_read_with_units() -> None:
    result = parse(WRK_REPORT)
    assert result.requests == 2190
    assert result.seconds == pytest.approx(10.01)
    assert result.rps == pytest.approx(2190 / 10.01)
    assert result.p50_ms == pytest.approx(65.71)
    assert result.p99_ms == pytest.approx(1150)
    assert result.errors == 12


def test_an_unreadable_report_is_an_error() -> None:
    with pytest.raises(RuntimeError):
        parse("wrk: connection refused")


def export(*spans: tuple[bytes, bytes, str]) -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                scope_spans=[
                    ScopeSpans(spans=[Span(trace_id=t, parent_span_id=p, name=n) for t, p, n in spans])
                ]
            )
        ]
    )


def test_completeness_counts_missing_spans_and_rootless_traces() -> None:
    counter = SpanCounter()
    whole = [(b"a" * 16, b"", "GET /orders/{order_id}")] + [(b"a" * 16, b"p" * 8, "child")] * 3
    short = [(b"b" * 16, b"", "GET /orders/{order_id}"), (b"b" * 16, b"p" * 8, "child")]
    rootless = [(b"c" * 16, b"p" * 8, "child")]
    counter.Export(export(*whole, *short, *rootless), context=None)  # type: ignore[arg-type]
    check = counter.completeness({"GET /orders/{order_id}": 4})
    assert (check.traces, check.spans, check.spans_missing, check.traces_without_root) == (3, 7, 2, 1)
    assert (check.traces_missing(5), check.traces_missing(3)) == (2, 0)
    counter.reset()
    assert counter.completeness({}).spans == 0


def test_process_tree_names_every_descendant_by_its_module() -> None:
    # A manager that starts a service, as make run does: both are found, named as `python -m` names them.
    grandchild = "import subprocess, sys; subprocess.run([sys.executable, '-m', 'http.server', '0'])"
    manager = subprocess.Popen(
        [sys.executable, "-c", grandchild], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 20
        while "http.server" not in (tree := process_tree(manager.pid)):
            assert time.monotonic() < deadline, tree
            time.sleep(0.05)
        assert tree[Path(sys.executable).name] == manager.pid
        assert tree["http.server"] != manager.pid
    finally:
        for pid in process_tree(manager.pid).values():
            os.kill(pid, signal.SIGKILL)
        manager.wait()


# `vegeta report -type=json` of 30 requests: 10 answered 200, 10 answered 404, 10 refused (status 0).
VEGETA_REPORT = json.dumps(
    {
        "latencies": {
            "total": 61863601,
            "mean": 2062120,
            "50th": 1604409,
            "90th": 5457214,
            "95th": 6175452,
            "99th": 7451004,
            "max": 7451004,
            "min": 271409,
        },
        "duration": 1966088537,
        "wait": 390352,
        "requests": 30,
        "rate": 15.258722806947528,
        "throughput": 5.085231301458431,
        "success": 0.3333333333333333,
        "status_codes": {"0": 10, "200": 10, "404": 10},
        "errors": ["connect: connection refused", "404 File not found"],
    }
)


def test_vegeta_report_is_read_in_milliseconds_with_unanswered_requests_apart() -> None:
    report = parse_report(VEGETA_REPORT)
    assert report.requests == 30
    assert report.rate == pytest.approx(15.2587, abs=1e-4)
    assert (report.p50_ms, report.p99_ms, report.max_ms) == pytest.approx((1.604409, 7.451004, 7.451004))
    assert (report.unanswered, report.failed, report.answered) == (10, 20, 20)


def test_an_unreadable_vegeta_report_is_an_error() -> None:
    with pytest.raises(RuntimeError):
        parse_report("2026/12/02 gob: duplicate type received")
    with pytest.raises(RuntimeError):
        parse_report(json.dumps({"requests": 3}))


def step(rate: float, report: dict[str, Any] | None = None, **changes: Any) -> RateStep:
    """A step that held `rate`, with its vegeta report and then itself changed as given."""
    sent = VegetaReport(
        requests=int(rate * 10),
        rate=rate,
        throughput=rate,
        p50_ms=5.0,
        p99_ms=40.0,
        max_ms=60.0,
        unanswered=0,
        failed=0,
    )
    spans = 4 * sent.requests
    held = RateStep(rate, replace(sent, **(report or {})), spans, spans, 0, 0)
    return replace(held, **changes)


@pytest.mark.parametrize(
    ("report", "changes", "reason"),
    [
        ({}, {}, None),
        ({"rate": 280.0}, {}, "vegeta sent only 280/s"),
        ({"failed": 3}, {}, "3 requests failed"),
        ({}, {"spans_lost": 8}, "8 spans lost"),
        ({}, {"sdk_spans_dropped": 512}, "512 spans lost"),
        ({"p99_ms": 251.0}, {}, "p99 251 ms"),
    ],
)
def test_a_step_breaks_on_errors_lost_spans_latency_or_a_rate_not_sent(
    report: dict[str, Any], changes: dict[str, Any], reason: str | None
) -> None:
    assert broken(step(300, report, **changes), p99_limit_ms=250) == reason


def test_the_search_stops_at_the_first_rate_not_held_and_reports_the_one_before() -> None:
    tried_rates: list[float] = []

    def run(rate: float) -> RateStep:
        tried_rates.append(rate)
        return step(rate, {"p99_ms": 40 if rate < 300 else 900})

    tried, held = search(run, start=100, step=50, most=600, p99_limit_ms=250)
    assert tried_rates == [100, 150, 200, 250, 300]
    assert [s.rate for s in tried] == tried_rates
    assert held is not None
    assert held.rate == 250


def test_the_search_reports_nothing_held_when_the_first_rate_breaks_and_stops_at_its_ceiling() -> None:
    tried, held = search(lambda rate: step(rate, spans_lost=1), 100, 50, 600, 250)
    assert (len(tried), held) == (1, None)
    tried, held = search(step, 100, 50, 200, 250)
    assert [s.rate for s in tried] == [100, 150, 200]
    assert held is not None
    assert held.rate == 200


def test_the_hanging_endpoint_accepts_and_never_answers() -> None:
    endpoint = HangingEndpoint()
    client = socket.create_connection(("127.0.0.1", endpoint.port), timeout=5)
    try:
        client.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        client.settimeout(0.3)
        with pytest.raises(TimeoutError):  # held open: neither an answer nor an end of stream
            client.recv(1)
        deadline = time.monotonic() + 5
        while endpoint.connections < 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        endpoint.close()
    client.settimeout(5)
    with pytest.raises(ConnectionResetError):  # close() lets go, with our bytes unread: a reset
        client.recv(1)
    client.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", endpoint.port), timeout=5)


def test_an_otlp_exporter_pointed_at_the_hanging_endpoint_fails_on_its_own_timeout() -> None:
    span = TracerProvider().get_tracer("bench").start_span("never sent")
    span.end()
    with HangingEndpoint() as endpoint:
        exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{endpoint.port}", insecure=True, timeout=1)
        assert exporter.export([span]) == SpanExportResult.FAILURE  # type: ignore[list-item]
        assert endpoint.connections >= 1  # it connected, and waited for an answer that never came
        exporter.shutdown()


def test_each_services_imports_are_measured_in_a_fresh_interpreter() -> None:
    footprint = import_footprint()
    assert set(footprint["rss_mib"]) == {"gateway", "orders", "inventory"}
    bare = footprint["bare_interpreter_rss_mib"]
    assert bare > 0
    # Every service imports a web or RPC framework and OpenTelemetry: far more than the bare interpreter.
    assert all(mib > 2 * bare for mib in footprint["rss_mib"].values())
    shares = footprint["rss_mib_by_library"]
    # Each service is measured with the libraries it loads, and only those.
    common = {"opentelemetry", "pydantic"}
    assert set(shares["inventory"]) == common | {"fastapi, uvicorn", "sqlalchemy", "inventory and the rest"}
    assert set(shares["orders"]) == common | {"grpc", "sqlalchemy", "httpx", "orders and the rest"}
    assert set(shares["gateway"]) == common | {"grpc", "fastapi, uvicorn", "gateway and the rest"}
    for service, mib in footprint["rss_mib"].items():
        assert all(share >= 0 for share in shares[service].values())
        # The shares add up to the service as it starts: its entry module and the exporter it loads then.
        assert mib - bare - 1 <= sum(shares[service].values()) <= mib - bare + 15, service
    # Before serving, every process make run starts: the manager, and each service with its exporter,
    # which is never less than its entry module alone.
    before = footprint["before_serving_rss_mib"]
    assert set(before) == {"gateway", "orders", "inventory", "tools.mesh"} == set(STARTS_WITH)
    assert before["tools.mesh"] > bare
    for service, mib in footprint["rss_mib"].items():
        assert before[service] >= mib - 1, service


def test_a_sustained_run_counts_short_traces_and_traces_never_received_as_lost_spans() -> None:
    per_request = {"read": 4.0, "order": 10.0}
    # 100 reads answered and the order placed: 410 spans due. All arrived whole.
    assert reads_accounted(Completeness(101, 410, 0, 0), 100, per_request) == (410, 0)
    # Two traces short by 3 spans in all, and 2 answered reads with no trace at all (8 spans).
    assert reads_accounted(Completeness(99, 399, 3, 0), 100, per_request) == (410, 3 + 8)


def _summary_row(workload: str, mode: str, cpu: dict[str, float], spans: float) -> dict[str, Any]:
    return {
        "database": "sqlite",
        "workload": workload,
        "mode": mode,
        "cpu_ms_per_request": cpu,
        "spans_per_request": spans,
        "cost_per_span_us": 700.0 if mode == "traced" else None,
    }


def test_a_spans_budget_is_what_keeps_the_goal_share_of_the_untraced_throughput() -> None:
    rows = [
        _summary_row("read", "untraced", {"gateway": 1.5, "orders": 2.9}, 4),
        _summary_row("read", "traced", {"gateway": 3.0, "orders": 4.0}, 4),
        _summary_row("order", "untraced", {"gateway": 2.0, "orders": 10.0, "inventory": 6.0}, 10),
        _summary_row("order", "traced", {"gateway": 3.6, "orders": 12.5, "inventory": 8.0}, 10),
        _summary_row("read", "sampled 1%", {"gateway": 1.6, "orders": 3.0}, 4),
    ]
    budgets = {b["workload"]: b for b in span_budgets(rows)}
    assert set(budgets) == {"read", "order"}  # traced rows only
    # 4.4 ms untraced; kept at 0.85 when a read takes 4.4 / 0.85 ms: 776 µs more, over 4 spans.
    assert budgets["read"]["budget_us"] == pytest.approx(4400 * (1 / 0.85 - 1) / 4)
    assert budgets["read"]["budget_us"] == pytest.approx(194.1, abs=0.1)
    # 18 ms untraced, kept at 0.90: 2,000 µs more over 10 spans.
    assert budgets["order"]["budget_us"] == pytest.approx(200.0)
    assert budgets["order"]["keep"] == 0.90
    assert budgets["order"]["cost_per_span_us"] == 700.0


def _run(mode: str, round_: int, rps: float) -> Run:
    return Run("sqlite", mode, "read", round_, rps, 10.0, 20.0, 100, 0, {}, {}, {}, 0.0, 0.0)


def test_ratios_pair_each_round_with_the_untraced_run_of_that_round() -> None:
    # The machine slows down in round 3, both modes alike. The rounds' ratios are 0.8, 0.9 and 0.9; the
    # ratio of the medians (400 / 500 = 0.8) would count the slowdown of round 3 against tracing.
    base = [_run("untraced", 1, 500), _run("untraced", 2, 510), _run("untraced", 3, 400)]
    chosen = [_run("traced", 1, 400), _run("traced", 2, 459), _run("traced", 3, 360)]
    assert paired_ratio(chosen, base, "rps") == pytest.approx(0.9)
    assert paired_ratio(chosen, base, "p99_ms") == pytest.approx(1.0)


def _steady(mode: str, round_: int, gateway_ms: float, orders_ms: float) -> SteadyRun:
    report = VegetaReport(
        1000, 100.0, 100.0, 5.0, 9.0, 20.0, unanswered=0, failed=1 if mode == "traced" else 0
    )
    return SteadyRun(mode, "read", round_, 100.0, report, {"gateway": gateway_ms, "orders": orders_ms})


def test_steady_costs_pair_each_round_with_its_untraced_run() -> None:
    # Round 2 runs on a slower machine, both modes alike; round 3's traced run is disturbed. Tracing adds
    # 0.3 ms to the gateway and 0.5 to orders in two rounds of three, which the difference of the medians
    # (7.0 - 5.0 ms in all) would not say.
    runs = [
        _steady("untraced", 1, 1.0, 3.0),
        _steady("traced", 1, 1.3, 3.5),
        _steady("untraced", 2, 3.0, 5.0),
        _steady("traced", 2, 3.3, 5.5),
        _steady("untraced", 3, 1.5, 3.5),
        _steady("traced", 3, 2.5, 4.5),
    ]
    untraced, traced = summarise_steady(runs)
    assert (untraced["mode"], untraced["added_us"], untraced["cpu_ratio"]) == ("untraced", 0, 1)
    assert traced["mode"] == "traced"
    assert traced["cpu_ms_per_request"] == pytest.approx(7.0)  # the median of 4.8, 8.8 and 7.0
    assert traced["added_us"] == pytest.approx(800)
    assert traced["added_us_by_service"] == {"gateway": pytest.approx(300), "orders": pytest.approx(500)}
    assert traced["cpu_ratio"] == pytest.approx(1.2)  # the median of 4.8 / 4, 8.8 / 8 and 7 / 5
    assert traced["failed"] == 3


def test_a_constant_rate_attack_posts_its_json_body(tmp_path: Path) -> None:
    """The steady runs place orders with vegeta: each request carries the body and its content type."""
    vegeta = require_go_tools() / "vegeta"
    received: list[tuple[str, str | None, bytes]] = []

    class Recording(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, self.headers["Content-Type"], body))
            self.send_response(201)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Recording)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        body = json.dumps({"sku": "STICKER-3", "quantity": 1})
        url = f"http://127.0.0.1:{server.server_port}/orders"
        report = attack(str(vegeta), url, 20, 1, tmp_path, "POST", body)
    finally:
        server.shutdown()
    assert report.requests == 20
    assert (report.failed, report.unanswered) == (0, 0)
    assert received == [("/orders", "application/json", body.encode())] * 20
