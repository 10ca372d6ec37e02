"""The docs checker's parts: output shapes, source regions, GitHub's anchors, the Markdown reader, and
check / sync / run on small repositories made in tmp_path."""

from __future__ import annotations

import subprocess
import textwrap
import threading
import time
from pathlib import Path

import pytest

from tools.docscheck import runner
from tools.docscheck.__main__ import main
from tools.docscheck.check import SYNC_COMMAND, check, resync_hint, sync
from tools.docscheck.deploy import commands, validate
from tools.docscheck.mesh import MeshLog
from tools.docscheck.pages import parse
from tools.docscheck.regions import dedent, scan
from tools.docscheck.runner import run_step, strip_prefix
from tools.docscheck.shape import explain, matches, normalise
from tools.docscheck.slugs import Slugger, slugify

ROOT = Path(__file__).resolve().parents[2]
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"


def write(root: Path, path: str, text: str) -> Path:
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(textwrap.dedent(text).lstrip("\n"))
    return target


def source(*lines: str) -> str:
    """A source file's text. Marker lines are built here rather than written at the start of a line of this
    file, so that the checker's scan of the repository does not take them for real regions."""
    return "\n".join(lines) + "\n"


# --- shape: normalising and matching output ---


def test_normalise_hides_what_changes_from_run_to_run() -> None:
    assert (
        normalise(f"traceresponse: 00-{TRACE_ID}-{SPAN_ID}-01")
        == "traceresponse: <n>-<trace-id>-<span-id>-<n>"
    )
    assert normalise('{"id": "0b1e2c3d-1111-4222-8333-123456789abc"}') == '{"id": "<uuid>"}'
    assert normalise("2026-11-25 21:44:14,786 INFO") == normalise("2025-01-02T03:04:05.123Z INFO")
    assert normalise("took 53.9 ms") == normalise("took 2 s") == "took <n>"
    assert (
        normalise("gateway   POST /orders   server   22.7 ms  ████  ") == "gateway POST /orders server <n> █"
    )
    assert normalise("gateway POST /orders server 122.7 ms     ██") == "gateway POST /orders server <n> █"


def test_normalise_keeps_what_the_reader_should_see() -> None:
    assert normalise("3 spans") == "<n> spans"  # "s" there is a word, not seconds
    assert normalise("status confirmed") != normalise("status rejected")
    assert normalise("tracemesh.orders.v1") == "tracemesh.orders.v1"
    # HTTP statuses are not measurements.
    assert normalise("HTTP/1.1 201 Created") == "HTTP/<n> 201 Created"
    assert normalise("200 in 0.012 s") != normalise("503 in 0.012 s")
    assert normalise('"GET /products HTTP/1.1" 200') != normalise('"GET /products HTTP/1.1" 500')


def test_without_an_ellipsis_every_line_must_match() -> None:
    assert matches(["HTTP/1.1 201 Created", "took 3 ms"], ["HTTP/1.1 201 Created", "took 45 ms", ""])
    assert not matches(["HTTP/1.1 201 Created"], ["HTTP/1.1 201 Created", "content-length: 2"])
    assert not matches(["a", "b"], ["b", "a"])
    assert not matches(["HTTP/1.1 201 Created"], ["HTTP/1.1 409 Conflict"])


def test_an_ellipsis_stands_for_any_number_of_lines() -> None:
    actual = [
        "HTTP/1.1 201 Created",
        "date: x",
        "traceresponse: 00-" + TRACE_ID + "-" + SPAN_ID + "-01",
        "",
        "{}",
    ]
    assert matches(
        ["HTTP/1.1 201 Created", "...", "traceresponse: 00-" + "a" * 32 + "-" + "b" * 16 + "-01", "..."],
        actual,
    )
    assert matches(["...", "{}"], actual)
    assert matches(["HTTP/1.1 201 Created", "...", "{}"], actual)
    assert matches(["HTTP/1.1 201 Created", "...", "date: x", "..."], actual)  # zero lines too
    # Not anchored at the end without a closing "...": the body follows.
    assert not matches(
        ["HTTP/1.1 201 Created", "...", "traceresponse: 00-" + TRACE_ID + "-" + SPAN_ID + "-01"], actual
    )
    assert not matches(["...", "{}", "...", "date: x"], actual)  # order counts
    assert not matches(["...", "missing", "..."], actual)


