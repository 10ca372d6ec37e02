"""inventory's schema history (Alembic): one revision per change, applied by `python -m inventory.migrate`."""
