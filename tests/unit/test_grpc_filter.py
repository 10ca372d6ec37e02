"""Which gRPC calls the instrumentation traces, on the server's and the client's call details alike."""

from __future__ import annotations

import grpc
import pytest

from tracemesh_common.tracing import traced_grpc_call


class ServerDetails:
    """What grpc.aio hands a server interceptor: an object with the full method name as text."""

    def __init__(self, method: str) -> None:
        self.method = method
        self.invocation_metadata = ()


@pytest.mark.parametrize(
    ("method", "traced"),
    [
        ("/tracemesh.orders.v1.OrderService/CreateOrder", True),
        ("/tracemesh.orders.v1.OrderService/GetOrder", True),
        ("/grpc.health.v1.Health/Check", False),
        ("/grpc.health.v1.Health/Watch", False),
        ("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", False),
        ("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", False),
        # A service whose name only starts like the health service's is a service of its own.
        ("/grpc.health.v1.HealthReport/Get", True),
    ],
)
def test_health_checks_and_reflection_are_not_traced(method: str, traced: bool) -> None:
    assert traced_grpc_call(ServerDetails(method)) is traced
    # The client's call details, whose method grpc.aio may give as bytes.
    for name in (method, method.encode()):
        assert traced_grpc_call(grpc.aio.ClientCallDetails(name, None, None, None, None)) is traced
