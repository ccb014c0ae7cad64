"""``sim2real/Navigate-v0`` and ``-v1``: drive a differential-drive base to a goal through obstacles."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import mujoco
import numpy as np
from sim2real.envs.base import Sim2RealEnv

from sim2real.sim.dynamics import OBJECT_PARAMS, PARAMS
from sim2real.sim.perturb import ModelIndex, contact_friction_priority

V_MAX = 0.6  # m/s, forward speed at action 1
W_MAX = 2.5  # rad/s, turn rate at action 1
HALF_TRACK = 0.17  # m, wheel distance from the centre line
WHEEL_RADIUS = 0.05  # m
MAX_RANGE = 2.0  # m, rangefinder readings are clipped here (no hit reads MAX_RANGE)
GOAL_RADIUS = 0.2  # m, success distance
OBSTACLE_RADIUS = 0.2  # m
N_OBSTACLES = 8
N_RAYS = 24
MIN_OBSTACLE_DISTANCE = 1.0  # m between obstacle centres: every gap is >= 0.6 m (the base is 0.37 m wide)


class NavigateEnv(Sim2RealEnv):
    """Reach a goal 2.6-3.6 m away in a walled 4 m x 4 m arena with 8 obstacles, without touching anything.

    A differential-drive base (two driven wheels under velocity servos, two passive casters),
    commanded like a mobile base's velocity interface. Control rate 10 Hz (20 physics steps of
    5 ms). One obstacle is always placed near the straight line from start to goal, so the
    direct path is blocked; the others are scattered with at least 0.6 m between them.

    **Action** (2,), each in [-1, 1]:

    | i | name | meaning |
    |---|------|---------|
    | 0 | forward speed | x ``V_MAX`` = 0.6 m/s |
    | 1 | turn rate | x ``W_MAX`` = 2.5 rad/s, counter-clockwise positive |

    turned into wheel speed commands (v -/+ w * 0.17 m) / 0.05 m, in rad/s.

    **Observation** (32,), float32:

    | i | name | unit |
    |---|------|------|
    | 0-1 | goal position in the robot frame (x forward, y left) | m |
    | 2 | goal distance | m |
    | 3-4 | base velocity in the robot frame (forward, lateral) | m/s |
    | 5 | yaw rate | rad/s |
    | 6-29 | 24 rangefinder readings, counter-clockwise from straight ahead, 15 deg apart, clipped at 2 m | m |
    | 30-31 | previous action | action units |

    **Reward** (terms in ``info["reward_terms"]``, summed): ``progress`` = 5 x (decrease in goal
    distance, m); ``proximity`` = -0.3 x (0.4 m - nearest range reading)+ / 0.4 m;
    ``time`` = -0.01 per step; ``collision`` = -20 on contact; ``success`` = +10.

    **Episode end**: reaching within 0.2 m of the goal terminates with ``is_success``; any contact of
    the base with a wall or an obstacle is a collision, counted in ``info["collisions"]``, and ends
    the episode without success; a physics blow-up terminates; 200 steps (20 s) truncate.

    **Dynamics parameters**: the robot ones (no ``object_*``). ``friction_scale`` acts on the
    wheels (traction: wheels spin out when torque exceeds it); ``mass_scale`` on the whole base;
    ``actuator_gain_scale`` on the wheel velocity servos; ``damping_scale`` on the wheel axles.

    **Versions**: ``-v0`` (task ``navigate``, every published navigation figure) has two contact
    artefacts: MuJoCo gives a contact the larger friction of its two geoms, and wheels and floor both
    have 1, so ``friction_scale`` below 1 does nothing; and the default pyramidal friction cone makes
    the wheels' slip depend on the world heading, which no robot-frame reading carries. ``-v1`` (task
    ``navigate_v1``, ``faithful_contact=True``) gives the wheels contact priority (their friction
    decides, so ``friction_scale`` acts both ways) and uses an elliptic cone (isotropic).

    Args:
        faithful_contact: the ``-v1`` contact model (above); the rest: see
            :class:`~sim2real.envs.base.Sim2RealEnv`.
    """

    task: ClassVar[str] = "navigate"
    asset: ClassVar[str] = "navigate.xml"
    params: ClassVar[tuple[str, ...]] = tuple(p for p in PARAMS if p not in (*OBJECT_PARAMS, "payload_mass"))
    frame_skip: ClassVar[int] = 20
    rest_action: ClassVar[np.ndarray] = np.zeros(2)
    # calibration: the compared observation entries and their scales: goal position in the robot frame (5 cm: it
    # integrates the base's motion), velocities (0.1 m/s) and yaw rate (0.25 rad/s)
    replay_compared: ClassVar[tuple[tuple[int, ...], tuple[float, ...]]] = (
        (0, 1, 3, 4, 5),
        (0.05, 0.05, 0.1, 0.1, 0.25),
    )
    observation_layout: ClassVar[tuple[tuple[str, str], ...]] = (
        ("goal_x_robot", "m"),
        ("goal_y_robot", "m"),
        ("goal_distance", "m"),
        ("base_v_forward", "m/s"),
        ("base_v_lateral", "m/s"),
        ("yaw_rate", "rad/s"),
        *((f"range_{k}", "m") for k in range(N_RAYS)),
        ("previous_action_forward", "action units"),
        ("previous_action_turn", "action units"),
    )
    action_layout: ClassVar[tuple[tuple[str, str, float], ...]] = (
        ("forward_speed", "m/s", V_MAX),
        ("turn_rate", "rad/s, counter-clockwise", W_MAX),
    )

    def __init__(self, faithful_contact: bool = False, **kwargs: Any) -> None:
        self.faithful_contact = bool(faithful_contact)
        self.goal = np.zeros(2)
        self.obstacles = np.zeros((N_OBSTACLES, 2))
        self._prev_dist = 0.0
        self.collisions = 0
        self._obs = np.zeros(6 + N_RAYS + 2)
        super().__init__(**kwargs)

    def _load_model(self, model_path: str | None) -> mujoco.MjModel:
        m = super()._load_model(model_path)
        if self.faithful_contact:  # -v1: the wheels' friction decides their contacts, isotropically
            contact_friction_priority(m, np.array([m.geom(w).id for w in ("wheel_left", "wheel_right")]))
            m.opt.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
        return m

    def _task_setup(self) -> None:
        m = self.model
        self._base_q = m.jnt_qposadr[m.joint("base").id]
        self._goal_site = m.site("goal").id
        self._mocap = np.array([m.body_mocapid[m.body(f"obstacle{i}").id] for i in range(N_OBSTACLES)])
        # sensordata layout: base pos 0-2, heading (x axis) 3-5, linear velocity 6-8, angular velocity 9-11,
        # ranges 12..12+N_RAYS, then one contact flag for the walls and one per obstacle (assets/navigate.xml)
        self._r0 = 12
        self._c0 = 12 + N_RAYS
        if m.nsensordata != self._c0 + 1 + N_OBSTACLES:
            raise ValueError(f"navigate model: unexpected sensor layout ({m.nsensordata} values)")
        self._base_v = m.jnt_dofadr[m.joint("base").id]
        self._wheel_v = np.array([m.jnt_dofadr[m.joint(w).id] for w in ("wheel_left", "wheel_right")])
        self._rest_z = WHEEL_RADIUS  # base height on level ground (the wheels' axle height)

    def _model_index(self) -> ModelIndex:
        return ModelIndex.from_model(self.model, robot_roots=("robot",), friction_geoms=("wheel_left", "wheel_right"))

    # -- layout ------------------------------------------------------------------------------
    def _sample_layout(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
        """Start (x, y), goal (x, y), start heading (rad) and obstacle centres, in a random orientation."""
        sx, sy, gx, gy, t, off = rng.uniform([-1.7, -1.6, 1.3, -1.6, 0.35, -0.1], [-1.3, 1.6, 1.7, 1.6, 0.65, 0.1])
        lx, ly = gx - sx, gy - sy
        norm = math.hypot(lx, ly)
        placed = [(sx + t * lx - off * ly / norm, sy + t * ly + off * lx / norm)]
        d2_obs, d2_ends = MIN_OBSTACLE_DISTANCE**2, 0.6**2
        for x, y in rng.uniform([-1.0, -1.75], [1.0, 1.75], size=(400, 2)).tolist():
            if len(placed) == N_OBSTACLES:
                break
            if (x - sx) ** 2 + (y - sy) ** 2 < d2_ends or (x - gx) ** 2 + (y - gy) ** 2 < d2_ends:
                continue
            if all((x - px) ** 2 + (y - py) ** 2 >= d2_obs for px, py in placed):
                placed.append((x, y))
        while len(placed) < N_OBSTACLES:  # park unplaced obstacles outside the arena
            placed.append((10.0 + len(placed), 10.0))
        obs = np.array(placed)
        k = int(rng.integers(4))  # one of four orientations, and a mirror image
        c, s = math.cos(k * math.pi / 2), math.sin(k * math.pi / 2)
        rot = np.array([[c, -s], [s, c]]) @ np.diag([1.0, rng.choice([-1.0, 1.0])])
        inside = np.abs(obs[:, 0]) < 5
        obs[inside] = obs[inside] @ rot.T
        return rot @ [sx, sy], rot @ [gx, gy], float(rng.uniform(-math.pi, math.pi)), obs

    def _task_reset(self, rng: np.random.Generator) -> None:
        start, self.goal, heading, self.obstacles = self._sample_layout(rng)
        d = self.data
        q = self._base_q
        d.qpos[q : q + 3] = [start[0], start[1], WHEEL_RADIUS]
        d.qpos[q + 3 : q + 7] = [math.cos(heading / 2), 0.0, 0.0, math.sin(heading / 2)]
        d.mocap_pos[self._mocap, :2] = self.obstacles
        d.mocap_pos[self._mocap, 2] = 0.15
        self.model.site_pos[self._goal_site, :2] = self.goal
        self._prev_dist = float(np.linalg.norm(self.goal - start))
        self.collisions = 0

    # -- replay of logged observations (calibration) ------------------------------------------
    def kinematic_residuals(self, obs: np.ndarray) -> np.ndarray:
        """(T, 1): each step's change of the goal-distance reading minus the trapezoid integral of the base
        velocity's component toward the goal (m)."""
        dist = np.maximum(obs[:, 2], 1e-3)
        rate = -(obs[:, 0] * obs[:, 3] + obs[:, 1] * obs[:, 4]) / dist  # d(goal distance)/dt, m/s
        return (np.diff(obs[:, 2]) - 0.5 * (rate[1:] + rate[:-1]) * self.dt)[:, None]

    def bias_sensitivity(self, obs: np.ndarray) -> np.ndarray:
        """(T - 1, 1, 2): how constant offsets on the forward and lateral velocity readings (m/s) enter each
        :meth:`kinematic_residuals` entry (m): through the unit vector toward the goal, which turns with the
        base, so the offsets do not cancel over an episode that turns."""
        u = obs[:, 0:2] / np.maximum(obs[:, 2], 1e-3)[:, None]
        return (0.5 * (u[1:] + u[:-1]) * self.dt)[:, None, :]

    def replay_context(self, observations: np.ndarray, applied: np.ndarray) -> dict[str, np.ndarray]:
        """The actions the wheels received (T, 2): :meth:`restore` finishes the control step a reading came from."""
        return {"applied": np.asarray(applied, dtype=np.float64)}

    def restore(self, obs: np.ndarray, context: object, t: int) -> None:
        """The base at the arena centre heading +x (the robot frame is then the world frame) with the
        observed velocities, wheels rolling without slip, the goal where the observation puts it, and
        the obstacles parked outside (the rangefinders are not replayed).

        A reading is taken on the last physics step of a control step, before that step integrates (5 ms
        before the control boundary); with the previous applied action known (``context``), that last physics
        step is run, so the replay starts at the boundary, as the logged robot did (at the torque-limited
        accelerations of an excitation, 5 ms of yaw rate moves a goal 3 m away by centimetres)."""
        self._place(obs, 0.0)
        m, d = self.model, self.data
        mujoco.mj_forward(m, d)
        applied = context.get("applied") if isinstance(context, dict) else None
        if applied is not None and t > 0:
            self._task_command(applied[t - 1])
            mujoco.mj_step(m, d)
        self.dyn.guard.arm(d)

    def replay_controls(self, applied: np.ndarray) -> np.ndarray:
        """(T, 2) wheel velocity targets (rad/s) for applied actions (T, 2), as :meth:`_task_command` sets them
        (batched replay, :mod:`sim2real.ident.rollout`)."""
        v, w = applied[:, 0] * V_MAX, applied[:, 1] * W_MAX
        return np.stack([(v - w * HALF_TRACK) / WHEEL_RADIUS, (v + w * HALF_TRACK) / WHEEL_RADIUS], axis=1)

    def replay_snapshot(self) -> np.ndarray:
        """The goal (x, y) in m, world frame, as :meth:`restore` placed it."""
        return self.goal.copy()

    def replay_observe(self, state: np.ndarray, sensordata: np.ndarray, snapshot: np.ndarray) -> np.ndarray:
        """(N, obs_dim) true observations from sensor data (N, nsensordata) and goals (N, 2), as
        :meth:`_task_observe` computes them (the rangefinders and previous actions, not replayed, are NaN)."""
        s = sensordata
        n = np.hypot(s[:, 3], s[:, 4])
        n = np.where(n == 0, 1.0, n)
        c, sn = s[:, 3] / n, s[:, 4] / n
        rx, ry = snapshot[:, 0] - s[:, 0], snapshot[:, 1] - s[:, 1]
        o = np.full((len(s), 6 + N_RAYS + 2), np.nan)
        o[:, 0] = c * rx + sn * ry
        o[:, 1] = -sn * rx + c * ry
        o[:, 2] = np.hypot(rx, ry)
        o[:, 3] = c * s[:, 6] + sn * s[:, 7]
        o[:, 4] = -sn * s[:, 6] + c * s[:, 7]
        o[:, 5] = s[:, 11]
        return o

    def twin_start(self, obs: np.ndarray, context: object, rng: np.random.Generator) -> None:
        """:meth:`restore` at a random world heading (the first step of an episode): in ``-v0`` MuJoCo's pyramidal
        friction cone makes the wheels' slip depend slightly on the heading, which the robot-frame readings do
        not carry; a dataset's twin (``sim2real.ident.bootstrap``) draws it as the logged episodes had it."""
        self._place(obs, float(rng.uniform(-math.pi, math.pi)))
        mujoco.mj_forward(self.model, self.data)
        self.dyn.guard.arm(self.data)

    def _place(self, obs: np.ndarray, heading: float) -> None:
        """The base at the arena centre heading ``heading`` (rad) with the observed velocities, wheels rolling
        without slip, the goal where the observation puts it, the obstacles parked outside."""
        m, d = self.model, self.data
        mujoco.mj_resetData(m, d)
        q, v = self._base_q, self._base_v
        c, s = math.cos(heading), math.sin(heading)
        d.qpos[q : q + 7] = [0.0, 0.0, self._rest_z, math.cos(heading / 2), 0.0, 0.0, math.sin(heading / 2)]
        fwd, lat, wz = (float(x) for x in obs[3:6])
        d.qvel[v : v + 6] = [c * fwd - s * lat, s * fwd + c * lat, 0.0, 0.0, 0.0, wz]  # linear: world frame
        d.qvel[self._wheel_v] = [(fwd - wz * HALF_TRACK) / WHEEL_RADIUS, (fwd + wz * HALF_TRACK) / WHEEL_RADIUS]
        d.mocap_pos[self._mocap, 0] = 10.0 + np.arange(N_OBSTACLES)
        d.mocap_pos[self._mocap, 1] = 10.0
        gx, gy = float(obs[0]), float(obs[1])
        self.goal = np.array([c * gx - s * gy, s * gx + c * gy])
        self.model.site_pos[self._goal_site, :2] = self.goal
        self._prev_dist = float(np.hypot(*self.goal))
        self.collisions = 0
        self._last_action = np.asarray(obs[6 + N_RAYS :], dtype=np.float64)

    # -- control, observation, reward ---------------------------------------------------------
    def _task_command(self, action: np.ndarray) -> None:
        v, w = action[0] * V_MAX, action[1] * W_MAX
        self.data.ctrl[0] = (v - w * HALF_TRACK) / WHEEL_RADIUS
        self.data.ctrl[1] = (v + w * HALF_TRACK) / WHEEL_RADIUS

    def pose(self) -> tuple[np.ndarray, float]:
        """Base position (x, y) in m and heading in rad, world frame (from the body's sensors)."""
        s = self.data.sensordata
        return s[0:2].copy(), math.atan2(s[4], s[3])

    def range_readings(self) -> np.ndarray:
        """The rangefinder readings in m; no hit and beyond ``MAX_RANGE`` read as ``MAX_RANGE``."""
        r = self.data.sensordata[self._r0 : self._c0]
        return np.where(r < 0, MAX_RANGE, np.minimum(r, MAX_RANGE))

    def _task_observe(self) -> np.ndarray:
        s, o = self.data.sensordata, self._obs
        x, y, _, hx, hy, _, vx, vy, _, _, _, wz = s[0:12].tolist()
        n = math.hypot(hx, hy) or 1.0
        c, sn = hx / n, hy / n
        rx, ry = self.goal[0] - x, self.goal[1] - y
        o[0] = c * rx + sn * ry
        o[1] = -sn * rx + c * ry
        o[2] = math.hypot(rx, ry)
        o[3] = c * vx + sn * vy
        o[4] = -sn * vx + c * vy
        o[5] = wz
        o[6 : 6 + N_RAYS] = self.range_readings()
        o[6 + N_RAYS :] = self._last_action
        return o

    def _task_evaluate(self) -> tuple[dict[str, float], bool, dict[str, Any]]:
        s = self.data.sensordata
        dist = math.hypot(self.goal[0] - s[0], self.goal[1] - s[1])
        collided = bool(s[self._c0 :].any())
        self.collisions += collided
        success = dist < GOAL_RADIUS and not collided
        nearest = float(self.range_readings().min())
        terms = {
            "progress": 5.0 * (self._prev_dist - dist),
            "proximity": -0.3 * max(0.0, 0.4 - nearest) / 0.4,
            "time": -0.01,
            "collision": -20.0 if collided else 0.0,
            "success": 10.0 if success else 0.0,
        }
        self._prev_dist = dist
        info = {"is_success": success, "collisions": self.collisions, "goal_distance": dist}
        return terms, success or collided, info