def test_anywhere_finds_the_shown_lines_inside_a_log() -> None:
    log = ["startup", "trace " + TRACE_ID + "  6 spans", "gateway GET /products", "later"]
    assert matches(["trace " + "c" * 32 + " 4 spans", "gateway GET /products"], log, anywhere=True)
    assert not matches(["trace " + "c" * 32 + " 4 spans", "gateway POST /orders"], log, anywhere=True)
    assert not matches(["trace " + "c" * 32 + " 4 spans", "gateway GET /products"], log)


def test_explain_shows_the_normalised_difference() -> None:
    diff = explain(["HTTP/1.1 201 Created", "took 3 ms"], ["HTTP/1.1 409 Conflict", "took 4 ms"])
    assert "-HTTP/<n> 201 Created" in diff
    assert "+HTTP/<n> 409 Conflict" in diff
    assert " took <n>" in diff


# --- regions of source files ---


def test_a_region_is_its_lines_dedented_without_markers() -> None:
    text = source(
        "def f():",
        "    # docs-region: body",
        "    if x:",
        "        # docs-region: inner",
        "        return 1",
        "        # docs-endregion: inner",
        "",
        "    return 2",
        "    # docs-endregion: body",
    )
    found = scan(text)
    assert found.problems == []
    assert found.regions["body"].lines == ("if x:", "    return 1", "", "return 2")
    assert found.regions["body"].line == 2
    assert found.regions["inner"].text == "return 1\n"


def test_regions_use_each_languages_comments() -> None:
    text = source(
        "// docs-region: proto",
        "service OrderService {}",
        "// docs-endregion: proto",
        "<!-- docs-region: html -->",
        "<p>hi</p>",
        "<!-- docs-endregion: html -->",
        "-- docs-region: sql",
        "CREATE DATABASE orders;",
        "-- docs-endregion: sql",
    )
    regions = scan(text).regions
    assert [regions[name].text for name in ("proto", "html", "sql")] == [
        "service OrderService {}\n",
        "<p>hi</p>\n",
        "CREATE DATABASE orders;\n",
    ]


def test_broken_region_markers_are_reported_with_their_lines() -> None:
    text = source(
        "# docs-region: open",
        "x = 1",
        "# docs-endregion: stray",
        "# docs-region: twice",
        "y = 2",
        "# docs-endregion: twice",
        "# docs-region: twice",
        "# docs-region: empty",
        "# docs-endregion: empty",
    )
    found = scan(text)
    messages = dict(found.problems)
    assert "no docs-endregion" in messages[1]
    assert "no docs-region" in messages[3]
    assert "marked twice" in messages[7]
    assert "empty" in messages[8]
    assert "open" not in found.regions


def test_dedent_keeps_a_recipes_tab_and_empties_blank_lines() -> None:
    recipe = ["run: venv", "\t$(BIN)/python -m tools.mesh"]
    assert dedent(recipe) == recipe
    assert dedent(["    a", "   ", "      b"]) == ["a", "", "  b"]
    assert dedent(["\ta", "    b"]) == ["\ta", "    b"]  # nothing in common


# --- GitHub's heading anchors ---


def test_slugs_follow_githubs_rules() -> None:
    assert slugify("Quick start") == "quick-start"
    assert slugify("Load: `make load`") == "load-make-load"
    assert slugify("The API (gateway, 127.0.0.1:8080)") == "the-api-gateway-1270018080"
    assert slugify("What's new?  Two  spaces") == "whats-new--two--spaces"
    assert slugify("snake_case and dash-case") == "snake_case-and-dash-case"
    assert slugify("🚀 Launch") == "-launch"


