"""Each demo scenario, asked for with baggage, gives its trace the shape it promises; without it, none."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tools.mesh.processes import Mesh
from tools.mesh.waterfall import ReceivedSpan

THREE = {"gateway", "orders", "inventory"}


@pytest.fixture(scope="module")
def mesh_env() -> dict[str, str]:
    return {"GATEWAY_SCENARIOS_ENABLED": "true"}


def scenario(name: str) -> dict[str, str]:
    return {"baggage": f"tracemesh.scenario={name}"}


def order(
    mesh: Mesh, headers: dict[str, str] | None = None, sku: str = "STICKER-3"
) -> tuple[httpx.Response, str]:
    response = httpx.post(
        f"{mesh.gateway_url}/orders", json={"sku": sku, "quantity": 1}, headers=headers, timeout=10
    )
    return response, response.headers["traceresponse"].split("-")[1]


def whole(mesh: Mesh, trace_id: str) -> list[ReceivedSpan]:
    """The trace once every service's server span, inventory's reservation and its SQL have arrived (each
    process exports on its own schedule)."""
    return mesh.trace(
        trace_id,
        lambda spans: (
            {s.service for s in spans if s.kind == "SERVER"} == THREE
            and any(s.name == "reserve stock" for s in spans)
            and any(
                s.service == "inventory" and s.attributes.get("db.statement", "").startswith("UPDATE")
                for s in spans
            )
            and {s.service for s in spans} == THREE
        ),
    )


def db_spans(spans: list[ReceivedSpan], service: str) -> list[ReceivedSpan]:
    return [span for span in spans if span.service == service and "db.system" in span.attributes]


def stock_update(spans: list[ReceivedSpan]) -> ReceivedSpan:
    (update,) = [s for s in db_spans(spans, "inventory") if s.attributes["db.statement"].startswith("UPDATE")]
    return update


def stock_of(mesh: Mesh, sku: str) -> int:
    products = httpx.get(f"{mesh.gateway_url}/products", timeout=10).json()
    return {product["sku"]: product["stock"] for product in products}[sku]


def test_every_span_of_a_scenario_request_is_tagged_with_it(mesh: Mesh) -> None:
    response, trace_id = order(mesh, scenario("contention"))
    assert response.status_code == 201
    spans = whole(mesh, trace_id)
    assert {span.attributes.get("tracemesh.scenario") for span in spans} == {"contention"}


def test_slow_query_makes_the_stock_lookup_the_long_bar(mesh: Mesh) -> None:
    response, trace_id = order(mesh, scenario("slow-query"))
    assert response.status_code == 201
    spans = whole(mesh, trace_id)
    update = stock_update(spans)
    (root,) = [s for s in spans if s.service == "gateway" and s.kind == "SERVER"]
    # The database itself is slow: the statement's own span takes most of the request.
    assert update.duration_ms >= 100
    assert update.duration_ms >= 0.5 * root.duration_ms
    assert "WITH RECURSIVE" in update.attributes["db.statement"]
    longest = max(db_spans(spans, "inventory") + db_spans(spans, "orders"), key=lambda s: s.duration_ms)
    assert longest == update

    plain = stock_update(whole(mesh, order(mesh)[1]))
    assert "WITH RECURSIVE" not in plain.attributes["db.statement"]
    assert plain.duration_ms < update.duration_ms


def test_n_plus_one_lists_orders_one_query_at_a_time(mesh: Mesh) -> None:
    for _ in range(12):
        assert order(mesh)[0].status_code == 201

    def listing(headers: dict[str, str] | None) -> list[ReceivedSpan]:
        response = httpx.get(f"{mesh.gateway_url}/orders", params={"limit": 10}, headers=headers, timeout=10)
        assert response.status_code == 200
        assert len(response.json()) == 10
        trace_id = response.headers["traceresponse"].split("-")[1]
        spans = mesh.trace(
            trace_id, lambda spans: any(s.service == "orders" and s.kind == "SERVER" for s in spans)
        )
        return db_spans(spans, "orders")

    n_plus_one = listing(scenario("n-plus-one"))
    assert len(n_plus_one) == 1 + 10
    assert len({span.parent_span_id for span in n_plus_one}) == 1  # siblings, under orders' server span
    assert len(listing(None)) == 1


def test_flaky_inventory_is_retried_and_the_order_still_takes_stock_once(mesh: Mesh) -> None:
    before = stock_of(mesh, "BOOK-001")
    response, trace_id = order(mesh, scenario("flaky-inventory"), sku="BOOK-001")
    assert response.status_code == 201
    assert response.json()["status"] == "confirmed"

    def attempts(spans: list[ReceivedSpan]) -> list[ReceivedSpan]:
        return sorted(
            (s for s in spans if s.service == "orders" and s.kind == "CLIENT" and "POST" in s.name),
            key=lambda s: s.start_ns,
        )

    # The stalled first call ends late (after its caller gave up): wait for both of inventory's server spans
    # and both reservations: the late call still reaches inventory's handler, and is answered from the
    # reservation the retry made.
    spans = mesh.trace(
        trace_id,
        lambda spans: (
            len(attempts(spans)) == 2
            and len([s for s in spans if s.service == "inventory" and s.kind == "SERVER"]) == 2
            and len([s for s in spans if s.name == "reserve stock"]) == 2
        ),
        timeout=20,
    )
    reservations = [s for s in spans if s.name == "reserve stock"]
    assert len(reservations) == 2
    assert {s.attributes["tracemesh.reservation.outcome"] for s in reservations} == {"reserved"}
    first, retry = attempts(spans)
    assert first.parent_span_id == retry.parent_span_id  # siblings under orders' CreateOrder span
    assert first.status == "ERROR"
    assert "exception" in first.events  # the timeout, recorded where it happened
    assert retry.status != "ERROR"
    assert retry.start_ns > first.end_ns  # after the timeout and a backoff
    stalled = [s for s in spans if s.service == "inventory" and "tracemesh.scenario.stall" in s.events]
    assert len(stalled) == 1
    # The late first attempt and the retry share the order's reservation id: stock was taken once.
    assert stock_of(mesh, "BOOK-001") == before - 1

    # Without the scenario: one attempt (waiting for orders' server span, which ends after its attempts).
    plain_id = order(mesh, sku="BOOK-001")[1]
    plain = mesh.trace(
        plain_id, lambda spans: any(s.service == "orders" and s.kind == "SERVER" for s in spans)
    )
    assert len(attempts(plain)) == 1


def test_contention_shows_concurrent_requests_waiting_for_one_lock(mesh: Mesh) -> None:
    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(
            base_url=mesh.gateway_url, timeout=30, headers=scenario("contention")
        ) as client:
            return await asyncio.gather(
                *(client.post("/orders", json={"sku": "STICKER-3", "quantity": 1}) for _ in range(6))
            )

    responses = asyncio.run(burst())
    assert [r.status_code for r in responses] == [201] * 6
    waits: list[ReceivedSpan] = []
    holds: list[ReceivedSpan] = []
    for response in responses:
        spans = whole(mesh, response.headers["traceresponse"].split("-")[1])
        (wait,) = [s for s in spans if s.name == "wait for stock ledger lock"]
        (reserve,) = [s for s in spans if s.name == "reserve stock"]
        assert wait.parent_span_id == reserve.span_id
        waits.append(wait)
        holds.append(stock_update(spans))
    # Someone queued: a wait that covers another trace's work under the lock.
    assert any(
        wait.start_ns <= hold.start_ns and hold.end_ns <= wait.end_ns
        for wait in waits
        for hold in holds
        if hold.trace_id != wait.trace_id
    )
    assert max(wait.duration_ms for wait in waits) >= min(hold.duration_ms for hold in holds)

    plain = whole(mesh, order(mesh)[1])
    assert not [s for s in plain if s.name == "wait for stock ledger lock"]


def test_an_unknown_scenario_changes_nothing_and_is_not_echoed(mesh: Mesh) -> None:
    response, trace_id = order(mesh, {"baggage": "tracemesh.scenario=drop-tables,tracemesh.tenant=acme"})
    assert response.status_code == 201
    spans = whole(mesh, trace_id)
    assert all("tracemesh.scenario" not in span.attributes for span in spans)
    # The rest of the caller's baggage travels on.
    assert all(span.attributes.get("tracemesh.tenant") == "acme" for span in spans)
    assert "WITH RECURSIVE" not in stock_update(spans).attributes["db.statement"]
    assert all("drop-tables" not in mesh.log(service) for service in THREE)
