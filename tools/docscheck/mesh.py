"""The mesh the docs' commands run against, started exactly as a reader starts it (`make run`), or one that
already runs; and its output, which `<!-- output: mesh -->` blocks are compared with."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tools.mesh.make_run import MeshError, make_run, serving
from tools.mesh.plan import Addresses
from tools.mesh.ports import busy_ports

# Variables a `make` above us (`make test`) passes down; a reader's `make run` in a fresh shell has none,
# and with them make would announce itself as a sub-make or look for a jobserver that is not there.
_MAKE_VARIABLES = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "MAKE_TERMINATE")


class MeshLog:
    """What the mesh printed, read from a file that grows as it prints: blocks note where it stood before
    they ran and read what came after."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def mark(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0

    def lines_since(self, mark: int) -> list[str]:
        with self.path.open("rb") as log:
            log.seek(mark)
            return log.read().decode(errors="replace").splitlines()


def reader_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment as a reader's shell would have it, in a terminal wide enough for the
    waterfall (the pages show it 150 columns wide; a narrower one wraps its cells)."""
    env = {key: value for key, value in os.environ.items() if key not in _MAKE_VARIABLES}
    return env | {"COLUMNS": "150"} | (extra or {})


@contextmanager
def reader_mesh(
    root: Path,
    log: Path,
    addresses: Addresses | None = None,
    env: dict[str, str] | None = None,
    ready_timeout: float = 180,
) -> Iterator[MeshLog]:
    """`make run` from `root` as tools.mesh starts it for a reader (its own process group, ready once the
    gateway answers /products and inventory /readyz, stopped as Ctrl-C stops it), its output in `log`.
    `addresses` and `env` exist for the checker's own test, which cannot take the default ports."""
    addresses = addresses or Addresses()
    busy = busy_ports(addresses.ports)
    if busy:
        raise MeshError(
            f"port {busy[0]} is in use (is `make run` running?): stop make run first, "
            "or pass --use-running-mesh to use it"
        )
    with make_run(log, reader_env(env), addresses, root=root, ready_timeout=ready_timeout):
        mesh_log = MeshLog(log)
        # The readiness request is a trace too: let its waterfall print before the first block runs.
        _wait_quiet(mesh_log, quiet=2.0, longest=8.0)
        yield mesh_log


def wait_for_running_mesh(addresses: Addresses | None = None, timeout: float = 5) -> None:
    """For --use-running-mesh: the mesh that is meant to be there must answer."""
    addresses = addresses or Addresses()
    deadline = time.monotonic() + timeout
    while not serving(addresses):
        if time.monotonic() > deadline:
            raise MeshError(f"no mesh answers at {addresses.gateway_url}: start `make run` first")
        time.sleep(0.25)


def _wait_quiet(log: MeshLog, quiet: float, longest: float) -> None:
    """Waits until `log` has not grown for `quiet` seconds (or `longest` seconds have passed)."""
    deadline = time.monotonic() + longest
    size, since = log.mark(), time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - since < quiet:
        time.sleep(0.25)
        if log.mark() != size:
            size, since = log.mark(), time.monotonic()