def test_slugs_keep_cjk_and_drop_full_width_punctuation() -> None:
    assert slugify("快速开始") == "快速开始"
    # A full-width colon and parentheses, as Chinese headings write them.
    assert slugify("第一步\uff1a运行 tracemesh\uff08本地\uff09") == "第一步运行-tracemesh本地"
    assert slugify("Span 与 Trace") == "span-与-trace"
    assert slugify("快速开始") != slugify("快速 开始")


def test_repeated_headings_are_numbered() -> None:
    slugger = Slugger()
    assert [slugger.slug(text) for text in ("Try it", "Try it", "Try it-1", "Try it")] == [
        "try-it",
        "try-it-1",
        "try-it-1-1",
        "try-it-2",
    ]


# --- reading a page ---

PAGE = """
# Title

[中文](../zh/page.md) · see [the API](#the-api)

## Run it

<!-- run: mesh -->
```sh
make run
```

<!-- output: mesh -->
```text
...
```

Then:

<!-- run -->
```sh
curl -s http://127.0.0.1:8080/products
```

The answer:

<!-- output -->
```text
[]
```

<!-- output: mesh -->
```text
trace
```

## The API

    <!-- run -->
    ```sh
    an example of a marker, in an indented code block: not a marker
    ```

<a id="custom"></a>
![demo](images/demo.png)

| link | in a table |
| --- | --- |
| [deploy](../deploy/README.md) | x |
"""


def test_blocks_get_the_marker_right_above_them_and_steps_pair_outputs() -> None:
    page = parse("docs/page.md", textwrap.dedent(PAGE).lstrip("\n"))
    assert page.problems == []
    assert [block.marker.text if block.marker else None for block in page.blocks] == [
        "<!-- run: mesh -->",
        "<!-- output: mesh -->",
        "<!-- run -->",
        "<!-- output -->",
        "<!-- output: mesh -->",
    ]
    mesh, curl = page.steps
    assert mesh.command.modes == {"mesh"}
    assert mesh.mesh_output is not None
    assert mesh.output is None
    assert curl.command.command == "curl -s http://127.0.0.1:8080/products"
    assert curl.command.line == 20
    assert curl.output is not None
    assert curl.output.content == "[]\n"
    assert curl.mesh_output is not None
    assert curl.mesh_output.content == "trace\n"


def test_headings_links_and_anchors_are_read() -> None:
    page = parse("docs/page.md", textwrap.dedent(PAGE).lstrip("\n"))
    assert [(heading.level, heading.anchor) for heading in page.headings] == [
        (1, "title"),
        (2, "run-it"),
        (2, "the-api"),
    ]
    assert {"title", "run-it", "the-api", "custom"} <= page.anchors
    assert [(link.target, link.line) for link in page.links] == [
        ("../zh/page.md", 3),
        ("#the-api", 3),
        ("images/demo.png", 44),
        ("../deploy/README.md", 48),
    ]


@pytest.mark.parametrize(
    ("markdown", "problem"),
    [
        ("<!-- run -->\n\n```sh\nls\n```\n", "not right above a fence"),
        ("<!-- run -->\n```python\nprint()\n```\n", "fenced as ```sh"),
        ("<!-- run: sometimes -->\n```sh\nls\n```\n", "unknown run mode"),
        ("<!-- run: docker fails -->\n```sh\nls\n```\n", "stand alone"),
        ("<!-- output -->\n```text\nx\n```\n", "follows no runnable block"),
        ("```sh\nls\n```\n\n<!-- output -->\n```text\nx\n```\n", "follows no runnable block"),
        ("<!-- run -->\n```sh\nls\n```\n<!-- output -->\n```sh\nx\n```\n", "fenced as ```text"),
        ("<!-- run: mesh -->\n```sh\nmake run\n```\n<!-- output -->\n```text\nx\n```\n", "output: mesh"),
        ("<!-- run -->\n```sh\nls\n```\n<!-- output -->\n```text\nx\n```\n<!-- output -->\n```text\ny\n```\n",
         "a second output block"),
        ("<!-- excerpt: services/gateway/app.py -->\n```python\n```\n", "path#region"),
    ],
)  # fmt: skip
def test_misplaced_or_malformed_markers_are_problems(markdown: str, problem: str) -> None:
    problems = parse("docs/page.md", markdown).problems
    assert any(problem in str(found) for found in problems), problems


