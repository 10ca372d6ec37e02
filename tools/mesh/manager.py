"""`make run`'s process manager: the services under honcho, the waterfall receiver beside them until the last
service has exited.

honcho stops every process it runs at once, on Ctrl-C or when one of them exits. The services then drain their
requests and flush their spans on the way out, and those last spans need a receiver: so the waterfall is not
one of honcho's processes. It starts before the services and is stopped only once honcho has seen each of them
exit; by then every span a service flushed has been received, since an OTLP export returns only once the
receiver has answered it.
"""

from __future__ import annotations

import queue
import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from datetime import datetime
from itertools import islice
from typing import IO

from honcho.colour import get_colours
from honcho.manager import SYSTEM_PRINTER_NAME, Manager
from honcho.printer import Message, Printer

from tools.mesh.plan import Process

WATERFALL = "waterfall"


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


class Waterfall:
    """The receiver as a process of its own, in a session of its own (Ctrl-C does not reach it): started
    before the services, stopped after them."""

    def __init__(self, process: Process, output: _Output) -> None:
        self._process = process
        self._output = output
        self._child: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._stopping = False

    def start(self, manager: Manager) -> None:
        """Starts the receiver and waits for its first line; raises SystemExit with its exit code if it could
        not start (its port taken, say). Should it exit later on its own, the services are stopped too."""
        _, argv, env = self._process
        child = subprocess.Popen(
            argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
        )
        self._child = child
        stdout: IO[bytes] = child.stdout  # type: ignore[assignment]
        try:
            first = stdout.readline()
        except BaseException:  # Ctrl-C already: leave nothing listening behind
            child.kill()
            child.wait()
            raise
        if not first:  # it exited before receiving anything: say why, start nothing else
            sys.stdout.write(stdout.read().decode(errors="replace"))
            raise SystemExit(child.wait() or 1)
        self._output.line(f"{WATERFALL} started (pid={child.pid})\n", SYSTEM_PRINTER_NAME)
        self._output.line(first)
        self._reader = threading.Thread(target=self._forward, args=(stdout, manager), daemon=True)
        self._reader.start()

    def _forward(self, stdout: IO[bytes], manager: Manager) -> None:
        for line in iter(stdout.readline, b""):
            self._output.line(line)
        if not self._stopping:  # it died while the services ran: stop them too
            manager.terminate()

    def stop(self) -> int:
        """SIGTERM, once every service has exited: it prints the traces it still holds and exits."""
        assert self._child is not None
        assert self._reader is not None
        self._stopping = True
        self._child.send_signal(signal.SIGTERM)
        self._reader.join()
        code = self._child.wait()
        self._output.line(f"{WATERFALL} stopped (rc={code})\n", SYSTEM_PRINTER_NAME)
        return code


def run(processes: Sequence[Process]) -> int:
    """Runs `processes` until Ctrl-C, SIGTERM or the exit of any of them; returns the exit status for make:
    0 when stopped on request."""
    waterfall = next((process for process in processes if process.name == WATERFALL), None)
    services = [process for process in processes if process.name != WATERFALL]
    width = max(len(name) for name in [SYSTEM_PRINTER_NAME, *(process.name for process in processes)])
    printer = Printer(sys.stdout, width=width)
    manager = Manager(printer)
    # The colour honcho would give a process added after the services.
    colour = list(islice(get_colours(), len(services) + 1))[-1]
    output = _Output(manager, printer, colour)
    receiver = Waterfall(waterfall, output) if waterfall else None
    if receiver is not None:
        receiver.start(manager)
    waterfall_code = 0
    try:
        for name, argv, env in services:
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
