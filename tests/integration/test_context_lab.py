"""The tutorial's context lab (examples/context_lab, chapter 12), with real spans from a real SDK
TracerProvider: where the request's context is lost, the work's span is an orphan (the root of a trace of
its own) or has the wrong parent; where it is carried, the work's span is a child of the request's."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import queue
import threading
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress

import pytest
from opentelemetry import baggage, context, propagate
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from context_lab import hops
from context_lab import in_process as lab
from inventory.service import InventoryService
from tests.integration.conftest import MakeTelemetry
from tests.integration.spans import named, wait_for


@pytest.fixture
def tracer(span_exporter: InMemorySpanExporter) -> Iterator[Tracer]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    yield provider.get_tracer("context-lab")
    provider.shutdown()


@contextmanager
def global_propagators(*propagators: TextMapPropagator) -> Iterator[None]:
    previous = propagate.get_global_textmap()
    propagate.set_global_textmap(CompositePropagator(list(propagators)))
    try:
        yield
    finally:
        propagate.set_global_textmap(previous)


@pytest.fixture
def w3c_propagators() -> Iterator[None]:
    """What `opentelemetry.propagate` uses by default; other tests in this process may have changed it."""
    with global_propagators(TraceContextTextMapPropagator(), W3CBaggagePropagator()):
        yield


def the(exporter: InMemorySpanExporter, name: str) -> ReadableSpan:
    found = [span for span in exporter.get_finished_spans() if span.name == name]
    assert len(found) == 1, [span.name for span in exporter.get_finished_spans()]
    return found[0]


def assert_child(child: ReadableSpan, parent: ReadableSpan) -> None:
    assert child.context.trace_id == parent.context.trace_id, "not in the parent's trace"
    assert child.parent is not None, f"{child.name!r} is a root"
    assert child.parent.span_id == parent.context.span_id, f"{child.name!r} has another parent"


def assert_orphan(span: ReadableSpan, request: ReadableSpan) -> None:
    """`span` ran while `request` was in progress, yet is the root of a trace of its own."""
    assert span.parent is None, f"{span.name!r} has a parent"
    assert span.context.trace_id != request.context.trace_id
    assert request.start_time <= span.start_time <= request.end_time


def handed_off(exporter: InMemorySpanExporter) -> tuple[ReadableSpan, ReadableSpan]:
    return the(exporter, "handle order"), the(exporter, "check stock")


# asyncio


async def test_a_task_from_create_task_works_in_the_request_context(
    tracer: Tracer, span_exporter: InMemorySpanExporter
) -> None:
    await lab.order_with_task(tracer)
    request, work = handed_off(span_exporter)
    assert_child(work, request)


async def test_call_soon_runs_the_callback_in_the_context_it_was_scheduled_in(
    tracer: Tracer, span_exporter: InMemorySpanExporter
) -> None:
    loop = asyncio.get_running_loop()
    start_up = contextvars.copy_context()  # what a callback registered before any request holds
    with tracer.start_as_current_span("handle order"):
        loop.call_soon(lab.check_stock, tracer)
        loop.call_soon(lab.check_stock, tracer, context=start_up)
        await asyncio.sleep(0)
    request = the(span_exporter, "handle order")
    carried, lost = [span for span in span_exporter.get_finished_spans() if span.name == "check stock"]
    assert_child(carried, request)
    assert_orphan(lost, request)


async def test_a_worker_fed_by_a_queue_works_in_its_own_context_unless_the_job_carries_one(
    tracer: Tracer, span_exporter: InMemorySpanExporter
) -> None:
    jobs: asyncio.Queue[lab.StockCheck] = asyncio.Queue()
    worker = asyncio.create_task(lab.stock_worker(tracer, jobs))  # created outside any request
    try:
        await lab.order_through_queue(tracer, jobs)
        request, work = handed_off(span_exporter)
        assert_orphan(work, request)
        assert work.attributes == {"tracemesh.sku": "LAMP-9"}

        span_exporter.clear()
        await lab.order_through_queue_with_context(tracer, jobs)
        request, work = handed_off(span_exporter)
        assert_child(work, request)
    finally:
        worker.cancel()
        with suppress(asyncio.CancelledError):
            await worker


# threads


async def test_run_in_executor_loses_the_context(tracer: Tracer, span_exporter: InMemorySpanExporter) -> None:
    await lab.order_run_in_executor(tracer)
    assert_orphan(*reversed(handed_off(span_exporter)))


def test_a_thread_pool_loses_the_context(tracer: Tracer, span_exporter: InMemorySpanExporter) -> None:
    with ThreadPoolExecutor(max_workers=1) as pool:
        lab.order_submit(tracer, pool)
    assert_orphan(*reversed(handed_off(span_exporter)))


def test_a_thread_loses_the_context(tracer: Tracer, span_exporter: InMemorySpanExporter) -> None:
    lab.order_thread(tracer)
    assert_orphan(*reversed(handed_off(span_exporter)))


async def test_to_thread_carries_the_context(tracer: Tracer, span_exporter: InMemorySpanExporter) -> None:
    await lab.order_to_thread(tracer)
    assert_child(*reversed(handed_off(span_exporter)))


async def test_run_in_executor_carries_a_copied_context(
    tracer: Tracer, span_exporter: InMemorySpanExporter
) -> None:
    await lab.order_run_in_executor_with_context(tracer)
    assert_child(*reversed(handed_off(span_exporter)))


def test_a_thread_pool_carries_a_copied_context(tracer: Tracer, span_exporter: InMemorySpanExporter) -> None:
    with ThreadPoolExecutor(max_workers=1) as pool:
        lab.order_submit_with_context(tracer, pool)
        # The pool's thread is left as it was: the next job without a context is an orphan again.
        span_exporter.clear()
        lab.order_submit(tracer, pool)
        assert_orphan(*reversed(handed_off(span_exporter)))


def test_a_thread_carries_an_attached_context(tracer: Tracer, span_exporter: InMemorySpanExporter) -> None:
    lab.order_thread_with_context(tracer)
    assert_child(*reversed(handed_off(span_exporter)))


# background jobs


@contextmanager
def scenario_baggage(scenario: str) -> Iterator[None]:
    """Makes current a context whose baggage names a demo scenario, as a request's would."""
    token = context.attach(baggage.set_baggage("tracemesh.scenario", scenario))
    try:
        yield
    finally:
        context.detach(token)


