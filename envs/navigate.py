"""``sim2real/Navigate-v0``: drive a differential-drive base to a goal through obstacles."""

from __future__ import annotations

from typing import Any, ClassVar

import mujoco
import numpy as np

from sim2real.dynamics import OBJECT_PARAMS, PARAMS
from sim2real.envs.base import Sim2RealEnv
from sim2real.perturb import ModelIndex

V_MAX = 0.6  # m/s, forward speed at action 1
W_MAX = 2.5  # rad/s, turn rate at action 1
HALF_TRACK = 0.17  # m, wheel distance from the centre line
WHEEL_RADIUS = 0.05  # m
MAX_RANGE = 2.0  # m, rangefinder readings are clipped here (no hit reads MAX_RANGE)
GOAL_RADIUS = 0.2  # m, success distance
OBSTACLE_RADIUS = 0.2  # m
N_OBSTACLES = 8
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

    **Observation** (24,), float32:

    | i | name | unit |
    |---|------|------|
    | 0-1 | goal position in the robot frame (x forward, y left) | m |
    | 2 | goal distance | m |
    | 3-4 | base velocity in the robot frame (forward, lateral) | m/s |
    | 5 | yaw rate | rad/s |
    | 6-21 | 16 rangefinder readings, counter-clockwise from straight ahead, 22.5 deg apart, clipped at 2 m | m |
    | 22-23 | previous action | action units |

    **Reward** (terms in ``info["reward_terms"]``, summed): ``progress`` = 5 x (decrease in goal
    distance, m); ``proximity`` = -0.1 x (0.35 m - nearest range reading)+ / 0.35 m;
    ``time`` = -0.01 per step; ``collision`` = -5 on contact; ``success`` = +10.

    **Episode end**: reaching within 0.2 m of the goal terminates with ``is_success``; any contact of
    the base with a wall or an obstacle is a collision, counted in ``info["collisions"]``, and ends
    the episode without success; a physics blow-up terminates; 200 steps (20 s) truncate.

    **Dynamics parameters**: the robot ones (no ``object_*``). ``friction_scale`` acts on the
    wheels (traction: wheels spin out when torque exceeds it); ``mass_scale`` on the whole base;
    ``actuator_gain_scale`` on the wheel velocity servos; ``damping_scale`` on the wheel axles.

    Args: see :class:`~sim2real.envs.base.Sim2RealEnv`.
    """

    task: ClassVar[str] = "navigate"
    asset: ClassVar[str] = "navigate.xml"
    params: ClassVar[tuple[str, ...]] = tuple(p for p in PARAMS if p not in OBJECT_PARAMS)
    frame_skip: ClassVar[int] = 20
    rest_action: ClassVar[np.ndarray] = np.zeros(2)

    def __init__(self, **kwargs: Any) -> None:
        self.goal = np.zeros(2)
        self.obstacles = np.zeros((N_OBSTACLES, 2))
        self._prev_dist = 0.0
        self.collisions = 0
        super().__init__(**kwargs)

    def _task_setup(self) -> None:
        m = self.model
        self._base_q = m.jnt_qposadr[m.joint("base").id]
        self._base_v = m.jnt_dofadr[m.joint("base").id]
        self._robot_body = m.body("robot").id
        self._goal_site = m.site("goal").id
        self._mocap = np.array([m.body_mocapid[m.body(f"obstacle{i}").id] for i in range(N_OBSTACLES)])
        self._ranges = np.array([m.sensor(f"range{k}").adr[0] for k in range(16)])
        robot_bodies = self.index.robot_bodies
        self._robot_geom = np.isin(m.geom_bodyid, robot_bodies)
        blocking = [g for g in range(m.ngeom) if m.geom(g).name.startswith(("wall", "obstacle"))]
        self._blocking = np.zeros(m.ngeom, bool)
        self._blocking[blocking] = True

    def _model_index(self) -> ModelIndex:
        return ModelIndex.from_model(self.model, robot_roots=("robot",), friction_geoms=("wheel_left", "wheel_right"))

    # -- layout ------------------------------------------------------------------------------
    def _sample_layout(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
        """Start (x, y), goal (x, y), start heading (rad) and obstacle centres, in a random orientation."""
        start = np.array([rng.uniform(-1.7, -1.3), rng.uniform(-1.6, 1.6)])
        goal = np.array([rng.uniform(1.3, 1.7), rng.uniform(-1.6, 1.6)])
        line = goal - start
        normal = np.array([-line[1], line[0]]) / np.linalg.norm(line)
        obstacles = [start + rng.uniform(0.35, 0.65) * line + rng.uniform(-0.1, 0.1) * normal]
        for _ in range(400):
            if len(obstacles) == N_OBSTACLES:
                break
            p = np.array([rng.uniform(-1.0, 1.0), rng.uniform(-1.75, 1.75)])
            if min(np.linalg.norm(p - o) for o in obstacles) < MIN_OBSTACLE_DISTANCE:
                continue
            if min(np.linalg.norm(p - start), np.linalg.norm(p - goal)) < 0.6:
                continue
            obstacles.append(p)
        while len(obstacles) < N_OBSTACLES:  # park unplaced obstacles outside the arena
            obstacles.append(np.array([10.0 + len(obstacles), 10.0]))
        obs = np.array(obstacles)
        k = int(rng.integers(4))  # one of four orientations, and a mirror image
        c, s = np.cos(k * np.pi / 2), np.sin(k * np.pi / 2)
        rot = np.array([[c, -s], [s, c]]) @ np.diag([1.0, rng.choice([-1.0, 1.0])])
        inside = np.abs(obs[:, 0]) < 5
        obs[inside] = obs[inside] @ rot.T
        return start @ rot.T, goal @ rot.T, float(rng.uniform(-np.pi, np.pi)), obs

    def _task_reset(self, rng: np.random.Generator) -> None:
        start, self.goal, heading, self.obstacles = self._sample_layout(rng)
        d = self.data
        q = self._base_q
        d.qpos[q : q + 3] = [start[0], start[1], WHEEL_RADIUS]
        d.qpos[q + 3 : q + 7] = [np.cos(heading / 2), 0.0, 0.0, np.sin(heading / 2)]
        d.mocap_pos[self._mocap, :2] = self.obstacles
        d.mocap_pos[self._mocap, 2] = 0.15
        self.model.site_pos[self._goal_site, :2] = self.goal
        self._prev_dist = float(np.linalg.norm(self.goal - start))
        self.collisions = 0

    # -- control, observation, reward ---------------------------------------------------------
    def _task_command(self, action: np.ndarray) -> None:
        v, w = action[0] * V_MAX, action[1] * W_MAX
        self.data.ctrl[0] = (v - w * HALF_TRACK) / WHEEL_RADIUS
        self.data.ctrl[1] = (v + w * HALF_TRACK) / WHEEL_RADIUS

    def pose(self) -> tuple[np.ndarray, float]:
        """Base position (x, y) in m and heading in rad, world frame."""
        q = self.data.qpos[self._base_q : self._base_q + 7]
        yaw = np.arctan2(2 * (q[3] * q[6] + q[4] * q[5]), 1 - 2 * (q[5] ** 2 + q[6] ** 2))
        return q[:2].copy(), float(yaw)

    def _task_observe(self) -> np.ndarray:
        pos, yaw = self.pose()
        c, s = np.cos(yaw), np.sin(yaw)
        rel = self.goal - pos
        goal_r = np.array([c * rel[0] + s * rel[1], -s * rel[0] + c * rel[1]])
        v = self.data.qvel[self._base_v : self._base_v + 6]
        vel_r = [c * v[0] + s * v[1], -s * v[0] + c * v[1], v[5]]
        return np.concatenate([goal_r, [np.linalg.norm(rel)], vel_r, self.range_readings(), self._last_action])

    def range_readings(self) -> np.ndarray:
        """The 16 rangefinder readings in m, no-hit and beyond ``MAX_RANGE`` read as ``MAX_RANGE``."""
        r = self.data.sensordata[self._ranges]
        return np.where((r < 0) | (r > MAX_RANGE), MAX_RANGE, r)

    def _collided(self) -> bool:
        n = self.data.ncon
        if n == 0:
            return False
        g = self.data.contact.geom[:n]
        hit = (self._robot_geom[g[:, 0]] & self._blocking[g[:, 1]]) | (self._robot_geom[g[:, 1]] & self._blocking[g[:, 0]])
        return bool(hit.any())

    def _task_evaluate(self) -> tuple[dict[str, float], bool, dict[str, Any]]:
        pos, _ = self.pose()
        dist = float(np.linalg.norm(self.goal - pos))
        collided = self._collided()
        self.collisions += int(collided)
        success = dist < GOAL_RADIUS and not collided
        nearest = float(self.range_readings().min())
        terms = {
            "progress": 5.0 * (self._prev_dist - dist),
            "proximity": -0.1 * max(0.0, 0.35 - nearest) / 0.35,
            "time": -0.01,
            "collision": -5.0 if collided else 0.0,
            "success": 10.0 if success else 0.0,
        }
        self._prev_dist = dist
        info = {"is_success": success, "collisions": self.collisions, "goal_distance": dist}
        return terms, success or collided, info
