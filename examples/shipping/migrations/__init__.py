"""shipping's schema history (Alembic): one revision per change, applied by `python -m shipping.migrate`."""
