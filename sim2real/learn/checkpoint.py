"""The policy checkpoint format: the one module that writes and reads a trained policy, without pickle.

A policy directory (a run, a checkpoint, a shipped policy) holds:

- ``policy.safetensors``: the SB3 policy's tensors (actor, critics, targets), loaded by ``safetensors``,
  which reads tensors and nothing else;
- ``optimizer.safetensors`` (training state): the optimisers' tensors and the algorithm's torch variables
  (SAC's entropy coefficient); the optimisers' numeric settings sit in its JSON metadata;
- ``normalization.npz``: the observation and return statistics (:mod:`sim2real.learn.vec`, no pickle);
- ``replay_buffer.npz`` (SAC): the replay buffer's arrays, read with ``allow_pickle=False``;
- ``run.json``: the run's record, with a ``checkpoint`` section: the format, the SHA-256 of every file above,
  the algorithm's hyperparameters as plain JSON (schedules as ``{"kind": "linear", ...}``), its spaces and
  its counters. The model is rebuilt from that section, never unpickled.

SB3's ``model.zip`` (cloudpickle inside) is never read here. An old-style directory is refused with the
command that converts it (``sim2real convert policy=<dir> --trust``): :func:`convert_legacy` is the only
place that unpickles, and only when the user says they trust the file.

A file whose SHA-256 differs from ``run.json`` is refused; ``SIM2REAL_ALLOW_MODIFIED=1`` in the environment
loads it anyway (the hash guards against a corrupt or swapped file; it is not a signature: whoever can edit
the weights can edit ``run.json`` too, which is why no file here can run code).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from stable_baselines3 import SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecNormalize

from sim2real.io import atomic_write, check_npz_members, write_json
from sim2real.learn.model_spec import ALGOS, FORMAT, CheckpointError, build_model, describe, finite, plain_json
from sim2real.learn.vec import save_normalization

__all__ = ["ALGOS", "FORMAT", "CheckpointError", "build_model", "describe", "load_policy_model", "save_policy"]

POLICY_FILE = "policy.safetensors"
TRAINING_FILE = "optimizer.safetensors"
NORM_FILE = "normalization.npz"
BUFFER_FILE = "replay_buffer.npz"
META_FILE = "run.json"
LEGACY_FILE = "model.zip"
ALLOW_MODIFIED = "SIM2REAL_ALLOW_MODIFIED"  # "1": load files whose SHA-256 differs from run.json
_BUFFER_ARRAYS = ("observations", "next_observations", "actions", "rewards", "dones", "timeouts")
MAX_BUFFER_BYTES = 8 * 2**30  # a replay buffer larger than this is refused before it is read


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def is_policy_dir(path: Path) -> bool:
    """A directory that holds a policy in this format (``run.json`` and ``policy.safetensors``)."""
    return (Path(path) / META_FILE).is_file() and (Path(path) / POLICY_FILE).is_file()


def is_legacy_dir(path: Path) -> bool:
    """A directory with SB3's pickled ``model.zip`` and no safe policy."""
    return (Path(path) / LEGACY_FILE).is_file() and not (Path(path) / POLICY_FILE).is_file()


def legacy_message(path: Path) -> str:
    return (
        f"{Path(path) / LEGACY_FILE} is an SB3 pickle checkpoint, which can run code when loaded; sim2real loads "
        f"only {POLICY_FILE}. If you trust where it came from, convert it: "
        f"sim2real convert policy={path} --trust"
    )


# ---------------------------------------------------------------- tensors


def _state_tensors(model: BaseAlgorithm) -> tuple[dict[str, th.Tensor], dict[str, th.Tensor], dict[str, str]]:
    """(policy tensors, training tensors, training metadata) of ``model``."""
    state_dicts, variables = model._get_torch_save_params()
    policy: dict[str, th.Tensor] = {}
    training: dict[str, th.Tensor] = {}
    groups: dict[str, Any] = {}
    for name in state_dicts:
        sd = _get(model, name).state_dict()
        if name == "policy":
            policy = {k: v.detach().cpu().clone().contiguous() for k, v in sd.items()}
            continue
        groups[name] = []
        for g in sd["param_groups"]:
            groups[name].append({k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()})
        for idx, st in sd["state"].items():
            for k, v in st.items():
                if not isinstance(v, th.Tensor):
                    v = th.tensor(float(v))
                training[f"{name}/state/{idx}/{k}"] = v.detach().cpu().clone().contiguous()
    for name in variables or []:
        v = _get(model, name)
        if v is not None:
            training[f"variable/{name}"] = v.detach().cpu().clone().contiguous()
    return policy, training, {"param_groups": json.dumps(groups)}


