"""`sync` and `check`: excerpts against the regions they quote, links and anchors, and the two languages
of the tutorial, the template guide and the README side by side. Everything here is offline and fast; `run`
is the slow part."""

from __future__ import annotations

import difflib
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from docscheck.pages import Block, Page, Problem, parse
from docscheck.regions import Region, Scan, scan

TUTORIAL_EN, TUTORIAL_ZH = "docs/tutorial/en", "docs/tutorial/zh"
TEMPLATE_EN, TEMPLATE_ZH = "docs/template.md", "docs/template.zh.md"
README_EN, README_ZH = "README.md", "README.zh.md"
SYNC_COMMAND = ".venv/bin/python -m docscheck sync"
# A target with a scheme (https:, mailto:) or a network path is not the checker's to resolve.
_EXTERNAL = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]*:|//)")
_EXCERPT = re.compile(r"^([^#\s]+)#([\w.-]+)$")


class Docs:
    """The pages and source files of one repository, each read once."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._pages: dict[str, Page] = {}
        self._scans: dict[str, Scan] = {}

    def pages(self) -> list[str]:
        """The checked pages: README.md, README.zh.md and every Markdown file under docs/."""
        found = [page for page in (README_EN, README_ZH) if (self.root / page).is_file()]
        docs = self.root / "docs"
        found += sorted(path.relative_to(self.root).as_posix() for path in docs.rglob("*.md"))
        return found

    def page(self, path: str) -> Page:
        if path not in self._pages:
            self._pages[path] = parse(path, (self.root / path).read_text(encoding="utf-8"))
        return self._pages[path]

    def regions(self, path: str) -> Scan:
        if path not in self._scans:
            self._scans[path] = scan((self.root / path).read_text(encoding="utf-8", errors="replace"))
        return self._scans[path]

    def relative(self, path: Path) -> str | None:
        """`path` relative to the root, or None when it lies outside the repository."""
        resolved = Path(os.path.normpath(path))
        return resolved.relative_to(self.root).as_posix() if resolved.is_relative_to(self.root) else None


def check(root: Path) -> list[Problem]:
    docs = Docs(root)
    problems: list[Problem] = []
    for path in docs.pages():
        page = docs.page(path)
        problems += page.problems
        for block in page.marked("excerpt"):
            found = region_of(docs, page, block)
            if isinstance(found, Problem):
                problems.append(found)
            elif block.content != found.text:
                problems.append(_drift(page, block, found))
        problems += link_problems(docs, page)
    problems += parity_problems(docs)
    problems += region_marker_problems(docs)
    return _unique(problems)


def sync(root: Path) -> tuple[list[str], list[Problem]]:
    """Rewrites every excerpt block from its region; returns the pages changed and what could not be done."""
    docs = Docs(root)
    changed: list[str] = []
    problems: list[Problem] = []
    for path in docs.pages():
        page = docs.page(path)
        rewrites: list[tuple[Block, Region]] = []
        for block in page.marked("excerpt"):
            found = region_of(docs, page, block)
            if isinstance(found, Problem):
                problems.append(found)
            elif block.content != found.text:
                rewrites.append((block, found))
        if rewrites:
            (docs.root / path).write_text(rewrite(page.text, rewrites), encoding="utf-8")
            changed.append(path)
    return changed, problems


def region_of(docs: Docs, page: Page, block: Block) -> Region | Problem:
    """The region an excerpt block quotes, or why it cannot be quoted."""
    assert block.marker is not None
    line = block.marker.line
    match = _EXCERPT.match(block.marker.argument)
    if match is None:
        return Problem(page.path, line, "an excerpt marker names path#region")
    source, name = match.groups()
    if not (docs.root / source).is_file():
        return Problem(
            page.path, line, f"excerpt source {source} does not exist (paths are from the repository root)"
        )
    found = docs.regions(source).regions.get(name)
    if found is None:
        return Problem(
            page.path, line, f"no complete region {name!r} in {source} (docs-region / docs-endregion)"
        )
    if not block.closed:
        return Problem(page.path, block.line, "the excerpt's fence is not closed")
    fence = block.fence[0] * len(block.fence)
    if any(text.lstrip().startswith(fence) for text in found.lines):
        return Problem(page.path, block.line, f"region {name!r} holds a {fence} line: use a longer fence")
    return found


@dataclass(frozen=True)
class Drift(Problem):
    """An excerpt that no longer shows what its region holds: `excerpt` is its path#region reference."""

    excerpt: str = ""


