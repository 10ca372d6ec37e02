"""`python -m shipping.healthcheck`: exits 0 when shipping reports SERVING on the gRPC health service (the
compose healthcheck; Kubernetes probes the same service natively)."""

from __future__ import annotations

import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from shipping.settings import ShippingSettings


def main() -> int:
    address = f"127.0.0.1:{ShippingSettings().port}"
    try:
        with grpc.insecure_channel(address) as channel:
            answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=3)
    except grpc.RpcError as error:
        print(f"shipping health check failed: {error.code().name}", file=sys.stderr)
        return 1
    return 0 if answer.status == health_pb2.HealthCheckResponse.SERVING else 1


if __name__ == "__main__":
    sys.exit(main())
