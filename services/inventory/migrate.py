"""`python -m inventory.migrate`: brings inventory's database (INVENTORY_DATABASE_URL) to the newest schema;
with `revision MESSAGE`, writes a new revision from what the models changed."""

from __future__ import annotations

import sys

from inventory.settings import InventorySettings
from tracemesh_common.migrations import main

# Databases whose tables (and catalogue) inventory created at start-up, before it had migrations, match
# this revision.
LEGACY_REVISION = "0002"

if __name__ == "__main__":
    main("inventory", InventorySettings().database_url, sys.argv[1:], LEGACY_REVISION)
