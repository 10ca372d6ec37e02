"""The fast path's decision against the SDK's own, for each OTEL_TRACES_SAMPLER value: the request a service
decides to leave out is one the SDK would have dropped, and a sampled one keeps its trace id."""

from __future__ import annotations

import pytest
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import default_getter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind

from tracemesh_common.settings import TelemetrySettings
from tracemesh_common.tracing import setup_telemetry
from tracemesh_common.unsampled import Decided, Decider, is_unsampled

# A trace id TraceIdRatioBased keeps at 0.5 (its low 64 bits below 2**63), and one it drops.
KEPT_AT_HALF = "4bf92f3577b34da60000000000000001"
DROPPED_AT_HALF = "4bf92f3577b34da6ff00000000000001"
SAMPLERS = [
    ("always_on", ""),
    ("always_off", ""),
    ("traceidratio", "0.5"),
    ("parentbased_always_on", ""),
    ("parentbased_always_off", ""),
    ("parentbased_traceidratio", "0.5"),
]
CALLERS = {
    "root": {},
    "sampled caller, kept id": {"traceparent": f"00-{KEPT_AT_HALF}-00f067aa0ba902b7-01"},
    "sampled caller, dropped id": {"traceparent": f"00-{DROPPED_AT_HALF}-00f067aa0ba902b7-01"},
    "unsampled caller, kept id": {"traceparent": f"00-{KEPT_AT_HALF}-00f067aa0ba902b7-00"},
    "unsampled caller, dropped id": {"traceparent": f"00-{DROPPED_AT_HALF}-00f067aa0ba902b7-00"},
}


def provider_for(monkeypatch: pytest.MonkeyPatch, sampler: str, argument: str) -> TracerProvider:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", sampler)
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", argument)
    settings = TelemetrySettings(sdk_disabled=False, traces_exporter="none")
    provider = setup_telemetry("orders", settings, span_processors=[], set_global=False).tracer_provider
    assert provider is not None
    return provider


def sdk_span(provider: TracerProvider, carrier: dict[str, str], decided: Decided | None) -> trace.Span:
    """The server span the instrumentation would start; for a root, with the trace id that was decided on."""
    parent = propagate.extract(carrier, Context())
    tracer = provider.get_tracer("test")
    if decided is None:
        return tracer.start_span("GET", parent, kind=SpanKind.SERVER)
    if decided.unsampled is not None:  # a root left out still has its trace id: the SDK's span gets it too
        decided = Decided(root_trace_id=trace.get_current_span(decided.unsampled).get_span_context().trace_id)
    with decided.entered():
        return tracer.start_span("GET", parent, kind=SpanKind.SERVER)


@pytest.mark.parametrize(("sampler", "argument"), SAMPLERS, ids=[name for name, _ in SAMPLERS])
@pytest.mark.parametrize("caller", CALLERS)
def test_the_decision_is_the_sdks(
    monkeypatch: pytest.MonkeyPatch, sampler: str, argument: str, caller: str
) -> None:
    provider = provider_for(monkeypatch, sampler, argument)
    carrier = CALLERS[caller]
    for _ in range(20):  # a root's trace id is new each time: a ratio sampler answers both ways
        decided = Decider(provider).decide(carrier, default_getter, "GET", SpanKind.SERVER)
        span = sdk_span(provider, carrier, decided)
        if decided is not None and decided.unsampled is not None:
            # Left out: the SDK drops a span with this trace id and parent too, and the fast path's context
            # looks like the one the SDK would have made.
            fast = trace.get_current_span(decided.unsampled).get_span_context()
            assert not span.is_recording()
            assert fast.trace_id == span.get_span_context().trace_id
            assert fast.trace_flags == span.get_span_context().trace_flags
            assert not fast.trace_flags.sampled
        else:
            assert span.is_recording() or caller == "root"
            if decided is not None:  # a sampled root: the instrumentation's span takes the decided id
                assert span.is_recording()
                assert span.get_span_context().trace_id == decided.root_trace_id
                assert span.parent is None
        span.end()


def test_injection_is_for_unsampled_contexts_only(monkeypatch: pytest.MonkeyPatch) -> None:
    provider = provider_for(monkeypatch, "parentbased_always_off", "")
    decided = Decider(provider).decide({}, default_getter, "GET", SpanKind.SERVER)
    assert decided is not None
    assert not is_unsampled()
    with decided.entered():
        assert is_unsampled()
    assert not is_unsampled()
