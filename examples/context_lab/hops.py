"""Carrying the context by hand over hops no instrumentation covers: an HTTP call made with the standard
library, and a message whose headers are a dict. `opentelemetry.propagate` writes the current context
into the carrier on one side (inject) and reads it back on the other (extract), with the propagators
the process is configured with. tests/integration/test_context_lab.py proves both hops join one trace."""

from __future__ import annotations

import queue
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry import propagate
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Tracer


# docs-region: raw-http-client
def fetch_stock(tracer: Tracer, url: str) -> bytes:
    attributes = {"http.request.method": "GET", "url.full": url}
    with tracer.start_as_current_span("GET", kind=SpanKind.CLIENT, attributes=attributes):
        headers: dict[str, str] = {}
        propagate.inject(headers)  # traceparent (and baggage) for the span just started
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as response:
            body: bytes = response.read()
            return body
            # docs-endregion: raw-http-client


def stock_server(tracer: Tracer) -> ThreadingHTTPServer:
    """An HTTP server of the standard library on a free port of 127.0.0.1; each request is served in a
    thread of its own, where nothing is current."""

    class StockHandler(BaseHTTPRequestHandler):
        # docs-region: raw-http-server
        def do_GET(self) -> None:
            caller = propagate.extract(self.headers)  # the caller's context (this thread has none)
            with tracer.start_as_current_span("GET /stock", context=caller, kind=SpanKind.SERVER):
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"LAMP-9 5\n")
                # docs-endregion: raw-http-server

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the default writes every request to stderr."""

    return ThreadingHTTPServer(("127.0.0.1", 0), StockHandler)


@dataclass(frozen=True)
class Message:
    """A message as a queue would carry it: a body, and headers for whatever travels beside it."""

    body: str
    headers: dict[str, str] = field(default_factory=dict)


# docs-region: message-headers
def publish(tracer: Tracer, messages: queue.Queue[Message], body: str) -> None:
    with tracer.start_as_current_span("send orders", kind=SpanKind.PRODUCER):
        message = Message(body)
        propagate.inject(message.headers)  # the context travels inside the message
        messages.put(message)


def consume(tracer: Tracer, messages: queue.Queue[Message]) -> str:
    message = messages.get()
    # The sender's context or nothing: from Context(), not from whatever is current here.
    sender = propagate.extract(message.headers, context=Context())
    with tracer.start_as_current_span("process orders", context=sender, kind=SpanKind.CONSUMER):
        return message.body
        # docs-endregion: message-headers
