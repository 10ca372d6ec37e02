"""A trace backend that hangs: it accepts TCP connections and never answers, so an exporter waits out its
timeout instead of failing at once, as it does when nothing listens."""

from __future__ import annotations

import socket
import threading


class HangingEndpoint:
    """Listens on 127.0.0.1 at a free port; every connection is accepted, held open and never read from or
    written to, until `close()`."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self._listener.settimeout(0.2)  # how often the accepting thread looks for close()
        self.port: int = self._listener.getsockname()[1]
        self._held: list[socket.socket] = []
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="hanging-endpoint", daemon=True)
        self._thread.start()

    @property
    def connections(self) -> int:
        """How many connections it accepted (and holds)."""
        return len(self._held)

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed
            self._held.append(connection)

    def close(self) -> None:
        self._closing.set()
        self._thread.join()
        self._listener.close()
        for connection in self._held:
            connection.close()

    def __enter__(self) -> HangingEndpoint:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
