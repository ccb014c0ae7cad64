"""Fine-tuning on logged data (``sim2real finetune init=... data=<dataset> mode=offline|mixed``).

Which route applies to which policy:

- **SAC, ``mode=offline``**: the logged transitions fill a replay buffer and the policy is updated from it
  alone: SAC's critic update, and an actor loss of SAC's (divided by the batch's mean |Q|) plus
  ``bc_weight`` x the squared distance to the logged action (behaviour-cloning regularisation as in
  TD3+BC, Fujimoto & Gu 2021; it keeps the actor where the logs give the critic support).
- **SAC, ``mode=mixed``**: online SAC on the target where every batch is half logged, half fresh
  (RLPD's symmetric sampling, Ball et al. 2023; RLPD's critic ensemble and high update ratio are not
  reproduced).
- **PPO, ``mode=offline``**: behaviour cloning of the logged *successful* episodes into the actor (an
  on-policy method cannot learn from another policy's transitions); ``mode=mixed`` does not apply.

Offline updates use the policy's observation and reward normalisation as saved (not updated from the
logs), so the critic keeps the inputs it was trained on.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th
import torch.nn.functional as F
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.type_aliases import ReplayBufferSamples
from stable_baselines3.common.utils import polyak_update
from stable_baselines3.common.vec_env import VecNormalize

from sim2real.learn.bc import behaviour_clone
from sim2real.learn.config import ConfigError
from sim2real.learn.logged import Logged


def logged_buffer(logged: Logged, model: BaseAlgorithm) -> ReplayBuffer:
    """A replay buffer holding every logged transition (raw observations; time-limit ends bootstrap)."""
    buf = ReplayBuffer(
        max(logged.steps, 1),
        model.observation_space,
        model.action_space,
        device="cpu",
        n_envs=1,
        handle_timeout_termination=False,
    )
    for obs, act, rew, term in zip(
        logged.observations, logged.actions, logged.rewards, logged.terminations, strict=True
    ):
        for t in range(len(act)):
            buf.add(obs[t][None], obs[t + 1][None], act[t][None], rew[t : t + 1], term[t : t + 1], [{}])
    return buf


class MixedReplayBuffer(ReplayBuffer):
    """The online buffer of a SAC run whose every sample is ``offline_fraction`` logged transitions."""

    def __init__(self, *args: Any, offline: ReplayBuffer, offline_fraction: float = 0.5, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.offline, self.offline_fraction = offline, offline_fraction

    def sample(self, batch_size: int, env: VecNormalize | None = None) -> ReplayBufferSamples:
        n_off = int(round(batch_size * self.offline_fraction)) if self.size() > 0 else batch_size
        off = self.offline.sample(n_off, env)
        if n_off == batch_size:
            return off
        on = super().sample(batch_size - n_off, env)
        return ReplayBufferSamples(*(None if a is None else th.cat([a, b]) for a, b in zip(on, off, strict=True)))


def use_mixed_buffer(model: SAC, offline: ReplayBuffer, fraction: float = 0.5) -> None:
    """Give ``model`` a fresh online buffer that mixes in the logged one; learning starts at once."""
    model.replay_buffer = MixedReplayBuffer(
        model.buffer_size,
        model.observation_space,
        model.action_space,
        device="cpu",
        n_envs=model.n_envs,
        offline=offline,
        offline_fraction=fraction,
    )
    model.learning_starts = 0


def sac_offline(
    model: SAC, buffer: ReplayBuffer, norm: VecNormalize, steps: int, batch_size: int, bc_weight: float, seed: int
) -> dict[str, float]:
    """``steps`` SAC + behaviour-cloning updates from ``buffer`` alone; returns the last losses."""
    th.manual_seed(seed)
    np.random.seed(seed)  # SB3's buffers sample from numpy's global generator
    actor, critic, target = model.actor, model.critic, model.critic_target
    model.policy.set_training_mode(True)
    auto_ent = model.ent_coef_optimizer is not None
    out: dict[str, float] = {}
    for _ in range(steps):
        data = buffer.sample(batch_size, env=norm)
        alpha = th.exp(model.log_ent_coef.detach()) if auto_ent else model.ent_coef_tensor
        with th.no_grad():
            next_a, next_logp = actor.action_log_prob(data.next_observations)
            q_next = th.min(th.cat(target(data.next_observations, next_a), dim=1), dim=1, keepdim=True).values
            y = data.rewards + (1 - data.dones) * model.gamma * (q_next - alpha * next_logp.reshape(-1, 1))
        critic_loss = 0.5 * sum(F.mse_loss(q, y) for q in critic(data.observations, data.actions))
        critic.optimizer.zero_grad()
        critic_loss.backward()
        critic.optimizer.step()
        pi, logp = actor.action_log_prob(data.observations)
        q_pi = th.min(th.cat(critic(data.observations, pi), dim=1), dim=1, keepdim=True).values
        scale = q_pi.abs().mean().detach().clamp_min(1e-3)
        bc = F.mse_loss(actor(data.observations, deterministic=True), data.actions.clamp(-0.97, 0.97))
        actor_loss = (alpha * logp.reshape(-1, 1) - q_pi).mean() / scale + bc_weight * bc
        actor.optimizer.zero_grad()
        actor_loss.backward()
        actor.optimizer.step()
        if auto_ent:
            ent_loss = -(model.log_ent_coef * (logp.detach() + model.target_entropy)).mean()
            model.ent_coef_optimizer.zero_grad()
            ent_loss.backward()
            model.ent_coef_optimizer.step()
        polyak_update(critic.parameters(), target.parameters(), model.tau)
        out = {"critic_loss": float(critic_loss), "actor_loss": float(actor_loss), "bc_mse": float(bc)}
    model.policy.set_training_mode(False)
    return out


def ppo_offline(
    model: PPO, logged: Logged, norm: VecNormalize, epochs: int, lr: float, batch_size: int, seed: int
) -> dict[str, Any]:
    """Behaviour cloning of the logged successful episodes into the PPO actor."""
    keep = [i for i, s in enumerate(logged.success) if s]
    if not keep:
        raise ConfigError(
            f"data={logged.path}: none of its {logged.episodes} episodes succeeded; PPO fine-tunes on logs by "
            "behaviour cloning of successes (use a SAC policy for mode=offline on failures)"
        )
    obs = np.concatenate([logged.observations[i][:-1] for i in keep])
    act = np.concatenate([logged.actions[i] for i in keep])
    x = np.clip((obs - norm.obs_rms.mean) / np.sqrt(norm.obs_rms.var + norm.epsilon), -norm.clip_obs, norm.clip_obs)
    mse = behaviour_clone(model, x, act, epochs, lr, batch_size, seed)
    return {"episodes": len(keep), "transitions": len(obs), "bc_mse": mse}
