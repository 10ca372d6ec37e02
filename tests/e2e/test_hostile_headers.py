"""Hostile trace headers at the edge, sent byte for byte to the real gateway: the request is served (or
refused by the HTTP parser itself), the bad context is ignored, and nothing of it reaches a log line raw."""

from __future__ import annotations

import re
import socket
from urllib.parse import urlsplit

import httpx
import pytest

from devrun.mesh import Mesh

ORDER = b'{"sku": "STICKER-3", "quantity": 1}'
CALLER = "4bf92f3577b34da6a3ce929d0e0e4736"
# The W3C limits: tracestate at most 32 members, baggage at most 8192 bytes and 180 members.
HOSTILE: dict[str, list[tuple[str, bytes]]] = {
    "oversized traceparent": [("traceparent", f"00-{CALLER}-00f067aa0ba902b7-01".encode() + b"0" * 20_000)],
    "traceparent of the wrong version": [("traceparent", f"ff-{CALLER}-00f067aa0ba902b7-01".encode())],
    "all-zero trace id": [("traceparent", b"00-" + b"0" * 32 + b"-00f067aa0ba902b7-01")],
    "tracestate past its member limit": [
        ("traceparent", f"00-{CALLER}-00f067aa0ba902b7-01".encode()),
        ("tracestate", b",".join(b"k%d=v" % i for i in range(100))),
    ],
    "baggage past its size limit": [("baggage", b"tracemesh.big=" + b"v" * 9000)],
    "baggage past its member limit": [
        ("baggage", b",".join(b"k%d=v" % i for i in range(500)) + b",tracemesh.late=v")
    ],
    "baggage with encoded escape sequences": [
        ("baggage", b"tracemesh.x=%1B%5B31m%0Aforged,bad key=v,tracemesh.bad key=v")
    ],
    "control bytes in a header": [("traceparent", b"00-\x7f\x1b[31m-01")],
    "many duplicate traceparents": [
        ("traceparent", f"00-{CALLER}-{i:016x}-01".encode()) for i in range(1, 101)
    ],
    "x-trace-id of the wrong shape": [("x-trace-id", f"{CALLER}/../../etc/passwd".encode() + b"A" * 5000)],
    "obs-text in headers": [
        ("traceparent", f"00-{CALLER}-00f067aa0ba902b7-01".encode() + b"\xff\xfe"),
        ("baggage", b"k=\xc3\x28,tracemesh.obs=\xc3\x28"),
    ],
}
# The trace id each trace-context case offers: a parser that took what looks like one (a prefix, a field of
# a malformed header, an id beside bytes HTTP does not allow) would continue it. The baggage cases offer none.
OFFERED = {case: CALLER for case in HOSTILE if not case.startswith("baggage")} | {
    "all-zero trace id": "0" * 32
}
# Baggage keys that arrive only beyond a limit, malformed, or not ASCII: no span may carry them.
DROPPED_BAGGAGE = {
    "baggage past its size limit": "tracemesh.big",
    "baggage past its member limit": "tracemesh.late",
    "baggage with encoded escape sequences": "tracemesh.bad key",
    "obs-text in headers": "tracemesh.obs",
}
SERVICES = {"gateway", "orders", "inventory"}


@pytest.fixture(scope="module")
def mesh(sqlite_mesh: Mesh) -> Mesh:
    return sqlite_mesh  # headers are handled before any database is involved


def send_raw(url: str, headers: list[tuple[str, bytes]]) -> tuple[int, dict[str, str]]:
    """POST /orders with exactly these header bytes (an HTTP client would refuse to send some of them)."""
    address = urlsplit(url)
    request = b"POST /orders HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
    request += b"".join(name.encode() + b": " + value + b"\r\n" for name, value in headers)
    request += b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(ORDER) + ORDER
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head = received.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    status = int(head[0].split()[1])
    return status, {line.split(":", 1)[0].lower(): line.split(":", 1)[1].strip() for line in head[1:]}


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_trace_headers_are_ignored_and_the_request_is_served(mesh: Mesh, case: str) -> None:
    status, headers = send_raw(mesh.gateway_url, HOSTILE[case])
    # Served; bytes that HTTP forbids in a header are refused by the HTTP parser before any code of ours.
    assert status == (400 if case == "control bytes in a header" else 201), case
    if status == 201:
        trace_id = headers["traceresponse"].split("-")[1]
        assert re.fullmatch(r"[0-9a-f]{32}", trace_id)
        if case == "tracestate past its member limit":
            assert trace_id == CALLER  # the traceparent is valid: continued, and the tracestate dropped
        # Of many traceparents OpenTelemetry continues the first, where the W3C test suite expects a new
        # trace: a known departure, left unpinned here.
        elif case != "many duplicate traceparents":
            assert trace_id != CALLER  # the caller's malformed context was not adopted
            assert trace_id != OFFERED.get(case)
        # The request was served end to end, in one trace.
        spans = mesh.trace(trace_id, lambda spans: {s.service for s in spans} == SERVICES)
        assert {span.service for span in spans} == SERVICES
        if case == "tracestate past its member limit":
            assert {span.trace_state for span in spans} == {""}  # dropped whole, not cut or passed on
        # What the baggage rules refuse reaches no span.
        keys = {key for span in spans for key in span.attributes}
        assert DROPPED_BAGGAGE.get(case) not in keys
        assert not [key for key in keys if any(c.isspace() or not c.isprintable() for c in key)]
    # The mesh still answers, and no log line carries the hostile bytes raw, or all of a huge header.
    assert httpx.get(f"{mesh.gateway_url}/readyz", timeout=5).status_code == 200
    for service in ("gateway", "orders", "inventory"):
        log = mesh.log(service)
        assert max(map(len, log.splitlines())) < 2500
        assert "\x1b" not in log
        assert "\x7f" not in log
        assert not any(line.startswith("forged") for line in log.splitlines())
