"""A Markdown page read as GitHub renders it: its fenced blocks with the docs markers above them, the
anchors of its headings, and its links."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from markdown_it import MarkdownIt
from markdown_it.token import Token

from tools.docscheck.slugs import Slugger

# GitHub's Markdown is CommonMark with tables (links inside table cells must be found too).
_MARKDOWN = MarkdownIt("commonmark").enable(["table", "strikethrough"])
# A docs marker, an HTML comment alone on its line: <!-- run -->, <!-- output: mesh -->, <!-- excerpt: ... -->
_MARKER = re.compile(r"^\s*<!--\s*(run|output|excerpt)\b\s*(?::\s*(.*?))?\s*-->\s*$")
_HTML_ATTRIBUTE = re.compile(r"""\b(href|src|id|name)\s*=\s*["']([^"']*)["']""")
_EXCERPT = re.compile(r"^([^#\s]+)#([\w.-]+)$")
RUN_MODES = frozenset({"mesh", "docker", "fails", "eventually", "gotools"})
SHELLS = frozenset({"sh", "bash", "shell"})


@dataclass(frozen=True)
class Problem:
    """Something wrong, where a writer finds it: `path:line: message`."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}" if self.line else f"{self.path}: {self.message}"


@dataclass(frozen=True)
class Marker:
    kind: str  # run, output or excerpt
    argument: str  # what follows the colon, if anything
    text: str  # the marker as written (the two languages must write it byte for byte alike)
    line: int


@dataclass(frozen=True)
class Block:
    """A fenced code block; `first` and `end` are 0-based line indexes, the closing fence included."""

    line: int
    first: int
    end: int
    closed: bool
    fence: str
    info: str
    content: str
    marker: Marker | None

    @property
    def modes(self) -> frozenset[str]:
        """The words after `run:`, e.g. {"fails"} for <!-- run: fails -->."""
        if self.marker is None or self.marker.kind != "run":
            return frozenset()
        return frozenset(word for word in re.split(r"[\s,]+", self.marker.argument) if word)

    @property
    def command(self) -> str:
        """The block's first command line, to name it in a report."""
        return next((line.strip() for line in self.content.splitlines() if line.strip()), "")

    def is_marked(self, kind: str) -> bool:
        return self.marker is not None and self.marker.kind == kind


@dataclass(frozen=True)
class Step:
    """A runnable block with the output blocks that follow it."""

    command: Block
    output: Block | None = None
    mesh_output: Block | None = None


@dataclass(frozen=True)
class Heading:
    level: int
    text: str
    anchor: str
    line: int


@dataclass(frozen=True)
class Link:
    target: str
    line: int


@dataclass
class Page:
    path: str  # relative to the repository root, with forward slashes
    text: str
    blocks: list[Block] = field(default_factory=list)
    headings: list[Heading] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    anchors: set[str] = field(default_factory=set)
    steps: list[Step] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def marked(self, kind: str) -> list[Block]:
        return [block for block in self.blocks if block.is_marked(kind)]


def parse(path: str, text: str) -> Page:
    page = Page(path, text)
    tokens = _MARKDOWN.parse(text)
    lines = text.splitlines()
    slugger = Slugger()
    for index, token in enumerate(tokens):
        if token.type == "fence" and token.map:
            page.blocks.append(_block(token, lines, _marker_above(page, tokens, index)))
        elif token.type == "html_block" and token.map:
            _check_markers_placed(page, tokens, index)
            _html(page, token.content, token.map[0] + 1)
        elif token.type == "inline" and token.map:
            _inline(page, token)
            if index and tokens[index - 1].type == "heading_open":
                title = _plain_text(token)
                level = int(tokens[index - 1].tag[1])
                page.headings.append(Heading(level, title, slugger.slug(title), token.map[0] + 1))
                page.anchors.add(page.headings[-1].anchor)
    _check_blocks(page)
    page.steps = _steps(page)
    return page


def _marker_above(page: Page, tokens: list[Token], index: int) -> Marker | None:
    """The marker on the line right above the fence at `index`, if the token before it ends there."""
    fence_map = tokens[index].map
    before = tokens[index - 1] if index else None
    if before is None or before.type != "html_block" or not before.map or not fence_map:
        return None
    if before.map[1] != fence_map[0]:
        return None
    last = before.content.rstrip("\n").split("\n")[-1]
    match = _MARKER.match(last)
    if match is None:
        return None
    kind, argument = match.group(1), match.group(2) or ""
    return Marker(kind, argument.strip(), last.strip(), before.map[1])


