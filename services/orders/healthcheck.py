"""`python -m orders.healthcheck`: exits 0 when orders reports SERVING on the gRPC health service.

For container healthchecks where no grpc_health_probe binary exists (Kubernetes uses its native gRPC probe).
"""

from __future__ import annotations

import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from orders.settings import OrdersSettings


def main() -> int:
    port = OrdersSettings().port
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            response = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=3)
    except grpc.RpcError as error:
        print(f"orders health check failed: {error.code().name}", file=sys.stderr)
        return 1
    return 0 if response.status == health_pb2.HealthCheckResponse.SERVING else 1


if __name__ == "__main__":
    sys.exit(main())
