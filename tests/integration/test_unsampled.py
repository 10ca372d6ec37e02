"""The fast path for unsampled requests, edge by edge, on the three services in this process. The providers'
sampler records every question it is asked: each span an instrumentation starts asks it first (with the span's
name, kind and attributes), so the questions show which edges built a span."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import pytest
from opentelemetry import baggage, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import default_getter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_ON,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind, TraceState
from opentelemetry.util.types import Attributes
from sqlalchemy import event, text

from tests.integration.spans import by_kind, one, service_of, wait_for
from tracemesh.orders.v1 import orders_pb2, orders_pb2_grpc
from tracemesh_common.database import Database
from tracemesh_common.settings import TelemetrySettings, resource_for
from tracemesh_common.tracing import Telemetry, setup_telemetry
from tracemesh_common.unsampled import DecidedTraceIds, Decider, is_unsampled
from tracemesh_common.unsampled_grpc import SplitChannel

CALLER_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN_ID = "00f067aa0ba902b7"
CREATE_ORDER = "/tracemesh.orders.v1.OrderService/CreateOrder"


@dataclass(frozen=True)
class Question:
    service: str
    name: str
    kind: SpanKind | None
    attributes: bool  # the instrumentations always pass some; the fast path's decision passes none
    trace_id: int
    parent: trace.SpanContext
    baggage: dict[str, object]


class RecordingSampler(Sampler):
    """Asks `inner`, and keeps each question."""

    def __init__(self, inner: Sampler, service: str, questions: list[Question]) -> None:
        self._inner, self._service, self._questions = inner, service, questions

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        parent = trace.get_current_span(parent_context).get_span_context()
        found = dict(baggage.get_all(parent_context))
        self._questions.append(Question(self._service, name, kind, bool(attributes), trace_id, parent, found))
        return self._inner.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return f"Recording({self._inner.get_description()})"


@pytest.fixture
def questions() -> list[Question]:
    return []


@pytest.fixture
def root_sampler() -> Sampler:
    return TraceIdRatioBased(0)  # parentbased_traceidratio at 0: only a sampled caller's traces


@pytest.fixture
def make_telemetry(
    span_exporter: InMemorySpanExporter, root_sampler: Sampler, questions: list[Question]
) -> Iterator[Callable[[str], Telemetry]]:
    """The services' telemetry as setup_telemetry makes it (propagators, id generator), with a recording
    sampler in place of the one OTEL_TRACES_SAMPLER names."""
    providers: list[TracerProvider] = []

    def make(service_name: str) -> Telemetry:
        settings = TelemetrySettings(sdk_disabled=False, traces_exporter="none")
        setup_telemetry(service_name, settings, span_processors=[], set_global=False)  # the propagators
        provider = TracerProvider(
            sampler=RecordingSampler(ParentBased(root_sampler), service_name, questions),
            resource=resource_for(service_name),
            id_generator=DecidedTraceIds(),
        )
        provider.add_span_processor(SimpleSpanProcessor(span_exporter))
        providers.append(provider)
        return Telemetry(service_name, provider)

    yield make
    for provider in providers:
        provider.shutdown()


def asked_by_edges(questions: list[Question]) -> list[tuple[str, str, SpanKind | None]]:
    """The questions other than hand-made spans' (INTERNAL): one per decision, or per instrumented edge."""
    return [(q.service, q.name, q.kind) for q in questions if q.kind != SpanKind.INTERNAL]


