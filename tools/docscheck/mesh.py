"""The mesh the docs' commands run against, started exactly as a reader starts it (`make run`), or one that
already runs; and its output, which `<!-- output: mesh -->` blocks are compared with."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tools.mesh.plan import Addresses
from tools.mesh.ports import busy_ports

# Variables a `make` above us (`make test`) passes down; a reader's `make run` in a fresh shell has none,
# and with them make would announce itself as a sub-make or look for a jobserver that is not there.
_MAKE_VARIABLES = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "MAKE_TERMINATE")


class MeshError(RuntimeError):
    """The mesh could not be started, or is not there to use."""


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
    """`make run` from `root` in its own process group, its output in `log`; ready once the gateway answers
    /products and inventory /readyz; on the way out SIGTERM to the whole group, as Ctrl-C stops it for a
    reader, and a wait until every process of it is gone. `addresses` and `env` exist for the checker's own
    test, which cannot take the default ports."""
    addresses = addresses or Addresses()
    busy = busy_ports(addresses.ports)
    if busy:
        raise MeshError(
            f"port {busy[0]} is in use (is `make run` running?): stop make run first, "
            "or pass --use-running-mesh to use it"
        )
    with log.open("wb") as output:
        process = subprocess.Popen(
            ["make", "run"],
            cwd=root,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=reader_env(env),
            start_new_session=True,
        )
    mesh_log = MeshLog(log)
    try:
        _wait_ready(process, addresses, mesh_log, ready_timeout)
        # The readiness request is a trace too: let its waterfall print before the first block runs.
        _wait_quiet(mesh_log, quiet=2.0, longest=8.0)
        yield mesh_log
    finally:
        stop_group(process)


def wait_for_running_mesh(addresses: Addresses | None = None, timeout: float = 5) -> None:
    """For --use-running-mesh: the mesh that is meant to be there must answer."""
    addresses = addresses or Addresses()
    deadline = time.monotonic() + timeout
    while not _ready(addresses):
        if time.monotonic() > deadline:
            raise MeshError(f"no mesh answers at {addresses.gateway_url}: start `make run` first")
        time.sleep(0.25)


def _wait_ready(process: subprocess.Popen[bytes], addresses: Addresses, log: MeshLog, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not _ready(addresses):
        if process.poll() is not None:
            raise MeshError(f"make run exited with {process.returncode}:\n" + _tail(log))
        if time.monotonic() > deadline:
            raise MeshError(f"make run not ready after {timeout:.0f} s:\n" + _tail(log))
        time.sleep(0.25)


def _ready(addresses: Addresses) -> bool:
    try:
        gateway = httpx.get(f"{addresses.gateway_url}/products", timeout=5)
        inventory = httpx.get(f"{addresses.inventory_url}/readyz", timeout=5)
    except httpx.HTTPError:
        return False
    return gateway.status_code == 200 and inventory.status_code == 200


def _wait_quiet(log: MeshLog, quiet: float, longest: float) -> None:
    """Waits until `log` has not grown for `quiet` seconds (or `longest` seconds have passed)."""
    deadline = time.monotonic() + longest
    size, since = log.mark(), time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - since < quiet:
        time.sleep(0.25)
        if log.mark() != size:
            size, since = log.mark(), time.monotonic()


def stop_group(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """SIGTERM to the process group (make, the process manager, every service), then a wait until none of
    them is left; SIGKILL for whatever outlives `timeout`."""
    group = process.pid  # start_new_session made it the group's leader
    _signal_group(group, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    # poll() reaps make itself; the others are reparented and reaped elsewhere.
    while process.poll() is None or _group_alive(group):
        if time.monotonic() > deadline:
            _signal_group(group, signal.SIGKILL)
            process.wait()
            return
        time.sleep(0.2)


def _signal_group(group: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signum)


def _group_alive(group: int) -> bool:
    """Whether a process of `group` still runs; a zombie waiting for its new parent to reap it does not."""
    proc = Path("/proc")
    if not proc.is_dir():  # no procfs: ask the kernel, zombies included
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return False
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone while we looked
        if int(fields[2]) == group and fields[0] != "Z":
            return True
    return False


def _tail(log: MeshLog, lines: int = 40) -> str:
    return "\n".join(log.lines_since(0)[-lines:])
