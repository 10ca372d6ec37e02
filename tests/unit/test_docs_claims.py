"""What the docs state about tracemesh, held to tracemesh: the tutorial's index to its chapters, the entry
pages' counts to the chapters, and the claims about reservations, the schema, the readiness probe and Ctrl-C
to the code and manifests that decide them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from honcho import manager as honcho_manager

from tools.docscheck.check import Docs
from tools.docscheck.pages import Page
from tools.mesh.plan import MIGRATED

ROOT = Path(__file__).resolve().parents[2]
TUTORIAL = ROOT / "docs/tutorial"
LANGUAGES = ("en", "zh")
# A chapter's page: 07-baggage.md.
_CHAPTER_FILE = re.compile(r"(\d\d)-[a-z-]+\.md")
# An entry of the index's chapter list: `3. [Crossing HTTP](03-crossing-http.md): ...`.
_INDEX_ENTRY = re.compile(r"^(\d+)\. \[([^\]]+)\]\(((\d\d)-[a-z-]+\.md)\)")
# A link to a chapter that names it by number and title, as the pages' navigation lines do.
_CHAPTER_LINK = re.compile(r"\[(?:← )?(\d+)\. ([^\]]+?)(?: →)?\]\(((\d\d)-[a-z-]+\.md)\)")


def chapters(language: str) -> dict[int, Path]:
    found = {}
    for path in (TUTORIAL / language).iterdir():
        match = _CHAPTER_FILE.fullmatch(path.name)
        if match:
            found[int(match.group(1))] = path
    return found


def title(path: Path) -> str:
    """A page's `#` heading, without the `# `."""
    first = path.read_text().splitlines()[0]
    assert first.startswith("# "), f"{path} does not open with its title"
    return first[2:]


def section_text(page: Page, anchor: str) -> str:
    """The text of the section whose heading has `anchor`, up to the next heading of its level or above."""
    lines = page.text.splitlines()
    for number, heading in enumerate(page.headings):
        if heading.anchor == anchor:
            later = [h.line for h in page.headings[number + 1 :] if h.level <= heading.level]
            return "\n".join(lines[heading.line : (later[0] - 1) if later else len(lines)])
    raise AssertionError(f"{page.path} has no section #{anchor}")


def bullet(text: str, opening: str) -> str:
    """The list item whose first line starts with `opening`, its continuation lines joined to it."""
    lines = text.splitlines()
    first = next((number for number, line in enumerate(lines) if line.startswith(opening)), None)
    assert first is not None, f"no list item opens with {opening!r}"
    item = [lines[first]]
    for line in lines[first + 1 :]:
        if not line.startswith("  "):
            break
        item.append(line.strip())
    return " ".join(item)


# --- The tutorial's index and its chapters


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_index_lists_each_chapter_by_its_own_number_and_title(language: str) -> None:
    pages = chapters(language)
    listed = {}
    for line in (TUTORIAL / language / "README.md").read_text().splitlines():
        match = _INDEX_ENTRY.match(line)
        if match:
            number, text, target, prefix = match.groups()
            assert int(prefix) == int(number), f"{line!r}: entry {number} links to chapter {prefix}"
            listed[int(number)] = (text, target)
    assert sorted(listed) == sorted(pages), "the index lists other chapters than there are pages"
    for number, (text, target) in listed.items():
        assert pages[number].name == target
        assert title(pages[number]) == f"{number}. {text}", f"index entry {number} and the chapter's title"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_link_that_names_a_chapter_names_it_as_its_title_does(language: str) -> None:
    """The navigation lines (`[← 2. One TracerProvider per process](02-tracer-provider.md)`) and any other
    link written with a chapter's number: a title changed in one place is changed in every place."""
    pages = chapters(language)
    seen = 0
    for path in [*pages.values(), TUTORIAL / language / "README.md"]:
        for number, text, target, prefix in _CHAPTER_LINK.findall(path.read_text()):
            seen += 1
            assert int(number) == int(prefix), f"{path.name}: [{number}. {text}]({target})"
            assert pages[int(number)].name == target, f"{path.name}: {target} is not chapter {number}"
            assert f"{number}. {text}" == title(pages[int(number)]), f"{path.name} names chapter {number} so"
    assert seen >= 2 * (len(pages) - 1), "fewer chapter links than the navigation lines alone make"


