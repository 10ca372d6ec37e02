"""inventory's business rules: what may be reserved, restocking, and the hand-made spans of the service."""

from __future__ import annotations

import logging

from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from inventory.domain import InventoryError, Product, Reservation, StoreUnavailable
from inventory.repository import StockRepository

logger = logging.getLogger(__name__)


class InventoryService:
    def __init__(self, repository: StockRepository, tracer: Tracer) -> None:
        self._repository = repository
        self._tracer = tracer

    async def list_products(self) -> list[Product]:
        return await self._repository.list_products()

    async def get_product(self, sku: str) -> Product:
        return await self._repository.get_product(sku)

    async def reserve(self, reservation_id: str, sku: str, quantity: int) -> Reservation:
        """Reserves stock for one order. The span makes the business step visible between the HTTP server
        span and its SQL spans, with the outcome a reader of the trace wants to know."""
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
                reservation = await self._repository.reserve(reservation_id, sku, quantity)
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
