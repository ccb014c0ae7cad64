"""Run directories and checkpoints: atomic periodic saves, resume, and finding a policy by name.

A run directory holds a policy in the format of :mod:`sim2real.learn.checkpoint` (``policy.safetensors``,
``optimizer.safetensors``, ``normalization.npz``, ``run.json``: task, algo, spaces, dynamics, seed, commit,
command, versions, file hashes), the Hydra config under ``.hydra/``, TensorBoard events under ``tb/`` and
``checkpoints/ckpt-<step>/`` with a ``checkpoints/latest`` pointer.

A policy is named by a path (``./navigate-dr``, ``runs/x``: anything with a ``/``) or by the name of a shipped
policy (``navigate-dr``), which resolves only to the package's own ``policies/`` folder.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from stable_baselines3 import SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecNormalize

from sim2real.io import atomic_write, read_json
from sim2real.learn import checkpoint as ckpt
from sim2real.learn.checkpoint import ALGOS, CheckpointError

__all__ = ["ALGOS", "CheckpointError", "PolicySource", "resolve_policy", "save_policy", "load_model"]


@dataclass(frozen=True)
class PolicySource:
    """Where a trained policy lives: the files of :mod:`sim2real.learn.checkpoint` in ``path``."""

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
        return self.path / ckpt.POLICY_FILE

    @property
    def norm_path(self) -> Path:
        return self.path / ckpt.NORM_FILE


def shipped_policies() -> list[str]:
    """Names of the pretrained policies shipped in ``sim2real.policies``."""
    root = resources.files("sim2real.policies")
    return sorted(p.name for p in root.iterdir() if p.is_dir() and p.joinpath("run.json").is_file())


def looks_like_path(spec: str) -> bool:
    """``./x``, ``../x``, ``~/x``, ``/x`` or anything with a ``/``: a path, never a shipped name."""
    return "/" in spec or spec.startswith((".", "~")) or os.sep in spec


def resolve_policy(spec: str | Path) -> PolicySource:
    """A run directory, a checkpoint directory, or a shipped policy name such as ``navigate-dr``. A bare name
    resolves only to a shipped policy; a directory of the same name in the working directory is refused (write
    ``./<name>`` for it), so that no local folder can stand in for a shipped policy."""
    spec_s = str(spec)
    if isinstance(spec, Path) and not spec.is_absolute() and not looks_like_path(spec_s):
        spec_s = f"./{spec_s}"  # a Path object is a path
    shipped = resources.files("sim2real.policies").joinpath(spec_s) if spec_s else None
    if not looks_like_path(spec_s):
        is_shipped = shipped is not None and shipped.is_dir() and shipped.joinpath("run.json").is_file()
        if is_shipped and Path(spec_s).exists():
            raise FileNotFoundError(
                f"policy '{spec_s}' is both a shipped policy and a path here; write ./{spec_s} for the local "
                "directory, or run from another directory for the shipped one"
            )
        if not is_shipped:
            hint = f"; for the directory here write ./{spec_s}" if Path(spec_s).exists() else ""
            raise FileNotFoundError(
                f"policy '{spec_s}' is neither a path (./dir, runs/x) nor a shipped policy "
                f"(shipped: {', '.join(shipped_policies()) or 'none'}){hint}"
            )
        path = Path(str(shipped))
    else:
        path = Path(spec_s).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(f"policy '{spec_s}': no such run directory")
    if (path / "checkpoints" / "latest").is_file() and not ckpt.is_policy_dir(path) and not ckpt.is_legacy_dir(path):
        path = latest_checkpoint(path) or path  # an unfinished run: use its last checkpoint
    if ckpt.is_legacy_dir(path):
        raise CheckpointError(ckpt.legacy_message(path))
    for name in (ckpt.META_FILE, ckpt.POLICY_FILE, ckpt.NORM_FILE):
        if not (path / name).is_file():
            raise FileNotFoundError(f"policy '{spec_s}': {path / name} is missing; is this a finished run directory?")
    meta = read_json(path / ckpt.META_FILE)
    if not isinstance(meta, dict):
        raise ValueError(f"policy '{spec_s}': {path / ckpt.META_FILE} must be a JSON object")
    for key in ("task", "algo", "obs_dim", "action_dim"):
        if key not in meta:
            raise ValueError(f"policy '{spec_s}': {path / 'run.json'} has no '{key}'")
    if not isinstance(meta["task"], str) or meta["algo"] not in ALGOS:
        raise ValueError(f"policy '{spec_s}': run.json's algo {meta['algo']!r} is not one of {', '.join(ALGOS)}")
    for key in ("obs_dim", "action_dim"):
        if not isinstance(meta[key], int) or isinstance(meta[key], bool) or not 1 <= meta[key] <= 1_000_000:
            raise ValueError(f"policy '{spec_s}': run.json's {key}={meta[key]!r} must be a positive integer")
    ckpt.verify_files(path, meta, (ckpt.POLICY_FILE, ckpt.NORM_FILE))
    from sim2real.sim import tasks

    # the run's own task spec: known here without --config-dir; refused (TaskError) if a registered one differs
    tasks.adopt(meta["task"], meta.get("task_spec"), f"policy '{spec_s}' ({path / ckpt.META_FILE})")
    return PolicySource(path, meta)


def save_policy(
    directory: Path, model: BaseAlgorithm, norm: VecNormalize, meta: dict[str, Any], replay_buffer: bool = False
) -> None:
    """Write the policy's files into ``directory`` (:func:`sim2real.learn.checkpoint.save_policy`)."""
    ckpt.save_policy(directory, model, norm, meta, replay_buffer=replay_buffer)


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
    save_policy(tmp, model, norm, meta, replay_buffer=isinstance(model, SAC))
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


