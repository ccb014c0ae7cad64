"""The MuJoCo target as a :class:`~sim2real.deploy.Robot`: the deploy loop runs on it exactly as on hardware.

Episodes reset automatically; each finished episode's transitions, outcome and true dynamics values
are kept in ``episodes`` (for printing results and for logging a dataset).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from sim2real_runtime.episodes import EpisodeLog

import sim2real.envs  # noqa: F401  (registers the built-in tasks)
from sim2real.deploy import Bundle, BundleError, Robot
from sim2real.sim import tasks


class SimRobot(Robot):
    """``gymnasium.make(<task id>, randomization=..., dynamics=...)`` behind the Robot interface."""

    def __init__(
        self,
        task: str,
        dynamics: Any = None,
        randomization: Any = None,
        seed: int = 0,
        video: tuple[Path, int] | None = None,
    ) -> None:
        """``video`` = (folder, n): MP4s of the first n episodes (:mod:`sim2real.sim.video`)."""
        kwargs = {"render_mode": "rgb_array"} if video else {}
        self.env = tasks.make(task, dynamics=dynamics, randomization=randomization, **kwargs)
        self.recorder, self.video_episodes = None, 0
        if video:
            from sim2real.sim.video import EpisodeRecorder

            self.recorder = EpisodeRecorder(self.env, video[0], task, 1.0 / tasks.core(self.env).dt)
            self.video_episodes = video[1]
        self.success = tasks.get(task).success
        self.seed = seed
        self.episodes: list[EpisodeLog] = []
        self.stopped = False
        self._new_episode()

    def _new_episode(self) -> None:
        seed = self.seed + len(self.episodes)
        obs, info = self.env.reset(seed=seed)
        self.current = EpisodeLog(seed=seed, dynamics=info["dynamics"])
        self.current.observations.append(obs)
        self._obs = obs
        if self.recorder is not None and len(self.episodes) < self.video_episodes:
            self.recorder.frame()

    def observe(self) -> np.ndarray:
        return self._obs

    def act(self, action: np.ndarray) -> None:
        obs, reward, terminated, truncated, info = self.env.step(action)
        ep = self.current
        ep.actions.append(np.asarray(action, dtype=np.float32))
        ep.rewards.append(float(reward))
        ep.terminations.append(bool(terminated))
        ep.truncations.append(bool(truncated))
        if "reward_terms" in info:
            ep.reward_terms.append({k: float(v) for k, v in info["reward_terms"].items()})
        ep.observations.append(obs)
        self._obs = obs
        recording = self.recorder is not None and len(self.episodes) < self.video_episodes
        if recording:
            self.recorder.frame()
        if terminated or truncated:
            ep.success = bool(info.get("is_success", False))
            if recording:
                k = len(self.episodes)
                self.recorder.finish(k, ep.success if self.success else None, sum(ep.rewards), ep.dynamics)
            self.episodes.append(ep)
            self._new_episode()

    def safe_stop(self) -> None:
        """In simulation nothing keeps moving between steps: mark the robot stopped."""
        self.stopped = True


def check_layout(bundle: Bundle, env: object) -> None:
    """The bundle's observation and action layouts must be the task env's: same widths, same names."""
    want_obs = [n for n, _ in env.observation_layout]
    have_obs = [o.get("name") for o in bundle.meta["observation"]]
    if len(have_obs) != len(want_obs):
        raise BundleError(
            f"bundle {bundle.path}: {len(have_obs)} observations, task {bundle.meta['task']} has {len(want_obs)}; "
            "re-export the bundle from a policy trained on this task version"
        )
    if have_obs != want_obs:
        k = next(i for i, (a, b) in enumerate(zip(have_obs, want_obs, strict=True)) if a != b)
        raise BundleError(
            f"bundle {bundle.path}: observation {k} is '{have_obs[k]}', the task's is '{want_obs[k]}'; "
            "re-export the bundle from a policy trained on this task version"
        )
    n_act = len(env.action_layout)
    if len(bundle.meta["action"]) != n_act:
        raise BundleError(f"bundle {bundle.path}: {len(bundle.meta['action'])} actions, the task has {n_act}")
