"""``sim2real/PandaLift-v0``: lift a box with a Franka Emika Panda arm under Cartesian control."""

from __future__ import annotations

from typing import ClassVar

import mujoco
import numpy as np
from sim2real.envs.grasp import GraspEnv, rebuild_targets, smooth_positions
from sim2real.envs.panda.model import panda_lift_xml

from sim2real.sim.dynamics import PARAMS
from sim2real.sim.perturb import ModelIndex

MAX_STEP = 0.02  # m, largest end-effector displacement per control step (0.5 m/s at 25 Hz)
MAX_LEAD = 0.02  # m, the commanded position stays within this of the measured one (anti wind-up; limits the push)
FINGER_TRAVEL = 0.04  # m, per-finger joint range (0 = closed, 0.04 = open)
WORKSPACE_LO = np.array([-0.25, -0.25, 0.02])  # m, the commanded pinch point stays in this box (table frame)
WORKSPACE_HI = np.array([0.25, 0.25, 0.35])
# desired pinch-site frame in the table frame: diag(1, -1, -1), z down, jaw along y (written out in _ik_step)
IK_DAMPING = 0.05  # damped least squares: lambda (m or rad)
IK_ROT_GAIN = 1.0  # weight of the orientation error against the position error (m per rad)
IK_NULL_GAIN = 0.2  # pull toward the home posture in the Jacobian's null space, per control step
HOME = np.array([0.0, -0.1, 0.0, -2.3, 0.0, 2.2, 0.0])  # rad, refined by IK at load (hand down above the centre)
ARM_LINKS = ("link1", "link2", "link3", "link4", "link5", "link6", "link7", "hand")
ARM_DOFS = 7


