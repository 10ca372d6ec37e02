"""The GitHub Actions workflow for forks (.github/workflows/ci.yml): validated against GitHub's workflow
schema and linted by zizmor, offline, and checked to run what .ci/run runs, against the PostgreSQL the tests
expect. (actionlint is not used: its PyPI package has no wheel and downloads its binary while it builds.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from tools.mesh.databases import DEFAULT_POSTGRES_URL

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github/workflows/ci.yml"
BIN = Path(sys.executable).parent


def workflow() -> dict[Any, Any]:
    loaded: dict[Any, Any] = yaml.safe_load(WORKFLOW.read_text())
    # YAML 1.1 reads the key `on` as the boolean true.
    loaded["on"] = loaded.pop(True, loaded.get("on"))
    return loaded


def job() -> dict[str, Any]:
    (only,) = workflow()["jobs"].values()
    found: dict[str, Any] = only
    return found


def test_it_is_a_valid_workflow_by_githubs_schema() -> None:
    # check-jsonschema carries a copy of SchemaStore's schema for GitHub workflows: no network needed.
    result = subprocess.run(
        [BIN / "check-jsonschema", "--builtin-schema", "vendor.github-workflows", WORKFLOW],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_finds_nothing_to_fix() -> None:
    # Unpinned actions, credentials left in the checkout, template injection, excessive permissions...
    result = subprocess.run(
        [BIN / "zizmor", "--offline", "--no-progress", WORKFLOW], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings" in result.stdout


def test_it_runs_the_command_ci_runs_on_every_push_and_pull_request() -> None:
    assert set(workflow()["on"]) == {"push", "pull_request"}
    steps = job()["steps"]
    assert steps[-1]["run"].strip() == "make test"
    assert job()["env"]["CI"] == "true"  # a missing database or browser fails instead of skipping
    ci_run = [line.strip() for line in (ROOT / ".ci/run").read_text().splitlines() if line.strip()]
    assert ci_run[-1] == "make test"


def test_it_sets_up_the_python_and_chromium_the_tests_need() -> None:
    assert job()["runs-on"] == "ubuntu-latest"
    steps = job()["steps"]
    python = [step for step in steps if step.get("uses", "").startswith("actions/setup-python@")]
    assert [step["with"]["python-version"] for step in python] == ["3.11"]
    installs = "\n".join(step.get("run", "") for step in steps)
    assert "apt-get install" in installs
    assert "chromium" in installs.split()


def test_its_postgres_is_the_one_the_tests_connect_to() -> None:
    service = job()["services"]["postgres"]
    url = urlsplit(job()["env"]["TRACEMESH_TEST_POSTGRES_URL"])
    assert (url.hostname, url.port) == ("127.0.0.1", 5432)
    env = service["env"]
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"], env["POSTGRES_DB"]) == (
        url.username,
        url.password,
        url.path.lstrip("/"),
    )
    assert url.geturl() == DEFAULT_POSTGRES_URL  # the one .ci/postgres sets up on a CI machine
    assert f"{url.port}:5432" in service["ports"]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert service["image"] == compose["services"]["postgres"]["image"]
