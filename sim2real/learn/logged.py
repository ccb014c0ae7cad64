"""Logged episodes in memory (a checked dataset's arrays), as fine-tuning on logged data consumes them. Reading
and writing datasets is :mod:`sim2real.data.datasets`; this container sits below it, so learning code takes the
arrays without importing the data layer."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sim2real.sim import tasks


@dataclass
class Logged:
    """A checked dataset in memory: per-episode arrays and metadata.

    ``true_dynamics`` holds the target's parameter values where the data came from a simulator; the
    calibration never reads it (it exists to score estimates)."""

    task: str
    path: Path
    observations: list[np.ndarray]  # each (T + 1, obs_dim)
    actions: list[np.ndarray]  # each (T, act_dim)
    rewards: list[np.ndarray]
    terminations: list[np.ndarray]
    truncations: list[np.ndarray]
    success: list[bool]
    metadata: dict[str, Any]
    true_dynamics: list[dict[str, float]] = field(default_factory=list)

    @property
    def episodes(self) -> int:
        return len(self.actions)

    @property
    def steps(self) -> int:
        return int(sum(len(a) for a in self.actions))

    def head(self, n: int) -> Logged:
        """The first ``n`` episodes."""
        return self.subset(range(min(n, self.episodes)))

    def subset(self, episodes: Iterable[int]) -> Logged:
        """The episodes numbered ``episodes``, in that order."""
        i = list(episodes)
        return Logged(
            self.task,
            self.path,
            [self.observations[k] for k in i],
            [self.actions[k] for k in i],
            [self.rewards[k] for k in i],
            [self.terminations[k] for k in i],
            [self.truncations[k] for k in i],
            [self.success[k] for k in i],
            self.metadata,
            [self.true_dynamics[k] for k in i if k < len(self.true_dynamics)],
        )

    def summary(self) -> dict[str, Any]:
        """What ``sim2real data info`` prints."""
        returns = [float(r.sum()) for r in self.rewards]
        return {
            "dataset": str(self.path),
            "task": self.task,
            "episodes": self.episodes,
            "steps": self.steps,
            "control_rate_hz": self.metadata.get("sim2real_control_rate_hz"),
            "success_rate": float(np.mean(self.success)) if tasks.get(self.task).success else None,
            "mean_return": float(np.mean(returns)),
            "mean_length": float(np.mean([len(a) for a in self.actions])),
            "source": self.metadata.get("sim2real_source", self.metadata.get("algorithm_name")),
            "dynamics_profile": self.metadata.get("sim2real_dynamics_profile"),
            "true_dynamics_recorded": bool(self.true_dynamics and self.true_dynamics[0]),
        }
