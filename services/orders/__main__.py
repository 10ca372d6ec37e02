"""orders' composition root: settings -> logging -> telemetry -> server -> served until SIGTERM."""

from __future__ import annotations

from orders.server import create_server
from orders.settings import OrdersSettings
from tracemesh_common.lifecycle import run
from tracemesh_common.logs import configure_logging
from tracemesh_common.tracing import setup_telemetry
from tracemesh_demo.orders import DemoOrderRepository  # demo seam


def main() -> None:
    # docs-region: template-grpc-main
    settings = OrdersSettings()
    configure_logging(settings.log_level)
    telemetry = setup_telemetry("orders")
    server = create_server(
        settings,
        telemetry,
        repository=DemoOrderRepository,  # demo seam
    )
    run(server, telemetry, jobs=server.jobs())
    # docs-endregion: template-grpc-main


if __name__ == "__main__":
    main()
