"""The template without its demo: delete services/tracemesh_demo and every line that ends with `# demo seam`,
as the template guide says, on a copy of the tree; the one-trace end-to-end tests still pass there."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SEAM = "# demo seam"


def remove_the_demo(tree: Path) -> list[str]:
    """The template guide's recipe; returns the lines it removed."""
    shutil.rmtree(tree / "services" / "tracemesh_demo")
    removed = []
    for path in sorted((tree / "services").rglob("*.py")):
        lines = path.read_text().splitlines(keepends=True)
        kept = [line for line in lines if not line.rstrip().endswith(SEAM)]
        removed += [f"{path.relative_to(tree)}: {line.strip()}" for line in lines if line not in kept]
        path.write_text("".join(kept))
    return removed


@pytest.mark.timeout(660)  # a copy of the tree, and the one-trace tests run in it on both databases
def test_the_core_runs_one_trace_without_the_demo(tmp_path: Path) -> None:
    tree = tmp_path / "tracemesh"
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, files.decode().split("\0")):
        if (ROOT / name).is_file():
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, tree / name)
    removed = remove_the_demo(tree)
    # Three composition roots: an import each, and the demo's repositories, page and restock job.
    assert len(removed) == 7, removed
    assert not [path for path in (tree / "services").rglob("*.py") if "tracemesh_demo" in path.read_text()]

    # The copy's packages come first on the path. The virtualenv's editable install still maps
    # `tracemesh_demo` to this checkout, so an import of it would quietly succeed: one that fails instead
    # stands in front of it, and so does a service that still needs the demo.
    absent = tmp_path / "absent"
    (absent / "tracemesh_demo").mkdir(parents=True)
    (absent / "tracemesh_demo" / "__init__.py").write_text('raise ImportError("the demo was removed")\n')
    path = [absent, tree / "services", tree / "tools", tree / "examples", tree]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(map(str, path)))
    lint = subprocess.run(
        [Path(sys.executable).parent / "ruff", "check", "services"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert lint.returncode == 0, lint.stdout  # no import or name left dangling
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/e2e/test_one_trace.py"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-2000:]
    assert " passed" in run.stdout
    assert " failed" not in run.stdout
