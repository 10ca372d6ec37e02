"""`python -m orders.migrate`: brings orders' database (ORDERS_DATABASE_URL) to the newest schema; with
`revision MESSAGE`, writes a new revision from what the models changed."""

from __future__ import annotations

import sys

from orders.settings import OrdersSettings
from tracemesh_common.migrations import main

# Databases whose tables orders created at start-up, before it had migrations, match this revision.
LEGACY_REVISION = "0001"

if __name__ == "__main__":
    main("orders", OrdersSettings().database_url, sys.argv[1:], LEGACY_REVISION)
