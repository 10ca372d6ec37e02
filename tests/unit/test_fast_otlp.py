"""The opt-in OTLP encoder must put on the wire exactly what the SDK exporter's encoder does, and an SDK
that moves what it relies on must fail here, not in the services."""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    set_span_in_context,
)
from opentelemetry.trace.span import TraceState

from tracemesh_common import fast_otlp
from tracemesh_common.fast_otlp import SpanEncoder

# Every value type an attribute can hold, ints past 2**63 excluded (the SDK refuses them), and
# values that compare equal in Python but differ on the wire (True, 1, 1.0).
scalars = st.one_of(
    st.text(max_size=20),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.sampled_from([True, 1, 1.0, 0, False, 0.0, -0.0, "", -1]),
)
values = st.one_of(
    scalars,
    st.lists(st.text(max_size=5), max_size=3).map(tuple),
    st.lists(st.integers(-5, 5), max_size=3).map(tuple),
)
attributes = st.dictionaries(st.sampled_from(["a", "b", "http.route", "é", "k" * 200]), values, max_size=4)
ids = st.integers(min_value=1, max_value=2**64 - 1)


def make_spans(data: st.DataObject, count: int) -> list[ReadableSpan]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create(data.draw(attributes, "resource")))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    for index in range(count):
        scope = data.draw(st.sampled_from(["a", "b"]), "scope")
        tracer = provider.get_tracer(
            scope,
            data.draw(st.sampled_from(["", "1.0"])),
            schema_url=data.draw(st.sampled_from(["", "https://x"])),
        )
        parent = data.draw(st.sampled_from(["none", "local", "remote"]), "parent")
        context = None
        if parent != "none":
            parent_context = SpanContext(
                trace_id=data.draw(st.integers(1, 2**128 - 1)),
                span_id=data.draw(ids),
                is_remote=parent == "remote",
                trace_flags=TraceFlags(TraceFlags.SAMPLED),
                trace_state=TraceState(
                    data.draw(
                        st.lists(
                            st.tuples(st.sampled_from(["v", "w@x"]), st.sampled_from(["1", "a-b"])),
                            max_size=2,
                            unique_by=lambda kv: kv[0],
                        )
                    )
                ),
            )
            context = set_span_in_context(NonRecordingSpan(parent_context))
        links = [
            Link(
                SpanContext(data.draw(st.integers(1, 2**128 - 1)), data.draw(ids), data.draw(st.booleans())),
                data.draw(attributes),
            )
            for _ in range(data.draw(st.integers(0, 2)))
        ]
        span = tracer.start_span(
            data.draw(st.text(max_size=30)),
            context=context,
            kind=data.draw(st.sampled_from(list(SpanKind))),
            attributes=data.draw(attributes),
            links=links,
            start_time=data.draw(st.integers(0, 2**63)),
        )
        for _ in range(data.draw(st.integers(0, 2))):
            span.add_event(
                data.draw(st.text(max_size=10)),
                data.draw(attributes),
                timestamp=data.draw(st.integers(0, 2**63)),
            )
        status: Any = data.draw(st.sampled_from([None, StatusCode.OK, StatusCode.ERROR]))
        if status is not None:
            span.set_status(
                Status(
                    status,
                    data.draw(st.sampled_from([None, "boom", "é"])) if status is StatusCode.ERROR else None,
                )
            )
        span.end(end_time=data.draw(st.integers(0, 2**63)) + index)
    return list(exporter.get_finished_spans())


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_the_bytes_decode_to_what_the_sdk_encoder_builds(data: st.DataObject) -> None:
    spans = make_spans(data, data.draw(st.integers(1, 6), "count"))
    ours = ExportTraceServiceRequest.FromString(SpanEncoder().encode(spans))
    assert ours == encode_spans(spans)


def test_the_attribute_cache_keeps_equal_values_of_different_kinds_apart() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    for value in (True, 1, 1.0):
        tracer.start_span("s", attributes={"x": value}).end()
    encoder = SpanEncoder()
    for span in exporter.get_finished_spans():
        encoded = ExportTraceServiceRequest.FromString(encoder.encode([span]))
        value = encoded.resource_spans[0].scope_spans[0].spans[0].attributes[0].value
        assert (
            value.WhichOneof("value")
            == {bool: "bool_value", int: "int_value", float: "double_value"}[type(span.attributes["x"])]
        )
    # 0.0 == -0.0 in Python; on the wire they are two doubles, and the SDK's encoder writes each as it is.
    for value in (0.0, -0.0):
        tracer.start_span("s", attributes={"x": value}).end()
    *_, zero, negative_zero = exporter.get_finished_spans()
    encoder.encode([zero])  # 0.0 is in the cache now
    assert encoder.encode([negative_zero]) == encode_spans([negative_zero]).SerializeToString()


def test_the_cache_stops_growing_at_its_limit() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    for index in range(5000):
        tracer.start_span("s", attributes={"url.path": f"/orders/{index}"}).end()
    encoder = SpanEncoder()
    spans = list(exporter.get_finished_spans())
    assert ExportTraceServiceRequest.FromString(encoder.encode(spans)) == encode_spans(spans)
    assert len(encoder._attributes) == 4096


def test_the_sdk_still_has_what_the_fast_encoder_relies_on() -> None:
    # The opt-in encoder (TRACEMESH_OTLP_ENCODER=fast) reuses two private helpers of the SDK's OTLP encoder
    # and overrides a private method of its exporter. When an SDK upgrade moves them, the services fall
    # back to the stock exporter with a warning, and this is the test that fails: update fast_otlp.py, or
    # drop the opt-in.
    assert fast_otlp.SDK_INTERNALS
    assert fast_otlp.FastOTLPSpanExporter is not OTLPSpanExporter
    assert "_translate_data" in vars(fast_otlp.FastOTLPSpanExporter)


def test_without_those_internals_the_services_export_with_the_stock_exporter(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The module as an SDK that lacks them would load it: its private imports fail.
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.common._internal", None)
    monkeypatch.delitem(sys.modules, "tracemesh_common.fast_otlp")
    with caplog.at_level(logging.WARNING):
        reloaded = importlib.import_module("tracemesh_common.fast_otlp")
    assert reloaded.FastOTLPSpanExporter is OTLPSpanExporter
    assert "spans are exported with the stock encoder" in caplog.text
