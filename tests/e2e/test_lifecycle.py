"""Meshes of their own, because these tests stop services: outages, SIGTERM, and tracing switched off."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tools.mesh.databases import sqlite_urls
from tools.mesh.processes import Mesh, start_mesh


@pytest.fixture
def own_mesh(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Mesh]:
    extra_env = getattr(request, "param", None)
    mesh = start_mesh(tmp_path, *sqlite_urls(tmp_path), extra_env=extra_env)
    yield mesh
    mesh.stop_all_now()


def order(mesh: Mesh, trace_id: str) -> httpx.Response:
    return httpx.post(
        f"{mesh.gateway_url}/orders",
        json={"sku": "BOOK-001", "quantity": 1},
        headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"},
        timeout=15,
    )


def test_a_service_down_is_503_with_the_error_where_it_happened(own_mesh: Mesh) -> None:
    assert own_mesh.stop("inventory") == 0
    trace_id = secrets.token_hex(16)
    response = order(own_mesh, trace_id)
    assert response.status_code == 503
    assert response.json()["error"]["trace_id"] == trace_id
    spans = own_mesh.trace(
        trace_id,
        # orders' server span ends last in orders: once it is here, the rest of orders' spans are too.
        lambda spans: {(s.service, s.kind) for s in spans} >= {("gateway", "SERVER"), ("orders", "SERVER")},
    )
    failed_calls = [s for s in spans if s.service == "orders" and s.kind == "CLIENT" and s.status == "ERROR"]
    assert failed_calls
    assert all("exception" in span.events for span in failed_calls)
    statuses = {(s.service, s.kind): s.status for s in spans if s.kind == "SERVER"}
    assert statuses == {("orders", "SERVER"): "ERROR", ("gateway", "SERVER"): "ERROR"}

    assert own_mesh.stop("orders") == 0
    assert httpx.get(f"{own_mesh.gateway_url}/readyz", timeout=10).status_code == 503
    assert httpx.get(f"{own_mesh.gateway_url}/healthz", timeout=10).status_code == 200
    down = httpx.get(f"{own_mesh.gateway_url}/orders", timeout=15)
    assert down.status_code == 503
    assert down.json()["error"]["code"] == "unavailable"


@pytest.mark.parametrize("own_mesh", [{"OTEL_BSP_SCHEDULE_DELAY": "600000"}], indirect=True)
def test_sigterm_flushes_every_queued_span(own_mesh: Mesh) -> None:
    trace_id = secrets.token_hex(16)
    assert order(own_mesh, trace_id).status_code == 201
    # The batch processor would wait ten minutes to export; nothing has left any process yet.
    assert own_mesh.store.trace(trace_id) == []
    codes = {service: own_mesh.stop(service) for service in ("gateway", "orders", "inventory")}
    assert codes == {"gateway": 0, "orders": 0, "inventory": 0}
    # Every span of the order, not some: nothing may be left in a queue when a process exits.
    spans = own_mesh.store.trace(trace_id)
    received = sorted((span.service, span.kind, span.name.split()[0]) for span in spans)
    assert received == sorted(
        [
            ("gateway", "SERVER", "POST"),
            ("gateway", "CLIENT", "/tracemesh.orders.v1.OrderService/CreateOrder"),
            ("orders", "SERVER", "/tracemesh.orders.v1.OrderService/CreateOrder"),
            ("orders", "CLIENT", "INSERT"),
            ("orders", "CLIENT", "POST"),
            ("orders", "CLIENT", "UPDATE"),
            ("inventory", "SERVER", "POST"),
            ("inventory", "INTERNAL", "reserve"),
            ("inventory", "CLIENT", "UPDATE"),
            ("inventory", "CLIENT", "INSERT"),
        ]
    )


@pytest.mark.parametrize("own_mesh", [{"OTEL_SDK_DISABLED": "true"}], indirect=True)
def test_sdk_disabled_serves_the_same_api_with_no_spans(own_mesh: Mesh) -> None:
    response = order(own_mesh, secrets.token_hex(16))
    assert response.status_code == 201
    assert "traceresponse" not in response.headers
    missing = httpx.get(f"{own_mesh.gateway_url}/orders/nope", timeout=10)
    assert missing.status_code == 404
    assert missing.json()["error"]["trace_id"] is None
    own_mesh.stop_all()
    assert own_mesh.store.all_spans() == []