def test_a_well_formed_page_has_no_problems() -> None:
    markdown = "<!-- run: fails -->\n```bash\nfalse\n```\n\n<!-- output -->\n```text\n```\n"
    assert parse("docs/page.md", markdown).problems == []


# --- check and sync on a small repository ---

APP = source(
    "def handler():",
    "    # docs-region: handler",
    "    span = start()",
    "    return span",
    "    # docs-endregion: handler",
)


def excerpt_page(body: str) -> str:
    return f"# Page\n\n<!-- excerpt: app.py#handler -->\n```python\n{body}```\n"


def test_sync_rewrites_an_excerpt_and_check_then_passes(tmp_path: Path) -> None:
    write(tmp_path, "app.py", APP)
    page = write(tmp_path, "docs/page.md", excerpt_page(""))
    [problem] = check(tmp_path)
    assert "docs/page.md:3: excerpt app.py#handler differs" in str(problem)
    assert sync(tmp_path) == (["docs/page.md"], [])
    assert page.read_text() == excerpt_page("span = start()\nreturn span\n")
    assert check(tmp_path) == []
    assert sync(tmp_path) == ([], [])  # nothing left to do


def test_an_excerpt_edited_by_hand_is_drift(tmp_path: Path) -> None:
    write(tmp_path, "app.py", APP)
    write(tmp_path, "docs/page.md", excerpt_page("span = start()\nreturn None\n"))
    [problem] = check(tmp_path)
    assert "differs from its region" in str(problem)
    assert "-return None" in str(problem)
    assert "+return span" in str(problem)


def test_a_drifted_excerpt_names_itself_its_region_and_the_command_that_resyncs_it(tmp_path: Path) -> None:
    write(tmp_path, "app.py", APP)
    write(tmp_path, "docs/page.md", excerpt_page("span = start()\nreturn None\n"))
    problems = check(tmp_path)
    [problem] = problems
    assert str(problem).startswith(
        "docs/page.md:3: excerpt app.py#handler differs from its region at app.py:2"
    )
    assert f"run `{SYNC_COMMAND}`" in str(problem)
    assert resync_hint(problems) == (
        "1 quoted region(s) changed since the docs were synced: app.py#handler. "
        f"If the change is meant, run `{SYNC_COMMAND}` and commit the pages it rewrites."
    )
    # The command named is the one that fixes it.
    assert SYNC_COMMAND == ".venv/bin/python -m tools.docscheck sync"
    assert main(["--root", str(tmp_path), "sync"]) == 0
    assert check(tmp_path) == []


def test_problems_other_than_drift_get_no_resync_hint(tmp_path: Path) -> None:
    write(tmp_path, "docs/page.md", "# Page\n\n[gone](missing.md)\n")
    problems = check(tmp_path)
    assert problems
    assert resync_hint(problems) == ""


def test_sync_indents_an_excerpt_inside_a_list(tmp_path: Path) -> None:
    write(tmp_path, "app.py", APP)
    page = write(tmp_path, "README.md", "- step\n\n  <!-- excerpt: app.py#handler -->\n  ```python\n  ```\n")
    sync(tmp_path)
    assert page.read_text() == (
        "- step\n\n  <!-- excerpt: app.py#handler -->\n  ```python\n  span = start()\n  return span\n  ```\n"
    )
    assert check(tmp_path) == []


@pytest.mark.parametrize(
    ("reference", "problem"),
    [("missing.py#handler", "does not exist"), ("app.py#nothing", "no complete region 'nothing'")],
)
def test_an_excerpt_of_a_missing_file_or_region_is_reported(
    tmp_path: Path, reference: str, problem: str
) -> None:
    write(tmp_path, "app.py", APP)
    write(tmp_path, "docs/page.md", f"<!-- excerpt: {reference} -->\n```python\n```\n")
    assert [problem in str(found) for found in check(tmp_path)] == [True]
    changed, problems = sync(tmp_path)
    assert changed == []
    assert len(problems) == 1


