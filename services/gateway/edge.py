"""What the gateway accepts of a caller's trace context, decided before the tracing layer sees it.

The gateway is the edge: everything in a request's headers comes from outside and is untrusted. This ASGI
middleware sits outside the OpenTelemetry middleware, so what it removes never reaches a span, a log line
or a downstream service. Today it polices one thing, the demo's scenario baggage entry: kept only when
scenarios are enabled and the name is a known one, dropped otherwise (and never logged: the value is the
caller's). Every other header passes through unchanged.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from opentelemetry import baggage
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context

from telemetry.scenarios import SCENARIO_KEY, parse_scenario

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

logger = logging.getLogger(__name__)

_BAGGAGE = b"baggage"
_SCENARIO_KEY = SCENARIO_KEY.encode()
# The W3C propagator parses and re-encodes: percent-encoding, the spec's size limits, malformed members.
_W3C_BAGGAGE = W3CBaggagePropagator()


class EdgePolicy:
    """ASGI middleware: rewrites the inbound `baggage` header by the gateway's rules."""

    def __init__(self, app: ASGIApp, *, scenarios_enabled: bool) -> None:
        self._app = app
        self._scenarios_enabled = scenarios_enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers: list[tuple[bytes, bytes]] = scope["headers"]
            values = [value for name, value in headers if name == _BAGGAGE]
            # The common case costs one scan of the headers: no baggage, or none that names a scenario.
            if any(_SCENARIO_KEY in value for value in values):
                others = [(name, value) for name, value in headers if name != _BAGGAGE]
                kept = self.filter_baggage(b",".join(values).decode("latin-1"))
                scope = dict(scope, headers=others + ([(_BAGGAGE, kept.encode())] if kept else []))
        await self._app(scope, receive, send)

    def filter_baggage(self, header: str) -> str:
        """The baggage header as the services will see it."""
        entries = baggage.get_all(_W3C_BAGGAGE.extract({"baggage": header}))
        context = Context()
        for key, value in entries.items():
            if key == SCENARIO_KEY and not (self._scenarios_enabled and parse_scenario(value)):
                logger.debug("dropped a %s baggage entry the gateway does not accept", SCENARIO_KEY)
                continue
            context = baggage.set_baggage(key, value, context)
        carrier: dict[str, str] = {}
        _W3C_BAGGAGE.inject(carrier, context)
        return carrier.get("baggage", "")
