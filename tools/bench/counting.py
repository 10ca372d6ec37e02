"""An OTLP/gRPC receiver that counts spans per trace: cheap enough not to compete with the services, and
enough to tell whether every trace arrived whole."""

from __future__ import annotations

import threading
from concurrent import futures
from dataclasses import dataclass

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


@dataclass(frozen=True)
class Completeness:
    traces: int
    spans: int
    # Spans missing from traces that arrived with fewer spans than their request makes, and traces
    # whose root span never arrived.
    spans_missing: int
    traces_without_root: int

    def traces_missing(self, answered: int) -> int:
        """Traces lost whole: requests the load generator saw answered, less the traces that arrived. A
        lower bound: requests still in flight when the load stopped may be served (and traced) after it."""
        return max(0, answered - self.traces)


class SpanCounter(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.spans = 0
        self._count: dict[bytes, int] = {}
        self._root: dict[bytes, str] = {}

    def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.ServicerContext
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        with self._lock:
            for resource in request.resource_spans:
                for scope in resource.scope_spans:
                    for span in scope.spans:
                        self.spans += 1
                        self._count[span.trace_id] = self._count.get(span.trace_id, 0) + 1
                        if not span.parent_span_id:
                            self._root[span.trace_id] = span.name
        return trace_service_pb2.ExportTraceServiceResponse()

    def reset(self) -> None:
        with self._lock:
            self.spans = 0
            self._count.clear()
            self._root.clear()

    def completeness(self, spans_by_root: dict[str, float]) -> Completeness:
        """Compares each trace with the number of spans its kind of request makes (by root span name)."""
        with self._lock:
            missing = 0
            for trace_id, count in self._count.items():
                root = self._root.get(trace_id)
                if root in spans_by_root:
                    missing += max(0, round(spans_by_root[root]) - count)
            without_root = sum(1 for trace_id in self._count if trace_id not in self._root)
            return Completeness(len(self._count), self.spans, missing, without_root)


def start_counter() -> tuple[grpc.Server, int, SpanCounter]:
    counter = SpanCounter()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), options=[("grpc.so_reuseport", 0)])
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(counter, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port, counter
