"""checkout's vocabulary: an order the gateway placed, and the errors a checkout can end with."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CartItem:
    sku: str
    quantity: int


@dataclass(frozen=True)
class PlacedOrder:
    id: str
    sku: str
    quantity: int
    status: str


class CheckoutError(Exception):
    """A checkout that ended early; each subclass knows its HTTP status and its code in the error body."""

    status_code = 500
    code = "internal"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code or self.code
        # The ids of the orders placed before the failure: they stay placed, and the caller is told so.
        self.placed: list[str] = []


class ItemRefused(CheckoutError):
    """The gateway refused an item: an unknown sku (404) or not enough stock (409)."""

    def __init__(self, status_code: int, message: str, code: str | None = None) -> None:
        super().__init__(message, code)
        self.status_code = status_code


class GatewayUnavailable(CheckoutError):
    """The gateway, or something behind it, is down or too slow: try again later."""

    status_code = 503
    code = "unavailable"


class GatewayFailure(CheckoutError):
    """The gateway answered in a way checkout cannot explain to its caller."""

    status_code = 502
    code = "upstream_failure"
