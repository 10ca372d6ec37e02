"""`run`: each runnable block of the pages, in order, in a fresh `bash -euo pipefail` from the repository
root, as a reader would paste it; its output compared by shape with the output the page shows."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tools.docscheck import shape
from tools.docscheck.check import TEMPLATE_EN, TUTORIAL_EN
from tools.docscheck.deploy import validate
from tools.docscheck.mesh import MeshLog, reader_env
from tools.docscheck.pages import Block, Page, Step

# How long a `run: eventually` block is retried, and how long the mesh may take to print a waterfall
# (spans are exported every 0.5 s, and a trace prints once it has been quiet for 1.5 s).
EVENTUALLY_SECONDS = 10.0
MESH_OUTPUT_SECONDS = 5.0
RETRY_SECONDS = 0.5


@dataclass(frozen=True)
class Outcome:
    """One block's result, as the report shows it."""

    page: str
    line: int
    command: str
    status: str  # pass, fail, skip or validated
    detail: str = ""


@dataclass(frozen=True)
class Ran:
    code: int | None  # None: killed at the timeout
    output: str


def run_order(root: Path, requested: list[str]) -> list[str]:
    """The pages to run: those asked for, or the English tutorial in chapter order, then the template guide,
    then the README. The Chinese pages are not run: `check` holds their blocks byte-identical."""
    if requested:
        return [Path(os.path.relpath(Path(page).resolve(), root)).as_posix() for page in requested]
    tutorial = root / TUTORIAL_EN
    chapters = sorted(
        path.relative_to(root).as_posix() for path in tutorial.glob("*.md") if path.name != "README.md"
    )
    pages = [f"{TUTORIAL_EN}/README.md", *chapters, TEMPLATE_EN, "README.md"]
    return [page for page in pages if (root / page).is_file()]


def run_pages(pages: list[Page], root: Path, mesh: MeshLog | None, timeout: float) -> Iterator[Outcome]:
    for page in pages:
        for step in page.steps:
            yield run_step(page, step, root, mesh, timeout)


def run_step(page: Page, step: Step, root: Path, mesh: MeshLog | None, timeout: float) -> Outcome:
    command = step.command
    modes = command.modes

    def outcome(status: str, detail: str = "") -> Outcome:
        return Outcome(page.path, command.line, command.command, status, detail)

    if "docker" in modes:
        problems = validate(command.content, root)
        return outcome("fail", "\n".join(problems)) if problems else outcome("validated")
    if "mesh" in modes:
        if step.mesh_output is None:
            return outcome("skip", "the checker's own make run stands in for it")
        # What make run printed from its start on.
        failure = _mesh_failure(step.mesh_output, mesh, 0)
        return outcome("fail", failure) if failure else outcome("pass")
    missing = _missing_programs(command.content, root) if "gotools" in modes else []
    if missing:
        detail = f"needs {', '.join(missing)}: `make gotools` builds it (with Go)"
        # CI builds them before the tests: there, a block that cannot run is a failure.
        return outcome("fail" if os.environ.get("CI") == "true" else "skip", detail)
    mark = mesh.mark() if mesh else 0
    failure = _command_failure(step, root, timeout)
    if failure is None and step.mesh_output is not None:
        failure = _mesh_failure(step.mesh_output, mesh, mark)
    return outcome("fail", failure) if failure else outcome("pass")


def _missing_programs(script: str, root: Path) -> list[str]:
    """The programs under build/go that the block runs and `make gotools` has not built."""
    named = sorted(set(re.findall(r"\bbuild/go/[\w.-]+", script)))
    return [program for program in named if not (root / program).is_file()]


def _command_failure(step: Step, root: Path, timeout: float) -> str | None:
    """Runs the block (again and again for `run: eventually`) until it does what the page says."""
    modes = step.command.modes
    deadline = time.monotonic() + (EVENTUALLY_SECONDS if "eventually" in modes else 0)
    while True:
        ran = execute(step.command.content, root, timeout)
        failure = _judge(ran, step.output, expect_failure="fails" in modes, timeout=timeout)
        if failure is None or time.monotonic() >= deadline:
            return failure
        time.sleep(RETRY_SECONDS)


def _judge(ran: Ran, shown: Block | None, *, expect_failure: bool, timeout: float) -> str | None:
    if ran.code is None:
        return f"timed out after {timeout:.0f} s; its output:\n{_indent(ran.output)}"
    if expect_failure and ran.code == 0:
        return f"exited 0 where the page says it fails; its output:\n{_indent(ran.output)}"
    if not expect_failure and ran.code != 0:
        return f"exited {ran.code}; its output:\n{_indent(ran.output)}"
    actual = ran.output.splitlines()
    expected = shown.content.splitlines() if shown is not None else []
    if shown is not None and not shape.matches(expected, actual):
        diff = shape.explain(expected, actual)
        return f"output differs from the block at line {shown.line}:\n{_indent(diff)}"
    return None


def _mesh_failure(shown: Block, mesh: MeshLog | None, mark: int) -> str | None:
    """Waits a little for the mesh to print what the page shows, anywhere after `mark`."""
    if mesh is None:
        return "no mesh output to compare with: pass --mesh-log with --use-running-mesh"
    expected = shown.content.splitlines()
    keep_prefix = any(_prefixed(line) for line in expected)
    deadline = time.monotonic() + MESH_OUTPUT_SECONDS
    while True:
        actual = [line if keep_prefix else strip_prefix(line) for line in mesh.lines_since(mark)]
        if shape.matches(expected, actual, anywhere=True):
            return None
        if time.monotonic() >= deadline:
            diff = shape.explain(expected, actual)
            return f"make run did not print the block at line {shown.line}:\n{_indent(diff)}"
        time.sleep(RETRY_SECONDS)


def strip_prefix(line: str) -> str:
    """A line of make run's output without the process manager's `21:44:23 gateway   | ` prefix."""
    return line.split("| ", 1)[1] if _prefixed(line) else line


def _prefixed(line: str) -> bool:
    head, bar, _ = line.partition("|")
    words = head.split()
    return bool(bar) and len(words) == 2 and words[0].count(":") == 2 and words[0].replace(":", "").isdigit()


def execute(script: str, root: Path, timeout: float) -> Ran:
    """`bash -euo pipefail -c script` from `root`, stdout and stderr together as a terminal shows them; the
    block's whole process group is killed at the timeout."""
    process = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=root,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=reader_env(),
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _signal_group(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        return Ran(None, output.decode(errors="replace"))
    # Whatever the block started and left behind would hold a port or a file into the next block.
    _signal_group(process.pid, signal.SIGTERM)
    return Ran(process.returncode, output.decode(errors="replace"))


def _signal_group(group: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signum)


def report(outcomes: Iterator[Outcome], say: Callable[[str], None]) -> dict[str, int]:
    """Prints each outcome as it comes; returns how many of each status."""
    counts = {"pass": 0, "fail": 0, "skip": 0, "validated": 0}
    for outcome in outcomes:
        counts[outcome.status] += 1
        say(f"{outcome.status.upper():9} {outcome.page}:{outcome.line}  {outcome.command[:90]}")
        if outcome.detail and outcome.status != "pass":
            say(_indent(outcome.detail))
    return counts


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())
