"""The fault suite, bounded to seconds per fault (`make chaos` runs it longer, with the report table)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.faults import FAULTS, POSTGRES_ONLY, run
from tests.support import require_postgres

CASES = [
    pytest.param(fault, "postgres", marks=pytest.mark.postgres)
    if fault in POSTGRES_ONLY
    else (fault, "sqlite")
    for fault in FAULTS
]


@pytest.mark.parametrize(("fault", "database"), CASES)
def test_every_request_completes_or_fails_cleanly_and_the_invariant_holds(
    fault: str, database: str, tmp_path: Path
) -> None:
    if database == "postgres":
        require_postgres()
    outcome = run(fault, database, tmp_path, seconds=4, concurrency=4)
    tally = outcome.tally
    assert tally.failed_badly == 0, tally.bad
    assert tally.succeeded > 0
    assert tally.sent == tally.succeeded + tally.failed_cleanly + tally.failed_badly
    assert outcome.verdict.holds, outcome.verdict.problems
    assert not [note for note in outcome.notes if note.startswith("NOT")], outcome.notes
    if fault in ("orders SIGTERM", "inventory database down"):
        assert outcome.spans_lost == 0  # a graceful stop, or a failure the services handled, loses no span
    if fault == "trace backend down":
        assert "export resumed" in outcome.notes
