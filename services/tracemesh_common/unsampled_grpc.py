"""The gRPC side of the fast path for unsampled requests (unsampled.py): a server interceptor that takes the
decision and calls the instrumentation for sampled calls only, and a client channel that sends an unsampled
call around the instrumentation, its context in the call's metadata."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from opentelemetry.propagators.textmap import default_getter
from opentelemetry.trace import SpanKind

from tracemesh_common.unsampled import Decided, Decider, injected_headers, is_unsampled


class GrpcEntry(grpc.aio.ServerInterceptor):
    """The gRPC server instrumentation behind the sampling decision: each call is decided from its metadata;
    a sampled one goes through the instrumentation, an unsampled one skips it (no interceptor of its own to
    step through) and its handler runs in the unsampled context."""

    def __init__(
        self,
        decider: Decider,
        instrumentation: grpc.aio.ServerInterceptor,
        traced: Callable[[grpc.HandlerCallDetails], bool],
    ) -> None:
        self._decider = decider
        self._instrumentation = instrumentation
        self._traced = traced  # the calls worth a trace: the others skip the instrumentation and the decision

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Any],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        if not self._traced(handler_call_details):
            return await continuation(handler_call_details)
        # Keys in gRPC metadata are lowercase; the last of a repeated key wins, as in the instrumentation.
        metadata = dict(handler_call_details.invocation_metadata or ())
        decided = self._decider.decide(metadata, default_getter, handler_call_details.method, SpanKind.SERVER)
        if decided is None:
            return await self._instrumentation.intercept_service(continuation, handler_call_details)
        if decided.unsampled is None:  # a sampled root: its span takes the trace id decided on
            handler = await self._instrumentation.intercept_service(continuation, handler_call_details)
        else:
            handler = await continuation(handler_call_details)
        return None if handler is None else _run_in(handler, decided)


def _run_in(handler: grpc.RpcMethodHandler, decided: Decided) -> grpc.RpcMethodHandler:
    """The same handler, its behaviour run inside the decided context."""
    if handler.request_streaming and handler.response_streaming:
        kind, make = "stream_stream", grpc.stream_stream_rpc_method_handler
    elif handler.response_streaming:
        kind, make = "unary_stream", grpc.unary_stream_rpc_method_handler
    elif handler.request_streaming:
        kind, make = "stream_unary", grpc.stream_unary_rpc_method_handler
    else:
        kind, make = "unary_unary", grpc.unary_unary_rpc_method_handler
    behavior = getattr(handler, kind)
    wrapped: Callable[..., Any]
    if inspect.isasyncgenfunction(behavior):

        async def streamed(request: Any, servicer_context: Any) -> AsyncIterator[Any]:
            with decided.entered():
                async for response in behavior(request, servicer_context):
                    yield response

        wrapped = streamed
    else:

        async def awaited(request: Any, servicer_context: Any) -> Any:
            with decided.entered():
                return await behavior(request, servicer_context)

        wrapped = awaited
    return make(
        wrapped,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


# --- gRPC client --------------------------------------------------------------------------------------


class SplitChannel(grpc.aio.Channel):
    """Two channels to one address behind one: a call in a sampled (or undecided) request goes through the
    instrumented channel, a call in an unsampled request through a plain one, its context written into the
    metadata. grpc.aio runs every call on a channel with interceptors through its interception machinery
    (about 0.1 ms of CPU a call here) even when each interceptor steps aside, as the suppressed
    instrumentation does."""

    def __init__(self, traced: grpc.aio.Channel, plain: grpc.aio.Channel) -> None:
        self._traced, self._plain = traced, plain
        self._both = (traced, plain)

    async def __aenter__(self) -> SplitChannel:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self, grace: float | None = None) -> None:
        await self._traced.close(grace)
        await self._plain.close(grace)

    def get_state(self, try_to_connect: bool = False) -> grpc.ChannelConnectivity:
        return self._traced.get_state(try_to_connect)

    async def wait_for_state_change(self, last_observed_state: grpc.ChannelConnectivity) -> None:
        await self._traced.wait_for_state_change(last_observed_state)

    async def channel_ready(self) -> None:
        await self._traced.channel_ready()

    # The four kinds of call a stub asks for: each one method on both channels.
    def unary_unary(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return _Either(*(channel.unary_unary(method, *args, **kwargs) for channel in self._both))

    def unary_stream(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return _Either(*(channel.unary_stream(method, *args, **kwargs) for channel in self._both))

    def stream_unary(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return _Either(*(channel.stream_unary(method, *args, **kwargs) for channel in self._both))

    def stream_stream(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return _Either(*(channel.stream_stream(method, *args, **kwargs) for channel in self._both))


class _Either:
    """One method on both channels; each call takes the way its request's sampling decision says."""

    def __init__(self, traced: Callable[..., Any], plain: Callable[..., Any]) -> None:
        self._traced, self._plain = traced, plain

    def __call__(self, request: Any, *, metadata: Any = None, **kwargs: Any) -> Any:
        if not is_unsampled():
            return self._traced(request, metadata=metadata, **kwargs)
        # The suppressed instrumentation would not write traceparent, tracestate and baggage: written here.
        carried = grpc.aio.Metadata(*(metadata or ()), *injected_headers().items())
        return self._plain(request, metadata=carried, **kwargs)
