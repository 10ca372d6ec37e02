"""Each database at its newest schema before its service starts: no service creates tables as it starts."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable

from tools.mesh.plan import MIGRATED, Process


def migrate(processes: Iterable[Process]) -> None:
    """Runs `python -m <service>.migrate` for each of `processes` that owns a database, in the environment
    that service will have, as compose and Kubernetes do before a service starts."""
    for name, _, env in processes:
        if name not in MIGRATED:
            continue
        done = subprocess.run(
            [sys.executable, "-m", f"{name}.migrate"], env=env, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{name}.migrate failed:\n{done.stdout}{done.stderr}")
