"""orders' schema history (Alembic): one revision per change, applied by `python -m orders.migrate`."""
