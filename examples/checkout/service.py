"""checkout's business rule: a cart is placed item by item, and the first failure ends it."""

from __future__ import annotations

from collections.abc import Sequence

from checkout.domain import CartItem, CheckoutError, PlacedOrder
from checkout.gateway_client import GatewayClient


class CheckoutService:
    def __init__(self, gateway: GatewayClient) -> None:
        self._gateway = gateway

    async def place_cart(self, items: Sequence[CartItem]) -> list[PlacedOrder]:
        """Places each item as an order, one after another (so the trace shows them in turn). The first
        refusal or failure ends the checkout; the orders placed before it stay placed, and the error
        names them."""
        placed: list[PlacedOrder] = []
        for item in items:
            try:
                placed.append(await self._gateway.place_order(item.sku, item.quantity))
            except CheckoutError as error:
                error.placed = [order.id for order in placed]
                raise
        return placed