def _check_markers_placed(page: Page, tokens: list[Token], index: int) -> None:
    """A marker counts only right above a fence; anywhere else it is a mistake that would go unnoticed."""
    token = tokens[index]
    assert token.map is not None
    following = tokens[index + 1] if index + 1 < len(tokens) else None
    attached = (
        following is not None
        and following.type == "fence"
        and following.map is not None
        and following.map[0] == token.map[1]
    )
    content = token.content.rstrip("\n").split("\n")
    for offset, line in enumerate(content):
        if _MARKER.match(line) and not (attached and offset == len(content) - 1):
            where = token.map[0] + offset + 1
            page.problems.append(Problem(page.path, where, f"{line.strip()} is not right above a fence"))


def _block(token: Token, lines: list[str], marker: Marker | None) -> Block:
    assert token.map is not None
    first, end = token.map
    closing = lines[end - 1].strip() if end - 1 > first else ""
    closed = bool(closing) and set(closing) == {token.markup[0]} and len(closing) >= len(token.markup)
    return Block(first + 1, first, end, closed, token.markup, token.info.strip(), token.content, marker)


def _check_blocks(page: Page) -> None:
    for block in page.blocks:
        page.problems += [Problem(page.path, line, message) for line, message in _misuses(block)]


def _misuses(block: Block) -> list[tuple[int, str]]:
    """What is wrong with a marked block's marker or fence, as (line, message)."""
    marker = block.marker
    found: list[tuple[int, str]] = []
    if marker is None:
        return found
    if marker.kind == "run":
        if block.modes - RUN_MODES:
            found.append((marker.line, f"unknown run mode(s) {sorted(block.modes - RUN_MODES)}"))
        if block.modes & {"mesh", "docker"} and len(block.modes) > 1:
            found.append((marker.line, "run: mesh and run: docker stand alone"))
        if block.info not in SHELLS:
            found.append((block.line, "a runnable block is fenced as ```sh"))
    elif marker.kind == "output":
        if marker.argument not in ("", "mesh"):
            found.append((marker.line, "an output marker is <!-- output --> or <!-- output: mesh -->"))
        if block.info != "text":
            found.append((block.line, "an output block is fenced as ```text"))
    elif not _EXCERPT.match(marker.argument):
        found.append((marker.line, "an excerpt marker names path#region"))
    return found


def _steps(page: Page) -> list[Step]:
    """Pairs each runnable block with the output blocks after it (prose in between is fine)."""
    steps: list[Step] = []
    owner: Block | None = None
    for block in page.blocks:
        if not block.is_marked("output"):
            owner = block
            if block.is_marked("run"):
                steps.append(Step(block))
            continue
        assert block.marker is not None
        mesh = block.marker.argument == "mesh"
        if owner is None or not owner.is_marked("run"):
            page.problems.append(Problem(page.path, block.line, "an output block follows no runnable block"))
            continue
        step = steps[-1]
        if not mesh and "mesh" in owner.modes:
            page.problems.append(
                Problem(page.path, block.line, "after a run: mesh block, use <!-- output: mesh -->")
            )
        elif (step.mesh_output if mesh else step.output) is not None:
            page.problems.append(Problem(page.path, block.line, "a second output block of the same kind"))
        elif mesh:
            steps[-1] = Step(step.command, step.output, block)
        else:
            steps[-1] = Step(step.command, block, step.mesh_output)
    return steps


def _inline(page: Page, token: Token) -> None:
    assert token.map is not None
    line = token.map[0] + 1
    for child in token.children or []:
        if child.type in ("softbreak", "hardbreak"):
            line += 1
        elif child.type == "link_open":
            page.links.append(Link(str(child.attrs.get("href", "")), line))
        elif child.type == "image":
            page.links.append(Link(str(child.attrs.get("src", "")), line))
        elif child.type == "html_inline":
            _html(page, child.content, line)


def _html(page: Page, html: str, line: int) -> None:
    """Raw HTML adds links (<a href>, <img src>) and anchors (<a id>, <a name>)."""
    for offset, text in enumerate(html.split("\n")):
        for attribute, value in _HTML_ATTRIBUTE.findall(text):
            if attribute in ("href", "src"):
                page.links.append(Link(value, line + offset))
            else:
                page.anchors.add(value)


def _plain_text(inline: Token) -> str:
    """A heading's text as GitHub slugs it: text and code kept, markup and raw HTML dropped."""
    parts = []
    for child in inline.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
    return "".join(parts).strip()