def _drift(page: Page, block: Block, region: Region) -> Drift:
    assert block.marker is not None
    excerpt = block.marker.argument
    diff = difflib.unified_diff(
        block.content.splitlines(), list(region.lines), "page", "source", lineterm="", n=0
    )
    shown = "\n      ".join(list(diff)[2:12])
    source = f"{excerpt.partition('#')[0]}:{region.line}"
    message = f"excerpt {excerpt} differs from its region at {source} (run `{SYNC_COMMAND}`):\n      {shown}"
    return Drift(page.path, block.marker.line, message, excerpt)


def resync_hint(problems: list[Problem]) -> str:
    """What to do about excerpts that drifted from the code they quote ("" when none did): the one command
    that re-syncs them. A check that fails on any edit of quoted code is meant; the fix is this command."""
    drifted = sorted({problem.excerpt for problem in problems if isinstance(problem, Drift)})
    if not drifted:
        return ""
    return (
        f"{len(drifted)} quoted region(s) changed since the docs were synced: {', '.join(drifted)}. "
        f"If the change is meant, run `{SYNC_COMMAND}` and commit the pages it rewrites."
    )


def rewrite(text: str, rewrites: list[tuple[Block, Region]]) -> str:
    """`text` with the body of each block replaced by its region's lines, indented as the fence is."""
    lines = text.splitlines(keepends=True)
    for block, found in sorted(rewrites, key=lambda pair: pair[0].first, reverse=True):
        opening = lines[block.first]
        indent = opening[: len(opening) - len(opening.lstrip())]
        body = [indent + line + "\n" if line else "\n" for line in found.lines]
        lines[block.first + 1 : block.end - 1] = body
    return "".join(lines)


def link_problems(docs: Docs, page: Page) -> list[Problem]:
    """Every relative link must name a file or folder of the repository, and its #anchor a heading (or an
    <a id>) of the page it points at."""
    problems: list[Problem] = []
    for link in page.links:
        if not link.target or _EXTERNAL.match(link.target):
            continue
        location, _, fragment = link.target.partition("#")
        location = unquote(location.split("?", 1)[0])
        if not location:
            target: str | None = page.path
        elif location.startswith("/"):  # GitHub reads a leading slash as the repository root
            target = docs.relative(docs.root / location.lstrip("/"))
        else:
            target = docs.relative(docs.root / Path(page.path).parent / location)
        if target is None:
            problems.append(Problem(page.path, link.line, f"{link.target} points outside the repository"))
        elif not (docs.root / target).exists():
            problems.append(
                Problem(page.path, link.line, f"broken link {link.target}: {target} does not exist")
            )
        elif fragment:
            problems += _anchor_problems(docs, page, link.line, target, unquote(fragment))
    return problems


def _anchor_problems(docs: Docs, page: Page, line: int, target: str, anchor: str) -> list[Problem]:
    if (docs.root / target).is_dir():
        target = f"{target}/README.md"  # what GitHub shows for a folder
        if not (docs.root / target).is_file():
            return []
    if not target.endswith(".md"):
        return []  # #L12 and the like on source files are GitHub's, not headings
    anchors = docs.page(target).anchors
    if anchor in anchors:
        return []
    near = difflib.get_close_matches(anchor, sorted(anchors), n=1)
    hint = f" (did you mean #{near[0]}?)" if near else ""
    return [Problem(page.path, line, f"no heading in {target} has the anchor #{anchor}{hint}")]


