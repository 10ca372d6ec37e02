"""gateway's composition root: settings -> logging -> telemetry -> app -> served until SIGTERM."""

from __future__ import annotations

from gateway.app import create_app
from gateway.settings import GatewaySettings
from tracemesh_common.lifecycle import HttpServer, run
from tracemesh_common.logs import configure_logging
from tracemesh_common.tracing import setup_telemetry
from tracemesh_demo.gateway import with_demo_page  # demo seam


def main() -> None:
    # docs-region: gateway-main
    settings = GatewaySettings()
    configure_logging(settings.log_level)
    telemetry = setup_telemetry("gateway")
    app = create_app(settings, telemetry)
    app = with_demo_page(app)  # demo seam
    run(HttpServer(app, settings.host, settings.port), telemetry)
    # docs-endregion: gateway-main


if __name__ == "__main__":
    main()
