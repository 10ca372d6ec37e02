"""checkout's composition root: settings -> logging -> telemetry -> app -> served until SIGTERM."""

from __future__ import annotations

from checkout.app import create_app
from checkout.settings import CheckoutSettings
from tracemesh_common.lifecycle import HttpServer, run
from tracemesh_common.logs import configure_logging
from tracemesh_common.tracing import setup_telemetry


# docs-region: checkout-main
def main() -> None:
    settings = CheckoutSettings()
    configure_logging(settings.log_level)
    telemetry = setup_telemetry("checkout")
    app = create_app(settings, telemetry)
    run(HttpServer(app, settings.host, settings.port), telemetry)
    # docs-endregion: checkout-main


if __name__ == "__main__":
    main()