def _get(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def _read_tensors(path: Path, what: str) -> tuple[dict[str, th.Tensor], dict[str, str]]:
    try:
        tensors = load_file(str(path), device="cpu")
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing; the {what} is incomplete") from None
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path}: not a readable safetensors file ({str(e).splitlines()[0][:120]})") from None
    return tensors, meta


def _load_policy_tensors(model: BaseAlgorithm, tensors: dict[str, th.Tensor], path: Path) -> None:
    want = model.policy.state_dict()
    missing, extra = sorted(set(want) - set(tensors)), sorted(set(tensors) - set(want))
    if missing or extra:
        raise CheckpointError(
            f"{path}: tensors {'missing ' + ', '.join(missing[:3]) if missing else ''}"
            f"{' unexpected ' + ', '.join(extra[:3]) if extra else ''} for this {type(model).__name__} policy"
        )
    for k, v in tensors.items():
        if v.shape != want[k].shape or v.dtype != want[k].dtype:
            raise CheckpointError(
                f"{path}: tensor {k} is {v.dtype}{tuple(v.shape)}, the policy needs "
                f"{want[k].dtype}{tuple(want[k].shape)}"
            )
        if v.is_floating_point() and not th.isfinite(v).all():
            raise CheckpointError(f"{path}: tensor {k} holds NaN or inf; the checkpoint is corrupt")
    model.policy.load_state_dict(tensors, strict=True)


def _load_training_tensors(
    model: BaseAlgorithm, tensors: dict[str, th.Tensor], meta: dict[str, str], path: Path
) -> None:
    state_dicts, variables = model._get_torch_save_params()
    try:
        groups = json.loads(meta.get("param_groups", "null"))
    except json.JSONDecodeError:
        groups = None
    if not isinstance(groups, dict):
        raise CheckpointError(f"{path}: metadata param_groups must be a JSON mapping of optimiser settings")
    used = set()
    for name in state_dicts:
        if name == "policy":
            continue
        opt = _get(model, name)
        fresh = opt.state_dict()
        saved_groups = groups.get(name)
        if not isinstance(saved_groups, list) or len(saved_groups) != len(fresh["param_groups"]):
            raise CheckpointError(f"{path}: param_groups.{name} must list {len(fresh['param_groups'])} group(s)")
        new_groups = []
        for i, (g, f) in enumerate(zip(saved_groups, fresh["param_groups"], strict=True)):
            if not isinstance(g, dict) or set(g) != set(f):
                raise CheckpointError(f"{path}: param_groups.{name}[{i}] must have the keys {sorted(f)}")
            for k, v in g.items():
                ref = f[k]
                if k == "params":
                    ok = v == list(ref)
                elif isinstance(ref, bool) or ref is None:
                    ok = v is ref or v == ref
                elif isinstance(ref, (int, float)):
                    ok = finite(v)
                elif isinstance(ref, (tuple, list)):
                    ok = isinstance(v, list) and len(v) == len(ref) and all(finite(x) for x in v)
                    v = tuple(v) if isinstance(ref, tuple) else v
                else:
                    ok = plain_json(v) and type(v) is type(ref)
                if not ok:
                    raise CheckpointError(f"{path}: param_groups.{name}[{i}].{k}={str(v)[:40]} is malformed")
                g = {**g, k: v}
            new_groups.append(g)
        params = [p for g in opt.param_groups for p in g["params"]]
        state: dict[int, dict[str, th.Tensor]] = {}
        prefix = f"{name}/state/"
        for key, t in tensors.items():
            if not key.startswith(prefix):
                continue
            parts = key[len(prefix) :].split("/")
            if len(parts) != 2 or not parts[0].isdigit() or int(parts[0]) >= len(params):
                raise CheckpointError(f"{path}: tensor {key} names no parameter of {name}")
            idx, field = int(parts[0]), parts[1]
            if field in ("exp_avg", "exp_avg_sq") and t.shape != params[idx].shape:
                raise CheckpointError(
                    f"{path}: tensor {key} is {tuple(t.shape)}, the parameter is {tuple(params[idx].shape)}"
                )
            if not th.isfinite(t).all():
                raise CheckpointError(f"{path}: tensor {key} holds NaN or inf")
            state.setdefault(idx, {})[field] = t
            used.add(key)
        try:
            opt.load_state_dict({"state": state, "param_groups": new_groups})
        except (ValueError, KeyError, RuntimeError) as e:
            raise CheckpointError(f"{path}: optimiser {name} does not load ({str(e)[:100]})") from None
    for name in variables or []:
        key = f"variable/{name}"
        target = _get(model, name)
        if target is None:
            continue
        t = tensors.get(key)
        if t is None or t.shape != target.shape or not th.isfinite(t).all():
            raise CheckpointError(f"{path}: tensor {key} is missing, misshaped or non-finite")
        target.data.copy_(t)
        used.add(key)
    extra = sorted(set(tensors) - used)
    if extra:
        raise CheckpointError(f"{path}: unexpected tensors {', '.join(extra[:3])}")


