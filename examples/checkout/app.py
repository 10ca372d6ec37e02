"""checkout's HTTP transport: POST /checkout, and tracemesh's one error shape for every failure."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from checkout.domain import CartItem, CheckoutError
from checkout.gateway_client import GatewayClient
from checkout.service import CheckoutService
from checkout.settings import CheckoutSettings
from tracemesh_common.errors import add_error_handlers, error_response
from tracemesh_common.tracing import Telemetry


class ItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The gateway's own rules, checked here too: a bad cart is refused before any order is placed.
    sku: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", examples=["BOOK-001"])
    quantity: int = Field(ge=1, le=1_000_000, examples=[1])


class CartIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[ItemIn] = Field(min_length=1, max_length=10)


class OrderOut(BaseModel):
    id: str
    sku: str
    quantity: int
    status: str


class CheckoutOut(BaseModel):
    orders: list[OrderOut]


def create_app(settings: CheckoutSettings, telemetry: Telemetry) -> FastAPI:
    """The checkout app, ready to serve; its HTTP client to the gateway is closed on shutdown."""
    # docs-region: checkout-client
    http = httpx.AsyncClient(base_url=settings.gateway_url, timeout=settings.gateway_timeout_seconds)
    # Every call to the gateway becomes a CLIENT span, and its context goes out in the request headers.
    telemetry.instrument_httpx(http)
    service = CheckoutService(GatewayClient(http))
    # docs-endregion: checkout-client

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await http.aclose()

    # FastAPI's built-in telemetry stays off: spans come from the contrib instrumentation below, as on
    # every tracemesh service (and two layers would give each request two server spans).
    app = FastAPI(
        title="tracemesh checkout (example)",
        lifespan=lifespan,
        telemetry={"tracing": False, "metrics": False, "logs": False, "auto_configure": False},
    )
    # docs-region: checkout-errors
    # Invalid requests, unknown routes and surprises answer in tracemesh's one error shape; a checkout
    # that ended early says which orders it placed before it did.
    add_error_handlers(app, {})

    @app.exception_handler(CheckoutError)
    async def checkout_error(_request: Request, error: CheckoutError) -> JSONResponse:
        return error_response(error.status_code, error.code, str(error), placed=error.placed)
        # docs-endregion: checkout-errors

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers. Calls nothing downstream."""
        return {"status": "ok"}

    @app.post("/checkout", status_code=status.HTTP_201_CREATED)
    async def checkout(cart: CartIn) -> CheckoutOut:
        """Places each item as an order through the gateway: 201 with the orders, or the first item's
        refusal (404 unknown sku, 409 not enough stock), 503 (the gateway is down), 502 (it failed)."""
        placed = await service.place_cart([CartItem(item.sku, item.quantity) for item in cart.items])
        return CheckoutOut(
            orders=[OrderOut(id=o.id, sku=o.sku, quantity=o.quantity, status=o.status) for o in placed]
        )

    # docs-region: checkout-server
    # A SERVER span per request (not for /healthz), continuing the caller's trace if it sent one; every
    # traced response names its trace in a `traceresponse` header.
    telemetry.instrument_fastapi(app)
    # docs-endregion: checkout-server
    return app
