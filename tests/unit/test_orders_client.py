"""The gateway's OrdersClient: gRPC statuses from orders become the gateway's HTTP errors."""

from __future__ import annotations

import grpc
import pytest
from grpc.aio import AioRpcError, Metadata

from gateway.errors import Conflict, GatewayError, InvalidRequest, NotFound, Unavailable, UpstreamFailure
from gateway.orders_client import OrdersClient


def rpc_error(code: grpc.StatusCode, details: str, domain_code: str | None = None) -> AioRpcError:
    trailing = Metadata(("tracemesh-error-code", domain_code)) if domain_code else Metadata()
    return AioRpcError(code, Metadata(), trailing, details=details)


async def failing(error: AioRpcError) -> None:
    raise error


@pytest.mark.parametrize(
    ("code", "domain_code", "expected", "status", "body_code"),
    [
        (grpc.StatusCode.NOT_FOUND, "unknown_sku", NotFound, 404, "unknown_sku"),
        (grpc.StatusCode.NOT_FOUND, None, NotFound, 404, "not_found"),
        (grpc.StatusCode.FAILED_PRECONDITION, "insufficient_stock", Conflict, 409, "insufficient_stock"),
        (grpc.StatusCode.INVALID_ARGUMENT, "invalid_order", InvalidRequest, 422, "invalid_request"),
        (grpc.StatusCode.UNAVAILABLE, None, Unavailable, 503, "unavailable"),
        (grpc.StatusCode.DEADLINE_EXCEEDED, None, Unavailable, 503, "unavailable"),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, None, Unavailable, 503, "unavailable"),
        (grpc.StatusCode.CANCELLED, None, Unavailable, 503, "unavailable"),
        (grpc.StatusCode.INTERNAL, "internal", UpstreamFailure, 502, "upstream_failure"),
        (grpc.StatusCode.UNKNOWN, None, UpstreamFailure, 502, "upstream_failure"),
    ],
)
async def test_status_codes_map_to_http_errors(
    code: grpc.StatusCode, domain_code: str | None, expected: type[GatewayError], status: int, body_code: str
) -> None:
    with pytest.raises(expected) as raised:
        await OrdersClient._call(failing(rpc_error(code, "details from orders", domain_code)))
    assert raised.value.status_code == status
    assert raised.value.code == body_code


async def test_internal_details_are_not_passed_to_the_caller() -> None:
    with pytest.raises(UpstreamFailure) as raised:
        await OrdersClient._call(failing(rpc_error(grpc.StatusCode.INTERNAL, "Traceback: secret path")))
    assert "secret" not in str(raised.value)
