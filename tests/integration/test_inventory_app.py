"""inventory served on a real port, its spans caught in memory: server, business and database spans."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from inventory.app import create_app
from inventory.settings import InventorySettings
from tests.integration.spans import by_kind, children_of, db_spans, one, only_the_trace_of
from tests.support import migrate, serve_app
from tracemesh_common.tracing import Telemetry


@pytest.fixture
def inventory_url(database_url: str, make_telemetry: Callable[[str], Telemetry]) -> Iterator[str]:
    migrate("inventory", database_url)
    app = create_app(InventorySettings(database_url=database_url), make_telemetry("inventory"))
    with serve_app(app) as url:
        yield url


def reserve(url: str, reservation_id: str, sku: str, quantity: int) -> httpx.Response:
    body = {"reservation_id": reservation_id, "sku": sku, "quantity": quantity}
    return httpx.post(f"{url}/reservations", json=body)


def test_products_are_seeded_and_listed_with_a_db_span(
    inventory_url: str, span_exporter: InMemorySpanExporter
) -> None:
    response = httpx.get(f"{inventory_url}/products")
    assert response.status_code == 200
    assert {"BOOK-001", "LAMP-9"} <= {product["sku"] for product in response.json()}
    spans = span_exporter.get_finished_spans()
    server = one(by_kind(spans, SpanKind.SERVER))
    assert server.name == "GET /products"
    (select,) = db_spans(spans)
    assert select.kind == SpanKind.CLIENT
    assert select.parent is not None
    assert select.parent.span_id == server.context.span_id
    assert "SELECT" in str(select.attributes["db.statement"])


def test_a_reservation_shows_the_business_step_between_http_and_sql(
    inventory_url: str, span_exporter: InMemorySpanExporter
) -> None:
    response = reserve(inventory_url, "order-1", "MUG-042", 3)
    assert response.status_code == 201
    assert response.json()["remaining_stock"] == 37
    spans = span_exporter.get_finished_spans()
    server = one(by_kind(spans, SpanKind.SERVER))
    step = one(children_of(server, spans))
    assert (step.name, step.kind) == ("reserve stock", SpanKind.INTERNAL)
    assert step.attributes is not None
    assert step.attributes["tracemesh.sku"] == "MUG-042"
    assert step.attributes["tracemesh.reservation.outcome"] == "reserved"
    statements = children_of(step, spans)
    assert [span.name.split()[0] for span in statements] == ["UPDATE", "INSERT"]
    assert all(
        span.attributes and span.attributes["db.system"] in {"sqlite", "postgresql"} for span in statements
    )
    # Parameters are never recorded: the statement carries placeholders, not the sku.
    assert all(
        "MUG-042" not in str(span.attributes and span.attributes["db.statement"]) for span in statements
    )


@pytest.mark.parametrize(
    ("sku", "quantity", "status", "code"),
    [("LAMP-9", 6, 409, "insufficient_stock"), ("NOPE", 1, 404, "unknown_sku")],
)
def test_refusals_are_answers_not_errors(
    inventory_url: str, span_exporter: InMemorySpanExporter, sku: str, quantity: int, status: int, code: str
) -> None:
    response = reserve(inventory_url, "order-2", sku, quantity)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    spans = span_exporter.get_finished_spans()
    server = one(by_kind(spans, SpanKind.SERVER))
    step = one([span for span in spans if span.name == "reserve stock"])
    # A 4xx is the caller's problem: neither the server span nor the business span is an ERROR.
    assert server.status.status_code == StatusCode.UNSET
    assert step.status.status_code == StatusCode.UNSET
    assert step.attributes is not None
    assert step.attributes["tracemesh.reservation.outcome"] == code
    assert response.json()["error"]["trace_id"] == format(server.context.trace_id, "032x")


def test_a_replayed_reservation_takes_stock_once(inventory_url: str) -> None:
    first = reserve(inventory_url, "order-3", "SHIRT-7", 2)
    again = reserve(inventory_url, "order-3", "SHIRT-7", 2)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json()
    stock = httpx.get(f"{inventory_url}/products/SHIRT-7").json()["stock"]
    assert stock == 23
    assert reserve(inventory_url, "order-3", "SHIRT-7", 5).status_code == 409


def test_invalid_bodies_get_tracemeshs_error_body(inventory_url: str) -> None:
    zero = reserve(inventory_url, "order-4", "LAMP-9", 0)
    assert zero.status_code == 422
    # The answer names the one field at fault, and why, in the error body every service answers with.
    error = zero.json()["error"]
    assert error["code"] == "invalid_request"
    (problem,) = error["fields"]
    assert problem["field"] == "body.quantity"
    assert "greater than or equal to 1" in problem["problem"]
    assert len(error["trace_id"]) == 32
    undeclared = httpx.post(f"{inventory_url}/reservations", content=b"{")
    assert undeclared.status_code == 422
    # Without Content-Type: application/json the body is not read as JSON at all, so it is not an object.
    assert [p["field"] for p in undeclared.json()["error"]["fields"]] == ["body"]
    malformed = httpx.post(
        f"{inventory_url}/reservations", content=b"{", headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 400
    assert malformed.json()["error"]["code"] == "malformed_json"
    # Nothing was taken or recorded: the stock is whole, and the id is still free.
    assert httpx.get(f"{inventory_url}/products/LAMP-9").json()["stock"] == 5
    assert reserve(inventory_url, "order-4", "LAMP-9", 1).status_code == 201


async def test_concurrent_reservations_never_oversell(inventory_url: str) -> None:
    async with httpx.AsyncClient(base_url=inventory_url, timeout=30) as client:
        responses = await asyncio.gather(
            *(
                client.post(
                    "/reservations", json={"reservation_id": f"c-{i}", "sku": "LAMP-9", "quantity": 1}
                )
                for i in range(25)
            )
        )
        statuses = sorted(response.status_code for response in responses)
        stock = (await client.get("/products/LAMP-9")).json()["stock"]
    assert statuses == [201] * 5 + [409] * 20
    assert stock == 0
    reserved = [response.json() for response in responses if response.status_code == 201]
    refused = [response.json()["error"] for response in responses if response.status_code == 409]
    # Each of the five took one unit in turn: the stock each left behind is 4, 3, 2, 1, 0 in some order.
    assert sorted(r["remaining_stock"] for r in reserved) == [0, 1, 2, 3, 4]
    assert all((r["sku"], r["quantity"]) == ("LAMP-9", 1) for r in reserved)
    assert len({r["reservation_id"] for r in reserved}) == 5
    # Every refusal says why, in the documented shape, with its own trace.
    assert {error["code"] for error in refused} == {"insufficient_stock"}
    assert all(error["message"] == "1 of 'LAMP-9' requested, 0 in stock" for error in refused)
    assert len({error["trace_id"] for error in refused}) == 20
    assert all(re.fullmatch(r"[0-9a-f]{32}", error["trace_id"]) for error in refused)


def test_health_checks_are_not_traced(inventory_url: str, span_exporter: InMemorySpanExporter) -> None:
    assert httpx.get(f"{inventory_url}/healthz").status_code == 200
    assert httpx.get(f"{inventory_url}/readyz").status_code == 200
    httpx.get(f"{inventory_url}/products")
    only_the_trace_of(span_exporter, "GET /products")
