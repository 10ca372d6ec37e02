"""`make run`'s process manager: the services under honcho, the waterfall receiver beside them in this process
until the last service has exited.

honcho stops every process it runs at once, on Ctrl-C or when one of them exits. The services then drain their
requests and flush their spans on the way out, and those last spans need a receiver: so the waterfall is not
one of honcho's processes. It starts before the services and is stopped only once honcho has seen each of them
exit; by then every span a service flushed has been received, since an OTLP export returns only once the
receiver has answered it.

Everything make run adds to the services runs in this one Python process: the receiver's gRPC server, and a
thread per service (where honcho would fork a copy of this process) that waits for it and reads its output.
"""

from __future__ import annotations

import os
import queue
import shlex
import sys
import threading
from collections.abc import Sequence
from datetime import datetime
from itertools import islice

from honcho.colour import get_colours
from honcho.manager import SYSTEM_PRINTER_NAME, Manager
from honcho.printer import Message, Printer
from rich.console import Console

from tools.mesh.plan import Process
from tools.mesh.waterfall import SpanStore, render_trace, start_receiver

WATERFALL = "waterfall"
# A trace is printed once no span of it has arrived for this long (it is most likely complete).
QUIET_SECONDS = 1.5


class _Output:
    """Where the waterfall's lines go: through honcho's printer while honcho runs (so that lines of different
    processes never mix), straight to stdout once it has returned."""

    def __init__(self, manager: Manager, printer: Printer, colour: str) -> None:
        self._manager = manager
        self._colour = colour
        self._printer = printer
        self._direct = False
        self._lock = threading.Lock()

    def line(self, data: bytes | str, name: str = WATERFALL) -> None:
        colour = self._colour if name == WATERFALL else None
        message = Message(type="line", data=data, time=datetime.now(), name=name, colour=colour)
        with self._lock:
            if self._direct:
                self._printer.write(message)
            else:
                self._manager.events.put(message)

    def print_directly(self) -> None:
        """From now on honcho prints nothing more: print what it left in its queue, then print here."""
        with self._lock:
            self._direct = True
            while True:
                try:
                    message = self._manager.events.get(timeout=0.1)
                except queue.Empty:
                    break
                if message.type == "line":
                    self._printer.write(message)


class _ThreadedManager(Manager):  # type: ignore[misc]  # honcho ships no type information
    """honcho's manager, waiting for each service in a thread of this process. honcho itself forks a copy of
    the manager per service for that (multiprocessing), which costs a Python process each and must not copy
    the receiver's running gRPC server."""

    def _start(self) -> None:
        for name, process in self._processes.items():
            # Without honcho's signal handling in the child: here it would be this process's (Ctrl-C reaches
            # the manager, which stops the services itself).
            waiter = threading.Thread(name=name, target=process["obj"].run, args=(self.events,), daemon=True)
            process["process"] = waiter
            waiter.start()


class Waterfall:
    """The receiver in this process: started before the services, stopped after them. It prints each trace
    once it is complete (quiet for QUIET_SECONDS), as the standalone `python -m tools.mesh.waterfall` does."""

    def __init__(self, address: str, output: _Output) -> None:
        self._address = address
        self._output = output
        self._store = SpanStore()
        # As wide as the terminal says (150 when it does not), in colour when make run's output is one.
        width = int(os.environ.get("COLUMNS", "150"))
        self._console = Console(width=width, force_terminal=sys.stdout.isatty(), highlight=False)
        self._stopping = threading.Event()
        self._printing = threading.Thread(target=self._print_while_running, daemon=True)

    def start(self) -> None:
        """Starts receiving; raises SystemExit, and starts nothing else, when the port is taken."""
        try:
            self._server, _ = start_receiver(self._store, self._address)
        except RuntimeError:
            raise SystemExit(
                f"waterfall: {self._address} is taken. If a collector or Jaeger listens there, "
                "`TRACEMESH_WATERFALL=off make run` sends the spans to it instead."
            ) from None
        self._output.line(f"{WATERFALL} started (in the manager, pid={os.getpid()})\n", SYSTEM_PRINTER_NAME)
        self._output.line(f"waterfall: receiving OTLP/gRPC on {self._address}; traces appear below\n")
        self._printing.start()

    def _print_while_running(self) -> None:
        while not self._stopping.wait(0.25):
            self._print_quiet(QUIET_SECONDS)

    def _print_quiet(self, quiet_seconds: float) -> None:
        for spans in self._store.pop_quiet(quiet_seconds):
            with self._console.capture() as captured:
                self._console.print(render_trace(spans))
                self._console.print()
            self._output.line(captured.get())

    def stop(self) -> int:
        """Once every service has exited: stops receiving and prints the traces it still holds."""
        self._stopping.set()
        self._printing.join()
        self._server.stop(grace=None)
        self._print_quiet(0)
        self._output.line(f"{WATERFALL} stopped (rc=0)\n", SYSTEM_PRINTER_NAME)
        return 0


def run(processes: Sequence[Process], waterfall: str | None = None) -> int:
    """Runs `processes` until Ctrl-C, SIGTERM or the exit of any of them, and the waterfall at the address
    `waterfall` (if given) until they have all exited; returns the exit status for make: 0 when stopped on
    request."""
    names = [SYSTEM_PRINTER_NAME, WATERFALL, *(process.name for process in processes)]
    printer = Printer(sys.stdout, width=max(len(name) for name in names))
    manager = _ThreadedManager(printer)
    # The colour honcho would give a process added after the services.
    colour = list(islice(get_colours(), len(processes) + 1))[-1]
    output = _Output(manager, printer, colour)
    receiver = Waterfall(waterfall, output) if waterfall else None
    if receiver is not None:
        receiver.start()
    waterfall_code = 0
    try:
        for name, argv, env in processes:
            # honcho runs each command through a shell; `exec` makes the service the process that receives
            # SIGTERM, instead of a shell that would die at once and leave the service behind.
            manager.add_process(name, "exec " + shlex.join(argv), env=env)
        # Returns once every service has exited, drained and flushed (or been killed: honcho sends SIGKILL to
        # whatever still runs 5 s after the first one exited).
        manager.loop()
    finally:
        if receiver is not None:
            output.print_directly()
            waterfall_code = receiver.stop()
    # Stopped on request (Ctrl-C or SIGTERM, exit codes 130 and 143): that is how a dev run ends.
    code = 0 if manager.returncode in (130, 143) else manager.returncode
    return code or waterfall_code
