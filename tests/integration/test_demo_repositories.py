"""The demo's repositories: each scenario's flaw in the statements the database runs, and none
without it (SQLite and PostgreSQL); the trace shapes they give are tested end to end (test_scenarios.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from opentelemetry import baggage, context
from sqlalchemy import event

from inventory.catalogue import CATALOGUE
from inventory.domain import StoreUnavailable
from orders.domain import Order, OrderStatus
from tracemesh_common.database import Database
from tracemesh_common.migrations import upgrade
from tracemesh_demo.inventory import DemoStockRepository, InventoryDemoSettings
from tracemesh_demo.orders import DemoOrderRepository
from tracemesh_demo.scenarios import SCENARIO_KEY

WALK = "WITH RECURSIVE walk"


@contextmanager
def scenario(name: str | None) -> Iterator[None]:
    """The request's baggage as the services' instrumentation makes it current."""
    token = context.attach(baggage.set_baggage(SCENARIO_KEY, name) if name else context.get_current())
    try:
        yield
    finally:
        context.detach(token)


@contextmanager
def statements(database: Database) -> Iterator[list[str]]:
    ran: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        ran.append(statement)

    event.listen(database.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield ran
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", record)


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url, lambda: StoreUnavailable("down"))
    yield database
    await database.dispose()


async def test_n_plus_one_lists_orders_with_a_query_each(database: Database) -> None:
    orders = DemoOrderRepository(database)
    await upgrade(orders.database.engine, "orders")
    for _ in range(3):
        await orders.add(Order(str(uuid.uuid4()), "BOOK-001", 1, OrderStatus.CONFIRMED, datetime.now(UTC)))
    for name, expected in ((None, 1), ("slow-query", 1), ("n-plus-one", 1 + 3)):
        with scenario(name), statements(database) as ran:
            listed = await orders.list_recent(3)
        assert len(listed) == 3
        assert len(ran) == expected, (name, ran)


async def test_inventory_makes_only_the_statements_a_scenario_asks_for_slow(database: Database) -> None:
    stock = DemoStockRepository(database, InventoryDemoSettings(slow_query_rows=1000, contention_rows=500))
    await upgrade(stock.database.engine, "inventory")

    with scenario(None), statements(database) as ran:
        await stock.list_products()
        await stock.reserve("plain", "BOOK-001", 1)
    assert not [statement for statement in ran if WALK in statement]

    with scenario("n-plus-one"), statements(database) as ran:
        assert len(await stock.list_products()) == len(CATALOGUE)
    assert len(ran) == 1 + len(CATALOGUE)

    with scenario("slow-query"), statements(database) as ran:
        await stock.list_products()
        await stock.reserve("slow", "BOOK-001", 1)
    walked = [statement.split()[0] for statement in ran if WALK in statement]
    assert walked == ["SELECT", "UPDATE"]  # the lookup and the reserving UPDATE, nothing else

    with scenario("contention"), statements(database) as ran:
        await stock.list_products()
        await stock.reserve("contended", "BOOK-001", 1)
    assert [statement.split()[0] for statement in ran if WALK in statement] == ["UPDATE"]
