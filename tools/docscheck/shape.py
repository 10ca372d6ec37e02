"""Shown output against actual output, by shape: what changes from run to run (ids, timings, timestamps,
column widths) is normalised away on both sides, so a page can show real output and stay checkable."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

ELLIPSIS = "..."
_NUMBER = re.compile(
    r"(?<![A-Za-z_\d])\d+(?:\.\d+)?(?:\s?(?:ms|µs|us|ns|s|B|kB|KB|KiB|MB|MiB|GB|GiB|%)(?![A-Za-z]))?"
)
# An HTTP status is no measurement: it stays, after `HTTP/1.1 ` (curl -i, access logs) or opening a line
# (curl -w '%{http_code}').
_STATUS = re.compile(r"[1-5]\d\d")
_BEFORE_STATUS = re.compile(r'(?:^|HTTP/\d(?:\.\d)?"?\s)$')
# Applied in this order: a timestamp or a UUID is read whole before its digits could be taken for numbers.
_RULES: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"),
        "<time>",
    ),
    (
        re.compile(r"(?<![0-9A-Za-z])[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}(?![0-9A-Za-z])"),
        "<uuid>",
    ),
    (re.compile(r"(?<![0-9A-Za-z])[0-9a-f]{32}(?![0-9A-Za-z])"), "<trace-id>"),
    (re.compile(r"(?<![0-9A-Za-z])[0-9a-f]{16}(?![0-9A-Za-z])"), "<span-id>"),
]
_LAYOUT: list[tuple[re.Pattern[str], str]] = [
    # The waterfall's bars: their length and offset follow the timings.
    (re.compile(r"[\u2580-\u259f]+"), "█"),
    # Column widths follow the widest value in the column.
    (re.compile(r"\s+"), " "),
]


def normalise(line: str) -> str:
    for pattern, replacement in _RULES:
        line = pattern.sub(replacement, line)
    # A number with its unit if one follows ("53.9 ms", "2s", "12%"); "3 spans" keeps its word.
    line = _NUMBER.sub(_number, line)
    for pattern, replacement in _LAYOUT:
        line = pattern.sub(replacement, line)
    return line.strip()


def _number(match: re.Match[str]) -> str:
    is_status = _STATUS.fullmatch(match[0]) and _BEFORE_STATUS.search(match.string[: match.start()])
    return match[0] if is_status else "<n>"


def _lines(text: Sequence[str]) -> list[str]:
    """Normalised lines without the blank ones that open or close the text."""
    lines = [normalise(line) for line in text]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return lines


def matches(shown: Sequence[str], actual: Sequence[str], *, anywhere: bool = False) -> bool:
    """Whether `actual` has the shape `shown` shows: line for line, where a line of only `...` stands for
    any number of lines. With `anywhere`, the shown lines may sit anywhere in `actual` (a log that other
    lines surround)."""
    pattern: list[str | None] = [None if line == ELLIPSIS else line for line in _lines(shown)]
    if anywhere:
        pattern = [None, *pattern, None]
    return _glob(pattern, _lines(actual))


def _glob(pattern: list[str | None], lines: list[str]) -> bool:
    if None not in pattern:
        return pattern == lines
    segments: list[list[str]] = [[]]
    for item in pattern:
        if item is None:
            segments.append([])
        else:
            segments[-1].append(item)
    first, *middle, last = segments
    start, end = len(first), len(lines) - len(last)
    if start > end or lines[:start] != first or lines[end:] != last:
        return False
    # The leftmost place for each middle segment leaves the most room for the ones after it.
    for segment in middle:
        found = _find(segment, lines, start, end)
        if found is None:
            return False
        start = found + len(segment)
    return True


def _find(segment: list[str], lines: list[str], start: int, end: int) -> int | None:
    for index in range(start, end - len(segment) + 1):
        if lines[index : index + len(segment)] == segment:
            return index
    return None


def explain(shown: Sequence[str], actual: Sequence[str], limit: int = 60) -> str:
    """The normalised difference, as a reader of a failed check needs it to fix the page or the code."""
    diff = list(difflib.unified_diff(_lines(shown), _lines(actual), "shown", "actual", lineterm="", n=2))
    if len(diff) > limit:
        diff = [*diff[:limit], f"... ({len(diff) - limit} more diff lines)"]
    return "\n".join(diff)
