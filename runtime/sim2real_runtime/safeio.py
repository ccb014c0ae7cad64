"""Reading files that came from elsewhere: strict JSON and names that stay inside their directory.

A file someone sends you is data, never code: JSON with a duplicate key, a NaN or a size beyond reason is
refused in one line, and a name in a manifest is a plain relative name inside its directory (no ``..``, no
absolute path, no symbolic link). numpy-free, so both the runtime and the full package use it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

MAX_JSON_BYTES = 64 * 2**20  # a JSON record larger than this is refused before it is read


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def loads_strict(text: str | bytes, where: str) -> Any:
    """``json.loads`` that refuses duplicate keys and NaN / Infinity (``ValueError`` naming ``where``)."""
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise ValueError(f"{where} is not valid JSON ({e.msg} at line {e.lineno})") from None
    except (ValueError, RecursionError, UnicodeDecodeError) as e:
        raise ValueError(f"{where} is not valid JSON ({str(e)[:100]})") from None


def read_json_strict(path: str | Path, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """A JSON file, refused in one line when missing, a symbolic link, larger than ``max_bytes`` or malformed."""
    path = Path(path)
    if path.is_symlink():
        raise ValueError(f"{path} is a symbolic link; sim2real reads only regular files here")
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} is missing") from None
    if size > max_bytes:
        raise ValueError(f"{path} is {size} bytes; a record this large (over {max_bytes}) is refused")
    return loads_strict(path.read_bytes(), str(path))


def inside(root: str | Path, name: Any, what: str) -> Path:
    """``root/name`` for a plain relative ``name`` that stays inside ``root``: no absolute path, no ``..``, no
    empty part, no symbolic link on the way; else ``ValueError`` naming ``what``."""
    root = Path(root)
    if not isinstance(name, str) or not name or "\x00" in name or "\\" in name:
        raise ValueError(f"{what}: {name!r} is not a file name")
    parts = name.split("/")
    if name.startswith("/") or os.path.isabs(name) or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"{what}: {name!r} reaches outside {root} (a plain relative name is required)")
    path = root
    for p in parts:
        path = path / p
        if path.is_symlink():
            raise ValueError(f"{what}: {name!r} is a symbolic link; only regular files inside {root} are read")
    return path


MIN_FREE_BYTES = 64 * 2**20  # an output folder needs at least this much free space before long work starts


def check_writable(path: Path, what: str, need_bytes: int = MIN_FREE_BYTES) -> None:
    """Refuse, in one line and before any work, an output ``path`` whose nearest existing folder is not writable
    (a read-only mount, a file in the way) or has less than ``need_bytes`` free. Creates nothing but a probe file
    that it removes at once."""
    path = Path(path).expanduser().absolute()
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{what}={path}: {existing} is a file, not a folder; choose another {what}")
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".sim2real-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise ValueError(f"{what}={path}: {existing} is not writable ({e.strerror}); choose another {what}") from None
    free = shutil.disk_usage(existing).free
    if free < need_bytes:
        raise ValueError(
            f"{what}={path}: {free >> 20} MiB free in {existing}, at least {need_bytes >> 20} MiB needed; free space "
            f"or choose another {what}"
        )
