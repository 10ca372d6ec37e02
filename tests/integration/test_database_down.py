"""A database that cannot be reached is an outage (StoreUnavailable: 503 or UNAVAILABLE at the edge), never a
bug (500 or INTERNAL), whichever way the connection fails."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from inventory.domain import StoreUnavailable as StockStoreUnavailable
from inventory.repository import StockRepository
from inventory.repository import create_engine as create_stock_engine
from orders.domain import StoreUnavailable
from orders.repository import OrderRepository, create_engine
from tests.support import POSTGRES_URL, free_port


def unreachable_urls() -> list[str]:
    base = POSTGRES_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return [
        # The server answers, but the database does not exist: asyncpg raises its own error, unwrapped.
        f"{base}/tracemesh_no_such_database",
        # Nothing listens on the port at all.
        f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/test",
    ]


async def orders_read(url: str) -> None:
    await OrderRepository(create_engine(url)).list_recent(5)


async def orders_ping(url: str) -> None:
    await OrderRepository(create_engine(url)).ping()


async def inventory_reserve(url: str) -> None:
    await StockRepository(create_stock_engine(url)).reserve("order-1", "BOOK-001", 1)


async def inventory_ping(url: str) -> None:
    await StockRepository(create_stock_engine(url)).ping()


@pytest.mark.postgres
@pytest.mark.parametrize("url", unreachable_urls(), ids=["unknown-database", "nothing-listening"])
@pytest.mark.parametrize(
    ("call", "outage"),
    [
        (orders_ping, StoreUnavailable),
        (orders_read, StoreUnavailable),
        (inventory_ping, StockStoreUnavailable),
        (inventory_reserve, StockStoreUnavailable),
    ],
    ids=["orders-ping", "orders-read", "inventory-ping", "inventory-reserve"],
)
async def test_repositories_report_an_outage(
    postgres_reachable: None, url: str, call: Callable[[str], Awaitable[None]], outage: type[Exception]
) -> None:
    with pytest.raises(outage):
        await call(url)