def _python_names(cell: str) -> list[str]:
    """What a cell of the Go/Java table's Python column names, each as a reader would search a page for it:
    the last part of a dotted call (`span.record_exception(e)` -> `record_exception`), a variable, a path."""
    names = []
    for code in re.findall(r"`([^`]+)`", cell):
        code = re.sub(r"^with\s+|\s+as\s+\w+:?$", "", code.strip())
        if "/" in code:
            names.append(code)
            continue
        code = code.split("=")[0] if re.match(r"^[A-Z][A-Z0-9_]*=", code) else code
        names.append(re.sub(r"\(.*\)$", "", code).split(".")[-1])
    return names


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_mechanism_of_the_go_and_java_table_is_in_the_chapter_it_names(language: str) -> None:
    """A row names a chapter and, in its Python column, the API that chapter shows: at least half of those
    names must appear in that chapter."""
    pages = {number: path.read_text() for number, path in chapters(language).items()}
    rows, misplaced = 0, []
    for line in (TUTORIAL / language / "README.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 5 or not cells[0].isdigit():
            continue
        rows += 1
        number, mechanism, python = int(cells[0]), cells[1], cells[4]
        names = _python_names(python)
        found = [name for name in names if name in pages[number]]
        if 2 * len(found) < len(names):
            misplaced.append(f"row {number} ({mechanism}): chapter {number} shows {found} of {names}")
    assert misplaced == [], "\n".join(misplaced)
    assert rows > 0, "the table was not read"


# --- Counts and claims on the entry pages

_ENGLISH = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen"
_CHINESE = "一 二 三 四 五 六 七 八 九 十 十一 十二 十三 十四"
_NUMBERS = {word: number for words in (_ENGLISH, _CHINESE) for number, word in enumerate(words.split(), 1)}
# "twelve chapters", "十二章" (but not the 一章 of 一章一章地, one chapter at a time).
_COUNT = re.compile(
    rf"\b({_ENGLISH.replace(' ', '|')}) chapters|(十[一二三四]?|[二三四五六七八九])章", re.IGNORECASE
)


@pytest.mark.parametrize(
    "page", ["README.md", "README.zh.md", "docs/tutorial/en/README.md", "docs/tutorial/zh/README.md"]
)
def test_a_page_that_counts_the_chapters_counts_them_right(page: str) -> None:
    counts = [
        _NUMBERS[(english or chinese).lower()]
        for english, chinese in _COUNT.findall((ROOT / page).read_text())
    ]
    assert counts, f"{page} no longer counts the chapters: drop it from this test"
    assert set(counts) == {len(chapters("en"))}, f"{page} counts {counts}"


def _markdown_pages() -> list[Path]:
    """Every page a reader may read a claim in, the template guides aside (they have a test of their own)."""
    pages = [ROOT / "README.md", ROOT / "README.zh.md", ROOT / "deploy/README.md"]
    pages += sorted((ROOT / "docs").rglob("*.md"))
    return [page for page in pages if page.name not in ("template.md", "template.zh.md")]


# How a page might say a reservation is a single statement, in either language.
_ONE_STATEMENT = re.compile(
    r"one conditional `?UPDATE|single conditional `?UPDATE|一条(?:带条件的)?(?:条件)? ?`?UPDATE"
)


def test_no_page_calls_a_reservation_one_conditional_update() -> None:
    claims = [
        f"{page.relative_to(ROOT)}: {match.group(0)}"
        for page in _markdown_pages()
        for match in _ONE_STATEMENT.finditer(page.read_text())
    ]
    assert claims == []


def test_the_scaling_section_names_the_statements_a_reservation_runs() -> None:
    """A reservation is a conditional UPDATE and an INSERT ... SELECT guarded by the refusals table, with a
    SELECT ... FOR UPDATE when it is refused: the code does all three, so the page names all three."""
    code = (ROOT / "services/inventory/repository.py").read_text()
    for call in (".from_select(", ".with_for_update()", "update(ProductRow)"):
        assert call in code
    scaling = section_text(Docs(ROOT).page("deploy/README.md"), "scaling")
    for statement in ("`UPDATE`", "`INSERT ... SELECT`", "`SELECT ... FOR UPDATE`"):
        assert statement in scaling, f"deploy/README.md#scaling does not name {statement}"


def test_the_scaling_section_says_how_the_schema_is_made() -> None:
    """Nothing creates tables at start-up: the Pod of each service with a database first runs
    `python -m <service>.migrate` in an init container."""
    for service in MIGRATED:
        pod = yaml.safe_load_all((ROOT / f"deploy/k8s/base/{service}.yaml").read_text())
        deployment = next(doc for doc in pod if doc and doc.get("kind") == "Deployment")
        init = deployment["spec"]["template"]["spec"]["initContainers"]
        assert [container["args"] for container in init] == [[f"{service}.migrate"]]
    scaling = section_text(Docs(ROOT).page("deploy/README.md"), "scaling")
    assert "creates its tables" not in scaling
    assert "init container" in scaling


# Sentences that say flaky-inventory's stalled first call goes on to take the stock.
_STILL_RESERVES = re.compile(r"still reserves|仍然?(?:会)?预留|照样预留")


def test_the_stalled_first_call_of_flaky_inventory_is_said_to_roll_back() -> None:
    """The late first attempt's UPDATE is rolled back when its INSERT meets the retry's reservation, and it
    is answered from that reservation (inventory/repository.py: IntegrityError -> _replay)."""
    code = (ROOT / "services/inventory/repository.py").read_text()
    assert "except (IntegrityError, _Replay):" in code
    assert "return await self._replay(" in code
    claims = [
        f"{page.relative_to(ROOT)}: {match.group(0)}"
        for page in _markdown_pages()
        for match in _STILL_RESERVES.finditer(page.read_text())
    ]
    assert claims == []
    flaky = bullet((ROOT / "docs/demo.md").read_text(), "- **`flaky-inventory`**")
    assert "rolls back" in flaky, flaky
    assert "replay" in flaky, flaky


# --- Claims in the tutorial about the code that runs it


def _seconds(value: str) -> int:
    match = re.fullmatch(r"(\d+)s", str(value))
    assert match, value
    return int(match.group(1))


def test_chapter_5_says_who_polls_the_readiness_probe_and_how_often() -> None:
    """Nothing polls /readyz under make run; compose's healthcheck and Kubernetes' readinessProbe do."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    compose_every = _seconds(compose["services"]["inventory"]["healthcheck"]["interval"])
    assert "/readyz" in " ".join(compose["services"]["inventory"]["healthcheck"]["test"])
    docs = list(yaml.safe_load_all((ROOT / "deploy/k8s/base/inventory.yaml").read_text()))
    deployment = next(doc for doc in docs if doc and doc.get("kind") == "Deployment")
    probe = deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    assert probe["httpGet"]["path"] == "/readyz"
    assert probe["periodSeconds"] == compose_every
    wanted = {
        "en": (
            r"[^.]*readiness probe[^.]*\.",
            f"every {compose_every} s",
            ("compose", "Kubernetes", "make run"),
        ),
        "zh": (r"[^。]*就绪探针[^。]*。", f"每 {compose_every} 秒", ("compose", "Kubernetes", "make run")),
    }
    for language, (sentence, interval, names) in wanted.items():
        page = Docs(ROOT).page(f"docs/tutorial/{language}/05-database.md")
        text = section_text(page, "the-code" if language == "en" else "代码")
        found = re.search(sentence, text.replace("\n", " "))
        assert found, f"{page.path} no longer speaks of the readiness probe in its code section"
        claim = found.group(0)
        assert interval in claim, claim
        assert all(name in claim for name in names), claim
        assert "every few seconds" not in claim
        assert "每隔几秒" not in claim


def test_chapter_2_says_how_long_make_run_lets_a_service_stop() -> None:
    """Ctrl-C: the services drain and flush, the waterfall receives until the last has exited, and honcho
    kills whatever still runs KILL_WAIT seconds after the first exited. The page says that much, no more."""
    kill_wait = honcho_manager.KILL_WAIT
    manager = (ROOT / "tools/mesh/manager.py").read_text()
    # The waterfall waits for the services, not for a clock: stopped once honcho's loop has returned.
    assert manager.index("manager.loop()") < manager.index("receiver.stop()")
    wanted = {"en": (f"{kill_wait} s", "two more seconds"), "zh": (f"{kill_wait} 秒", "两秒")}
    for language, (limit, stale) in wanted.items():
        text = Docs(ROOT).page(f"docs/tutorial/{language}/02-tracer-provider.md").text
        claim = bullet(text, "- **Ctrl-C")
        assert limit in claim, claim
        assert stale not in claim, claim
