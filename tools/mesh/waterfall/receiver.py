"""The OTLP/gRPC TraceService: decodes each export into ReceivedSpan records and keeps them by trace."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

_KINDS = {
    Span.SPAN_KIND_INTERNAL: "INTERNAL",
    Span.SPAN_KIND_SERVER: "SERVER",
    Span.SPAN_KIND_CLIENT: "CLIENT",
    Span.SPAN_KIND_PRODUCER: "PRODUCER",
    Span.SPAN_KIND_CONSUMER: "CONSUMER",
}
_STATUSES = {
    Status.STATUS_CODE_UNSET: "UNSET",
    Status.STATUS_CODE_OK: "OK",
    Status.STATUS_CODE_ERROR: "ERROR",
}


@dataclass(frozen=True)
class ReceivedSpan:
    """One span as it arrived over the wire, ids as lowercase hex."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: str
    service: str
    start_ns: int
    end_ns: int
    status: str
    status_message: str
    attributes: dict[str, Any] = field(default_factory=dict)
    events: tuple[str, ...] = ()
    resource: dict[str, Any] = field(default_factory=dict)
    # The W3C tracestate the span carried, e.g. "vendor=value" (empty when none).
    trace_state: str = ""

    @property
    def duration_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6


class SpanStore:
    """Spans grouped by trace id, safe to use from the receiver's threads and a reader at once."""

    def __init__(self) -> None:
        self._traces: dict[str, list[ReceivedSpan]] = {}
        self._last_arrival: dict[str, float] = {}
        self._changed = threading.Condition()

    def add(self, spans: Iterable[ReceivedSpan]) -> None:
        with self._changed:
            now = time.monotonic()
            for span in spans:
                self._traces.setdefault(span.trace_id, []).append(span)
                self._last_arrival[span.trace_id] = now
            self._changed.notify_all()

    def trace(self, trace_id: str) -> list[ReceivedSpan]:
        with self._changed:
            return list(self._traces.get(trace_id, ()))

    def all_spans(self) -> list[ReceivedSpan]:
        with self._changed:
            return [span for spans in self._traces.values() for span in spans]

    def wait_for(
        self, trace_id: str, until: Callable[[list[ReceivedSpan]], bool], timeout: float = 10.0
    ) -> list[ReceivedSpan]:
        """Waits until the spans of `trace_id` satisfy `until`; returns them either way after `timeout`."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not until(list(self._traces.get(trace_id, ()))):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(remaining)
            return list(self._traces.get(trace_id, ()))

    def pop_quiet(self, quiet_seconds: float) -> list[list[ReceivedSpan]]:
        """Removes and returns the traces that received no span for `quiet_seconds`: most likely complete."""
        with self._changed:
            cutoff = time.monotonic() - quiet_seconds
            done = [trace_id for trace_id, last in self._last_arrival.items() if last <= cutoff]
            for trace_id in done:
                del self._last_arrival[trace_id]
            return [self._traces.pop(trace_id) for trace_id in done]

    def clear(self) -> None:
        with self._changed:
            self._traces.clear()
            self._last_arrival.clear()


class TraceReceiver(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, store: SpanStore) -> None:
        self._store = store

    def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.ServicerContext
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        self._store.add(decode(request))
        return trace_service_pb2.ExportTraceServiceResponse()


def decode(request: trace_service_pb2.ExportTraceServiceRequest) -> list[ReceivedSpan]:
    received = []
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        service = str(resource.get("service.name", "unknown_service"))
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                received.append(
                    ReceivedSpan(
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex() or None,
                        name=span.name,
                        kind=_KINDS.get(span.kind, "UNSPECIFIED"),
                        service=service,
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        status=_STATUSES.get(span.status.code, "UNSET"),
                        status_message=span.status.message,
                        attributes=_attributes(span.attributes),
                        events=tuple(event.name for event in span.events),
                        resource=resource,
                        trace_state=span.trace_state,
                    )
                )
    return received


def _attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs}


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    return getattr(value, kind) if kind else None


def start_receiver(store: SpanStore, address: str = "127.0.0.1:4317") -> tuple[grpc.Server, int]:
    """Serves OTLP/gRPC on `address` (port 0 picks a free one); returns the server and its port."""
    # so_reuseport off: with it, a second receiver on the same port would silently take a share of the
    # exports; without it, binding a taken port fails loudly.
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=[("grpc.so_reuseport", 0)])
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(TraceReceiver(store), server)
    port = server.add_insecure_port(address)
    server.start()
    return server, port
