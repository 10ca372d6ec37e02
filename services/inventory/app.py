"""inventory's HTTP transport: routes, request and response shapes, and the mapping of errors to statuses."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from fastapi import FastAPI, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from inventory.domain import (
    InsufficientStock,
    InventoryError,
    ReservationConflict,
    StoreUnavailable,
    UnknownProduct,
)
from inventory.repository import StockRepository, create_engine
from inventory.seed import DEMO_PRODUCTS
from inventory.service import Flaws, InventoryService
from inventory.settings import InventorySettings
from telemetry import Telemetry, current_trace_id
from telemetry.scenarios import current_scenario

logger = logging.getLogger(__name__)

_STATUS_BY_ERROR: dict[type[InventoryError], int] = {
    UnknownProduct: status.HTTP_404_NOT_FOUND,
    InsufficientStock: status.HTTP_409_CONFLICT,
    ReservationConflict: status.HTTP_409_CONFLICT,
    StoreUnavailable: status.HTTP_503_SERVICE_UNAVAILABLE,
}


class ProductOut(BaseModel):
    sku: str
    name: str
    stock: int


class ReservationIn(BaseModel):
    reservation_id: str = Field(
        pattern=r"^[A-Za-z0-9._-]{1,64}$", description="The caller's idempotency key (orders: the order id)."
    )
    sku: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    quantity: int = Field(ge=1, le=1_000_000)


class ReservationOut(BaseModel):
    reservation_id: str
    sku: str
    quantity: int
    remaining_stock: int


def create_app(settings: InventorySettings, telemetry: Telemetry) -> FastAPI:
    """The inventory app, ready to serve: the database is opened, migrated and seeded on start-up."""
    engine = create_engine(settings.database_url)
    repository = StockRepository(engine)
    flaws = Flaws(
        slow_query_rows=settings.slow_query_rows,
        contention_rows=settings.contention_rows,
        flaky_stall_seconds=settings.flaky_stall_seconds,
    )
    service = InventoryService(repository, telemetry.tracer("inventory"), flaws)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # docs-region: inventory-instrument-engine
        await repository.create_schema(DEMO_PRODUCTS)
        # Instrumented after the schema is in place, so start-up statements don't show up as traces of
        # their own that no request caused.
        telemetry.instrument_engine(engine)
        # docs-endregion: inventory-instrument-engine
        restocking = None
        if settings.restock_interval_seconds > 0:
            restocking = asyncio.create_task(_restock_forever(service, settings.restock_interval_seconds))
        yield
        if restocking is not None:
            restocking.cancel()
            with suppress(asyncio.CancelledError):
                await restocking
        await engine.dispose()

    # FastAPI's built-in telemetry stays off: spans come from the contrib instrumentation below, the
    # same package on every service (and two layers would give each request two server spans).
    app = FastAPI(
        title="tracemesh inventory",
        lifespan=lifespan,
        telemetry={"tracing": False, "metrics": False, "logs": False, "auto_configure": False},
    )

    @app.exception_handler(InventoryError)
    async def inventory_error(_request: Request, error: InventoryError) -> JSONResponse:
        return _error_response(_STATUS_BY_ERROR.get(type(error), 500), error.code, str(error))

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        """Readiness: the stock database answers."""
        await repository.ping()
        return {"status": "ready"}

    @app.get("/products")
    async def list_products() -> list[ProductOut]:
        """Every product with its current stock."""
        products = await service.list_products(current_scenario())
        return [ProductOut(sku=p.sku, name=p.name, stock=p.stock) for p in products]

    @app.get("/products/{sku}")
    async def get_product(sku: str) -> ProductOut:
        """One product; 404 for an unknown sku."""
        product = await service.get_product(sku)
        return ProductOut(sku=product.sku, name=product.name, stock=product.stock)

    # docs-region: reserve-route
    @app.post("/reservations", status_code=status.HTTP_201_CREATED)
    async def reserve(body: ReservationIn, response: Response) -> ReservationOut:
        """Takes stock for one order: 201, or 200 when the same reservation id was already honoured."""
        reservation = await service.reserve(body.reservation_id, body.sku, body.quantity, current_scenario())
        # docs-endregion: reserve-route
        if reservation.replayed:
            response.status_code = status.HTTP_200_OK
        return ReservationOut(
            reservation_id=reservation.reservation_id,
            sku=reservation.sku,
            quantity=reservation.quantity,
            remaining_stock=reservation.remaining_stock,
        )

    telemetry.instrument_fastapi(app)
    return app


async def _restock_forever(service: InventoryService, interval_seconds: float) -> None:
    """The restock job: runs beside the requests, in the same event loop, until the app stops."""
    levels = {product.sku: product.stock for product in DEMO_PRODUCTS}
    while True:
        await asyncio.sleep(interval_seconds)
        try:
            await service.restock(levels)
        except Exception:  # a failed run (the database down, say) must not end the job
            logger.exception("restock failed; trying again in %.0f s", interval_seconds)


def _error_response(status_code: int, code: str, message: str) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "trace_id": current_trace_id()}}
    return JSONResponse(status_code=status_code, content=body)
