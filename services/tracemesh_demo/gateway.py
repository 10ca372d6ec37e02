"""The demo at the gateway: the page at `/`, and the scenarios a request may ask for.

`with_demo_page(app)` wraps the gateway from the outside, so the page and its files are served before the
edge policy and the tracing layer see anything (a trace per page load or stylesheet would bury the API's),
and so that the scenario a caller asks for is checked first: the baggage entry `tracemesh.scenario` passes
only when GATEWAY_SCENARIOS_ENABLED is true and the name is a known scenario (baggage is untrusted input).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.edge import filter_baggage, police_baggage
from tracemesh_demo.jaeger_ui import JaegerUiCheck, http_probe
from tracemesh_demo.scenarios import SCENARIO_KEY, Scenario, parse_scenario

logger = logging.getLogger(__name__)

# The page: plain HTML, CSS and JavaScript, served as they are (no build step).
STATIC = Path(__file__).parent / "static"


class GatewayDemoSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    # Whether a request may ask for a demo scenario (baggage tracemesh.scenario=...). On for the local demo,
    # off wherever strangers can reach the gateway: a scenario makes requests slow or fail on purpose.
    scenarios_enabled: bool = False
    # Where the demo page links each trace: <jaeger_ui_url>/trace/<trace id>, as the browser reaches it.
    jaeger_ui_url: str = "http://localhost:16686"
    # Whether the gateway checks that jaeger_ui_url answers before the page links to it (jaeger_ui.py); when
    # nothing answers, the page names each trace by its id instead, as `make run`'s waterfall prints it. Off
    # where the gateway cannot reach the URL the browser uses and Jaeger is part of the stack anyway
    # (compose, Kubernetes): the page then always links.
    jaeger_ui_check: bool = True


class DemoPage:
    """ASGI middleware: serves the page, its files and its configuration; checks the scenario baggage."""

    def __init__(self, app: ASGIApp, settings: GatewayDemoSettings) -> None:
        self._app = app
        self._settings = settings
        self._jaeger_ui = (
            JaegerUiCheck(http_probe(settings.jaeger_ui_url)) if settings.jaeger_ui_check else None
        )
        files = [file for file in sorted(STATIC.iterdir()) if file.is_file()]
        # Exactly these paths, each a whole file name: anything else goes to the gateway (and its 404).
        self._page = Starlette(
            routes=[
                Route("/", _file_response(STATIC / "index.html")),
                Route("/demo/config", self._config),
                Route("/demo/jaeger-ui", self._jaeger_ui_status),
                *(Route(f"/static/{file.name}", _file_response(file)) for file in files),
            ]
        )
        self._paths = {"/", "/demo/config", "/demo/jaeger-ui", *(f"/static/{file.name}" for file in files)}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in self._paths and scope["method"] in ("GET", "HEAD"):
            await self._page(scope, receive, send)
            return
        if scope["type"] == "http":
            scope = police_baggage(scope, self._accepts)
        await self._app(scope, receive, send)

    def filter_baggage(self, header: str) -> str:
        """The baggage header as the gateway's edge policy will see it."""
        return filter_baggage(header, self._accepts)

    # docs-region: scenario-at-the-edge
    def _accepts(self, key: str, value: str) -> bool:
        """Every baggage entry but a scenario the gateway does not offer."""
        if key != SCENARIO_KEY or (self._settings.scenarios_enabled and parse_scenario(value)):
            return True
        logger.debug("dropped a %s baggage entry the gateway does not accept", SCENARIO_KEY)
        return False
        # docs-endregion: scenario-at-the-edge

    async def _config(self, _request: Request) -> JSONResponse:
        """What the page needs to know: where traces are shown, and which scenarios it may offer."""
        scenarios = list(Scenario) if self._settings.scenarios_enabled else []
        return JSONResponse(
            {
                "jaeger_ui_url": self._settings.jaeger_ui_url,
                "scenarios": [{"name": scenario.value} for scenario in scenarios],
            }
        )

    async def _jaeger_ui_status(self, _request: Request) -> JSONResponse:
        """Whether the Jaeger UI answers now (null: not checked), so the page links only to one that does."""
        answers = None if self._jaeger_ui is None else await self._jaeger_ui.answers()
        return JSONResponse({"answers": answers})


def _file_response(file: Path) -> Callable[[Request], Awaitable[FileResponse]]:
    async def serve(_request: Request) -> FileResponse:
        return FileResponse(file)

    return serve


def with_demo_page(app: ASGIApp, settings: GatewayDemoSettings | None = None) -> ASGIApp:
    """The gateway with the demo page in front of it (settings from GATEWAY_* when not given)."""
    return DemoPage(app, settings or GatewayDemoSettings())
