"""The schema by migrations, on SQLite and PostgreSQL: each history brings an empty database to a schema the
models agree with, a database made before migrations is adopted as it is, and replicas may migrate at once."""

from __future__ import annotations

import asyncio
import importlib
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

import tracemesh_common.migrations
from inventory.catalogue import CATALOGUE
from inventory.migrate import LEGACY_REVISION as INVENTORY_LEGACY
from inventory.models import Base as InventoryBase
from inventory.models import ProductRow
from orders.migrate import LEGACY_REVISION as ORDERS_LEGACY
from orders.models import Base as OrdersBase
from tests.support import postgres_database, require_postgres
from tracemesh_common.database import create_engine
from tracemesh_common.migrations import upgrade

SERVICES = {
    "orders": (OrdersBase.metadata, ORDERS_LEGACY),
    "inventory": (InventoryBase.metadata, INVENTORY_LEGACY),
}


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


async def differences(engine: AsyncEngine, metadata: MetaData) -> list[object]:
    """What autogenerate would write to make the database match the models: nothing, when they agree."""
    async with engine.connect() as connection:
        found: list[object] = await connection.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
        )
    return found


async def revision_of(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await connection.scalar(text("SELECT version_num FROM alembic_version"))


@pytest.mark.parametrize("service", SERVICES)
async def test_the_history_builds_the_schema_the_models_describe(engine: AsyncEngine, service: str) -> None:
    metadata, _ = SERVICES[service]
    await upgrade(engine, service)
    assert await differences(engine, metadata) == []
    head = await revision_of(engine)
    await upgrade(engine, service)  # a second run changes nothing
    assert await revision_of(engine) == head


async def test_a_fresh_inventory_has_its_catalogue_once(engine: AsyncEngine) -> None:
    await upgrade(engine, "inventory")
    await upgrade(engine, "inventory")
    async with engine.connect() as connection:
        rows = (await connection.execute(select(ProductRow.sku, ProductRow.name, ProductRow.stock))).all()
    assert sorted(rows) == sorted((p.sku, p.name, p.stock) for p in CATALOGUE)


@pytest.mark.parametrize("service", SERVICES)
async def test_a_database_made_before_migrations_is_adopted_as_it_is(
    engine: AsyncEngine, service: str
) -> None:
    """What the services did at start-up before they had migrations: create_all, and the catalogue."""
    metadata, legacy = SERVICES[service]
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
        if service == "inventory":
            await connection.execute(
                ProductRow.__table__.insert(), [{"sku": p.sku, "name": p.name, "stock": 7} for p in CATALOGUE]
            )
    await upgrade(engine, service, legacy)
    assert await differences(engine, metadata) == []
    if service == "inventory":  # the stock as it was, not the catalogue inserted again
        async with engine.connect() as connection:
            assert set((await connection.scalars(select(ProductRow.stock))).all()) == {7}


def test_replicas_that_migrate_at_once_take_turns(postgres_reachable: None) -> None:
    """Two init containers upgrading one PostgreSQL database together: both succeed, the schema made once."""

    async def both(url: str) -> None:
        engines = [create_engine(url), create_engine(url)]
        try:
            await asyncio.gather(*(upgrade(engine, "inventory") for engine in engines))
            async with engines[0].connect() as connection:
                assert (
                    await connection.scalar(select(ProductRow.stock).where(ProductRow.sku == "LAMP-9")) == 5
                )
        finally:
            for engine in engines:
                await engine.dispose()

    require_postgres()
    with postgres_database("migrate") as url:
        asyncio.run(both(url))


def test_the_command_migrates_the_database_the_settings_name(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/orders.db"
    done = subprocess.run(
        [sys.executable, "-m", "orders.migrate"],
        env={"ORDERS_DATABASE_URL": url, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr

    async def check() -> None:
        engine = create_engine(url)
        try:
            assert await differences(engine, OrdersBase.metadata) == []
        finally:
            await engine.dispose()

    asyncio.run(check())


def test_a_new_revision_is_written_from_what_the_models_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`python -m orders.migrate revision MESSAGE` on a copy of orders' history: with the models unchanged,
    the new revision is empty, and it follows the newest one."""
    history = tmp_path / "migrations"
    shutil.copytree(_history("orders"), history, ignore=shutil.ignore_patterns("__pycache__"))

    def copied(service: str) -> Config:
        alembic_config = Config()
        alembic_config.set_main_option("script_location", str(history))
        return alembic_config

    monkeypatch.setattr(tracemesh_common.migrations, "config", copied)
    url = f"sqlite+aiosqlite:///{tmp_path}/orders.db"
    tracemesh_common.migrations.main("orders", url, [])
    tracemesh_common.migrations.main("orders", url, ["revision", "nothing changed"])
    (written,) = [path for path in (history / "versions").glob("*.py") if "nothing_changed" in path.name]
    source = written.read_text()
    assert "down_revision = '0001'" in source
    assert "op." not in source.split("def upgrade")[1].split("def downgrade")[0]


def _history(service: str) -> Path:
    """The folder of a service's history, as installed."""
    return Path(importlib.import_module(f"{service}.migrations").__file__ or "").parent
