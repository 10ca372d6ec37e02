"""The SDK's own cost of one span, measured in this process: what no configuration can go under."""

from __future__ import annotations

import time

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind

from tracemesh_common.fast_otlp import SpanEncoder


class _Keep(SpanExporter):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def export(self, spans: object) -> SpanExportResult:
        self.spans.extend(spans)  # type: ignore[arg-type]
        return SpanExportResult.SUCCESS


def span_floor_us(count: int = 20_000) -> dict[str, float]:
    """CPU microseconds per span: starting and ending one (with the attributes of a typical HTTP server
    span), and encoding it to OTLP protobuf bytes as the services' exporter does (tracemesh's SpanEncoder,
    the default) and as the SDK's exporter does (`TRACEMESH_OTLP_ENCODER=stock`)."""
    keep = _Keep()
    provider = TracerProvider(resource=Resource.create({"service.name": "floor"}))
    provider.add_span_processor(SimpleSpanProcessor(keep))
    tracer = provider.get_tracer("floor")
    attributes: dict[str, str | int] = {
        "http.request.method": "GET",
        "url.path": "/orders/0b7e",
        "http.route": "/orders/{order_id}",
        "server.address": "127.0.0.1",
        "http.response.status_code": 200,
    }
    started = time.process_time()
    for _ in range(count):
        with tracer.start_as_current_span(
            "GET /orders/{order_id}", kind=SpanKind.SERVER, attributes=attributes
        ):
            pass
    lifecycle = (time.process_time() - started) / count * 1e6
    # In batches of 512, as the batch processor sends them.
    batches = [keep.spans[index : index + 512] for index in range(0, count, 512)]
    encoder = SpanEncoder()
    started = time.process_time()
    for batch in batches:  # what FastOTLPSpanExporter does: bytes, parsed into the request, sent as bytes
        ExportTraceServiceRequest.FromString(encoder.encode(batch)).SerializeToString()
    encoding = (time.process_time() - started) / count * 1e6
    started = time.process_time()
    for batch in batches:
        encode_spans(batch).SerializeToString()
    stock = (time.process_time() - started) / count * 1e6
    provider.shutdown()
    return {
        "start_end_us": lifecycle,
        "encode_us": encoding,
        "stock_encode_us": stock,
        "total_us": lifecycle + encoding,
    }
