"""Jaeger in compose and Kubernetes: the release the tests build and run, with the configuration file they
run it with (deploy/jaeger/config.yaml)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.test_compose import config as compose_config
from tests.deploy.test_kubernetes import TARGETS, by_kind, render, workloads

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "deploy" / "jaeger" / "config.yaml"
MOUNTED = "/etc/jaeger/config.yaml"
# Where each component listens in the file, by the port the rest of the deployment expects.
PORTS = {
    "receivers.otlp.protocols.grpc": 4317,  # OTEL_EXPORTER_OTLP_ENDPOINT=http://jaeger:4317
    "receivers.otlp.protocols.http": 4318,
    "receivers.zipkin": 9411,
    "extensions.jaeger_query.http": 16686,  # the UI, published by compose
    "extensions.jaeger_query.grpc": 16685,
    "extensions.healthcheckv2.http": 13133,  # the healthcheck and the probes: /status
}


def jaeger_version() -> str:
    """The Jaeger release `make gotools` builds (JAEGER_VERSION in the Makefile)."""
    match = re.search(r"^JAEGER_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert match
    return match.group(1)


def jaeger_config() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(CONFIG.read_text())
    return loaded


def at(config: dict[str, Any], path: str) -> Any:
    for part in path.split("."):
        config = config[part]
    return config


def test_the_build_pins_the_go_module_of_that_release() -> None:
    # Jaeger 2.12.0 is the Go module's v1.75.0.
    assert jaeger_version() == "2.12.0"
    go_mod = (ROOT / "gotools" / "jaeger" / "go.mod").read_text()
    assert re.search(r"^\tgithub.com/jaegertracing/jaeger v1\.75\.0\b", go_mod, re.MULTILINE)
    assert "tool github.com/jaegertracing/jaeger/cmd/jaeger" in go_mod


def test_compose_runs_that_release_with_the_file_read_only() -> None:
    jaeger = compose_config("default")["services"]["jaeger"]
    assert jaeger["image"] == f"jaegertracing/jaeger:{jaeger_version()}"
    assert jaeger["command"] == [f"--config={MOUNTED}"]
    (volume,) = jaeger["volumes"]
    assert (Path(volume["source"]), volume["target"], volume["read_only"]) == (CONFIG, MOUNTED, True)
    # The image sets it too; said here, the file's addresses do not depend on the image.
    assert jaeger["environment"]["JAEGER_LISTEN_HOST"] == "0.0.0.0"


def test_kubernetes_runs_that_release_with_the_same_file() -> None:
    for target in TARGETS:
        docs = render(target)
        pod = workloads(docs)["jaeger"]["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["image"] == f"jaegertracing/jaeger:{jaeger_version()}"
        assert container["args"] == [f"--config={MOUNTED}"]
        assert {"name": "JAEGER_LISTEN_HOST", "value": "0.0.0.0"} in container["env"]
        (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == str(Path(MOUNTED).parent)]
        assert mount["readOnly"] is True
        (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
        config_map = by_kind(docs, "ConfigMap")[volume["configMap"]["name"]]
        assert yaml.safe_load(config_map["data"]["config.yaml"]) == jaeger_config()


def test_the_file_listens_where_the_deployments_expect_and_keeps_jaeger_out_of_its_own_traces() -> None:
    config = jaeger_config()
    for component, port in PORTS.items():
        assert at(config, component)["endpoint"] == f"${{env:JAEGER_LISTEN_HOST:-localhost}}:{port}"
    (reader,) = config["service"]["telemetry"]["metrics"]["readers"]
    assert reader["pull"]["exporter"]["prometheus"]["port"] == 8888
    assert config["extensions"]["jaeger_query"]["enable_tracing"] is False
    service = config["service"]
    pipeline = service["pipelines"]["traces"]
    for section in ("receivers", "processors", "exporters"):
        assert set(pipeline[section]) <= set(config[section]), section
    assert set(service["extensions"]) <= set(config["extensions"])
    # The probes ask /status on 13133: the health extension must be on.
    assert "healthcheckv2" in service["extensions"]
