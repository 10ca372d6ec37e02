"""The demo page in a real headless Chromium when nothing answers at GATEWAY_JAEGER_UI_URL, as under
`make run` alone: no dead links, each trace named as the terminal's waterfall prints it; links once a Jaeger
UI answers."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from devrun.mesh import Mesh
from tests.support import JAEGER_UI_STAND_IN, free_port, serve_app
from tracemesh_demo.jaeger_ui import RECHECK_SECONDS

# Kept after the run, beside test_page's screenshot; git ignores it.
ARTIFACTS = Path(__file__).parents[1] / "artifacts"


@pytest.fixture(scope="module")
def jaeger_ui_port() -> int:
    """Nothing listens there until the last test starts a stand-in for the Jaeger UI on it."""
    return free_port()


@pytest.fixture(scope="module")
def mesh_env(jaeger_ui_port: int) -> dict[str, str]:
    return {"GATEWAY_JAEGER_UI_URL": f"http://127.0.0.1:{jaeger_ui_port}"}


@pytest.fixture(scope="module")
def mesh(sqlite_mesh: Mesh) -> Mesh:
    return sqlite_mesh  # the page is the same whatever the database


def place_order(page: Page) -> None:
    """Places one order of the first product; waits for its row."""
    rows = page.locator("#log tbody tr").count()
    page.click("#place")
    expect(page.locator("#log tbody tr")).to_have_count(rows + 1)


def test_with_no_jaeger_ui_an_order_names_its_trace_as_the_terminal_shows_it(
    page: Page, mesh: Mesh, jaeger_ui_port: int
) -> None:
    jaeger_ui = f"http://127.0.0.1:{jaeger_ui_port}"
    place_order(page)
    row = page.locator("#log tbody tr").first
    expect(row).to_contain_text("201 confirmed")
    expect(row.locator("a")).to_have_count(0)
    expect(page.locator(f'a[href^="{jaeger_ui}"]')).to_have_count(0)
    trace_id = row.locator("span.trace").inner_text()
    assert re.fullmatch(r"[0-9a-f]{32}", trace_id)
    # The waterfall's title for a trace reads "trace <id>": the row says to look for exactly that.
    assert row.locator("td").last.inner_text() == f"in the make run terminal: trace {trace_id}"
    expect(page.locator("header")).to_contain_text(f"Nothing answers at {jaeger_ui} (GATEWAY_JAEGER_UI_URL)")
    # The id named is the trace the services exported.
    spans = mesh.trace(
        trace_id, lambda spans: {s.service for s in spans} == {"gateway", "orders", "inventory"}
    )
    assert any(span.name == "POST /orders" and span.service == "gateway" for span in spans)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "demo-page-without-jaeger.png"), full_page=True)


def test_a_jaeger_ui_started_later_gets_links_from_then_on(page: Page, jaeger_ui_port: int) -> None:
    place_order(page)
    expect(page.locator("#log tbody tr").first.locator("a")).to_have_count(0)
    with serve_app(JAEGER_UI_STAND_IN, port=jaeger_ui_port) as jaeger_ui:
        # The gateway keeps its last answer for RECHECK_SECONDS: orders placed meanwhile are not linked yet.
        deadline = time.monotonic() + RECHECK_SECONDS + 10
        while True:
            place_order(page)
            link = page.locator("#log tbody tr").first.locator("a.trace")
            if link.count() == 1 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        expect(link).to_have_count(1)
        trace_id = link.inner_text()
        assert link.get_attribute("href") == f"{jaeger_ui}/trace/{trace_id}"
        assert httpx.get(f"{jaeger_ui}/trace/{trace_id}").status_code == 200  # the link answers
        expect(page.locator("header")).to_contain_text("Click its id to open it.")
