"""A small OTLP/gRPC trace receiver that keeps spans in memory and prints each trace as a waterfall.

`make run` starts it where the services export by default (localhost:4317); the end-to-end tests run the
same receiver on a free port and assert on what it received.
"""

from tools.mesh.waterfall.receiver import ReceivedSpan, SpanStore, start_receiver
from tools.mesh.waterfall.render import render_trace

__all__ = ["ReceivedSpan", "SpanStore", "render_trace", "start_receiver"]
