"""Orders and stock agree after retries and lost answers: Idempotency-Key, and pending orders settled by the
system itself (real processes, SQLite and PostgreSQL)."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from tools.mesh.processes import Mesh


@pytest.fixture(scope="module")
def mesh_env() -> dict[str, str]:
    return {
        # flaky-inventory stalls the first call of a trace for 2 s; with one 1.5 s attempt, orders gives up
        # and the order is left pending while inventory goes on to reserve.
        "GATEWAY_SCENARIOS_ENABLED": "true",
        "ORDERS_INVENTORY_ATTEMPTS": "1",
        "ORDERS_SETTLE_INTERVAL_SECONDS": "0.5",
        "ORDERS_SETTLE_AFTER_SECONDS": "3",
    }


def stock_of(mesh: Mesh, sku: str) -> int:
    products = httpx.get(f"{mesh.gateway_url}/products", timeout=10).json()
    return {product["sku"]: product["stock"] for product in products}[sku]


def order(
    mesh: Mesh, quantity: int, key: str | None, scenario: str | None = None, sku: str = "STICKER-3"
) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    if scenario:
        headers["baggage"] = f"tracemesh.scenario={scenario}"
    return httpx.post(
        f"{mesh.gateway_url}/orders", json={"sku": sku, "quantity": quantity}, headers=headers, timeout=10
    )


def test_a_repeated_request_with_the_same_idempotency_key_orders_once(mesh: Mesh) -> None:
    before = stock_of(mesh, "STICKER-3")
    key = str(uuid.uuid4())
    first, again = order(mesh, 2, key), order(mesh, 2, key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert stock_of(mesh, "STICKER-3") == before - 2

    reused = order(mesh, 3, key)
    assert reused.status_code == 409
    assert reused.json()["error"]["code"] == "idempotency_key_reused"
    assert first.json()["id"] in reused.json()["error"]["message"]

    malformed = order(mesh, 2, "not a key!")
    assert malformed.status_code == 422
    assert malformed.json()["error"]["fields"][0]["field"] == "header.Idempotency-Key"
    assert stock_of(mesh, "STICKER-3") == before - 2


def test_a_client_retry_after_a_503_finishes_the_order_it_started(mesh: Mesh) -> None:
    before = stock_of(mesh, "BOOK-001")
    key = str(uuid.uuid4())
    lost = order(mesh, 3, key, "flaky-inventory", sku="BOOK-001")
    assert lost.status_code == 503  # orders gave up waiting; inventory may still reserve
    retried = order(mesh, 3, key, sku="BOOK-001")
    assert retried.status_code == 201
    assert retried.json()["status"] == "confirmed"
    time.sleep(2.5)  # the stalled first attempt has woken and been answered from the reservation by now
    assert order(mesh, 3, key, sku="BOOK-001").json() == retried.json()
    assert stock_of(mesh, "BOOK-001") == before - 3


def test_an_order_left_pending_is_settled_by_the_sweep(mesh: Mesh) -> None:
    before = stock_of(mesh, "MUG-042")
    lost = order(mesh, 7, None, "flaky-inventory", sku="MUG-042")
    assert lost.status_code == 503
    (pending,) = [o for o in httpx.get(f"{mesh.gateway_url}/orders", timeout=10).json() if o["quantity"] == 7]
    assert pending["status"] == "pending"

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        settled = httpx.get(f"{mesh.gateway_url}/orders/{pending['id']}", timeout=10).json()
        if settled["status"] != "pending":
            break
        time.sleep(0.3)
    assert settled["status"] == "confirmed"
    assert stock_of(mesh, "MUG-042") == before - 7  # the stalled reservation and the sweep's took it once

    # The sweep's run is a trace of its own that crosses into inventory. Its root span ends after the
    # order is settled, and reaches the receiver with the next export.
    deadline = time.monotonic() + 10
    while not (roots := [s for s in mesh.store.all_spans() if s.name == "settle pending orders"]):
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert roots
    spans = mesh.trace(roots[0].trace_id, lambda spans: any(s.service == "inventory" for s in spans))
    assert roots[0].parent_span_id is None
    assert any(s.service == "inventory" and s.kind == "SERVER" for s in spans)
