"""Requests through the real mesh, asserted on the spans that reached the receiver over OTLP/gRPC."""

from __future__ import annotations

import asyncio
import secrets

import grpc
import httpx

from devrun.mesh import Mesh
from tracemesh.orders.v1 import orders_pb2, orders_pb2_grpc
from waterfall import ReceivedSpan

CALLER_SPAN_ID = "00f067aa0ba902b7"


def new_trace_id() -> str:
    return secrets.token_hex(16)


def traceresponse_id(response: httpx.Response) -> str:
    return response.headers["traceresponse"].split("-")[1]


def services(spans: list[ReceivedSpan]) -> set[str]:
    return {span.service for span in spans}


def has_db_spans_from_both(spans: list[ReceivedSpan]) -> bool:
    return {span.service for span in spans if "db.system" in span.attributes} == {"orders", "inventory"}


def place_order(mesh: Mesh, headers: dict[str, str], sku: str = "BOOK-001") -> httpx.Response:
    return httpx.post(
        f"{mesh.gateway_url}/orders", json={"sku": sku, "quantity": 1}, headers=headers, timeout=10
    )


def test_a_request_with_traceparent_is_one_trace_through_three_services_and_two_databases(mesh: Mesh) -> None:
    trace_id = new_trace_id()
    response = place_order(mesh, {"traceparent": f"00-{trace_id}-{CALLER_SPAN_ID}-01"})
    assert response.status_code == 201
    assert traceresponse_id(response) == trace_id

    spans = mesh.trace(
        trace_id,
        lambda spans: (
            services(spans) == {"gateway", "orders", "inventory"}
            and has_db_spans_from_both(spans)
            and len(spans) >= 10
        ),
    )
    assert services(spans) == {"gateway", "orders", "inventory"}
    assert has_db_spans_from_both(spans)
    ids = {span.span_id for span in spans}
    # No orphan: every span's parent is in the trace, or is the caller's span.
    assert all(span.parent_span_id in ids or span.parent_span_id == CALLER_SPAN_ID for span in spans)
    (root,) = [span for span in spans if span.parent_span_id == CALLER_SPAN_ID]
    assert (root.service, root.kind, root.name) == ("gateway", "SERVER", "POST /orders")
    kinds = {(span.service, span.kind) for span in spans}
    assert {
        ("gateway", "CLIENT"),
        ("orders", "SERVER"),
        ("orders", "CLIENT"),
        ("inventory", "SERVER"),
    } <= kinds
    assert any(span.name == "reserve stock" and span.service == "inventory" for span in spans)
    resource = root.resource
    assert resource["service.version"]
    assert resource["deployment.environment.name"]


def test_tracestate_travels_with_the_trace_to_every_service(mesh: Mesh) -> None:
    trace_id = new_trace_id()
    headers = {"traceparent": f"00-{trace_id}-{CALLER_SPAN_ID}-01", "tracestate": "acme=t61rcWkgMzE,other=1"}
    assert place_order(mesh, headers).status_code == 201
    spans = mesh.trace(trace_id, lambda spans: services(spans) == {"gateway", "orders", "inventory"})
    assert {span.trace_state for span in spans} == {"acme=t61rcWkgMzE,other=1"}


def test_a_legacy_x_trace_id_at_the_gateway_is_one_trace_through_three_services(mesh: Mesh) -> None:
    trace_id = new_trace_id()
    response = place_order(mesh, {"X-Trace-ID": trace_id})
    assert response.status_code == 201
    assert traceresponse_id(response) == trace_id
    spans = mesh.trace(trace_id, lambda spans: services(spans) == {"gateway", "orders", "inventory"})
    assert services(spans) == {"gateway", "orders", "inventory"}


def test_each_service_adopts_a_legacy_x_trace_id_sent_to_it_alone(mesh: Mesh) -> None:
    """Past the gateway a call carries traceparent too, so the test above shows only the gateway reading
    X-Trace-ID. Here orders and inventory each get a call with X-Trace-ID and nothing else."""
    to_orders, to_inventory = new_trace_id(), new_trace_id()
    with grpc.insecure_channel(mesh.env["gateway"]["GATEWAY_ORDERS_ADDRESS"]) as channel:
        orders = orders_pb2_grpc.OrderServiceStub(channel)
        orders.ListProducts(
            orders_pb2.ListProductsRequest(), metadata=[("x-trace-id", to_orders)], timeout=10
        )
    products = httpx.get(f"{mesh.inventory_url}/products", headers={"X-Trace-ID": to_inventory}, timeout=10)
    assert products.status_code == 200

    def servers(spans: list[ReceivedSpan]) -> set[str]:
        return {span.service for span in spans if span.kind == "SERVER"}

    spans_of = {
        "orders": mesh.trace(to_orders, lambda spans: servers(spans) == {"orders", "inventory"}),
        "inventory": mesh.trace(to_inventory, lambda spans: servers(spans) == {"inventory"}),
    }
    # orders continued the caller's trace, and carried it on to inventory.
    assert servers(spans_of["orders"]) == {"orders", "inventory"}
    assert servers(spans_of["inventory"]) == {"inventory"}
    # The header names no parent: each server span hangs off a remote one outside the trace.
    for service, spans in spans_of.items():
        (server,) = [span for span in spans if span.kind == "SERVER" and span.service == service]
        assert server.parent_span_id is not None
        assert server.parent_span_id not in {span.span_id for span in spans}


