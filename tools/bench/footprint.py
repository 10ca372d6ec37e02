"""The memory of everything `make run` starts: the process manager, the waterfall receiver and the three
services, idle and under load, as a reader of the README runs it; and how much of each service is its
imports alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tools.bench.load import lua_script, parse, start_wrk
from tools.mesh.databases import sqlite_urls
from tools.mesh.make_run import MANAGER, ROOT, make_run
from tools.mesh.plan import SERVICES, Addresses
from tools.mesh.ports import busy_ports
from tools.mesh.probes import PeakRss, pss_mib, rss_mib

# Run in a fresh interpreter: resident memory before importing anything, then after importing each module
# named, in turn, read from /proc; and the top-level packages loaded in the end.
_IMPORT_PROBE = """
import importlib, json, sys
def rss_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
readings = [rss_mib()]
for name in sys.argv[1:]:
    importlib.import_module(name)
    readings.append(rss_mib())
print(json.dumps({"readings": readings, "packages": sorted({name.split(".")[0] for name in sys.modules})}))
"""

# What a service's memory is made of: the libraries it may import, in groups, imported in this order before
# its entry module, so that each group's share is what it adds to the groups before it (what two groups
# share counts in the first). A service is measured with the groups it loads only; OpenTelemetry's with the
# OTLP exporter every service loads as it starts (where grpc is the exporter's only, it counts there).
LIBRARIES: dict[str, tuple[str, ...]] = {
    "grpc": ("grpc", "grpc.aio"),
    "opentelemetry": ("opentelemetry.sdk.trace", "opentelemetry.exporter.otlp.proto.grpc.trace_exporter"),
    "pydantic": ("pydantic.main", "pydantic_settings"),
    "fastapi, uvicorn": ("fastapi", "uvicorn"),
    "sqlalchemy": ("sqlalchemy.ext.asyncio", "aiosqlite", "asyncpg"),
    "httpx": ("httpx",),
}


# What each process `make run` starts imports before it serves anything: a service's entry module and the
# OTLP exporter it loads as it starts; the manager's entry module (its receiver included). Their sum is the
# least `make run` can take with these libraries, whatever the services then do.
STARTS_WITH: dict[str, tuple[str, ...]] = {
    **{
        service: (f"{service}.__main__", "opentelemetry.exporter.otlp.proto.grpc.trace_exporter")
        for service in SERVICES
    },
    MANAGER[-1]: (f"{MANAGER[-1]}.__main__",),
}


def _probe(modules: list[str], env: dict[str, str]) -> dict[str, Any]:
    probe = subprocess.run(
        [sys.executable, "-c", _IMPORT_PROBE, *modules],
        env=env,
        cwd=ROOT,  # where `tools` imports from, as under make
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(probe.stdout)
    return result


def import_footprint() -> dict[str, Any]:
    """MiB resident after importing each service's entry module (`<service>.__main__`, which defines its
    `main()` and imports all it serves with) in a fresh interpreter, a bare interpreter's for scale, and
    what each group of LIBRARIES adds to a service that loads it; and each process of `make run` with all it
    imports before serving (STARTS_WITH). The environment is left out, so no setting changes what gets
    imported."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    result: dict[str, Any] = {"rss_mib": {}, "rss_mib_by_library": {}}
    result["before_serving_rss_mib"] = {
        name: _probe(list(modules), env)["readings"][-1] for name, modules in STARTS_WITH.items()
    }
    for service in SERVICES:
        entry = f"{service}.__main__"
        alone = _probe([entry], env)
        result["bare_interpreter_rss_mib"], result["rss_mib"][service] = alone["readings"]
        loaded = {*alone["packages"], "opentelemetry"}
        used = {
            name: [module for module in group if module.split(".")[0] in loaded]
            for name, group in LIBRARIES.items()
        }
        modules = [module for group in used.values() for module in group]
        readings = _probe([*modules, entry], env)["readings"]
        shares: dict[str, float] = {}
        at = 0  # readings[at]: before the group's first module
        for name, group in used.items():
            if group:
                shares[name] = readings[at + len(group)] - readings[at]
                at += len(group)
        shares[f"{service} and the rest"] = readings[-1] - readings[at]
        result["rss_mib_by_library"][service] = shares
    return result


def process_tree(root: int) -> dict[str, int]:
    """The process and all its descendants, by name: `python -m gateway` is `gateway`, the manager
    (`python -m tools.mesh`) is `tools.mesh`."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The command name (field 2) may contain spaces: split after its closing parenthesis.
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
    tree, frontier = [root], [root]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier]
        tree += children
        frontier = children
    named = {}
    for pid in tree:
        try:
            words = [
                word.decode(errors="replace")
                for word in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            ]
        except OSError:
            continue  # gone meanwhile
        words = [word for word in words if word]
        if "-m" in words[:-1]:
            named[words[words.index("-m") + 1]] = pid
        elif words:
            named[Path(words[0]).name] = pid
    return named


def make_run_footprint(wrk: str, directory: Path, seconds: float) -> dict[str, Any]:
    """Starts `python -m tools.mesh` (what `make run` runs) as a reader starts make run, its SQLite files in
    a scratch folder; reads the memory of its process tree idle, then under `seconds` of traced reads and
    orders; stops it as Ctrl-C would."""
    addresses = Addresses()  # make run's fixed ports
    busy = busy_ports(addresses.ports)
    if busy:
        return {"skipped": f"make run's ports are taken: {busy}"}
    workdir = directory / "make-run"
    workdir.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("OTEL_", "TRACEMESH_"))}
    orders_db, inventory_db = sqlite_urls(workdir)
    env |= {"ORDERS_DATABASE_URL": orders_db, "INVENTORY_DATABASE_URL": inventory_db}
    with make_run(workdir / "make-run.log", env, addresses, command=MANAGER, ready_timeout=60) as manager:
        time.sleep(2)  # the receiver and services settle after their first requests
        pids = process_tree(manager.pid)
        idle_rss = {name: rss_mib(pid) for name, pid in pids.items()}
        idle_pss = sum(pss_mib(pid) for pid in pids.values())
        placed = httpx.post(f"{addresses.gateway_url}/orders", json={"sku": "STICKER-3", "quantity": 1})
        read = lua_script(directory, "GET", None)
        order = lua_script(directory, "POST", '{"sku": "STICKER-3", "quantity": 1}')
        with PeakRss(pids) as peak:
            for url, script, share in (
                (f"{addresses.gateway_url}/orders/{placed.json()['id']}", read, 0.5),
                (f"{addresses.gateway_url}/orders", order, 0.5),
            ):
                output, _ = start_wrk(wrk, url, script, seconds * share).communicate()
                parse(output)  # raises when wrk could not run
        return {
            "processes": sorted(pids),
            "idle_rss_mib": sum(idle_rss.values()),
            "idle_rss_mib_by_process": idle_rss,
            "idle_pss_mib": idle_pss,
            "peak_rss_mib": peak.peak_total,
            "peak_rss_mib_by_process": peak.peak,
            "peak_pss_mib": peak.peak_pss_total,
        }
