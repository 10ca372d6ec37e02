"""orders' business rules with fakes in place of the database and of inventory."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orders.domain import (
    IdempotencyConflict,
    InsufficientStock,
    InvalidOrder,
    InventoryUnavailable,
    Order,
    OrderNotFound,
    OrderRejected,
    OrderStatus,
    Product,
    UnknownProduct,
)
from orders.service import OrderService


class FakeRepository:
    def __init__(self) -> None:
        self.orders: dict[str, Order] = {}
        self.keys: dict[str, str] = {}

    async def add(self, order: Order, idempotency_key: str | None = None) -> bool:
        if idempotency_key in self.keys:
            return False
        self.orders[order.id] = order
        if idempotency_key is not None:
            self.keys[idempotency_key] = order.id
        return True

    async def find_by_key(self, idempotency_key: str) -> Order | None:
        order_id = self.keys.get(idempotency_key)
        return None if order_id is None else self.orders[order_id]

    async def list_pending(
        self, created_before: datetime, limit: int, *, after: tuple[datetime, str] | None = None
    ) -> list[Order]:
        pending = sorted(
            (
                o
                for o in self.orders.values()
                if o.status is OrderStatus.PENDING
                and o.created_at < created_before
                and (after is None or (o.created_at, o.id) > after)
            ),
            key=lambda o: (o.created_at, o.id),
        )
        return pending[:limit]

    async def set_status(self, order_id: str, status: OrderStatus) -> None:
        order = self.orders[order_id]
        if order.status not in (OrderStatus.CONFIRMED, OrderStatus.REJECTED):  # final, as in the database
            self.orders[order_id] = Order(order.id, order.sku, order.quantity, status, order.created_at)

    async def get(self, order_id: str) -> Order:
        if order_id not in self.orders:
            raise OrderNotFound(order_id)
        return self.orders[order_id]

    async def list_recent(self, limit: int) -> list[Order]:
        return sorted(self.orders.values(), key=lambda o: o.created_at, reverse=True)[:limit]


class FakeInventory:
    def __init__(self, failure: Exception | None = None) -> None:
        self.failure = failure
        # Every call, and the reservations actually taken (keyed by reservation id, as inventory does).
        self.reservations: list[tuple[str, str, int]] = []
        self.taken: dict[str, int] = {}

    async def reserve(
        self, reservation_id: str, sku: str, quantity: int, *, deadline: float | None = None
    ) -> int:
        self.reservations.append((reservation_id, sku, quantity))
        if self.failure:
            raise self.failure
        self.taken.setdefault(reservation_id, quantity)
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


async def test_an_id_this_service_never_gave_out_is_not_looked_up() -> None:
    repository = FakeRepository()
    with pytest.raises(OrderNotFound):
        await service(FakeInventory(), repository).get_order("not-a-uuid\x00")


async def test_a_repeated_request_with_an_idempotency_key_answers_with_the_same_order() -> None:
    repository, inventory = FakeRepository(), FakeInventory()
    orders = service(inventory, repository)
    first = await orders.create_order("BOOK-001", 2, idempotency_key="client-key-1")
    again = await orders.create_order("BOOK-001", 2, idempotency_key="client-key-1")
    assert again == first
    assert list(repository.orders) == [first.id]
    assert inventory.taken == {first.id: 2}
    other = await orders.create_order("BOOK-001", 2, idempotency_key="client-key-2")
    assert other.id != first.id


async def test_a_key_reused_for_another_order_is_a_conflict() -> None:
    orders = service(FakeInventory(), FakeRepository())
    first = await orders.create_order("BOOK-001", 2, idempotency_key="k")
    for sku, quantity in (("BOOK-001", 3), ("MUG-042", 2)):
        with pytest.raises(IdempotencyConflict, match=first.id):
            await orders.create_order(sku, quantity, idempotency_key="k")


@pytest.mark.parametrize("outcome_unknown", [False, True])
async def test_a_retry_after_inventory_failed_finishes_the_same_order(outcome_unknown: bool) -> None:
    repository, inventory = (
        FakeRepository(),
        FakeInventory(InventoryUnavailable("down", outcome_unknown=outcome_unknown)),
    )
    orders = service(inventory, repository)
    with pytest.raises(InventoryUnavailable):
        await orders.create_order("BOOK-001", 1, idempotency_key="retry-me")
    inventory.failure = None
    order = await orders.create_order("BOOK-001", 1, idempotency_key="retry-me")
    assert order.status is OrderStatus.CONFIRMED
    assert list(repository.orders) == [order.id]  # one order, reserved under its own id
    assert {call[0] for call in inventory.reservations} == {order.id}


async def test_a_repeated_request_of_a_rejected_order_is_refused_without_reserving_again() -> None:
    repository, inventory = FakeRepository(), FakeInventory(InsufficientStock("none left"))
    orders = service(inventory, repository)
    with pytest.raises(InsufficientStock):
        await orders.create_order("BOOK-001", 1, idempotency_key="k")
    with pytest.raises(OrderRejected):
        await orders.create_order("BOOK-001", 1, idempotency_key="k")
    assert len(inventory.reservations) == 1


@pytest.mark.parametrize(
    ("first_unknown", "second_unknown"),
    [
        (False, True),  # failed, then a retry timed out: that retry may have reserved
        (True, False),  # pending, then a retry was refused a connection: the first attempt may have reserved
    ],
)
async def test_an_order_that_may_hold_a_reservation_stays_pending(
    first_unknown: bool, second_unknown: bool
) -> None:
    repository = FakeRepository()
    inventory = FakeInventory(InventoryUnavailable("first", outcome_unknown=first_unknown))
    orders = service(inventory, repository)
    with pytest.raises(InventoryUnavailable):
        await orders.create_order("BOOK-001", 1, idempotency_key="k")
    inventory.failure = InventoryUnavailable("second", outcome_unknown=second_unknown)
    with pytest.raises(InventoryUnavailable):
        await orders.create_order("BOOK-001", 1, idempotency_key="k")
    (stored,) = repository.orders.values()
    assert stored.status is OrderStatus.PENDING  # to be settled by reserving again under its id


@pytest.mark.parametrize("key", ["", "has space", "x" * 65, "new\nline"])
async def test_a_malformed_idempotency_key_is_invalid(key: str) -> None:
    repository, inventory = FakeRepository(), FakeInventory()
    with pytest.raises(InvalidOrder):
        await service(inventory, repository).create_order("BOOK-001", 1, idempotency_key=key)
    assert repository.orders == {}


class FailingFor(FakeInventory):
    """inventory failing the reservations of some orders, each with its own error."""

    def __init__(self, failures: dict[str, Exception]) -> None:
        super().__init__()
        self.failures = failures

    async def reserve(
        self, reservation_id: str, sku: str, quantity: int, *, deadline: float | None = None
    ) -> int:
        self.failure = self.failures.get(reservation_id)
        return await super().reserve(reservation_id, sku, quantity, deadline=deadline)


NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


async def add_pending(repository: FakeRepository, minutes_ago: dict[str, int]) -> None:
    for order_id, minutes in minutes_ago.items():
        created = NOW - timedelta(minutes=minutes)
        await repository.add(Order(order_id, "BOOK-001", 1, OrderStatus.PENDING, created))


async def test_settling_finishes_old_pending_orders_and_leaves_recent_ones() -> None:
    repository = FakeRepository()
    await add_pending(repository, {"old-1": 10, "old-2": 9, "old-3": 8, "recent": 0})
    inventory = FailingFor(
        {"old-2": InsufficientStock("none left"), "old-3": InventoryUnavailable("down", outcome_unknown=True)}
    )
    orders = service(inventory, repository)
    settled = await orders.settle_pending(await orders.pending_to_settle(NOW - timedelta(minutes=1)))
    assert settled == {OrderStatus.CONFIRMED: 1, OrderStatus.REJECTED: 1, OrderStatus.PENDING: 1}
    statuses = {order.id: order.status for order in repository.orders.values()}
    assert statuses == {
        "old-1": OrderStatus.CONFIRMED,
        "old-2": OrderStatus.REJECTED,
        "old-3": OrderStatus.PENDING,
        "recent": OrderStatus.PENDING,
    }


async def test_the_sweep_pages_past_orders_that_keep_failing() -> None:
    """Two orders inventory keeps timing out on fill the first page; the one behind them is still settled,
    and once a page comes back short the sweep starts from the oldest again."""
    repository = FakeRepository()
    await add_pending(repository, {"stuck-1": 10, "stuck-2": 9, "behind": 8})
    timeout = InventoryUnavailable("timed out", outcome_unknown=True)
    orders = service(FailingFor({"stuck-1": timeout, "stuck-2": timeout}), repository)
    cutoff = NOW - timedelta(minutes=1)
    runs: list[tuple[list[str], dict[OrderStatus, int]]] = []
    for _ in range(3):
        page = await orders.pending_to_settle(cutoff, limit=2)
        runs.append(([order.id for order in page], await orders.settle_pending(page)))
    assert runs == [
        (["stuck-1", "stuck-2"], {OrderStatus.PENDING: 2}),
        (["behind"], {OrderStatus.CONFIRMED: 1}),
        (["stuck-1", "stuck-2"], {OrderStatus.PENDING: 2}),
    ]
    assert repository.orders["behind"].status is OrderStatus.CONFIRMED
    assert await orders.pending_to_settle(cutoff, limit=2) == []  # a page that was full, then nothing
    assert [o.id for o in await orders.pending_to_settle(cutoff, limit=2)] == ["stuck-1", "stuck-2"]
