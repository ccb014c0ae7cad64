"""Evaluating a policy on a task and dynamics: per-episode success, return and length.

Evaluation episodes use seeds ``base + 10_000 * seed + k`` with the base of a seed range: ``test``
(``EVAL_SEED_BASE``, the published tables) or ``development`` (``DEV_SEED_BASE``, training-time evaluation,
tuning, choosing what to ship); both are disjoint from training seeds and from each other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm

from sim2real.learn.runs import PolicySource, load_model, policy_input_dim, resolve_policy
from sim2real.learn.vec import SEED_RANGES, make_env, read_normalization
from sim2real.sim import tasks

Policy = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Episode:
    success: bool | None  # None: the task has no success signal
    ret: float  # undiscounted return
    length: int  # control steps
    seed: int
    unstable: bool  # ended by a physics blow-up
    dynamics: dict  # the episode's dynamics values (canonical names)


class NormalizedPolicy:
    """A deterministic ``obs -> action`` function that applies frozen observation statistics. Takes one
    observation or a batch (``(n, obs_dim)`` gives ``(n, act_dim)``), so evaluation can step envs together."""

    batched = True

    def __init__(
        self, model: BaseAlgorithm, obs_mean: np.ndarray, obs_var: np.ndarray, clip: float = 10.0, eps: float = 1e-8
    ) -> None:
        self.model, self.mean, self.std, self.clip = model, obs_mean, np.sqrt(obs_var + eps), clip

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        x = np.clip((obs - self.mean) / self.std, -self.clip, self.clip).astype(np.float32)
        space = self.model.observation_space
        if getattr(space, "spaces", None) is not None:  # an asymmetric actor-critic: the actor reads obs alone,
            n = space["privileged"].shape[0]  # so the privileged values it is given are zeros (never used)
            x = {"obs": x, "privileged": np.zeros((*x.shape[:-1], n), np.float32)}
        action, _ = self.model.predict(x, deterministic=True)
        return action


def normalized_policy(
    model: BaseAlgorithm, obs_mean: np.ndarray, obs_var: np.ndarray, clip: float = 10.0, eps: float = 1e-8
) -> NormalizedPolicy:
    """A deterministic, batchable policy that applies frozen observation statistics (see NormalizedPolicy)."""
    return NormalizedPolicy(model, obs_mean, obs_var, clip, eps)


def stored_policy(src: PolicySource, model: BaseAlgorithm | None = None) -> Any:
    """The deterministic policy of a run or shipped policy, with its saved normalisation (clip, epsilon); a
    history-K policy keeps each episode's history (:class:`~sim2real.learn.memory.HistoryPolicy`)."""
    norm = read_normalization(src.norm_path, policy_input_dim(src.meta))
    return make_policy(
        model or load_model(src),
        norm["obs_mean"],
        norm["obs_var"],
        float(norm["clip_obs"]),
        float(norm["epsilon"]),
        src.task,
        int(src.meta.get("history", 1)),
    )


def make_policy(
    model: BaseAlgorithm, mean: np.ndarray, var: np.ndarray, clip: float, eps: float, task: str, history: int = 1
) -> Any:
    """The deterministic evaluation policy of ``model``: frozen normalisation, and the episode's memory where
    the policy has one (the LSTM state of a recurrent policy; the stacked history of a history-K one)."""
    inner = normalized_policy(model, mean, var, clip, eps)
    from sim2real.learn.memory import RecurrentPolicy

    if RecurrentPolicy.fits(model):
        return RecurrentPolicy(inner)
    return with_history(inner, task, history)


def with_history(inner: NormalizedPolicy, task: str, k: int) -> Any:
    """``inner`` (which takes stacked inputs) with the per-episode history of ``k`` steps kept for it; ``inner``
    itself when ``k`` is 1."""
    if k == 1:
        return inner
    from sim2real.learn.memory import HistoryPolicy, fill_action

    env = tasks.make(task)
    space = env.action_space
    obs_dim, act_dim = int(env.observation_space.shape[0]), int(space.shape[0])
    return HistoryPolicy(inner, k, obs_dim, act_dim, fill_action(env), space.low, space.high)


def episode_seeds(seed_range: str, seed: int, episodes: int) -> list[int]:
    """The episode seeds of evaluation ``seed`` on ``seed_range`` (``test`` or ``development``): range base +
    10 000 x seed + k, k < ``episodes``."""
    return [SEED_RANGES[seed_range] + 10_000 * seed + k for k in range(episodes)]


EVAL_BATCH = 8  # envs stepped together when the policy takes a batch (one policy call per step for all)


