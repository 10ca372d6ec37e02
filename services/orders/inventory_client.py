"""How orders talks to inventory: HTTP calls with timeouts, retries and a deadline, and inventory's answers
mapped to orders' own errors. The rest of orders never sees HTTP."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from orders.domain import InsufficientStock, InventoryUnavailable, Product, UnknownProduct

# inventory answers these when it is the one in trouble; retrying may help.
_RETRYABLE_STATUSES = {502, 503, 504}
# Time kept back from the caller's deadline, so that orders can still answer before its caller gives up.
_ANSWER_MARGIN_SECONDS = 0.1


class InventoryClient:
    """inventory's API as orders needs it. Every call is safe to retry: reads trivially, and reservations
    because inventory keys them by the order id (a retry is answered, never taken twice)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        attempts: int = 2,
        attempt_timeout_seconds: float = 1.5,
        backoff_seconds: float = 0.05,
    ) -> None:
        # `http` carries the base URL, and its tracing is already attached: each attempt becomes one
        # CLIENT span, with traceparent, baggage and x-trace-id injected into its headers.
        self._http = http
        self._attempts = attempts
        self._attempt_timeout = attempt_timeout_seconds
        self._backoff = backoff_seconds

    async def list_products(self, *, deadline: float | None = None) -> list[Product]:
        response = await self._call("GET", "/products", deadline)
        return [Product(item["sku"], item["name"], item["stock"]) for item in response.json()]

    async def reserve(
        self, reservation_id: str, sku: str, quantity: int, *, deadline: float | None = None
    ) -> int:
        """Reserves stock for one order and returns what is left; raises UnknownProduct,
        InsufficientStock or InventoryUnavailable. `deadline`: when the caller stops waiting
        (time.monotonic() seconds), or None."""
        body = {"reservation_id": reservation_id, "sku": sku, "quantity": quantity}
        response = await self._call("POST", "/reservations", deadline, json=body)
        remaining: int = response.json()["remaining_stock"]
        return remaining

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, deadline: float | None, **kwargs: Any) -> httpx.Response:
        if deadline is not None:
            deadline -= _ANSWER_MARGIN_SECONDS
        outcome_unknown = False
        failure = "no time left to call inventory"
        for attempt in range(1, self._attempts + 1):
            left = None if deadline is None else deadline - time.monotonic()
            timeout = self._attempt_timeout if left is None else min(self._attempt_timeout, left)
            if timeout <= 0:
                break
            try:
                # httpx's own timeout fires inside the instrumented call, so the attempt's span records it
                # as its error. It applies to each phase (connect, write, read) separately, so asyncio's
                # bounds the attempt as a whole, a little later, still inside the margin kept back.
                async with asyncio.timeout(None if left is None else left + _ANSWER_MARGIN_SECONDS / 2):
                    response = await self._http.request(method, path, timeout=timeout, **kwargs)
            except httpx.ConnectError as error:
                failure = f"inventory unreachable: {type(error).__name__}"
            except (httpx.TransportError, TimeoutError) as error:  # the request may have arrived
                outcome_unknown = True
                failure = f"inventory did not answer: {type(error).__name__}"
            else:
                if response.status_code not in _RETRYABLE_STATUSES:
                    try:
                        return _checked(response)
                    except InventoryUnavailable as error:
                        # A refusal now says nothing of an earlier attempt that timed out, and a 5xx may
                        # come after inventory committed: either way the outcome stays unknown.
                        unknown = outcome_unknown or response.status_code >= 500
                        raise InventoryUnavailable(str(error), outcome_unknown=unknown) from None
                outcome_unknown = True
                failure = f"inventory answered {response.status_code}"
            backoff = self._backoff * 2 ** (attempt - 1)
            if attempt == self._attempts or (deadline is not None and time.monotonic() + backoff >= deadline):
                break
            await asyncio.sleep(backoff)
        raise InventoryUnavailable(failure, outcome_unknown=outcome_unknown)


def _checked(response: httpx.Response) -> httpx.Response:
    if response.is_success:
        return response
    error = _error_of(response)
    message = str(error.get("message", f"inventory answered {response.status_code}"))
    if response.status_code == 404 and error.get("code") == "unknown_sku":
        raise UnknownProduct(message)
    if response.status_code == 409 and error.get("code") == "insufficient_stock":
        raise InsufficientStock(message)
    # Any other refusal means orders sent something inventory does not accept (a bug on one side, or a
    # wrong URL): inventory certainly reserved nothing.
    raise InventoryUnavailable(f"inventory refused the call ({response.status_code})", outcome_unknown=False)


def _error_of(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}
