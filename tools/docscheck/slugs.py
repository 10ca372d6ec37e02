"""The anchors GitHub gives headings, so that a link to `page.md#some-heading` can be checked offline."""

from __future__ import annotations

import unicodedata


def slugify(heading: str) -> str:
    """GitHub's anchor for a heading's text: lower case; letters of any script (CJK included), marks,
    digits, connectors such as `_`, hyphens and spaces kept, everything else dropped; each space a hyphen."""
    kept = (character for character in heading.lower() if _kept(character))
    return "".join(kept).replace(" ", "-")


def _kept(character: str) -> bool:
    category = unicodedata.category(character)
    return character in " -" or category[0] in "LMN" or category == "Pc"


class Slugger:
    """Anchors for the headings of one page, in order: a repeated heading gets `-1`, `-2`, ... as GitHub
    numbers them, never reusing an anchor that an earlier heading already took."""

    def __init__(self) -> None:
        self._taken: set[str] = set()
        self._repeats: dict[str, int] = {}

    def slug(self, heading: str) -> str:
        base = slugify(heading)
        anchor = base
        while anchor in self._taken:
            self._repeats[base] = self._repeats.get(base, 0) + 1
            anchor = f"{base}-{self._repeats[base]}"
        self._taken.add(anchor)
        return anchor
