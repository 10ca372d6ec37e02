"""`make run`: inventory, orders and gateway (and the waterfall receiver) under one process manager.

Ctrl-C or SIGTERM stops them all: each service drains its requests and flushes its spans first, and the
waterfall receives until the last service has exited (tools/mesh/manager.py).
"""

from __future__ import annotations

import os
import sys

from tools.mesh.manager import run
from tools.mesh.plan import plan, waterfall_address
from tools.mesh.schema import migrate


def main() -> None:
    processes = plan(dict(os.environ))
    # The databases first: no service creates tables as it starts.
    migrate(processes)
    sys.exit(run(processes, waterfall_address(os.environ)))


if __name__ == "__main__":
    main()
