"""The fault suite, bounded to seconds per fault (`make chaos` runs it longer, with the report tables)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.faults import BACKEND_FAULTS, DATABASE_FAULTS, FAULTS, run, unavailable
from chaos.frozen import immutable_under, thaw_tree
from tests.support import require_postgres

# Every fault on SQLite, and both databases down on PostgreSQL.
CASES = [(fault, "sqlite") for fault in FAULTS] + [
    pytest.param(fault, "postgres", marks=pytest.mark.postgres) for fault in sorted(DATABASE_FAULTS)
]
# Faults during which the mesh refuses orders with 503s, which the repeating clients send again.
REFUSING = {"inventory killed", "orders killed", "orders SIGTERM", *DATABASE_FAULTS}


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    """The run's directory; whatever happens, nothing in it stays immutable (pytest could not remove it)."""
    yield tmp_path
    left = immutable_under(tmp_path)
    thaw_tree(tmp_path)
    assert not left, f"left immutable: {left}"


@pytest.mark.parametrize(("fault", "database"), CASES)
def test_every_request_completes_or_fails_cleanly_and_the_invariant_holds(
    fault: str, database: str, workdir: Path
) -> None:
    if database == "postgres":
        require_postgres()
    if reason := unavailable(fault, database, workdir):
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    outcome = run(fault, database, workdir, seconds=4, concurrency=4)
    tally = outcome.tally
    assert tally.failed_badly == 0, tally.bad
    assert tally.succeeded > 0
    assert tally.sent == tally.succeeded + tally.failed_cleanly + tally.failed_badly
    assert tally.on_the_wire == tally.sent  # every request that left the client was sorted, once
    assert tally.keys_with_two_orders == 0, tally.bad
    assert outcome.verdict.holds, outcome.verdict.problems
    assert not [note for note in outcome.notes if note.startswith("NOT")], outcome.notes
    if fault in REFUSING:
        assert tally.keys_repeated > 0  # the repeating clients met the fault and sent their orders again
    if fault == "orders SIGTERM" or fault in DATABASE_FAULTS:
        assert outcome.spans_lost == 0  # a graceful stop, or a failure the services handled, loses no span
    if fault in DATABASE_FAULTS:
        assert any(note.startswith("recovered without a restart") for note in outcome.notes)
        assert any(note.endswith("error span recorded") for note in outcome.notes)
    if fault in BACKEND_FAULTS:
        assert "export resumed" in outcome.notes
        assert outcome.healthy is not None
        assert outcome.faulty is not None
