"""The W3C Trace Context test suite's cases against the gateway, on the wire.

The suite sends its headers to a service and reads the calls that service makes. Here the service is the
gateway, served by uvicorn on a real port and sent each request as raw HTTP (repeated fields, odd casing and
surrounding whitespace arrive as written); its call is `GET /products`, which it makes to orders over gRPC.
Two places read what leaves:

- `orders`: an OrderService on a real port records the gRPC metadata of the gateway's call;
- `inventory`: the real orders service serves the call and calls inventory over HTTP, where an app records
  the request's headers. The context has then crossed two hops, both tracemesh's.

The gateway runs with its default edge policy, `trust` (under `restart` every request starts a trace of
its own, by design). It makes one call per request, so a row asking for three callbacks (the suite's
AdvancedTest) sends its request three times; that the three calls of one request have distinct parents is
shown on the propagator alone (tests/unit/test_tracecontext.py).
"""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import grpc
import pytest
from starlette.applications import Starlette
from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.app import create_app
from gateway.settings import GatewaySettings
from orders.settings import OrdersSettings
from tests.integration.conftest import running_orders
from tests.support import LoopThread, serve_app
from tests.tracecontext_suite import (
    PARENT_ID,
    SPEC_CASES,
    SUITE_CASES,
    Case,
    Headers,
    Outbound,
    read_callback,
)
from tracemesh.orders.v1 import orders_pb2, orders_pb2_grpc
from tracemesh_common.propagation import DEFAULT_PROPAGATORS
from tracemesh_common.settings import TelemetrySettings
from tracemesh_common.tracing import Telemetry, setup_telemetry

Fields = list[tuple[str, str]]


@dataclass
class Downstream:
    """A gateway, and the trace context fields of each call that reached the recording end of its chain."""

    gateway_url: str
    recorded: list[Fields] = field(default_factory=list)


class RecordingOrders(orders_pb2_grpc.OrderServiceServicer):
    def __init__(self, recorded: list[Fields]) -> None:
        self.recorded = recorded

    async def ListProducts(
        self, request: orders_pb2.ListProductsRequest, context: grpc.aio.ServicerContext
    ) -> orders_pb2.ListProductsResponse:
        self.recorded.append([(item.key, item.value) for item in context.invocation_metadata() or ()])
        return orders_pb2.ListProductsResponse()


def recording_inventory(recorded: list[Fields]) -> Starlette:
    async def products(request: HttpRequest) -> JSONResponse:
        recorded.append([(name.decode(), value.decode()) for name, value in request.headers.raw])
        return JSONResponse([])

    return Starlette(routes=[Route("/products", products)])


def traced(service_name: str) -> Telemetry:
    """A service's tracing, with the default propagators (the point here) and no span exported."""
    settings = TelemetrySettings(sdk_disabled=False, traces_exporter="none", propagators=DEFAULT_PROPAGATORS)
    return setup_telemetry(service_name, settings, span_processors=[], set_global=False)


@pytest.fixture(scope="module")
def recording_orders() -> Iterator[Downstream]:
    loop = LoopThread()
    downstream = Downstream("")

    async def start() -> tuple[grpc.aio.Server, int]:
        server = grpc.aio.server()
        orders_pb2_grpc.add_OrderServiceServicer_to_server(RecordingOrders(downstream.recorded), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        return server, port

    server, port = loop.run(start())
    gateway = create_app(GatewaySettings(orders_address=f"127.0.0.1:{port}"), traced("gateway"))
    try:
        with serve_app(gateway) as url:
            downstream.gateway_url = url
            yield downstream
    finally:
        loop.run(server.stop(None))
        loop.close()


@pytest.fixture(scope="module")
def through_orders(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Downstream]:
    downstream = Downstream("")
    database = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('orders')}/orders.db"
    with serve_app(recording_inventory(downstream.recorded)) as inventory_url:
        settings = OrdersSettings(port=0, database_url=database, inventory_url=inventory_url)
        with running_orders(settings, traced("orders")) as orders_address:
            gateway = create_app(GatewaySettings(orders_address=orders_address), traced("gateway"))
            with serve_app(gateway) as url:
                downstream.gateway_url = url
                yield downstream


@pytest.fixture(params=["orders", "inventory"])
def downstream(request: pytest.FixtureRequest) -> Downstream:
    """Where the gateway's context is read: its gRPC call to orders, or orders' HTTP call to inventory."""
    fixture = "recording_orders" if request.param == "orders" else "through_orders"
    found: Downstream = request.getfixturevalue(fixture)
    return found


def get_products(gateway_url: str, headers: Headers) -> str:
    """`GET /products` with the headers exactly as given; returns the response's `traceresponse`."""
    address = urlsplit(gateway_url)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=10)
    try:
        connection.putrequest("GET", "/products")
        for name, value in headers:
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        response.read()
        assert response.status == 200
        return response.getheader("traceresponse") or ""
    finally:
        connection.close()


def call_through(downstream: Downstream, headers: Headers) -> Outbound:
    """One request to the gateway: the context that reached the recording end, checked as the suite's
    harness checks a callback, and against the gateway's `traceresponse`."""
    downstream.recorded.clear()
    traceresponse = get_products(downstream.gateway_url, headers)
    (fields,) = downstream.recorded
    call = read_callback(fields)
    # tracemesh's own rules: one tracestate field at most, and never an empty one.
    tracestates = [value for name, value in fields if name == "tracestate"]
    assert tracestates in ([], [call.tracestate_header()])
    assert tracestates != [""]
    # Level 2: the response names the trace that went on, with the same flags (sampled, random).
    version, trace_id, child_id, flags = traceresponse.split("-")
    assert (version, trace_id, int(flags, 16)) == ("00", call.trace_id, call.flags)
    assert child_id != PARENT_ID
    return call


@pytest.mark.parametrize("case", [pytest.param(case, id=case.name) for case in (*SUITE_CASES, *SPEC_CASES)])
def test_the_gateway_passes_every_case_on_the_wire(case: Case, downstream: Downstream) -> None:
    outbound = [
        [call_through(downstream, request.headers) for _ in range(request.calls)] for request in case.requests
    ]
    case.check(outbound)
