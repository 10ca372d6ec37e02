"""The demo page in front of the gateway: served untraced, offering scenarios only when they are enabled."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.types import ASGIApp

from gateway.app import create_app
from gateway.settings import GatewaySettings
from tests.integration.spans import only_the_trace_of
from tests.support import JAEGER_UI_STAND_IN, free_port, serve_app
from tracemesh_common.tracing import Telemetry
from tracemesh_demo.gateway import GatewayDemoSettings, with_demo_page


@pytest.fixture
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """inventory on SQLite only here: the page does not depend on the database."""
    return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('inventory')}/inventory.db"


@pytest.fixture
def page_url(orders_address: str, make_telemetry: Callable[[str], Telemetry]) -> Iterator[str]:
    """The gateway with the demo page in front, as gateway's composition root serves it."""
    app = create_app(GatewaySettings(orders_address=orders_address), make_telemetry("gateway"))
    with serve_app(with_demo_page(app, GatewayDemoSettings())) as url:
        yield url


def test_the_demo_page_is_served_untraced(page_url: str, span_exporter: InMemorySpanExporter) -> None:
    page = httpx.get(f"{page_url}/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<script src="/static/demo.js"' in page.text
    assert httpx.get(f"{page_url}/static/demo.js").status_code == 200
    assert httpx.get(f"{page_url}/static/style.css").status_code == 200
    config = httpx.get(f"{page_url}/demo/config").json()
    assert config == {"jaeger_ui_url": "http://localhost:16686", "scenarios": []}
    # Page loads leave no traces of their own; the API calls the page makes do.
    httpx.get(f"{page_url}/products")
    only_the_trace_of(span_exporter, "GET /products")


def test_a_crafted_host_header_cannot_switch_tracing_off(
    page_url: str, span_exporter: InMemorySpanExporter
) -> None:
    # The instrumentation tests its excluded URLs against "http://<Host header><path>".
    for host in ("x/static", "x/static/demo.js", "x/demo/config", "x/healthz"):
        span_exporter.clear()
        response = httpx.get(f"{page_url}/products", headers={"host": host})
        assert response.status_code == 200
        assert "traceresponse" in response.headers, host
        only_the_trace_of(span_exporter, "GET /products")


def test_the_demo_page_offers_the_scenarios_when_they_are_enabled(
    make_telemetry: Callable[[str], Telemetry],
) -> None:
    settings = GatewaySettings(orders_address=f"127.0.0.1:{free_port()}")
    demo = GatewayDemoSettings(scenarios_enabled=True, jaeger_ui_url="http://jaeger:16686")
    with serve_app(with_demo_page(create_app(settings, make_telemetry("gateway")), demo)) as url:
        config = httpx.get(f"{url}/demo/config").json()
    assert config["jaeger_ui_url"] == "http://jaeger:16686"
    assert [scenario["name"] for scenario in config["scenarios"]] == [
        "slow-query",
        "n-plus-one",
        "flaky-inventory",
        "contention",
    ]


def test_the_demo_page_is_told_whether_the_jaeger_ui_answers(
    make_telemetry: Callable[[str], Telemetry], span_exporter: InMemorySpanExporter
) -> None:
    def page(demo: GatewayDemoSettings) -> ASGIApp:
        settings = GatewaySettings(orders_address=f"127.0.0.1:{free_port()}")
        return with_demo_page(create_app(settings, make_telemetry("gateway")), demo)

    with serve_app(page(GatewayDemoSettings(jaeger_ui_url=f"http://127.0.0.1:{free_port()}"))) as url:
        assert httpx.get(f"{url}/demo/jaeger-ui").json() == {"answers": False}
    with (
        serve_app(JAEGER_UI_STAND_IN) as jaeger_ui,
        serve_app(page(GatewayDemoSettings(jaeger_ui_url=jaeger_ui))) as url,
    ):
        assert httpx.get(f"{url}/demo/jaeger-ui").json() == {"answers": True}
    # Not checked (compose, Kubernetes): the page links, as it always did there.
    unchecked = GatewayDemoSettings(jaeger_ui_url=f"http://127.0.0.1:{free_port()}", jaeger_ui_check=False)
    with serve_app(page(unchecked)) as url:
        assert httpx.get(f"{url}/demo/jaeger-ui").json() == {"answers": None}
    # Neither the question nor the check leaves a trace.
    assert span_exporter.get_finished_spans() == ()
