"""Alembic's entry point for inventory's history; tracemesh_common.migrations runs it."""

from inventory.models import Base
from tracemesh_common.migrations import run_environment

run_environment(Base.metadata)