# ---------------------------------------------------------------- one call each way


def save_policy(
    directory: Path, model: BaseAlgorithm, norm: VecNormalize | Path, meta: dict[str, Any], replay_buffer: bool = False
) -> None:
    """Write a policy directory (each file atomically; ``run.json`` last, with every file's SHA-256). ``norm``:
    the normaliser, or a checked ``normalization.npz`` to copy."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    policy, training, tmeta = _state_tensors(model)
    atomic_write(directory / POLICY_FILE, lambda p: save_file(policy, p, metadata={"format": str(FORMAT)}))
    atomic_write(directory / TRAINING_FILE, lambda p: save_file(training, p, metadata=tmeta))
    if isinstance(norm, VecNormalize):
        save_normalization(directory / NORM_FILE, norm)
    else:
        atomic_write(directory / NORM_FILE, lambda p: shutil.copyfile(norm, p), suffix=".npz")
    files = [POLICY_FILE, TRAINING_FILE, NORM_FILE]
    if replay_buffer and isinstance(model, SAC):
        save_replay_buffer(directory / BUFFER_FILE, model)
        files.append(BUFFER_FILE)
    section = {**describe(model), "files": {name: sha256(directory / name) for name in files}}
    write_json(directory / META_FILE, {**meta, "num_timesteps": int(model.num_timesteps), "checkpoint": section})


def verify_files(directory: Path, meta: dict[str, Any], names: tuple[str, ...]) -> None:
    """Each of ``names`` must match its SHA-256 in ``run.json`` (unless ``SIM2REAL_ALLOW_MODIFIED=1``)."""
    files = checkpoint_section(directory, meta).get("files")
    if not isinstance(files, dict):
        raise CheckpointError(f"{directory / META_FILE}: checkpoint.files must map file names to SHA-256 digests")
    for name in names:
        f = Path(directory) / name
        if name not in files:
            raise CheckpointError(f"{directory / META_FILE}: checkpoint.files lists no {name}")
        if not f.is_file() or f.is_symlink():
            raise CheckpointError(f"{f} is missing (or a symbolic link); the policy directory is incomplete")
        if sha256(f) != files[name] and os.environ.get(ALLOW_MODIFIED) != "1":
            raise CheckpointError(
                f"{f} does not match its SHA-256 in run.json (changed or corrupt); if you changed it on purpose, "
                f"set {ALLOW_MODIFIED}=1 to load it anyway"
            )


def checkpoint_section(directory: Path, meta: dict[str, Any]) -> dict[str, Any]:
    section = meta.get("checkpoint")
    if not isinstance(section, dict):
        if (Path(directory) / LEGACY_FILE).is_file():
            raise CheckpointError(legacy_message(directory))
        raise CheckpointError(f"{Path(directory) / META_FILE}: no checkpoint section; re-save or convert the run")
    if section.get("format") != FORMAT:
        raise CheckpointError(
            f"{Path(directory) / META_FILE}: checkpoint.format={section.get('format')!r}, this "
            f"version reads format {FORMAT}"
        )
    return section


def load_policy_model(
    directory: Path, meta: dict[str, Any], env: Any = None, training: bool = False, **kwargs: Any
) -> BaseAlgorithm:
    """Rebuild the model of a policy directory and load its tensors (and, with ``training``, its optimisers)."""
    directory = Path(directory)
    names = (POLICY_FILE, TRAINING_FILE) if training else (POLICY_FILE,)
    verify_files(directory, meta, names)
    model = build_model(checkpoint_section(directory, meta), str(directory / META_FILE), env=env, **kwargs)
    tensors, _ = _read_tensors(directory / POLICY_FILE, "policy")
    _load_policy_tensors(model, tensors, directory / POLICY_FILE)
    if training:
        tensors, tmeta = _read_tensors(directory / TRAINING_FILE, "training state")
        _load_training_tensors(model, tensors, tmeta, directory / TRAINING_FILE)
    return model


# ---------------------------------------------------------------- SAC's replay buffer


def save_replay_buffer(path: Path, model: SAC) -> None:
    """The replay buffer's arrays and position as ``.npz`` (atomic; no pickle)."""
    buf = model.replay_buffer
    arrays = {k: getattr(buf, k) for k in _BUFFER_ARRAYS if getattr(buf, k, None) is not None}
    arrays["pos"] = np.array(buf.pos)
    arrays["full"] = np.array(buf.full)
    atomic_write(path, lambda p: np.savez(p, **arrays), suffix=".npz")


