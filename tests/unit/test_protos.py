"""The committed gRPC code must be what protoc makes of every .proto under protos/ today, and nothing else."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ROOT / "services"
SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def protos() -> list[str]:
    """Every contract, by its import path (tracemesh/orders/v1/orders.proto): what `make protos` compiles."""
    return sorted(path.relative_to(ROOT / "protos").as_posix() for path in (ROOT / "protos").rglob("*.proto"))


def test_every_proto_is_compiled() -> None:
    # The orders contract and the template guide's backend example, at least: a glob that found nothing
    # would make the freshness check below pass on nothing.
    assert {"tracemesh/orders/v1/orders.proto", "tracemesh/shipping/v1/shipping.proto"} <= set(protos())
    makefile = (ROOT / "Makefile").read_text()
    assert "PROTOS := $(sort $(shell find protos -name '*.proto'))" in makefile


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
            *protos(),
        ],
        check=True,
    )
    for proto in protos():
        stem = proto.removesuffix(".proto")
        for suffix in SUFFIXES:
            fresh = tmp_path / f"{stem}{suffix}"
            committed = GENERATED / f"{stem}{suffix}"
            assert committed.is_file(), f"{committed} is missing: run `make protos`"
            assert committed.read_text() == fresh.read_text(), f"{committed} is stale: run `make protos`"


def test_no_generated_code_outlives_its_proto() -> None:
    expected = {f"{proto.removesuffix('.proto')}{suffix}" for proto in protos() for suffix in SUFFIXES}
    committed = {
        path.relative_to(GENERATED).as_posix()
        for suffix in SUFFIXES
        for path in (GENERATED / "tracemesh").rglob(f"*{suffix}")
    }
    # A .proto deleted (the example's, say) leaves its modules behind unless they go with it.
    assert committed == expected


def test_each_generated_folder_is_a_package() -> None:
    for proto in protos():
        folder = GENERATED / Path(proto).parent
        while folder != GENERATED:
            assert (folder / "__init__.py").is_file(), f"{folder} has no __init__.py: run `make protos`"
            folder = folder.parent
