"""`make run`: inventory, orders and gateway (and the waterfall receiver) under one process manager.

Ctrl-C or SIGTERM stops them all: each service drains its requests and flushes its spans first.
"""

from __future__ import annotations

import os
import shlex
import sys

from honcho.manager import Manager

from tools.mesh.plan import plan
from tools.mesh.schema import migrate


def main() -> None:
    manager = Manager()
    processes = plan(dict(os.environ))
    # The databases first: no service creates tables as it starts.
    migrate(processes)
    for name, argv, env in processes:
        # honcho runs each command through a shell; `exec` makes the service the process that receives
        # SIGTERM, instead of a shell that would die at once and leave the service behind.
        manager.add_process(name, "exec " + shlex.join(argv), env=env)
    manager.loop()
    # Stopped on request (Ctrl-C or SIGTERM, exit codes 130 and 143): that is how a dev run ends.
    sys.exit(0 if manager.returncode in (130, 143) else manager.returncode)


if __name__ == "__main__":
    main()
