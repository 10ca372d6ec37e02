"""`python -m chaos`: every fault under load, on SQLite and PostgreSQL, then the report table.

Exits 1 when any request failed badly (a 5xx other than the documented 503, an answer in another shape, a
hang past the deadline), when the invariant between stock and orders broke, or when a check did not hold.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

from chaos.faults import FAULTS, POSTGRES_ONLY, Outcome, run


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__)
    parser.add_argument("--seconds", type=float, default=30, help="load per fault (default 30)")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--fault", action="append", choices=list(FAULTS), help="only these (repeatable)")
    args = parser.parse_args()

    databases = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    console = Console(width=None if sys.stdout.isatty() else 200)
    outcomes: list[Outcome] = []
    for database in databases:
        for fault in args.fault or list(FAULTS):
            if fault in POSTGRES_ONLY and database != "postgres":
                continue
            console.print(f"[bold]{fault}[/bold] on {database}: {args.seconds:.0f} s of load ...")
            with tempfile.TemporaryDirectory(prefix="tracemesh-chaos-") as workdir:
                outcomes.append(
                    run(fault, database, Path(workdir), seconds=args.seconds, concurrency=args.concurrency)
                )
    console.print(report(outcomes))
    sys.exit(0 if all(outcome.ok for outcome in outcomes) else 1)


def report(outcomes: list[Outcome]) -> Table:
    table = Table(title="How tracemesh fails")
    for column in ("fault", "database", "sent", "succeeded", "failed cleanly", "failed badly", "invariant"):
        table.add_column(column, justify="right" if column in {"sent", "succeeded"} else "left")
    table.add_column("spans lost", justify="right")
    table.add_column("also seen")
    for outcome in outcomes:
        tally = outcome.tally
        table.add_row(
            outcome.fault,
            outcome.database,
            str(tally.sent),
            str(tally.succeeded),
            str(tally.failed_cleanly),
            str(tally.failed_badly) + (f" ({tally.bad[0]})" if tally.bad else ""),
            "holds" if outcome.verdict.holds else "BROKEN: " + "; ".join(outcome.verdict.problems),
            "-" if outcome.spans_lost is None else str(outcome.spans_lost),
            "; ".join(outcome.notes),
        )
    return table


if __name__ == "__main__":
    main()