def run_episodes(
    policy: Policy,
    task: str,
    episodes: int,
    seed: int = 0,
    randomization: Any = None,
    dynamics: Any = None,
    seed_range: str = "test",
    batch: int = EVAL_BATCH,
) -> list[Episode]:
    """Roll out ``episodes`` deterministic-policy episodes on the episode seeds of ``seed_range`` (``test`` or
    ``development``), in seed order. A policy marked ``batched`` steps up to ``batch`` envs together (one policy
    call per control step for all of them; each episode is still fixed by its own seed); any other policy (one
    with ``reset()`` is reset per episode) runs the episodes one after another."""
    if seed_range not in SEED_RANGES:
        raise ValueError(f"seed_range='{seed_range}': choose one of {', '.join(SEED_RANGES)}")
    if episodes < 1:
        raise ValueError(f"episodes={episodes}: need at least one evaluation episode")
    seeds = episode_seeds(seed_range, seed, episodes)
    stateful = getattr(policy, "stateful", False)  # per-slot memory: told when an episode starts in a slot
    together = getattr(policy, "batched", False) and (stateful or not hasattr(policy, "reset"))
    n_envs = min(batch, episodes) if together else 1
    if stateful:
        policy.reset(n_envs)
    envs = [make_env(task, randomization, dynamics) for _ in range(n_envs)]
    has_success = tasks.get(task).success
    out: dict[int, Episode] = {}
    pending = iter(seeds)
    # one slot per env: [episode seed, observation, return, steps, reset info], or None once no episode is left
    slots: list[list[Any] | None] = []
    for i, env in enumerate(envs):
        slots.append(_start(env, next(pending, None), policy, i))
    while any(slots):
        live = [i for i, s in enumerate(slots) if s is not None]
        if stateful:
            actions = policy(np.stack([slots[i][1] for i in live]), slots=live)
        elif n_envs > 1:
            actions = policy(np.stack([slots[i][1] for i in live]))
        else:
            actions = [policy(slots[live[0]][1])]
        for i, action in zip(live, actions, strict=True):
            slot = slots[i]
            obs, r, terminated, truncated, info = envs[i].step(action)
            slot[1], slot[2], slot[3] = obs, slot[2] + float(r), slot[3] + 1
            if terminated or truncated:
                success = bool(info.get("is_success", False)) if has_success else None
                unstable = bool(info.get("physics_unstable"))
                out[slot[0]] = Episode(success, slot[2], slot[3], slot[0], unstable, slot[4].get("dynamics", {}))
                slots[i] = _start(envs[i], next(pending, None), policy, i)
    for env in envs:
        env.close()
    return [out[s] for s in seeds]


def _start(env: Any, ep_seed: int | None, policy: Policy, slot: int = 0) -> list[Any] | None:
    """Reset ``env`` on ``ep_seed`` (and a stateful policy's ``slot``); the new episode's slot, or None when done."""
    if ep_seed is None:
        return None
    obs, reset_info = env.reset(seed=ep_seed)
    if getattr(policy, "stateful", False):
        policy.begin(slot)
    elif hasattr(policy, "reset"):
        policy.reset()
    return [ep_seed, obs, 0.0, 0, reset_info]


def record_videos(
    policy: Policy,
    task: str,
    episodes: int,
    out_dir: Path,
    seed: int = 0,
    randomization: Any = None,
    dynamics: Any = None,
    seed_range: str = "test",
    prefix: str | None = None,
) -> list[Path]:
    """MP4s of the first ``episodes`` episodes that :func:`run_episodes` plays (the same episode seeds), one file
    each in ``out_dir``, named with the outcome and the episode's dynamics (:mod:`sim2real.sim.video`)."""
    import gymnasium as gym

    from sim2real.sim.video import EpisodeRecorder

    env = gym.make(tasks.env_id(task), randomization=randomization, dynamics=dynamics, render_mode="rgb_array")
    has_success = tasks.get(task).success
    rec = EpisodeRecorder(env, out_dir, prefix or task, 1.0 / tasks.core(env).dt)
    try:
        for k in range(episodes):
            obs, info = env.reset(seed=episode_seeds(seed_range, seed, k + 1)[k])
            if hasattr(policy, "reset"):
                policy.reset()
            rec.frame()
            ret, done = 0.0, False
            while not done:
                obs, r, terminated, truncated, step_info = env.step(policy(obs))
                ret, done = ret + float(r), terminated or truncated
                rec.frame()
            success = bool(step_info.get("is_success", False)) if has_success else None
            rec.finish(k, success, ret, info.get("dynamics", {}))
    finally:
        env.close()
    return rec.written


def summarize(episodes: list[Episode]) -> dict[str, Any]:
    """Success rate (``None`` for a task without a success signal), mean return and per-episode records."""
    has_success = all(e.success is not None for e in episodes)
    succ = np.array([bool(e.success) for e in episodes], dtype=float)
    rets = np.array([e.ret for e in episodes])
    return {
        "success_rate": float(succ.mean()) if has_success else None,
        "mean_return": float(rets.mean()),
        "std_return": float(rets.std()),
        "mean_length": float(np.mean([e.length for e in episodes])),
        "episodes": len(episodes),
        "unstable_episodes": int(sum(e.unstable for e in episodes)),
        "per_episode": [asdict(e) for e in episodes],
    }


def evaluate_policy(
    policy: str | Path,
    task: str,
    episodes: int,
    seed: int,
    randomization: Any = None,
    dynamics: Any = None,
    names: tuple[str | None, str | None] = (None, None),
    seed_range: str = "test",
) -> dict[str, Any]:
    """Evaluate a run directory or shipped policy on ``task`` under ``randomization``/``dynamics`` (presets or
    mappings) on the episodes of ``seed_range``; ``names`` = (randomisation name, dynamics name) for the record.
    Returns the summary."""
    src = resolve_policy(policy)
    if task != src.task:
        raise ValueError(f"policy '{policy}' was trained on task '{src.task}', not '{task}'; drop task= or fix it")
    width = make_env(task).observation_space.shape[0]
    if width != src.meta["obs_dim"]:
        raise ValueError(
            f"policy '{policy}' takes {src.meta['obs_dim']} observations, task {task} has {width}; "
            "retrain or re-export it for this task version"
        )
    summary = summarize(run_episodes(stored_policy(src), task, episodes, seed, randomization, dynamics, seed_range))
    summary.update(
        policy=str(src.path),
        seed_range=seed_range,
        task=task,
        seed=seed,
        dynamics={"name": names[1], "values": dynamics or {}},
        randomization={"name": names[0], "ranges": randomization or {}},
    )
    return summary


def success_text(rate: float | None) -> str:
    """``"success 93%"``, or ``"no success signal"`` for tasks compared on returns."""
    return "no success signal" if rate is None else f"success {rate:.0%}"
