"""`make run` as a person runs it, for the docs checker and the benchmark's reading of its memory: in a
process group of its own, ready once the mesh serves, stopped as Ctrl-C stops it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from tools.mesh.plan import Addresses
from tools.mesh.ports import answers

MAKE_RUN = ("make", "run")
# What `make run` runs (the Makefile's `run` target): the process manager alone, without make around it.
MANAGER = (sys.executable, "-m", "tools.mesh")
# tools/mesh/make_run.py -> the repository, where make run runs from.
ROOT = Path(__file__).resolve().parents[2]


class MeshError(RuntimeError):
    """The mesh could not be started, or is not there to use."""


@contextmanager
def make_run(
    log: Path,
    env: dict[str, str],
    addresses: Addresses | None = None,
    *,
    root: Path = ROOT,
    command: Sequence[str] = MAKE_RUN,
    ready_timeout: float = 180,
) -> Iterator[subprocess.Popen[bytes]]:
    """`make run` (or another `command`, such as MANAGER) from `root` in its own process group, its output
    in `log`; ready once the mesh at `addresses` serves; on the way out SIGTERM to the whole group, as
    Ctrl-C stops it, and a wait until every process of it is gone. Yields the process it started."""
    addresses = addresses or Addresses()
    with log.open("wb") as output:
        process = subprocess.Popen(
            list(command),
            cwd=root,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    try:
        _wait_serving(process, addresses, log, ready_timeout)
        yield process
    finally:
        stop_group(process)


def serving(addresses: Addresses) -> bool:
    """Whether the mesh serves: the gateway lists the products (a request through every service) and
    inventory is ready."""
    return answers(f"{addresses.gateway_url}/products", timeout=5) and answers(
        f"{addresses.inventory_url}/readyz", timeout=5
    )


def _wait_serving(process: subprocess.Popen[bytes], addresses: Addresses, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not serving(addresses):
        if process.poll() is not None:
            raise MeshError(f"make run exited with {process.returncode}:\n" + _tail(log))
        if time.monotonic() > deadline:
            raise MeshError(f"make run not ready after {timeout:.0f} s:\n" + _tail(log))
        time.sleep(0.25)


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


def _tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
