"""What the gateway accepts of a caller's trace context, decided before the tracing layer sees it.

The gateway is the edge: everything in a request's headers comes from outside and is untrusted. This ASGI
middleware sits outside the OpenTelemetry middleware, so what it removes never reaches a span, a log line
or a downstream service. Two settings decide (W3C Trace Context, "privacy and security" considerations;
OpenTelemetry's guidance on untrusted boundaries):

- trace context (`traceparent`, `tracestate`, the legacy `X-Trace-ID`): `trust` continues the caller's
  trace, its sampling decision included; `restart` starts a new trace at the gateway and keeps the caller's
  context as a link on the server span, so nobody outside can choose our trace ids or force sampling, and the
  caller's trace can still be found from ours.
- baggage: only the allowed keys pass (all of them when the allow-list is "*"). The gateway does not echo
  what it drops into its logs (the values are the caller's); OpenTelemetry's baggage parser does log an
  entry it cannot parse, which the log format escapes and cuts (tracemesh_common.logs).

Behind the gateway, services trust each other's context: this policy is applied once, here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from opentelemetry import baggage, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

logger = logging.getLogger(__name__)

_BAGGAGE = b"baggage"
_TRACE_CONTEXT = (b"traceparent", b"tracestate", b"x-trace-id")
# Where `restart` leaves the caller's span context for the server span's link (an ASGI scope extension).
INBOUND_CONTEXT = "tracemesh.inbound_context"
# The W3C propagators parse and re-encode: percent-encoding, the spec's size limits, malformed values.
_W3C_BAGGAGE = W3CBaggagePropagator()
_W3C_TRACE_CONTEXT = TraceContextTextMapPropagator()


class TraceContextPolicy(StrEnum):
    TRUST = "trust"
    RESTART = "restart"


class EdgePolicy:
    """ASGI middleware: rewrites the inbound trace context and baggage headers by the gateway's rules."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        trace_context: TraceContextPolicy = TraceContextPolicy.TRUST,
        baggage_keys: Collection[str] | None = None,
    ) -> None:
        """`baggage_keys`: the inbound baggage keys to keep; None keeps every key."""
        self._app = app
        self._restart = trace_context is TraceContextPolicy.RESTART
        self._baggage_keys = None if baggage_keys is None else frozenset(baggage_keys)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope = self._police(scope)
        await self._app(scope, receive, send)

    def _police(self, scope: Scope) -> Scope:
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        restart = self._restart and any(name in _TRACE_CONTEXT for name, _ in headers)
        if restart:
            scope = dict(scope)
            # docs-region: edge-restart
            caller = _header_dict(headers, (b"traceparent", b"tracestate"))
            caller_context = _W3C_TRACE_CONTEXT.extract(caller, Context())
            span_context = trace.get_current_span(caller_context).get_span_context()
            if span_context.is_valid:
                scope[INBOUND_CONTEXT] = span_context
            scope["headers"] = [(name, value) for name, value in headers if name not in _TRACE_CONTEXT]
            # docs-endregion: edge-restart
        if self._baggage_keys is None:
            return scope
        allowed = self._baggage_keys
        return police_baggage(scope, lambda key, _value: key in allowed)

    def filter_baggage(self, header: str) -> str:
        """The baggage header as the services will see it."""
        allowed = self._baggage_keys
        return filter_baggage(header, lambda key, _value: allowed is None or key in allowed)


def police_baggage(scope: Scope, keep: Callable[[str, str], bool]) -> Scope:
    """The ASGI scope with its baggage headers replaced by one that holds only the entries `keep` accepts."""
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    values = [value for name, value in headers if name == _BAGGAGE]
    # Any baggage is parsed, never searched as bytes: a key may arrive percent-encoded
    # (`tracemesh%2Escenario`) and the services would decode it.
    if not values:
        return scope
    kept = filter_baggage(b",".join(values).decode("latin-1"), keep)
    headers = [(name, value) for name, value in headers if name != _BAGGAGE]
    return dict(scope, headers=headers + ([(_BAGGAGE, kept.encode())] if kept else []))


def filter_baggage(header: str, keep: Callable[[str, str], bool]) -> str:
    """A baggage header with only the entries `keep(key, value)` accepts, re-encoded as the W3C spec says."""
    # docs-region: filter-baggage
    entries = baggage.get_all(_W3C_BAGGAGE.extract({"baggage": header}, Context()))
    context = Context()
    for key, value in entries.items():
        if isinstance(value, str) and keep(key, value):
            context = baggage.set_baggage(key, value, context)
    carrier: dict[str, str] = {}
    _W3C_BAGGAGE.inject(carrier, context)
    return carrier.get("baggage", "")
    # docs-endregion: filter-baggage


def link_inbound_context(span: trace.Span, scope: dict[str, Any]) -> None:
    """The HTTP instrumentation's server-request hook: links a restarted trace to the caller's."""
    inbound = scope.get(INBOUND_CONTEXT)
    if inbound is not None and span.is_recording():
        span.add_link(inbound, {"tracemesh.link": "caller's trace context, restarted at the edge"})


def _header_dict(headers: list[tuple[bytes, bytes]], names: tuple[bytes, ...]) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in headers:
        if name in names and name.decode() not in found:  # the first of each, as the propagator reads it
            found[name.decode()] = value.decode("latin-1")
    return found
