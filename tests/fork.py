"""The template guide's backend example applied the way a fork applies it, on a copy of the tree: shipping's
client copied into orders, its Kubernetes manifest into the base, and examples/shipping/fork.patch applied
to the files the fork already has. The core of this repository never changes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "shipping"
PATCH = EXAMPLE / "fork.patch"
# The example's new files, and where a fork keeps them.
NEW_FILES = {
    EXAMPLE / "caller" / "shipping_client.py": "services/orders/shipping_client.py",
    EXAMPLE / "deploy" / "shipping.yaml": "deploy/k8s/base/shipping.yaml",
}


def forked_tree(destination: Path) -> Path:
    """A copy of the repository (its tracked files and those it would track) with shipping added as the
    guide says; returns its root. Fails, naming the patch, when the patch no longer applies."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    for name in filter(None, listed.decode().split("\0")):
        if (ROOT / name).is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, destination / name)
    for source, target in NEW_FILES.items():
        shutil.copy2(source, destination / target)
    applied = subprocess.run(
        ["git", "apply", str(PATCH)], cwd=destination, capture_output=True, text=True, check=False
    )
    if applied.returncode != 0:
        raise AssertionError(
            f"{PATCH.relative_to(ROOT)} no longer applies (its header says how to remake a section):\n"
            + applied.stderr
        )
    return destination


def python_path(tree: Path) -> str:
    """PYTHONPATH for processes that must import the fork's packages rather than this checkout's: a path
    entry is searched before the virtualenv's editable install."""
    return f"{tree / 'services'}:{tree / 'examples'}"
