"""A short headless Locust run against the real mesh: no failures but the intended bad requests (which are
answered as documented), and every trace begins at the load generator."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from devrun.mesh import Mesh


@pytest.fixture(scope="module")
def mesh_env() -> dict[str, str]:
    return {"GATEWAY_SCENARIOS_ENABLED": "true"}


@pytest.fixture(scope="module")
def mesh(sqlite_mesh: Mesh) -> Mesh:
    return sqlite_mesh  # the load generator does not depend on the database


def test_a_short_locust_run_succeeds_and_its_traces_start_at_the_load_generator(mesh: Mesh) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("OTEL_", "LOADGEN_"))}
    env |= {
        "OTEL_EXPORTER_OTLP_ENDPOINT": mesh.env["gateway"]["OTEL_EXPORTER_OTLP_ENDPOINT"],
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        # More bad requests and scenarios than by default, so a few seconds exercise them.
        "LOADGEN_BAD_REQUEST_SHARE": "0.3",
        "LOADGEN_SCENARIO_SHARE": "0.3",
        "LOADGEN_SCENARIOS": "n-plus-one,contention",
        "LOADGEN_USER_RATE": "2",
    }
    argv = ["--headless", "--host", mesh.gateway_url, "--users", "4", "--spawn-rate", "4", "--run-time", "6s"]
    run = subprocess.run(
        [sys.executable, "-m", "tracemesh_demo.loadgen", *argv, "--only-summary"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stdout + run.stderr  # Locust exits 1 when any request failed
    summary = run.stdout + run.stderr  # Locust prints its tables through logging, to stderr
    # The first "Aggregated" line ends the request table: name, requests, failures(share), ...
    aggregated = next(line for line in summary.splitlines() if line.split()[:1] == ["Aggregated"])
    requests, failures = aggregated.split()[1:3]
    assert int(requests) >= 10
    assert failures == "0(0.00%)"

    # Locust flushed its spans on the way out; the services' last ones follow within their export delay.
    deadline = time.monotonic() + 10
    while True:
        spans = mesh.store.all_spans()
        starts = {span.span_id: span for span in spans if span.service == "load-generator"}
        children = [
            s for s in spans if s.service == "gateway" and s.kind == "SERVER" and s.parent_span_id in starts
        ]
        if len(children) >= int(requests) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(starts) >= int(requests)
    assert all(span.parent_span_id is None and span.kind == "CLIENT" for span in starts.values())
    assert all(span.attributes["tracemesh.synthetic"] == "true" for span in starts.values())
    # Each request's gateway server span is the child of the load generator's client span, in its trace.
    assert len(children) >= int(requests)
    assert all(starts[span.parent_span_id].trace_id == span.trace_id for span in children)
    assert {span.attributes.get("tracemesh.scenario") for span in children} & {"n-plus-one", "contention"}