def twins(docs: Docs) -> tuple[list[tuple[str, str]], list[Problem]]:
    """The (English, Chinese) page pairs, and the pages whose twin is missing."""
    root = docs.root
    pairs: list[tuple[str, str]] = []
    problems: list[Problem] = []
    names = {
        side: {path.relative_to(root / side).as_posix() for path in (root / side).rglob("*.md")}
        for side in (TUTORIAL_EN, TUTORIAL_ZH)
    }
    for name in sorted(names[TUTORIAL_EN] | names[TUTORIAL_ZH]):
        en, zh = f"{TUTORIAL_EN}/{name}", f"{TUTORIAL_ZH}/{name}"
        if name not in names[TUTORIAL_ZH]:
            problems.append(Problem(en, 0, f"has no Chinese twin {zh}"))
        elif name not in names[TUTORIAL_EN]:
            problems.append(Problem(zh, 0, f"has no English twin {en}"))
        else:
            pairs.append((en, zh))
    has_en, has_zh = (root / TEMPLATE_EN).is_file(), (root / TEMPLATE_ZH).is_file()
    if has_en and has_zh:
        pairs.append((TEMPLATE_EN, TEMPLATE_ZH))
    elif has_en or has_zh:
        present, missing = (TEMPLATE_EN, TEMPLATE_ZH) if has_en else (TEMPLATE_ZH, TEMPLATE_EN)
        problems.append(Problem(present, 0, f"has no twin {missing}"))
    # The entry page may stand alone in English; a Chinese one is its twin.
    if (root / README_ZH).is_file():
        if (root / README_EN).is_file():
            pairs.append((README_EN, README_ZH))
        else:
            problems.append(Problem(README_ZH, 0, f"has no twin {README_EN}"))
    return pairs, problems


def parity_problems(docs: Docs) -> list[Problem]:
    pairs, problems = twins(docs)
    for en, zh in pairs:
        problems += compare(docs.page(en), docs.page(zh))
        problems += _twin_link(docs, docs.page(en), zh) + _twin_link(docs, docs.page(zh), en)
    return problems


def compare(en: Page, zh: Page) -> list[Problem]:
    """The two languages must have the same sections and byte for byte the same commands, excerpts and
    output: only the prose is translated. Problems are reported on the Chinese page, against the English."""
    problems: list[Problem] = []
    sections = [sum(heading.level == 2 for heading in page.headings) for page in (en, zh)]
    if sections[0] != sections[1]:
        problems.append(Problem(zh.path, 0, f"{sections[1]} ## sections, {en.path} has {sections[0]}"))
    for kind, label in (("run", "runnable block"), ("excerpt", "excerpt"), ("output", "output block")):
        problems += _compare_blocks(en, zh, kind, label)
    return problems


def _compare_blocks(en: Page, zh: Page, kind: str, label: str) -> list[Problem]:
    def key(block: Block) -> tuple[str, str, str]:
        assert block.marker is not None
        # An excerpt's body is the region's business (check compares it with the source): only its reference.
        return (block.marker.text, block.info, "" if kind == "excerpt" else block.content)

    theirs, ours = en.marked(kind), zh.marked(kind)
    for number, (english, chinese) in enumerate(zip(theirs, ours, strict=False), start=1):
        if key(english) != key(chinese):
            where = f"{en.path}:{english.line}"
            return [
                Problem(zh.path, chinese.line, f"{label} {number} differs from the English one at {where}")
            ]
    if len(theirs) != len(ours):
        return [Problem(zh.path, 0, f"{len(ours)} {label}s, {en.path} has {len(theirs)}")]
    return []


def _twin_link(docs: Docs, page: Page, twin: str) -> list[Problem]:
    """Each page's top (before its first ## section) links to the same page in the other language."""
    first_section = next((heading.line for heading in page.headings if heading.level == 2), None)
    for link in page.links:
        if first_section is not None and link.line >= first_section:
            break
        location = unquote(link.target.partition("#")[0])
        here = Path(page.path).parent
        if location and not _EXTERNAL.match(location) and docs.relative(docs.root / here / location) == twin:
            return []
    return [Problem(page.path, 1, f"its top does not link to its twin {twin}")]


def region_marker_problems(docs: Docs) -> list[Problem]:
    """A docs-region marker without its end (or the reverse) anywhere in the repository, quoted or not yet."""
    problems: list[Problem] = []
    for path in _repository_files(docs.root):
        data = (docs.root / path).read_bytes()
        if b"docs-region" not in data and b"docs-endregion" not in data:
            continue
        problems += [Problem(path, line, message) for line, message in docs.regions(path).problems]
    return problems


def _repository_files(root: Path) -> Iterator[str]:
    """Files git tracks or would track (new ones included); nothing when `root` is no git work tree."""
    listed = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=False,
    )
    if listed.returncode != 0:
        return
    for name in listed.stdout.decode(errors="replace").split("\0"):
        if name and (root / name).is_file():
            yield name


def _unique(problems: list[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))
