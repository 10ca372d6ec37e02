"""`python -m docscheck sync|check|run`: keeps the docs true to the code (see docs/README.md).

sync   rewrites every excerpt block from the source region it quotes
check  fails on drifted excerpts, broken links or anchors, and differences between the two languages
run    runs the pages' runnable blocks against `make run` and compares their output with the pages'
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from docscheck.check import Docs, check, resync_hint, sync
from docscheck.mesh import MeshError, MeshLog, reader_mesh, wait_for_running_mesh
from docscheck.runner import report, run_order, run_pages

# tools/docscheck/__main__.py -> the repository (the package is installed in editable mode from there).
ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m docscheck", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", type=Path, default=ROOT, help="the repository (default: %(default)s)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("sync", help="rewrite every excerpt from its region")
    commands.add_parser("check", help="excerpts, links and anchors, the two languages")
    run = commands.add_parser("run", help="run the runnable blocks against make run")
    run.add_argument("pages", nargs="*", help="only these pages, in this order (default: every English page)")
    run.add_argument(
        "--use-running-mesh",
        action="store_true",
        help="use the make run already running instead of starting one",
    )
    run.add_argument("--mesh-log", type=Path, help="with --use-running-mesh: the file its output goes to")
    run.add_argument("--timeout", type=float, default=60, help="seconds per block (default 60)")
    args = parser.parse_args(argv)
    root: Path = args.root.resolve()
    if args.command == "sync":
        return _sync(root)
    if args.command == "check":
        return _check(root)
    return _run(root, args.pages, args.use_running_mesh, args.mesh_log, args.timeout)


def _sync(root: Path) -> int:
    changed, problems = sync(root)
    for path in changed:
        print(f"synced {path}")
    for problem in problems:
        print(problem)
    return 1 if problems else 0


def _check(root: Path) -> int:
    problems = check(root)
    for problem in problems:
        print(problem)
    if hint := resync_hint(problems):
        print(hint)
    print(f"docscheck: {len(problems)} problem(s)" if problems else "docscheck: the docs are consistent")
    return 1 if problems else 0


def _run(root: Path, requested: list[str], use_running: bool, mesh_log: Path | None, timeout: float) -> int:
    docs = Docs(root)
    pages = [docs.page(path) for path in run_order(root, requested)]
    try:
        if use_running:
            if mesh_log is not None and not mesh_log.is_file():
                raise MeshError(f"{mesh_log} does not exist: give the file make run's output goes to")
            wait_for_running_mesh()
            counts = report(run_pages(pages, root, MeshLog(mesh_log) if mesh_log else None, timeout), print)
        else:
            with tempfile.TemporaryDirectory(prefix="docscheck-") as workdir:
                log = Path(workdir) / "make-run.log"
                with reader_mesh(root, log) as mesh:
                    counts = report(run_pages(pages, root, mesh, timeout), print)
                if counts["fail"]:
                    print(f"--- what make run printed ---\n{log.read_text(errors='replace')[-20000:]}")
    except MeshError as error:
        print(f"docscheck: {error}", file=sys.stderr)
        return 1
    print("docscheck: " + ", ".join(f"{count} {status}" for status, count in counts.items()))
    return 1 if counts["fail"] else 0


if __name__ == "__main__":
    sys.exit(main())
