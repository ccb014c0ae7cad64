"""Fine-tuning a pretrained policy on target dynamics, with explicit transfer controls.

Controls (``finetune.*`` in the config):

- ``lr``: learning rate, set for real on the loaded model (schedule replaced, optimisers updated);
- ``scope``: ``all`` (every layer trains), ``last`` (only the output layers of actor and critic
  train; the hidden layers are frozen) or ``features`` (the pretrained hidden layers are a frozen
  feature extractor under freshly initialised output layers);
- ``head_lr``: the learning rate of the fresh output layers under ``features``;
- ``reset_head``: re-initialise the output layers of actor and critic (and PPO's action log-std, back to the
  algorithm's initial exploration) before training with ``scope``: a mitigation of negative transfer, where the
  pretrained head's habits and its collapsed exploration are wrong for the target while its trunk still helps;
- ``l2sp``: strength of an L2-SP penalty, (l2sp / 2) * ||theta - theta_pretrained||^2 added to the loss of every
  trainable parameter (its gradient is added in the backward pass, before SB3's gradient clipping), which pulls
  the weights toward the pretrained ones: the knob between specialising on the target and keeping what
  the randomised pretraining knew (0: off);
- ``update_norm``: whether the observation normalisation keeps adapting to the target;
- ``keep_buffer`` (SAC): start from the pretraining replay buffer.

With ``data=<dataset>`` the policy also learns from logged data (``mode=offline|mixed``, ``offline.*``;
see :mod:`sim2real.learn.offline`); ``steps=0`` with ``mode=offline`` is a purely offline run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from omegaconf import DictConfig, OmegaConf
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.utils import FloatSchedule, update_learning_rate
from stable_baselines3.common.vec_env import VecNormalize

from sim2real.io import read_json, write_json
from sim2real.learn.checkpoint import BUFFER_FILE, POLICY_FILE, TRAINING_FILE, load_replay_buffer, verify_files
from sim2real.learn.config import ConfigError, RunSpec, build_spec, plain
from sim2real.learn.logged import Logged
from sim2real.learn.model_spec import ON_POLICY
from sim2real.learn.runs import PolicySource, load_model, resolve_policy
from sim2real.learn.train import model_env, run
from sim2real.learn.vec import load_normalization

SCOPES = ("all", "last", "features")


def _last_linear(seq: th.nn.Module) -> th.nn.Linear:
    return [m for m in seq.modules() if isinstance(m, th.nn.Linear)][-1]


def output_layers(model: BaseAlgorithm) -> list[th.nn.Linear]:
    """The last linear layer of the actor and of each critic."""
    if isinstance(model, ON_POLICY):
        return [model.policy.action_net, model.policy.value_net]
    if isinstance(model, SAC):
        return [model.actor.mu, model.actor.log_std, *(_last_linear(q) for q in model.critic.q_networks)]
    raise TypeError(f"unsupported algorithm {type(model).__name__}")


def apply_scope(model: BaseAlgorithm, scope: str, seed: int, reinit: bool = True) -> int:
    """Freeze (and for ``features`` re-initialise, unless ``reinit`` is false: a resumed run) per ``scope``;
    returns the number of trainable parameters."""
    if scope not in SCOPES:
        raise ConfigError(f"finetune.scope='{scope}' is unknown; choose one of: {', '.join(SCOPES)}")
    heads = output_layers(model)
    head_params = {id(p) for layer in heads for p in layer.parameters()}
    if isinstance(model, ON_POLICY):
        head_params.add(id(model.policy.log_std))
    trainable = [p for p in model.policy.parameters() if scope == "all" or id(p) in head_params]
    if scope != "all":
        for p in model.policy.parameters():
            p.requires_grad_(id(p) in head_params)
    if scope == "features" and reinit:
        reset_heads(model, seed, log_std=False)
    return int(sum(p.numel() for p in trainable))


def reset_heads(model: BaseAlgorithm, seed: int, log_std: bool = True) -> None:
    """Re-initialise the output layers as SB3 does (orthogonal; gain 0.01 for the action output, 1 for the
    critics, zero biases), seeded; with ``log_std``, PPO's action log-std goes back to its initial value
    (``policy_kwargs.log_std_init``, 0 in SB3), i.e. the initial exploration noise."""
    heads = output_layers(model)
    th.manual_seed(seed)
    with th.no_grad():
        for layer in heads:
            gain = 0.01 if layer is heads[0] else 1.0  # SB3's init: small actor output
            th.nn.init.orthogonal_(layer.weight, gain=gain)
            th.nn.init.zeros_(layer.bias)
        if log_std and isinstance(model, ON_POLICY):
            model.policy.log_std.fill_(float(model.policy_kwargs.get("log_std_init", 0.0)))
    if isinstance(model, SAC):
        model.critic_target.load_state_dict(model.critic.state_dict())


def l2sp(model: BaseAlgorithm, anchor: BaseAlgorithm, strength: float) -> list[th.utils.hooks.RemovableHandle]:
    """Pull every trainable parameter of ``model.policy`` toward the same parameter of ``anchor.policy`` (the
    pretrained policy): a gradient hook adds ``strength * (theta - theta_0)``, the gradient of
    ``strength / 2 * ||theta - theta_0||^2``. Returns the hook handles."""
    ref = dict(anchor.policy.named_parameters())
    handles = []
    for name, p in model.policy.named_parameters():
        if not p.requires_grad:
            continue
        p0 = ref[name].detach().clone()
        handles.append(p.register_hook(lambda g, p=p, p0=p0: g + strength * (p.detach() - p0)))
    return handles


def steps_run(run_dir: Path) -> bool:
    return (run_dir / POLICY_FILE).is_file() and (run_dir / "run.json").is_file()


def distance_from(model: BaseAlgorithm, anchor: BaseAlgorithm) -> float:
    """||theta - theta_0|| over the policy's parameters (how far fine-tuning moved the weights)."""
    ref = dict(anchor.policy.named_parameters())
    sq = sum(float(((p.detach() - ref[n].detach()) ** 2).sum()) for n, p in model.policy.named_parameters())
    return float(np.sqrt(sq))


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


