"""The repository's own docs pass `python -m docscheck check`: excerpts in sync with the code, links and
anchors that resolve, the English and Chinese tutorial in step (see docs/README.md). And what the entry
pages state about the code is held to the code: the configuration table to the settings classes."""

from __future__ import annotations

import re
import subprocess
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
from pydantic_settings import BaseSettings

from docscheck.check import Docs, check, resync_hint
from docscheck.pages import Page
from tests.deploy.variables import CLIENTS, DEMO_SETTINGS, SETTINGS, defaults_of, is_sdk_variable
from tracemesh_common.settings import TelemetrySettings

ROOT = Path(__file__).resolve().parents[2]
# A variable as the tables write it: `GATEWAY_PORT`.
_VARIABLE = re.compile(r"`([A-Z][A-Z0-9_]+)`")
_VALUE = re.compile(r"`([^`]*)`")
# Where a default's own value ends and a remark begins: " (" in English, a full-width parenthesis in Chinese.
_REMARK = re.compile("(?: \\(|\uff08)")


def test_the_docs_are_consistent() -> None:
    problems = check(ROOT)
    # Any edit inside quoted code fails here, behaviour changed or not: the hint says which excerpts and
    # the one command that re-syncs them.
    hint = resync_hint(problems)
    assert problems == [], "\n".join([hint, "python -m docscheck check:", *map(str, problems)])


def test_the_readme_links_are_among_those_checked() -> None:
    """Guards against a check that passes because it read nothing."""
    docs = Docs(ROOT)
    assert {"README.md", "README.zh.md"} <= set(docs.pages())
    targets = {link.target for link in docs.page("README.md").links}
    wanted = {"deploy/README.md#docker-compose", "docs/results/faults.md", "docs/images/waterfall.png"}
    assert wanted <= targets
    assert "where-to-go-next" in docs.page("README.md").anchors


def test_ci_runs_the_readme_test_command() -> None:
    """The quick start's second command is what CI runs, so a newcomer runs what CI runs."""
    page = Docs(ROOT).page("README.md")
    first, last = section_lines(page, "quick-start")
    commands = [
        block.command.split("#")[0].strip()
        for block in page.blocks
        if block.info == "sh" and first <= block.line <= last
    ]
    ci_run = [line.strip() for line in (ROOT / ".ci/run").read_text().splitlines() if line.strip()]
    assert commands[0] == "make run"
    assert ci_run[-1] in commands


def section_lines(page: Page, anchor: str) -> tuple[int, int]:
    """The first and last line (1-based) of the `##` section whose heading has `anchor`."""
    sections = [heading for heading in page.headings if heading.level == 2]
    for number, heading in enumerate(sections):
        if heading.anchor == anchor:
            last = (
                sections[number + 1].line - 1 if number + 1 < len(sections) else len(page.text.splitlines())
            )
            return heading.line, last
    raise AssertionError(f"{page.path} has no ## section #{anchor}")


def section(page: Page, anchor: str) -> list[str]:
    """The lines of the `##` section whose heading has `anchor`, up to the next `##` heading."""
    first, last = section_lines(page, anchor)
    return page.text.splitlines()[first:last]


def variable_table(lines: list[str]) -> dict[str, str | None]:
    """The variables a table names in its first column, each with the default its second column shows: the
    values in backticks before any remark in parentheses, one for each variable of the row or one for all of
    them (None when the row shows no such value, or a count that fits neither)."""
    table: dict[str, str | None] = {}
    for line in lines:
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.lstrip().startswith("|") or len(cells) < 2:
            continue
        variables = _VARIABLE.findall(cells[0])
        defaults = _VALUE.findall(_REMARK.split(cells[1], maxsplit=1)[0])
        for number, variable in enumerate(variables):
            if len(defaults) == len(variables):
                table[variable] = defaults[number]
            else:
                table[variable] = defaults[0] if len(defaults) == 1 else None
    return table


def shown(default: Any) -> str:
    """A default as the docs write it: `false`, `5` (not 5.0), `trust` (an enum's value)."""
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, Enum):
        return str(default.value)
    if isinstance(default, float) and default.is_integer():
        return str(int(default))
    return str(default)


def read_in_code(variable: str) -> bool:
    """True when the SDK reads `variable`, or tracemesh's own code names it: `make run`'s
    TRACEMESH_WATERFALL, the SDK switch telemetry turns on."""
    if is_sdk_variable(variable):
        return True
    found = subprocess.run(
        ["git", "-C", str(ROOT), "grep", "-q", "-w", "-F", variable, "--", "services", "tools", "Makefile"],
        check=False,
    )
    return found.returncode == 0


@pytest.mark.parametrize(
    ("page", "anchor", "classes"),
    [
        ("README.md", "configuration", [*SETTINGS.values(), *DEMO_SETTINGS.values(), TelemetrySettings]),
        ("README.zh.md", "配置项", [*SETTINGS.values(), *DEMO_SETTINGS.values(), TelemetrySettings]),
        ("docs/demo.md", "load-make-load", list(CLIENTS.values())),
    ],
)
def test_each_setting_is_in_the_table_with_its_default(
    page: str, anchor: str, classes: list[type[BaseSettings]]
) -> None:
    table = variable_table(section(Docs(ROOT).page(page), anchor))
    expected = {variable: shown(default) for cls in classes for variable, default in defaults_of(cls).items()}
    assert expected, "no settings classes read"
    missing = sorted(expected.keys() - table.keys())
    assert missing == [], f"{page} does not name {missing}"
    wrong = {variable: (table[variable], default) for variable, default in expected.items()}
    wrong = {variable: pair for variable, pair in wrong.items() if pair[0] != pair[1]}
    assert wrong == {}, f"{page}: variable: (the table's default, the code's)"
    unknown = [variable for variable in table.keys() - expected.keys() if not read_in_code(variable)]
    assert unknown == [], f"{page} names variables nothing reads"


def test_the_table_reader_sees_what_a_row_says() -> None:
    """The parsing the test above relies on: one default per variable, one shared, or none to compare."""
    rows = [
        "| variable | default | meaning |",
        "| `A_HOST`, `A_PORT` | `127.0.0.1`, `8080` | where |",
        "| `A_ON` | `false` (`true` in `make run`) | whether |",
        "| `B_ON` | `true`\uff08`make run` 中为 `false`\uff09 | 是否 |",
        "| `A_LOG`, `B_LOG` | `INFO` | level |",
        "| `A_SIZE`, `B_SIZE` | 5000 ms, 2048 | sizes |",
    ]
    assert variable_table(rows) == {
        "A_HOST": "127.0.0.1",
        "A_PORT": "8080",
        "A_ON": "false",
        "B_ON": "true",
        "A_LOG": "INFO",
        "B_LOG": "INFO",
        "A_SIZE": None,
        "B_SIZE": None,
    }
    assert [shown(value) for value in (False, 5.0, 1.5, 100_000, "*")] == ["false", "5", "1.5", "100000", "*"]
