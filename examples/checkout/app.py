"""checkout's HTTP transport: POST /checkout, and one error shape for every failure (the gateway's)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from checkout.domain import CartItem, CheckoutError
from checkout.gateway_client import GatewayClient
from checkout.service import CheckoutService
from checkout.settings import CheckoutSettings
from telemetry import Telemetry, add_trace_response, current_trace_id

logger = logging.getLogger(__name__)


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
    _add_error_handlers(app)

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
    # Every traced response names its trace in a `traceresponse` header.
    add_trace_response()
    # A SERVER span per request (not for /healthz), continuing the caller's trace if it sent one.
    telemetry.instrument_fastapi(app)
    # docs-endregion: checkout-server
    return app


def _add_error_handlers(app: FastAPI) -> None:
    """The gateway's error body: {"error": {"code", "message", "trace_id", ...}}; never a stack trace."""

    # docs-region: checkout-errors
    @app.exception_handler(CheckoutError)
    async def checkout_error(_request: Request, error: CheckoutError) -> JSONResponse:
        return error_response(error.status_code, error.code, str(error), placed=error.placed)
        # docs-endregion: checkout-errors

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, error: RequestValidationError) -> JSONResponse:
        problems = error.errors()
        if any(problem.get("type") == "json_invalid" for problem in problems):
            return error_response(400, "malformed_json", "the request body is not valid JSON")
        fields = [
            {
                "field": ".".join(str(part) for part in problem.get("loc", ())),
                "problem": problem.get("msg", ""),
            }
            for problem in problems
        ]
        summary = "; ".join(f"{field['field']}: {field['problem']}" for field in fields)
        return error_response(422, "invalid_request", summary or "invalid request", fields=fields)

    @app.exception_handler(HTTPException)  # Starlette's: also raised for unknown routes and methods
    async def http_error(_request: Request, error: HTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        response = error_response(error.status_code, code, str(error.detail))
        response.headers.update(error.headers or {})
        return response

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, error: Exception) -> JSONResponse:
        # Logged with its traceback here, recorded on the server span by the instrumentation.
        logger.exception("unhandled error")
        return error_response(500, "internal", "internal error")


# docs-region: checkout-error-body
def error_response(status_code: int, code: str, message: str, **extra: Any) -> JSONResponse:
    # current_trace_id() is the server span's trace: the id the caller looks up, and every log line names.
    body = {"error": {"code": code, "message": message, "trace_id": current_trace_id(), **extra}}
    return JSONResponse(status_code=status_code, content=body)
    # docs-endregion: checkout-error-body
