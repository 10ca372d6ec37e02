"""inventory's HTTP routes: request and response shapes in, the service's answers out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import BaseModel, Field

from inventory.service import InventoryService
from tracemesh_common.database import Database

router = APIRouter()


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


# `async` though they await nothing: FastAPI runs a plain `def` dependency in a worker thread, a thread hop on
# every request.
async def service_of(request: Request) -> InventoryService:
    service: InventoryService = request.app.state.service
    return service


async def database_of(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


Service = Annotated[InventoryService, Depends(service_of)]


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(database: Annotated[Database, Depends(database_of)]) -> dict[str, str]:
    """Readiness: the stock database answers (503 otherwise)."""
    await database.ping()
    return {"status": "ready"}


@router.get("/products")
async def list_products(service: Service) -> list[ProductOut]:
    """Every product with its current stock."""
    return [ProductOut(sku=p.sku, name=p.name, stock=p.stock) for p in await service.list_products()]


@router.get("/products/{sku}")
async def get_product(sku: str, service: Service) -> ProductOut:
    """One product; 404 for an unknown sku."""
    product = await service.get_product(sku)
    return ProductOut(sku=product.sku, name=product.name, stock=product.stock)


# docs-region: reserve-route
@router.post("/reservations", status_code=status.HTTP_201_CREATED)
async def reserve(body: ReservationIn, response: Response, service: Service) -> ReservationOut:
    """Takes stock for one order: 201, or 200 when the same reservation id was already honoured."""
    reservation = await service.reserve(body.reservation_id, body.sku, body.quantity)
    # docs-endregion: reserve-route
    if reservation.replayed:
        response.status_code = status.HTTP_200_OK
    return ReservationOut(
        reservation_id=reservation.reservation_id,
        sku=reservation.sku,
        quantity=reservation.quantity,
        remaining_stock=reservation.remaining_stock,
    )
