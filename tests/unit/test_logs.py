"""Log lines stay one line each, whatever text from outside a message carries."""

from __future__ import annotations

import logging
import sys

import pytest

from tracemesh_common.logs import LOG_FORMAT, MAX_MESSAGE, OneLineFormatter


@pytest.mark.parametrize(
    ("hostile", "written"),
    [
        ("a\nINFO forged line", "a\\nINFO forged line"),
        ("carriage\rreturn", "carriage\\rreturn"),
        ("\x1b[31mred", "\\x1b[31mred"),
        ("line\u2028separator", "line\\u2028separator"),
        ("nul\x00", "nul\\x00"),
        ("plain ünïcode and tabs\tare kept escaped", "plain ünïcode and tabs\\tare kept escaped"),
    ],
)
def test_control_characters_in_a_message_are_escaped(hostile: str, written: str) -> None:
    formatter = OneLineFormatter(LOG_FORMAT, defaults={"otelTraceID": "0" * 32, "otelSpanID": "0" * 16})
    record = logging.LogRecord(
        "opentelemetry.baggage", logging.WARNING, __file__, 1, "header %s", (hostile,), None
    )
    line = formatter.format(record)
    assert line.endswith(f"header {written}")
    assert "\n" not in line


def test_a_traceback_keeps_its_lines() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), exc_info=sys.exc_info())
    line = OneLineFormatter("%(message)s").format(record)
    assert line.startswith("failed\nTraceback (most recent call last):")


def test_a_long_message_is_cut() -> None:
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "header %s", ("v" * 9000,), None)
    line = OneLineFormatter("%(message)s").format(record)
    assert len(line) < MAX_MESSAGE + 100
    assert line.endswith("... (7007 more characters)")
