"""A database that cannot be reached is an outage (StoreUnavailable: 503 or UNAVAILABLE at the edge), never a
bug (500 or INTERNAL), whichever way the connection fails."""

from __future__ import annotations

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


@pytest.mark.postgres
@pytest.mark.parametrize("url", unreachable_urls(), ids=["unknown-database", "nothing-listening"])
async def test_orders_repository_reports_an_outage(postgres_reachable: None, url: str) -> None:
    repository = OrderRepository(create_engine(url))
    with pytest.raises(StoreUnavailable):
        await repository.ping()
    with pytest.raises(StoreUnavailable):
        await repository.list_recent(5)


@pytest.mark.postgres
@pytest.mark.parametrize("url", unreachable_urls(), ids=["unknown-database", "nothing-listening"])
async def test_inventory_repository_reports_an_outage(postgres_reachable: None, url: str) -> None:
    repository = StockRepository(create_stock_engine(url))
    with pytest.raises(StockStoreUnavailable):
        await repository.ping()
    with pytest.raises(StockStoreUnavailable):
        await repository.reserve("order-1", "BOOK-001", 1)