@dataclass
class FinetuneSpec:
    """A validated fine-tuning run: the run itself, the policy it starts from, the transfer controls
    (``finetune.*``) and the logged-data settings (``data``, ``mode``, ``offline.*``)."""

    run: RunSpec
    source: PolicySource
    controls: dict[str, Any]
    data: str | None = None
    mode: str = "offline"
    offline: dict[str, Any] = field(default_factory=dict)


def build_finetune_spec(cfg: DictConfig) -> FinetuneSpec:
    """Validate a ``finetune`` config (the run, the initial policy, the controls) into a :class:`FinetuneSpec`."""
    src = resolve_policy(cfg.init)
    spec = build_spec(cfg)
    if src.task != spec.task:
        raise ConfigError(f"init '{cfg.init}' is a {src.task} policy, not {spec.task}; drop task= or fix it")
    if src.algo != spec.algo:
        raise ConfigError(f"init '{cfg.init}' is a {src.algo} policy; drop algo= or set algo={src.algo}")
    for key, default in (("history", 1), ("privileged_critic", False)):  # what the policy sees is the init's
        theirs, ours = src.meta.get(key, default), getattr(spec, key)
        if ours not in (default, theirs):
            raise ConfigError(f"policy.{key}={ours}: init '{cfg.init}' was trained with {theirs}; drop policy.{key}")
        setattr(spec, key, theirs)
    ft = plain(cfg.finetune)  # types and ranges: the schema (sim2real.learn.schemas), checked in build_spec
    anchor = ft.get("l2sp_anchor")
    if anchor is not None:
        a = resolve_policy(anchor)
        if (a.task, a.algo, a.meta["obs_dim"]) != (src.task, src.algo, src.meta["obs_dim"]):
            raise ConfigError(f"finetune.l2sp_anchor={anchor}: a {a.task}/{a.algo} policy, not {src.task}/{src.algo}")
    if ft["keep_buffer"]:
        if src.algo != "sac":
            raise ConfigError("finetune.keep_buffer=true applies to SAC policies only; PPO keeps no replay buffer")
        if not (src.path / BUFFER_FILE).is_file():
            raise ConfigError(f"finetune.keep_buffer=true: {src.path} has no {BUFFER_FILE}; set keep_buffer=false")
        verify_files(src.path, src.meta, (BUFFER_FILE,))
    data = OmegaConf.select(cfg, "data")
    mode = str(OmegaConf.select(cfg, "mode", default="offline"))  # offline | mixed (the schema's choices)
    if data is not None:
        if src.algo == "recurrent_ppo":
            raise ConfigError("data=: fine-tuning on logs takes ppo or sac policies; a recurrent one fine-tunes online")
        if src.algo == "ppo" and mode == "mixed":
            raise ConfigError(
                "mode=mixed needs an off-policy (SAC) policy; for PPO use mode=offline (behaviour cloning)"
            )
        if ft["keep_buffer"] and mode == "mixed":
            raise ConfigError("finetune.keep_buffer=true and mode=mixed both fill the buffer; choose one")
    return FinetuneSpec(
        run=spec,
        source=src,
        controls=ft,
        data=None if data is None else str(data),
        mode=mode,
        offline=plain(OmegaConf.select(cfg, "offline", default={})) or {},
    )


