"""Each exporter the tutorial teaches (chapter 2) lands in the same Jaeger, with the same trace."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.e2e.jaeger.backend import Jaeger
from tests.e2e.jaeger.shapes import assert_order_tree, is_whole_order, order
from tools.mesh.processes import Mesh

# How the services are told to export to Jaeger, as an operator would tell them (services/telemetry), and
# the receiver and transport that Jaeger counts their spans under.
EXPORTERS: dict[str, tuple[Callable[[Jaeger], dict[str, str]], str, str]] = {
    # the SDK's gRPC exporter as it ships, the default (compose's setting)
    "otlp-grpc": (lambda jaeger: {"OTEL_EXPORTER_OTLP_ENDPOINT": jaeger.otlp_grpc}, "otlp", "grpc"),
    # tracemesh's opt-in encoder: the same bytes, written by hand
    "otlp-grpc-fast": (
        lambda jaeger: {"OTEL_EXPORTER_OTLP_ENDPOINT": jaeger.otlp_grpc, "TRACEMESH_OTLP_ENCODER": "fast"},
        "otlp",
        "grpc",
    ),
    # OTLP over HTTP (4318 in compose); the exporter adds /v1/traces to the endpoint
    "otlp-http": (
        lambda jaeger: {
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_ENDPOINT": jaeger.otlp_http,
        },
        "otlp",
        "http",
    ),
    # Zipkin's JSON v2, to Jaeger's Zipkin receiver (9411 in compose)
    "zipkin": (
        lambda jaeger: {"OTEL_TRACES_EXPORTER": "zipkin", "OTEL_EXPORTER_ZIPKIN_ENDPOINT": jaeger.zipkin},
        "zipkin",
        "http_v2_json",
    ),
}


@pytest.fixture(scope="module", params=list(EXPORTERS))
def exporter(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def mesh_env(exporter: str, jaeger: Jaeger) -> dict[str, str]:
    return EXPORTERS[exporter][0](jaeger)


def accepted(jaeger: Jaeger, exporter: str) -> float:
    _, receiver, transport = EXPORTERS[exporter]
    return jaeger.metric("otelcol_receiver_accepted_spans_total", receiver=receiver, transport=transport)


def test_an_order_arrives_whole_with_the_same_tree(jaeger: Jaeger, exporter: str, sqlite_mesh: Mesh) -> None:
    before = accepted(jaeger, exporter)
    response, trace_id = order(sqlite_mesh)
    assert response.status_code == 201
    trace = jaeger.wait_for(trace_id, is_whole_order)
    assert_order_tree(trace)
    assert {process["serviceName"] for process in trace.processes.values()} == {
        "gateway",
        "orders",
        "inventory",
    }
    (root,) = trace.roots()
    assert str(root.tags["http.status_code"]) == "201"  # Zipkin carries every tag as a string
    # Counted by the receiver this exporter speaks to.
    assert accepted(jaeger, exporter) - before >= len(trace.spans)


def test_a_refusal_is_marked_on_the_same_spans(jaeger: Jaeger, sqlite_mesh: Mesh) -> None:
    response, trace_id = order(sqlite_mesh, sku="LAMP-9", quantity=1000)
    assert response.status_code == 409
    trace = jaeger.wait_for(trace_id, lambda t: len([s for s in t.spans if s.kind == "server"]) == 3)
    failed = {(s.service, s.kind) for s in trace.spans if s.error}
    assert failed == {("gateway", "client"), ("orders", "client")}
