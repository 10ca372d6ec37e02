"""The gRPC tools people poke a service with, against orders: grpcurl through server reflection, joining the
caller's trace in Jaeger, and grpc-health-probe, also while orders drains."""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.jaeger.backend import Jaeger
from tools.mesh.databases import sqlite_urls
from tools.mesh.processes import Mesh, start_mesh

ORDER_SERVICE = "tracemesh.orders.v1.OrderService"
CALLER_SPAN_ID = "00f067aa0ba902b7"


def orders_address(mesh: Mesh) -> str:
    return f"127.0.0.1:{mesh.env['orders']['ORDERS_PORT']}"


def grpcurl(go_bin: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [go_bin / "grpcurl", "-plaintext", *args], capture_output=True, text=True, timeout=30, check=False
    )


def probe(go_bin: Path, address: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [go_bin / "grpc-health-probe", f"-addr={address}", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_grpcurl_lists_orders_services_and_methods(go_bin: Path, sqlite_mesh: Mesh) -> None:
    listed = grpcurl(go_bin, orders_address(sqlite_mesh), "list")
    assert listed.returncode == 0, listed.stderr
    assert {ORDER_SERVICE, "grpc.health.v1.Health"} <= set(listed.stdout.split())
    methods = grpcurl(go_bin, orders_address(sqlite_mesh), "list", ORDER_SERVICE)
    assert methods.returncode == 0, methods.stderr
    assert set(methods.stdout.split()) == {
        f"{ORDER_SERVICE}.{name}" for name in ("CreateOrder", "GetOrder", "ListOrders", "ListProducts")
    }
    described = grpcurl(go_bin, orders_address(sqlite_mesh), "describe", "tracemesh.orders.v1.Order")
    assert described.returncode == 0, described.stderr
    assert "string id = 1;" in described.stdout


def test_a_grpcurl_call_with_a_traceparent_joins_the_callers_trace(
    go_bin: Path, jaeger: Jaeger, sqlite_mesh: Mesh
) -> None:
    placed = httpx.post(
        f"{sqlite_mesh.gateway_url}/orders", json={"sku": "BOOK-001", "quantity": 1}, timeout=15
    )
    assert placed.status_code == 201
    order_id = placed.json()["id"]

    trace_id = secrets.token_hex(16)
    called = grpcurl(
        go_bin,
        "-H",
        f"traceparent: 00-{trace_id}-{CALLER_SPAN_ID}-01",
        "-d",
        json.dumps({"id": order_id}),
        orders_address(sqlite_mesh),
        f"{ORDER_SERVICE}/GetOrder",
    )
    assert called.returncode == 0, called.stderr
    answer = json.loads(called.stdout)
    assert (answer["id"], answer["sku"], answer["status"]) == (order_id, "BOOK-001", "ORDER_STATUS_CONFIRMED")

    trace = jaeger.wait_for(trace_id, lambda t: any(s.kind == "server" for s in t.spans))
    # orders' server span is the child of the caller's span; its query under it. grpcurl's reflection
    # calls, made with the same metadata, are not traced (services/telemetry: not calls worth a trace).
    (server,) = [s for s in trace.spans if s.kind == "server"]
    assert (server.service, server.name, server.parent_id) == (
        "orders",
        f"/{ORDER_SERVICE}/GetOrder",
        CALLER_SPAN_ID,
    )
    assert [s.name.split()[0] for s in trace.children(server)] == ["SELECT"]
    assert {s.service for s in trace.spans} == {"orders"}
    assert not any("reflection" in s.name for s in trace.spans)


def test_grpc_health_probe_sees_orders_serving(go_bin: Path, sqlite_mesh: Mesh) -> None:
    for service in ("", ORDER_SERVICE):
        probed = probe(go_bin, orders_address(sqlite_mesh), f"-service={service}")
        assert probed.returncode == 0, probed.stderr
        assert probed.stderr.strip() == "status: SERVING"  # grpc-health-probe writes to stderr


@pytest.mark.timeout(120)
def test_grpc_health_probe_sees_not_serving_while_orders_drains(
    go_bin: Path, jaeger: Jaeger, tmp_path: Path
) -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": jaeger.otlp_grpc, "ORDERS_DRAIN_SECONDS": "4"}
    mesh = start_mesh(tmp_path, *sqlite_urls(tmp_path), env, receive=False)
    try:
        address = orders_address(mesh)
        assert probe(go_bin, address).returncode == 0
        mesh.processes["orders"].send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 3
        while (probed := probe(go_bin, address)).returncode == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        # grpc-health-probe's exit code 4: the call worked, and the answer was not SERVING.
        assert probed.returncode == 4, probed.stderr
        assert "NOT_SERVING" in probed.stderr
        # Draining, not stopped: orders still takes the calls that come meanwhile.
        response = httpx.post(
            f"{mesh.gateway_url}/orders", json={"sku": "BOOK-001", "quantity": 1}, timeout=15
        )
        assert response.status_code == 201
        assert mesh.processes["orders"].poll() is None
        assert mesh.stop("orders") == 0
    finally:
        mesh.stop_all_now()
