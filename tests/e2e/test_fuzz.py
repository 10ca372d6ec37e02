"""Schema-driven fuzzing of the gateway's public API (schemathesis, from its own OpenAPI document) against
the real mesh: no 5xx, no crash, every response as documented (status, headers, error body shape).

`make test` runs a bounded number of examples per operation; `make fuzz` runs many more
(TRACEMESH_FUZZ_EXAMPLES)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from chaos import invariant
from devrun.mesh import Mesh

EXAMPLES = int(os.environ.get("TRACEMESH_FUZZ_EXAMPLES", "30"))
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


@pytest.fixture(scope="module")
def mesh(sqlite_mesh: Mesh) -> Mesh:
    return sqlite_mesh  # the API's contract does not depend on the database


@pytest.mark.timeout(120 + 2 * EXAMPLES)
def test_generated_requests_get_documented_answers_and_never_a_server_error(
    mesh: Mesh, tmp_path: Path
) -> None:
    run = subprocess.run(
        [
            str(SCHEMATHESIS),
            "run",
            f"{mesh.gateway_url}/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            str(EXAMPLES),
            "--generation-deterministic",
            "--report-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60 + 2 * EXAMPLES,
        env={key: value for key, value in os.environ.items() if not key.startswith("SCHEMATHESIS_")},
        cwd=tmp_path,  # schemathesis keeps a cache in its working directory
    )
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-2000:]
    generated = re.search(r"(\d+) generated, \1 passed", run.stdout)
    assert generated, run.stdout[-2000:]
    assert int(generated.group(1)) >= 5 * EXAMPLES
    print(f"schemathesis: {generated.group(1)} generated requests, every check passed")
    # Nothing crashed, and nothing failed in a way the services did not handle.
    assert all(process.poll() is None for process in mesh.processes.values())
    assert httpx.get(f"{mesh.gateway_url}/readyz", timeout=5).status_code == 200
    for service in ("gateway", "orders", "inventory"):
        assert "Traceback" not in mesh.log(service), service
    # Whatever was ordered, stock and orders agree and no stock went below zero (clients here may send no
    # Idempotency-Key).
    verdict = invariant.check(
        mesh.env["orders"]["ORDERS_DATABASE_URL"],
        mesh.env["inventory"]["INVENTORY_DATABASE_URL"],
        every_order_keyed=False,
    )
    assert verdict.holds, verdict.problems
