"""Warm start from demonstrations: behaviour cloning of a scripted controller into an SB3 actor.

Used for grasping, where on-policy RL from scratch does not find the lift (see the README): the
scripted controller's successful episodes are cloned into the actor's mean, then RL continues.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch as th
from stable_baselines3 import PPO
from stable_baselines3.common.base_class import BaseAlgorithm

from sim2real.envs.scripted import scripted_policy
from sim2real.learn.vec import make_env
from sim2real.sim import tasks

DEMO_SEED_BASE = 500_000_000  # demonstration episode seeds, disjoint from training and evaluation seeds


@dataclass(frozen=True)
class Demonstrations:
    obs: np.ndarray  # (N, obs_dim), raw observations
    actions: np.ndarray  # (N, action_dim), in [-1, 1]
    episodes: int
    successes: int


def collect_demonstrations(
    task: str,
    episodes: int,
    seed: int,
    randomization: object = None,
    dynamics: object = None,
    after_success: int = 5,
    history: int = 1,
) -> Demonstrations:
    """Run the task's scripted controller; keep the transitions of successful episodes only, each up to
    ``after_success`` steps past the first success (a long hold would otherwise dominate the data and
    blur the few steps where the controller decides, such as when to close the gripper)."""
    env = make_env(task, randomization, dynamics, history)  # recorded: what the policy will see
    raw = int(tasks.core(env).observation_space.shape[0])  # the controller reads the current observation only
    ctl = scripted_policy(env)
    obs_l, act_l, wins = [], [], 0
    for k in range(episodes):
        obs, _ = env.reset(seed=DEMO_SEED_BASE + 10_000 * seed + k)
        ctl.reset()
        ep_obs, ep_act, done, info, first = [], [], False, {}, None
        while not done:
            a = ctl(obs[:raw])
            ep_obs.append(obs)
            ep_act.append(a)
            obs, _, terminated, truncated, info = env.step(a)
            done = terminated or truncated
            if info.get("is_success") and first is None:
                first = len(ep_obs)
        if info.get("is_success"):
            ep_obs, ep_act = ep_obs[: first + after_success], ep_act[: first + after_success]
            wins += 1
            obs_l.extend(ep_obs)
            act_l.extend(ep_act)
    env.close()
    if not obs_l:
        raise RuntimeError(f"the scripted {task} controller succeeded in none of {episodes} demonstration episodes")
    return Demonstrations(np.asarray(obs_l), np.clip(np.asarray(act_l), -1, 1), episodes, wins)


def behaviour_clone(
    model: BaseAlgorithm,
    obs: np.ndarray,
    actions: np.ndarray,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
    log_std: float | None = None,
) -> float:
    """Regress the actor's deterministic action on ``actions`` (obs already normalised); returns the final MSE."""
    policy = model.policy
    gen = th.Generator().manual_seed(seed)
    x = th.as_tensor(obs, dtype=th.float32)
    y = th.as_tensor(np.clip(actions, -0.97, 0.97), dtype=th.float32)  # SAC's tanh cannot reach +-1
    actor_params = [
        p for n, p in policy.named_parameters() if not n.startswith(("critic", "value_net", "mlp_extractor.value"))
    ]
    opt = th.optim.Adam(actor_params, lr=lr)
    loss = th.tensor(0.0)
    policy.set_training_mode(True)
    for _ in range(epochs):
        perm = th.randperm(len(x), generator=gen)
        for i in range(0, len(x), batch_size):
            idx = perm[i : i + batch_size]
            loss = ((policy._predict(x[idx], deterministic=True) - y[idx]) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    policy.set_training_mode(False)
    if log_std is not None and isinstance(model, PPO):
        with th.no_grad():
            policy.log_std.fill_(log_std)
    return float(loss.item())
