"""Log lines that carry the trace: every record gets trace_id and span_id from the current span."""

from __future__ import annotations

import logging
import re
import sys

# docs-region: log-format
# otelTraceID/otelSpanID are added to every record by LoggingInstrumentor. The defaults keep the format
# valid when tracing is off (OTEL_SDK_DISABLED=true) and nothing adds them.
LOG_FORMAT = (
    "%(asctime)s %(levelname)-5s %(name)s trace_id=%(otelTraceID)s span_id=%(otelSpanID)s %(message)s"
)
_NO_TRACE = {"otelTraceID": "0" * 32, "otelSpanID": "0" * 16}
# docs-endregion: log-format
# Characters that would end a log line or steer a terminal: escaped wherever they come from.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# A message longer than this is cut: a caller's 8 KB header must not become 8 KB of log per request.
MAX_MESSAGE = 2000


class OneLineFormatter(logging.Formatter):
    """Keeps each log record's message on its line, and short. A message may carry text from outside (a
    library logging a caller's malformed header, say): its control characters are written escaped, so
    nobody can forge a log line or send escape sequences to whoever reads the log, and it is cut at
    MAX_MESSAGE characters. Tracebacks keep their lines (and are written as they are)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        message = _CONTROL.sub(lambda match: repr(match.group())[1:-1], record.message)
        if len(message) > MAX_MESSAGE:
            message = f"{message[:MAX_MESSAGE]}... ({len(message) - MAX_MESSAGE} more characters)"
        record.message = message
        return super().formatMessage(record)


def configure_logging(level: str = "INFO") -> None:
    """Sends every logger, uvicorn's and grpc's included, to stderr in the trace-carrying format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(OneLineFormatter(LOG_FORMAT, defaults=_NO_TRACE))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        # uvicorn installs handlers of its own; route its records through the root handler instead.
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True


def inject_trace_ids() -> None:
    """Adds the current trace and span ids to every log record (process-wide, done once)."""
    # Imported here: with tracing off (OTEL_SDK_DISABLED=true) nothing calls this, and the import is 3 MiB.
    from opentelemetry.instrumentation.logging import LoggingInstrumentor

    # docs-region: inject-trace-ids
    instrumentor = LoggingInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        # inject_trace_context: since contrib 0.61b0 ids are not injected unless asked for.
        # enable_log_auto_instrumentation=False: no OTLP log handler on the root logger; Jaeger takes
        # traces only, and the logs stay on stderr.
        instrumentor.instrument(inject_trace_context=True, enable_log_auto_instrumentation=False)
        # docs-endregion: inject-trace-ids
