"""One error body for every HTTP service, {"error": {"code", "message", "trace_id", ...}}, never a traceback.

    add_error_handlers(app, {UnknownProduct: 404, InsufficientStock: 409, StoreUnavailable: 503})

Each domain error carries its `code` (the name a client can act on); the mapping gives its status, unless the
error carries its own `status_code` (errors made for HTTP, such as the gateway's). A
request FastAPI cannot read gets 400 `malformed_json` or 422 `invalid_request` with the fields at fault, an
unknown route 404 `not_found`, a wrong method 405 `method_not_allowed`, and anything unexpected 500
`internal`, logged here with its traceback. The trace id names the trace to look at.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from opentelemetry import trace
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match

logger = logging.getLogger(__name__)


class ErrorDetail(BaseModel):
    code: str = Field(examples=["insufficient_stock"])
    message: str
    # The trace of the failed request: paste it into Jaeger's search to see where it failed.
    trace_id: str | None = Field(examples=["4bf92f3577b34da6a3ce929d0e0e4736"])
    # 422 only: each field at fault and what is wrong with it.
    fields: list[dict[str, object]] | None = None


class ErrorBody(BaseModel):
    """Every error answer of every tracemesh HTTP service."""

    error: ErrorDetail


# For OpenAPI: `FastAPI(responses=error_responses(404, 409))` documents the body on those statuses.
def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorBody} for status in statuses}


# docs-region: current-trace-id
def current_trace_id() -> str | None:
    """The current trace's id as 32 hex digits, for error bodies and the like; None outside any trace."""
    span_context = trace.get_current_span().get_span_context()
    return format(span_context.trace_id, "032x") if span_context.is_valid else None
    # docs-endregion: current-trace-id


# docs-region: error-response
def error_response(status_code: int, code: str, message: str, **extra: Any) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "trace_id": current_trace_id(), **extra}}
    return JSONResponse(status_code=status_code, content=body)
    # docs-endregion: error-response


def add_error_handlers(app: FastAPI, statuses: Mapping[type[Exception], int]) -> None:
    """Answers the domain errors in `statuses` (and their subclasses) and every other failure in one shape."""

    async def domain_error(_request: Request, error: Exception) -> JSONResponse:
        status = getattr(error, "status_code", None)
        if not isinstance(status, int):
            status = next(statuses[cls] for cls in type(error).__mro__ if cls in statuses)
        return error_response(status, getattr(error, "code", "error"), str(error))

    for error_class in statuses:
        app.add_exception_handler(error_class, domain_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)


async def _invalid_request(_request: Request, error: RequestValidationError) -> JSONResponse:
    problems = error.errors()
    if any(problem.get("type") == "json_invalid" for problem in problems):
        return error_response(400, "malformed_json", "the request body is not valid JSON")
    fields = [
        {"field": ".".join(str(part) for part in problem.get("loc", ())), "problem": problem.get("msg", "")}
        for problem in problems
    ]
    summary = "; ".join(f"{field['field']}: {field['problem']}" for field in fields)
    return error_response(422, "invalid_request", summary or "invalid request", fields=fields)


async def _http_error(request: Request, error: HTTPException) -> JSONResponse:
    """Starlette's: also raised for unknown routes and methods."""
    code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
    response = error_response(error.status_code, code, str(error.detail))
    response.headers.update(error.headers or {})
    if error.status_code == 405 and (methods := _methods_of(request)):
        # Allow must list every method of the path; Starlette names only those of the first route that
        # matched it (GET /orders and POST /orders are two routes). A mount (static files) sets its own.
        response.headers["allow"] = ", ".join(methods)
    return response


async def _unexpected(_request: Request, error: Exception) -> JSONResponse:
    # Logged with its traceback here, recorded on the server span by the instrumentation; the client only
    # learns that it failed and which trace to look at.
    logger.exception("unhandled error")
    return error_response(500, "internal", "internal error")


def _methods_of(request: Request) -> list[str]:
    methods: set[str] = set()
    for route in _routes(request.app.router.routes):
        match, _ = route.matches(dict(request.scope))
        if match is Match.PARTIAL:  # the path matches, the method does not
            methods |= getattr(route, "methods", None) or set()
    return sorted(methods)


def _routes(routes: Sequence[BaseRoute]) -> Iterator[BaseRoute]:
    """Every route, those of included routers too (FastAPI keeps an included APIRouter whole)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        yield from _routes(included.routes) if included is not None else (route,)
