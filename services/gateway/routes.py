"""gateway's public routes: HTTP in, one call to orders, the public JSON shapes out. They never see gRPC."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, status
from fastapi.responses import JSONResponse

from gateway.orders_client import OrdersClient
from gateway.schemas import OrderIn, OrderOut, ProductOut

router = APIRouter()


async def orders_client(request: Request) -> OrdersClient:
    """The one client to orders, made when the app starts (see app.py's lifespan). `async` though it awaits
    nothing: FastAPI runs a plain `def` dependency in a worker thread, a thread hop on every request."""
    client: OrdersClient = request.app.state.orders
    return client


Orders = Annotated[OrdersClient, Depends(orders_client)]


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process answers. Calls nothing downstream."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(orders: Orders) -> JSONResponse:
    """Readiness: orders answers its gRPC health check."""
    if await orders.ready():
        return JSONResponse({"status": "ready"})
    return JSONResponse({"status": "orders unavailable"}, status_code=status.HTTP_503_SERVICE_UNAVAILABLE)


@router.get("/products")
async def list_products(orders: Orders) -> list[ProductOut]:
    """The products with their current stock."""
    return await orders.list_products()


@router.post("/orders", status_code=status.HTTP_201_CREATED)
async def create_order(
    order: OrderIn,
    orders: Orders,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            pattern=r"^[A-Za-z0-9._:-]{1,64}$",
            description="Makes a retry safe: a request repeated with the same key answers with the order "
            "the key first created (finishing it if it was left pending) instead of placing another.",
        ),
    ] = None,
) -> OrderOut:
    """Places an order: 201, or 404 (unknown sku), 409 (not enough stock; or the Idempotency-Key was
    used for a different order), 503 (a service is down: retry with the same Idempotency-Key)."""
    return await orders.create_order(order.sku, order.quantity, idempotency_key)


@router.get("/orders")
async def list_orders(orders: Orders, limit: Annotated[int, Query(ge=1, le=100)] = 20) -> list[OrderOut]:
    """The most recent orders first."""
    return await orders.list_orders(limit)


@router.get("/orders/{order_id}")
async def get_order(order_id: str, orders: Orders) -> OrderOut:
    """One order; 404 when there is none with that id."""
    return await orders.get_order(order_id)
