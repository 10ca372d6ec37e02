"""What the instrumented clients write on the wire: HTTP headers and gRPC metadata carry the context."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import httpx
from opentelemetry import baggage, context

from gateway.orders_client import OrdersClient
from tracemesh.orders.v1 import orders_pb2, orders_pb2_grpc
from tracemesh_common.tracing import Telemetry


async def test_http_calls_carry_traceparent_baggage_and_x_trace_id(
    make_telemetry: Callable[[str], Telemetry],
) -> None:
    telemetry = make_telemetry("orders")
    seen: list[httpx.Headers] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers)
        return httpx.Response(200, json=[])

    http = httpx.AsyncClient(base_url="http://inventory", transport=httpx.MockTransport(answer))
    telemetry.instrument_httpx(http)
    token = context.attach(baggage.set_baggage("tracemesh.tenant", "acme"))
    try:
        with telemetry.tracer("test").start_as_current_span("caller") as caller:
            await http.get("/products")
    finally:
        context.detach(token)
        await http.aclose()
    trace_id = format(caller.get_span_context().trace_id, "032x")
    (headers,) = seen
    version, header_trace_id, parent_id, flags = headers["traceparent"].split("-")
    assert (version, header_trace_id) == ("00", trace_id)
    # The parent named on the wire is the CLIENT span of this call, not the caller's span.
    assert parent_id != format(caller.get_span_context().span_id, "016x")
    assert int(flags, 16) & 0x01  # sampled
    assert headers["x-trace-id"] == trace_id
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
    make_telemetry: Callable[[str], Telemetry],
) -> None:
    telemetry = make_telemetry("gateway")
    recorder = RecordingOrders()
    server = grpc.aio.server()
    orders_pb2_grpc.add_OrderServiceServicer_to_server(recorder, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    client = OrdersClient.connect(
        f"127.0.0.1:{port}", timeout_seconds=5, interceptors=telemetry.grpc_client_interceptors()
    )
    try:
        with telemetry.tracer("test").start_as_current_span("caller") as caller:
            await client.list_orders(1)
    finally:
        await client.close()
        await server.stop(None)
    trace_id = format(caller.get_span_context().trace_id, "032x")
    assert recorder.metadata["traceparent"].split("-")[1] == trace_id
    assert recorder.metadata["x-trace-id"] == trace_id
