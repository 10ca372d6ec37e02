"""gateway's composition root: settings -> logging -> telemetry -> app -> server."""

from __future__ import annotations

from gateway.app import create_app
from gateway.settings import GatewaySettings
from telemetry import configure_logging, setup_telemetry
from telemetry.lifecycle import run_http


def main() -> None:
    # docs-region: gateway-main
    settings = GatewaySettings()
    configure_logging(settings.log_level)
    telemetry = setup_telemetry("gateway")
    app = create_app(settings, telemetry)
    run_http(app, settings.host, settings.port, telemetry)
    # docs-endregion: gateway-main


if __name__ == "__main__":
    main()