def test_sync_leaves_an_unclosed_fence_alone(tmp_path: Path) -> None:
    write(tmp_path, "app.py", APP)
    page = write(tmp_path, "docs/page.md", "<!-- excerpt: app.py#handler -->\n```python\n\n## Next\n")
    before = page.read_text()
    changed, problems = sync(tmp_path)
    assert changed == []
    assert "not closed" in str(problems[0])
    assert page.read_text() == before


def test_links_must_resolve_to_files_and_headings(tmp_path: Path) -> None:
    write(tmp_path, "deploy/README.md", "# Deploy\n\n## 快速开始\uff1a本地\n")
    write(
        tmp_path,
        "README.md",
        """
        # tracemesh

        [ok](deploy/README.md#快速开始本地)
        [encoded](deploy/README.md#%E5%BF%AB%E9%80%9F%E5%BC%80%E5%A7%8B%E6%9C%AC%E5%9C%B0)
        [folder](deploy) [self](#tracemesh) [web](https://example.com/x.md#nope) [mail](mailto:a@b.c)
        [missing](docs/nothing.md) [anchor](deploy/README.md#deploi) [outside](../elsewhere.md)
        <img src="docs/missing.png">
        """,
    )
    problems = [str(problem) for problem in check(tmp_path)]
    assert problems == [
        "README.md:6: broken link docs/nothing.md: docs/nothing.md does not exist",
        "README.md:6: no heading in deploy/README.md has the anchor #deploi (did you mean #deploy?)",
        "README.md:6: ../elsewhere.md points outside the repository",
        "README.md:7: broken link docs/missing.png: docs/missing.png does not exist",
    ]


def twin_pages(root: Path, en: str, zh: str) -> None:
    write(root, "docs/tutorial/en/01-first-trace.md", en)
    write(root, "docs/tutorial/zh/01-first-trace.md", zh)


EN = """
# 1. First trace

[中文](../zh/01-first-trace.md)

## Run it

<!-- run -->
```sh
curl -s http://127.0.0.1:8080/products
```

<!-- output -->
```text
[]
```

## Try it yourself

Prose.
"""

ZH = """
# 1. 第一个 trace

[English](../en/01-first-trace.md)

## 运行

先启动 mesh 再运行

<!-- run -->
```sh
curl -s http://127.0.0.1:8080/products
```

<!-- output -->
```text
[]
```

## 动手试试

说明。
"""


def test_twin_pages_in_step_pass(tmp_path: Path) -> None:
    twin_pages(tmp_path, EN, ZH)
    assert check(tmp_path) == []


@pytest.mark.parametrize(
    ("zh", "problem"),
    [
        (ZH.replace("## 动手试试", "动手试试"), "1 ## sections, docs/tutorial/en/01-first-trace.md has 2"),
        (ZH.replace("/products", "/products?x=1"), "runnable block 1 differs from the English one at"),
        (ZH.replace("<!-- run -->", "<!-- run: eventually -->"), "runnable block 1 differs"),
        (ZH.replace("[]", "[ ]"), "output block 1 differs"),
        (ZH.replace("<!-- output -->\n```text\n[]\n```\n", ""), "0 output blocks, docs/tutorial/en/01-first"),
        (ZH.replace("[English](../en/01-first-trace.md)", "English"), "does not link to its twin"),
    ],
)  # fmt: skip
def test_the_languages_must_match_except_for_prose(tmp_path: Path, zh: str, problem: str) -> None:
    twin_pages(tmp_path, EN, zh)
    problems = [str(found) for found in check(tmp_path)]
    assert any(problem in found and found.startswith("docs/tutorial/zh/") for found in problems), problems


def test_a_page_without_its_twin_is_reported(tmp_path: Path) -> None:
    write(tmp_path, "docs/tutorial/en/02-tracer-provider.md", "# 2\n")
    write(tmp_path, "docs/template.zh.md", "# 模板\n")
    problems = [str(found) for found in check(tmp_path)]
    assert problems == [
        "docs/tutorial/en/02-tracer-provider.md: has no Chinese twin docs/tutorial/zh/02-tracer-provider.md",
        "docs/template.zh.md: has no twin docs/template.md",
    ]


