"""`python -m shipping.migrate`: brings shipping's database (SHIPPING_DATABASE_URL) to the newest schema;
with `revision MESSAGE`, writes a new revision from what the models changed."""

from __future__ import annotations

import sys

from shipping.settings import ShippingSettings
from tracemesh_common.migrations import main

if __name__ == "__main__":
    # docs-region: shipping-migrate
    main("shipping", ShippingSettings().database_url, sys.argv[1:])
    # docs-endregion: shipping-migrate
