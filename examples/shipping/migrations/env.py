"""Alembic's entry point for shipping's history; tracemesh_common.migrations runs it."""

from shipping.models import Base
from tracemesh_common.migrations import run_environment

run_environment(Base.metadata)
