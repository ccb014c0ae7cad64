"""Logged episodes as Minari datasets (HDF5), kept under a project directory, never a hub.

Writing builds ``EpisodeBuffer``s from arrays and calls ``create_dataset_from_buffers`` (Minari's
``hdf5`` extra; no jax). Loading checks every episode against the task's spaces and for
non-finite values, with a one-line error naming the problem.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import tempfile
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sim2real_runtime.episodes import EpisodeLog

import sim2real.envs  # noqa: F401  (registers the built-in tasks)
from sim2real.io import npz_headers, read_json
from sim2real.learn.logged import Logged
from sim2real.sim import tasks

MAX_IMPORT_ELEMENTS = 10**9  # an imported array declaring more values than this is refused from its header


class DatasetError(ValueError):
    """A dataset that does not fit the task; the message names the episode and the field."""


@dataclass(frozen=True)
class DatasetMeta:
    """What sim2real records on a dataset (the ``sim2real_*`` keys of Minari's metadata), typed and checked on
    load: the task, the control rate (Hz) the episodes were logged at, where they came from."""

    task: str | None
    control_rate_hz: float | None
    source: str | None

    @classmethod
    def parse(cls, meta: dict[str, Any], where: str) -> DatasetMeta:
        """From Minari's metadata; a wrongly typed ``sim2real_*`` entry is a one-line :class:`DatasetError`."""
        task, rate, source = (
            meta.get("sim2real_task"),
            meta.get("sim2real_control_rate_hz"),
            meta.get("sim2real_source"),
        )
        if task is not None and (not isinstance(task, str) or not task):
            raise DatasetError(f"{where}: metadata sim2real_task={task!r} is not a task name; rewrite it or re-import")
        if rate is not None:
            ok = isinstance(rate, (int, float, np.number)) and not isinstance(rate, bool)
            if not ok or not (np.isfinite(rate) and rate > 0):
                raise DatasetError(
                    f"{where}: metadata sim2real_control_rate_hz={rate!r} is not a positive rate in Hz; "
                    "re-import the log"
                )
            rate = float(rate)
        if source is not None and not isinstance(source, str):
            raise DatasetError(f"{where}: metadata sim2real_source={source!r} is not a string")
        return cls(task, rate, source)


@dataclass(frozen=True)
class EpisodeMeta:
    """One episode's metadata: its success flag and, for simulated data, the true dynamics it ran under."""

    success: bool | None
    true_dynamics: dict[str, float]

    @classmethod
    def parse(cls, meta: dict[str, Any], where: str) -> EpisodeMeta:
        """From Minari's episode metadata; a non-boolean success flag or an unknown or non-finite dynamics
        value is a one-line :class:`DatasetError`."""
        from sim2real.sim.dynamics import param_spec

        success = meta.get("success")
        if success is not None:
            if isinstance(success, np.ndarray) and success.size == 1:
                success = success.item()
            if not isinstance(success, (bool, np.bool_)) and success not in (0, 1):
                raise DatasetError(f"{where}: success={success!r} is not a boolean; store true or false per episode")
            success = bool(success)
        dyn = {}
        for k, v in meta.items():
            if not k.startswith("true_dynamics."):
                continue
            name = k[len("true_dynamics.") :]
            if param_spec(name) is None:
                raise DatasetError(f"{where}: true_dynamics.{name} is not a canonical dynamics parameter")
            try:
                value = float(v)
            except (TypeError, ValueError):
                value = float("nan")
            if not np.isfinite(value):
                raise DatasetError(f"{where}: true_dynamics.{name}={v} is not a finite number")
            dyn[name] = value
        return cls(success, dyn)


_ID = re.compile(r"^[A-Za-z0-9_.]+(-[A-Za-z0-9_.]+)*-v\d+$")


def split_path(path: str | Path) -> tuple[Path, str]:
    """A dataset directory ``<root>/<name>-v<N>`` as (root, Minari dataset id)."""
    p = Path(path)
    if not _ID.match(p.name):
        raise DatasetError(
            f"dataset '{path}': the last path component must be a Minari id '<name>-v<N>', e.g. data/grasp-real-v0"
        )
    return p.parent, p.name


def _use_root(root: str | Path) -> Path:
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    os.environ["MINARI_DATASETS_PATH"] = str(root)
    return root


def is_dataset(path: Path) -> bool:
    """A directory that holds a Minari dataset (``data/metadata.json`` and ``data/main_data.hdf5``)."""
    return (path / "data" / "metadata.json").is_file() and (path / "data" / "main_data.hdf5").is_file()


def check_new(path: str | Path, overwrite: bool = False) -> None:
    """Refuse to write a dataset where one exists (unless ``overwrite``) or where anything else is:
    called before any episode is run, and again just before the move into place."""
    root, dataset_id = split_path(path)
    final = Path(root) / dataset_id
    if not final.exists():
        return
    if not is_dataset(final):
        raise DatasetError(
            f"dataset {final}: exists and is not a dataset (no data/metadata.json, data/main_data.hdf5); "
            "it is never removed: choose another out="
        )
    if not overwrite:
        raise DatasetError(f"dataset {final}: already exists; choose another name (e.g. -v1) or pass overwrite=true")


def write_dataset(
    dataset_id: str,
    root: str | Path,
    task: str,
    episodes: list[EpisodeLog],
    metadata: dict[str, Any],
    overwrite: bool = False,
    env_kwargs: dict[str, Any] | None = None,
) -> Path:
    """Write ``episodes`` as Minari dataset ``dataset_id`` (``<name>-v<N>``) under ``root``: built in a staging
    directory of this process under ``root/.partial`` and moved into place once complete, so a crash never
    leaves a half-written dataset. An existing dataset is replaced only with ``overwrite``; anything else at
    that path is never touched. ``env_kwargs`` (``randomization``, ``dynamics``: what the data was collected on)
    go into the stored env spec, so Minari's ``recover_environment()`` rebuilds that env, not the nominal one."""
    if not episodes:
        raise DatasetError(f"dataset {dataset_id}: no finished episodes to write")
    root = Path(root).resolve()
    check_new(root / dataset_id, overwrite)
    (root / ".partial").mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=root / ".partial"))
    try:
        return _write_staged(dataset_id, root, staging, task, episodes, metadata, overwrite, env_kwargs or {})
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # this process's own staging directory
        with contextlib.suppress(OSError):
            (root / ".partial").rmdir()  # only when empty: another writer may be staging there
        _use_root(root)