README_EN = """
# tracemesh

[中文](README.zh.md)

## Quick start

<!-- run -->
```sh
curl -s http://127.0.0.1:8080/products
```
"""

README_ZH = """
# tracemesh

[English](README.md)

## 快速上手

<!-- run -->
```sh
curl -s http://127.0.0.1:8080/products
```
"""


def test_a_chinese_readme_is_checked_as_the_readmes_twin(tmp_path: Path) -> None:
    write(tmp_path, "README.md", README_EN)
    write(tmp_path, "README.zh.md", README_ZH)
    assert check(tmp_path) == []
    write(tmp_path, "README.zh.md", README_ZH.replace("/products", "/orders") + "[坏链接](docs/nothing.md)\n")
    problems = [str(found) for found in check(tmp_path)]
    assert any(found.startswith("README.zh.md:8: runnable block 1 differs") for found in problems), problems
    assert any(found.startswith("README.zh.md:11: broken link docs/nothing.md") for found in problems), (
        problems
    )
    write(tmp_path, "README.zh.md", README_ZH.replace("[English](README.md)", "English"))
    problems = [str(found) for found in check(tmp_path)]
    assert "README.zh.md:1: its top does not link to its twin README.md" in problems


def test_an_english_readme_may_stand_alone_but_not_a_chinese_one(tmp_path: Path) -> None:
    write(tmp_path, "README.md", README_EN.replace("[中文](README.zh.md)", ""))
    assert check(tmp_path) == []
    (tmp_path / "README.md").unlink()
    write(tmp_path, "README.zh.md", README_ZH.replace("[English](README.md)", ""))
    assert [str(found) for found in check(tmp_path)] == ["README.zh.md: has no twin README.md"]


def test_check_finds_an_unterminated_region_anywhere_in_the_repository(tmp_path: Path) -> None:
    write(tmp_path, "services/app.py", source("x = 1", "# docs-region: forgotten", "y = 2"))
    write(tmp_path, "README.md", "# tracemesh\n")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    assert [str(found) for found in check(tmp_path)] == [
        "services/app.py:2: docs-region: forgotten has no docs-endregion: forgotten below it"
    ]


def test_the_command_line_exits_1_on_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, "README.md", "[gone](gone.md)\n")
    assert main(["--root", str(tmp_path), "check"]) == 1
    assert "README.md:1: broken link gone.md" in capsys.readouterr().out
    write(tmp_path, "gone.md", "# here\n")
    assert main(["--root", str(tmp_path), "check"]) == 0


# --- run: blocks, outputs and the mesh's output ---


def steps_of(root: Path, markdown: str, timeout: float = 5) -> list[tuple[str, str]]:
    """Runs every step of a page in `root` (no mesh); returns (status, detail) for each."""
    page = parse("docs/page.md", textwrap.dedent(markdown).lstrip("\n"))
    assert page.problems == []
    outcomes = [run_step(page, step, root, None, timeout) for step in page.steps]
    return [(outcome.status, outcome.detail) for outcome in outcomes]


def test_a_block_passes_when_its_output_has_the_shown_shape(tmp_path: Path) -> None:
    markdown = """
    <!-- run -->
    ```sh
    echo "trace $(printf 'ab%.0s' {1..16}) took 12 ms"
    echo done
    ```

    <!-- output -->
    ```text
    trace 4bf92f3577b34da6a3ce929d0e0e4736 took 3.5 ms
    ...
    ```
    """
    assert steps_of(tmp_path, markdown) == [("pass", "")]


