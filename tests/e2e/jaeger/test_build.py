"""The Jaeger `make gotools` built is the release compose and Kubernetes pin, with the parts the tests use."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.deploy.test_jaeger import jaeger_version


def run(binary: Path, *args: str) -> str:
    result = subprocess.run([binary, *args], capture_output=True, text=True, timeout=60, check=True)
    return result.stdout


def test_the_binary_is_the_pinned_release(go_bin: Path) -> None:
    (line,) = [line for line in run(go_bin / "jaeger", "version").splitlines() if line.startswith("{")]
    assert json.loads(line)["gitVersion"] == f"v{jaeger_version()}"


def test_the_binary_has_the_components_of_compose_and_of_the_collector_profile(go_bin: Path) -> None:
    components = run(go_bin / "jaeger", "components")
    for name in (
        "otlp",
        "zipkin",
        "memory_limiter",
        "tail_sampling",
        "batch",
        "jaeger_query",
        "healthcheckv2",
    ):
        assert f"- name: {name}\n" in components, name
