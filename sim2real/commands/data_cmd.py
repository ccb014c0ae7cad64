"""``sim2real data import <file.npz> task=<task> out=<dataset>`` and ``sim2real data info <dataset>``.

Plain argument parsing (no Hydra: these write no run directory). The ``.npz`` layout is documented in
``docs/datasets.md``.
"""

from __future__ import annotations

import json
import sys

import sim2real.envs  # noqa: F401  (registers the built-in tasks)
from sim2real.data.datasets import DatasetError, import_npz, read
from sim2real.sim import tasks

USAGE = (
    "usage: sim2real data import <file.npz> task=<grasp|navigate> out=<root>/<name>-v<N> [overwrite=true]\n"
    "       sim2real data info <root>/<name>-v<N> [task=<task>] [--json]"
)


def _split(args: list[str]) -> tuple[list[str], dict[str, str]]:
    pos = [a for a in args if "=" not in a and not a.startswith("--")]
    kv = dict(a.split("=", 1) for a in args if "=" in a)
    return pos, kv


def _bool(value: str, key: str) -> bool:
    if value.lower() not in ("true", "false"):
        raise DatasetError(f"{key}={value}: must be true or false")
    return value.lower() == "true"


def data_main(argv: list[str]) -> int:
    """Entry point of ``sim2real data``; returns the exit status (2 on any bad input)."""
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    verb, (pos, kv) = argv[0], _split(argv[1:])
    try:
        if verb == "import":
            unknown = set(kv) - {"task", "out", "overwrite"}
            if len(pos) != 1 or "task" not in kv or "out" not in kv or unknown:
                raise DatasetError(
                    "data import needs one .npz file, task= and out="
                    + (f" (unknown: {', '.join(unknown)})" if unknown else "")
                )
            if kv["task"] not in tasks.names():
                raise DatasetError(f"task='{kv['task']}' is unknown; registered: {', '.join(tasks.names())}")
            path, notes = import_npz(pos[0], kv["task"], kv["out"], _bool(kv.get("overwrite", "false"), "overwrite"))
            info = read(path, kv["task"]).summary()
            for note in notes:
                print(f"data import: note: {note}")
            print(
                f"data import: {pos[0]} -> {path}: {info['episodes']} episodes, {info['steps']} steps ({info['task']})"
            )
            return 0
        if verb == "info":
            if len(pos) != 1 or set(kv) - {"task"}:
                raise DatasetError("data info needs one dataset path (and optionally task=)")
            info = read(pos[0], kv.get("task")).summary()
            if "--json" in argv:
                print(json.dumps(info, indent=2))
            else:
                for k, v in info.items():
                    print(f"{k:>24}: {v:.3f}" if isinstance(v, float) else f"{k:>24}: {v}")
            return 0
        raise DatasetError(f"unknown data command '{verb}'; use import or info")
    except (DatasetError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        if "needs" in str(e) or "unknown data command" in str(e):
            print(USAGE, file=sys.stderr)
        return 2
