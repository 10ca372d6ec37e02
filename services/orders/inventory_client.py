"""How orders talks to inventory: HTTP calls with timeouts and retries, and inventory's answers mapped
to orders' own errors. The rest of orders never sees HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from orders.domain import InsufficientStock, InventoryUnavailable, Product, UnknownProduct

# inventory answers these when it is the one in trouble; retrying may help.
_RETRYABLE_STATUSES = {502, 503, 504}


class InventoryClient:
    """inventory's API as orders needs it. Every call is safe to retry: reads trivially, and reservations
    because inventory keys them by the order id (a retry is answered, never taken twice)."""

    def __init__(self, http: httpx.AsyncClient, *, attempts: int = 2, backoff_seconds: float = 0.05) -> None:
        # `http` carries the base URL and per-attempt timeout, and its tracing is already attached:
        # each attempt becomes one CLIENT span with traceparent injected into its headers.
        self._http = http
        self._attempts = attempts
        self._backoff = backoff_seconds

    async def list_products(self) -> list[Product]:
        response = await self._call("GET", "/products")
        return [Product(item["sku"], item["name"], item["stock"]) for item in response.json()]

    async def reserve(self, reservation_id: str, sku: str, quantity: int) -> int:
        """Reserves stock for one order and returns what is left; raises UnknownProduct,
        InsufficientStock or InventoryUnavailable."""
        body = {"reservation_id": reservation_id, "sku": sku, "quantity": quantity}
        response = await self._call("POST", "/reservations", json=body)
        remaining: int = response.json()["remaining_stock"]
        return remaining

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        request_sent = False
        for attempt in range(1, self._attempts + 1):
            try:
                response = await self._http.request(method, path, **kwargs)
            except httpx.ConnectError as error:
                failure = f"inventory unreachable: {type(error).__name__}"
            except httpx.TransportError as error:  # timeouts, resets: the request may have arrived
                request_sent = True
                failure = f"inventory did not answer: {type(error).__name__}"
            else:
                request_sent = True
                if response.status_code not in _RETRYABLE_STATUSES:
                    return _checked(response)
                failure = f"inventory answered {response.status_code}"
            if attempt < self._attempts:
                await asyncio.sleep(self._backoff * 2 ** (attempt - 1))
        raise InventoryUnavailable(failure, request_sent=request_sent)


def _checked(response: httpx.Response) -> httpx.Response:
    if response.is_success:
        return response
    error = _error_of(response)
    if response.status_code == 404:
        raise UnknownProduct(error.get("message", "unknown sku"))
    if response.status_code == 409 and error.get("code") == "insufficient_stock":
        raise InsufficientStock(error.get("message", "not enough stock"))
    # Anything else means orders sent something inventory does not accept: a bug on one side.
    raise InventoryUnavailable(f"inventory answered {response.status_code}", request_sent=True)


def _error_of(response: httpx.Response) -> dict[str, Any]:
    try:
        error = response.json().get("error", {})
    except ValueError:
        return {}
    return error if isinstance(error, dict) else {}
