"""`python -m tools.names`: every place the project's name is written is listed, under the kind it is."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tools.names.search import descriptions, files, places, project_name

ROOT = Path(__file__).resolve().parents[2]

# One line of a small tree per kind, named "acme" as a fork might be.
SAMPLES = {
    "pyproject.toml": ('name = "acme"', "distribution"),
    "settings.py": ('    return version("acme")', "distribution"),
    "plan.py": ('    wanted = environ.get("ACME_WATERFALL", "auto")', "environment variables"),
    "orders.proto": ("package acme.orders.v1;", "proto package"),
    "client.py": ("from acme.orders.v1 import orders_pb2", "proto package"),
    "app.py": ("from acme_common.tracing import setup_telemetry", "packages"),
    "Dockerfile": ("RUN python -m venv /opt/acme", "image"),
    "docker-compose.yml": ("  image: acme:0.1.0", "image"),
    "deploy/kustomization.yaml": ("  - name: acme", "image"),
    "deploy/base/kustomization.yaml": ("namespace: acme", "namespace"),
    "deploy/namespace.yaml": ("  name: acme", "namespace"),
    "deploy/labels/kustomization.yaml": ("      app.kubernetes.io/part-of: acme", "labels"),
    "tracing.py": ('BAGGAGE_PREFIX = "acme."', "attributes, baggage and metadata keys"),
    "service.py": ('    span.set_attribute("acme.sku", sku)', "attributes, baggage and metadata keys"),
    "servicer.py": ('ERROR_CODE_KEY = "acme-error-code"', "attributes, baggage and metadata keys"),
    "secret.yaml": ("  URL: postgresql+asyncpg://acme:CHANGE-ME@postgres:5432/orders", "database role"),
    "README.md": ("# Acme, a fork", "other mentions"),
}


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    for path, (line, _) in SAMPLES.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(f"{line}\n")
    return tmp_path


def test_each_kind_of_place_is_told_apart(sample: Path) -> None:
    found = places(sample, sorted(SAMPLES), "acme", services=["orders"])
    kinds = {place.path: place.kind for place in found if place.kind != "service names"}
    assert kinds == {path: kind for path, (_, kind) in SAMPLES.items()}
    # Every kind the tool lists is one this sample covers, and the service names besides.
    assert set(descriptions("acme", ["orders"])) == {kind for _, kind in SAMPLES.values()} | {"service names"}


def test_a_line_is_listed_once_per_kind_and_services_have_their_own_kind(tmp_path: Path) -> None:
    (tmp_path / "compose.yml").write_text(
        "      ORDERS_DATABASE_URL: postgresql+asyncpg://acme:x@postgres:5432/orders  # acme's own\n"
        "      OTEL_SERVICE_NAME: orders\n"
    )
    found = places(tmp_path, ["compose.yml"], "acme", services=["orders"])
    assert [(place.line, place.kind) for place in found] == [
        (1, "database role"),
        (1, "other mentions"),
        (1, "service names"),
        (2, "service names"),
    ]


def test_in_the_repository_every_kind_is_found_where_it_is_known_to_be() -> None:
    name = project_name(ROOT)
    assert name == "tracemesh"
    found = places(ROOT, files(ROOT), name)
    known = {
        "distribution": "pyproject.toml",
        "environment variables": "tools/mesh/plan.py",
        "proto package": "protos/tracemesh/orders/v1/orders.proto",
        "packages": "services/orders/server.py",
        "image": "Dockerfile",
        "namespace": "deploy/k8s/base/namespace.yaml",
        "labels": "deploy/k8s/base/kustomization.yaml",
        "attributes, baggage and metadata keys": "services/orders/servicer.py",
        "database role": "deploy/k8s/base/secret.yaml",
        "other mentions": "README.md",
        "service names": "services/orders/__main__.py",
    }
    assert set(known) == set(descriptions(name))
    for kind, path in known.items():
        assert (kind, path) in {(place.kind, place.path) for place in found}, kind


def test_in_the_repository_no_line_that_names_the_project_is_left_out() -> None:
    listed = {(place.path, place.line) for place in places(ROOT, files(ROOT), "tracemesh")}
    missed = []
    for path in files(ROOT):
        data = (ROOT / path).read_bytes()
        if b"\0" in data:
            continue
        for number, line in enumerate(data.decode(errors="replace").splitlines(), start=1):
            if re.search("(?i)tracemesh", line) and (path, number) not in listed:
                missed.append(f"{path}:{number}")
    assert missed == []
    # The generated code is left to `make protos`, and said so.
    assert not [path for path in files(ROOT) if path.endswith("_pb2.py")]


def test_the_command_lists_every_kind_and_refuses_an_unknown_one() -> None:
    summary = run("--summary")
    assert summary.returncode == 0
    for kind in descriptions("tracemesh"):
        assert re.search(rf"^{re.escape(kind)}\s+[1-9]\d*\s+[1-9]\d*$", summary.stdout, re.MULTILINE), kind
    labels = run("--kind", "labels")
    (place,) = [line for line in labels.stdout.splitlines() if line.startswith("deploy/")]
    assert re.fullmatch(
        r"deploy/k8s/base/kustomization\.yaml:\d+: app\.kubernetes\.io/part-of: tracemesh", place
    )
    unknown = run("--kind", "colours")
    assert unknown.returncode == 2
    assert "the kinds are: distribution" in unknown.stderr


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.names", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )
