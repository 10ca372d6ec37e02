"""Files made immutable (`chattr +i`) and writable again: how the fault suite takes a SQLite database down.

The suite runs as root, and no permission bit stops root writing; the immutable attribute does: the kernel
refuses every write to the file (EPERM), even through a descriptor opened before, and refuses to create or
remove entries in an immutable directory. It also stops the run's temporary directory from being removed,
so whatever sets it must undo it: `Frozen` remembers each path before setting it and clears each one on
its own, and `thaw_tree` is the backstop that clears a whole tree.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def unsupported(directory: Path) -> str | None:
    """None when `chattr +i` stops a write to a file in `directory`; otherwise why it cannot be used."""
    if shutil.which("chattr") is None or shutil.which("lsattr") is None:
        return "chattr or lsattr not found (Debian package e2fsprogs)"
    probe = directory / ".chattr-probe"
    probe.write_bytes(b"")
    try:
        try:
            _chattr("+i", probe)
        except subprocess.CalledProcessError as error:
            # Not root (CAP_LINUX_IMMUTABLE), or a filesystem without the attribute (tmpfs, overlayfs).
            return f"chattr +i fails in {directory}: {error.stderr.strip()}"
        try:
            with probe.open("ab") as file:
                file.write(b"x")
        except PermissionError:
            return None
        return f"chattr +i does not stop a write in {directory}"
    finally:
        _chattr("-i", probe, check=False)
        probe.unlink(missing_ok=True)


class Frozen:
    """Paths made immutable by `freeze`; `thaw` makes each writable again and may be called any number of
    times, so it can be registered as a clean-up before the first path is frozen."""

    def __init__(self) -> None:
        self._paths: list[Path] = []

    @property
    def paths(self) -> list[Path]:
        return list(self._paths)

    def freeze(self, path: Path) -> None:
        # Remembered first: if chattr fails halfway, thaw still undoes whatever it did.
        self._paths.append(path)
        _chattr("+i", path)

    def thaw(self) -> None:
        """Clears the attribute of every frozen path, the last frozen first; raises after trying them all if
        any could not be cleared."""
        failures = []
        while self._paths:
            path = self._paths.pop()
            if not path.exists():  # an immutable path cannot vanish: this one was never frozen
                continue
            try:
                _chattr("-i", path)
            except subprocess.CalledProcessError as error:
                failures.append(f"{path}: {error.stderr.strip()}")
        if failures:
            raise RuntimeError("could not make writable again: " + "; ".join(failures))


def thaw_tree(root: Path) -> None:
    """The backstop: clears the immutable attribute of `root` and everything under it (chattr -R -i)."""
    if root.exists() and shutil.which("chattr") is not None:
        subprocess.run(["chattr", "-R", "-i", str(root)], capture_output=True, check=False)


def immutable_under(root: Path) -> list[Path]:
    """The files and directories under `root` (itself included) that are still immutable."""
    paths = [p for p in (root, *root.rglob("*")) if not p.is_symlink() and (p.is_file() or p.is_dir())]
    listed = subprocess.run(
        ["lsattr", "-d", "--", *map(str, paths)], capture_output=True, text=True, check=False
    ).stdout
    # One line per path: its attributes as letters and dashes ("----i---------e-------"), then the path.
    found = []
    for line in listed.splitlines():
        attributes, _, path = line.partition(" ")
        if "i" in attributes:
            found.append(Path(path))
    return found


def _chattr(change: str, path: Path, *, check: bool = True) -> None:
    subprocess.run(["chattr", change, "--", str(path)], capture_output=True, text=True, check=check)
