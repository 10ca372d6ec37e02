"""The benchmark's own arithmetic: reading wrk's report, telling whole traces from broken ones, and
finding every process `make run` started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from tools.bench.counting import SpanCounter
from tools.bench.footprint import process_tree
from tools.bench.load import parse

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
