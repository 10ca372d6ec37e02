"""The propagation diagram (both READMEs, and chapter 1 in both languages) names what the code really sends
on each hop: the propagators' keys between services, keys the gateway's edge policy rewrites coming in, the
response propagator's header going out, and nothing to the databases or the trace backend."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.instrumentation.propagators import TraceResponsePropagator
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from docscheck.check import Docs
from gateway.edge import EdgePolicy, TraceContextPolicy
from tracemesh_common.propagation import DEFAULT_PROPAGATORS, load_propagators

ROOT = Path(__file__).resolve().parents[2]
# The pages that draw the diagram, by language; pages of one language draw the same one.
PAGES = {
    "en": ["README.md", "docs/tutorial/en/01-first-trace.md"],
    "zh": ["README.zh.md", "docs/tutorial/zh/01-first-trace.md"],
}
# An edge as the diagram writes it: source -->|"label"| target (-.-> for a dotted one).
_EDGE = re.compile(r'^\s*(\w+)\s*-\.?->\|"([^"]*)"\|\s*(\w+)\s*$')
# A label "carrier: key, key" names the keys that cross; one without a colon names none. Chinese labels
# may use the full-width colon and comma, or the enumeration comma.
_COLON = re.compile("[:\uff1a]")
_SEPARATOR = re.compile("[,\u3001\uff0c]")

CALLS = [("client", "gateway"), ("gateway", "orders"), ("orders", "inventory")]
RESPONSE = ("gateway", "client")
QUIET = [("orders", "orders_db"), ("inventory", "inventory_db")] + [
    (service, "backend") for service in ("gateway", "orders", "inventory")
]


def diagram(path: str) -> str:
    blocks = [block for block in Docs(ROOT).page(path).blocks if block.info == "mermaid"]
    assert len(blocks) == 1, f"{path} has {len(blocks)} mermaid blocks, not one"
    return blocks[0].content


def hops(text: str) -> dict[tuple[str, str], frozenset[str]]:
    """Each edge of the diagram, with the keys its label names."""
    found: dict[tuple[str, str], frozenset[str]] = {}
    arrows = [line for line in text.splitlines() if "->" in line and not line.strip().startswith("%%")]
    for line in arrows:
        match = _EDGE.match(line)
        assert match is not None, f"an edge the test cannot read: {line.strip()}"
        source, label, target = match.groups()
        parts = _COLON.split(label, maxsplit=1)
        keys = _SEPARATOR.split(parts[1]) if len(parts) == 2 else []
        found[(source, target)] = frozenset(key.strip() for key in keys if key.strip())
    return found


def every_diagram() -> dict[str, dict[tuple[str, str], frozenset[str]]]:
    return {path: hops(diagram(path)) for pages in PAGES.values() for path in pages}


@pytest.mark.parametrize("language", sorted(PAGES))
def test_pages_of_one_language_draw_the_same_diagram(language: str) -> None:
    drawn = {path: diagram(path) for path in PAGES[language]}
    assert len(set(drawn.values())) == 1, f"the {language} diagrams differ: {sorted(drawn)}"


def test_both_languages_draw_the_same_hops_and_keys() -> None:
    drawn = every_diagram()
    first = next(iter(drawn.values()))
    assert set(first) == {*CALLS, RESPONSE, *QUIET}
    assert all(edges == first for edges in drawn.values()), drawn


def test_each_call_carries_the_propagators_keys() -> None:
    fields = load_propagators(DEFAULT_PROPAGATORS).fields
    assert fields == {"traceparent", "tracestate", "baggage", "x-trace-id"}
    for path, edges in every_diagram().items():
        for hop in CALLS:
            assert {key.lower() for key in edges[hop]} == fields, (path, hop)


def test_what_reaches_no_service_names_no_key() -> None:
    for path, edges in every_diagram().items():
        assert {hop: edges[hop] for hop in QUIET if edges[hop]} == {}, path


def test_the_response_names_what_the_response_propagator_writes() -> None:
    span = NonRecordingSpan(SpanContext(trace_id=1, span_id=1, is_remote=False, trace_flags=TraceFlags(1)))
    written: dict[str, str] = {}
    TraceResponsePropagator().inject(written, trace.set_span_in_context(span))
    for path, edges in every_diagram().items():
        shown = {key.lower() for key in edges[RESPONSE]}
        assert "traceresponse" in shown, path
        assert shown <= {name.lower() for name in written}, path


async def test_the_gateway_edge_rewrites_every_key_a_caller_sends() -> None:
    """With the strictest policy (restart, no baggage key allowed), each key the diagram shows coming in is
    taken out of the request before the app sees it, while any other header passes."""
    inbound = {key.lower() for path in PAGES["en"] for key in hops(diagram(path))[CALLS[0]]}
    values = {
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "tracestate": "vendor=value",
        "baggage": "tracemesh.scenario=slow-query,other=1",
        "x-trace-id": "0af7651916cd43dd8448eb211c80319c",
    }
    assert inbound <= values.keys(), inbound
    seen: list[list[tuple[bytes, bytes]]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope["headers"])

    policy = EdgePolicy(app, trace_context=TraceContextPolicy.RESTART, baggage_keys=frozenset())
    headers = [(key.encode(), values[key].encode()) for key in sorted(inbound)] + [(b"accept", b"*/*")]
    await policy({"type": "http", "headers": headers}, None, None)  # type: ignore[arg-type]
    assert seen == [[(b"accept", b"*/*")]]
