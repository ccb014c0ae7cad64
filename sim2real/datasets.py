"""Logged episodes as Minari datasets (HDF5), kept under a project directory, never a hub.

Writing builds ``EpisodeBuffer``s from arrays and calls ``create_dataset_from_buffers`` (Minari's
``hdf5`` extra; no jax). Loading checks every episode against the task's spaces and for
non-finite values, with a one-line error naming the problem.
"""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import sim2real.envs as envs
from sim2real.sim_robot import EpisodeLog


class DatasetError(ValueError):
    """A dataset that does not fit the task; the message names the episode and the field."""


def _use_root(root: str | Path) -> Path:
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    os.environ["MINARI_DATASETS_PATH"] = str(root)
    return root


def write_dataset(
    dataset_id: str, root: str | Path, task: str, episodes: list[EpisodeLog], metadata: dict[str, Any]
) -> Path:
    """Write ``episodes`` as Minari dataset ``dataset_id`` (``namespace/name-v0``) under ``root``."""
    import minari
    from minari.data_collector import EpisodeBuffer

    if not episodes:
        raise DatasetError(f"dataset {dataset_id}: no finished episodes to write")
    root = _use_root(root)
    env = gym.make(envs.TASKS[task])
    buffers = [
        EpisodeBuffer(
            id=i,
            seed=ep.seed,
            observations=[np.asarray(o, dtype=np.float32) for o in ep.observations],
            actions=[np.asarray(a, dtype=np.float32) for a in ep.actions],
            rewards=list(ep.rewards),
            terminations=list(ep.terminations),
            truncations=list(ep.truncations),
            infos={"success": np.array([False] * (len(ep.actions) - 1) + [ep.success] + [ep.success])},
        )
        for i, ep in enumerate(episodes)
    ]
    shutil.rmtree(root / dataset_id, ignore_errors=True)  # replace an earlier (or half-written) dataset
    with warnings.catch_warnings():  # Minari nags about optional author/permalink fields
        warnings.simplefilter("ignore", UserWarning)
        ds = minari.create_dataset_from_buffers(
            dataset_id=dataset_id,
            buffer=buffers,
            env=env,
            eval_env=env,
            algorithm_name=metadata.get("source", "sim2real"),
            author="sim2real",
            author_email="n/a",
            code_permalink="n/a",
            description=f"sim2real {task} episodes",
            data_format="hdf5",
        )
    ds.storage.update_metadata(
        {
            "sim2real_task": task,
            "sim2real_control_rate_hz": float(1.0 / env.unwrapped.dt),
            **{f"sim2real_{k}": v for k, v in metadata.items() if isinstance(v, (str, int, float))},
        }
    )
    ds.storage.update_episode_metadata(
        [
            {"success": ep.success, **{f"true_dynamics.{k}": float(v) for k, v in ep.dynamics.items()}}
            for ep in episodes
        ],
        episode_indices=range(len(episodes)),
    )
    return root / dataset_id


def load_dataset(dataset_id: str, root: str | Path, task: str) -> Any:
    """Load and check a dataset for ``task``: spaces, finiteness, non-empty."""
    import minari

    _use_root(root)
    try:
        ds = minari.load_dataset(dataset_id)
    except (FileNotFoundError, ValueError) as e:
        raise DatasetError(f"dataset {dataset_id} under {root}: cannot be loaded ({e})") from None
    if ds.total_episodes == 0:
        raise DatasetError(f"dataset {dataset_id}: it holds no episodes")
    stored_task = ds.storage.metadata.get("sim2real_task")
    if stored_task is not None and stored_task != task:
        raise DatasetError(f"dataset {dataset_id}: it is a {stored_task} dataset, not {task}")
    env = gym.make(envs.TASKS[task])
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    for ep in ds.iterate_episodes():
        if ep.observations.shape[1:] != (obs_dim,) or ep.actions.shape[1:] != (act_dim,):
            raise DatasetError(
                f"dataset {dataset_id}, episode {ep.id}: observations {ep.observations.shape[1:]} / "
                f"actions {ep.actions.shape[1:]}, task {task} needs ({obs_dim},) / ({act_dim},)"
            )
        if not (np.isfinite(ep.observations).all() and np.isfinite(ep.actions).all() and np.isfinite(ep.rewards).all()):
            raise DatasetError(f"dataset {dataset_id}, episode {ep.id}: non-finite values (NaN or inf)")
    return ds