def test_a_malformed_traceparent_starts_a_new_trace_and_the_request_succeeds(mesh: Mesh) -> None:
    bad = new_trace_id()
    response = place_order(mesh, {"traceparent": f"00-{bad}-zzzz-01"})
    assert response.status_code == 201
    fresh = traceresponse_id(response)
    assert fresh != bad
    spans = mesh.trace(fresh, lambda spans: services(spans) == {"gateway", "orders", "inventory"})
    assert services(spans) == {"gateway", "orders", "inventory"}
    assert mesh.store.trace(bad) == []


def test_baggage_set_at_the_edge_is_visible_in_inventory(mesh: Mesh) -> None:
    trace_id = new_trace_id()
    headers = {
        "traceparent": f"00-{trace_id}-{CALLER_SPAN_ID}-01",
        "baggage": "tracemesh.tenant=acme,unrelated.key=ignored",
    }
    assert place_order(mesh, headers).status_code == 201
    spans = mesh.trace(trace_id, lambda spans: services(spans) == {"gateway", "orders", "inventory"})
    inventory = [span for span in spans if span.service == "inventory"]
    assert inventory
    assert all(span.attributes.get("tracemesh.tenant") == "acme" for span in inventory)
    # Only the tracemesh.* entries are recorded; the rest travels on but never lands in a span.
    assert all("unrelated.key" not in span.attributes for span in spans)


def test_not_found_and_conflict_are_answers_with_their_trace(mesh: Mesh) -> None:
    missing = httpx.get(f"{mesh.gateway_url}/orders/does-not-exist", timeout=10)
    assert missing.status_code == 404
    assert missing.json()["error"]["trace_id"] == traceresponse_id(missing)

    trace_id = new_trace_id()
    too_many = httpx.post(
        f"{mesh.gateway_url}/orders",
        json={"sku": "LAMP-9", "quantity": 1000},
        headers={"traceparent": f"00-{trace_id}-{CALLER_SPAN_ID}-01"},
        timeout=10,
    )
    assert too_many.status_code == 409
    assert too_many.json()["error"] == {
        "code": "insufficient_stock",
        "message": too_many.json()["error"]["message"],
        "trace_id": trace_id,
    }
    spans = mesh.trace(trace_id, lambda spans: len([s for s in spans if s.kind == "SERVER"]) == 3)
    servers = [span for span in spans if span.kind == "SERVER"]
    assert {span.service for span in servers} == {"gateway", "orders", "inventory"}
    # A refusal is not a failure of any service: no server span is an error.
    assert all(span.status == "UNSET" for span in servers)


def test_concurrent_orders_never_oversell(mesh: Mesh) -> None:
    sku = "SHIRT-7"
    stock = {p["sku"]: p["stock"] for p in httpx.get(f"{mesh.gateway_url}/products", timeout=10).json()}[sku]

    async def order_all() -> list[int]:
        async with httpx.AsyncClient(base_url=mesh.gateway_url, timeout=30) as client:
            responses = await asyncio.gather(
                *(client.post("/orders", json={"sku": sku, "quantity": 1}) for _ in range(stock + 8))
            )
            return [response.status_code for response in responses]

    statuses = asyncio.run(order_all())
    assert statuses.count(201) == stock
    assert statuses.count(409) == 8
    left = {p["sku"]: p["stock"] for p in httpx.get(f"{mesh.gateway_url}/products", timeout=10).json()}[sku]
    assert left == 0


def test_log_lines_carry_the_trace_and_span_ids(mesh: Mesh) -> None:
    trace_id = new_trace_id()
    assert place_order(mesh, {"traceparent": f"00-{trace_id}-{CALLER_SPAN_ID}-01"}).status_code == 201
    logged: set[str] = set()
    for service in ("gateway", "orders", "inventory"):
        lines = [line for line in mesh.log(service).splitlines() if f"trace_id={trace_id}" in line]
        assert lines, f"no log line of {service} names the trace"
        logged |= {line.split("span_id=")[1][:16] for line in lines}
    # Each logged span id belongs to a span of that trace.
    spans = mesh.trace(trace_id, lambda spans: logged <= {span.span_id for span in spans})
    assert logged <= {span.span_id for span in spans}
