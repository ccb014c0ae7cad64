"""``sim2real collect``: roll out a policy (or the task's scripted controller) on a target and log a dataset.

Episodes use seeds ``COLLECT_SEED_BASE + 10_000 * seed + k``, disjoint from training and evaluation
seeds. Exploration noise (``action_noise``, action units) is added to the policy's action before it is
sent, and the *sent* action is logged, as a robot's logger records it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from omegaconf import DictConfig, OmegaConf
from sim2real_runtime.episodes import EpisodeLog

from sim2real.data.datasets import check_new, read, write
from sim2real.learn.config import ConfigError, episodes_and_dynamics
from sim2real.learn.evaluate import Policy, stored_policy, success_text
from sim2real.learn.schemas import check
from sim2real.learn.vec import make_env

COLLECT_SEED_BASE = 1_500_000_000
PolicyFactory = Callable[[gym.Env], Policy]


def rollout(
    factory: PolicyFactory, task: str, episodes: int, seed: int, randomization: Any, dynamics: Any, action_noise: float
) -> list[EpisodeLog]:
    """``episodes`` episodes of ``factory(env)`` with Gaussian action noise (std ``action_noise``, action units).

    Each log keeps the episode's true dynamics values (for scoring estimates, never read by them)."""
    env = make_env(task, randomization, dynamics)
    policy = factory(env)
    rng = np.random.default_rng(COLLECT_SEED_BASE + seed)
    logs = []
    for k in range(episodes):
        ep_seed = COLLECT_SEED_BASE + 10_000 * seed + k
        obs, info = env.reset(seed=ep_seed)
        if hasattr(policy, "reset"):
            policy.reset()
        log = EpisodeLog(seed=ep_seed, dynamics=info["dynamics"], observations=[obs])
        done = False
        while not done:
            a = np.asarray(policy(obs), dtype=np.float64)
            if action_noise > 0:
                a = a + action_noise * rng.standard_normal(a.shape)
            a = a.clip(-1.0, 1.0).astype(np.float32)
            obs, r, terminated, truncated, info = env.step(a)
            log.actions.append(a)
            log.observations.append(obs)
            log.rewards.append(float(r))
            log.terminations.append(bool(terminated))
            log.truncations.append(bool(truncated))
            if "reward_terms" in info:
                log.reward_terms.append({k: float(v) for k, v in info["reward_terms"].items()})
            done = terminated or truncated
        log.success = bool(info.get("is_success", False))
        logs.append(log)
    env.close()
    return logs


def policy_factory(spec: str, task: str, excite: Any = None) -> PolicyFactory:
    """``scripted`` (the task's controller, bound to the env it drives), ``excite`` (the task's excitation routine,
    with ``excite`` overrides), a directory holding an ``excite.json`` (that routine, verified), or a run
    directory / shipped policy."""
    if spec == "scripted":
        from sim2real.envs.scripted import scripted_policy

        return scripted_policy
    if spec == "excite" or (Path(spec) / "excite.json").is_file():
        from sim2real_runtime.excite import Excitation, ExcitationError

        from sim2real.data.excite import excitation_for

        try:
            routine = Excitation.load(spec) if spec != "excite" else None
        except ExcitationError as e:
            raise ConfigError(f"policy={spec}: {e}") from None
        if routine is not None and routine.meta["task"] != task:
            raise ConfigError(
                f"policy={spec}: the excitation was built for task '{routine.meta['task']}', not '{task}'"
            )

        def factory(env: gym.Env) -> Policy:
            try:
                return routine or excitation_for(env, excite)
            except ExcitationError as e:
                raise ConfigError(str(e)) from None

        return factory
    from sim2real.learn.runs import resolve_policy

    src = resolve_policy(spec)
    if src.task != task:
        raise ConfigError(f"policy '{spec}' was trained on task '{src.task}', not '{task}'; drop task= or fix it")
    policy = stored_policy(src)
    return lambda env: policy


def collect(cfg: DictConfig) -> Path:
    """Run ``cfg.episodes`` episodes and write the dataset ``cfg.out``; returns its path."""
    th.set_num_threads(1)
    check(cfg, "collect")  # types and ranges, from the schema
    task = cfg.task.name
    episodes, rand, dyn = episodes_and_dynamics(cfg, task)
    noise, overwrite = float(cfg.action_noise), bool(cfg.overwrite)
    check_new(cfg.out, overwrite)  # a bad name or an existing dataset fails before any rollout
    excite = OmegaConf.to_container(cfg.excite, resolve=True) if cfg.get("excite") is not None else None
    factory = policy_factory(str(cfg.policy), task, excite)
    policies: list[Policy] = []  # the instance the rollout built (an excitation keeps its guard stops)

    def keep(env: gym.Env) -> Policy:
        policies.append(factory(env))
        return policies[-1]

    logs = rollout(keep, task, episodes, int(cfg.seed), rand, dyn, float(noise))
    meta = {
        "source": f"collect policy={cfg.policy}",
        "policy": str(cfg.policy),
        "dynamics_profile": str(OmegaConf.select(cfg, "dynamics.name")),
        "randomization": str(OmegaConf.select(cfg, "dr.name")),
        "action_noise": float(noise),
        "seed": int(cfg.seed),
    }
    routine = policies[0] if policies and hasattr(policies[0], "stops") else None
    if routine is not None:  # an identification experiment: its artefact, and what its guards did
        meta["excitation"] = {k: v for k, v in routine.meta.items() if k not in ("observation", "action")}
        meta["excitation_stops"] = len(routine.stops)
    path = write(cfg.out, task, logs, meta, overwrite, env_kwargs={"randomization": rand, "dynamics": dyn})
    if routine is not None and routine.path is None:
        saved = routine.save(Path(cfg.out_dir) / "excite")
        print(f"collect: excitation routine -> {saved} (run it on the robot: sim2real-deploy run {saved} ...)")
    if routine is not None:
        print(f"collect: guard stops {len(routine.stops)} ({sorted({s['guard'] for s in routine.stops})})")
    info = read(path, task).summary()
    print(
        f"collect: {task} policy={cfg.policy} on {meta['dynamics_profile']} (action noise {noise}): "
        f"{info['episodes']} episodes, {info['steps']} steps, {success_text(info['success_rate'])} -> {path}"
    )
    return path
