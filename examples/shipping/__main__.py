"""shipping's composition root: settings -> logging -> telemetry -> server -> served until SIGTERM."""

from __future__ import annotations

from shipping.server import create_server
from shipping.settings import ShippingSettings
from tracemesh_common.lifecycle import run
from tracemesh_common.logs import configure_logging
from tracemesh_common.tracing import setup_telemetry


def main() -> None:
    # docs-region: shipping-main
    settings = ShippingSettings()
    configure_logging(settings.log_level)
    telemetry = setup_telemetry("shipping")
    run(create_server(settings, telemetry), telemetry)
    # docs-endregion: shipping-main


if __name__ == "__main__":
    main()
