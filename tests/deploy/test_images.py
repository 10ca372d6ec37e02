"""The Dockerfile and the images every deployment file pins."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
# What .dockerignore lets into the build context (it ignores everything else).
CONTEXT = ["requirements.lock", "requirements-load.lock", "pyproject.toml", "README.md", "services"]


def test_the_image_is_multi_stage_pinned_unprivileged_and_exec_form() -> None:
    stages = {name: base for base, name in re.findall(r"^FROM (\S+) AS (\S+)$", DOCKERFILE, re.MULTILINE)}
    images = [base for base in stages.values() if base not in stages]
    assert all(re.fullmatch(r"python:3\.\d+\.\d+-slim-\w+", base) for base in images), images
    assert len(set(images)) == 1  # one pinned Python for building and running
    # The last stage is what a plain `docker build` makes: the services, not the load generator.
    assert list(stages)[-1] == "run"
    assert "COPY --from=build /opt/tracemesh" in DOCKERFILE
    assert len(re.findall(r"^USER 10001$", DOCKERFILE, re.MULTILINE)) == 2  # both images run unprivileged
    assert re.search(r'^ENTRYPOINT \["python", "-m"\]$', DOCKERFILE, re.MULTILINE)
    # Dependencies from the same lock file as `make run`.
    assert "pip install --requirement requirements.lock" in DOCKERFILE
    assert "pip install --requirement requirements-load.lock" in DOCKERFILE


def test_the_build_context_is_only_what_the_image_needs() -> None:
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    rules = [line for line in ignore if line and not line.startswith("#")]
    assert rules[0] == "*"
    assert {rule.strip("!/") for rule in rules if rule.startswith("!")} == set(CONTEXT)


def test_the_context_builds_the_services_and_nothing_of_the_dev_tools(tmp_path: Path) -> None:
    context = tmp_path / "context"
    context.mkdir()
    for name in CONTEXT:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, context / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, context / name)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            ".",
        ],
        cwd=context,
        check=True,
    )
    (wheel,) = tmp_path.glob("tracemesh-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        packages = {name.split("/")[0] for name in archive.namelist() if "/" in name}
    assert {"gateway", "orders", "inventory", "tracemesh_common", "tracemesh", "tracemesh_demo"} <= packages
    assert not {"waterfall", "devrun", "tests"} & packages
    with zipfile.ZipFile(wheel) as archive:  # the demo page ships inside the demo package
        names = set(archive.namelist())
        assert {"tracemesh_demo/static/index.html", "tracemesh_demo/static/demo.js"} <= names
        assert "tracemesh_demo/loadgen/locustfile.py" in names
        # Each service's schema history, run by its migration job in compose and Kubernetes.
        for service in ("orders", "inventory"):
            assert {f"{service}/migrate.py", f"{service}/migrations/env.py"} <= names
            assert any(name.startswith(f"{service}/migrations/versions/0001_") for name in names)
    with zipfile.ZipFile(wheel) as archive:
        (entry_points,) = [
            name for name in archive.namelist() if name.endswith(".dist-info/entry_points.txt")
        ]
        assert b"xtraceid = tracemesh_common.propagation:XTraceIdPropagator" in archive.read(entry_points)


def test_every_third_party_image_is_pinned_to_a_release() -> None:
    images = re.findall(r"image: (\S+)", (ROOT / "docker-compose.yml").read_text())
    for path in (ROOT / "deploy/k8s/base").glob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") in {"Deployment", "StatefulSet"}:
                images += [c["image"] for c in doc["spec"]["template"]["spec"]["containers"]]
    third_party = [image for image in images if not image.startswith("tracemesh")]
    assert third_party
    for image in third_party:
        assert re.search(r":\d+(\.\d+)+", image), f"{image} is not pinned to a release"
