"""gateway's HTTP transport: the public routes, and one error shape for every failure."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Header, Query, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import ASGIApp

from gateway.edge import EdgePolicy, link_inbound_context
from gateway.errors import GatewayError
from gateway.orders_client import OrdersClient
from gateway.schemas import DemoConfig, ErrorBody, OrderIn, OrderOut, ProductOut, ScenarioOut
from gateway.settings import GatewaySettings
from telemetry import Telemetry, add_trace_response, current_trace_id
from telemetry.scenarios import Scenario

logger = logging.getLogger(__name__)

_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 404, 409, 422, 502, 503)
}
# The demo page: plain HTML, CSS and JavaScript, served as they are (no build step).
STATIC = Path(__file__).parent / "static"
# The page and its files are not traced: a trace per page load or stylesheet would bury the API's. The
# instrumentation searches these in the URL it rebuilds from the caller's Host header and the path, so each
# must end ($) with a whole file name: with a wildcard, `Host: x/static` would untrace `GET /orders`.
PAGE_URLS = (
    "/$",
    "/demo/config$",
    *(f"/static/{re.escape(file.name)}$" for file in sorted(STATIC.iterdir()) if file.is_file()),
)


def create_app(
    settings: GatewaySettings, telemetry: Telemetry, orders: OrdersClient | None = None
) -> ASGIApp:
    """The gateway, ready to serve: the FastAPI app inside the edge policy. Without `orders` (tests may pass
    their own), it connects to settings.orders_address on start-up and closes the channel on shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The gRPC channel belongs to the running event loop, so it is made here, not at import time.
        # docs-region: template-grpc-client
        client = orders or OrdersClient.connect(
            settings.orders_address,
            timeout_seconds=settings.orders_timeout_seconds,
            interceptors=telemetry.grpc_client_interceptors(),
        )
        # docs-endregion: template-grpc-client
        app.state.orders = client
        yield
        if orders is None:
            await client.close()

    # FastAPI's built-in telemetry stays off: spans come from the contrib instrumentation below, the
    # same package on every service (and two layers would give each request two server spans).
    app = FastAPI(
        title="tracemesh gateway",
        version="1.0",
        description="Orders over HTTP. Every traced response names its trace in the `traceresponse` header.",
        lifespan=lifespan,
        responses=_ERROR_RESPONSES,
        telemetry={"tracing": False, "metrics": False, "logs": False, "auto_configure": False},
    )
    _add_error_handlers(app)

    def orders_of(request: Request) -> OrdersClient:
        client: OrdersClient = request.app.state.orders
        return client

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        """The demo page."""
        return FileResponse(STATIC / "index.html")

    @app.get("/demo/config")
    async def demo_config() -> DemoConfig:
        """What the demo page needs to know: where traces are shown, and which scenarios it may offer."""
        scenarios = list(Scenario) if settings.scenarios_enabled else []
        return DemoConfig(
            jaeger_ui_url=settings.jaeger_ui_url,
            scenarios=[ScenarioOut(name=scenario.value) for scenario in scenarios],
        )

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers. Calls nothing downstream."""
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz(request: Request) -> JSONResponse:
        """Readiness: orders answers its gRPC health check."""
        if await orders_of(request).ready():
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "orders unavailable"}, status_code=status.HTTP_503_SERVICE_UNAVAILABLE)

    @app.get("/products")
    async def list_products(request: Request) -> list[ProductOut]:
        """The demo products with their current stock."""
        return await orders_of(request).list_products()

    @app.post("/orders", status_code=status.HTTP_201_CREATED)
    async def create_order(
        order: OrderIn,
        request: Request,
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
        return await orders_of(request).create_order(order.sku, order.quantity, idempotency_key)

    @app.get("/orders")
    async def list_orders(
        request: Request, limit: Annotated[int, Query(ge=1, le=100)] = 20
    ) -> list[OrderOut]:
        """The most recent orders first."""
        return await orders_of(request).list_orders(limit)

    @app.get("/orders/{order_id}")
    async def get_order(order_id: str, request: Request) -> OrderOut:
        """One order; 404 when there is none with that id."""
        return await orders_of(request).get_order(order_id)

    # docs-region: gateway-instrument
    # Every response (health checks aside, which are not traced) carries `traceresponse: 00-<trace id>-...`.
    add_trace_response()
    telemetry.instrument_fastapi(app, excluded_urls=PAGE_URLS, server_request_hook=link_inbound_context)
    # docs-endregion: gateway-instrument
    # docs-region: edge-policy-outside
    # The edge policy wraps the app from the outside, tracing included: what it drops of the caller's
    # trace context never reaches a span or another service (OpenTelemetry's baggage parser still logs an
    # entry it cannot read, escaped and cut by the log format).
    return EdgePolicy(
        app,
        scenarios_enabled=settings.scenarios_enabled,
        trace_context=settings.inbound_trace_context,
        baggage_keys=settings.baggage_allow_list(),
    )
    # docs-endregion: edge-policy-outside


def _add_error_handlers(app: FastAPI) -> None:
    """One body for every error: {"error": {"code", "message", "trace_id"}}; never a stack trace."""

    @app.exception_handler(GatewayError)
    async def gateway_error(_request: Request, error: GatewayError) -> JSONResponse:
        return error_response(error.status_code, error.code, str(error))

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
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        response = error_response(error.status_code, code, str(error.detail))
        response.headers.update(error.headers or {})
        if error.status_code == 405 and (methods := _methods_of(request)):
            # Allow must list every method of the path; Starlette names only those of the first route
            # that matched it (GET /orders and POST /orders are two routes). A mount (the page's static
            # files) sets its own.
            response.headers["allow"] = ", ".join(methods)
        return response

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, error: Exception) -> JSONResponse:
        # Logged with its traceback here, recorded on the server span by the instrumentation; the
        # client only learns that it failed and which trace to look at.
        logger.exception("unhandled error")
        return error_response(500, "internal", "internal error")


def _methods_of(request: Request) -> list[str]:
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match is Match.PARTIAL:  # the path matches, the method does not
            methods |= getattr(route, "methods", None) or set()
    return sorted(methods)


# docs-region: error-response
def error_response(status_code: int, code: str, message: str, **extra: Any) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "trace_id": current_trace_id(), **extra}}
    return JSONResponse(status_code=status_code, content=body)
    # docs-endregion: error-response
