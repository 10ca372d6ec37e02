"""An opt-in OTLP/gRPC span exporter with a cheaper encoder: the same bytes on the wire, less of the CPU.

Turned on with TRACEMESH_OTLP_ENCODER=fast; the stock exporter is the default. The stock exporter builds a
protobuf object for every span, attribute and value (a Python call into the protobuf runtime for each), on the
serving process's CPU. Here each span is written straight to protobuf's wire format, and what repeats from
span to span is encoded once and reused: the resource and the instrumentation scope of a process never change,
and most attributes (`http.request.method=GET`, `db.system=sqlite`, `rpc.service=...`) carry the same key and
value on every request. The request is handed to the stock exporter's gRPC client unchanged, so retries,
timeouts, compression and every OTEL_EXPORTER_OTLP_* setting behave as they do with the stock exporter.

It reuses two private helpers of the SDK's encoder and overrides a private method of its exporter. An SDK
upgrade that moves them makes FastOTLPSpanExporter the stock exporter (with a warning), never a broken
service; tests/unit/test_fast_otlp.py::test_the_sdk_still_has_what_the_fast_encoder_relies_on fails instead.

Wire format: https://protobuf.dev/programming-guides/encoding/ and opentelemetry/proto/trace/v1/trace.proto.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind

try:
    from opentelemetry.exporter.otlp.proto.common._internal import (
        _encode_instrumentation_scope,
        _encode_resource,
    )

    # The method the SDK's exporter calls to turn a batch into its request message, overridden below.
    SDK_INTERNALS = hasattr(OTLPSpanExporter, "_translate_data")
except ImportError:
    SDK_INTERNALS = False

# OTLP's Span.SpanKind numbers (the SDK's enum starts at 0 for INTERNAL; OTLP reserves 0 for UNSPECIFIED).
_KIND = {
    SpanKind.INTERNAL: 1,
    SpanKind.SERVER: 2,
    SpanKind.CLIENT: 3,
    SpanKind.PRODUCER: 4,
    SpanKind.CONSUMER: 5,
}
# Span.flags: bit 8 says whether the parent was remote is known, bit 9 that it was (SpanFlags in trace.proto).
_HAS_IS_REMOTE = 0x100
_IS_REMOTE = 0x200
# Distinct attribute (key, value) pairs whose encoding is kept; past it, new pairs are encoded every time
# (a value unique to each request, such as an order id in a URL, would otherwise grow the cache forever).
_CACHE_LIMIT = 4096
_TIMES = struct.Struct("<BBBQBQ")


_ONE_BYTE = [bytes((value,)) for value in range(0x80)]


def _varint(value: int) -> bytes:
    if 0 <= value < 0x80:
        return _ONE_BYTE[value]  # lengths, kinds, codes: almost every varint written
    if value < 0:
        value += 1 << 64  # int64 as protobuf writes it: two's complement in ten bytes
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2): strings, bytes and nested messages."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _string(number: int, text: str) -> bytes:
    return _field(number, text.encode("utf-8")) if text else b""


def _fixed64(number: int, value: int) -> bytes:
    return _varint(number << 3 | 1) + struct.pack("<Q", value)


def _fixed32(number: int, value: int) -> bytes:
    return _varint(number << 3 | 5) + struct.pack("<I", value)


def _uint(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value) if value else b""


def _any_value(value: Any) -> bytes:
    """common.v1.AnyValue. bool before int: a bool is an int in Python."""
    if isinstance(value, str):
        return _field(1, value.encode("utf-8"))
    if isinstance(value, bool):
        return b"\x10" + (b"\x01" if value else b"\x00")
    if isinstance(value, int):
        return b"\x18" + _varint(value)
    if isinstance(value, float):
        return b"\x21" + struct.pack("<d", value)
    if isinstance(value, bytes):
        return _field(7, value)
    if isinstance(value, Sequence):
        return _field(5, b"".join(_field(1, _any_value(item)) for item in value))
    if isinstance(value, Mapping):
        return _field(6, b"".join(_field(1, _key_value(key, item)) for key, item in value.items()))
    return _field(1, str(value).encode("utf-8"))


def _key_value(key: str, value: Any) -> bytes:
    return _field(1, key.encode("utf-8")) + _field(2, _any_value(value))


class SpanEncoder:
    """Encodes SDK spans to an ExportTraceServiceRequest's bytes, reusing what repeats."""

    def __init__(self) -> None:
        self._attributes: dict[tuple[int, str, type, Any], bytes] = {}
        self._resources: dict[Resource, bytes] = {}
        self._scopes: dict[InstrumentationScope | None, bytes] = {}

    def encode(self, spans: Sequence[ReadableSpan]) -> bytes:
        # Grouped by identity: a Resource hashes by serialising its attributes to JSON, and a process has
        # one Resource object.
        grouped: dict[int, tuple[Resource, dict[InstrumentationScope | None, list[bytes]]]] = {}
        for span in spans:
            resource = span.resource
            _, scopes = grouped.setdefault(id(resource), (resource, {}))
            scopes.setdefault(span.instrumentation_scope or None, []).append(self._span(span))
        request = bytearray()
        for resource, scopes in grouped.values():
            resource_spans = bytearray(self._resource(resource))
            for scope, encoded in scopes.items():
                scope_spans = self._scope(scope) + b"".join(_field(2, span) for span in encoded)
                if scope is not None and scope.schema_url:
                    scope_spans += _string(3, scope.schema_url)
                resource_spans += _field(2, scope_spans)
            resource_spans += _string(3, resource.schema_url)
            request += _field(1, bytes(resource_spans))
        return bytes(request)

    def _span(self, span: ReadableSpan) -> bytes:
        context = span.context
        if context is None:
            raise ValueError(f"span {span.name!r} has no span context")
        parent = span.parent
        parts = [
            b"\x0a\x10" + context.trace_id.to_bytes(16, "big"),
            b"\x12\x08" + context.span_id.to_bytes(8, "big"),
        ]
        if context.trace_state:
            parts.append(_string(3, ",".join(f"{key}={value}" for key, value in context.trace_state.items())))
        if parent is not None:
            parts.append(b"\x22\x08" + parent.span_id.to_bytes(8, "big"))
        parts += [
            _string(5, span.name),
            # kind (field 6, varint), then start and end times (fields 7 and 8, fixed64) in one pack
            _TIMES.pack(0x30, _KIND[span.kind], 0x39, span.start_time or 0, 0x41, span.end_time or 0),
            self._attribute_fields(9, span.attributes),
            _uint(10, span.dropped_attributes),
        ]
        for event in span.events:
            parts.append(
                _field(
                    11,
                    _fixed64(1, event.timestamp)
                    + _string(2, event.name)
                    + self._attribute_fields(3, event.attributes)
                    + _uint(4, event.dropped_attributes),
                )
            )
        parts.append(_uint(12, span.dropped_events))
        for link in span.links:
            parts.append(
                _field(
                    13,
                    b"\x0a\x10"
                    + link.context.trace_id.to_bytes(16, "big")
                    + b"\x12\x08"
                    + link.context.span_id.to_bytes(8, "big")
                    + self._attribute_fields(4, link.attributes)
                    + _uint(5, link.dropped_attributes)
                    + _fixed32(6, _flags(link.context)),
                )
            )
        parts.append(_uint(14, span.dropped_links))
        status = span.status
        parts.append(_field(15, _string(2, status.description or "") + _uint(3, status.status_code.value)))
        parts.append(_fixed32(16, _flags(parent)))
        return b"".join(parts)

    def _attribute_fields(self, number: int, attributes: Mapping[str, Any] | None) -> bytes:
        if not attributes:
            return b""
        cache = self._attributes
        parts = []
        for key, value in attributes.items():
            try:
                # The type too: True == 1 == 1.0 in Python, three different values on the wire; and a
                # float's bits: 0.0 == -0.0, two different doubles on the wire.
                exact = struct.pack("<d", value) if type(value) is float else value
                cache_key = (number, key, type(value), exact)
                encoded = cache.get(cache_key)
            except TypeError:  # a sequence value: not hashable, never cached
                cache_key, encoded = None, None
            if encoded is None:
                encoded = _field(number, _key_value(key, value))
                if cache_key is not None and len(cache) < _CACHE_LIMIT:
                    cache[cache_key] = encoded
            parts.append(encoded)
        return b"".join(parts)

    def _resource(self, resource: Resource) -> bytes:
        encoded = self._resources.get(resource)
        if encoded is None:
            encoded = _field(1, _encode_resource(resource).SerializeToString())
            self._resources[resource] = encoded
        return encoded

    def _scope(self, scope: InstrumentationScope | None) -> bytes:
        encoded = self._scopes.get(scope)
        if encoded is None:
            encoded = _field(1, _encode_instrumentation_scope(scope).SerializeToString()) if scope else b""
            self._scopes[scope] = encoded
        return encoded


def _flags(parent: SpanContext | None) -> int:
    return _HAS_IS_REMOTE | _IS_REMOTE if parent is not None and parent.is_remote else _HAS_IS_REMOTE


class FastOTLPSpanExporter(OTLPSpanExporter):
    """The stock OTLP/gRPC span exporter with SpanEncoder in place of its per-object encoding. The bytes
    are parsed back into the request message by protobuf's C runtime, which costs a small fraction of
    building it object by object in Python."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._encoder = SpanEncoder()

    def _translate_data(self, data: Sequence[ReadableSpan]) -> ExportTraceServiceRequest:
        request: ExportTraceServiceRequest = ExportTraceServiceRequest.FromString(self._encoder.encode(data))
        return request


if not SDK_INTERNALS:
    FastOTLPSpanExporter = OTLPSpanExporter  # type: ignore[misc,assignment]
    logging.getLogger(__name__).warning(
        "TRACEMESH_OTLP_ENCODER=fast: this OpenTelemetry SDK lacks what the fast encoder relies on; "
        "spans are exported with the stock encoder"
    )
