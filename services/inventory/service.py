"""inventory's business rules: what may be reserved, restocking, the demo scenarios' flaws, and the
hand-made spans of the service."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from inventory.domain import InventoryError, Product, Reservation, StoreUnavailable
from inventory.repository import StockRepository
from telemetry.scenarios import Scenario

logger = logging.getLogger(__name__)

# How many traces the flaky-inventory scenario remembers having stalled once.
_REMEMBERED_TRACES = 10_000


@dataclass(frozen=True)
class Flaws:
    """How bad each scenario is (inventory's settings)."""

    # slow-query: rows the database walks during the stock lookup.
    slow_query_rows: int = 1_000_000
    # contention: rows walked while holding the stock ledger lock.
    contention_rows: int = 100_000
    # flaky-inventory: how long the first call of each trace hangs; longer than orders waits for an attempt.
    flaky_stall_seconds: float = 2.0


class InventoryService:
    def __init__(self, repository: StockRepository, tracer: Tracer, flaws: Flaws | None = None) -> None:
        self._repository = repository
        self._tracer = tracer
        self._flaws = flaws or Flaws()
        # contention: one lock for the whole process, the "shared resource" reservations queue for.
        self._ledger_lock = asyncio.Lock()
        self._stalled_traces: OrderedDict[int, None] = OrderedDict()

    async def list_products(self, scenario: Scenario | None = None) -> list[Product]:
        await self._maybe_stall(scenario)
        return await self._repository.list_products(
            one_by_one=scenario is Scenario.N_PLUS_ONE,
            walk_rows=self._flaws.slow_query_rows if scenario is Scenario.SLOW_QUERY else 0,
        )

    async def get_product(self, sku: str) -> Product:
        return await self._repository.get_product(sku)

    async def reserve(
        self, reservation_id: str, sku: str, quantity: int, scenario: Scenario | None = None
    ) -> Reservation:
        """Reserves stock for one order. The span makes the business step visible between the HTTP server
        span and its SQL spans, with the outcome a reader of the trace wants to know."""
        await self._maybe_stall(scenario)
        # docs-region: reserve-span
        # The span's status is set by hand: a refusal (unknown sku, not enough stock) is the caller's
        # problem and an answer, not a failure of this service, so it stays UNSET; only a real failure
        # (the database gone) is recorded as an exception with ERROR status.
        with self._tracer.start_as_current_span(
            "reserve stock", record_exception=False, set_status_on_exception=False
        ) as span:
            span.set_attributes(
                {
                    "tracemesh.sku": sku,
                    "tracemesh.quantity": quantity,
                    "tracemesh.reservation.id": reservation_id,
                }
            )
            # docs-endregion: reserve-span
            try:
                if scenario is Scenario.SLOW_QUERY:
                    walk_rows = self._flaws.slow_query_rows
                elif scenario is Scenario.CONTENTION:
                    walk_rows = self._flaws.contention_rows
                else:
                    walk_rows = 0
                # contention: the work, made a little slower, happens under the process-wide lock.
                async with self._ledger() if scenario is Scenario.CONTENTION else nullcontext():
                    reservation = await self._repository.reserve(
                        reservation_id, sku, quantity, walk_rows=walk_rows
                    )
            # docs-region: reserve-span-errors
            except InventoryError as error:
                span.set_attribute("tracemesh.reservation.outcome", error.code)
                if isinstance(error, StoreUnavailable):
                    span.record_exception(error)
                    span.set_status(Status(StatusCode.ERROR, str(error)))
                raise
            except Exception as error:
                span.record_exception(error)
                span.set_status(Status(StatusCode.ERROR, type(error).__name__))
                raise
                # docs-endregion: reserve-span-errors
            # docs-region: reserve-span-outcome
            span.set_attributes(
                {
                    "tracemesh.reservation.outcome": "reserved",
                    "tracemesh.stock.remaining": reservation.remaining_stock,
                }
            )
            return reservation
            # docs-endregion: reserve-span-outcome

    async def restock(self, levels: dict[str, int]) -> dict[str, int]:
        """Brings every product back to its level. A run that finds nothing to do makes no trace; one
        that restocks is a trace of its own: no request caused it, so its root span is an INTERNAL span
        started in an empty context (never a child of whatever happened to be current)."""
        shortfalls = await self._repository.shortfalls(levels)
        if not shortfalls:
            return {}
        # docs-region: restock-span
        with self._tracer.start_as_current_span("restock", context=Context(), kind=SpanKind.INTERNAL) as span:
            added = await self._repository.restock(shortfalls, levels)
            span.set_attributes(
                {"tracemesh.restock.products": len(added), "tracemesh.restock.units": sum(added.values())}
            )
            # docs-endregion: restock-span
            # docs-region: restock-log
            if added:  # logged inside the span, so the line carries the restock's trace id
                logger.info("restocked %s", ", ".join(f"{sku} +{units}" for sku, units in added.items()))
                # docs-endregion: restock-log
            return added

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

    async def _maybe_stall(self, scenario: Scenario | None) -> None:
        """flaky-inventory: the first call of each trace hangs past the caller's timeout, then carries on
        as usual. The caller's retry gets a normal answer (a reservation is keyed by the order id, so the
        late first attempt and the retry take the stock once between them)."""
        # docs-region: flaky-stall
        if scenario is not Scenario.FLAKY_INVENTORY:
            return
        span = trace.get_current_span()
        trace_id = span.get_span_context().trace_id
        if not trace_id or trace_id in self._stalled_traces:  # untraced: nothing to tell the calls apart
            return
        self._stalled_traces[trace_id] = None
        if len(self._stalled_traces) > _REMEMBERED_TRACES:
            self._stalled_traces.popitem(last=False)
        span.add_event(
            "tracemesh.scenario.stall", {"tracemesh.stall.seconds": self._flaws.flaky_stall_seconds}
        )
        await asyncio.sleep(self._flaws.flaky_stall_seconds)
        # docs-endregion: flaky-stall
