"""checkout's composition root: settings -> logging -> telemetry -> app -> server."""

from __future__ import annotations

from checkout.app import create_app
from checkout.settings import CheckoutSettings
from telemetry import configure_logging, setup_telemetry
from telemetry.lifecycle import run_http


# docs-region: checkout-main
def main() -> None:
    settings = CheckoutSettings()
    configure_logging(settings.log_level)
    telemetry = setup_telemetry("checkout")
    app = create_app(settings, telemetry)
    run_http(app, settings.host, settings.port, telemetry)
    # docs-endregion: checkout-main


if __name__ == "__main__":
    main()
