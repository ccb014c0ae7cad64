"""Fine-tuning a pretrained policy on target dynamics, with explicit transfer controls.

Controls (``finetune.*`` in the config):

- ``lr``: learning rate, set for real on the loaded model (schedule replaced, optimisers updated);
- ``scope``: ``all`` (every layer trains), ``last`` (only the output layers of actor and critic
  train; the hidden layers are frozen) or ``features`` (the pretrained hidden layers are a frozen
  feature extractor under freshly initialised output layers);
- ``update_norm``: whether the observation normalisation keeps adapting to the target;
- ``keep_buffer`` (SAC): start from the pretraining replay buffer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from omegaconf import DictConfig
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.utils import FloatSchedule, update_learning_rate
from stable_baselines3.common.vec_env import VecNormalize

from sim2real.config import ConfigError, build_spec, plain
from sim2real.runs import PolicySource, load_model, resolve_policy
from sim2real.train import run
from sim2real.vec import load_normalization

SCOPES = ("all", "last", "features")


def _last_linear(seq: th.nn.Module) -> th.nn.Linear:
    return [m for m in seq.modules() if isinstance(m, th.nn.Linear)][-1]


def output_layers(model: BaseAlgorithm) -> list[th.nn.Linear]:
    """The last linear layer of the actor and of each critic."""
    if isinstance(model, PPO):
        return [model.policy.action_net, model.policy.value_net]
    if isinstance(model, SAC):
        return [model.actor.mu, model.actor.log_std, *(_last_linear(q) for q in model.critic.q_networks)]
    raise TypeError(f"unsupported algorithm {type(model).__name__}")


def apply_scope(model: BaseAlgorithm, scope: str, seed: int) -> int:
    """Freeze (and for ``features`` re-initialise) per ``scope``; returns the number of trainable parameters."""
    if scope not in SCOPES:
        raise ConfigError(f"finetune.scope='{scope}' is unknown; choose one of: {', '.join(SCOPES)}")
    heads = output_layers(model)
    head_params = {id(p) for layer in heads for p in layer.parameters()}
    if isinstance(model, PPO):
        head_params.add(id(model.policy.log_std))
    trainable = [p for p in model.policy.parameters() if scope == "all" or id(p) in head_params]
    if scope != "all":
        for p in model.policy.parameters():
            p.requires_grad_(id(p) in head_params)
    if scope == "features":
        th.manual_seed(seed)
        for layer in heads:
            gain = 0.01 if layer is heads[0] else 1.0  # SB3's init: small actor output
            th.nn.init.orthogonal_(layer.weight, gain=gain)
            th.nn.init.zeros_(layer.bias)
        if isinstance(model, SAC):
            model.critic_target.load_state_dict(model.critic.state_dict())
    return int(sum(p.numel() for p in trainable))


def set_learning_rate(model: BaseAlgorithm, lr: float) -> None:
    """Replace the schedule (what SB3 reads every update) and the optimisers' current rate."""
    model.learning_rate = lr
    model.lr_schedule = FloatSchedule(lr)
    for name in ("optimizer",):
        if hasattr(model.policy, name):
            update_learning_rate(getattr(model.policy, name), lr)
    if isinstance(model, SAC):
        for opt in (model.actor.optimizer, model.critic.optimizer, model.ent_coef_optimizer):
            if opt is not None:
                update_learning_rate(opt, lr)


def _controls(cfg: DictConfig, src: PolicySource) -> dict[str, Any]:
    ft = plain(cfg.finetune)
    lr = ft.get("lr")
    if not isinstance(lr, (int, float)) or isinstance(lr, bool) or not np.isfinite(lr) or lr <= 0:
        raise ConfigError(f"finetune.lr={lr!r}: must be a positive number")
    if ft.get("scope") not in SCOPES:
        raise ConfigError(f"finetune.scope='{ft.get('scope')}' is unknown; choose one of: {', '.join(SCOPES)}")
    for key in ("update_norm", "keep_buffer"):
        if not isinstance(ft.get(key), bool):
            raise ConfigError(f"finetune.{key}={ft.get(key)!r}: must be true or false")
    if ft["keep_buffer"]:
        if src.algo != "sac":
            raise ConfigError("finetune.keep_buffer=true applies to SAC policies only; PPO keeps no replay buffer")
        if not (src.path / "replay_buffer.pkl").is_file():
            raise ConfigError(f"finetune.keep_buffer=true: {src.path} has no replay_buffer.pkl; set keep_buffer=false")
    return ft


def finetune(cfg: DictConfig) -> Path:
    """Fine-tune ``cfg.init`` on ``cfg.dynamics`` for ``cfg.steps`` steps; returns the run directory."""
    src = resolve_policy(cfg.init)
    spec = build_spec(cfg)
    if src.task != spec.task:
        raise ConfigError(f"init '{cfg.init}' is a {src.task} policy, not {spec.task}; drop task= or fix it")
    if src.algo != spec.algo:
        raise ConfigError(f"init '{cfg.init}' is a {src.algo} policy; drop algo= or set algo={src.algo}")
    ft = _controls(cfg, src)

    def from_init(norm: VecNormalize) -> tuple[BaseAlgorithm, dict[str, Any]]:
        load_normalization(src.norm_path, norm)
        norm.training = ft["update_norm"]
        model = load_model(src, env=norm, tensorboard_log=str(spec.run_dir / "tb"))
        model.num_timesteps = 0
        set_learning_rate(model, float(ft["lr"]))
        n_trainable = apply_scope(model, ft["scope"], spec.seed)
        if ft["keep_buffer"]:
            model.load_replay_buffer(src.path / "replay_buffer.pkl")
        meta = spec.meta()
        meta.update(
            init=str(src.path),
            init_meta={k: src.meta.get(k) for k in ("randomization", "seed", "commit")},
            finetune={**ft, "trainable_parameters": n_trainable},
            update_norm=ft["update_norm"],
        )
        return model, meta

    return run(spec, cfg, from_init)
