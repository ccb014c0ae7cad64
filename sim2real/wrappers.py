"""The canonical dynamics layer on any Gymnasium MuJoCo env (``Hopper-v5`` and friends).

Every robot parameter applies (``object_*`` do not: stock envs have no grasped object): masses,
friction, damping and actuator gains of all bodies under the world body, and the action/observation
effects (latency, noise, deadzone, bias). Actions are handled in normalised units ([-1, 1] over the
env's action bounds), so noise and deadzone mean the same as on the sim2real tasks.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import mujoco
import numpy as np

from sim2real.dynamics import (
    OBJECT_PARAMS,
    PARAMS,
    DynamicsError,
    Values,
    sample,
    validate_ranges,
    validate_values,
)
from sim2real.perturb import ActionChannel, ModelIndex, Nominal, ObsChannel, apply_to_model

ROBOT_PARAMS = tuple(p for p in PARAMS if p not in OBJECT_PARAMS)


class DynamicsWrapper(gym.Wrapper):
    """Resample ``randomization`` ranges (``{name: [low, high]}``) over a ``dynamics`` profile
    (``{name: value}``) at every reset, from a nominal snapshot of the wrapped env's model.

    Args:
        env: a Gymnasium MuJoCo env (``env.unwrapped.model``/``data``, Box action space).
        randomization: ranges per canonical name; ``None`` for none.
        dynamics: fixed values per canonical name; ``None`` for nominal.
        robot_roots: names of the bodies whose subtrees are the robot (default: every child of the world).
    """

    def __init__(
        self,
        env: gym.Env,
        randomization: dict | None = None,
        dynamics: dict | None = None,
        robot_roots: tuple[str, ...] | None = None,
    ) -> None:
        super().__init__(env)
        for arg, value in (("randomization", randomization), ("dynamics", dynamics)):
            if isinstance(value, str):
                raise DynamicsError(f"{arg}='{value}': named presets exist for the sim2real tasks only; pass a dict")
        self.ranges = validate_ranges(randomization or {}, ROBOT_PARAMS)
        self.profile = validate_values(dynamics or {}, ROBOT_PARAMS)
        model = env.unwrapped.model
        if robot_roots is None:
            robot_roots = tuple(model.body(b).name for b in range(1, model.nbody) if model.body_parentid[b] == 0)
        self.index = ModelIndex.from_model(model, robot_roots)
        self.nominal = Nominal.snapshot(model)
        space = env.action_space
        self._low, self._high = space.low.astype(np.float64), space.high.astype(np.float64)
        self.action_channel = ActionChannel(space.shape[0])
        self.obs_channel = ObsChannel(int(np.prod(env.observation_space.shape)))
        self.values: Values = dict(self.profile)

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict]:
        obs, info = self.env.reset(**kwargs)
        rng = self.env.unwrapped.np_random
        self.values = {**self.profile, **sample(self.ranges, rng)}
        u = self.env.unwrapped
        apply_to_model(u.model, self.nominal, self.index, self.values)
        mujoco.mj_forward(u.model, u.data)
        self.action_channel.reset(self.values)
        self.obs_channel.reset(self.values, rng)
        info["dynamics"] = dict(self.values)
        return self._obs(obs), info

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        a = 2.0 * (np.asarray(action, dtype=np.float64) - self._low) / (self._high - self._low) - 1.0
        a = self.action_channel(np.clip(a, -1.0, 1.0), self.env.unwrapped.np_random)
        a = self._low + (a + 1.0) * 0.5 * (self._high - self._low)
        obs, reward, terminated, truncated, info = self.env.step(a.astype(self.env.action_space.dtype))
        return self._obs(obs), reward, terminated, truncated, info

    def _obs(self, obs: np.ndarray) -> np.ndarray:
        out = self.obs_channel(np.asarray(obs, dtype=np.float64).ravel(), self.env.unwrapped.np_random)
        return out.reshape(np.shape(obs)).astype(self.env.observation_space.dtype)
