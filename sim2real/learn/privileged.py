"""The asymmetric actor-critic (``policy.privileged_critic=true``, PPO): the value function also sees the
episode's dynamics values; the actor, and so every exported bundle, never does.

Pinto et al. 2017, "Asymmetric Actor Critic for Image-Based Robot Learning"; Isaac Lab's ``critic`` observation
group and Playground's ``privileged_state`` do the same. SB3 has none (DLR-RM/stable-baselines3#1182): here the
model's observation is a ``Dict`` with two keys,

- ``obs``: what the actor sees (the normalised observation, or the stacked history);
- ``privileged``: the episode's sampled dynamics values, one per parameter the task takes, normalised by
  :func:`encode` (a scale as its log, a latency in steps, any other value over its ParamSpec unit: 0 is nominal).

:class:`VecPrivileged` adds the second key after :class:`~stable_baselines3.common.vec_env.VecNormalize` (which
keeps normalising the observation alone, so ``normalization.npz`` is unchanged); :class:`AsymmetricPolicy` gives
the actor an extractor of ``obs`` and the critic one of both.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from stable_baselines3.common.policies import ActorCriticPolicy, BaseModel
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, MlpExtractor
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

from sim2real.sim.dynamics import param_spec

OBS, PRIVILEGED = "obs", "privileged"


def encode(values: dict[str, float], params: tuple[str, ...]) -> np.ndarray:
    """The critic's view of one episode's dynamics values, in ``params`` order (0 = nominal for every kind)."""
    out = np.zeros(len(params), dtype=np.float32)
    for i, name in enumerate(params):
        spec = param_spec(name)
        v = float(values.get(name, spec.nominal))
        if spec.kind == "scale":
            out[i] = math.log(max(v, 1e-6))
        elif spec.kind == "int":
            out[i] = v
        else:
            out[i] = v / spec.unit
    return out


def privileged_space(obs_space: gym.spaces.Box, n_params: int) -> gym.spaces.Dict:
    return gym.spaces.Dict(
        {OBS: obs_space, PRIVILEGED: gym.spaces.Box(-np.inf, np.inf, shape=(n_params,), dtype=np.float32)}
    )


class VecPrivileged(VecEnvWrapper):
    """Adds each env's current dynamics values (``privileged``) to the normalised observation (``obs``); a
    finished episode's ``terminal_observation`` carries that episode's values (``episode_dynamics``)."""

    def __init__(self, venv: VecEnv, params: tuple[str, ...]) -> None:
        self.params = tuple(params)
        super().__init__(venv, observation_space=privileged_space(venv.observation_space, len(self.params)))
        self._values = np.zeros((venv.num_envs, len(self.params)), dtype=np.float32)

    def _read(self, indices: list[int] | None = None) -> np.ndarray:
        """The encoded values of the episodes now running in ``indices`` (all envs by default)."""
        return np.stack([encode(v, self.params) for v in self.venv.get_attr("values", indices)])

    def reset(self) -> dict[str, np.ndarray]:
        obs = self.venv.reset()
        self._values = self._read()
        return {OBS: obs, PRIVILEGED: self._values.copy()}

    def step_wait(self) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, list[dict]]:
        obs, rewards, dones, infos = self.venv.step_wait()
        for done, info in zip(dones, infos, strict=True):
            if done and "terminal_observation" in info:
                past = encode(info.get("episode_dynamics", {}), self.params)
                info["terminal_observation"] = {OBS: info["terminal_observation"], PRIVILEGED: past}
        ended = [int(i) for i in np.flatnonzero(dones)]
        if ended:  # values change only when an episode starts (asked of those envs alone: one IPC call, not a step's)
            self._values[ended] = self._read(ended)
        return {OBS: obs, PRIVILEGED: self._values.copy()}, rewards, dones, infos


class ObsExtractor(BaseFeaturesExtractor):
    """The actor's features: the ``obs`` entry alone (a bare tensor is taken as that entry: export, cloning)."""

    def __init__(self, observation_space: gym.spaces.Dict) -> None:
        super().__init__(observation_space, int(observation_space[OBS].shape[0]))

    def forward(self, observations: Any) -> th.Tensor:
        return observations[OBS] if isinstance(observations, dict) else observations


class CriticExtractor(BaseFeaturesExtractor):
    """The critic's features: the observation and the privileged values, concatenated."""

    def __init__(self, observation_space: gym.spaces.Dict) -> None:
        n = int(observation_space[OBS].shape[0]) + int(observation_space[PRIVILEGED].shape[0])
        super().__init__(observation_space, n)

    def forward(self, observations: dict[str, th.Tensor]) -> th.Tensor:
        return th.cat([observations[OBS], observations[PRIVILEGED]], dim=1)


class AsymmetricMlp(th.nn.Module):
    """SB3's ``MlpExtractor`` with its actor and critic networks built on inputs of different widths."""

    def __init__(self, pi_dim: int, vf_dim: int, net_arch: Any, activation_fn: type[th.nn.Module]) -> None:
        super().__init__()
        pi, vf = MlpExtractor(pi_dim, net_arch, activation_fn), MlpExtractor(vf_dim, net_arch, activation_fn)
        self.policy_net, self.value_net = pi.policy_net, vf.value_net
        self.latent_dim_pi, self.latent_dim_vf = pi.latent_dim_pi, vf.latent_dim_vf

    def forward(self, features: th.Tensor) -> tuple[th.Tensor, th.Tensor]:  # pragma: no cover  (never shared)
        raise RuntimeError("AsymmetricMlp has no shared features: use forward_actor and forward_critic")

    def forward_actor(self, features: th.Tensor) -> th.Tensor:
        return self.policy_net(features)

    def forward_critic(self, features: th.Tensor) -> th.Tensor:
        return self.value_net(features)


class AsymmetricPolicy(ActorCriticPolicy):
    """PPO's actor-critic with an observation-only actor and a privileged critic (see the module)."""

    def __init__(self, observation_space: gym.spaces.Dict, action_space: gym.spaces.Space, lr_schedule: Any, **kw: Any):
        kw.update(features_extractor_class=ObsExtractor, share_features_extractor=False)
        super().__init__(observation_space, action_space, lr_schedule, **kw)

    def _build(self, lr_schedule: Any) -> None:
        self.vf_features_extractor = CriticExtractor(self.observation_space)
        super()._build(lr_schedule)

    def _build_mlp_extractor(self) -> None:
        self.mlp_extractor = AsymmetricMlp(
            self.pi_features_extractor.features_dim,
            self.vf_features_extractor.features_dim,
            self.net_arch,
            self.activation_fn,
        )

    def get_distribution(self, obs: Any) -> Any:
        """The action distribution; a bare tensor is the observation alone (behaviour cloning, export)."""
        if isinstance(obs, dict):
            features = BaseModel.extract_features(self, obs, self.pi_features_extractor)
        else:
            features = self.pi_features_extractor(obs.float())
        return self._get_action_dist_from_latent(self.mlp_extractor.forward_actor(features))
