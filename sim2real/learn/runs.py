"""Run directories and checkpoints: atomic periodic saves, resume, and finding a policy by name.

A run directory holds ``model.zip`` (SB3), ``normalization.npz``, ``run.json`` (task, algo, spaces,
dynamics, seed, commit, command, versions), the Hydra config under ``.hydra/``, TensorBoard events
under ``tb/`` and ``checkpoints/ckpt-<step>/`` with a ``checkpoints/latest`` pointer.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecNormalize

from sim2real.io import atomic_write, read_json, write_json
from sim2real.learn.vec import save_normalization

ALGOS: dict[str, type[BaseAlgorithm]] = {"ppo": PPO, "sac": SAC}


@dataclass(frozen=True)
class PolicySource:
    """Where a trained policy lives: ``model.zip``, ``normalization.npz`` and ``run.json`` in ``path``."""

    path: Path
    meta: dict[str, Any]

    @property
    def task(self) -> str:
        return self.meta["task"]

    @property
    def algo(self) -> str:
        return self.meta["algo"]

    @property
    def model_path(self) -> Path:
        return self.path / "model.zip"

    @property
    def norm_path(self) -> Path:
        return self.path / "normalization.npz"


def shipped_policies() -> list[str]:
    """Names of the pretrained policies shipped in ``sim2real.policies``."""
    root = resources.files("sim2real.policies")
    return sorted(p.name for p in root.iterdir() if p.is_dir() and p.joinpath("run.json").is_file())


def resolve_policy(spec: str | Path) -> PolicySource:
    """A run directory, a checkpoint directory, or a shipped policy name such as ``navigate-dr``."""
    spec_s = str(spec)
    path = Path(spec_s).expanduser()
    if not path.exists():
        shipped = resources.files("sim2real.policies").joinpath(spec_s)
        if spec_s and shipped.is_dir() and shipped.joinpath("run.json").is_file():
            path = Path(str(shipped))
        else:
            raise FileNotFoundError(
                f"policy '{spec_s}' is neither a run directory nor a shipped policy "
                f"(shipped: {', '.join(shipped_policies()) or 'none'})"
            )
    if (path / "checkpoints" / "latest").is_file() and not (path / "model.zip").is_file():
        path = latest_checkpoint(path) or path  # an unfinished run: use its last checkpoint
    for name in ("run.json", "model.zip", "normalization.npz"):
        if not (path / name).is_file():
            raise FileNotFoundError(f"policy '{spec_s}': {path / name} is missing; is this a finished run directory?")
    meta = read_json(path / "run.json")
    for key in ("task", "algo", "obs_dim", "action_dim"):
        if key not in meta:
            raise ValueError(f"policy '{spec_s}': {path / 'run.json'} has no '{key}'")
    if meta["algo"] not in ALGOS:
        raise ValueError(f"policy '{spec_s}': unknown algo '{meta['algo']}' (known: {', '.join(ALGOS)})")
    return PolicySource(path, meta)


def save_policy(directory: Path, model: BaseAlgorithm, norm: VecNormalize, meta: dict[str, Any]) -> None:
    """Write ``model.zip``, ``normalization.npz`` and ``run.json`` into ``directory``, each atomically."""
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write(directory / "model.zip", lambda p: model.save(p), suffix=".zip")
    save_normalization(directory / "normalization.npz", norm)
    write_json(directory / "run.json", {**meta, "num_timesteps": int(model.num_timesteps)})


def checkpoint_step(path: Path) -> int | None:
    """The step of a ``ckpt-<step>`` directory, or ``None`` for any other name."""
    name = path.name
    if not name.startswith("ckpt-") or not name[5:].isdigit():
        return None
    return int(name[5:])


def save_checkpoint(
    run_dir: Path, model: BaseAlgorithm, norm: VecNormalize, meta: dict[str, Any], keep: int = 2
) -> Path:
    """Write ``checkpoints/ckpt-<step>`` in a temporary directory of this process, rename it, move the pointer,
    then prune older checkpoints of this run by step (the ``keep`` newest at or below this step stay)."""
    root = run_dir / "checkpoints"
    step = int(model.num_timesteps)
    final = root / f"ckpt-{step:010d}"
    tmp = root / f".tmp-{step:010d}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)  # this process's own leftover only
    save_policy(tmp, model, norm, meta)
    if isinstance(model, SAC):
        model.save_replay_buffer(tmp / "replay_buffer.pkl")
    if final.exists():  # the same step saved again (e.g. the final save after a periodic one)
        old = root / f".old-{step:010d}-{os.getpid()}"
        final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old)
    else:
        tmp.rename(final)
    atomic_write(root / "latest", lambda p: Path(p).write_text(final.name + "\n"))
    older = sorted((s, p) for p in root.iterdir() if (s := checkpoint_step(p)) is not None and s <= step)
    for _, old_ckpt in older[:-keep]:
        shutil.rmtree(old_ckpt, ignore_errors=True)
    return final


def check_replay_buffer(model: BaseAlgorithm, path: Path) -> None:
    """A loaded SAC replay buffer must match the model's spaces and hold finite values only."""
    buf = model.replay_buffer
    n = buf.buffer_size if buf.full else buf.pos
    obs_shape, act_shape = model.observation_space.shape, model.action_space.shape
    if buf.observations.shape[2:] != obs_shape or buf.actions.shape[2:] != act_shape:
        raise ValueError(
            f"{path}: replay buffer holds observations {buf.observations.shape[2:]} / actions {buf.actions.shape[2:]}, "
            f"the policy needs {obs_shape} / {act_shape}"
        )
    for name in ("observations", "next_observations", "actions", "rewards"):
        arr = getattr(buf, name, None)
        if arr is not None and not np.isfinite(arr[:n]).all():
            raise ValueError(f"{path}: replay buffer {name} hold non-finite values (NaN or inf); set keep_buffer=false")


def check_fresh(run_dir: Path) -> None:
    """A new run never starts in a directory that holds another run's checkpoints, model or evaluations."""
    ckpts = run_dir / "checkpoints"
    found = [p.name for p in (run_dir / "model.zip", run_dir / "evaluations.jsonl") if p.exists()]
    if ckpts.is_dir() and any(checkpoint_step(p) is not None for p in ckpts.iterdir()):
        found.append("checkpoints/")
    if found:
        raise ValueError(
            f"{run_dir} already holds a run ({', '.join(found)}); continue it with resume={run_dir}, "
            "or choose another directory (hydra.run.dir= or out_dir=)"
        )


def policy_digest(path: Path) -> str:
    """SHA-256 of a policy's model and normaliser bytes: a unit is reused only for the same policy content."""
    h = hashlib.sha256()
    for name in ("model.zip", "normalization.npz"):
        h.update((Path(path) / name).read_bytes())
    return h.hexdigest()


def latest_checkpoint(run_dir: Path) -> Path | None:
    pointer = run_dir / "checkpoints" / "latest"
    if not pointer.is_file():
        return None
    path = run_dir / "checkpoints" / pointer.read_text().strip()
    return path if (path / "model.zip").is_file() else None


def load_model(src: PolicySource, env: object = None, **kwargs: object) -> BaseAlgorithm:
    """Load the SB3 model of ``src`` on the CPU; checks its spaces against ``run.json``."""
    model = ALGOS[src.algo].load(src.model_path, env=env, device="cpu", **kwargs)
    if model.observation_space.shape != (src.meta["obs_dim"],):
        raise ValueError(f"{src.model_path}: observation shape {model.observation_space.shape} does not match run.json")
    return model