def load_replay_buffer(path: Path, model: SAC) -> None:
    """Fill ``model.replay_buffer`` from :func:`save_replay_buffer`'s file: every array's shape and dtype are
    checked against the model's buffer from the file's headers before anything is read; values must be finite."""
    buf = model.replay_buffer
    want = {k: getattr(buf, k) for k in _BUFFER_ARRAYS if getattr(buf, k, None) is not None}
    expected = {k: (v.shape, v.dtype) for k, v in want.items()}
    expected["pos"], expected["full"] = ((), np.dtype(np.int64)), ((), np.dtype(bool))
    total = sum(int(np.prod(s)) * d.itemsize for s, d in expected.values())
    if total > MAX_BUFFER_BYTES:
        raise CheckpointError(
            f"{path}: a replay buffer of {total / 2**30:.1f} GiB exceeds {MAX_BUFFER_BYTES >> 30} GiB"
        )
    check_npz_members(path, expected)
    try:
        with np.load(path, allow_pickle=False) as f:
            data = {k: f[k] for k in expected}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise CheckpointError(f"{path}: unreadable replay buffer ({e})") from None
    pos = int(data["pos"])
    if not 0 <= pos < buf.buffer_size:
        raise CheckpointError(f"{path}: pos={pos} lies outside the buffer of {buf.buffer_size}")
    n = buf.buffer_size if bool(data["full"]) else pos
    for k in want:
        if not np.isfinite(data[k][:n]).all():
            raise CheckpointError(f"{path}: replay buffer {k} hold NaN or inf; set keep_buffer=false")
        getattr(buf, k)[...] = data[k]
    buf.pos, buf.full = pos, bool(data["full"])


# ---------------------------------------------------------------- converting SB3's zip (trusted only)


def convert_legacy(src: Path, out: Path, trust: bool) -> Path:
    """Re-save an SB3 ``model.zip`` directory in this format into ``out`` (a new directory). Unpickles the zip:
    only with ``trust``, the user's word that the file comes from someone they trust."""
    from sim2real.io import read_json
    from sim2real.learn.vec import read_normalization

    src, out = Path(src), Path(out)
    if not trust:
        raise CheckpointError(
            f"convert unpickles {src / LEGACY_FILE}, which runs any code it holds; add --trust only if you trust "
            "where it came from"
        )
    if not (src / LEGACY_FILE).is_file():
        raise CheckpointError(f"{src / LEGACY_FILE} is missing; convert takes a directory with SB3's model.zip")
    if out.exists():
        raise CheckpointError(f"out={out} exists; convert writes a new directory and overwrites nothing")
    meta = read_json(src / META_FILE)
    if not isinstance(meta, dict) or meta.get("algo") not in ALGOS:
        raise CheckpointError(f"{src / META_FILE}: algo must be one of {', '.join(ALGOS)}")
    model = ALGOS[meta["algo"]].load(src / LEGACY_FILE, device="cpu")  # the one unpickling load, trusted
    read_normalization(src / NORM_FILE, int(model.observation_space.shape[0]))  # checked before it is copied
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    keep = {k: v for k, v in meta.items() if k != "checkpoint"}
    save_policy(tmp, model, src / NORM_FILE, keep | {"converted_from": str(src / LEGACY_FILE)})
    tmp.rename(out)
    return out
