"""inventory's business rules: what may be reserved, and the one hand-made span of the service."""

from __future__ import annotations

from opentelemetry.trace import Status, StatusCode, Tracer

from inventory.domain import InventoryError, Product, Reservation, StoreUnavailable
from inventory.repository import StockRepository


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
            try:
                reservation = await self._repository.reserve(reservation_id, sku, quantity)
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
            span.set_attributes(
                {
                    "tracemesh.reservation.outcome": "reserved",
                    "tracemesh.stock.remaining": reservation.remaining_stock,
                }
            )
            return reservation
