"""The demo's check of the Jaeger UI: its probe over real sockets (an answer counts only when it is a success
in time), and its cached answer (one probe every few seconds however many ask; a later Jaeger is seen)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.support import JAEGER_UI_STAND_IN, free_port, serve_app
from tracemesh_demo.jaeger_ui import JaegerUiCheck, http_probe


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A server that accepts connections and never answers (a hung process, a black-holed proxy)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def answering(status: int) -> Starlette:
    async def root(_request: object) -> Response:
        if 300 <= status < 400:
            return RedirectResponse("/search", status_code=status)
        return PlainTextResponse("", status_code=status)

    return Starlette(routes=[Route("/", root)])


async def test_a_jaeger_ui_that_answers_is_seen() -> None:
    with serve_app(JAEGER_UI_STAND_IN) as url:
        assert await http_probe(url)()
        assert await http_probe(url + "/")()


@pytest.mark.parametrize(("status", "seen"), [(200, True), (302, True), (404, False), (503, False)])
async def test_only_a_success_or_a_redirect_counts(status: int, seen: bool) -> None:
    with serve_app(answering(status)) as url:
        assert await http_probe(url)() is seen


async def test_nothing_listening_is_no_answer() -> None:
    assert await http_probe(f"http://127.0.0.1:{free_port()}")() is False


async def test_a_server_that_never_answers_is_no_answer_once_the_timeout_is_up(silent_server: str) -> None:
    # The outer limit only turns a probe that would hang into a failure; the probe's own timeout must end it.
    assert await asyncio.wait_for(http_probe(silent_server, timeout=0.1)(), timeout=10) is False


@pytest.mark.parametrize("url", ["", "jaeger:16686", "http://", "ftp://127.0.0.1:16686"])
async def test_a_url_that_cannot_be_fetched_is_no_answer(url: str) -> None:
    assert await http_probe(url)() is False


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Probe:
    """Answers what the test set, counting the times it was asked."""

    def __init__(self, answer: bool) -> None:
        self.answer = answer
        self.calls = 0

    async def __call__(self) -> bool:
        self.calls += 1
        return self.answer


async def test_an_answer_is_kept_until_it_is_recheck_seconds_old() -> None:
    clock, probe = Clock(), Probe(answer=False)
    check = JaegerUiCheck(probe, recheck_seconds=5, clock=clock)
    assert await check.answers() is False
    # Jaeger starts: the page goes on without links until the answer is old enough to ask again.
    probe.answer = True
    clock.now += 4.9
    assert await check.answers() is False
    assert probe.calls == 1
    clock.now += 0.1
    assert await check.answers() is True
    assert probe.calls == 2
    # And the other way: Jaeger stops, the links stop after the next check.
    probe.answer = False
    clock.now += 1
    assert await check.answers() is True
    clock.now += 4
    assert await check.answers() is False
    assert probe.calls == 3


async def test_callers_arriving_during_a_check_share_its_answer() -> None:
    release = asyncio.Event()
    calls = 0

    async def slow_probe() -> bool:
        nonlocal calls
        calls += 1
        await release.wait()
        return True

    check = JaegerUiCheck(slow_probe, recheck_seconds=5, clock=Clock())
    waiting = asyncio.gather(*(check.answers() for _ in range(10)))
    await asyncio.sleep(0)
    release.set()
    assert await waiting == [True] * 10
    assert calls == 1
