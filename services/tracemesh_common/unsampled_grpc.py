"""The gRPC side of the fast path for unsampled requests (unsampled.py): a server interceptor that takes the
decision in front of the instrumentation, and client interceptors that carry an unsampled call's context."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from opentelemetry.propagators.textmap import default_getter
from opentelemetry.trace import SpanKind

from tracemesh_common.unsampled import Decided, Decider, injected_headers, is_unsampled


class GrpcEntry(grpc.aio.ServerInterceptor):
    """Goes in front of the gRPC server instrumentation: decides each call from its metadata, and runs the
    handler of an unsampled one in the unsampled context, which the instrumentation then leaves alone."""

    def __init__(self, decider: Decider, traced: Callable[[grpc.HandlerCallDetails], bool]) -> None:
        self._decider = decider
        self._traced = traced  # the instrumentation's filter: calls it does not trace are not decided

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
            return await continuation(handler_call_details)
        with decided.entered():  # the instrumentation decides whether to wrap the handler now
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


def _with_context(details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
    if not is_unsampled():
        return details
    metadata = grpc.aio.Metadata(*(details.metadata or ()), *injected_headers().items())
    return grpc.aio.ClientCallDetails(
        details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
    )


class _UnaryUnary(grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(_with_context(details), request)


class _UnaryStream(grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(_with_context(details), request)


class _StreamUnary(grpc.aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(self, continuation: Any, details: Any, requests: Any) -> Any:
        return await continuation(_with_context(details), requests)


class _StreamStream(grpc.aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(self, continuation: Any, details: Any, requests: Any) -> Any:
        return await continuation(_with_context(details), requests)


def grpc_injectors() -> list[Any]:
    """Client interceptors, one per kind of call, that write an unsampled call's context into its metadata
    (the suppressed instrumentation writes it for a sampled one). They go first on the channel."""
    return [_UnaryUnary(), _UnaryStream(), _StreamUnary(), _StreamStream()]