def _write_staged(
    dataset_id: str,
    root: Path,
    staging: Path,
    task: str,
    episodes: list[EpisodeLog],
    metadata: dict[str, Any],
    overwrite: bool,
    env_kwargs: dict[str, Any],
) -> Path:
    """Build the dataset in ``staging`` (Minari writes under ``MINARI_DATASETS_PATH``), then move it to ``root``."""
    import minari
    from minari.data_collector import EpisodeBuffer

    from sim2real.io import git_commit, versions

    _use_root(staging)
    env = tasks.make(task, **{k: _plain(v) for k, v in env_kwargs.items()})
    buffers = [
        EpisodeBuffer(
            id=i,
            seed=ep.seed,
            observations=[np.asarray(o, dtype=np.float32) for o in ep.observations],
            actions=[np.asarray(a, dtype=np.float32) for a in ep.actions],
            rewards=list(ep.rewards),
            terminations=list(ep.terminations),
            truncations=list(ep.truncations),
            infos=_infos(ep),
        )
        for i, ep in enumerate(episodes)
    ]
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
            code_permalink=f"sim2real commit {git_commit()}",
            description=f"sim2real {task} episodes ({metadata.get('source', 'sim2real')}); env spec kwargs: "
            f"the dynamics the data was collected on ({'given' if env_kwargs else 'unknown: the nominal sim'})",
            data_format="hdf5",
            requirements=[f"sim2real=={versions().get('sim2real', '0')}", "sim2real-runtime"],
        )
    ds.storage.update_metadata(
        {
            "sim2real_task": task,
            "sim2real_task_spec": json.dumps(tasks.record(task)),  # read back by tasks.adopt (no --config-dir)
            "sim2real_control_rate_hz": float(1.0 / tasks.core(env).dt),
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
    env.close()
    final = root / dataset_id
    check_new(final, overwrite)  # nothing appeared there meanwhile
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():  # an earlier dataset, replaced on request: moved aside, removed after the move
        old = staging / "replaced"
        os.replace(final, old)
    os.replace(staging / dataset_id, final)
    return final


def _plain(v: Any) -> Any:
    """OmegaConf containers as plain dicts and lists, so the env spec is JSON (Minari stores it so)."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    return OmegaConf.to_container(v, resolve=True) if isinstance(v, (DictConfig, ListConfig)) else v


def _infos(ep: EpisodeLog) -> dict[str, np.ndarray]:
    """Per-step infos (T + 1 entries, the first for the reset): ``success`` at the end, and each reward term
    where every step reported the same terms (0 at the reset)."""
    infos = {"success": np.array([False] * (len(ep.actions) - 1) + [ep.success] + [ep.success])}
    terms = ep.reward_terms
    if terms and len(terms) == len(ep.actions) and all(t.keys() == terms[0].keys() for t in terms):
        for k in terms[0]:
            infos[f"reward_{k}"] = np.array([0.0] + [t[k] for t in terms])
    return infos


def load_dataset(dataset_id: str, root: str | Path, task: str) -> Any:
    """Load and check a dataset for ``task``: spaces, finiteness, non-empty (a Minari ``MinariDataset``)."""
    import minari

    _use_root(root)
    if not (Path(root) / dataset_id).is_dir():
        raise DatasetError(f"dataset {Path(root) / dataset_id}: no such dataset directory")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            ds = minari.load_dataset(dataset_id)
    except (FileNotFoundError, ValueError, KeyError, OSError) as e:
        raise DatasetError(f"dataset {Path(root) / dataset_id}: cannot be loaded ({str(e).splitlines()[0]})") from None
    if ds.total_episodes == 0:
        raise DatasetError(f"dataset {dataset_id}: it holds no episodes")
    meta = DatasetMeta.parse(dict(ds.storage.metadata), f"dataset {Path(root) / dataset_id}")
    if meta.task is not None and meta.task != task:
        raise DatasetError(f"dataset {dataset_id}: it is a {meta.task} dataset, not {task}; use task={meta.task}")
    env = tasks.make(task)
    rate = 1.0 / tasks.core(env).dt
    if meta.control_rate_hz is not None and abs(meta.control_rate_hz - rate) > 1e-6 * rate:
        raise DatasetError(
            f"dataset {dataset_id}: logged at {meta.control_rate_hz:g} Hz, task {task} runs at {rate:g} Hz; log at "
            "the task's rate (or resample the log before importing it)"
        )
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    for ep in episodes_of(ds, Path(root) / dataset_id):
        check_episode(
            f"dataset {dataset_id}, episode {ep.id}", task, ep.observations, ep.actions, ep.rewards, obs_dim, act_dim
        )
    return ds


def episodes_of(ds: Any, path: Path) -> list[Any]:
    """All episodes of a loaded dataset; an unreadable HDF5 file (truncated, corrupt) is a one-line error."""
    try:
        return list(ds.iterate_episodes())
    except (OSError, KeyError, ValueError) as e:
        raise DatasetError(
            f"dataset {path}: data/main_data.hdf5 cannot be read ({str(e).splitlines()[0]}); it is truncated or "
            "corrupt: copy it again or re-collect"
        ) from None


def check_episode(
    where: str, task: str, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray, obs_dim: int, act_dim: int
) -> None:
    """One episode's arrays against the task's spaces: shapes, lengths, finite values, actions in [-1, 1]."""
    if obs.ndim != 2 or actions.ndim != 2 or obs.shape[1] != obs_dim or actions.shape[1] != act_dim:
        raise DatasetError(
            f"{where}: observations {obs.shape[1:]} / actions {actions.shape[1:]}, task {task} needs "
            f"({obs_dim},) / ({act_dim},)"
        )
    if len(actions) == 0 or len(obs) != len(actions) + 1 or len(rewards) != len(actions):
        raise DatasetError(
            f"{where}: {len(obs)} observations, {len(actions)} actions, {len(rewards)} rewards; an episode of T >= 1 "
            "steps needs T + 1 observations and T actions and rewards"
        )
    if not (np.isfinite(obs).all() and np.isfinite(actions).all() and np.isfinite(rewards).all()):
        raise DatasetError(f"{where}: non-finite values (NaN or inf); drop or repair those episodes")
    if np.abs(actions).max() > 1.0 + 1e-6:
        raise DatasetError(f"{where}: actions outside [-1, 1]; log the normalised actions the policy sent")


def read(path: str | Path, task: str | None = None) -> Logged:
    """Load and check the dataset at ``path`` (``<root>/<name>-v<N>``) for ``task`` (default: its own task)."""
    root, dataset_id = split_path(path)
    if not Path(path).is_dir():
        raise DatasetError(f"dataset {path}: no such dataset directory")
    if task is None:
        meta_file = Path(path) / "data" / "metadata.json"
        if meta_file.is_file():
            try:
                meta = read_json(meta_file)
            except ValueError as e:
                raise DatasetError(f"dataset {path}: {e}") from None
            task = meta.get("sim2real_task") if isinstance(meta, dict) else None
            recorded = meta.get("sim2real_task_spec") if isinstance(meta, dict) else None
            if isinstance(task, str) and isinstance(recorded, str):
                from sim2real_runtime.safeio import loads_strict

                try:
                    tasks.adopt(
                        task, loads_strict(recorded.encode(), f"dataset {path}: sim2real_task_spec"), f"dataset {path}"
                    )
                except ValueError as e:
                    raise DatasetError(str(e)) from None
        if task not in tasks.names():
            what = f"records task '{task}', which is not registered here" if task else "does not record its task"
            raise DatasetError(f"dataset {path}: it {what}; add task=<{'|'.join(tasks.names())}> (or --config-dir)")
    ds = load_dataset(dataset_id, root, task)
    eps = episodes_of(ds, Path(path))
    ep_meta = [
        EpisodeMeta.parse(dict(m), f"dataset {path}, episode {i}")
        for i, m in enumerate(ds.storage.get_episode_metadata(range(ds.total_episodes)))
    ]
    true_dyn = [m.true_dynamics for m in ep_meta]
    success = [
        m.success if m.success is not None else bool(np.asarray(e.infos.get("success", [False]))[-1])
        for e, m in zip(eps, ep_meta, strict=True)
    ]
    return Logged(
        task=task,
        path=Path(path),
        observations=[np.asarray(e.observations, dtype=np.float64) for e in eps],
        actions=[np.asarray(e.actions, dtype=np.float64) for e in eps],
        rewards=[np.asarray(e.rewards, dtype=np.float64) for e in eps],
        terminations=[np.asarray(e.terminations, dtype=bool) for e in eps],
        truncations=[np.asarray(e.truncations, dtype=bool) for e in eps],
        success=success,
        metadata=dict(ds.storage.metadata),
        true_dynamics=true_dyn,
    )


def write(
    path: str | Path,
    task: str,
    episodes: list[EpisodeLog],
    metadata: dict[str, Any],
    overwrite: bool = False,
    env_kwargs: dict[str, Any] | None = None,
) -> Path:
    """Write ``episodes`` as the dataset at ``path`` (``<root>/<name>-v<N>``); an existing dataset is replaced
    only with ``overwrite``; ``env_kwargs`` as in :func:`write_dataset`."""
    root, dataset_id = split_path(path)
    return write_dataset(dataset_id, root, task, episodes, metadata, overwrite, env_kwargs)


NPZ_KEYS = ("observations", "actions", "rewards", "terminations", "truncations", "episode_lengths")


def _check_flags(npz: str | Path, key: str, v: np.ndarray) -> None:
    """Per-step end flags: booleans, or integers 0/1."""
    ok = v.dtype == bool or (np.issubdtype(v.dtype, np.integer) and np.isin(v, (0, 1)).all())
    if not ok:
        raise DatasetError(f"{npz}: {key} must be booleans or 0/1 integers, got dtype {v.dtype}")


def _success_flags(npz: str | Path, v: np.ndarray) -> np.ndarray:
    """Per-episode success flags: booleans, or integers 0/1 (strings such as "yes" are refused, not read as True)."""
    v = np.asarray(v).reshape(-1)
    if v.dtype == bool:
        return v
    if np.issubdtype(v.dtype, np.integer) and np.isin(v, (0, 1)).all():
        return v.astype(bool)
    raise DatasetError(f"{npz}: success must be booleans or 0/1 integers (one per episode), got dtype {v.dtype}")


def import_npz(npz: str | Path, task: str, out: str | Path, overwrite: bool = False) -> tuple[Path, list[str]]:
    """Convert a plain NumPy log (layout in ``docs/datasets.md``) into a checked dataset at ``out``.

    Returns the dataset path and notes on what was repaired (episodes logged without an end flag
    are marked truncated on their last step)."""
    check_new(out, overwrite)
    try:  # every member's shape and dtype from its header first: no allocation from a declared size
        headers = npz_headers(npz)
    except (FileNotFoundError, ValueError) as e:
        raise DatasetError(str(e)) from None
    for k, (shape, dtype) in headers.items():
        if math.prod(shape) > MAX_IMPORT_ELEMENTS:
            raise DatasetError(f"{npz}: array {k} declares {math.prod(shape)} values (at most {MAX_IMPORT_ELEMENTS})")
        if not (dtype == np.bool_ or np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)):
            raise DatasetError(f"{npz}: array {k} is {dtype}; logs hold real numbers (no complex, strings or objects)")
    try:
        f = np.load(npz, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise DatasetError(f"{npz}: not a readable .npz file ({type(e).__name__}: {e})") from None
    if not hasattr(f, "files"):
        raise DatasetError(f"{npz}: a single .npy array, not an .npz archive of named arrays (see docs/datasets.md)")
    missing = [k for k in NPZ_KEYS if k not in f.files]
    if missing:
        raise DatasetError(f"{npz}: missing arrays {', '.join(missing)}; the layout needs {', '.join(NPZ_KEYS)}")
    lengths = np.asarray(f["episode_lengths"])
    if lengths.ndim != 1 or len(lengths) == 0 or not np.issubdtype(lengths.dtype, np.integer) or (lengths < 1).any():
        raise DatasetError(f"{npz}: episode_lengths must be a non-empty 1-D integer array of steps (each >= 1)")
    for k in ("observations", "actions", "rewards"):
        if f[k].dtype == np.bool_:
            raise DatasetError(f"{npz}: {k} are booleans; log them as numbers")
    # values as they will be stored (float32): a float64 1e300 becomes inf there, so it is refused here
    obs, act = (np.asarray(f[k], dtype=np.float32).astype(np.float64) for k in ("observations", "actions"))
    per_step = {k: np.asarray(f[k]).reshape(-1) for k in ("rewards", "terminations", "truncations")}
    n = int(lengths.sum())
    if len(act) != n or len(obs) != n + len(lengths) or any(len(v) != n for v in per_step.values()):
        raise DatasetError(
            f"{npz}: episode_lengths sum to {n} steps over {len(lengths)} episodes, so actions, rewards, terminations "
            f"and truncations need {n} rows and observations {n + len(lengths)} (T + 1 per episode); found "
            f"{len(act)}, {len(per_step['rewards'])}, {len(per_step['terminations'])}, "
            f"{len(per_step['truncations'])} and {len(obs)}"
        )
    success = _success_flags(npz, f["success"]) if "success" in f.files else np.zeros(len(lengths), bool)
    if len(success) != len(lengths):
        raise DatasetError(f"{npz}: success has {len(success)} entries for {len(lengths)} episodes")
    for key in ("terminations", "truncations"):
        _check_flags(npz, key, per_step[key])
    env = tasks.make(task)
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    notes, logs, o0, a0 = [], [], 0, 0
    for i, t in enumerate(lengths.tolist()):
        o, a = obs[o0 : o0 + t + 1], act[a0 : a0 + t]
        r = per_step["rewards"][a0 : a0 + t].astype(np.float64)
        term = per_step["terminations"][a0 : a0 + t].astype(bool)
        trunc = per_step["truncations"][a0 : a0 + t].astype(bool)
        check_episode(f"{npz}, episode {i}", task, o, a, r, obs_dim, act_dim)
        if term[:-1].any() or trunc[:-1].any():
            k = int(np.flatnonzero(term[:-1] | trunc[:-1])[0])
            raise DatasetError(
                f"{npz}, episode {i}: ends (termination or truncation) at step {k} of {t}; an episode ends on its "
                "last step only: fix episode_lengths or split the episode"
            )
        if not (term[-1] or trunc[-1]):
            trunc = trunc.copy()
            trunc[-1] = True
            notes.append(f"episode {i}: no end flag on its last step, marked truncated")
        logs.append(
            EpisodeLog(
                seed=i,
                observations=list(o),
                actions=list(a),
                rewards=r.tolist(),
                terminations=term.tolist(),
                truncations=trunc.tolist(),
                success=bool(success[i]),
            )
        )
        o0, a0 = o0 + t + 1, a0 + t
    return write(out, task, logs, {"source": f"import {Path(npz).name}"}, overwrite), notes
