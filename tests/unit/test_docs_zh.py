"""The Chinese pages speak as Chinese engineers write: the field's own words, each with its English beside it
the first time a page uses it, so a reader can search for either."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tools.docscheck.check import Docs
from tools.docscheck.pages import Page

ROOT = Path(__file__).resolve().parents[2]
TUTORIAL = ROOT / "docs/tutorial"


def prose(page: Page) -> str:
    """The page as a reader reads its sentences: without fenced blocks, headings, and the titles that links to
    other pages show (the navigation lines); inline code stays."""
    lines = page.text.splitlines()
    for block in page.blocks:
        for number in range(block.line - 1, min(block.end, len(lines))):
            lines[number] = ""
    lines = ["" if line.startswith("#") else line for line in lines]
    return re.sub(r"\[[^\]]*\]\(([^)]*\.md(?:#[^)]*)?)\)", r"(\1)", "\n".join(lines))


# The field's words a Chinese developer searches for, each with the English it stands for, and the pages each
# belongs on (a zh page: docs/tutorial/zh/<name>, or README.zh.md).
TERMS = {
    "链路追踪": ["README.zh.md", "README.md", "01-first-trace.md", "09-sampling-and-collector.md"],
    "调用链": ["README.zh.md", "01-first-trace.md", "10-finding-problems.md", "12-context-in-process.md"],
    "埋点": [
        "README.zh.md",
        "01-first-trace.md",
        "03-crossing-http.md",
        "05-database.md",
        "06-your-own-spans.md",
    ],
    "透传": ["README.zh.md", "03-crossing-http.md", "07-baggage.md", "12-context-in-process.md"],
    "拦截器": ["README.zh.md", "04-crossing-grpc.md", "12-context-in-process.md"],
    "上下文传播": ["README.zh.md", "03-crossing-http.md", "04-crossing-grpc.md", "12-context-in-process.md"],
}


# "\uff08English\uff09" right after a term, perhaps on the next line.
_ENGLISH_BESIDE = re.compile("\n?\uff08[^\uff09]*[A-Za-z][^\uff09]*\uff09")


def zh_pages() -> dict[str, Page]:
    docs = Docs(ROOT)
    pages = {"README.zh.md": docs.page("README.zh.md")}
    for path in sorted((TUTORIAL / "zh").glob("*.md")):
        pages[path.name] = docs.page(f"docs/tutorial/zh/{path.name}")
    return pages


@pytest.mark.parametrize("term", TERMS)
def test_the_chinese_pages_use_the_fields_own_words(term: str) -> None:
    pages = zh_pages()
    missing = [name for name in TERMS[term] if term not in prose(pages[name])]
    assert missing == [], f"{term} is not on {missing}"


def test_each_term_carries_its_english_on_its_first_use_in_a_page() -> None:
    """The first time a page uses one of the terms, the English stands beside it in full-width parentheses,
    as in "链路追踪\uff08distributed tracing\uff09", so a reader can search for either."""
    bare = []
    for name, page in zh_pages().items():
        text = prose(page)
        for term in TERMS:
            at = text.find(term)
            if at < 0:
                continue
            after = text[at + len(term) : at + len(term) + 40]
            if not _ENGLISH_BESIDE.match(after):
                bare.append(f"{name}: {text[max(0, at - 10) : at + len(term) + 12]!r}")
    assert bare == [], "\n".join(bare)
