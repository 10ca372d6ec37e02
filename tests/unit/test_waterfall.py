"""The receiver behind `make run` and the e2e tests: OTLP decoding, grouping, and the rendered waterfall."""

from __future__ import annotations

import io

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode
from rich.console import Console

from tools.mesh.waterfall import ReceivedSpan, SpanStore, render_trace, start_receiver
from tools.mesh.waterfall.render import ordered


def export_a_trace(port: int) -> str:
    """Sends a three-span trace over real OTLP/gRPC, as a service would."""
    provider = TracerProvider(resource=Resource.create({"service.name": "gateway"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}")))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("POST /orders", kind=SpanKind.SERVER) as root:
        root.set_attribute("http.route", "/orders")
        with tracer.start_as_current_span("CreateOrder", kind=SpanKind.CLIENT):
            pass
        with tracer.start_as_current_span("publish", kind=SpanKind.PRODUCER) as failing:
            failing.record_exception(ValueError("boom"))
            failing.set_status(Status(StatusCode.ERROR, "boom"))
    provider.shutdown()
    return format(root.get_span_context().trace_id, "032x")


@pytest.fixture
def received() -> tuple[SpanStore, list[ReceivedSpan]]:
    """A store, and the three spans of one trace that arrived in it over OTLP/gRPC."""
    store = SpanStore()
    server, port = start_receiver(store, "127.0.0.1:0")
    try:
        trace_id = export_a_trace(port)
        return store, store.wait_for(trace_id, lambda spans: len(spans) == 3)
    finally:
        server.stop(grace=None)


def test_spans_arrive_decoded_and_grouped_by_trace(received: tuple[SpanStore, list[ReceivedSpan]]) -> None:
    _, spans = received
    by_name = {span.name: span for span in spans}
    root = by_name["POST /orders"]
    assert (root.kind, root.service, root.parent_span_id) == ("SERVER", "gateway", None)
    assert root.attributes["http.route"] == "/orders"
    assert by_name["CreateOrder"].parent_span_id == root.span_id
    assert by_name["publish"].status == "ERROR"
    assert by_name["publish"].events == ("exception",)
    assert [depth for depth, _ in ordered(spans)] == [0, 1, 1]


def test_render_shows_services_names_durations_and_errors(
    received: tuple[SpanStore, list[ReceivedSpan]],
) -> None:
    _, spans = received
    trace_id = spans[0].trace_id
    output = io.StringIO()
    Console(file=output, width=140, color_system=None).print(render_trace(spans))
    text = output.getvalue()
    assert f"trace {trace_id}" in text
    assert "3 spans" in text
    assert "1 error(s)" in text
    lines = text.splitlines()
    row = next(line for line in lines if "CreateOrder" in line)
    assert "gateway" in row
    assert "  CreateOrder" in row  # indented under its parent
    assert " ms" in row


def test_quiet_traces_are_handed_over_once(received: tuple[SpanStore, list[ReceivedSpan]]) -> None:
    store, _ = received
    assert store.pop_quiet(60) == []
    (spans,) = store.pop_quiet(0)
    assert len(spans) == 3
    assert store.pop_quiet(0) == []


def test_a_taken_port_fails_loudly_instead_of_sharing() -> None:
    first, port = start_receiver(SpanStore(), "127.0.0.1:0")
    try:
        with pytest.raises(RuntimeError):
            start_receiver(SpanStore(), f"127.0.0.1:{port}")
    finally:
        first.stop(grace=None)
