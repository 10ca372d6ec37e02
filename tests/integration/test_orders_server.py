"""orders over real gRPC, with a real inventory behind it: server, client and database spans, status codes."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from orders.domain import Order, OrderStatus
from orders.repository import OrderRepository, utcnow
from orders.settings import OrdersSettings
from tests.integration.conftest import running_orders
from tests.integration.spans import (
    by_kind,
    children_of,
    db_spans,
    named,
    one,
    only_the_trace_of,
    service_of,
    wait_for,
)
from tests.support import free_port, orders_database
from tracemesh.orders.v1 import orders_pb2, orders_pb2_grpc
from tracemesh_common.tracing import Telemetry

CREATE = "/tracemesh.orders.v1.OrderService/CreateOrder"


@pytest.fixture
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """inventory on SQLite only here: the chain runs on PostgreSQL in the end-to-end tests."""
    return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('inventory')}/inventory.db"


@pytest.fixture
def channel(orders_address: str) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(orders_address) as channel:
        yield channel


@pytest.fixture
def stub(channel: grpc.Channel) -> orders_pb2_grpc.OrderServiceStub:
    return orders_pb2_grpc.OrderServiceStub(channel)


def test_create_order_spans_grpc_http_and_both_databases(
    stub: orders_pb2_grpc.OrderServiceStub, span_exporter: InMemorySpanExporter
) -> None:
    order = stub.CreateOrder(orders_pb2.CreateOrderRequest(sku="BOOK-001", quantity=2), timeout=5)
    assert order.status == orders_pb2.ORDER_STATUS_CONFIRMED
    spans = wait_for(span_exporter, named(CREATE))
    assert len({span.context.trace_id for span in spans}) == 1
    server = one([span for span in by_kind(spans, SpanKind.SERVER) if service_of(span) == "orders"])
    assert server.name == CREATE
    assert server.attributes is not None
    assert server.attributes["rpc.system"] == "grpc"
    own = children_of(server, spans)
    assert [span.name.split()[0] for span in own] == ["INSERT", "POST", "UPDATE"]
    http_client = own[1]
    assert http_client.kind == SpanKind.CLIENT
    inventory_server = one(children_of(http_client, spans))
    assert (service_of(inventory_server), inventory_server.kind) == ("inventory", SpanKind.SERVER)
    assert {service_of(span) for span in db_spans(spans)} == {"orders", "inventory"}


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (orders_pb2.CreateOrderRequest(sku="NOPE", quantity=1), grpc.StatusCode.NOT_FOUND),
        (orders_pb2.CreateOrderRequest(sku="LAMP-9", quantity=99), grpc.StatusCode.FAILED_PRECONDITION),
        (orders_pb2.CreateOrderRequest(sku="LAMP-9", quantity=0), grpc.StatusCode.INVALID_ARGUMENT),
    ],
    ids=["unknown-sku", "insufficient-stock", "invalid-quantity"],
)
def test_caller_errors_keep_the_server_span_unset(
    stub: orders_pb2_grpc.OrderServiceStub,
    span_exporter: InMemorySpanExporter,
    request_: orders_pb2.CreateOrderRequest,
    code: grpc.StatusCode,
) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        stub.CreateOrder(request_, timeout=5)
    assert raised.value.code() == code
    server = one([span for span in wait_for(span_exporter, named(CREATE)) if span.name == CREATE])
    assert server.status.status_code == StatusCode.UNSET
    # An answer, not a failure: nothing on the span reads like an error either.
    assert server.events == ()


def test_unknown_order_is_not_found(stub: orders_pb2_grpc.OrderServiceStub) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        stub.GetOrder(orders_pb2.GetOrderRequest(id="no-such-order"), timeout=5)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert ("tracemesh-error-code", "order_not_found") in raised.value.trailing_metadata()


def test_orders_are_listed_newest_first(stub: orders_pb2_grpc.OrderServiceStub) -> None:
    ids = [stub.CreateOrder(orders_pb2.CreateOrderRequest(sku="MUG-042", quantity=1)).id for _ in range(3)]
    listed = stub.ListOrders(orders_pb2.ListOrdersRequest(limit=2)).orders
    assert [order.id for order in listed] == ids[::-1][:2]
    with pytest.raises(grpc.RpcError) as raised:
        stub.ListOrders(orders_pb2.ListOrdersRequest(limit=101))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_health_is_serving_and_untraced(channel: grpc.Channel, span_exporter: InMemorySpanExporter) -> None:
    response = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    assert response.status == health_pb2.HealthCheckResponse.SERVING
    orders_pb2_grpc.OrderServiceStub(channel).ListOrders(orders_pb2.ListOrdersRequest(limit=1), timeout=5)
    only_the_trace_of(span_exporter, "/tracemesh.orders.v1.OrderService/ListOrders")


def test_inventory_down_is_unavailable_and_an_error_where_it_happened(
    orders_database_url: str, make_telemetry: Callable[[str], Telemetry], span_exporter: InMemorySpanExporter
) -> None:
    settings = OrdersSettings(
        port=0, database_url=orders_database_url, inventory_url=f"http://127.0.0.1:{free_port()}"
    )
    with (
        running_orders(settings, make_telemetry("orders")) as address,
        grpc.insecure_channel(address) as channel,
    ):
        stub = orders_pb2_grpc.OrderServiceStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            stub.CreateOrder(orders_pb2.CreateOrderRequest(sku="BOOK-001", quantity=1), timeout=5)
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
        # The connection was refused, so nothing was reserved: the order is recorded as failed.
        (order,) = stub.ListOrders(orders_pb2.ListOrdersRequest(limit=5)).orders
        assert order.status == orders_pb2.ORDER_STATUS_FAILED
    spans = wait_for(span_exporter, named(CREATE))
    server = one([span for span in spans if span.name == CREATE])
    assert server.status.status_code == StatusCode.ERROR
    # The real cause is recorded, not grpc's own abort machinery.
    assert [event.attributes["exception.type"] for event in server.events] == [
        "orders.domain.InventoryUnavailable"
    ]
    attempts = [
        span for span in children_of(server, spans) if span.kind == SpanKind.CLIENT and span.name == "POST"
    ]
    assert len(attempts) == settings.inventory_attempts
    for attempt in attempts:
        assert attempt.status.status_code == StatusCode.ERROR
        assert [event.name for event in attempt.events] == ["exception"]


def test_a_silent_inventory_is_given_up_on_within_the_callers_deadline(
    orders_database_url: str, make_telemetry: Callable[[str], Telemetry], span_exporter: InMemorySpanExporter
) -> None:
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        inventory_url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        settings = OrdersSettings(port=0, database_url=orders_database_url, inventory_url=inventory_url)
        with (
            running_orders(settings, make_telemetry("orders")) as address,
            grpc.insecure_channel(address) as channel,
        ):
            stub = orders_pb2_grpc.OrderServiceStub(channel)
            started = time.monotonic()
            with pytest.raises(grpc.RpcError) as raised:
                stub.CreateOrder(orders_pb2.CreateOrderRequest(sku="BOOK-001", quantity=1), timeout=1.0)
            elapsed = time.monotonic() - started
    # orders answered before the deadline instead of being cancelled by it: the caller learns why.
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert elapsed < 1.0
    spans = wait_for(span_exporter, named(CREATE))
    server = one([span for span in spans if span.name == CREATE])
    assert server.status.status_code == StatusCode.ERROR
    attempts = [span for span in children_of(server, spans) if span.name == "POST"]
    assert attempts
    assert all(span.status.status_code == StatusCode.ERROR for span in attempts)


async def add_pending_order(database_url: str) -> str:
    """An order left pending a minute ago (its answer from inventory lost), stored as orders would."""
    database = orders_database(database_url)
    try:
        order = Order(str(uuid.uuid4()), "BOOK-001", 1, OrderStatus.PENDING, utcnow() - timedelta(minutes=1))
        assert await OrderRepository(database).add(order)
        return order.id
    finally:
        await database.dispose()


def test_the_sweep_traces_only_the_runs_that_settle_something(
    inventory_url: str,
    orders_database_url: str,
    make_telemetry: Callable[[str], Telemetry],
    span_exporter: InMemorySpanExporter,
) -> None:
    settings = OrdersSettings(
        port=0,
        database_url=orders_database_url,
        inventory_url=inventory_url,
        settle_interval_seconds=0.05,
        settle_after_seconds=1,
    )
    with running_orders(settings, make_telemetry("orders")) as address:
        time.sleep(0.5)  # about ten runs, with nothing pending
        assert span_exporter.get_finished_spans() == ()
        order_id = asyncio.run(add_pending_order(orders_database_url))
        spans = wait_for(span_exporter, named("settle pending orders"))
        with grpc.insecure_channel(address) as channel:
            order = orders_pb2_grpc.OrderServiceStub(channel).GetOrder(
                orders_pb2.GetOrderRequest(id=order_id), timeout=5
            )
    assert order.status == orders_pb2.ORDER_STATUS_CONFIRMED
    root = one([span for span in spans if span.name == "settle pending orders"])
    assert root.parent is None
    assert root.attributes is not None
    assert root.attributes["tracemesh.orders.confirmed"] == 1
    # The pending orders were read untraced, before the run's trace began: its own spans are the
    # reservation and the outcome recorded.
    assert [span.name.split()[0] for span in children_of(root, spans)] == ["POST", "UPDATE"]
