"""The template guide's backend example (examples/shipping) over real gRPC, in this process: its history
builds the schema its models describe, each call is a SERVER span with its SQL under it, and each failure
has its status code."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import grpc
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from shipping.models import Base
from shipping.server import ShippingServer, create_server
from shipping.settings import ShippingSettings
from tests.integration.conftest import MakeTelemetry
from tests.integration.spans import by_kind, children_of, db_spans, one, wait_for
from tests.integration.test_migrations import differences
from tests.support import LoopThread, migrate
from tracemesh.shipping.v1 import shipping_pb2, shipping_pb2_grpc
from tracemesh_common.database import create_engine
from tracemesh_common.migrations import upgrade

BOOK = "/tracemesh.shipping.v1.ShippingService/BookShipment"
GET = "/tracemesh.shipping.v1.ShippingService/GetShipment"


@contextmanager
def running_shipping(settings: ShippingSettings, make_telemetry: MakeTelemetry) -> Iterator[str]:
    """shipping's gRPC server on its own event loop thread; yields a channel's address."""
    loop = LoopThread()
    server: ShippingServer = create_server(settings, make_telemetry("shipping"))
    loop.run(server.start())
    try:
        yield f"127.0.0.1:{server.port}"
    finally:
        loop.run(server.stop())
        loop.close()


@pytest.fixture
def stub(database_url: str, make_telemetry: MakeTelemetry) -> Iterator[shipping_pb2_grpc.ShippingServiceStub]:
    migrate("shipping", database_url)
    with (
        running_shipping(ShippingSettings(port=0, database_url=database_url), make_telemetry) as address,
        grpc.insecure_channel(address) as channel,
    ):
        yield shipping_pb2_grpc.ShippingServiceStub(channel)


async def test_the_history_builds_the_schema_the_models_describe(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade(engine, "shipping")
        assert await differences(engine, Base.metadata) == []
    finally:
        await engine.dispose()


def test_a_booking_is_a_server_span_with_its_insert_under_it_and_a_repeat_finds_the_first(
    stub: shipping_pb2_grpc.ShippingServiceStub, span_exporter: InMemorySpanExporter
) -> None:
    request = shipping_pb2.BookShipmentRequest(order_id="order-1", sku="BOOK-001", quantity=2)
    first = stub.BookShipment(request, timeout=5)
    wait_for(span_exporter, lambda spans: any(s.name == BOOK for s in spans))
    (server,) = [span for span in span_exporter.get_finished_spans() if span.name == BOOK]
    assert server.kind == SpanKind.SERVER
    assert server.resource.attributes["service.name"] == "shipping"
    (insert,) = children_of(server, span_exporter.get_finished_spans())
    assert insert.attributes is not None
    assert str(insert.attributes["db.statement"]).startswith("INSERT INTO shipments")

    span_exporter.clear()
    again = stub.BookShipment(request, timeout=5)
    assert (again.id, again.booked_at) == (first.id, first.booked_at)
    spans = wait_for(span_exporter, lambda spans: any(s.name == BOOK for s in spans))
    # The order's row refused the second INSERT; the first shipment was read back instead.
    statements = children_of(one(by_kind(spans, SpanKind.SERVER)), spans)
    assert [str(s.name).split()[0] for s in statements] == ["INSERT", "SELECT"]
    assert [s.status.status_code for s in statements] == [StatusCode.ERROR, StatusCode.UNSET]
    assert one(by_kind(spans, SpanKind.SERVER)).status.status_code == StatusCode.UNSET

    found = stub.GetShipment(shipping_pb2.GetShipmentRequest(order_id="order-1"), timeout=5)
    assert (found.id, found.sku, found.quantity) == (first.id, "BOOK-001", 2)


@pytest.mark.parametrize(
    ("call", "request_", "code"),
    [
        ("GetShipment", shipping_pb2.GetShipmentRequest(order_id="nobody"), grpc.StatusCode.NOT_FOUND),
        ("GetShipment", shipping_pb2.GetShipmentRequest(order_id="no\nway"), grpc.StatusCode.NOT_FOUND),
        (
            "BookShipment",
            shipping_pb2.BookShipmentRequest(sku="BOOK-001", quantity=1),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            "BookShipment",
            shipping_pb2.BookShipmentRequest(order_id="o", sku="no sku", quantity=1),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
    ],
)
def test_a_refusal_has_its_code_and_leaves_the_server_span_unset(
    stub: shipping_pb2_grpc.ShippingServiceStub,
    span_exporter: InMemorySpanExporter,
    call: str,
    request_: object,
    code: grpc.StatusCode,
) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        getattr(stub, call)(request_, timeout=5)
    assert refused.value.code() == code
    spans = wait_for(span_exporter, lambda spans: bool(by_kind(spans, SpanKind.SERVER)))
    server = one(by_kind(spans, SpanKind.SERVER))
    assert server.status.status_code == StatusCode.UNSET
    assert not [event for event in server.events if event.name == "exception"]


def test_the_database_down_is_unavailable_and_an_error_span(
    make_telemetry: MakeTelemetry, span_exporter: InMemorySpanExporter
) -> None:
    # Nothing listens on port 1: every connection is refused.
    settings = ShippingSettings(port=0, database_url="postgresql+asyncpg://shipping@127.0.0.1:1/shipping")
    with running_shipping(settings, make_telemetry) as address, grpc.insecure_channel(address) as channel:
        request = shipping_pb2.BookShipmentRequest(order_id="order-1", sku="BOOK-001", quantity=1)
        with pytest.raises(grpc.RpcError) as failed:
            shipping_pb2_grpc.ShippingServiceStub(channel).BookShipment(request, timeout=5)
    assert (failed.value.code(), failed.value.details()) == (
        grpc.StatusCode.UNAVAILABLE,
        "shipping database unavailable",
    )
    server = one(
        by_kind(wait_for(span_exporter, lambda s: bool(by_kind(s, SpanKind.SERVER))), SpanKind.SERVER)
    )
    assert server.status.status_code == StatusCode.ERROR
    assert [event.name for event in server.events] == ["exception"]
    assert db_spans(span_exporter.get_finished_spans()) == []  # no statement ever reached a database