async def test_a_job_started_by_a_request_hangs_every_run_under_that_request(
    make_telemetry: MakeTelemetry, span_exporter: InMemorySpanExporter
) -> None:
    tracer = make_telemetry("inventory").tracer("inventory")  # its provider copies tracemesh.* baggage
    with scenario_baggage("slow-query"):
        job = await lab.place_first_order(tracer, runs=2)
    await job
    request = the(span_exporter, "handle order")
    runs = [span for span in span_exporter.get_finished_spans() if span.name == "restock"]
    assert len(runs) == 2
    for run in runs:
        assert_child(run, request)
        assert run.start_time >= request.end_time  # a child that starts after its parent ended
        assert run.attributes["tracemesh.scenario"] == "slow-query"  # the request's baggage, every run


class ShortRepository:
    """inventory's repository, reduced to what a restock asks of it: one product is two units short."""

    async def shortfalls(self, levels: dict[str, int]) -> dict[str, int]:
        return {"LAMP-9": 2}

    async def restock(self, shortfalls: dict[str, int], levels: dict[str, int]) -> dict[str, int]:
        return dict(shortfalls)


async def test_inventorys_restock_is_a_trace_of_its_own_even_when_a_request_starts_it(
    make_telemetry: MakeTelemetry, span_exporter: InMemorySpanExporter
) -> None:
    tracer = make_telemetry("inventory").tracer("inventory")
    service = InventoryService(ShortRepository(), tracer)
    with scenario_baggage("slow-query"), tracer.start_as_current_span("handle order"):
        restocking = asyncio.create_task(service.restock({"LAMP-9": 5}))
    assert await restocking == {"LAMP-9": 2}
    request, restock = the(span_exporter, "handle order"), the(span_exporter, "restock")
    assert restock.parent is None
    assert restock.context.trace_id != request.context.trace_id
    # The request's baggage stayed with the request: the provider copied it onto the request's span only.
    assert request.attributes["tracemesh.scenario"] == "slow-query"
    assert "tracemesh.scenario" not in restock.attributes


# generators


async def ended(exporter: InMemorySpanExporter, name: str) -> ReadableSpan:
    """The span once it has ended, giving the event loop a few turns: it closes an abandoned generator in
    a task of its own."""
    for _ in range(10):
        if any(span.name == name for span in exporter.get_finished_spans()):
            break
        await asyncio.sleep(0)
    return the(exporter, name)


