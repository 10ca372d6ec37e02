"""orders' composition root: settings -> logging -> telemetry -> server, and a graceful stop on SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal

from orders.server import create_server
from orders.settings import OrdersSettings
from telemetry import configure_logging, setup_telemetry

logger = logging.getLogger("orders")


# docs-region: template-grpc-main
async def serve(settings: OrdersSettings) -> None:
    telemetry = setup_telemetry("orders")
    server = create_server(settings, telemetry)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # grpc's default is to die on SIGTERM with spans still queued; stop on our own terms instead.
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        port = await server.start()
        logger.info("orders serving gRPC on %s:%d", settings.host, port)
        await stop.wait()
        logger.info("orders stopping")
        await server.stop()
    finally:
        # After the last call has finished: flush every queued span before the process exits.
        telemetry.shutdown()
        # docs-endregion: template-grpc-main


def main() -> None:
    settings = OrdersSettings()
    configure_logging(settings.log_level)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