def place_order(gateway_url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    response = httpx.post(
        f"{gateway_url}/orders", json={"sku": "BOOK-001", "quantity": 1}, headers=headers, timeout=10
    )
    assert response.status_code == 201, response.text
    return response


def test_an_unsampled_order_builds_no_span_on_any_edge_and_carries_its_context(
    gateway_url: str, span_exporter: InMemorySpanExporter, questions: list[Question]
) -> None:
    caller = {
        "traceparent": f"00-{CALLER_TRACE_ID}-{CALLER_SPAN_ID}-00",
        "tracestate": "acme=1",
        "baggage": "tracemesh.tenant=acme",
    }
    response = place_order(gateway_url, caller)
    assert response.headers["traceresponse"].startswith(f"00-{CALLER_TRACE_ID}-")
    assert response.headers["traceresponse"].endswith("-00")

    # One decision per service, where the request entered it; no edge asked for a span of its own (an HTTP
    # or gRPC client span, a SQL statement's, a server span with its attributes).
    assert asked_by_edges(questions) == [
        ("gateway", "POST", SpanKind.SERVER),
        ("orders", CREATE_ORDER, SpanKind.SERVER),
        ("inventory", "POST", SpanKind.SERVER),
    ]
    decisions = [q for q in questions if q.kind == SpanKind.SERVER]
    assert not any(q.attributes for q in decisions)
    # Each service read the caller's trace from the wire (gRPC metadata, then HTTP headers), not sampled,
    # with its tracestate and baggage; each hop named a parent of its own.
    assert {format(q.trace_id, "032x") for q in decisions} == {CALLER_TRACE_ID}
    assert not any(q.parent.trace_flags.sampled for q in decisions)
    assert {q.parent.trace_state.to_header() for q in decisions} == {"acme=1"}
    assert [q.baggage for q in decisions] == [{"tracemesh.tenant": "acme"}] * 3
    assert len({q.parent.span_id for q in decisions}) == 3
    assert span_exporter.get_finished_spans() == ()


@pytest.mark.parametrize("root_sampler", [ALWAYS_ON, TraceIdRatioBased(0.5)], ids=["always_on", "ratio_0.5"])
def test_a_sampled_root_keeps_the_trace_id_it_was_decided_on(
    root_sampler: Sampler,
    gateway_url: str,
    span_exporter: InMemorySpanExporter,
    questions: list[Question],
) -> None:
    # A ratio sampler asked twice, with two trace ids, would keep a fraction of a fraction.
    for _ in range(8):
        questions.clear()
        span_exporter.clear()
        response = place_order(gateway_url)
        trace_id = response.headers["traceresponse"].split("-")[1]
        decision = questions[0]
        assert (decision.service, decision.kind, decision.attributes) == ("gateway", SpanKind.SERVER, False)
        assert format(decision.trace_id, "032x") == trace_id
        sampled = bool(int(response.headers["traceresponse"].split("-")[3], 16) & 0x01)
        assert sampled == root_sampler.should_sample(None, decision.trace_id, "POST").decision.is_sampled()
        if sampled:
            spans = wait_for(span_exporter, lambda spans: len(by_kind(spans, SpanKind.SERVER)) == 3)
            assert {format(span.context.trace_id, "032x") for span in spans} == {trace_id}
            server = one([s for s in by_kind(spans, SpanKind.SERVER) if service_of(s) == "gateway"])
            assert server.parent is None
        else:
            assert asked_by_edges(questions) == [
                ("gateway", "POST", SpanKind.SERVER),
                ("orders", CREATE_ORDER, SpanKind.SERVER),
                ("inventory", "POST", SpanKind.SERVER),
            ]


@pytest.mark.parametrize("root_sampler", [ALWAYS_ON])
def test_a_grpc_root_call_keeps_the_trace_id_it_was_decided_on(
    orders_address: str, span_exporter: InMemorySpanExporter, questions: list[Question]
) -> None:
    with grpc.insecure_channel(orders_address) as channel:
        orders_pb2_grpc.OrderServiceStub(channel).ListProducts(orders_pb2.ListProductsRequest(), timeout=10)
    spans = wait_for(span_exporter, lambda spans: len(by_kind(spans, SpanKind.SERVER)) == 2)
    server = one([s for s in by_kind(spans, SpanKind.SERVER) if service_of(s) == "orders"])
    decision = questions[0]
    assert (decision.service, decision.attributes) == ("orders", False)
    assert server.context.trace_id == decision.trace_id
    assert server.parent is None


def test_an_unsampled_grpc_call_carries_its_context_to_inventory(
    orders_address: str, span_exporter: InMemorySpanExporter, questions: list[Question]
) -> None:
    metadata = [("traceparent", f"00-{CALLER_TRACE_ID}-{CALLER_SPAN_ID}-00"), ("baggage", "tracemesh.k=v")]
    with grpc.insecure_channel(orders_address) as channel:
        stub = orders_pb2_grpc.OrderServiceStub(channel)
        stub.ListProducts(orders_pb2.ListProductsRequest(), metadata=metadata, timeout=10)
    assert asked_by_edges(questions) == [
        ("orders", "/tracemesh.orders.v1.OrderService/ListProducts", SpanKind.SERVER),
        ("inventory", "GET", SpanKind.SERVER),
    ]
    inventory = questions[-1]
    assert (format(inventory.trace_id, "032x"), inventory.baggage) == (CALLER_TRACE_ID, {"tracemesh.k": "v"})
    assert span_exporter.get_finished_spans() == ()


def test_health_checks_are_neither_decided_nor_answered_with_a_trace(
    gateway_url: str, questions: list[Question]
) -> None:
    response = httpx.get(f"{gateway_url}/healthz", timeout=10)
    assert response.status_code == 200
    assert "traceresponse" not in response.headers
    assert questions == []


@asynccontextmanager
async def serving(
    service: str, handlers: dict[str, grpc.RpcMethodHandler], interceptors: Sequence[Any] = ()
) -> AsyncIterator[str]:
    """A grpc.aio server on a free local port with these handlers; yields its address."""
    server = grpc.aio.server(interceptors=interceptors)
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(service, handlers)])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(None)