async def test_a_span_held_open_across_a_yield_leaks_and_fails_to_detach(
    tracer: Tracer, span_exporter: InMemorySpanExporter, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="opentelemetry.context"):
        assert await lab.first_row(tracer) == "LAMP-9"
        rows = await ended(span_exporter, "read rows")
    request, work = handed_off(span_exporter)
    assert_child(rows, request)
    assert_child(work, rows)  # the wrong parent: "read rows" was still current after the generator paused
    assert rows.end_time > request.end_time
    assert "Failed to detach context" in caplog.text


async def test_a_span_not_made_current_in_a_generator_closed_in_place_leaves_the_context_alone(
    tracer: Tracer, span_exporter: InMemorySpanExporter, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="opentelemetry.context"):
        assert await lab.first_row_closed_here(tracer) == "LAMP-9"
        rows = await ended(span_exporter, "read rows")
    request, work = handed_off(span_exporter)
    assert_child(rows, request)
    assert_child(work, request)
    assert rows.end_time <= request.end_time
    assert "Failed to detach context" not in caplog.text


# hops nothing instruments


@pytest.fixture
def stock_url(tracer: Tracer) -> Iterator[str]:
    server = hops.stock_server(tracer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/stock"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.mark.usefixtures("w3c_propagators")
def test_a_raw_http_call_with_inject_joins_the_callers_trace(
    tracer: Tracer, span_exporter: InMemorySpanExporter, stock_url: str
) -> None:
    assert hops.fetch_stock(tracer, stock_url) == b"LAMP-9 5\n"
    wait_for(span_exporter, named("GET /stock"))
    client, server = the(span_exporter, "GET"), the(span_exporter, "GET /stock")
    assert (client.kind, server.kind) == (SpanKind.CLIENT, SpanKind.SERVER)
    assert_child(server, client)
    assert server.parent.is_remote  # what extract gives: a parent that came over the wire


@pytest.mark.usefixtures("w3c_propagators")
def test_a_raw_http_call_without_inject_starts_a_new_trace(
    tracer: Tracer, span_exporter: InMemorySpanExporter, stock_url: str
) -> None:
    with (
        tracer.start_as_current_span("GET", kind=SpanKind.CLIENT),
        urllib.request.urlopen(stock_url, timeout=5) as response,
    ):
        assert response.read() == b"LAMP-9 5\n"
    wait_for(span_exporter, named("GET /stock"))
    client, server = the(span_exporter, "GET"), the(span_exporter, "GET /stock")
    assert server.parent is None
    assert server.context.trace_id != client.context.trace_id


@pytest.mark.usefixtures("w3c_propagators")
def test_a_message_with_the_context_in_its_headers_joins_the_senders_trace(
    tracer: Tracer, span_exporter: InMemorySpanExporter
) -> None:
    messages: queue.Queue[hops.Message] = queue.Queue()
    with tracer.start_as_current_span("handle order"):
        hops.publish(tracer, messages, "order 42 placed")
    (message,) = messages.queue
    assert set(message.headers) == {"traceparent"}
    # Consumed in another thread, where nothing is current: only the headers link it to the sender.
    consumer = ThreadPoolExecutor(max_workers=1)
    assert consumer.submit(hops.consume, tracer, messages).result(5) == "order 42 placed"
    consumer.shutdown()
    send, process = the(span_exporter, "send orders"), the(span_exporter, "process orders")
    assert_child(send, the(span_exporter, "handle order"))
    assert_child(process, send)
    assert (send.kind, process.kind) == (SpanKind.PRODUCER, SpanKind.CONSUMER)


@pytest.mark.parametrize(
    "propagators",
    [
        [TraceContextTextMapPropagator(), W3CBaggagePropagator()],
        # Extracting without a context of its own, this order would return the current one.
        [W3CBaggagePropagator(), TraceContextTextMapPropagator()],
    ],
    ids=["tracecontext,baggage", "baggage,tracecontext"],
)
def test_a_message_without_headers_starts_a_new_trace(
    tracer: Tracer, span_exporter: InMemorySpanExporter, propagators: list[TextMapPropagator]
) -> None:
    messages: queue.Queue[hops.Message] = queue.Queue()
    with (
        global_propagators(*propagators),
        tracer.start_as_current_span("send orders", kind=SpanKind.PRODUCER),
    ):
        messages.put(hops.Message("order 42 placed"))  # sent with no inject
        hops.consume(tracer, messages)  # even in the sender's own thread and context
    send, process = the(span_exporter, "send orders"), the(span_exporter, "process orders")
    assert process.parent is None
    assert process.context.trace_id != send.context.trace_id
