"""The demo in inventory: the four scenarios' flaws, and the restock job that tops the stock back up.

`DemoStockRepository` is inventory's repository with the flaw a request asks for (read from its baggage), and
`FlakyInventory` a middleware that makes its calls hang:

- slow-query: the stock lookup and the reserving UPDATE make the database walk a million rows (a real,
  slow statement, what a lookup that lost its index costs; not a sleep): one long DB span.
- n-plus-one: products are listed by sku first, then each with a query of its own: many sibling DB spans.
- flaky-inventory: the first call of each trace hangs past orders' timeout, then carries on: orders times out,
  backs off and retries, and the reservation keyed by the order id takes the stock once between them.
- contention: reservations queue for one process-wide lock, the work under it made slower: concurrent
  traces show their waits side by side.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from typing import Literal

from opentelemetry import trace
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import ColumnElement, event, select, text
from sqlalchemy.orm import ORMExecuteState
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from inventory.catalogue import CATALOGUE
from inventory.domain import Product, Reservation
from inventory.models import ProductRow
from inventory.repository import StockRepository
from inventory.service import InventoryService
from tracemesh_common.database import Database
from tracemesh_common.lifecycle import Job
from tracemesh_demo.scenarios import Scenario, current_scenario

# How many traces the flaky-inventory scenario remembers having stalled once.
_REMEMBERED_TRACES = 10_000
# Which products statements of the current request the database must make slow, and by how many rows.
_WALK: ContextVar[tuple[Literal["select", "update"], int] | None] = ContextVar("walk", default=None)


class InventoryDemoSettings(BaseSettings):
    """How bad each scenario is, and how often the restock job runs (INVENTORY_* variables)."""

    model_config = SettingsConfigDict(env_prefix="INVENTORY_", extra="ignore")

    # slow-query: rows the database walks during the stock lookup.
    slow_query_rows: int = Field(default=1_000_000, ge=1)
    # contention: rows walked while holding the stock ledger lock.
    contention_rows: int = Field(default=100_000, ge=1)
    # flaky-inventory: how long the first call of each trace hangs; longer than orders waits for an attempt.
    flaky_stall_seconds: float = Field(default=2.0, ge=0)
    # The restock job tops every product up to its catalogue stock this often; 0 turns it off.
    restock_interval_seconds: float = Field(default=30.0, ge=0)


class DemoStockRepository(StockRepository):
    """inventory's repository, with the flaw a request's scenario asks for."""

    def __init__(self, database: Database, settings: InventoryDemoSettings | None = None) -> None:
        super().__init__(database)
        self._settings = settings or InventoryDemoSettings()
        self._tracer = trace.get_tracer("tracemesh.demo")
        # contention: one lock for the whole process, the "shared resource" reservations queue for.
        self._ledger_lock = asyncio.Lock()
        # The slow statements are the repository's own, made slow in the database: a products statement run
        # by this database's sessions gets the walk while _WALK asks for it.
        event.listen(database.session_class, "do_orm_execute", _walk_when_asked)

    async def list_products(self) -> list[Product]:
        scenario = current_scenario()
        if scenario is Scenario.N_PLUS_ONE:
            async with self.database.session() as session:
                skus = (await session.scalars(select(ProductRow.sku).order_by(ProductRow.sku))).all()
                rows = [row for sku in skus if (row := await session.get(ProductRow, sku)) is not None]
                return [Product(row.sku, row.name, row.stock) for row in rows]
        with _walking("select", self._settings.slow_query_rows if scenario is Scenario.SLOW_QUERY else 0):
            return await super().list_products()

    async def reserve(self, reservation_id: str, sku: str, quantity: int) -> Reservation:
        scenario = current_scenario()
        if scenario is Scenario.CONTENTION:
            # The work, made a little slower, happens under the process-wide lock.
            async with self._ledger():
                with _walking("update", self._settings.contention_rows):
                    return await super().reserve(reservation_id, sku, quantity)
        with _walking("update", self._settings.slow_query_rows if scenario is Scenario.SLOW_QUERY else 0):
            return await super().reserve(reservation_id, sku, quantity)

    # docs-region: ledger-lock
    @asynccontextmanager
    async def _ledger(self) -> AsyncIterator[None]:
        """Holds the ledger lock; the time spent queueing for it is a span of its own."""
        with self._tracer.start_as_current_span("wait for stock ledger lock"):
            await self._ledger_lock.acquire()
        try:
            yield
        finally:
            self._ledger_lock.release()
            # docs-endregion: ledger-lock


class FlakyInventory:
    """flaky-inventory, as ASGI middleware inside the tracing layer: the first call of each trace to list or
    reserve stock hangs past the caller's timeout, then carries on as usual. The caller's retry gets a normal
    answer (a reservation is keyed by the order id, so the late first attempt and the retry take the stock
    once between them)."""

    PATHS = ("/products", "/reservations")

    def __init__(self, app: ASGIApp, settings: InventoryDemoSettings | None = None) -> None:
        self._app = app
        self._settings = settings or InventoryDemoSettings()
        self._stalled_traces: OrderedDict[int, None] = OrderedDict()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.PATHS:
            await self._app(scope, receive, send)
            return
        # The request's body first, as a server has it before any handler runs: the caller may give up during
        # the stall, and the late request must still reach the handler whole (it is answered from the
        # reservation its retry made), as it would if the service itself were slow.
        received = [await receive()]
        while received[-1]["type"] == "http.request" and received[-1].get("more_body"):
            received.append(await receive())
        await self._maybe_stall()

        async def replay() -> Message:
            return received.pop(0) if received else await receive()

        await self._app(scope, replay, send)

    async def _maybe_stall(self) -> None:
        # docs-region: flaky-stall
        if current_scenario() is not Scenario.FLAKY_INVENTORY:
            return
        span = trace.get_current_span()  # inventory's HTTP server span: the tracing layer is outside
        trace_id = span.get_span_context().trace_id
        if not trace_id or trace_id in self._stalled_traces:  # untraced: nothing to tell the calls apart
            return
        self._stalled_traces[trace_id] = None
        if len(self._stalled_traces) > _REMEMBERED_TRACES:
            self._stalled_traces.popitem(last=False)
        span.add_event(
            "tracemesh.scenario.stall", {"tracemesh.stall.seconds": self._settings.flaky_stall_seconds}
        )
        await asyncio.sleep(self._settings.flaky_stall_seconds)
        # docs-endregion: flaky-stall


# docs-region: slow-walk
def _walk(rows: int) -> ColumnElement[bool]:
    """A condition that is always true but makes the database walk `rows` rows to prove it."""
    return text(  # type: ignore[return-value]
        "(WITH RECURSIVE walk(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM walk WHERE n < :rows)"
        " SELECT count(*) FROM walk) > 0"
    ).bindparams(rows=rows)
    # docs-endregion: slow-walk


@contextmanager
def _walking(statement: Literal["select", "update"], rows: int) -> Iterator[None]:
    """While inside, each products `statement` of this request walks `rows` rows (none when 0)."""
    token = _WALK.set((statement, rows) if rows > 0 else None)
    try:
        yield
    finally:
        _WALK.reset(token)


def _walk_when_asked(state: ORMExecuteState) -> None:
    """The sessions' hook: adds the walk to the products statement _WALK asks for."""
    asked = _WALK.get()
    if asked is None or state.is_column_load or state.is_relationship_load:
        return
    statement, rows = asked
    if (state.is_select if statement == "select" else state.is_update) and any(
        mapper.class_ is ProductRow for mapper in state.all_mappers
    ):
        state.statement = state.statement.where(_walk(rows))  # type: ignore[attr-defined]


def restock_job(service: InventoryService, settings: InventoryDemoSettings | None = None) -> Job:
    """The restock job: every INVENTORY_RESTOCK_INTERVAL_SECONDS, each product back to its catalogue stock.
    A run that restocks is a trace of its own (see InventoryService.restock); one that finds nothing, none."""
    settings = settings or InventoryDemoSettings()
    levels = {product.sku: product.stock for product in CATALOGUE}
    return Job("restock", settings.restock_interval_seconds, lambda: service.restock(levels))
