"""orders' business rules with fakes in place of the database and of inventory."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

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
from orders.service import OrderService
from telemetry.scenarios import Scenario


class FakeRepository:
    def __init__(self) -> None:
        self.orders: dict[str, Order] = {}
        self.one_by_one = False

    async def add(self, order: Order) -> None:
        self.orders[order.id] = order

    async def set_status(self, order_id: str, status: OrderStatus) -> None:
        order = self.orders[order_id]
        self.orders[order_id] = Order(order.id, order.sku, order.quantity, status, order.created_at)

    async def get(self, order_id: str) -> Order:
        if order_id not in self.orders:
            raise OrderNotFound(order_id)
        return self.orders[order_id]

    async def list_recent(self, limit: int, *, one_by_one: bool = False) -> list[Order]:
        self.one_by_one = one_by_one
        return sorted(self.orders.values(), key=lambda o: o.created_at, reverse=True)[:limit]


class FakeInventory:
    def __init__(self, failure: Exception | None = None) -> None:
        self.failure = failure
        self.reservations: list[tuple[str, str, int]] = []

    async def reserve(
        self, reservation_id: str, sku: str, quantity: int, *, deadline: float | None = None
    ) -> int:
        self.reservations.append((reservation_id, sku, quantity))
        if self.failure:
            raise self.failure
        return 10

    async def list_products(self, *, deadline: float | None = None) -> list[Product]:
        return [Product("BOOK-001", "Book", 3)]


def service(inventory: FakeInventory, repository: FakeRepository) -> OrderService:
    return OrderService(repository, inventory)  # type: ignore[arg-type]


async def test_a_reserved_order_is_confirmed_and_keyed_by_its_id() -> None:
    repository, inventory = FakeRepository(), FakeInventory()
    order = await service(inventory, repository).create_order("BOOK-001", 2)
    assert order.status is OrderStatus.CONFIRMED
    assert inventory.reservations == [(order.id, "BOOK-001", 2)]
    assert repository.orders[order.id].status is OrderStatus.CONFIRMED
    assert order.created_at.tzinfo is UTC


@pytest.mark.parametrize("refusal", [UnknownProduct("no such sku"), InsufficientStock("only 1 left")])
async def test_a_refused_order_is_kept_as_rejected(refusal: Exception) -> None:
    repository = FakeRepository()
    with pytest.raises(type(refusal)):
        await service(FakeInventory(refusal), repository).create_order("BOOK-001", 2)
    (stored,) = repository.orders.values()
    assert stored.status is OrderStatus.REJECTED


@pytest.mark.parametrize(
    ("outcome_unknown", "status"), [(False, OrderStatus.FAILED), (True, OrderStatus.PENDING)]
)
async def test_an_unreachable_inventory_fails_or_leaves_the_outcome_open(
    outcome_unknown: bool, status: OrderStatus
) -> None:
    repository = FakeRepository()
    with pytest.raises(InventoryUnavailable):
        await service(
            FakeInventory(InventoryUnavailable("down", outcome_unknown=outcome_unknown)), repository
        ).create_order("BOOK-001", 1)
    (stored,) = repository.orders.values()
    assert stored.status is status


@pytest.mark.parametrize(
    ("sku", "quantity"),
    [("BOOK-001", 0), ("BOOK-001", -3), ("", 1), ("X" * 65, 1), ("BOOK\x00001", 1), ("-BOOK", 1), ("a b", 1)],
)
async def test_invalid_orders_never_reach_inventory(sku: str, quantity: int) -> None:
    repository, inventory = FakeRepository(), FakeInventory()
    with pytest.raises(InvalidOrder):
        await service(inventory, repository).create_order(sku, quantity)
    assert inventory.reservations == []
    assert repository.orders == {}


async def test_list_limits() -> None:
    repository = FakeRepository()
    for minute in range(30):
        created = datetime(2026, 1, 1, 12, minute, tzinfo=UTC)
        await repository.add(Order(f"o{minute}", "BOOK-001", 1, OrderStatus.CONFIRMED, created))
    orders = service(FakeInventory(), repository)
    assert len(await orders.list_orders(0)) == 20
    assert [o.id for o in await orders.list_orders(2)] == ["o29", "o28"]
    for limit in (-1, 101):
        with pytest.raises(InvalidOrder):
            await orders.list_orders(limit)


async def test_only_the_n_plus_one_scenario_lists_orders_one_by_one() -> None:
    repository = FakeRepository()
    orders = service(FakeInventory(), repository)
    await orders.list_orders(5, Scenario.N_PLUS_ONE)
    assert repository.one_by_one
    for other in (None, Scenario.SLOW_QUERY, Scenario.CONTENTION):
        await orders.list_orders(5, other)
        assert not repository.one_by_one


async def test_an_id_this_service_never_gave_out_is_not_looked_up() -> None:
    repository = FakeRepository()
    with pytest.raises(OrderNotFound):
        await service(FakeInventory(), repository).get_order("not-a-uuid\x00")
