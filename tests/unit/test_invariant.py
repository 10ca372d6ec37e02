"""The fault suite's invariant checker: it must see a break when there is one."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from chaos import invariant
from inventory import models as inventory_models
from inventory.catalogue import CATALOGUE
from orders import models as orders_models


def databases(
    tmp_path: Path, *, stock_taken: int, confirmed: bool, restocked: int = 0, keyed: bool = True
) -> tuple[str, str]:
    """One order of `stock_taken` BOOK-001, reserved in inventory, and `confirmed` or left pending; placed
    with an idempotency key unless not `keyed`."""
    orders_db, inventory_db = f"sqlite+aiosqlite:///{tmp_path}/o.db", f"sqlite+aiosqlite:///{tmp_path}/i.db"

    async def fill() -> None:
        for url, models in ((orders_db, orders_models), (inventory_db, inventory_models)):
            engine = create_async_engine(url)
            async with engine.begin() as connection:
                await connection.run_sync(models.Base.metadata.create_all)
            await engine.dispose()
        engine = create_async_engine(inventory_db)
        async with engine.begin() as connection:
            for p in CATALOGUE:
                taken = stock_taken if p.sku == "BOOK-001" else 0
                stock = p.stock - taken + (restocked if p.sku == "BOOK-001" else 0)
                await connection.execute(
                    inventory_models.ProductRow.__table__.insert(),
                    {"sku": p.sku, "name": p.name, "stock": stock},
                )
            await connection.execute(
                inventory_models.ReservationRow.__table__.insert(),
                {"id": "o1", "sku": "BOOK-001", "quantity": 2},
            )
            if restocked:
                await connection.execute(
                    inventory_models.RestockRow.__table__.insert(), {"sku": "BOOK-001", "quantity": restocked}
                )
        await engine.dispose()
        engine = create_async_engine(orders_db)
        async with engine.begin() as connection:
            row = {"id": "o1", "sku": "BOOK-001", "quantity": 2, "created_at": datetime.now(UTC)}
            await connection.execute(
                orders_models.OrderRow.__table__.insert(),
                row | {"status": "confirmed" if confirmed else "pending"},
            )
            if keyed:
                await connection.execute(
                    orders_models.IdempotencyKeyRow.__table__.insert(), {"key": "k1", "order_id": "o1"}
                )
        await engine.dispose()

    asyncio.run(fill())
    return orders_db, inventory_db


@pytest.mark.parametrize("restocked", [0, 7])
def test_stock_and_confirmed_orders_that_agree_hold(tmp_path: Path, restocked: int) -> None:
    verdict = invariant.check(*databases(tmp_path, stock_taken=2, confirmed=True, restocked=restocked))
    assert verdict == invariant.Verdict(True, [], 0)


def test_stock_taken_twice_breaks_it(tmp_path: Path) -> None:
    verdict = invariant.check(*databases(tmp_path, stock_taken=4, confirmed=True))
    assert not verdict.holds
    assert verdict.problems == ["BOOK-001: 100 in, 96 left + 2 confirmed"]


def test_a_reservation_of_an_order_not_confirmed_breaks_it(tmp_path: Path) -> None:
    verdict = invariant.check(*databases(tmp_path, stock_taken=2, confirmed=False))
    assert not verdict.holds
    assert "1 reservations without a confirmed order" in verdict.problems
    assert verdict.pending == 1


def test_an_order_without_its_idempotency_key_breaks_it(tmp_path: Path) -> None:
    verdict = invariant.check(*databases(tmp_path, stock_taken=2, confirmed=True, keyed=False))
    assert verdict == invariant.Verdict(False, ["1 orders without an idempotency key"], 0)
