"""Building (vectorised, normalised) envs for a task, and the observation normaliser's on-disk form.

Normalisation statistics are stored as a plain ``normalization.npz`` (no pickle), so the export and
deploy path can read them without SB3.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.running_mean_std import RunningMeanStd
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecNormalize

import sim2real.envs  # noqa: F401  (registers the built-in tasks)
from sim2real.io import atomic_write, check_npz_members, npz_headers
from sim2real.sim import tasks
from sim2real.sim.dynamics import validate_ranges

EVAL_SEED_BASE = 1_000_000_000  # test episodes (published tables: compare, sweep, evaluate) start here
DEV_SEED_BASE = 1_200_000_000  # development episodes (training-time evaluation, tuning, choosing what to ship)
SEED_RANGES = {"test": EVAL_SEED_BASE, "development": DEV_SEED_BASE}  # training seeds stay far below both


class EpisodeDynamics(gym.Wrapper):
    """Echo the episode's sampled dynamics values in the info of its last step (``episode_dynamics``), and the
    ADR bound it pinned, if any (``episode_boundary``: ``(parameter, 0 = low / 1 = high)``). ``set_adr`` is how
    the training process hands every env (in this process or a subprocess: ``VecEnv.env_method``) new ranges."""

    def reset(self, **kwargs: Any) -> tuple[Any, dict]:
        obs, info = self.env.reset(**kwargs)
        self._values = info.get("dynamics", {})
        self._pinned = tasks.core(self.env).dyn.pinned
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        if terminated or truncated:
            info["episode_dynamics"] = self._values
            if self._pinned is not None:
                info["episode_boundary"] = self._pinned
        return obs, reward, terminated, truncated, info

    def set_adr(self, ranges: dict[str, list[float]], boundary_prob: float) -> None:
        """Randomise over ``ranges`` (checked against the task) from the next reset on, pinning one parameter to
        a bound with probability ``boundary_prob``."""
        core = tasks.core(self.env)
        checked = validate_ranges(ranges, core.params, "adr")
        core.ranges = checked
        core.dyn.set_ranges(checked, boundary_prob)


def task_env_id(task: str) -> str:
    return tasks.env_id(task)


def make_env(task: str, randomization: Any = None, dynamics: Any = None, history: int = 1) -> gym.Env:
    """One monitored env (``info["is_success"]`` recorded by SB3's Monitor); with ``history`` > 1 its observation
    is the stacked history a history-K policy sees (:mod:`sim2real.learn.memory`)."""
    env = gym.make(task_env_id(task), randomization=randomization, dynamics=dynamics)
    if history > 1:
        from sim2real.learn.memory import HistoryWrapper

        env = HistoryWrapper(env, history)
    keys = ("is_success",) if tasks.get(task).success else ()  # tasks without a success signal: returns only
    return Monitor(EpisodeDynamics(env), info_keywords=keys)


def make_vec_env(
    task: str, n_envs: int, seed: int, randomization: Any = None, dynamics: Any = None, history: int = 1
) -> VecEnv:
    """``n_envs`` envs in one process (DummyVecEnv); env i is seeded ``seed * 1000 + i``."""
    if n_envs < 1:
        raise ValueError(f"n_envs={n_envs}: need at least one env")
    venv = DummyVecEnv([lambda: make_env(task, randomization, dynamics, history) for _ in range(n_envs)])
    venv.seed(seed * 1000)
    return venv


def normalize(venv: VecEnv, gamma: float, norm_reward: bool = True) -> VecNormalize:
    return VecNormalize(venv, norm_obs=True, norm_reward=norm_reward, clip_obs=10.0, clip_reward=10.0, gamma=gamma)


def save_normalization(path: Path, vn: VecNormalize) -> None:
    """Write the observation and return statistics as ``.npz`` (atomic)."""
    arrays = {
        "obs_mean": vn.obs_rms.mean,
        "obs_var": vn.obs_rms.var,
        "obs_count": np.array(vn.obs_rms.count),
        "ret_mean": np.array(vn.ret_rms.mean),
        "ret_var": np.array(vn.ret_rms.var),
        "ret_count": np.array(vn.ret_rms.count),
        "clip_obs": np.array(vn.clip_obs),
        "epsilon": np.array(vn.epsilon),
    }
    atomic_write(path, lambda p: np.savez(p, **arrays), suffix=".npz")


def load_normalization(path: Path, vn: VecNormalize) -> None:
    """Load statistics written by :func:`save_normalization` into ``vn``."""
    s = read_normalization(path)
    if s["obs_mean"].shape != vn.obs_rms.mean.shape:
        raise ValueError(
            f"{path}: normalisation is for observations of shape {s['obs_mean'].shape}, "
            f"the env has {vn.obs_rms.mean.shape}; was the policy trained on another task?"
        )
    vn.obs_rms = RunningMeanStd(shape=s["obs_mean"].shape)
    vn.obs_rms.mean, vn.obs_rms.var, vn.obs_rms.count = s["obs_mean"], s["obs_var"], float(s["obs_count"])
    vn.ret_rms.mean, vn.ret_rms.var, vn.ret_rms.count = (
        float(s["ret_mean"]),
        float(s["ret_var"]),
        float(s["ret_count"]),
    )


NORM_KEYS = ("obs_mean", "obs_var", "obs_count", "ret_mean", "ret_var", "ret_count", "clip_obs", "epsilon")


def read_normalization(path: Path, obs_dim: int | None = None) -> dict[str, np.ndarray]:
    """The arrays of a ``normalization.npz`` (read without pickle), checked: every key present, shapes that
    agree (with ``obs_dim`` observations when given), finite values, non-negative variances and counts,
    positive clip and epsilon."""
    try:
        limit = 10 * (obs_dim or 1_000_000)  # no array is read before its header says it is small and numeric
        present = set(npz_headers(path)) & set(NORM_KEYS)
        check_npz_members(path, {k: (None, None) for k in present}, max_elements=limit)
        with np.load(path, allow_pickle=False) as f:
            if not hasattr(f, "files"):
                raise ValueError("a single .npy array, not an .npz archive")
            s = {k: np.asarray(f[k]) for k in f.files}
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} is missing") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"{path}: unreadable normalisation statistics ({type(e).__name__}: {e})") from None
    missing = [k for k in NORM_KEYS if k not in s]
    if missing:
        raise ValueError(f"{path}: normalisation statistics lack {', '.join(missing)}; re-save the run")
    if s["obs_mean"].ndim != 1 or s["obs_var"].shape != s["obs_mean"].shape:
        raise ValueError(f"{path}: obs_mean {s['obs_mean'].shape} and obs_var {s['obs_var'].shape} must be equal 1-D")
    if obs_dim is not None and s["obs_mean"].shape != (obs_dim,):
        raise ValueError(
            f"{path}: statistics for {s['obs_mean'].shape[0]} observations, the policy takes {obs_dim}; "
            "the file belongs to another run or task"
        )
    for k in NORM_KEYS:
        if not np.issubdtype(s[k].dtype, np.number) or not np.isfinite(s[k]).all():
            raise ValueError(f"{path}: {k} holds non-finite or non-numeric values; the run's statistics are corrupt")
    for k in ("obs_var", "ret_var", "obs_count", "ret_count"):
        if (s[k] < 0).any():
            raise ValueError(f"{path}: {k} is negative; the run's statistics are corrupt")
    for k in ("clip_obs", "epsilon"):
        if not (s[k] > 0).all():
            raise ValueError(f"{path}: {k} must be positive")
    return s
