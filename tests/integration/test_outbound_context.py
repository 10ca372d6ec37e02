"""What the services' own outbound clients write on the wire: gateway's gRPC metadata and orders' HTTP
headers carry the context. Each service is built by its own factory, as its composition root builds it, and
its peer is a recorder on a real port that keeps what arrived."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import grpc
import httpx
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.app import create_app as create_gateway
from gateway.settings import GatewaySettings
from orders.settings import OrdersSettings
from tests.integration.conftest import running_orders
from tests.integration.spans import service_of, wait_for
from tests.support import serve_app
from tracemesh.orders.v1 import orders_pb2, orders_pb2_grpc
from tracemesh_common.tracing import Telemetry

CALLER_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN_ID = "00f067aa0ba902b7"
CALLER = {"traceparent": f"00-{CALLER_TRACE_ID}-{CALLER_SPAN_ID}-01", "baggage": "tracemesh.tenant=acme"}


def client_span_id(exporter: InMemorySpanExporter, service: str) -> str:
    """The id of `service`'s one CLIENT span: the parent its outbound call must name on the wire."""
    spans = wait_for(
        exporter, lambda spans: any(s.kind == SpanKind.CLIENT and service_of(s) == service for s in spans)
    )
    (client,) = [s for s in spans if s.kind == SpanKind.CLIENT and service_of(s) == service]
    return format(client.context.span_id, "016x")


def test_http_calls_carry_traceparent_baggage_and_x_trace_id(
    make_telemetry: Callable[[str], Telemetry], span_exporter: InMemorySpanExporter, tmp_path: Path
) -> None:
    seen: list[httpx.Headers] = []

    async def products(request: Request) -> JSONResponse:
        seen.append(httpx.Headers(request.headers.raw))
        return JSONResponse([])

    inventory = Starlette(routes=[Route("/products", products)])
    with serve_app(inventory) as inventory_url:
        settings = OrdersSettings(
            port=0, database_url=f"sqlite+aiosqlite:///{tmp_path}/orders.db", inventory_url=inventory_url
        )
        with (
            running_orders(settings, make_telemetry("orders")) as address,
            grpc.insecure_channel(address) as channel,
        ):
            orders = orders_pb2_grpc.OrderServiceStub(channel)
            orders.ListProducts(orders_pb2.ListProductsRequest(), metadata=list(CALLER.items()), timeout=10)
    (headers,) = seen
    version, header_trace_id, parent_id, flags = headers["traceparent"].split("-")
    assert (version, header_trace_id) == ("00", CALLER_TRACE_ID)
    # The parent named on the wire is the CLIENT span of this call, not the caller's span.
    assert parent_id != CALLER_SPAN_ID
    assert parent_id == client_span_id(span_exporter, "orders")
    assert int(flags, 16) & 0x01  # sampled
    assert headers["x-trace-id"] == CALLER_TRACE_ID
    assert headers["baggage"] == "tracemesh.tenant=acme"


class RecordingOrders(orders_pb2_grpc.OrderServiceServicer):
    def __init__(self) -> None:
        self.metadata: dict[str, str] = {}

    async def ListOrders(
        self, request: orders_pb2.ListOrdersRequest, context: grpc.aio.ServicerContext
    ) -> orders_pb2.ListOrdersResponse:
        self.metadata = {key: value for key, value in context.invocation_metadata()}
        return orders_pb2.ListOrdersResponse()


async def test_grpc_calls_carry_the_context_in_lowercase_metadata(
    make_telemetry: Callable[[str], Telemetry], span_exporter: InMemorySpanExporter
) -> None:
    recorder = RecordingOrders()
    server = grpc.aio.server()
    orders_pb2_grpc.add_OrderServiceServicer_to_server(recorder, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    gateway = create_gateway(GatewaySettings(orders_address=f"127.0.0.1:{port}"), make_telemetry("gateway"))
    try:
        with serve_app(gateway) as gateway_url:
            async with httpx.AsyncClient(base_url=gateway_url, timeout=10) as client:
                response = await client.get("/orders", params={"limit": 1}, headers=CALLER)
    finally:
        await server.stop(None)
    assert response.status_code == 200
    assert recorder.metadata["traceparent"].split("-")[1] == CALLER_TRACE_ID
    assert recorder.metadata["traceparent"].split("-")[2] == client_span_id(span_exporter, "gateway")
    assert recorder.metadata["x-trace-id"] == CALLER_TRACE_ID
    assert recorder.metadata["baggage"] == "tracemesh.tenant=acme"
