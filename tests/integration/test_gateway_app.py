"""The gateway in front of real orders and inventory: the public contract, and one trace across all three."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from gateway.app import create_app
from gateway.settings import GatewaySettings
from tests.integration.spans import by_kind, one, only_the_trace_of, service_of, wait_for
from tests.support import free_port, serve_app
from tracemesh_common.tracing import Telemetry


@pytest.fixture
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """inventory on SQLite only here: the chain runs on PostgreSQL in the end-to-end tests."""
    return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('inventory')}/inventory.db"


def trace_id_of(response: httpx.Response) -> str:
    """The trace id from the W3C `traceresponse` header: version-traceid-spanid-flags."""
    version, trace_id, span_id, flags = response.headers["traceresponse"].split("-")
    assert (version, len(span_id), len(flags)) == ("00", 16, 2)
    return trace_id


def gateway_spans(exporter: InMemorySpanExporter) -> list:
    return [span for span in exporter.get_finished_spans() if service_of(span) == "gateway"]


def test_an_order_is_one_trace_across_the_three_services(
    gateway_url: str, span_exporter: InMemorySpanExporter
) -> None:
    response = httpx.post(f"{gateway_url}/orders", json={"sku": "BOOK-001", "quantity": 1})
    assert response.status_code == 201
    order = response.json()
    assert {"id", "sku", "quantity", "status", "created_at"} <= order.keys()
    assert order["status"] == "confirmed"
    trace_id = trace_id_of(response)
    spans = wait_for(span_exporter, lambda spans: len({service_of(s) for s in spans}) == 3)
    assert {format(span.context.trace_id, "032x") for span in spans} == {trace_id}
    assert {service_of(span) for span in spans} == {"gateway", "orders", "inventory"}
    # FastAPI's built-in telemetry is off: exactly one HTTP server span for the request, not two.
    server = one([span for span in by_kind(spans, SpanKind.SERVER) if service_of(span) == "gateway"])
    assert server.name == "POST /orders"
    assert server.attributes is not None
    assert server.attributes["http.route"] == "/orders"


def test_reads_go_through_orders(gateway_url: str) -> None:
    created = httpx.post(f"{gateway_url}/orders", json={"sku": "MUG-042", "quantity": 2}).json()
    assert httpx.get(f"{gateway_url}/orders/{created['id']}").json() == created
    assert httpx.get(f"{gateway_url}/orders", params={"limit": 1}).json() == [created]
    products = {product["sku"]: product for product in httpx.get(f"{gateway_url}/products").json()}
    assert products["MUG-042"] == {"sku": "MUG-042", "name": "Span Mug", "stock": 38}


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("GET", "/orders/no-such-order", None, 404, "order_not_found"),
        ("POST", "/orders", {"sku": "NOPE", "quantity": 1}, 404, "unknown_sku"),
        ("POST", "/orders", {"sku": "LAMP-9", "quantity": 6}, 409, "insufficient_stock"),
        ("POST", "/orders", {"sku": "LAMP-9", "quantity": 0}, 422, "invalid_request"),
        ("POST", "/orders", {"sku": "LAMP-9"}, 422, "invalid_request"),
        ("POST", "/orders", {"sku": "LAMP-9", "quantity": 1, "extra": 1}, 422, "invalid_request"),
        ("POST", "/orders", b'{"sku": "LAMP-9",', 400, "malformed_json"),
        ("GET", "/orders?limit=0", None, 422, "invalid_request"),
        ("GET", "/no-such-route", None, 404, "not_found"),
    ],
)
def test_errors_have_one_shape_and_name_their_trace(
    gateway_url: str,
    span_exporter: InMemorySpanExporter,
    method: str,
    path: str,
    body: object,
    status: int,
    code: str,
) -> None:
    content = body if isinstance(body, bytes) else None
    json = None if isinstance(body, bytes) else body
    headers = {"content-type": "application/json"}
    response = httpx.request(method, f"{gateway_url}{path}", json=json, content=content, headers=headers)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert "Traceback" not in response.text
    assert error["trace_id"] == trace_id_of(response)
    server = one(by_kind(gateway_spans(span_exporter), SpanKind.SERVER))
    # 4xx are the caller's: the server span is not an error.
    assert server.status.status_code == StatusCode.UNSET


def test_orders_down_is_503_with_an_error_span(
    make_telemetry: Callable[[str], Telemetry], span_exporter: InMemorySpanExporter
) -> None:
    settings = GatewaySettings(orders_address=f"127.0.0.1:{free_port()}", orders_timeout_seconds=2)
    with serve_app(create_app(settings, make_telemetry("gateway"))) as url:
        response = httpx.post(f"{url}/orders", json={"sku": "BOOK-001", "quantity": 1})
        ready = httpx.get(f"{url}/readyz")
        alive = httpx.get(f"{url}/healthz")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "unavailable"
    assert response.json()["error"]["trace_id"] == trace_id_of(response)
    assert (ready.status_code, alive.status_code) == (503, 200)
    spans = gateway_spans(span_exporter)
    assert one(by_kind(spans, SpanKind.SERVER)).status.status_code == StatusCode.ERROR
    assert one(by_kind(spans, SpanKind.CLIENT)).status.status_code == StatusCode.ERROR


def test_health_checks_answer_without_spans(gateway_url: str, span_exporter: InMemorySpanExporter) -> None:
    assert httpx.get(f"{gateway_url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{gateway_url}/readyz").json() == {"status": "ready"}
    httpx.get(f"{gateway_url}/products")
    only_the_trace_of(span_exporter, "GET /products")


def test_openapi_documents_the_error_shape(gateway_url: str) -> None:
    document = httpx.get(f"{gateway_url}/openapi.json").json()
    responses = document["paths"]["/orders"]["post"]["responses"]
    assert {"201", "404", "409", "422", "503"} <= responses.keys()
    assert "ErrorBody" in document["components"]["schemas"]


def test_restart_starts_a_new_trace_linked_to_the_callers_and_filters_baggage(
    orders_address: str, make_telemetry: Callable[[str], Telemetry], span_exporter: InMemorySpanExporter
) -> None:
    settings = GatewaySettings(
        orders_address=orders_address,
        inbound_trace_context="restart",
        inbound_baggage_keys="tracemesh.synthetic",
    )
    caller_trace, caller_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    headers = {
        "traceparent": f"00-{caller_trace}-{caller_span}-01",
        "baggage": "tracemesh.synthetic=true,tracemesh.tenant=acme",
    }
    with serve_app(create_app(settings, make_telemetry("gateway"))) as url:
        response = httpx.post(f"{url}/orders", json={"sku": "BOOK-001", "quantity": 1}, headers=headers)
    assert response.status_code == 201
    trace_id = trace_id_of(response)
    assert trace_id != caller_trace  # our trace, not the caller's
    spans = wait_for(span_exporter, lambda spans: len({service_of(s) for s in spans}) == 3)
    assert {format(span.context.trace_id, "032x") for span in spans} == {trace_id}
    server = one([span for span in by_kind(spans, SpanKind.SERVER) if service_of(span) == "gateway"])
    assert server.parent is None
    (link,) = server.links
    assert (format(link.context.trace_id, "032x"), format(link.context.span_id, "016x")) == (
        caller_trace,
        caller_span,
    )
    # Only the allowed baggage key reached the services (and their spans).
    assert all(span.attributes.get("tracemesh.synthetic") == "true" for span in spans)
    assert all("tracemesh.tenant" not in span.attributes for span in spans)


def test_trust_continues_the_callers_trace(gateway_url: str, span_exporter: InMemorySpanExporter) -> None:
    caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    headers = {"traceparent": f"00-{caller_trace}-00f067aa0ba902b7-01"}
    response = httpx.post(f"{gateway_url}/orders", json={"sku": "BOOK-001", "quantity": 1}, headers=headers)
    assert trace_id_of(response) == caller_trace
    spans = wait_for(span_exporter, lambda spans: len({service_of(s) for s in spans}) == 3)
    server = one([span for span in by_kind(spans, SpanKind.SERVER) if service_of(span) == "gateway"])
    assert server.parent is not None
    assert not server.links
