"""Applying canonical dynamics values to a MuJoCo model and to the action/observation channels.

``apply_to_model`` always starts from a :class:`Nominal` snapshot taken once, so repeated
resets never compound. The action and observation channels hold the per-episode state of the
non-physical effects (latency queue, observation bias).
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass, field

import mujoco
import numpy as np

from sim2real.sim.dynamics import Ranges, Values, sample

_mujoco_log = logging.getLogger("sim2real.mujoco")
BODY_MASS_PREFIX = "body_mass_scale."


def _mujoco_warning(message: str) -> None:
    """MuJoCo's warnings go to this logger (DEBUG), never to ``MUJOCO_LOG.TXT`` in the working directory;
    the envs count blow-ups from ``data.warning`` themselves."""
    _mujoco_log.debug("%s", message)


mujoco.set_mju_user_warning(_mujoco_warning)


def _subtree_bodies(model: mujoco.MjModel, root: int) -> np.ndarray:
    """Ids of ``root`` and all its descendants."""
    ids = [root]
    for b in range(root + 1, model.nbody):
        if model.body_parentid[b] in ids:
            ids.append(b)
    return np.asarray(ids, dtype=int)


@dataclass(frozen=True)
class ModelIndex:
    """Which bodies, geoms, dofs and actuators each canonical parameter acts on."""

    robot_bodies: np.ndarray
    robot_geoms: np.ndarray  # contact geoms whose friction is ``friction_scale``'d
    object_bodies: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    object_geoms: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    dofs: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    actuators: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    named_bodies: dict[str, int] = field(default_factory=dict)  # body_mass_scale.<name> -> body id
    payload_body: int = -1  # payload_mass is added here (-1: none)

    @classmethod
    def from_model(
        cls,
        model: mujoco.MjModel,
        robot_roots: tuple[str, ...],
        object_roots: tuple[str, ...] = (),
        friction_geoms: tuple[str, ...] | None = None,
        bodies: tuple[str, ...] = (),
        payload_body: str | None = None,
    ) -> ModelIndex:
        """Build the index from body names; ``friction_geoms`` defaults to every robot geom; ``bodies`` are
        addressable one by one (``body_mass_scale.<body>``); ``payload_body`` takes ``payload_mass``."""

        def subtrees(roots: tuple[str, ...]) -> np.ndarray:
            ids = [_subtree_bodies(model, model.body(r).id) for r in roots]
            return np.unique(np.concatenate(ids)) if ids else np.zeros(0, int)

        robot = subtrees(robot_roots)
        obj = subtrees(object_roots)
        robot_geoms = np.flatnonzero(np.isin(model.geom_bodyid, robot))
        if friction_geoms is not None:
            robot_geoms = np.asarray([model.geom(g).id for g in friction_geoms], dtype=int)
        robot_dofs = np.flatnonzero(np.isin(model.dof_bodyid, robot))
        return cls(
            robot_bodies=robot,
            robot_geoms=robot_geoms,
            object_bodies=obj,
            object_geoms=np.flatnonzero(np.isin(model.geom_bodyid, obj)),
            dofs=robot_dofs,
            actuators=np.arange(model.nu),
            named_bodies={b: model.body(b).id for b in bodies},
            payload_body=model.body(payload_body).id if payload_body else -1,
        )


@dataclass(frozen=True)
class Nominal:
    """A copy of every model field that randomisation touches, taken before any change."""

    body_mass: np.ndarray
    body_inertia: np.ndarray
    geom_friction: np.ndarray
    geom_size: np.ndarray
    geom_rbound: np.ndarray
    geom_aabb: np.ndarray
    dof_damping: np.ndarray
    actuator_gainprm: np.ndarray
    actuator_biasprm: np.ndarray
    body_gravcomp: np.ndarray

    @classmethod
    def snapshot(cls, model: mujoco.MjModel) -> Nominal:
        return cls(**{f: getattr(model, f).copy() for f in cls.__dataclass_fields__})

    def restore(self, model: mujoco.MjModel) -> None:
        for f in self.__dataclass_fields__:
            getattr(model, f)[:] = getattr(self, f)


def apply_to_model(model: mujoco.MjModel, nominal: Nominal, index: ModelIndex, values: Values) -> None:
    """Write ``values`` onto ``model``, starting from ``nominal`` (never cumulative)."""
    nominal.restore(model)
    rb, ob = index.robot_bodies, index.object_bodies
    s = values.get("mass_scale", 1.0)
    model.body_mass[rb] = nominal.body_mass[rb] * s
    model.body_inertia[rb] = nominal.body_inertia[rb] * s
    for name, value in values.items():
        if name.startswith(BODY_MASS_PREFIX):  # one body, on top of mass_scale
            b = index.named_bodies[name[len(BODY_MASS_PREFIX) :]]
            model.body_mass[b] *= value
            model.body_inertia[b] *= value
    payload = values.get("payload_mass", 0.0)
    if payload and index.payload_body >= 0:  # a point mass at the body's centre of mass: no added inertia
        model.body_mass[index.payload_body] += payload
    # gravity compensation (MJCF ``gravcomp``) stands for a controller that compensates its *nominal* model: the
    # compensated force stays the nominal weight, so a mass shift or a payload loads the servos
    gc = np.flatnonzero(nominal.body_gravcomp)
    if len(gc):
        model.body_gravcomp[gc] = (
            nominal.body_gravcomp[gc] * nominal.body_mass[gc] / np.maximum(model.body_mass[gc], 1e-9)
        )
    model.geom_friction[index.robot_geoms, 0] = nominal.geom_friction[index.robot_geoms, 0] * values.get(
        "friction_scale", 1.0
    )
    model.dof_damping[index.dofs] = nominal.dof_damping[index.dofs] * values.get("damping_scale", 1.0)
    g = values.get("actuator_gain_scale", 1.0)
    model.actuator_gainprm[index.actuators, 0] = nominal.actuator_gainprm[index.actuators, 0] * g
    model.actuator_biasprm[index.actuators, :3] = nominal.actuator_biasprm[index.actuators, :3] * g
    if len(ob):
        size = values.get("object_size_scale", 1.0)
        m = values.get("object_mass_scale", 1.0)
        og = index.object_geoms
        model.body_mass[ob] = nominal.body_mass[ob] * m
        model.body_inertia[ob] = nominal.body_inertia[ob] * m * size**2
        model.geom_friction[og, 0] = nominal.geom_friction[og, 0] * values.get("object_friction_scale", 1.0)
        model.geom_size[og] = nominal.geom_size[og] * size
        model.geom_rbound[og] = nominal.geom_rbound[og] * size
        model.geom_aabb[og] = nominal.geom_aabb[og] * size


MAX_QVEL = 1e3  # |qvel| above this (m/s or rad/s) is treated as a physics blow-up


class BlowUpGuard:
    """Physics blow-up detection shared by the sim2real envs and ``DynamicsWrapper``: |qvel| above
    :data:`MAX_QVEL` (NaN included), or MuJoCo's bad-acceleration warning raised since :meth:`arm`."""

    def __init__(self) -> None:
        self._bad_qacc = int(mujoco.mjtWarning.mjWARN_BADQACC)
        self._count = 0

    def arm(self, data: mujoco.MjData) -> None:
        """Remember the warning count (at reset, and after a blow-up's physics reset)."""
        self._count = data.warning[self._bad_qacc].number

    def __call__(self, data: mujoco.MjData) -> bool:
        v = data.qvel  # a NaN makes max() NaN, and NaN < x is False
        return not (v.max(initial=0.0) < MAX_QVEL and -v.min(initial=0.0) < MAX_QVEL) or (
            data.warning[self._bad_qacc].number != self._count
        )