def check_fresh(run_dir: Path) -> None:
    """A new run never starts in a directory that holds another run's checkpoints, model or evaluations."""
    ckpts = run_dir / "checkpoints"
    files = (run_dir / ckpt.POLICY_FILE, run_dir / ckpt.LEGACY_FILE, run_dir / "evaluations.jsonl")
    found = [p.name for p in files if p.exists()]
    if ckpts.is_dir() and any(checkpoint_step(p) is not None for p in ckpts.iterdir()):
        found.append("checkpoints/")
    if found:
        raise ValueError(
            f"{run_dir} already holds a run ({', '.join(found)}); continue it with resume={run_dir}, "
            "or choose another directory (hydra.run.dir= or out_dir=)"
        )


def policy_digest(path: Path) -> str:
    """SHA-256 of a policy's weights and normaliser bytes: a unit is reused only for the same policy content."""
    h = hashlib.sha256()
    for name in (ckpt.POLICY_FILE, ckpt.NORM_FILE):
        h.update((Path(path) / name).read_bytes())
    return h.hexdigest()


def latest_checkpoint(run_dir: Path) -> Path | None:
    pointer = run_dir / "checkpoints" / "latest"
    if not pointer.is_file():
        return None
    name = pointer.read_text().strip()
    if checkpoint_step(Path(name)) is None or "/" in name:
        raise CheckpointError(f"{pointer}: '{name[:40]}' is not a ckpt-<step> name in this run")
    path = run_dir / "checkpoints" / name
    return path if ckpt.is_policy_dir(path) or ckpt.is_legacy_dir(path) else None


def policy_input_dim(meta: dict[str, Any]) -> int:
    """What the policy network takes: the observation, or with ``history`` K > 1 the stacked history."""
    from sim2real_runtime.memory import history_width

    k = meta.get("history", 1)
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 64:
        raise ValueError(f"run.json's history={k!r} must be an integer in [1, 64]")
    return history_width(k, meta["obs_dim"], meta["action_dim"]) if k > 1 else int(meta["obs_dim"])


def load_model(src: PolicySource, env: object = None, training: bool = False, **kwargs: object) -> BaseAlgorithm:
    """The SB3 model of ``src`` on the CPU, rebuilt without pickle (:mod:`sim2real.learn.checkpoint`); with
    ``training``, its optimisers too (resume). Checks its spaces against ``run.json``."""
    model = ckpt.load_policy_model(src.path, src.meta, env=env, training=training, **kwargs)
    space = model.observation_space
    if getattr(space, "spaces", None) is not None:  # the asymmetric actor-critic: the actor's part
        space = space["obs"]
    if space.shape != (policy_input_dim(src.meta),):
        raise ValueError(f"{src.model_path}: observation shape {model.observation_space.shape} does not match run.json")
    return model
