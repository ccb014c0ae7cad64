"""``sim2real convert policy=<dir> [out=<dir>] --trust``: re-save an SB3 ``model.zip`` run in the pickle-free
format of :mod:`sim2real.learn.checkpoint`. The only command that unpickles, and only with ``--trust``.

Plain argument parsing (no Hydra: it writes one new directory and nothing else).
"""

from __future__ import annotations

import sys
from pathlib import Path

USAGE = "usage: sim2real convert policy=<run dir with model.zip> [out=<new dir>] --trust"


def convert_main(argv: list[str]) -> int:
    """Entry point of ``sim2real convert``; returns the exit status (2 on any bad input)."""
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE + "\n(out defaults to <policy>-safe; --trust says you trust where model.zip came from)")
        return 0 if argv else 2
    trust = "--trust" in argv
    kv = dict(a.split("=", 1) for a in argv if "=" in a)
    unknown = [a for a in argv if a != "--trust" and ("=" not in a or a.split("=", 1)[0] not in ("policy", "out"))]
    if unknown or "policy" not in kv:
        print(f"error: {' '.join(unknown) or 'policy= is required'}; {USAGE}", file=sys.stderr)
        return 2
    from sim2real.learn.checkpoint import CheckpointError, convert_legacy

    src = Path(kv["policy"]).expanduser()
    out = Path(kv.get("out") or f"{str(src).rstrip('/')}-safe").expanduser()
    try:
        convert_legacy(src, out, trust)
    except (CheckpointError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"convert: wrote {out} (policy.safetensors, optimizer.safetensors, normalization.npz, run.json)")
    return 0
