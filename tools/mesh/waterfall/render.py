"""Draws one trace as an indented waterfall: who called whom, how long each took, and where it failed."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from tools.mesh.waterfall.receiver import ReceivedSpan

BAR_WIDTH = 32
_SERVICE_STYLES = ["cyan", "magenta", "green", "yellow", "blue", "red"]


def ordered(spans: list[ReceivedSpan]) -> list[tuple[int, ReceivedSpan]]:
    """Depth-first, children by start time; spans whose parent is not in the trace are roots."""
    ids = {span.span_id for span in spans}
    children: dict[str | None, list[ReceivedSpan]] = {}
    for span in spans:
        parent = span.parent_span_id if span.parent_span_id in ids else None
        children.setdefault(parent, []).append(span)
    result: list[tuple[int, ReceivedSpan]] = []

    def visit(parent: str | None, depth: int) -> None:
        for span in sorted(children.get(parent, []), key=lambda s: s.start_ns):
            result.append((depth, span))
            visit(span.span_id, depth + 1)

    visit(None, 0)
    return result


def render_trace(spans: list[ReceivedSpan]) -> Table:
    start = min(span.start_ns for span in spans)
    end = max(span.end_ns for span in spans)
    total = max(end - start, 1)
    services = sorted({span.service for span in spans})
    styles = {service: _SERVICE_STYLES[i % len(_SERVICE_STYLES)] for i, service in enumerate(services)}
    errors = sum(span.status == "ERROR" for span in spans)
    title = (
        f"trace {spans[0].trace_id}  {len(spans)} spans  {len(services)} services  {total / 1e6:.1f} ms"
        + (f"  {errors} error(s)" if errors else "")
    )
    table = Table(title=title, title_justify="left", box=None, pad_edge=False, show_header=True)
    table.add_column("service")
    table.add_column("span")
    table.add_column("kind")
    table.add_column("duration", justify="right")
    table.add_column("status")
    table.add_column("timeline", no_wrap=True)
    for depth, span in ordered(spans):
        offset = int((span.start_ns - start) / total * BAR_WIDTH)
        length = max(1, round((span.end_ns - span.start_ns) / total * BAR_WIDTH))
        length = min(length, BAR_WIDTH - offset) or 1
        bar_style = "red" if span.status == "ERROR" else styles[span.service]
        table.add_row(
            Text(span.service, style=styles[span.service]),
            Text("  " * depth + span.name),
            span.kind.lower(),
            f"{span.duration_ms:.1f} ms",
            Text(span.status, style="bold red" if span.status == "ERROR" else "dim"),
            Text(" " * offset + "█" * length, style=bar_style),
        )
    return table