def _logged(spec: FinetuneSpec, logged: Logged | None) -> tuple[Logged | None, dict[str, Any]]:
    """The logged episodes and offline settings of ``data=...`` (checked before any work), or ``(None, {})``."""
    if spec.data is None:
        return None, {}
    if logged is None:
        raise ConfigError(
            f"data={spec.data}: pass the loaded episodes, finetune(spec, sim2real.data.datasets.read(data, task))"
        )
    if logged.task != spec.run.task:
        raise ConfigError(f"data={spec.data} holds {logged.task} episodes, not {spec.run.task}")
    n = spec.offline.get("episodes")
    if n is not None:
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= logged.episodes:
            raise ConfigError(f"offline.episodes={n!r}: must be between 1 and {logged.episodes} (the dataset's size)")
        logged = logged.head(n)
    return logged, {**spec.offline, "mode": spec.mode, "data": spec.data}


def _apply_logged(
    model: BaseAlgorithm, logged: Logged, off: dict[str, Any], norm: VecNormalize, seed: int
) -> dict[str, Any]:
    """Offline updates or the mixed buffer, per :mod:`sim2real.learn.offline`; returns what was done."""
    from sim2real.learn.offline import logged_buffer, ppo_offline, sac_offline, use_mixed_buffer

    t = time.time()
    info: dict[str, Any] = {**off, "episodes": logged.episodes, "transitions": logged.steps}
    if isinstance(model, PPO):
        info["bc"] = ppo_offline(model, logged, norm, off["epochs"], off["lr"], off["batch_size"], seed)
    elif off["mode"] == "offline":
        buf = logged_buffer(logged, model)
        info["losses"] = sac_offline(model, buf, norm, off["gradient_steps"], off["batch_size"], off["bc_weight"], seed)
    else:
        use_mixed_buffer(model, logged_buffer(logged, model))
    info["seconds"] = time.time() - t
    print(f"logged data: {off['mode']} on {logged.episodes} episodes ({logged.steps} steps) in {info['seconds']:.0f} s")
    return info


def finetune(ft_spec: FinetuneSpec, logged: Logged | None = None) -> Path:
    """Fine-tune ``ft_spec.source`` on the run's dynamics for its steps (and/or on ``logged``, the episodes of
    ``ft_spec.data`` read by :func:`sim2real.data.datasets.read`); returns the run directory.
    :func:`build_finetune_spec` makes the spec from a config."""
    spec, src, ft = ft_spec.run, ft_spec.source, ft_spec.controls
    logged, off = _logged(ft_spec, logged)

    def from_init(norm: VecNormalize) -> tuple[BaseAlgorithm, dict[str, Any]]:
        load_normalization(src.norm_path, norm)
        norm.training = ft["update_norm"]
        # the pretrained optimisers' state too, where the policy carries it (as SB3's zip did): fine-tuning
        # continues the run's Adam moments rather than starting them at zero
        keep_optim = (src.path / TRAINING_FILE).is_file()
        model = load_model(
            src, env=model_env(spec, norm), training=keep_optim, tensorboard_log=str(spec.run_dir / "tb")
        )
        model.set_random_seed(spec.seed)  # as train's constructor does: the same seed, the same fine-tuning run
        model.num_timesteps = 0
        # features: only the fresh output layers train (the trunk is frozen), at their own, larger rate
        set_learning_rate(model, float(ft["head_lr"] if ft["scope"] == "features" else ft["lr"]))
        n_trainable = apply_scope(model, ft["scope"], spec.seed)
        if ft["reset_head"]:
            reset_heads(model, spec.seed)
        if ft["keep_buffer"]:
            load_replay_buffer(src.path / BUFFER_FILE, model)
        meta = spec.meta()
        if logged is not None:
            meta["logged"] = _apply_logged(model, logged, off, norm, spec.seed)
            meta["wall_time_s"] = meta["logged"]["seconds"]
        meta.update(
            init=str(src.path),
            init_meta={k: src.meta.get(k) for k in ("randomization", "seed", "commit")},
            finetune={**ft, "trainable_parameters": n_trainable},
            update_norm=ft["update_norm"],
        )
        return model, meta

    def prepare(model: BaseAlgorithm) -> None:  # built or resumed: freezing and hooks are not in a checkpoint
        if model.num_timesteps > 0:
            apply_scope(model, ft["scope"], spec.seed, reinit=False)
        if ft["l2sp"] > 0:
            anchor = resolve_policy(ft["l2sp_anchor"]) if ft.get("l2sp_anchor") else src
            l2sp(model, load_model(anchor), float(ft["l2sp"]))

    run_dir = run(spec, from_init, prepare)
    if steps_run(run_dir):  # how far the weights moved from the pretrained ones
        meta = read_json(run_dir / "run.json")
        meta["distance_from_init"] = distance_from(load_model(resolve_policy(run_dir)), load_model(src))
        write_json(run_dir / "run.json", meta)
    return run_dir
