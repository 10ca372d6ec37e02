"""The committed gRPC code must be what protoc makes of protos/ today."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROTO = "tracemesh/orders/v1/orders.proto"


def test_generated_code_is_fresh(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{ROOT / 'protos'}",
            f"--python_out={tmp_path}",
            f"--pyi_out={tmp_path}",
            f"--grpc_python_out={tmp_path}",
            PROTO,
        ],
        check=True,
    )
    generated = sorted((tmp_path / "tracemesh/orders/v1").glob("orders_pb2*"))
    assert [path.name for path in generated] == ["orders_pb2.py", "orders_pb2.pyi", "orders_pb2_grpc.py"]
    for path in generated:
        committed = ROOT / "services/tracemesh/orders/v1" / path.name
        assert committed.read_text() == path.read_text(), f"{committed} is stale: run `make protos`"