def command_or_rest(action: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """A non-finite command is never sent: the rest action is held instead."""
    return action if math.isfinite(action.sum()) else np.asarray(rest, dtype=np.float64)  # any NaN/inf: non-finite sum


class _NoiseBlock:
    """Standard normal draws taken from the env's generator in blocks (cheaper per step, same seed -> same draws)."""

    def __init__(self, dim: int, block: int = 256) -> None:
        self.dim, self.block = dim, block
        self.buf = np.zeros((0, dim))
        self.i = 0

    def reset(self) -> None:
        self.buf, self.i = np.zeros((0, self.dim)), 0

    def __call__(self, rng: np.random.Generator) -> np.ndarray:
        if self.i >= len(self.buf):
            self.buf, self.i = rng.standard_normal((self.block, self.dim)), 0
        self.i += 1
        return self.buf[self.i - 1]


def deadzoned(actions: np.ndarray, deadzone: float) -> np.ndarray:
    """Commands below ``deadzone`` in magnitude (normalised action units) do not move the actuator: zeroed."""
    return np.where(np.abs(actions) < deadzone, 0.0, actions) if deadzone > 0 else actions


def delayed_deadzoned(actions: np.ndarray, latency: int, deadzone: float, rest: np.ndarray) -> np.ndarray:
    """A whole episode's actions (T, act_dim) through :class:`ActionChannel` without its noise: deadzoned, then
    delayed by ``latency`` control steps behind ``rest`` (what the actuators received at each step)."""
    a = deadzoned(actions, deadzone)
    if latency == 0:
        return a
    head = np.broadcast_to(np.asarray(rest, dtype=np.float64), (min(latency, len(a)), a.shape[1]))
    return np.concatenate([head, a[: len(a) - latency]])


class ActionChannel:
    """Policy action -> applied command: Gaussian noise, deadzone, then ``action_latency`` steps of delay.

    Works in normalised action units ([-1, 1]); the delayed queue starts filled with ``rest``.
    """

    def __init__(self, dim: int, rest: np.ndarray | None = None) -> None:
        self.dim = dim
        self.rest = np.zeros(dim) if rest is None else np.asarray(rest, dtype=np.float64)
        self.queue: deque[np.ndarray] = deque()
        self.noise_std = 0.0
        self.deadzone = 0.0
        self.noise = _NoiseBlock(dim)

    def reset(self, values: Values) -> None:
        latency = int(values.get("action_latency", 0))
        self.noise_std = float(values.get("action_noise_std", 0.0))
        self.deadzone = float(values.get("actuator_deadzone", 0.0))
        self.queue = deque([self.rest.copy() for _ in range(latency)])
        self.noise.reset()

    def __call__(self, action: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        a = action
        if self.noise_std > 0:
            a = (a + self.noise_std * self.noise(rng)).clip(-1.0, 1.0)
        a = deadzoned(a, self.deadzone)
        if not self.queue:
            return a
        self.queue.append(a)
        return self.queue.popleft()


class ObsChannel:
    """True observation -> reported one: a per-episode constant bias U(-b, b) plus Gaussian noise."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.bias = np.zeros(dim)
        self.has_bias = False
        self.noise_std = 0.0
        self.noise = _NoiseBlock(dim)

    def reset(self, values: Values, rng: np.random.Generator) -> None:
        b = float(values.get("obs_bias", 0.0))
        self.has_bias = b > 0
        self.bias = rng.uniform(-b, b, self.dim) if self.has_bias else np.zeros(self.dim)
        self.noise_std = float(values.get("obs_noise_std", 0.0))
        self.noise.reset()

    def __call__(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Returns a new array when noise or bias apply, else ``obs`` itself."""
        if self.noise_std > 0:
            obs = obs + self.noise_std * self.noise(rng)
        if self.has_bias:
            obs = obs + self.bias
        return obs


class EpisodeDynamics:
    """The per-episode dynamics plumbing shared by the sim2real envs and ``DynamicsWrapper``: a nominal snapshot
    taken once, values resampled at every reset (``profile`` overlaid by draws from ``ranges``) and applied
    from the snapshot, the action and observation channels, and the blow-up guard.

    A reset is two calls: :meth:`resample` before the episode's state is placed (the model must hold the new
    values), :meth:`begin` after it (the channels draw from the same generator, in this order)."""

    def __init__(
        self,
        model: mujoco.MjModel,
        index: ModelIndex,
        ranges: Ranges,
        profile: Values,
        act_dim: int,
        obs_dim: int,
        rest: np.ndarray | None = None,
    ) -> None:
        self.model, self.index, self.ranges, self.profile = model, index, ranges, profile
        self.nominal = Nominal.snapshot(model)
        self.values: Values = dict(profile)
        self.action_channel = ActionChannel(act_dim, rest)
        self.obs_channel = ObsChannel(obs_dim)
        self.guard = BlowUpGuard()
        self.act_active = self.obs_active = False
        self.boundary_prob = 0.0  # ADR: the chance that an episode pins one parameter to a bound
        self.pinned: tuple[str, int] | None = None  # this episode's pinned (parameter, 0 = low / 1 = high)

    def set_ranges(self, ranges: Ranges, boundary_prob: float = 0.0) -> None:
        """New randomisation ranges from the next reset on; with ``boundary_prob`` > 0, each episode pins one
        ranged parameter (chosen uniformly) to its lower or upper bound with that probability (ADR's boundary
        sampling, OpenAI 2019, section 5)."""
        self.ranges, self.boundary_prob = dict(ranges), float(boundary_prob)

    def resample(self, rng: np.random.Generator) -> Values:
        """Draw this episode's values and write them onto the model."""
        values, self.pinned = sample(self.ranges, rng), None
        if self.boundary_prob > 0 and self.ranges and rng.random() < self.boundary_prob:
            names = sorted(self.ranges)
            name, side = names[int(rng.integers(len(names)))], int(rng.integers(2))
            values[name], self.pinned = self.ranges[name][side], (name, side)
        self.set_values(values)
        return self.values

    def set_values(self, values: Values) -> None:
        """``profile`` overlaid by ``values``, applied from the nominal snapshot (also used to replay logs)."""
        self.values = {**self.profile, **values}
        apply_to_model(self.model, self.nominal, self.index, self.values)

    def begin(self, data: mujoco.MjData, rng: np.random.Generator) -> None:
        """After the episode's state is placed: reset the channels and arm the guard."""
        v = self.values
        self.action_channel.reset(v)
        self.obs_channel.reset(v, rng)
        self.act_active = bool(v.get("action_latency") or v.get("action_noise_std") or v.get("actuator_deadzone"))
        self.obs_active = bool(v.get("obs_noise_std") or v.get("obs_bias"))
        self.guard.arm(data)


def contact_friction_priority(model: mujoco.MjModel, robot_geoms: np.ndarray) -> None:
    """Make ``robot_geoms`` decide their contacts' friction: MuJoCo takes the larger friction of a contact's two
    geoms, so they get a higher ``geom_priority`` and, as their nominal friction, the value the contact had (the
    larger of their own and the largest of the geoms they can touch); ``friction_scale`` then acts both ways."""
    if len(robot_geoms) == 0:
        return
    others = np.setdiff1d(np.arange(model.ngeom), robot_geoms)
    touch = others[(model.geom_contype[others] != 0) | (model.geom_conaffinity[others] != 0)]
    top = float(model.geom_friction[touch, 0].max()) if len(touch) else 0.0
    model.geom_friction[robot_geoms, 0] = np.maximum(model.geom_friction[robot_geoms, 0], top)
    model.geom_priority[robot_geoms] = int(model.geom_priority.max()) + 1
