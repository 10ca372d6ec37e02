"""Who imports whom: the tools share only tools.mesh, which imports none of them, and nothing installed
(services/, examples/) imports tools/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLS = sorted(path.parent.name for path in (ROOT / "tools").glob("*/__init__.py"))


def imported(path: Path) -> set[str]:
    """Every module `path` imports, relative imports made absolute (from the repository root)."""
    package = list(path.relative_to(ROOT).parts[:-1])
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            names.add(".".join([*base, *([node.module] if node.module else [])]))
    return names


def test_there_are_tools_to_check() -> None:
    assert {"mesh", "bench", "chaos", "docscheck"} <= set(TOOLS)


@pytest.mark.parametrize("tool", TOOLS)
def test_a_tool_imports_no_other_tool_but_tools_mesh(tool: str) -> None:
    # tools.mesh itself imports no other tool.
    allowed = {f"tools.{tool}", "tools.mesh"}
    for path in (ROOT / "tools" / tool).rglob("*.py"):
        for name in imported(path):
            top = name.split(".")[0]
            # The tools were once installed as top-level packages: none of those names may come back.
            assert top not in {*TOOLS, "devrun", "waterfall"}, f"{path}: imports {name}"
            if top == "tools":
                assert any(name == a or name.startswith(a + ".") for a in allowed), f"{path}: imports {name}"


@pytest.mark.parametrize("folder", ["services", "examples"])
def test_nothing_installed_imports_tools(folder: str) -> None:
    for path in (ROOT / folder).rglob("*.py"):
        assert not {name for name in imported(path) if name.split(".")[0] == "tools"}, path
