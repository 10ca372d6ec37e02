"""What `make run` starts, depending on where spans are meant to go."""

from __future__ import annotations

from tools.mesh.__main__ import plan


def names(environ: dict[str, str]) -> list[str]:
    return [name for name, _argv, _env in plan(environ)]


def test_starts_the_waterfall_where_the_exporters_send_by_default() -> None:
    assert names({}) == ["waterfall", "inventory", "orders", "gateway"]
    assert names({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://localhost:4317"}) == [
        "waterfall",
        "inventory",
        "orders",
        "gateway",
    ]


def test_leaves_a_real_collector_alone() -> None:
    assert names({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4317"}) == ["inventory", "orders", "gateway"]
    # A collector or Jaeger already on the default endpoint.
    assert names({"TRACEMESH_WATERFALL": "off"}) == ["inventory", "orders", "gateway"]


def test_the_local_demo_offers_scenarios() -> None:
    (_, _, env), *_ = plan({})
    assert env["GATEWAY_SCENARIOS_ENABLED"] == "true"
    (_, _, env), *_ = plan({"GATEWAY_SCENARIOS_ENABLED": "false"})
    assert env["GATEWAY_SCENARIOS_ENABLED"] == "false"


def test_exports_quickly_unless_told_otherwise() -> None:
    (_, _, env), *_ = plan({})
    assert env["OTEL_BSP_SCHEDULE_DELAY"] == "500"
    (_, _, env), *_ = plan({"OTEL_BSP_SCHEDULE_DELAY": "5000"})
    assert env["OTEL_BSP_SCHEDULE_DELAY"] == "5000"