async def _streamed(_request: bytes, _context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
    for _ in range(2):
        yield current_trace()


async def _written(_request: bytes, context: grpc.aio.ServicerContext) -> None:
    await context.write(current_trace())


def current_trace() -> bytes:
    """What a handler sees of its context: the trace id, and whether it runs on the fast path."""
    span_context = trace.get_current_span().get_span_context()
    return f"{span_context.trace_id:032x} {is_unsampled()}".encode()


@pytest.mark.parametrize("method", ["Streamed", "Written"])
def test_a_streaming_handler_runs_in_the_unsampled_context(
    method: str,
    make_telemetry: Callable[[str], Telemetry],
    span_exporter: InMemorySpanExporter,
    questions: list[Question],
) -> None:
    telemetry = make_telemetry("orders")

    async def call() -> list[bytes]:
        handlers = {
            "Streamed": grpc.unary_stream_rpc_method_handler(_streamed),
            "Written": grpc.unary_stream_rpc_method_handler(_written),
        }
        async with (
            serving("test.Streams", handlers, telemetry.grpc_server_interceptors()) as address,
            grpc.aio.insecure_channel(address) as channel,
        ):
            metadata = (("traceparent", f"00-{CALLER_TRACE_ID}-{CALLER_SPAN_ID}-00"),)
            stream = channel.unary_stream(f"/test.Streams/{method}")(b"", metadata=metadata, timeout=10)
            return [response async for response in stream]

    responses = asyncio.run(call())
    assert responses
    assert set(responses) == {f"{CALLER_TRACE_ID} True".encode()}
    assert [(q.name, q.attributes) for q in questions] == [(f"/test.Streams/{method}", False)]
    assert span_exporter.get_finished_spans() == ()


def _method(details: grpc.aio.ClientCallDetails) -> str:
    method = details.method
    return method.decode() if isinstance(method, bytes) else method


class RecordingUnaryUnary(grpc.aio.UnaryUnaryClientInterceptor):
    """Keeps the method of each call that went through the interception machinery. (grpc.aio files each
    interceptor under one kind of call only, so each kind has its own.)"""

    def __init__(self, methods: list[str]) -> None:
        self.methods = methods

    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        self.methods.append(_method(details))
        return await continuation(details, request)


class RecordingStreamStream(grpc.aio.StreamStreamClientInterceptor):
    def __init__(self, methods: list[str]) -> None:
        self.methods = methods

    async def intercept_stream_stream(self, continuation: Any, details: Any, requests: Any) -> Any:
        self.methods.append(_method(details))
        return await continuation(details, requests)


async def _echo_context(_request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    """What arrived in the call's metadata of its caller's context."""
    metadata = dict(context.invocation_metadata() or ())
    return f"{metadata.get('traceparent', '-')} {metadata.get('baggage', '-')}".encode()


async def _echo_context_streamed(
    requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext
) -> AsyncIterator[bytes]:
    async for request in requests:
        yield await _echo_context(request, context)


@pytest.mark.parametrize("kind", ["unary_unary", "stream_stream"])
def test_an_unsampled_call_goes_around_the_client_instrumentation_with_its_context(
    kind: str, make_telemetry: Callable[[str], Telemetry]
) -> None:
    telemetry = make_telemetry("gateway")
    assert telemetry.tracer_provider is not None
    caller = {"traceparent": f"00-{CALLER_TRACE_ID}-{CALLER_SPAN_ID}-00", "baggage": "tracemesh.k=v"}
    decided = Decider(telemetry.tracer_provider).decide(caller, default_getter, "GET", SpanKind.SERVER)
    assert decided is not None
    assert decided.unsampled is not None
    intercepted: list[str] = []
    recording = [RecordingUnaryUnary(intercepted), RecordingStreamStream(intercepted)]

    async def call(channel: grpc.aio.Channel) -> bytes:
        if kind == "unary_unary":
            answer: bytes = await channel.unary_unary("/test.Echo/Unary")(b"", timeout=10)
            return answer

        async def one() -> AsyncIterator[bytes]:
            yield b""

        answers = [answer async for answer in channel.stream_stream("/test.Echo/Streamed")(one(), timeout=10)]
        assert len(answers) == 1
        return answers[0]

    async def both() -> tuple[bytes, bytes]:
        handlers = {
            "Unary": grpc.unary_unary_rpc_method_handler(_echo_context),
            "Streamed": grpc.stream_stream_rpc_method_handler(_echo_context_streamed),
        }
        async with serving("test.Echo", handlers) as address:
            traced = grpc.aio.insecure_channel(address, interceptors=recording)
            async with SplitChannel(traced, grpc.aio.insecure_channel(address)) as channel:
                with decided.entered():
                    unsampled = await call(channel)
                return unsampled, await call(channel)

    unsampled, undecided = asyncio.run(both())
    traceparent, carried_baggage = unsampled.decode().split()
    assert traceparent.startswith(f"00-{CALLER_TRACE_ID}-")
    assert traceparent.endswith("-00")
    assert traceparent.split("-")[2] != CALLER_SPAN_ID  # the unsampled request's own span id
    assert carried_baggage == "tracemesh.k=v"
    # The undecided call (no request context here) went through the interceptors; the unsampled one did not.
    method = "/test.Echo/Unary" if kind == "unary_unary" else "/test.Echo/Streamed"
    assert intercepted == [method]
    assert undecided == b"- -"


def test_without_tracing_the_channel_is_a_plain_one() -> None:
    async def made() -> grpc.aio.Channel:
        settings = TelemetrySettings(sdk_disabled=True)
        channel = setup_telemetry("gateway", settings, set_global=False).grpc_channel("127.0.0.1:1")
        await channel.close()
        return channel

    channel = asyncio.run(made())
    assert isinstance(channel, grpc.aio.Channel)
    assert not isinstance(channel, SplitChannel)


@pytest.mark.parametrize("root_sampler", [ALWAYS_ON])
def test_an_unsampled_session_goes_around_the_statement_tracing(
    database_url: str,
    make_telemetry: Callable[[str], Telemetry],
    span_exporter: InMemorySpanExporter,
    questions: list[Question],
) -> None:
    telemetry = make_telemetry("orders")
    assert telemetry.tracer_provider is not None
    database = Database(database_url, lambda: RuntimeError("database down"))
    telemetry.instrument_database(database)
    traced: list[str] = []
    every: list[str] = []

    def recorder(into: list[str]) -> Callable[..., None]:
        return lambda _connection, _cursor, statement, *_rest: into.append(statement)

    event.listen(database.traced_engine.sync_engine, "before_cursor_execute", recorder(traced))
    event.listen(database.engine.sync_engine, "before_cursor_execute", recorder(every))
    caller = {"traceparent": f"00-{CALLER_TRACE_ID}-{CALLER_SPAN_ID}-00"}
    decided = Decider(telemetry.tracer_provider).decide(caller, default_getter, "GET", SpanKind.SERVER)
    assert decided is not None
    assert decided.unsampled is not None

    async def run() -> None:
        with decided.entered():
            async with database.session() as session:
                await session.execute(text("SELECT 1"))
            async with database.transaction() as session:
                await session.execute(text("SELECT 2"))
        async with database.transaction() as session:  # no request: traced, as a job's statements are
            await session.execute(text("SELECT 3"))
        await database.dispose()

    asyncio.run(run())
    # Every statement ran, through one pool; only the traced session's reached the tracing listeners.
    assert database.traced_engine.pool is database.engine.pool
    assert every == ["SELECT 1", "SELECT 2", "SELECT 3"]
    assert traced == ["SELECT 3"]
    assert [q.name.split()[0] for q in questions if q.kind == SpanKind.CLIENT] == ["SELECT"]
    (span,) = span_exporter.get_finished_spans()
    assert span.attributes is not None
    assert span.attributes["db.statement"] == "SELECT 3"
