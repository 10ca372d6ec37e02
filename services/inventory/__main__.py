"""inventory's composition root: settings -> logging -> telemetry -> app -> served until SIGTERM."""

from __future__ import annotations

from inventory.app import create_app
from inventory.settings import InventorySettings
from tracemesh_common.lifecycle import HttpServer, Job, run
from tracemesh_common.logs import configure_logging
from tracemesh_common.tracing import setup_telemetry
from tracemesh_demo.inventory import DemoStockRepository, restock_job  # demo seam


def main() -> None:
    settings = InventorySettings()
    configure_logging(settings.log_level)
    telemetry = setup_telemetry("inventory")
    app = create_app(
        settings,
        telemetry,
        repository=DemoStockRepository,  # demo seam
    )
    jobs: list[Job] = [
        restock_job(app.state.service),  # demo seam
    ]
    run(HttpServer(app, settings.host, settings.port), telemetry, jobs)


if __name__ == "__main__":
    main()
