"""The canonical dynamics layer on any Gymnasium MuJoCo env (``Hopper-v5``, ``Pusher-v5``, a user's robot).

The robot is named, not guessed: ``robot_roots`` are the bodies whose subtrees are the robot (a pushed
object or a goal marker is not), ``friction_geoms`` its contact geoms, ``bodies`` the bodies addressable by
``body_mass_scale.<body>`` and ``payload_body`` where ``payload_mass`` (kg) goes. Every robot parameter
applies (``object_*`` do not). Actions are handled in normalised units ([-1, 1] over the env's action
bounds), so noise and deadzone mean the same as on the sim2real tasks.

``friction_scale`` acts on the contact: MuJoCo takes the larger friction of a contact's two geoms, so the
robot's friction geoms get a higher ``geom_priority`` and, as their nominal friction, the value the
contact had (the larger of their own and the largest of the geoms they can touch). Scaling them then
changes the contact's friction as the name says, and the nominal model is unchanged.

The same episode plumbing as the sim2real envs: resampling at reset from a nominal snapshot, the action
and observation channels (skipped when inactive), a non-finite action replaced by the rest action, and a
physics blow-up (|qvel| > 1e3, a non-finite observation or MuJoCo's bad-acceleration warning) ending the
episode with a finite observation, reward 0 and ``info["physics_unstable"]``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import mujoco
import numpy as np

from sim2real.sim.dynamics import (
    OBJECT_PARAMS,
    PARAMS,
    DynamicsError,
    Values,
    plain_spec,
    resolve_dynamics,
    resolve_randomization,
)
from sim2real.sim.perturb import EpisodeDynamics, ModelIndex, command_or_rest, contact_friction_priority

ROBOT_PARAMS = tuple(p for p in PARAMS if p not in (*OBJECT_PARAMS, "payload_mass"))


def accepted_params(bodies: tuple[str, ...] = (), payload_body: str | None = None) -> tuple[str, ...]:
    """The canonical names a wrapped env takes."""
    extra = ("payload_mass",) if payload_body else ()
    return (*ROBOT_PARAMS, *extra, *(f"body_mass_scale.{b}" for b in bodies))


class DynamicsWrapper(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Resample ``randomization`` ranges (``{name: [low, high]}`` or a preset of ``task``) over a ``dynamics``
    profile (``{name: value}`` or a target profile of ``task``) at every reset, from a nominal snapshot.

    Args:
        env: a Gymnasium MuJoCo env (``env.unwrapped.model``/``data``, Box action space).
        randomization: ranges per canonical name, a preset name of ``task``, or ``None``.
        dynamics: values per canonical name, a profile name of ``task``, or ``None`` (nominal).
        robot_roots: bodies whose subtrees are the robot (default: every child of the world body).
        friction_geoms: the robot's contact geoms (default: every geom of the robot's bodies).
        bodies: bodies addressable by ``body_mass_scale.<body>``.
        payload_body: the body that takes ``payload_mass`` (kg).
        task: the registered task whose presets and profiles named values refer to.
    """

    def __init__(
        self,
        env: gym.Env,
        randomization: str | dict | None = None,
        dynamics: str | dict | None = None,
        robot_roots: tuple[str, ...] | None = None,
        friction_geoms: tuple[str, ...] | None = None,
        bodies: tuple[str, ...] = (),
        payload_body: str | None = None,
        task: str | None = None,
    ) -> None:
        gym.utils.RecordConstructorArgs.__init__(
            self,
            randomization=randomization,
            dynamics=dynamics,
            robot_roots=robot_roots,
            friction_geoms=friction_geoms,
            bodies=bodies,
            payload_body=payload_body,
            task=task,
        )
        gym.Wrapper.__init__(self, env)
        for arg, value in (("randomization", randomization), ("dynamics", dynamics)):
            if isinstance(value, str) and task is None and value not in ("none", "nominal"):
                raise DynamicsError(f"{arg}='{value}': a named preset needs task=<registered task>; or pass a dict")
        self.task = task or "custom"
        self.params = accepted_params(tuple(bodies), payload_body)
        self.ranges = resolve_randomization(plain_spec(randomization), self.task, self.params)
        self.profile = resolve_dynamics(plain_spec(dynamics), self.task, self.params)
        u = env.unwrapped
        model = u.model
        if robot_roots is None:
            robot_roots = tuple(model.body(b).name for b in range(1, model.nbody) if model.body_parentid[b] == 0)
        self.index = ModelIndex.from_model(model, tuple(robot_roots), (), friction_geoms, tuple(bodies), payload_body)
        contact_friction_priority(model, self.index.robot_geoms)
        space = env.action_space
        self._low, self._high = space.low.astype(np.float64), space.high.astype(np.float64)
        self.rest_action = np.zeros(space.shape[0])  # normalised: the middle of the bounds
        self._mid = 0.5 * (self._low + self._high)  # the same in the env's units
        self._dtype = space.dtype
        obs_dim = int(np.prod(env.observation_space.shape))
        self.dyn = EpisodeDynamics(model, self.index, self.ranges, self.profile, space.shape[0], obs_dim)
        self.dt = float(getattr(u, "dt", model.opt.timestep))
        self.unstable_episodes = 0

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict]:
        obs, info = self.env.reset(**kwargs)
        u = self.env.unwrapped
        self.dyn.resample(u.np_random)
        mujoco.mj_forward(u.model, u.data)
        self.dyn.begin(u.data, u.np_random)
        info["dynamics"] = dict(self.dyn.values)
        return self._obs(obs), info

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        a = np.asarray(action, dtype=np.float64).reshape(self._low.shape)
        if self.dyn.act_active:  # the channels work in normalised units
            a = np.clip(2.0 * (a - self._low) / (self._high - self._low) - 1.0, -1.0, 1.0)
            a = self.dyn.action_channel(command_or_rest(a, self.rest_action), self.env.unwrapped.np_random)
            a = self._low + (a + 1.0) * 0.5 * (self._high - self._low)
        else:  # inactive channels are skipped: only the guard and the bounds
            a = np.clip(command_or_rest(a, self._mid), self._low, self._high)
        obs, reward, terminated, truncated, info = self.env.step(a.astype(self._dtype))
        if self._diverged(obs):
            return self._on_divergence(truncated)
        return self._obs(obs), reward, terminated, truncated, info

    def _diverged(self, obs: np.ndarray) -> bool:
        return self.dyn.guard(self.env.unwrapped.data) or not np.isfinite(obs).all()

    def _on_divergence(self, truncated: bool) -> tuple[np.ndarray, float, bool, bool, dict]:
        """End the episode with a finite observation: the physics is reset to the model's initial state."""
        self.unstable_episodes += 1
        u = self.env.unwrapped
        mujoco.mj_resetData(u.model, u.data)
        mujoco.mj_forward(u.model, u.data)
        self.dyn.guard.arm(u.data)
        obs = np.nan_to_num(np.asarray(u._get_obs(), dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        info = {"physics_unstable": True}
        return self._obs(obs), 0.0, True, truncated, info

    def _obs(self, obs: np.ndarray) -> np.ndarray:
        if not self.dyn.obs_active:
            return obs
        out = self.dyn.obs_channel(np.asarray(obs, dtype=np.float64).ravel(), self.env.unwrapped.np_random)
        return out.reshape(np.shape(obs)).astype(self.env.observation_space.dtype)

    @property
    def values(self) -> Values:
        """The parameter values of the current episode (canonical names)."""
        return self.dyn.values

    # the task interface (sim2real.sim.tasks.core): layouts come from the task spec
    @property
    def observation_layout(self) -> list[tuple[str, str]]:
        return _layout(self.task, "observation", int(np.prod(self.env.observation_space.shape)))

    @property
    def action_layout(self) -> list[tuple[str, str, str]]:
        return _layout(self.task, "action", self._low.shape[0])


def _layout(task: str, key: str, n: int) -> list[tuple[str, ...]]:
    from sim2real.sim import tasks

    spec = tasks.get(task) if task != "custom" else None
    layout = list(getattr(spec, key, ()) or ())
    if len(layout) == n:
        return layout
    return [(f"{key}[{i}]", "-") if key == "observation" else (f"{key}[{i}]", "-", "-") for i in range(n)]


def make_stock(task: str, randomization: Any = None, dynamics: Any = None, **kwargs: Any) -> gym.Env:
    """The Gymnasium entry point of a registered stock task: the stock env in a DynamicsWrapper, built from the
    task spec (``gymnasium.make("sim2real/Hopper-v5", dynamics="real")``)."""
    from sim2real.sim import tasks

    spec = tasks.get(task)
    made = gym.make(spec.stock, disable_env_checker=True, **{**spec.kwargs, **kwargs})
    steps = made.spec.max_episode_steps if made.spec else None
    env = gym.wrappers.TimeLimit(made.unwrapped, steps) if steps else made.unwrapped  # no second order enforcer
    options = dict(
        randomization=randomization,
        dynamics=dynamics,
        robot_roots=spec.robot_bodies or None,
        friction_geoms=spec.friction_geoms,
        bodies=spec.bodies,
        payload_body=spec.payload_body,
        task=task,
    )
    from sim2real.sim.stock_replay import StockReplayWrapper, gymnasium_layout

    skip = gymnasium_layout(env)
    if skip is not None:  # a Gymnasium-layout observation: calibratable with the default replay hooks
        return StockReplayWrapper(env, skip, **options)
    return DynamicsWrapper(env, **options)
