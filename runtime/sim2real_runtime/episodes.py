"""Logged episodes as a robot (real or simulated) saw them, and their ``.npz`` file: the record that the
runtime, ``collect``, ``deploy`` and the dataset importer share. numpy only, so every layer may use it.

The ``.npz`` layout (``docs/datasets.md``): ``observations`` (sum T_i + E, obs_dim), ``actions``
(sum T_i, act_dim), ``rewards``, ``terminations``, ``truncations`` (sum T_i,), ``episode_lengths`` (E,) and
``success`` (E,). ``sim2real data import <file> task=<task> out=<dataset>`` turns it into a Minari dataset.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class EpisodeLog:
    """One episode: ``observations`` has one more row than ``actions``; ``dynamics`` holds the true parameter
    values where a simulator produced it (for scoring estimates only)."""

    seed: int
    observations: list[np.ndarray] = field(default_factory=list)
    actions: list[np.ndarray] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    terminations: list[bool] = field(default_factory=list)
    truncations: list[bool] = field(default_factory=list)
    success: bool = False
    dynamics: dict[str, float] = field(default_factory=dict)
    reward_terms: list[dict[str, float]] = field(default_factory=list)  # per step, where the source reports them


def write_npz(
    path: str | Path, episodes: list[EpisodeLog], replace_own: bool = False, fault_steps: list[int] | None = None
) -> Path:
    """Write ``episodes`` (each with at least one action) in the ``.npz`` import format, atomically; refuses to
    replace an existing file unless ``replace_own`` (a log this process is streaming: each flush replaces the
    previous one whole). ``fault_steps``: the control ticks whose observation was refused (stored as an extra
    integer array, which ``data import`` ignores)."""
    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"log={path}: the episode log is an .npz file; name it <something>.npz")
    if path.exists() and not replace_own:
        raise FileExistsError(f"log={path} exists; choose a new file name (a log is never overwritten)")
    episodes = [e for e in episodes if e.actions]
    if not episodes:
        raise ValueError("no episode with at least one action to log")
    for e in episodes:
        if len(e.observations) != len(e.actions) + 1:
            raise ValueError(f"episode {e.seed}: {len(e.observations)} observations for {len(e.actions)} actions")
    arrays = {
        "observations": np.concatenate([np.asarray(e.observations, np.float32) for e in episodes]),
        "actions": np.concatenate([np.asarray(e.actions, np.float32) for e in episodes]),
        "rewards": np.concatenate([np.asarray(e.rewards, np.float64) for e in episodes]),
        "terminations": np.concatenate([np.asarray(e.terminations, bool) for e in episodes]),
        "truncations": np.concatenate([np.asarray(e.truncations, bool) for e in episodes]),
        "episode_lengths": np.array([len(e.actions) for e in episodes], np.int64),
        "success": np.array([e.success for e in episodes], bool),
    }
    if fault_steps is not None:
        arrays["fault_steps"] = np.asarray(fault_steps, np.int64)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".npz")
    os.close(fd)
    try:
        np.savez(tmp, **arrays)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        if replace_own and path.exists():
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # fails if another process created the file meanwhile: never overwrite
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
