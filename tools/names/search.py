"""Finds the project's name (and its services') in the repository's files and says what each place is."""

from __future__ import annotations

import re
import subprocess
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tools.mesh.plan import SERVICES

# Written by protoc: renamed by `make protos` once the .proto files are, never by hand.
GENERATED = re.compile(r"^services/[^/]+/.*_pb2(?:_grpc)?\.pyi?$")


@dataclass(frozen=True)
class Kind:
    """One kind of name: what it is and what must change with it, and how to recognise it on a line."""

    name: str
    about: str
    patterns: tuple[re.Pattern[str], ...]
    files: re.Pattern[str] | None = None  # only these paths, when the pattern alone would say too much

    def spans(self, path: str, line: str) -> Iterator[tuple[int, int]]:
        if self.files is None or self.files.search(path):
            for pattern in self.patterns:
                for match in pattern.finditer(line):
                    yield match.span()


@dataclass(frozen=True)
class Place:
    kind: str
    path: str
    line: int
    text: str


def kinds(name: str) -> list[Kind]:
    """The kinds of places `name` (the distribution's name) is written, most specific first: an occurrence
    belongs to the first kind that recognises it, and the last recognises any."""
    n, upper = re.escape(name), re.escape(name.upper())
    return [
        Kind(
            "distribution",
            "what pip installs (pyproject.toml); every span's service.version is read from it",
            _all(rf'^name = "{n}"$', rf'\bversion\("{n}"\)', rf"\b{n}-(?:\*|\d[\w.]*)\.whl\b"),
        ),
        Kind(
            "environment variables",
            f"the project's own {name.upper()}_* settings (each service's are <SERVICE>_*)",
            _all(rf"\b{upper}_[A-Z0-9_]*"),
        ),
        Kind(
            "proto package",
            "the gRPC contracts (protos/), their generated code (make protos) and every RPC's span name",
            _all(rf"\b{n}\.\w+\.v\d+\b", rf"\b{n}/\w+/v\d+\b", rf"\bservices/{n}\b"),
        ),
        Kind(
            "packages",
            "the Python packages named after the project: the shared package, the demo, the generated code",
            _all(rf"\b{n}_[a-z]\w*", rf"\b(?:from|import)\s+{n}\b", rf"[\"']{n}(?:\.\*)?[\"']"),
        ),
        Kind(
            "image",
            "the container image, its virtualenv and its user (Dockerfile, compose, deploy/k8s images:)",
            _all(
                rf"\b{n}(?:-[a-z]+)?:\d[\w.]*",
                rf"\bimage:\s*{n}\b",
                rf"/(?:opt|home)/{n}\b",
                rf"\bnewName:\s*\S*/{n}\b",
                rf"\buseradd\b.*\b{n}\b",
            ),
        ),
        # The `images:` entry of a kustomization names the image alone on its line.
        Kind("image", "", _all(rf"^\s*-\s*name:\s*{n}\s*$"), files=re.compile(r"kustomization\.yaml$")),
        Kind(
            "namespace",
            "the Kubernetes namespace everything is deployed in",
            _all(rf"\bnamespace:\s*{n}\b", rf"(?:-n|--namespace)[ =]{n}\b"),
        ),
        Kind("namespace", "", _all(rf"^\s*name:\s*{n}\s*$"), files=re.compile(r"namespace\.yaml$")),
        Kind(
            "labels",
            "the app.kubernetes.io/part-of label on every Kubernetes object",
            _all(rf"\bpart-of:\s*{n}\b"),
        ),
        Kind(
            "attributes, baggage and metadata keys",
            f"span attributes and baggage under the {name}. prefix, gRPC metadata keys {name}-*",
            _all(
                rf"\b{n}(?:\.|%2E)(?!\w+\.v\d)[a-z_]+(?:\.[a-z_]+)*",
                rf"[\"']{n}\.[\"']",
                rf"\b{n}\.\*",
                rf"\b{n}-(?!load\b|bench\b)[a-z]+(?:-[a-z]+)+\b",
            ),
        ),
        Kind(
            "database role",
            "the PostgreSQL user, its password, its database and cluster (tests, CI, compose, deploy/k8s)",
            _all(
                rf"\b{n}:(?!\d)[^\s@]*@",
                rf"//[^\s/]*:{n}@",
                rf":\d+/{n}\b",
                rf"\b{n}_\{{",
                rf"(?i)\b(?:postgres_\w+|user(?:name)?|dbname|rolname|datname|role|owner|password|cluster|database)"
                rf"\W{{1,3}}{n}\b",
                rf"\b(?:-U|createdb\b.*)\s+{n}\b",
            ),
        ),
        Kind("other mentions", "prose, comments and titles that name the project", _all(rf"(?i){n}")),
    ]


def service_names(services: Iterable[str]) -> Kind:
    """Where a service's name is an identifier that other files must agree with."""
    every = "|".join(map(re.escape, services))
    return Kind(
        "service names",
        "each service's name: folder = compose service = service.name = <SERVICE>_ prefix = Kubernetes app",
        _all(
            rf'\bsetup_telemetry\("(?:{every})"\)',
            rf"\bOTEL_SERVICE_NAME:\s*(?:{every})\b",
            rf"\bapp\.kubernetes\.io/name:\s*(?:{every})\b",
            rf"\b(?:{every.upper()})_[A-Z][A-Z0-9_]*",
        ),
    )


def _all(*patterns: str) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(pattern) for pattern in patterns)


def project_name(root: Path) -> str:
    """The distribution's name in pyproject.toml: the name this project goes by."""
    with (root / "pyproject.toml").open("rb") as file:
        name: str = tomllib.load(file)["project"]["name"]
    return name


def files(root: Path) -> list[str]:
    """The files git tracks or would track, without the generated code."""
    listed = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout.decode()
    return sorted(p for p in listed.split("\0") if p and (root / p).is_file() and not GENERATED.match(p))


def places(root: Path, paths: Iterable[str], name: str, services: Iterable[str] = SERVICES) -> list[Place]:
    """Every place in `paths` (relative to `root`) where `name` or a service's name is written: one per kind
    on a line."""
    project, services_kind = kinds(name), service_names(services)
    occurrence = re.compile(rf"(?i){re.escape(name)}")
    found: list[Place] = []
    for path in paths:
        data = (root / path).read_bytes()
        if b"\0" in data:
            continue  # an image, not text
        for number, line in enumerate(data.decode(errors="replace").splitlines(), start=1):
            here = {kind_of(project, path, line, match.start()) for match in occurrence.finditer(line)}
            if next(services_kind.spans(path, line), None):
                here.add(services_kind.name)
            found += [Place(kind, path, number, line.strip()) for kind in sorted(here)]
    return found


def kind_of(project: list[Kind], path: str, line: str, start: int) -> str:
    """The first kind that recognises the occurrence of the name at `start`."""
    return next(kind.name for kind in project if any(a <= start < b for a, b in kind.spans(path, line)))


def descriptions(name: str, services: Iterable[str] = SERVICES) -> dict[str, str]:
    """Each kind's name and what it is, in the order they are listed."""
    described: dict[str, str] = {}
    for kind in [*kinds(name), service_names(services)]:
        described.setdefault(kind.name, kind.about)
    return described
