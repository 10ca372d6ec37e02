"""orders' business vocabulary: what an order is, and how placing one can fail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class OrderStatus(StrEnum):
    PENDING = "pending"  # stored; the reservation's outcome is not known yet
    CONFIRMED = "confirmed"  # stock reserved: the order stands
    REJECTED = "rejected"  # inventory refused it: unknown sku or not enough stock
    FAILED = "failed"  # inventory was unreachable or refused the call: certainly nothing was reserved


@dataclass(frozen=True)
class Order:
    id: str
    sku: str
    quantity: int
    status: OrderStatus
    created_at: datetime


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    stock: int


class OrdersError(Exception):
    """A failure with a name; each transport maps it to its own status (gRPC code, HTTP status)."""

    code = "orders_error"


class InvalidOrder(OrdersError):
    code = "invalid_order"


class OrderNotFound(OrdersError):
    code = "order_not_found"

    def __init__(self, order_id: str) -> None:
        super().__init__(f"no order with id {order_id!r}")


class UnknownProduct(OrdersError):
    code = "unknown_sku"


class InsufficientStock(OrdersError):
    code = "insufficient_stock"


class InventoryUnavailable(OrdersError):
    """inventory did not answer, or answered with a failure of its own."""

    code = "inventory_unavailable"

    def __init__(self, message: str, *, outcome_unknown: bool) -> None:
        super().__init__(message)
        # True when inventory may have acted on the request before its answer was lost (a timeout, a 5xx);
        # False when it certainly reserved nothing (connection refused, or the call refused outright).
        self.outcome_unknown = outcome_unknown


class StoreUnavailable(OrdersError):
    code = "orders_store_unavailable"


class IdempotencyConflict(OrdersError):
    """The idempotency key was used before, for an order with another sku or quantity."""

    code = "idempotency_key_reused"

    def __init__(self, order_id: str) -> None:
        super().__init__(f"this Idempotency-Key was used for order {order_id} with another sku or quantity")


class OrderRejected(OrdersError):
    """A repeated request (same idempotency key) of an order that inventory refused."""

    code = "order_rejected"

    def __init__(self, order_id: str) -> None:
        super().__init__(f"order {order_id} was rejected: unknown sku or not enough stock")
