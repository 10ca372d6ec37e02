"""The fault suite's immutable files: frozen means unwritable even for root, thawed means writable again,
and nothing frozen is ever left behind."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.chaos.frozen import Frozen, immutable_under, thaw_tree, unsupported


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[Path]:
    """A directory where chattr works (skipped where it cannot, failed with CI=true); thawed afterwards."""
    if reason := unsupported(tmp_path):
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    yield tmp_path
    thaw_tree(tmp_path)


def test_a_frozen_file_refuses_writes_until_thawed(tree: Path) -> None:
    database = tree / "orders.db"
    database.write_bytes(b"before")
    frozen = Frozen()
    try:
        frozen.freeze(database)
        with pytest.raises(PermissionError):
            database.write_bytes(b"during")
        assert immutable_under(tree) == [database]
    finally:
        frozen.thaw()
    database.write_bytes(b"after")
    assert database.read_bytes() == b"after"
    assert immutable_under(tree) == []


def test_a_frozen_directory_refuses_new_files(tree: Path) -> None:
    directory = tree / "orders-db"
    directory.mkdir()
    frozen = Frozen()
    try:
        frozen.freeze(directory)
        with pytest.raises(PermissionError):
            (directory / "orders.db-journal").write_bytes(b"")
    finally:
        frozen.thaw()
    (directory / "orders.db-journal").write_bytes(b"")


def test_thaw_undoes_a_freeze_that_failed_halfway_and_may_run_again(tree: Path) -> None:
    database = tree / "orders.db"
    database.write_bytes(b"")
    frozen = Frozen()
    frozen.freeze(database)
    with pytest.raises(subprocess.CalledProcessError):
        frozen.freeze(tree / "orders.db-wal")  # not there
    frozen.thaw()
    frozen.thaw()
    assert immutable_under(tree) == []
    assert frozen.paths == []


def test_thaw_tree_clears_everything_under_a_directory(tree: Path) -> None:
    nested = tree / "inventory-db"
    nested.mkdir()
    (nested / "inventory.db").write_bytes(b"")
    frozen = Frozen()
    for path in (nested / "inventory.db", nested, tree):
        frozen.freeze(path)
    assert sorted(immutable_under(tree)) == sorted([tree, nested, nested / "inventory.db"])
    thaw_tree(tree)
    assert immutable_under(tree) == []
    (nested / "inventory.db").unlink()


def test_unsupported_says_why_when_chattr_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert unsupported(tmp_path) == "chattr or lsattr not found (Debian package e2fsprogs)"