class PandaLiftEnv(GraspEnv):
    """Lift a box at least 10 cm above the table with a Franka Emika Panda (7 joints, parallel gripper).

    The model is the Panda of the installed ``gymnasium-robotics`` package, composed with a table and a box by
    :mod:`sim2real.envs.panda.model` (which lists every change). The arm's base stands at x = -0.55 m in the
    table frame of ``Grasp-v0`` (origin at the table-top centre, z up). Physics at 1 ms, control at 25 Hz.

    **Controller** (inside the env, every control step): the action moves a commanded pinch-point position by
    up to ``MAX_STEP`` = 0.02 m per axis (kept within ``MAX_LEAD`` = 0.02 m of the measured point and inside
    the workspace box x, y in [-0.25, 0.25] m, z in [0.02, 0.35] m). One damped-least-squares step on MuJoCo's
    6 x 7 site Jacobian (lambda = 0.05) turns the position error and the orientation error to "hand down,
    jaw along y" (weight 1 m/rad) into joint targets, with a null-space pull of 0.2 per step toward the home
    posture; targets are clipped to the joint ranges. Joint servos track the targets: PD laws with kp = 3000
    N m/rad and kv = 80 N m s/rad (joints 1-4), 400 and 8 (joints 5-7), passive joint damping 1 and 0.3 N m s/rad,
    the real torque limits 87 and 12 N m (servo and gravity compensation together). The fingers are the asset's
    position servos (kp 500 N/m, limit 70 N each).

    **Action** (4,), each in [-1, 1], the layout of ``Grasp-v0``:

    | i | name | meaning |
    |---|------|---------|
    | 0-2 | dx, dy, dz | pinch-point displacement, x 0.02 m per step, added to the commanded position |
    | 3 | grip | finger position: -1 fully open (80 mm gap), +1 fully closed |

    **Observation** (37,), float32: entries 0-22 as ``Grasp-v0``, then the arm's joints:

    | i | name | unit |
    |---|------|------|
    | 0-2 | pinch point position (between the pads), table frame | m |
    | 3-5 | pinch point velocity | m/s |
    | 6 | finger gap | m |
    | 7-9 | box centre position | m |
    | 10-12 | box centre minus pinch point | m |
    | 13-15 | box linear velocity | m/s |
    | 16-18 | box half-extents (x, y, z) | m |
    | 19-22 | previous action | action units |
    | 23-29 | joint positions q1-q7 | rad |
    | 30-36 | joint velocities | rad/s |

    **Reward, success, episode end**: as ``Grasp-v0`` (terms ``reach``, ``grasp``, ``lift``, ``hold``,
    ``action``; success = box bottom >= 0.10 m above the table for the last 5 control steps; the box leaving
    the table terminates; a physics blow-up terminates; 100 steps = 4 s truncate).

    **Per episode**: pinch point start x, y ~ U(-0.1, 0.1) m, z ~ U(0.16, 0.24) m (joint angles by IK from the
    home posture); box x, y ~ U(-0.1, 0.1) m, yaw ~ U(-0.4, 0.4) rad; size and mass through
    ``object_size_scale`` / ``object_mass_scale`` (nominal 40 mm cube, 0.1 kg).

    **Dynamics parameters**: all canonical ones. ``mass_scale`` on links 1-7, hand and fingers and
    ``body_mass_scale.<link>`` on one of them, ``payload_mass`` (kg) at the hand's centre of mass: gravity
    compensation uses the nominal masses, so a mass shift or payload loads the servos as on a real robot;
    ``damping_scale`` on the joints; ``actuator_gain_scale`` on the servos' stiffness (not on the torque limits);
    ``friction_scale`` on the finger pads.
    """

    task: ClassVar[str] = "panda_lift"
    params: ClassVar[tuple[str, ...]] = (*PARAMS, *(f"body_mass_scale.{b}" for b in ARM_LINKS))
    frame_skip: ClassVar[int] = 40
    observation_layout: ClassVar[tuple[tuple[str, str], ...]] = (
        *GraspEnv.observation_layout,
        *((f"q{i}", "rad") for i in range(1, 8)),
        *((f"qd{i}", "rad/s") for i in range(1, 8)),
    )
    action_layout: ClassVar[tuple[tuple[str, str, float], ...]] = GraspEnv.action_layout

    # calibration: the pinch point's position (1 cm), velocity (0.1 m/s), the finger gap (1 cm), the joint angles
    # (0.01 rad: a payload shows as the servos' sag) and velocities (0.1 rad/s)
    replay_compared: ClassVar[tuple[tuple[int, ...], tuple[float, ...]]] = (
        (*range(7), *range(23, 37)),
        (0.01,) * 3 + (0.1,) * 3 + (0.01,) + (0.01,) * 7 + (0.1,) * 7,
    )

    def _load_model(self, model_path: str | None) -> mujoco.MjModel:
        if model_path:
            return mujoco.MjModel.from_xml_path(model_path)
        return mujoco.MjModel.from_xml_string(panda_lift_xml(visual=self.render_mode is not None))

    def _task_setup(self) -> None:
        m = self.model
        self._obj_geom = m.geom("object").id
        self._obj_qadr = m.jnt_qposadr[m.joint("object").id]
        self._obj_vadr = m.jnt_dofadr[m.joint("object").id]
        arm = [m.joint(f"joint{i}").id for i in range(1, 8)]
        if list(m.jnt_qposadr[arm]) != list(range(7)) or m.nsensordata != 16:
            raise ValueError("panda model: joints 1-7 must come first and the 16 sensor values of Grasp-v0 follow")
        self._q_lo, self._q_hi = m.jnt_range[arm, 0].copy(), m.jnt_range[arm, 1].copy()
        self._site = m.site("pinch").id
        self._jacp = np.zeros((3, m.nv))
        self._jacr = np.zeros((3, m.nv))
        self._jac = np.zeros((6, ARM_DOFS))
        self._err = np.zeros(6)
        self._jjt = np.zeros((6, 6))
        self._sol = np.zeros(6)
        self._lo, self._hi = WORKSPACE_LO, WORKSPACE_HI
        self._ik_data = mujoco.MjData(m)  # allocated once: an MjData per reset would cost the arena every episode
        self._home = self._solve_ik(np.array([0.0, 0.0, 0.2]), HOME, iters=100)

    def _model_index(self) -> ModelIndex:
        return ModelIndex.from_model(
            self.model,
            robot_roots=("link0",),
            object_roots=("object",),
            friction_geoms=("pad_left", "pad_right"),
            bodies=ARM_LINKS,
            payload_body="hand",
        )

    # -- the Cartesian controller ------------------------------------------------------------
    def _ik_step(self, d: mujoco.MjData, target: np.ndarray, null_gain: float = IK_NULL_GAIN) -> np.ndarray:
        """One damped-least-squares step: joint targets (rad) that move the pinch site toward ``target`` (m)
        with the hand down, from the joint angles in ``d`` (its kinematics must be current)."""
        mujoco.mj_jacSite(self.model, d, self._jacp, self._jacr, self._site)
        J = self._jac  # the arm's 7 columns of [jacp; jacr]
        J[:3] = self._jacp[:, :ARM_DOFS]
        J[3:] = self._jacr[:, :ARM_DOFS]
        # the rotation error to "hand down", 0.5 sum_i R[:, i] x diag(1, -1, -1)[:, i], written out from the
        # row-major R (np.cross costs 40 us a call)
        r = d.site_xmat[self._site]
        e = self._err
        np.subtract(target, d.site_xpos[self._site], out=e[:3])
        e[3:] = (r[7] - r[5], r[6] + r[2], -r[3] - r[1])
        e[3:] *= 0.5 * IK_ROT_GAIN
        A = self._jjt
        np.matmul(J, J.T, out=A)
        A.flat[::7] += IK_DAMPING**2
        mujoco.mju_cholFactor(A, 0.0)
        q = d.qpos[:ARM_DOFS]
        # dq = J+ e + (I - J+ J) pull = J^T (J J^T + lambda^2)^-1 (e - J pull) + pull
        if null_gain:
            pull = null_gain * (self._home - q)
            e -= J @ pull
            mujoco.mju_cholSolve(self._sol, A, e)
            dq = J.T @ self._sol + pull
        else:
            mujoco.mju_cholSolve(self._sol, A, e)
            dq = J.T @ self._sol
        dq += q
        return np.clip(dq, self._q_lo, self._q_hi, out=dq)

    def _solve_ik(self, target: np.ndarray, q0: np.ndarray, iters: int = 30) -> np.ndarray:
        """Joint angles (rad) that put the pinch site at ``target`` (m) with the hand down, from ``q0``."""
        d = self._ik_data  # a scratch copy of the state: solving never touches the simulation's
        d.qpos[:ARM_DOFS] = q0
        for _ in range(iters):
            mujoco.mj_kinematics(self.model, d)
            mujoco.mj_comPos(self.model, d)
            d.qpos[:ARM_DOFS] = self._ik_step(d, target, null_gain=0.0)
        return d.qpos[:ARM_DOFS].copy()

    def _task_command(self, action: np.ndarray) -> None:
        d = self.data
        pinch = d.site_xpos[self._site]
        target = self._target + action[:3] * MAX_STEP
        np.clip(target, pinch - MAX_LEAD, pinch + MAX_LEAD, out=target)
        self._target = np.clip(target, self._lo, self._hi, out=target)
        d.ctrl[:ARM_DOFS] = self._ik_step(d, self._target)
        d.ctrl[7] = d.ctrl[8] = (1.0 - action[3]) * 0.5 * FINGER_TRAVEL

    # -- task --------------------------------------------------------------------------------
    def _task_reset(self, rng: np.random.Generator) -> None:
        d = self.data
        start = np.array([rng.uniform(-0.1, 0.1), rng.uniform(-0.1, 0.1), rng.uniform(0.16, 0.24)])
        q = self._solve_ik(start, self._home, iters=12)
        d.qpos[:ARM_DOFS] = q
        d.ctrl[:ARM_DOFS] = q
        d.qpos[7] = d.qpos[8] = d.ctrl[7] = d.ctrl[8] = FINGER_TRAVEL
        self._target = start.copy()
        self._place_box(rng)

    def _finger_gap(self, s: np.ndarray) -> float:
        return s[6] + s[7]  # the Panda's finger joints read opening travel

    def _task_observe(self) -> np.ndarray:
        o = super()._task_observe()  # Grasp-v0's 23 entries
        o[23:30] = self.data.qpos[:ARM_DOFS]
        o[30:37] = self.data.qvel[:ARM_DOFS]
        return o

    # -- replay of logged observations (calibration) ------------------------------------------
    def replay_context(self, observations: np.ndarray, applied: np.ndarray) -> dict[str, np.ndarray]:
        """Smoothed pinch and box positions, and the commanded pinch position before each step, (T + 1, 3) each
        in m, rebuilt as :meth:`_task_command` builds it from the first observed pinch position (the episode's
        start, where the arm rests at its command) and the applied displacements."""
        pinch = smooth_positions(observations[:, 0:3], observations[:, 3:6], self.dt)
        obj = smooth_positions(observations[:, 7:10], observations[:, 13:16], self.dt)
        # at reset the arm rests at its command: start from the first reading (the smoothing is worst at the ends)
        start = observations[0, 0:3]
        targets = rebuild_targets(start, pinch, applied[:, :3], MAX_STEP, MAX_LEAD, self._lo, self._hi)
        return {"targets": targets, "pinch": pinch, "object": obj}

    def restore(self, obs: np.ndarray, context: dict[str, np.ndarray], t: int) -> None:
        """Arm joints (positions and velocities) and fingers from the observation, the box as
        :meth:`GraspEnv._restore_object` places it, the servo targets from the commanded pinch position."""
        m, d = self.model, self.data
        mujoco.mj_resetData(m, d)
        gap = self._restore_object(obs, context, t)
        d.qpos[:ARM_DOFS] = np.minimum(np.maximum(obs[23:30], self._q_lo), self._q_hi)
        d.qvel[:ARM_DOFS] = obs[30:37]
        d.qpos[7] = d.qpos[8] = min(max(gap / 2, 0.0), FINGER_TRAVEL)
        self._target = context["targets"][t].copy()
        mujoco.mj_forward(m, d)
        d.ctrl[:ARM_DOFS] = self._ik_step(d, self._target)
        d.ctrl[7] = d.ctrl[8] = (1.0 - obs[22]) * 0.5 * FINGER_TRAVEL
        self._held = 0
        self._last_action = np.asarray(obs[19:23], dtype=np.float64)
        self.dyn.guard.arm(d)

    def replay_command(self, datas: list[mujoco.MjData], carry: np.ndarray, applied: np.ndarray) -> np.ndarray:
        """:meth:`_task_command` for many rows: commanded pinch positions ``carry`` (N, 3) in m, applied actions
        (N, 4); one IK step per row from its own kinematics (the candidates share the kinematic tree); writes each
        row's ``ctrl`` and returns the new commanded positions."""
        target = carry + applied[:, :3] * MAX_STEP
        for d, tg, a in zip(datas, target, applied, strict=True):
            pinch = d.site_xpos[self._site]
            np.clip(tg, pinch - MAX_LEAD, pinch + MAX_LEAD, out=tg)
            np.clip(tg, self._lo, self._hi, out=tg)
            d.ctrl[:ARM_DOFS] = self._ik_step(d, tg)
            d.ctrl[7] = d.ctrl[8] = (1.0 - a[3]) * 0.5 * FINGER_TRAVEL
        return target

    def replay_observe(self, state: np.ndarray, sensordata: np.ndarray, snapshot: np.ndarray) -> np.ndarray:
        """Grasp-v0's entries, then the arm's joint angles and velocities from the state (``mjSTATE_FULLPHYSICS``:
        time, qpos, qvel, ...)."""
        o = super().replay_observe(state, sensordata, snapshot)
        nq = self.model.nq
        o[:, 23:30] = state[:, 1 : 1 + ARM_DOFS]
        o[:, 30:37] = state[:, 1 + nq : 1 + nq + ARM_DOFS]
        return o


__all__ = ["PandaLiftEnv"]
