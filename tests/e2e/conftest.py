"""One mesh of real processes per database, shared by the tests of a module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devrun.databases import mesh_databases, sqlite_urls
from devrun.mesh import Mesh, start_mesh
from tests.support import require_postgres


@pytest.fixture(scope="module")
def mesh_env() -> dict[str, str]:
    """Settings for the services of a module's mesh; a module overrides this fixture to change them."""
    return {}


@pytest.fixture(scope="module")
def sqlite_mesh(tmp_path_factory: pytest.TempPathFactory, mesh_env: dict[str, str]) -> Iterator[Mesh]:
    """The mesh on SQLite only, for a module whose subject does not depend on the database: it overrides
    `mesh` to return this one."""
    directory = tmp_path_factory.mktemp("mesh-sqlite")
    started = start_mesh(directory, *sqlite_urls(directory), mesh_env)
    yield started
    started.stop_all()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def mesh(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, mesh_env: dict[str, str]
) -> Iterator[Mesh]:
    """The mesh on SQLite files, then on two fresh PostgreSQL databases."""
    directory = tmp_path_factory.mktemp(f"mesh-{request.param}")
    if request.param == "postgres":
        require_postgres()
    with mesh_databases(request.param, directory, "e2e") as (orders_db, inventory_db):
        started = start_mesh(directory, orders_db, inventory_db, mesh_env)
        yield started
        started.stop_all()
