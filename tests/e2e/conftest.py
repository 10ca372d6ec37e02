"""One mesh of real processes per database, shared by the tests of a module; a browser for the demo page."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from devrun.databases import mesh_databases, sqlite_urls
from devrun.mesh import Mesh, start_mesh
from tests.support import require_chromium, require_postgres

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


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


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium, driven by Playwright (for the demo page's tests)."""
    chromium = require_chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, mesh: Mesh) -> Iterator[Page]:
    """The demo page of the module's mesh, loaded with its products; fails the test if its JavaScript did."""
    opened = browser.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.goto(mesh.gateway_url + "/")
    expect(opened.locator("#products tbody tr")).to_have_count(5)
    yield opened
    opened.close()
    assert errors == [], "the page's JavaScript failed"
