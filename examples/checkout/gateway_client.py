"""How checkout talks to the gateway: POST /orders over HTTP, the gateway's answers mapped to checkout's
errors. The rest of checkout never sees HTTP."""

from __future__ import annotations

from typing import Any

import httpx

from checkout.domain import GatewayFailure, GatewayUnavailable, ItemRefused, PlacedOrder

# The gateway answers these when it, or a service behind it, is in trouble.
_UNAVAILABLE_STATUSES = {503, 504}


class GatewayClient:
    """The gateway's public API as checkout needs it: one call."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        # `http` carries the base URL and the timeout, and its tracing is already attached: each call is a
        # CLIENT span, with traceparent, baggage and x-trace-id injected into its headers.
        self._http = http

    async def place_order(self, sku: str, quantity: int) -> PlacedOrder:
        """Places one order; raises ItemRefused, GatewayUnavailable or GatewayFailure."""
        try:
            response = await self._http.post("/orders", json={"sku": sku, "quantity": quantity})
        except httpx.TransportError as error:  # refused, reset or timed out: no answer from the gateway
            raise GatewayUnavailable(f"gateway unreachable: {type(error).__name__}") from None
        if response.status_code == 201:
            return _placed(response)
        body = _error_of(response)
        message = str(body.get("message") or f"gateway answered {response.status_code}")
        if response.status_code in (404, 409):
            code = body.get("code")
            raise ItemRefused(response.status_code, message, code if isinstance(code, str) else None)
        if response.status_code in _UNAVAILABLE_STATUSES:
            raise GatewayUnavailable(f"gateway unavailable: {message}")
        # 400/422 would mean checkout sent what the gateway does not accept (a bug on one side); 5xx a
        # failure behind it. Either way the caller can do nothing about it.
        raise GatewayFailure(f"gateway answered {response.status_code}")


def _placed(response: httpx.Response) -> PlacedOrder:
    try:
        body = response.json()
        return PlacedOrder(
            id=str(body["id"]),
            sku=str(body["sku"]),
            quantity=int(body["quantity"]),
            status=str(body["status"]),
        )
    except (ValueError, KeyError, TypeError):
        raise GatewayFailure("gateway sent an order checkout cannot read") from None


def _error_of(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}
