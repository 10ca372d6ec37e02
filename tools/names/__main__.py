"""`python -m tools.names [--summary] [--kind KIND] [--name NAME]`: every place the project's name and its
services' names are written in the repository, grouped by kind, each with what must change with it. Run it
before renaming a fork, and again with `--name <the old name>` to see what is left."""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

from tools.names.search import Place, descriptions, files, places, project_name

# tools/names/__main__.py -> the repository, where it runs from.
ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.names", description=__doc__)
    parser.add_argument("--root", type=Path, default=ROOT, help="the repository (default: %(default)s)")
    parser.add_argument(
        "--name", help="the name to look for (default: the distribution's, in pyproject.toml)"
    )
    parser.add_argument("--kind", action="append", help="only this kind (repeatable)")
    parser.add_argument(
        "--summary", action="store_true", help="how many places of each kind, in how many files"
    )
    args = parser.parse_args(argv)
    root: Path = args.root.resolve()
    name: str = args.name or project_name(root)
    about = descriptions(name)
    unknown = set(args.kind or ()) - set(about)
    if unknown:
        parser.error(f"no kind {sorted(unknown)}; the kinds are: {', '.join(about)}")
    by_kind: dict[str, list[Place]] = defaultdict(list)
    for place in places(root, files(root), name):
        by_kind[place.kind].append(place)
    shown = [kind for kind in about if not args.kind or kind in args.kind]
    if args.summary:
        print(f"{'kind':<40} {'places':>6} {'files':>6}")
        for kind in shown:
            print(f"{kind:<40} {len(by_kind[kind]):>6} {len({p.path for p in by_kind[kind]}):>6}")
        return 0
    for kind in shown:
        found = by_kind[kind]
        print(f"== {kind}: {len(found)} places in {len({p.path for p in found})} files; {about[kind]}")
        for place in found:
            print(f"{place.path}:{place.line}: {place.text[:110]}")
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
