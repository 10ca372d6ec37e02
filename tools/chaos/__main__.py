"""`python -m tools.chaos`: every fault under load, on SQLite and PostgreSQL, then the report tables.

Exits 1 when any request failed badly (a 5xx other than the documented 503, an answer in another shape, a
hang past the deadline), when a key got two orders, when the invariant between stock and orders broke, or
when a check did not hold; and with CI=true, when a fault could not be injected on this machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

from tools.chaos.faults import BACKEND_FAULTS, FAULTS, Outcome, run, unavailable
from tools.chaos.load import Latency
from tools.mesh.processes import unwind_on_sigterm

# The benchmark's budget for a trace backend that is away: at most 5% of the throughput, p99 within 1.25x.
THROUGHPUT_COST_BUDGET = 0.05
P99_RATIO_BUDGET = 1.25


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.chaos", description=__doc__)
    parser.add_argument("--seconds", type=float, default=30, help="load per fault (default 30)")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--fault", action="append", choices=list(FAULTS), help="only these (repeatable)")
    args = parser.parse_args()
    unwind_on_sigterm()  # a stopped run stops the meshes it started

    databases = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    console = Console(width=None if sys.stdout.isatty() else 200)
    outcomes: list[Outcome] = []
    skipped: list[tuple[str, str, str]] = []
    for database in databases:
        for fault in args.fault or list(FAULTS):
            # run() clears anything it made immutable however it ends, and the probe its own file.
            with tempfile.TemporaryDirectory(prefix="tracemesh-chaos-") as workdir:
                if reason := unavailable(fault, database, Path(workdir)):
                    console.print(f"[bold]{fault}[/bold] on {database}: skipped, {reason}")
                    skipped.append((fault, database, reason))
                    continue
                console.print(f"[bold]{fault}[/bold] on {database}: {args.seconds:.0f} s of load ...")
                outcomes.append(
                    run(fault, database, Path(workdir), seconds=args.seconds, concurrency=args.concurrency)
                )
    console.print(report(outcomes, skipped))
    if latencies := [outcome for outcome in outcomes if outcome.fault in BACKEND_FAULTS]:
        console.print(latency_report(latencies))
    must_inject = os.environ.get("CI") == "true"
    sys.exit(0 if all(outcome.ok for outcome in outcomes) and not (skipped and must_inject) else 1)


def report(outcomes: list[Outcome], skipped: list[tuple[str, str, str]]) -> Table:
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
    for fault, database, reason in skipped:
        table.add_row(fault, database, "-", "-", "-", "-", "-", "-", f"skipped: {reason}")
    return table


def latency_report(outcomes: list[Outcome]) -> Table:
    table = Table(title="Latency while the trace backend is away, against the same run before the fault")
    table.add_column("fault")
    table.add_column("database")
    for column in ("p50 ms", "p99 ms", "answers/s"):
        table.add_column(f"healthy {column}", justify="right")
        table.add_column(f"fault {column}", justify="right")
    table.add_column("p99 ratio", justify="right")
    table.add_column("throughput", justify="right")
    table.add_column("within budget")
    for outcome in outcomes:
        healthy, faulty = outcome.healthy, outcome.faulty
        if healthy is None or faulty is None:
            table.add_row(outcome.fault, outcome.database, *["-"] * 8, "too few answers to compare")
            continue
        ratio, change = faulty.p99_ms / healthy.p99_ms, faulty.per_second / healthy.per_second - 1
        table.add_row(
            outcome.fault,
            outcome.database,
            f"{healthy.p50_ms:.0f}",
            f"{faulty.p50_ms:.0f}",
            f"{healthy.p99_ms:.0f}",
            f"{faulty.p99_ms:.0f}",
            f"{healthy.per_second:.1f}",
            f"{faulty.per_second:.1f}",
            f"{ratio:.2f}",
            f"{change:+.0%}",
            _budget(healthy, faulty),
        )
    return table


def _budget(healthy: Latency, faulty: Latency) -> str:
    over = []
    if faulty.per_second < healthy.per_second * (1 - THROUGHPUT_COST_BUDGET):
        over.append(f"costs more than {THROUGHPUT_COST_BUDGET:.0%} of the throughput")
    if faulty.p99_ms > healthy.p99_ms * P99_RATIO_BUDGET:
        over.append(f"p99 above {P99_RATIO_BUDGET}x")
    return "yes" if not over else "no: " + ", ".join(over)


if __name__ == "__main__":
    main()
