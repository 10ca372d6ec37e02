"""Alembic's entry point for orders's history; tracemesh_common.migrations runs it."""

from orders.models import Base
from tracemesh_common.migrations import run_environment

run_environment(Base.metadata)
