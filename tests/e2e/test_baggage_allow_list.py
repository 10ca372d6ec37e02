"""A gateway with a baggage allow-list (GATEWAY_INBOUND_BAGGAGE_KEYS), on a real mesh: only the keys it names
travel on, so only they land on the spans of the three services."""

from __future__ import annotations

import secrets

import httpx
import pytest

from devrun.mesh import Mesh

SERVICES = {"gateway", "orders", "inventory"}
CALLER_SPAN_ID = "00f067aa0ba902b7"


@pytest.fixture(scope="module")
def mesh_env() -> dict[str, str]:
    return {"GATEWAY_INBOUND_BAGGAGE_KEYS": "tracemesh.tenant, tracemesh.region"}


@pytest.fixture(scope="module")
def mesh(sqlite_mesh: Mesh) -> Mesh:
    return sqlite_mesh  # the edge decides before any database is involved


def test_only_the_allowed_baggage_keys_reach_the_spans_of_every_service(mesh: Mesh) -> None:
    trace_id = secrets.token_hex(16)
    # Two allowed keys, and three that are not: one plain, one percent-encoded (the services would decode
    # it to an allowed-looking name), one carrying escape sequences.
    baggage = (
        "tracemesh.tenant=acme,tracemesh.team=red,tracemesh%2Eplan=gold,"
        "tracemesh.x=%1B%5B31m,tracemesh.region=eu"
    )
    response = httpx.post(
        f"{mesh.gateway_url}/orders",
        json={"sku": "STICKER-3", "quantity": 1},
        headers={"traceparent": f"00-{trace_id}-{CALLER_SPAN_ID}-01", "baggage": baggage},
        timeout=10,
    )
    assert response.status_code == 201
    spans = mesh.trace(trace_id, lambda spans: {s.service for s in spans} == SERVICES)
    servers = {span.service: span for span in spans if span.kind == "SERVER"}
    assert servers.keys() == SERVICES
    # The allowed entries crossed every hop: each service's server span carries them.
    for service, server in servers.items():
        assert server.attributes.get("tracemesh.tenant") == "acme", service
        assert server.attributes.get("tracemesh.region") == "eu", service
    # The rest stopped at the edge: on no span of any service.
    recorded = {key for span in spans for key in span.attributes}
    assert {"tracemesh.team", "tracemesh.plan", "tracemesh.x"} & recorded == set()
