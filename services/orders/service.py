"""orders' business rules: how an order is placed, and what it may be."""

from __future__ import annotations

import uuid

from orders.domain import (
    InsufficientStock,
    InvalidOrder,
    InventoryUnavailable,
    Order,
    OrderStatus,
    Product,
    UnknownProduct,
)
from orders.inventory_client import InventoryClient
from orders.repository import OrderRepository, utcnow

MAX_LIST_LIMIT = 100
DEFAULT_LIST_LIMIT = 20


class OrderService:
    def __init__(self, repository: OrderRepository, inventory: InventoryClient) -> None:
        self._repository = repository
        self._inventory = inventory

    async def create_order(self, sku: str, quantity: int) -> Order:
        """Places an order: store it as pending, reserve its stock, then record the outcome.

        The order is written before the reservation so that its id can key the reservation: whatever
        happens in between, a retry with the same id can never take stock twice.
        """
        if not sku or len(sku) > 64:
            raise InvalidOrder("sku must be 1 to 64 characters")
        if quantity < 1:
            raise InvalidOrder("quantity must be at least 1")
        order = Order(str(uuid.uuid4()), sku, quantity, OrderStatus.PENDING, utcnow())
        await self._repository.add(order)
        try:
            await self._inventory.reserve(order.id, sku, quantity)
        except (UnknownProduct, InsufficientStock):
            await self._repository.set_status(order.id, OrderStatus.REJECTED)
            raise
        except InventoryUnavailable as error:
            if not error.request_sent:
                await self._repository.set_status(order.id, OrderStatus.FAILED)
            # Otherwise the reservation may have been made before the answer was lost: the order stays
            # pending, and replaying the reservation under its id settles it.
            raise
        await self._repository.set_status(order.id, OrderStatus.CONFIRMED)
        return Order(order.id, sku, quantity, OrderStatus.CONFIRMED, order.created_at)

    async def get_order(self, order_id: str) -> Order:
        return await self._repository.get(order_id)

    async def list_orders(self, limit: int) -> list[Order]:
        if limit == 0:
            limit = DEFAULT_LIST_LIMIT
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise InvalidOrder(f"limit must be between 1 and {MAX_LIST_LIMIT}")
        return await self._repository.list_recent(limit)

    async def list_products(self) -> list[Product]:
        return await self._inventory.list_products()
