"""Atomic file writes and run metadata (commit, command, versions)."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


def atomic_write(path: Path, write: Callable[[str], None], suffix: str = "") -> None:
    """Call ``write(tmp_path)`` then rename onto ``path``: readers never see a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_json(path: Path, data: Any) -> None:
    atomic_write(path, lambda p: Path(p).write_text(json.dumps(data, indent=2, default=_jsonable) + "\n"))


def read_json(path: Path) -> Any:
    """A JSON record, strictly: a duplicate key, NaN, a link or an outsized file is a one-line ``ValueError``
    (:func:`sim2real_runtime.safeio.read_json_strict`)."""
    from sim2real_runtime.safeio import read_json_strict

    return read_json_strict(path)


def _jsonable(x: Any) -> Any:
    if hasattr(x, "tolist"):
        return x.tolist()
    return str(x)


@functools.cache
def git_commit() -> str:
    """The commit of the sim2real source tree, or ``"unknown"`` outside a git checkout; read once per process,
    so a long job records the code it loaded, not the checkout's state when it finished."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return out + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def versions() -> dict[str, str]:
    """Versions of the libraries a checkpoint depends on."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0]}
    for pkg in ("sim2real", "stable-baselines3", "torch", "gymnasium", "mujoco", "numpy"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def command_line() -> str:
    return " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])


class InUseError(ValueError):
    """A directory that another process holds (a run, a compare unit); the message names the process."""


_HELD: dict[str, int] = {}  # locks this process holds (path -> depth): taking one again is a no-op


@contextlib.contextmanager
def exclusive(directory: Path, what: str, name: str = ".lock") -> Iterator[None]:
    """Hold an exclusive lock on ``directory/<name>`` (``flock``: released when the process ends, even on
    ``kill -9``) or refuse at once with :class:`InUseError`. Re-entrant within a process: the CLI takes a run
    directory's lock before Hydra writes into it and the run takes it again."""
    directory = Path(directory)
    key = str((directory / name).resolve())
    if key in _HELD:
        _HELD[key] += 1
        try:
            yield
        finally:
            _HELD[key] -= 1
        return
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / name, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise InUseError(
                f"{what} {directory} is in use by another process (pid {holder}); wait for it to end, "
                "or choose another directory"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        _HELD[key] = 1
        try:
            yield
        finally:
            _HELD.pop(key, None)
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def npz_headers(path: Path) -> dict[str, tuple[tuple[int, ...], Any]]:
    """The shape and dtype of every array in an ``.npz``, read from the members' headers only (nothing is
    allocated from a declared size); a malformed archive or header is a one-line ``ValueError``."""
    import zipfile

    import numpy as np

    out: dict[str, tuple[tuple[int, ...], Any]] = {}
    try:
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                if not info.filename.endswith(".npy") or "/" in info.filename or info.filename.startswith("."):
                    raise ValueError(f"member {info.filename!r} is not a plain .npy array name")
                with z.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    if version == (1, 0):
                        shape, _, dtype = np.lib.format.read_array_header_1_0(f)
                    else:
                        shape, _, dtype = np.lib.format.read_array_header_2_0(f)
                if dtype.hasobject:
                    raise ValueError(f"member {info.filename!r} holds Python objects (pickle)")
                out[info.filename[:-4]] = (tuple(shape), dtype)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} is missing") from None
    except (OSError, zipfile.BadZipFile, EOFError, ValueError) as e:
        raise ValueError(f"{path}: not a readable .npz archive ({str(e)[:120]})") from None
    return out


def check_npz_members(
    path: Path, expected: dict[str, tuple[tuple[int, ...] | None, Any]], max_elements: int = 10**9
) -> None:
    """Each expected array is in ``path`` with that shape (``None``: any shape of at most ``max_elements``) and
    dtype (``None``: any numeric), checked from the headers before any array is read."""
    import math

    import numpy as np

    headers = npz_headers(path)
    for name, (shape, dtype) in expected.items():
        if name not in headers:
            raise ValueError(f"{path}: array {name!r} is missing")
        got_shape, got_dtype = headers[name]
        if shape is not None and got_shape != tuple(shape):
            raise ValueError(f"{path}: array {name!r} has shape {got_shape}, expected {tuple(shape)}")
        if math.prod(got_shape) > max_elements:
            n = math.prod(got_shape)
            raise ValueError(f"{path}: array {name!r} declares {n} elements (at most {max_elements})")
        if dtype is not None and got_dtype != np.dtype(dtype):
            raise ValueError(f"{path}: array {name!r} is {got_dtype}, expected {np.dtype(dtype)}")
        real = np.issubdtype(got_dtype, np.integer) or np.issubdtype(got_dtype, np.floating) or got_dtype == np.bool_
        if dtype is None and not real:
            raise ValueError(f"{path}: array {name!r} is {got_dtype}, not real numbers")


from sim2real_runtime.safeio import MIN_FREE_BYTES, check_writable  # noqa: E402,F401  (one implementation)
