"""orders' business rules: how an order is placed, and what it may be."""

from __future__ import annotations

import re
import uuid

from orders.domain import (
    InsufficientStock,
    InvalidOrder,
    InventoryUnavailable,
    Order,
    OrderNotFound,
    OrderStatus,
    Product,
    UnknownProduct,
)
from orders.inventory_client import InventoryClient
from orders.repository import OrderRepository, utcnow
from telemetry.scenarios import Scenario

# The shape of a sku: also what keeps control characters and other junk out of the databases.
SKU = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAX_LIST_LIMIT = 100
DEFAULT_LIST_LIMIT = 20


class OrderService:
    def __init__(self, repository: OrderRepository, inventory: InventoryClient) -> None:
        self._repository = repository
        self._inventory = inventory

    async def create_order(self, sku: str, quantity: int, *, deadline: float | None = None) -> Order:
        """Places an order: store it as pending, reserve its stock, then record the outcome.

        The order is written before the reservation so that its id can key the reservation: whatever
        happens in between, a retry with the same id can never take stock twice. `deadline` is when the
        caller stops waiting (time.monotonic() seconds); the calls to inventory stay within it.
        """
        if not SKU.fullmatch(sku):
            raise InvalidOrder("sku must be 1 to 64 letters, digits, '.', '_' or '-'")
        if quantity < 1:
            raise InvalidOrder("quantity must be at least 1")
        order = Order(str(uuid.uuid4()), sku, quantity, OrderStatus.PENDING, utcnow())
        await self._repository.add(order)
        try:
            await self._inventory.reserve(order.id, sku, quantity, deadline=deadline)
        except (UnknownProduct, InsufficientStock):
            await self._repository.set_status(order.id, OrderStatus.REJECTED)
            raise
        except InventoryUnavailable as error:
            if not error.outcome_unknown:
                await self._repository.set_status(order.id, OrderStatus.FAILED)
            # Otherwise the reservation may have been made before the answer was lost: the order stays
            # pending. Replaying the reservation under the order's id would settle it without taking
            # stock twice; nothing does that automatically yet.
            raise
        await self._repository.set_status(order.id, OrderStatus.CONFIRMED)
        return Order(order.id, sku, quantity, OrderStatus.CONFIRMED, order.created_at)

    async def get_order(self, order_id: str) -> Order:
        try:
            uuid.UUID(order_id)
        except ValueError:
            raise OrderNotFound(order_id) from None  # not an id this service ever gave out
        return await self._repository.get(order_id)

    async def list_orders(self, limit: int, scenario: Scenario | None = None) -> list[Order]:
        if limit == 0:
            limit = DEFAULT_LIST_LIMIT
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise InvalidOrder(f"limit must be between 1 and {MAX_LIST_LIMIT}")
        return await self._repository.list_recent(limit, one_by_one=scenario is Scenario.N_PLUS_ONE)

    async def list_products(self, *, deadline: float | None = None) -> list[Product]:
        return await self._inventory.list_products(deadline=deadline)
