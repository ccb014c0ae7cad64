"""A model's recipe as plain JSON, and back: what rebuilds an SB3 algorithm without pickle.

:func:`describe` turns a model into the ``checkpoint`` section of ``run.json`` (its constructor settings,
schedules as ``{"kind": "linear", ...}``, activation by name, spaces and counters); :func:`build_model` builds a
fresh model from such a section, accepting only settings of the algorithm's constructor that are plain values
(never paths, classes or devices) and refusing anything else in one line. Used by
:mod:`sim2real.learn.checkpoint`, which owns the files.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from sb3_contrib import RecurrentPPO
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.utils import ConstantSchedule, FloatSchedule, LinearSchedule

from sim2real.learn.privileged import OBS, PRIVILEGED, AsymmetricPolicy

FORMAT = 1  # the checkpoint section's format
ALGOS: dict[str, type[BaseAlgorithm]] = {"ppo": PPO, "sac": SAC, "recurrent_ppo": RecurrentPPO}
ON_POLICY = (PPO, RecurrentPPO)  # an action net, a value net and a state-independent log std
# the policy classes a checkpoint may name (never a class from the file itself)
POLICIES: dict[str, Any] = {"mlp": "MlpPolicy", "asymmetric": AsymmetricPolicy, "lstm": "MlpLstmPolicy"}
ACTIVATIONS = {"tanh": th.nn.Tanh, "relu": th.nn.ReLU, "elu": th.nn.ELU, "leaky_relu": th.nn.LeakyReLU}
# constructor keywords a checkpoint may never set: paths, classes, devices, what is rebuilt separately
_NEVER = {
    "policy",
    "env",
    "device",
    "tensorboard_log",
    "verbose",
    "seed",
    "_init_setup_model",
    "policy_kwargs",
    "learning_rate",
    "clip_range",
    "clip_range_vf",
    "action_noise",
    "replay_buffer_class",
    "replay_buffer_kwargs",
    "rollout_buffer_class",
    "rollout_buffer_kwargs",
    "stats_window_size",
    "supported_action_spaces",
    "monitor_wrapper",
}
_COUNTERS = ("num_timesteps", "_n_updates", "_episode_num")


class CheckpointError(ValueError):
    """A policy directory that cannot be loaded safely; the message names the file and the field."""


def _schedule_to_json(value: Any, what: str) -> dict[str, Any] | None:
    """A float or one of SB3's schedules as ``{"kind": "constant" | "linear", ...}``."""
    if value is None:
        return None
    while isinstance(value, FloatSchedule):
        value = value.value_schedule
    if isinstance(value, ConstantSchedule):
        return {"kind": "constant", "value": float(value.val)}
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return {"kind": "constant", "value": float(value)}
    if isinstance(value, LinearSchedule):
        return {
            "kind": "linear",
            "start": float(value.start),
            "end": float(value.end),
            "end_fraction": float(value.end_fraction),
        }
    raise CheckpointError(f"{what}: schedule {value!r} has no safe form; use a constant or linear schedule")


def _schedule_from_json(d: Any, where: str) -> Any:
    if d is None:
        return None
    if not isinstance(d, dict) or d.get("kind") not in ("constant", "linear"):
        raise CheckpointError(f"{where}: a schedule must be {{'kind': 'constant'|'linear', ...}}, got {d!r}")
    keys = ("value",) if d["kind"] == "constant" else ("start", "end", "end_fraction")
    vals = [d.get(k) for k in keys]
    if set(d) != {"kind", *keys} or not all(finite(v) for v in vals):
        raise CheckpointError(f"{where}: schedule {d!r} needs finite numbers {', '.join(keys)} and nothing else")
    if d["kind"] == "constant":
        return float(vals[0])
    if not 0 < vals[2] <= 1:
        raise CheckpointError(f"{where}: end_fraction must be in (0, 1]")
    return LinearSchedule(float(vals[0]), float(vals[1]), float(vals[2]))


def finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def plain_json(v: Any) -> bool:
    if v is None or isinstance(v, (bool, str)):
        return True
    if isinstance(v, (int, float)):
        return math.isfinite(v)
    if isinstance(v, (list, tuple)):
        return all(plain_json(x) for x in v)
    if isinstance(v, dict):
        return all(isinstance(k, str) and plain_json(x) for k, x in v.items())
    return False


def _space_to_json(space: gym.spaces.Space) -> dict[str, Any]:
    if isinstance(space, gym.spaces.Dict):  # the asymmetric actor-critic's {obs, privileged}
        return {"dict": {k: _space_to_json(s) for k, s in space.spaces.items()}}
    if not isinstance(space, gym.spaces.Box):
        raise CheckpointError(f"only Box spaces are supported, not {type(space).__name__}")
    enc = lambda a: [None if not np.isfinite(x) else float(x) for x in np.asarray(a, np.float64).ravel()]  # noqa: E731
    return {"shape": list(space.shape), "low": enc(space.low), "high": enc(space.high), "dtype": str(space.dtype)}


def _space_from_json(d: Any, where: str) -> gym.spaces.Space:
    if isinstance(d, dict) and set(d) == {"dict"}:
        keys = d["dict"]
        if not isinstance(keys, dict) or set(keys) != {OBS, PRIVILEGED}:
            raise CheckpointError(f"{where}: a dict space holds exactly {{{OBS}, {PRIVILEGED}}}, got {str(keys)[:80]}")
        return gym.spaces.Dict({k: _space_from_json(v, f"{where}.{k}") for k, v in keys.items()})
    ok = isinstance(d, dict) and set(d) == {"shape", "low", "high", "dtype"}
    shape = d.get("shape") if ok else None
    if (
        not ok
        or not isinstance(shape, list)
        or len(shape) != 1
        or not isinstance(shape[0], int)
        or isinstance(shape[0], bool)
        or not 1 <= shape[0] <= 1_000_000
        or d["dtype"] not in ("float32", "float64")
    ):
        raise CheckpointError(f"{where}: a space must be {{shape: [n], low, high, dtype: float32}}, got {str(d)[:80]}")
    n = shape[0]
    bounds = []
    for key, inf in (("low", -np.inf), ("high", np.inf)):
        vals = d[key]
        if not isinstance(vals, list) or len(vals) != n or not all(v is None or finite(v) for v in vals):
            raise CheckpointError(f"{where}.{key}: {n} finite numbers (null for unbounded) expected")
        bounds.append(np.array([inf if v is None else v for v in vals], dtype=np.float64))
    if not (bounds[0] <= bounds[1]).all():
        raise CheckpointError(f"{where}: low must not exceed high")
    return gym.spaces.Box(bounds[0].astype(d["dtype"]), bounds[1].astype(d["dtype"]), dtype=d["dtype"])


def _constructor_keys(cls: type[BaseAlgorithm]) -> set[str]:
    return {k for k in inspect.signature(cls.__init__).parameters if k not in ("self", "args", "kwargs")} - _NEVER


