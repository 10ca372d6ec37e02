"""Orders through the mesh, read back from a real Jaeger through its own query API, as its UI reads them."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.e2e.jaeger.backend import Jaeger, JaegerTrace
from tests.e2e.jaeger.shapes import (
    CREATE_ORDER,
    assert_one_tree,
    assert_order_tree,
    is_sql,
    is_whole_order,
    order,
)
from tools.mesh.databases import sqlite_urls
from tools.mesh.processes import Mesh, start_mesh

THREE = {"gateway", "orders", "inventory"}


def servers_done(trace: JaegerTrace) -> bool:
    """Each service's server span is in: each ends last in its process, so the rest came with it."""
    return {s.service for s in trace.spans if s.kind == "server"} == THREE


def test_an_order_is_one_tree_of_three_services_with_the_sql_as_leaves(jaeger: Jaeger, mesh: Mesh) -> None:
    response, trace_id = order(mesh)
    assert response.status_code == 201

    trace = jaeger.wait_for(trace_id, is_whole_order)
    assert_order_tree(trace)
    (root,) = trace.roots()
    assert root.tags["http.status_code"] == 201
    assert not any(span.error for span in trace.spans)
    # Service names come from each process's resource (OTEL_SERVICE_NAME), not from the spans.
    assert {process["serviceName"] for process in trace.processes.values()} == THREE
    assert all(process["service.version"] for process in trace.processes.values())
    # The statements themselves, with placeholders and never a value.
    statements = {(span.service, str(span.tags["db.statement"])) for span in trace.spans if is_sql(span)}
    assert any(service == "orders" and sql.startswith("INSERT INTO orders") for service, sql in statements)
    assert any(service == "inventory" and sql.startswith("UPDATE products") for service, sql in statements)
    assert not any("STICKER-3" in sql for _, sql in statements)


def test_the_v3_api_returns_the_same_spans_under_each_services_resource(jaeger: Jaeger, mesh: Mesh) -> None:
    trace_id = order(mesh)[1]
    trace = jaeger.wait_for(trace_id, is_whole_order)
    response = jaeger.get(f"/api/v3/traces/{trace_id}")
    assert response.status_code == 200
    spans_by_service: dict[str, set[str]] = {}
    for resource_spans in response.json()["result"]["resourceSpans"]:
        attributes = {a["key"]: a["value"] for a in resource_spans["resource"]["attributes"]}
        service = attributes["service.name"]["stringValue"]
        for scope_spans in resource_spans["scopeSpans"]:
            spans_by_service.setdefault(service, set()).update(s["spanId"] for s in scope_spans["spans"])
    assert spans_by_service == {service: {span.span_id for span in trace.by(service)} for service in THREE}
    services = jaeger.get("/api/v3/services").json()["services"]
    assert set(services) == THREE


def test_a_refusal_is_an_error_on_the_callers_spans_only(jaeger: Jaeger, mesh: Mesh) -> None:
    response, trace_id = order(mesh, sku="LAMP-9", quantity=1000)
    assert response.status_code == 409
    trace = jaeger.wait_for(trace_id, servers_done)
    assert_one_tree(trace, "POST /orders")
    # Jaeger marks a span whose OTLP status is ERROR with the tag error=true (red in its UI).
    failed = {(s.service, s.kind, s.name) for s in trace.spans if s.error}
    assert failed == {("gateway", "client", CREATE_ORDER), ("orders", "client", "POST")}
    assert all(s.tags["otel.status_code"] == "ERROR" for s in trace.spans if s.error)
    (root,) = trace.roots()
    assert root.tags["http.status_code"] == 409


def test_an_outage_is_an_error_up_to_the_gateways_answer(jaeger: Jaeger, tmp_path: Path) -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": jaeger.otlp_grpc}
    mesh = start_mesh(tmp_path, *sqlite_urls(tmp_path), env, receive=False)
    try:
        assert mesh.stop("inventory") == 0
        response, trace_id = order(mesh)
        assert response.status_code == 503
        trace = jaeger.wait_for(
            trace_id, lambda t: {s.service for s in t.spans if s.kind == "server"} == {"gateway", "orders"}
        )
    finally:
        mesh.stop_all_now()
    root = assert_one_tree(trace, "POST /orders")
    assert root.tags["http.status_code"] == 503
    failed = {(s.service, s.kind, s.name) for s in trace.spans if s.error}
    assert failed == {
        ("gateway", "server", "POST /orders"),
        ("gateway", "client", CREATE_ORDER),
        ("orders", "server", CREATE_ORDER),
        ("orders", "client", "POST"),
    }
    # Where it happened, the exception is a log of the span in Jaeger's terms.
    calls = [s for s in trace.by("orders", "client") if s.name == "POST"]
    assert calls
    assert all("exception" in s.events for s in calls)


def test_the_documented_tag_search_finds_a_scenarios_traces(jaeger: Jaeger, mesh: Mesh) -> None:
    # docs/demo.md: "every span of the request gets a `tracemesh.scenario` attribute, so Jaeger finds them
    # with the tag `tracemesh.scenario=slow-query`" (the UI's Tags field sends {"tracemesh.scenario": ...}).
    slow = {order(mesh, {"baggage": "tracemesh.scenario=slow-query"})[1] for _ in range(2)}
    others = {order(mesh, {"baggage": "tracemesh.scenario=contention"})[1], order(mesh)[1]}
    for trace_id in slow | others:
        jaeger.wait_for(trace_id, servers_done)
    for service in THREE:
        found = jaeger.find(service, {"tracemesh.scenario": "slow-query"})
        ids = {trace.trace_id for trace in found}
        assert slow <= ids, service
        assert not others & ids, service
        assert all(s.tags.get("tracemesh.scenario") == "slow-query" for t in found for s in t.spans)


def test_the_demo_pages_link_opens_the_trace_in_jaegers_ui(jaeger: Jaeger, mesh: Mesh) -> None:
    response, trace_id = order(mesh)
    assert response.status_code == 201
    # The page links only while the gateway finds a Jaeger UI answering there: Jaeger's own page does.
    assert httpx.get(f"{mesh.gateway_url}/demo/jaeger-ui", timeout=10).json() == {"answers": True}
    # The link as the page builds it (services/tracemesh_demo/static/demo.js): <jaeger_ui_url>/trace/<id>.
    ui = httpx.get(f"{mesh.gateway_url}/demo/config", timeout=10).json()["jaeger_ui_url"].rstrip("/")
    page = httpx.get(f"{ui}/trace/{trace_id}", timeout=10)
    # The page answers: here a placeholder (the UI's assets are not in the Go module), in compose the UI.
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    # What the UI asks for that trace, from the same origin.
    trace = jaeger.wait_for(trace_id, is_whole_order)
    assert httpx.get(f"{ui}/api/traces/{trace_id}", timeout=10).json()["data"][0]["traceID"] == trace.trace_id


def test_jaeger_does_not_trace_its_own_queries(jaeger: Jaeger) -> None:
    # With tracing on, Jaeger's spans of its own queries would be exported about 5 s later to its own receiver
    # (see backend.run_jaeger), adding a service `jaeger` to the list: query it meanwhile.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert "jaeger" not in jaeger.services()
        jaeger.find("gateway", {})
        time.sleep(0.5)
