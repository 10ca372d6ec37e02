"""inventory's business vocabulary: what a product and a reservation are, and how reserving can fail."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    stock: int


@dataclass(frozen=True)
class Reservation:
    reservation_id: str
    sku: str
    quantity: int
    remaining_stock: int
    # True when this answers a retry of a reservation made earlier (nothing was taken the second time).
    replayed: bool = False


class InventoryError(Exception):
    """A failure the caller can act on; `code` names it on the wire."""

    code = "inventory_error"


class UnknownProduct(InventoryError):
    code = "unknown_sku"

    def __init__(self, sku: str) -> None:
        super().__init__(f"no product with sku {sku!r}")


class InsufficientStock(InventoryError):
    code = "insufficient_stock"

    def __init__(self, sku: str, requested: int, available: int) -> None:
        super().__init__(f"{requested} of {sku!r} requested, {available} in stock")
        self.available = available


class ReservationConflict(InventoryError):
    code = "reservation_conflict"

    def __init__(self, reservation_id: str) -> None:
        super().__init__(f"reservation {reservation_id!r} exists with another sku or quantity")


class StoreUnavailable(InventoryError):
    """The stock database cannot be reached: a real failure, not the caller's fault."""

    code = "store_unavailable"