def test_a_block_fails_on_other_output_a_non_zero_exit_or_a_timeout(tmp_path: Path) -> None:
    markdown = """
    <!-- run -->
    ```sh
    echo "HTTP/1.1 503 Service Unavailable"
    ```

    <!-- output -->
    ```text
    HTTP/1.1 201 Created
    ```

    <!-- run -->
    ```sh
    echo partial
    false
    echo never
    ```

    <!-- run -->
    ```sh
    sleep 30
    ```
    """
    (mismatch, detail), (exit_status, output), (slow, waited) = steps_of(tmp_path, markdown, timeout=1)
    assert mismatch == "fail"
    assert "-HTTP/<n> 201 Created" in detail
    assert "+HTTP/<n> 503 Service" in detail
    assert exit_status == "fail"
    assert "exited 1" in output
    assert "partial" in output
    assert "never" not in output
    assert slow == "fail"
    assert "timed out after 1 s" in waited


def test_what_a_block_leaves_running_is_stopped_with_it(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    markdown = f"<!-- run -->\n```sh\nsleep 60 >/dev/null 2>&1 &\necho $! > {pid_file}\n```\n"
    assert steps_of(tmp_path, markdown) == [("pass", "")]
    stat = Path(f"/proc/{pid_file.read_text().strip()}/stat")
    deadline = time.monotonic() + 5
    # Gone, or a zombie waiting to be reaped by its new parent.
    while stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z":
        assert time.monotonic() < deadline, "the block's background sleep still runs"
        time.sleep(0.05)


def test_run_fails_expects_a_non_zero_exit(tmp_path: Path) -> None:
    failing = (
        "<!-- run: fails -->\n```sh\necho refused; exit 3\n```\n<!-- output -->\n```text\nrefused\n```\n"
    )
    succeeding = "<!-- run: fails -->\n```sh\ntrue\n```\n"
    assert steps_of(tmp_path, failing) == [("pass", "")]
    [(status, detail)] = steps_of(tmp_path, succeeding)
    assert status == "fail"
    assert "exited 0 where the page says it fails" in detail


def test_run_eventually_retries_until_the_output_matches(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    markdown = f"""
    <!-- run: eventually -->
    ```sh
    echo x >> {counter}
    test "$(wc -l < {counter})" -ge 3 && echo ready || echo waiting
    ```

    <!-- output -->
    ```text
    ready
    ```
    """
    assert steps_of(tmp_path, markdown) == [("pass", "")]
    assert counter.read_text() == "x\nx\nx\n"
    unmarked = markdown.replace("<!-- run: eventually -->", "<!-- run -->")
    counter.unlink()
    assert steps_of(tmp_path, unmarked)[0][0] == "fail"


def test_run_gotools_runs_when_the_program_is_built_and_skips_or_fails_when_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    markdown = """
    <!-- run: gotools -->
    ```sh
    build/go/hello world
    ```

    <!-- output -->
    ```text
    world
    ```
    """
    monkeypatch.delenv("CI", raising=False)
    [(status, detail)] = steps_of(tmp_path, markdown)
    assert (status, detail) == ("skip", "needs build/go/hello: `make gotools` builds it (with Go)")
    monkeypatch.setenv("CI", "true")
    assert steps_of(tmp_path, markdown)[0][0] == "fail"
    program = tmp_path / "build" / "go" / "hello"
    program.parent.mkdir(parents=True)
    program.write_text('#!/bin/sh\necho "$1"\n')
    program.chmod(0o755)
    assert steps_of(tmp_path, markdown) == [("pass", "")]


def test_mesh_output_is_matched_against_what_the_mesh_printed_after_the_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "MESH_OUTPUT_SECONDS", 2.0)
    log = tmp_path / "mesh.log"
    log.write_text(
        f"21:44:20 waterfall | trace {'1' * 32}  6 spans\n21:44:20 waterfall | gateway GET /products\n"
    )
    markdown = """
    <!-- run -->
    ```sh
    true
    ```

    <!-- output: mesh -->
    ```text
    trace 81c9bd532e542f8d40f642d6c8c6f5af  10 spans  3 services  22.7 ms
    gateway    POST /orders    server     22.7 ms  UNSET   ████████
    ```
    """
    page = parse("docs/page.md", textwrap.dedent(markdown).lstrip("\n"))

    def print_waterfall() -> None:
        time.sleep(1)
        with log.open("a") as output:
            output.write(f"21:44:23 waterfall | trace {TRACE_ID}  10 spans  3 services  19.1 ms\n")
            output.write("21:44:23 waterfall | gateway  POST /orders  server  19.1 ms  UNSET  ██████\n")

    printer = threading.Thread(target=print_waterfall)
    printer.start()
    outcome = run_step(page, page.steps[0], tmp_path, MeshLog(log), timeout=5)
    printer.join()
    assert (outcome.status, outcome.detail) == ("pass", "")
    # The same lines printed before the block ran do not count.
    stale = run_step(page, page.steps[0], tmp_path, MeshLog(log), timeout=5)
    assert stale.status == "fail"
    assert "make run did not print the block" in stale.detail


def test_a_run_mesh_block_is_matched_against_the_whole_mesh_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "MESH_OUTPUT_SECONDS", 0.5)
    log = tmp_path / "mesh.log"
    log.write_text(
        "21:44:13 waterfall | waterfall: receiving OTLP/gRPC on 127.0.0.1:4317\n21:44:14 gateway | up\n"
    )
    shown = "<!-- run: mesh -->\n```sh\nmake run\n```\n<!-- output: mesh -->\n```text\n{}\n```\n"
    page = parse("docs/page.md", shown.format("waterfall: receiving OTLP/gRPC on 127.0.0.1:4317"))
    assert run_step(page, page.steps[0], tmp_path, MeshLog(log), timeout=5).status == "pass"
    page = parse("docs/page.md", shown.format("waterfall: receiving OTLP/HTTP"))
    assert run_step(page, page.steps[0], tmp_path, MeshLog(log), timeout=5).status == "fail"
    page = parse("docs/page.md", "<!-- run: mesh -->\n```sh\nmake run\n```\n")
    assert run_step(page, page.steps[0], tmp_path, None, timeout=5).status == "skip"


