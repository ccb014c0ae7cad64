"""One logged episode, as a robot (real or simulated) saw it: the record that collect, deploy and the
dataset writer share. No dependencies beyond numpy, so every layer may use it."""

from __future__ import annotations

from dataclasses import dataclass, field

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
