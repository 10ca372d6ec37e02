"""The docs' commands, run as a reader runs them: `make run` from the repository root, then every runnable
block of the English pages in order, each output compared with what the page shows (docs/README.md)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import require_go_tools
from tools.docscheck.mesh import reader_mesh
from tools.mesh.plan import Addresses
from tools.mesh.ports import busy_ports, free_port

ROOT = Path(__file__).resolve().parents[2]
PORTS = Addresses().ports


def require_default_ports() -> None:
    """The docs' commands use the default ports: a `make run` left running holds them. Fails with CI=true,
    where nothing else may hold them."""
    busy = busy_ports(PORTS)
    if busy:
        message = f"port {busy[0]} is in use: stop `make run` to run the docs' commands"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.mark.timeout(900)
def test_every_runnable_block_gives_the_output_its_page_shows() -> None:
    require_default_ports()
    if shutil.which("go"):
        # For the `run: gotools` blocks (grpcurl); without Go they skip, or fail with CI=true.
        require_go_tools()
    result = subprocess.run(
        [sys.executable, "-m", "tools.docscheck", "run", "--timeout", "60"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=850,
        check=False,
    )
    # The blocks that failed, with what they printed, first; what make run printed can be long.
    report, _, mesh_output = result.stdout.partition("--- what make run printed ---")
    failed = "\n".join(line for line in report.split("\n") if line.startswith("FAIL"))
    assert result.returncode == 0, f"{failed}\n{report[-15000:]}{mesh_output[-3000:]}{result.stderr}"
    assert busy_ports(PORTS) == [], "make run left something listening"


def test_the_mesh_is_started_and_stopped_whole(tmp_path: Path) -> None:
    """The checker's `make run` on ports of its own (so it can run beside a developer's): ready when it
    says so, and nothing of it left once stopped."""
    ports = Addresses(gateway=free_port(), inventory=free_port(), orders=free_port(), otlp=free_port())
    env = {
        "GATEWAY_PORT": str(ports.gateway),
        "GATEWAY_ORDERS_ADDRESS": f"127.0.0.1:{ports.orders}",
        "ORDERS_PORT": str(ports.orders),
        "ORDERS_INVENTORY_URL": ports.inventory_url,
        "ORDERS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/orders.db",
        "INVENTORY_PORT": str(ports.inventory),
        "INVENTORY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/inventory.db",
        # The waterfall's port is fixed (4317, perhaps a developer's): no receiver, no export.
        "TRACEMESH_WATERFALL": "off",
        "OTEL_TRACES_EXPORTER": "none",
    }
    with reader_mesh(ROOT, tmp_path / "make-run.log", ports, env) as mesh:
        printed = "\n".join(mesh.lines_since(0))
        assert f"Uvicorn running on http://127.0.0.1:{ports.gateway}" in printed
        assert busy_ports([ports.gateway, ports.inventory, ports.orders]) == [
            ports.gateway,
            ports.inventory,
            ports.orders,
        ]
    assert busy_ports([ports.gateway, ports.inventory, ports.orders]) == []
    stopped = "\n".join(mesh.lines_since(0))
    # Each service drained and exited on the signal, as with Ctrl-C, rather than being killed.
    for service in ("gateway", "inventory", "orders"):
        assert f"{service} stopped (rc=0)" in stopped, stopped[-3000:]
