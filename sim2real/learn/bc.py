"""Warm start from demonstrations: behaviour cloning of a scripted controller into an SB3 actor.

Used for grasping, where on-policy RL from scratch does not find the lift (see the README): the
scripted controller's successful episodes are cloned into the actor's mean, then RL continues.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch as th
from sb3_contrib import RecurrentPPO
from stable_baselines3 import PPO
from stable_baselines3.common.base_class import BaseAlgorithm

from sim2real.envs.scripted import scripted_policy
from sim2real.learn.vec import make_env
from sim2real.sim import tasks

DEMO_SEED_BASE = 500_000_000  # demonstration episode seeds, disjoint from training and evaluation seeds
SEQUENCES_PER_UPDATE = 16  # demonstration episodes per update when cloning a recurrent policy (padded)


@dataclass(frozen=True)
class Demonstrations:
    obs: np.ndarray  # (N, obs_dim), raw observations
    actions: np.ndarray  # (N, action_dim), in [-1, 1]
    episodes: int
    successes: int
    starts: np.ndarray | None = None  # (N,) True at each kept episode's first step (sequence cloning)


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
    obs_l, act_l, starts, wins = [], [], [], 0
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
            starts.extend([True] + [False] * (len(ep_obs) - 1))
            obs_l.extend(ep_obs)
            act_l.extend(ep_act)
    env.close()
    if not obs_l:
        raise RuntimeError(f"the scripted {task} controller succeeded in none of {episodes} demonstration episodes")
    return Demonstrations(np.asarray(obs_l), np.clip(np.asarray(act_l), -1, 1), episodes, wins, np.asarray(starts))


def behaviour_clone(
    model: BaseAlgorithm,
    obs: np.ndarray,
    actions: np.ndarray,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
    log_std: float | None = None,
    starts: np.ndarray | None = None,
) -> float:
    """Regress the actor's deterministic action on ``actions`` (obs already normalised); returns the final MSE.
    A recurrent policy is cloned episode by episode (``starts`` marks each episode's first step), its LSTM run
    along each from a zero state, as it acts."""
    if isinstance(model, RecurrentPPO):
        return _clone_sequences(model, obs, actions, starts, epochs, lr, seed, log_std)
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


def _clone_sequences(
    model: RecurrentPPO,
    obs: np.ndarray,
    actions: np.ndarray,
    starts: np.ndarray | None,
    epochs: int,
    lr: float,
    seed: int,
    log_std: float | None,
) -> float:
    """Behaviour cloning of an LSTM policy: one demonstration episode per update, the LSTM from a zero state."""
    if starts is None or len(starts) != len(obs) or not starts[0]:
        raise ValueError("cloning a recurrent policy needs each demonstration's first step (starts)")
    policy = model.policy
    bounds = [*np.flatnonzero(starts), len(obs)]
    episodes = list(zip(bounds[:-1], bounds[1:], strict=True))
    x = th.as_tensor(obs, dtype=th.float32)
    y = th.as_tensor(np.clip(actions, -0.97, 0.97), dtype=th.float32)
    actor = [
        p
        for n, p in policy.named_parameters()
        if not n.startswith(("value_net", "mlp_extractor.value", "lstm_critic", "critic"))
    ]
    opt = th.optim.Adam(actor, lr=lr)
    gen = th.Generator().manual_seed(seed)
    layers, hidden = policy.lstm_actor.num_layers, policy.lstm_actor.hidden_size
    loss = th.tensor(0.0)
    policy.set_training_mode(True)
    for _ in range(epochs):
        order = th.randperm(len(episodes), generator=gen).tolist()
        for i in range(0, len(order), SEQUENCES_PER_UPDATE):
            chunk = [episodes[k] for k in order[i : i + SEQUENCES_PER_UPDATE]]
            n, t = len(chunk), max(b - a for a, b in chunk)
            xs, ys, mask = th.zeros(n, t, x.shape[1]), th.zeros(n, t, y.shape[1]), th.zeros(n, t)
            for j, (a, b) in enumerate(chunk):  # padded after each episode's end; the padding is masked out
                xs[j, : b - a], ys[j, : b - a], mask[j, : b - a] = x[a:b], y[a:b], 1.0
            first = th.zeros(n, t)
            first[:, 0] = 1.0
            state = (th.zeros(layers, n, hidden), th.zeros(layers, n, hidden))
            # sb3-contrib's sequence layout: sequence-major (n sequences of t steps), one LSTM state per sequence
            dist, _ = policy.get_distribution(xs.reshape(n * t, -1), state, first.reshape(-1))
            err = ((dist.get_actions(deterministic=True) - ys.reshape(n * t, -1)) ** 2).mean(dim=1)
            loss = (err * mask.reshape(-1)).sum() / mask.sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
    policy.set_training_mode(False)
    if log_std is not None:
        with th.no_grad():
            policy.log_std.fill_(log_std)
    return float(loss.item())


def decorrelate_action_history(obs: np.ndarray, k: int, act_dim: int, seed: int) -> np.ndarray:
    """A history-``k`` input's previous actions (its last ``(k - 1) * act_dim`` columns) shuffled across the
    demonstration rows, for cloning: a smooth scripted controller's last action predicts its next one, so a clone
    that sees it learns to repeat itself (the copycat problem of cloning with action history) and then acts on its
    own past actions. Shuffled, they carry nothing about the target, and the clone learns from the observations;
    their marginal distribution, which the network meets again in RL, is kept (``warm_start.shuffle_action_history``;
    off by default: on `navigate` one development seed learned faster with it but stayed below ADR without memory,
    ``docs/lab_notes.md``)."""
    if k <= 1:
        return obs
    out = obs.copy()
    cols = slice(obs.shape[1] - (k - 1) * act_dim, obs.shape[1])
    out[:, cols] = obs[np.random.default_rng(seed).permutation(len(obs)), cols]
    return out
