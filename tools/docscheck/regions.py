"""Marked regions of source files: the only code a page may quote, so an excerpt can always be compared
with (and rewritten from) the lines it claims to show."""

from __future__ import annotations

import re
from dataclasses import dataclass

# One marker per line, behind the file's own comment leader: `#` (Python, YAML, shell, Makefile, Dockerfile),
# `//` (.proto), `--` (SQL), `<!-- -->` (HTML, Markdown) or `/* */`.
MARKER = re.compile(r"^\s*(?:#|//|--|<!--|/\*)\s*docs-(region|endregion):\s*([\w.-]+)\s*(?:-->|\*/)?\s*$")


@dataclass(frozen=True)
class Region:
    """A region's lines as a page quotes them: marker lines excluded, common indentation removed."""

    name: str
    line: int  # the 1-based line of its docs-region marker
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return "".join(line + "\n" for line in self.lines)


@dataclass(frozen=True)
class Scan:
    """Every well-formed region of a file, and what is wrong with the markers of the others."""

    regions: dict[str, Region]
    problems: list[tuple[int, str]]  # (1-based line, message)


def scan(text: str) -> Scan:
    lines = text.splitlines()
    markers = [
        (index, match[1], match[2]) for index, line in enumerate(lines) if (match := MARKER.match(line))
    ]
    regions: dict[str, Region] = {}
    problems: list[tuple[int, str]] = []
    opened: dict[str, int] = {}
    seen: dict[str, int] = {}
    for index, kind, name in markers:
        if kind == "region":
            if name in seen:
                problems.append(
                    (index + 1, f"region {name!r} is marked twice (first at line {seen[name] + 1})")
                )
                continue
            seen[name] = opened[name] = index
        elif name not in opened:
            problems.append((index + 1, f"docs-endregion: {name} has no docs-region: {name} above it"))
        else:
            start = opened.pop(name)
            body = [line for line in lines[start + 1 : index] if not MARKER.match(line)]
            if not any(line.strip() for line in body):
                problems.append((start + 1, f"region {name!r} is empty"))
            regions[name] = Region(name, start + 1, tuple(dedent(body)))
    for name, start in opened.items():
        problems.append((start + 1, f"docs-region: {name} has no docs-endregion: {name} below it"))
    return Scan(regions, sorted(problems))


def dedent(lines: list[str]) -> list[str]:
    """Removes the leading whitespace every non-blank line shares (tabs count as themselves, so a Makefile
    recipe keeps its tab); blank lines become empty."""
    indents = [line[: len(line) - len(line.lstrip())] for line in lines if line.strip()]
    common = min(indents, key=len) if indents else ""
    while not all(indent.startswith(common) for indent in indents):
        common = common[:-1]
    return [line[len(common) :] if line.strip() else "" for line in lines]