def test_strip_prefix_removes_only_the_process_managers_prefix() -> None:
    assert strip_prefix("21:44:23 waterfall | trace x | y") == "trace x | y"
    assert strip_prefix("21:44:23 gateway   | ") == ""
    assert strip_prefix("plain | text") == "plain | text"


# --- run: docker blocks are validated, never run ---


def test_commands_are_split_with_their_assignments() -> None:
    script = "A=1 docker compose up \\\n  -d && sudo kubectl apply -k x # comment\necho 'a;b' | wc -l\n"
    assert list(commands(script)) == [
        ({"A": "1"}, ["docker", "compose", "up", "-d"]),
        ({}, ["kubectl", "apply", "-k", "x"]),
        ({}, ["echo", "a;b"]),
        ({}, ["wc", "-l"]),
    ]


def test_docker_blocks_that_name_real_things_are_valid() -> None:
    script = (
        "docker compose up --build\n"
        "TRACEMESH_OTLP_ENDPOINT=http://otel-collector:4317 docker compose --profile collector up -d\n"
        "docker compose logs -f --tail 20 gateway orders inventory\n"
        "docker compose exec postgres psql -U tracemesh\n"
        "kubectl apply -k deploy/k8s/overlays/production\n"
        "kubectl -n tracemesh port-forward svc/gateway 8080 &\n"
        "docker build -t tracemesh:0.1.0 .\n"
    )
    assert validate(script, ROOT) == []


@pytest.mark.parametrize(
    ("script", "problem"),
    [
        ("docker compose up gateway checkout\n", "compose service 'checkout' is not in docker-compose.yml"),
        ("docker-compose --profile metrics up\n", "compose profile 'metrics' is not in"),
        ("docker compose -f deploy/compose.yml up\n", "deploy/compose.yml does not exist"),
        ("kubectl apply -k deploy/k8s/overlays/staging\n", "deploy/k8s/overlays/staging does not exist"),
        ("kustomize build deploy/nowhere\n", "deploy/nowhere does not exist"),
        ("docker compose up && (\n", "bash -n"),
    ],
)
def test_docker_blocks_that_name_missing_things_fail(script: str, problem: str) -> None:
    problems = validate(script, ROOT)
    assert any(problem in found for found in problems), problems