def _policy_kwargs_to_json(pk: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in pk.items():
        if k == "activation_fn":
            names = [n for n, c in ACTIVATIONS.items() if c is v]
            if not names:
                raise CheckpointError(f"policy_kwargs.activation_fn={v!r}: choose one of {', '.join(ACTIVATIONS)}")
            out[k] = names[0]
        elif k == "device":
            continue
        elif plain_json(v):
            out[k] = v
        else:
            raise CheckpointError(f"policy_kwargs.{k}={v!r} has no safe form")
    return out


_POLICY_KWARGS = {
    "net_arch": (list, dict),
    "activation_fn": (str,),
    "log_std_init": (int, float),
    "ortho_init": (bool,),
    "use_sde": (bool,),
    "n_critics": (int,),
    "share_features_extractor": (bool,),
    "squash_output": (bool,),
    "full_std": (bool,),
    "use_expln": (bool,),
    "normalize_images": (bool,),
    "lstm_hidden_size": (int,),
    "n_lstm_layers": (int,),
    "shared_lstm": (bool,),
    "enable_critic_lstm": (bool,),
}


def _policy_kwargs_from_json(d: Any, where: str) -> dict[str, Any]:
    if not isinstance(d, dict):
        raise CheckpointError(f"{where}: must be a mapping")
    out: dict[str, Any] = {}
    for k, v in d.items():
        if k not in _POLICY_KWARGS or not isinstance(v, _POLICY_KWARGS[k]) or not plain_json(v):
            raise CheckpointError(f"{where}.{k}={str(v)[:40]!r}: not a policy setting this format reads")
        if k == "activation_fn":
            if v not in ACTIVATIONS:
                raise CheckpointError(f"{where}.activation_fn={v!r}: choose one of {', '.join(ACTIVATIONS)}")
            v = ACTIVATIONS[v]
        if k == "net_arch":
            layers = v if isinstance(v, list) else [x for part in v.values() for x in part]
            if not all(isinstance(x, int) and not isinstance(x, bool) and 1 <= x <= 65536 for x in layers):
                raise CheckpointError(f"{where}.net_arch={v!r}: layer widths must be integers in [1, 65536]")
        out[k] = v
    return out


def describe(model: BaseAlgorithm) -> dict[str, Any]:
    """The ``checkpoint`` section of ``run.json`` (without file hashes): what rebuilds ``model``."""
    algo = next((name for name, cls in ALGOS.items() if type(model) is cls), None)
    if algo is None:
        raise CheckpointError(f"unsupported algorithm {type(model).__name__}")
    hyper = {}
    for k in sorted(_constructor_keys(type(model))):
        v = getattr(model, k, None)
        if k == "train_freq" and v is not None:
            v = [int(v.frequency), v.unit.value]
        if k == "ent_coef" and isinstance(v, str) is False and v is not None:
            v = float(v)
        if plain_json(v):
            hyper[k] = v
    sched = {"learning_rate": _schedule_to_json(model.learning_rate, "learning_rate")}
    if isinstance(model, ON_POLICY):
        sched["clip_range"] = _schedule_to_json(model.clip_range, "clip_range")
        sched["clip_range_vf"] = _schedule_to_json(model.clip_range_vf, "clip_range_vf")
    return {
        "format": FORMAT,
        "algo": algo,
        "policy": "asymmetric"
        if isinstance(model.policy, AsymmetricPolicy)
        else "lstm"
        if isinstance(model, RecurrentPPO)
        else "mlp",
        "hyperparameters": hyper,
        "schedules": sched,
        "policy_kwargs": _policy_kwargs_to_json(model.policy_kwargs),
        "observation_space": _space_to_json(model.observation_space),
        "action_space": _space_to_json(model.action_space),
        "counters": {k: int(getattr(model, k)) for k in _COUNTERS}
        | {"_current_progress_remaining": float(model._current_progress_remaining)},
    }


def _shapes(space: gym.spaces.Space) -> Any:
    if isinstance(space, gym.spaces.Dict):
        return {k: s.shape for k, s in space.spaces.items()}
    return space.shape


def build_model(section: dict[str, Any], where: str, env: Any = None, **kwargs: Any) -> BaseAlgorithm:
    """A fresh model with the hyperparameters, spaces and counters of a checkpoint section (no weights yet)."""
    algo = section.get("algo")
    if algo not in ALGOS:
        raise CheckpointError(f"{where}: checkpoint.algo={algo!r} is not one of {', '.join(ALGOS)}")
    cls = ALGOS[algo]
    hyper = section.get("hyperparameters")
    allowed = _constructor_keys(cls)
    if not isinstance(hyper, dict):
        raise CheckpointError(f"{where}: checkpoint.hyperparameters must be a mapping")
    for k, v in hyper.items():
        if k not in allowed or not plain_json(v) or isinstance(v, dict):
            raise CheckpointError(f"{where}: checkpoint.hyperparameters.{k}={str(v)[:40]} is not a setting of {algo}")
    hyper = dict(hyper)
    if isinstance(hyper.get("train_freq"), list):
        tf = hyper["train_freq"]
        if len(tf) != 2 or not isinstance(tf[0], int) or tf[1] not in ("step", "episode"):
            raise CheckpointError(f"{where}: checkpoint.hyperparameters.train_freq={tf!r} must be [n, step|episode]")
        hyper["train_freq"] = (tf[0], tf[1])
    sched = section.get("schedules")
    if not isinstance(sched, dict) or "learning_rate" not in sched:
        raise CheckpointError(f"{where}: checkpoint.schedules must give learning_rate")
    for k in sched:
        if k not in ("learning_rate", "clip_range", "clip_range_vf") or (k != "learning_rate" and algo == "sac"):
            raise CheckpointError(f"{where}: checkpoint.schedules.{k} is not a schedule of {algo}")
        hyper[k] = _schedule_from_json(sched[k], f"{where}: checkpoint.schedules.{k}")
    if hyper["learning_rate"] is None:
        raise CheckpointError(f"{where}: checkpoint.schedules.learning_rate is required")
    pk = _policy_kwargs_from_json(section.get("policy_kwargs", {}), f"{where}: checkpoint.policy_kwargs")
    obs_space = _space_from_json(section.get("observation_space"), f"{where}: checkpoint.observation_space")
    act_space = _space_from_json(section.get("action_space"), f"{where}: checkpoint.action_space")
    policy_name = section.get("policy", "mlp")
    if policy_name not in POLICIES or (policy_name == "lstm") != (algo == "recurrent_ppo"):
        raise CheckpointError(f"{where}: checkpoint.policy={policy_name!r} does not fit algo {algo}")
    if (policy_name == "asymmetric") != isinstance(obs_space, gym.spaces.Dict):
        raise CheckpointError(
            f"{where}: checkpoint.policy={policy_name!r} must be one of {', '.join(POLICIES)}, "
            "asymmetric exactly when the observation space is {obs, privileged}"
        )
    if env is not None and (
        _shapes(env.observation_space) != _shapes(obs_space) or env.action_space.shape != act_space.shape
    ):
        raise CheckpointError(
            f"{where}: the policy takes observations {obs_space.shape} and actions {act_space.shape}, the env has "
            f"{env.observation_space.shape} and {env.action_space.shape}; was it trained on another task?"
        )
    try:
        model = cls(
            POLICIES[policy_name],
            env,
            device="cpu",
            verbose=0,
            policy_kwargs=pk,
            _init_setup_model=False,
            **hyper,
            **kwargs,
        )
    except (TypeError, ValueError, AssertionError) as e:
        raise CheckpointError(f"{where}: the checkpoint's hyperparameters do not build a {algo} ({e})") from None
    if env is None:
        model.observation_space, model.action_space, model.n_envs = obs_space, act_space, 1
    try:
        model._setup_model()
    except (TypeError, ValueError, AssertionError, RuntimeError) as e:
        raise CheckpointError(f"{where}: the checkpoint's hyperparameters do not build a {algo} ({e})") from None
    counters = section.get("counters", {})
    if not isinstance(counters, dict):
        raise CheckpointError(f"{where}: checkpoint.counters must be a mapping")
    for k in _COUNTERS:
        v = counters.get(k, 0)
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise CheckpointError(f"{where}: checkpoint.counters.{k}={v!r} must be a non-negative integer")
        setattr(model, k, v)
    prog = counters.get("_current_progress_remaining", 1.0)
    if not finite(prog) or not prog <= 1.0:  # below 0 when the last rollout ran past the budget (steps < rollout)
        raise CheckpointError(f"{where}: checkpoint.counters._current_progress_remaining={prog!r} must be at most 1")
    model._current_progress_remaining = float(prog)
    return model
