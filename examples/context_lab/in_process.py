"""Context inside one process: asyncio tasks, a queue, threads, a background job and a generator, each
shown losing the request's context and carrying it. tests/integration/test_context_lab.py proves each case
with real spans: an orphan or a wrong parent when the context is lost, one tree when it is carried."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import AsyncGenerator, Callable
from concurrent.futures import Executor
from contextlib import aclosing
from dataclasses import dataclass

from opentelemetry import context
from opentelemetry.context import Context
from opentelemetry.trace import Tracer

ROWS = ("LAMP-9", "MUG-1", "STICKER-3")


def check_stock(tracer: Tracer) -> None:
    """The work each case hands off: its span's parent tells which context it ran in."""
    with tracer.start_as_current_span("check stock"):
        pass


async def check_stock_soon(tracer: Tracer) -> None:
    await asyncio.sleep(0)
    check_stock(tracer)


# docs-region: stock-worker
@dataclass(frozen=True)
class StockCheck:
    sku: str
    # The context to work in; None means the worker's own, copied where its task was created.
    context: Context | None = None


async def stock_worker(tracer: Tracer, queue: asyncio.Queue[StockCheck]) -> None:
    while True:
        job = await queue.get()
        with tracer.start_as_current_span("check stock", context=job.context) as span:
            span.set_attribute("tracemesh.sku", job.sku)
        queue.task_done()
        # docs-endregion: stock-worker


# docs-region: asyncio-orders
async def order_with_task(tracer: Tracer) -> None:
    with tracer.start_as_current_span("handle order"):
        await asyncio.create_task(check_stock_soon(tracer))  # the task copies the current context


async def order_through_queue(tracer: Tracer, queue: asyncio.Queue[StockCheck]) -> None:
    with tracer.start_as_current_span("handle order"):
        await queue.put(StockCheck("LAMP-9"))  # the job knows nothing of this request
        await queue.join()


async def order_through_queue_with_context(tracer: Tracer, queue: asyncio.Queue[StockCheck]) -> None:
    with tracer.start_as_current_span("handle order"):
        await queue.put(StockCheck("LAMP-9", context.get_current()))  # the request's context rides along
        await queue.join()
        # docs-endregion: asyncio-orders


# docs-region: threads-lost
async def order_run_in_executor(tracer: Tracer) -> None:
    with tracer.start_as_current_span("handle order"):
        await asyncio.get_running_loop().run_in_executor(None, check_stock, tracer)


def order_thread(tracer: Tracer) -> None:
    with tracer.start_as_current_span("handle order"):
        worker = threading.Thread(target=check_stock, args=(tracer,))
        worker.start()
        worker.join()
        # docs-endregion: threads-lost


def order_submit(tracer: Tracer, pool: Executor) -> None:
    with tracer.start_as_current_span("handle order"):
        pool.submit(check_stock, tracer).result()


# docs-region: threads-carried
async def order_to_thread(tracer: Tracer) -> None:
    with tracer.start_as_current_span("handle order"):
        await asyncio.to_thread(check_stock, tracer)  # copies the context into the thread


def order_submit_with_context(tracer: Tracer, pool: Executor) -> None:
    with tracer.start_as_current_span("handle order"):
        pool.submit(contextvars.copy_context().run, check_stock, tracer).result()


def order_thread_with_context(tracer: Tracer) -> None:
    with tracer.start_as_current_span("handle order"):
        worker = threading.Thread(target=run_attached, args=(context.get_current(), check_stock, tracer))
        worker.start()
        worker.join()


def run_attached(request: Context, work: Callable[[Tracer], None], tracer: Tracer) -> None:
    token = context.attach(request)  # makes the request's context current in this thread
    try:
        work(tracer)
    finally:
        context.detach(token)  # in the same thread, in reverse order of attach
        # docs-endregion: threads-carried


async def order_run_in_executor_with_context(tracer: Tracer) -> None:
    with tracer.start_as_current_span("handle order"):
        work_in_context = contextvars.copy_context().run
        await asyncio.get_running_loop().run_in_executor(None, work_in_context, check_stock, tracer)


# docs-region: job-started-in-request
async def restock_job(tracer: Tracer, runs: int) -> None:
    for _ in range(runs):
        await asyncio.sleep(0)
        with tracer.start_as_current_span("restock"):
            pass


async def place_first_order(tracer: Tracer, runs: int) -> asyncio.Task[None]:
    with tracer.start_as_current_span("handle order"):
        # Started lazily, by the first request: the job copies this request's context for good.
        return asyncio.create_task(restock_job(tracer, runs))
        # docs-endregion: job-started-in-request


# docs-region: generator-lost
async def read_rows(tracer: Tracer) -> AsyncGenerator[str, None]:
    with tracer.start_as_current_span("read rows"):  # current in the caller's context at every yield
        for row in ROWS:
            yield row


async def first_row(tracer: Tracer) -> str:
    with tracer.start_as_current_span("handle order"):
        row = await anext(read_rows(tracer))  # left open; the event loop closes it later, in another task
        check_stock(tracer)
        return row
        # docs-endregion: generator-lost


# docs-region: generator-carried
async def read_rows_in_span(tracer: Tracer) -> AsyncGenerator[str, None]:
    span = tracer.start_span("read rows")  # started, not made current: nothing to detach
    try:
        for row in ROWS:
            yield row
    finally:
        span.end()
        # docs-endregion: generator-carried


async def first_row_closed_here(tracer: Tracer) -> str:
    with tracer.start_as_current_span("handle order"):
        async with aclosing(read_rows_in_span(tracer)) as rows:  # closed here, in this task
            row = await anext(rows)
        check_stock(tracer)
        return row
