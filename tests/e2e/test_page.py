"""The demo page in a real headless Chromium, against the real mesh: with a Jaeger UI answering at
GATEWAY_JAEGER_UI_URL, every order links to its trace there (when none answers: test_page_without_jaeger)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from devrun.mesh import Mesh
from tests.support import JAEGER_UI_STAND_IN, serve_app

# Kept after the run (CI can publish the folder); git ignores it.
ARTIFACTS = Path(__file__).parents[1] / "artifacts"
SERVICES = {"gateway", "orders", "inventory"}


@pytest.fixture(scope="module")
def jaeger_ui() -> Iterator[str]:
    """A real HTTP server standing in for the Jaeger UI: the page links only to one that answers."""
    with serve_app(JAEGER_UI_STAND_IN) as url:
        yield url


@pytest.fixture(scope="module")
def mesh_env(jaeger_ui: str) -> dict[str, str]:
    return {
        "GATEWAY_SCENARIOS_ENABLED": "true",
        "GATEWAY_JAEGER_UI_URL": jaeger_ui,
        # Slow enough for the page's "slow" flag (250 ms) on a fast machine too.
        "INVENTORY_SLOW_QUERY_ROWS": "3000000",
    }


@pytest.fixture(scope="module")
def mesh(sqlite_mesh: Mesh) -> Mesh:
    return sqlite_mesh  # the page is the same whatever the database


def latest_entry(page: Page) -> dict[str, str]:
    row = page.locator("#log tbody tr").first
    link = row.locator("a.trace")
    return {
        "class": row.get_attribute("class") or "",
        "text": row.inner_text(),
        "trace_id": link.inner_text(),
        "href": link.get_attribute("href") or "",
    }


def test_an_order_placed_on_the_page_links_to_its_trace(page: Page, mesh: Mesh, jaeger_ui: str) -> None:
    page.select_option("#sku", "BOOK-001")
    page.fill("#quantity", "2")
    page.click("#place")
    expect(page.locator("#log tbody tr")).to_have_count(1)
    entry = latest_entry(page)
    assert "201 confirmed" in entry["text"]
    assert re.fullmatch(r"[0-9a-f]{32}", entry["trace_id"])
    assert entry["href"] == f"{jaeger_ui}/trace/{entry['trace_id']}"
    assert httpx.get(entry["href"]).status_code == 200  # the link answers
    expect(page.locator("header")).to_contain_text("Click its id to open it.")
    # The id on the page is the trace the services exported.
    spans = mesh.trace(
        entry["trace_id"], lambda spans: {s.service for s in spans} == {"gateway", "orders", "inventory"}
    )
    assert any(span.name == "POST /orders" and span.service == "gateway" for span in spans)
    # The product list follows the order.
    expect(page.locator("#products tbody tr", has_text="BOOK-001")).to_contain_text("98")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "demo-page.png"), full_page=True)


def test_a_slow_query_order_is_flagged_slow(page: Page, mesh: Mesh) -> None:
    page.select_option("#scenario", "slow-query")
    page.click("#place")
    expect(page.locator("#log tbody tr")).to_have_count(1)
    entry = latest_entry(page)
    assert "slow-query" in entry["text"]
    assert "slow" in entry["class"].split()
    spans = mesh.trace(
        entry["trace_id"], lambda spans: any(s.attributes.get("tracemesh.scenario") for s in spans)
    )
    assert {span.attributes.get("tracemesh.scenario") for span in spans} == {"slow-query"}


def test_an_order_beyond_the_stock_shows_the_409_and_its_trace(
    page: Page, mesh: Mesh, jaeger_ui: str
) -> None:
    page.select_option("#sku", "LAMP-9")
    page.fill("#quantity", "1000")
    page.click("#place")
    expect(page.locator("#log tbody tr")).to_have_count(1)
    entry = latest_entry(page)
    assert "refused" in entry["class"].split()
    assert "409" in entry["text"]
    assert "1000 of 'LAMP-9' requested" in entry["text"]
    assert re.fullmatch(r"[0-9a-f]{32}", entry["trace_id"])
    assert entry["href"] == f"{jaeger_ui}/trace/{entry['trace_id']}"
    # The linked trace is this refusal's: three server spans, and inventory's step saying why.
    spans = mesh.trace(
        entry["trace_id"], lambda spans: {s.service for s in spans if s.kind == "SERVER"} == SERVICES
    )
    assert {span.service for span in spans if span.kind == "SERVER"} == SERVICES
    (step,) = [span for span in spans if span.name == "reserve stock"]
    assert step.attributes["tracemesh.reservation.outcome"] == "insufficient_stock"
    assert (step.attributes["tracemesh.sku"], step.attributes["tracemesh.quantity"]) == ("LAMP-9", 1000)


def test_a_burst_places_ten_orders_each_with_its_own_trace(page: Page, mesh: Mesh) -> None:
    page.select_option("#sku", "STICKER-3")
    before = int(stock_shown(page, "STICKER-3"))
    page.click("#burst")
    expect(page.locator("#log tbody tr")).to_have_count(10)
    ids = {page.locator("#log tbody tr a.trace").nth(i).inner_text() for i in range(10)}
    assert len(ids) == 10
    # Every one was placed, and each id on the page is the trace the services exported for it.
    rows = [page.locator("#log tbody tr").nth(i) for i in range(10)]
    assert [row.locator("td.result").inner_text() for row in rows] == ["201 confirmed"] * 10
    assert all("ok" in (row.get_attribute("class") or "").split() for row in rows)
    for trace_id in ids:
        spans = mesh.trace(
            trace_id, lambda spans: {s.service for s in spans if s.kind == "SERVER"} == SERVICES
        )
        gateway = [span for span in spans if span.service == "gateway" and span.kind == "SERVER"]
        assert [span.name for span in gateway] == ["POST /orders"], trace_id
    # The product list follows the ten orders.
    expect(page.locator("#products tbody tr", has_text="STICKER-3")).to_contain_text(str(before - 10))


def stock_shown(page: Page, sku: str) -> str:
    """The stock the page's product table shows for `sku`."""
    return page.locator("#products tbody tr", has_text=sku).locator("td").nth(2).inner_text()
