"""The repository's own docs pass `python -m docscheck check`: excerpts in sync with the code, links and
anchors that resolve, the English and Chinese tutorial in step (see docs/README.md)."""

from __future__ import annotations

from pathlib import Path

from docscheck.check import Docs, check, resync_hint

ROOT = Path(__file__).resolve().parents[2]


def test_the_docs_are_consistent() -> None:
    problems = check(ROOT)
    # Any edit inside quoted code fails here, behaviour changed or not: the hint says which excerpts and
    # the one command that re-syncs them.
    hint = resync_hint(problems)
    assert problems == [], "\n".join([hint, "python -m docscheck check:", *map(str, problems)])


def test_the_readme_links_are_among_those_checked() -> None:
    """Guards against a check that passes because it read nothing."""
    docs = Docs(ROOT)
    assert "README.md" in docs.pages()
    targets = {link.target for link in docs.page("README.md").links}
    assert {"deploy/README.md", "#how-tracemesh-fails", "docs/images/demo-page.png"} <= targets
    assert "how-tracemesh-fails" in docs.page("README.md").anchors
