"""Who imports whom: the tools share only tools.mesh, which imports none of them, and nothing installed
(services/, examples/) imports tools/."""

from __future__ import annotations

import pytest

from tests.imports import ROOT, imported

TOOLS = sorted(path.parent.name for path in (ROOT / "tools").glob("*/__init__.py"))


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
