"""What a Python file of the repository imports, read from its source without running it."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imported(path: Path, root: Path = ROOT, *, names: bool = False) -> set[str]:
    """Every module `path` imports, anywhere in it (functions included), relative imports made absolute from
    `root`, the folder its top-level package lives in; with `names`, also `module.name` for each name taken
    by `from module import name` (a submodule, or an attribute)."""
    package = list(path.relative_to(root).parts[:-1])
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.add(module)
            if names:
                found |= {f"{module}.{alias.name}" for alias in node.names}
    return found
