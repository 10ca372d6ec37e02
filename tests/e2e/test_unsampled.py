"""Requests the sampler leaves out, through the real mesh: they export nothing, yet their context still
crosses every hop (log lines, traceresponse); a sampled request in the same mesh exports its whole trace."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import httpx
import pytest

from tools.mesh.databases import sqlite_urls
from tools.mesh.processes import Mesh, start_mesh
from tools.mesh.waterfall import ReceivedSpan

CALLER_SPAN_ID = "00f067aa0ba902b7"
THREE = ("gateway", "orders", "inventory")
# Every edge of a placed order: the gateway's server and client, orders' server, its call to inventory and
# SQL, inventory's server, its SQL and its hand-made span.
WHOLE_ORDER = {
    ("gateway", "SERVER"),
    ("gateway", "CLIENT"),
    ("orders", "SERVER"),
    ("orders", "CLIENT"),
    ("inventory", "SERVER"),
    ("inventory", "INTERNAL"),
}


def sampler(ratio: str) -> dict[str, str]:
    return {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": ratio}


@pytest.fixture(scope="module")
def mesh_env() -> dict[str, str]:
    return sampler("0")


@pytest.fixture(scope="module")
def mesh(sqlite_mesh: Mesh) -> Mesh:
    return sqlite_mesh  # sampling is decided before any database is involved


def place_order(url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    response = httpx.post(
        f"{url}/orders", json={"sku": "BOOK-001", "quantity": 1}, headers=headers, timeout=10
    )
    assert response.status_code == 201, response.text
    return response


def traceresponse(response: httpx.Response) -> tuple[str, int]:
    """The trace id and the flags the gateway answered with."""
    _version, trace_id, _span_id, flags = response.headers["traceresponse"].split("-")
    return trace_id, int(flags, 16)


def edges(spans: list[ReceivedSpan]) -> set[tuple[str, str]]:
    return {(span.service, span.kind) for span in spans}


def whole(spans: list[ReceivedSpan]) -> bool:
    db = {span.service for span in spans if "db.system" in span.attributes}
    return edges(spans) >= WHOLE_ORDER and db == {"orders", "inventory"}


def test_an_unsampled_request_exports_nothing_and_still_carries_its_context(mesh: Mesh) -> None:
    unsampled = secrets.token_hex(16)
    headers = {"traceparent": f"00-{unsampled}-{CALLER_SPAN_ID}-00", "baggage": "tracemesh.tenant=acme"}
    response = place_order(mesh.gateway_url, headers)
    assert traceresponse(response) == (unsampled, 0)  # the caller's trace, not sampled

    # A sampled request afterwards, in the same mesh: its whole trace arrives. Each service exports its spans
    # in the order they ended, so by then any span of the earlier request would have arrived too.
    sampled = secrets.token_hex(16)
    place_order(mesh.gateway_url, {"traceparent": f"00-{sampled}-{CALLER_SPAN_ID}-01"})
    spans = mesh.trace(sampled, whole)
    assert whole(spans), sorted(edges(spans))
    assert {span.trace_id for span in mesh.store.all_spans()} == {sampled}

    # Downstream services ran the request in the caller's trace: their log lines name it.
    for service in THREE:
        assert f"trace_id={unsampled}" in mesh.log(service), f"no log line of {service} names the trace"


def test_an_unsampled_root_is_answered_with_its_new_trace_id(mesh: Mesh) -> None:
    trace_id, flags = traceresponse(place_order(mesh.gateway_url))
    assert not flags & 0x01
    assert int(trace_id, 16) != 0
    for service in THREE:
        assert f"trace_id={trace_id}" in mesh.log(service), f"no log line of {service} names the trace"


@pytest.fixture(scope="module")
def half_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    """A second mesh, sampling half of the new traces."""
    directory = tmp_path_factory.mktemp("mesh-half")
    started = start_mesh(directory, *sqlite_urls(directory), sampler("0.5"))
    yield started
    started.stop_all()


def test_at_half_every_sampled_trace_is_whole_and_the_others_send_nothing(half_mesh: Mesh) -> None:
    answered = [traceresponse(place_order(half_mesh.gateway_url)) for _ in range(24)]
    sampled = [trace_id for trace_id, flags in answered if flags & 0x01]
    dropped = [trace_id for trace_id, flags in answered if not flags & 0x01]
    # 24 fair coins: all alike happens once in 8 million runs. (A ratio applied twice would keep a quarter.)
    assert sampled
    assert dropped
    for trace_id in sampled:
        spans = half_mesh.trace(trace_id, whole)
        assert whole(spans), (trace_id, sorted(edges(spans)))
    assert {span.trace_id for span in half_mesh.store.all_spans()} == set(sampled)
