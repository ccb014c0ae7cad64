"""``sim2real/Grasp-v0``: lift a box with a Cartesian parallel-jaw gripper."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import mujoco
import numpy as np
from sim2real.envs.base import Sim2RealEnv

from sim2real.sim.dynamics import PARAMS
from sim2real.sim.perturb import ModelIndex

TABLE_HALF = 0.35  # m, half side of the table top (z = 0)
MAX_STEP = 0.02  # m, largest end-effector displacement per control step (0.5 m/s at 25 Hz)
MAX_LEAD = 0.05  # m, the commanded position stays within this of the measured one (anti wind-up)
FINGER_TRAVEL = 0.04  # m, per-finger joint range (0 = open, 0.04 = closed)
LIFT_HEIGHT = 0.10  # m, object bottom above the table for success
HOLD_STEPS = 5  # consecutive control steps above LIFT_HEIGHT for success (0.2 s)


class GraspEnv(Sim2RealEnv):
    """Lift a box at least 10 cm above the table with a parallel-jaw gripper under Cartesian control.

    The gripper carriage is moved by a Cartesian position controller (three stiff position
    actuators), as real arms' Cartesian controllers accept; the two fingers close under a
    force-limited position servo. Control rate 25 Hz (40 physics steps of 1 ms).

    **Action** (4,), each in [-1, 1]:

    | i | name | meaning |
    |---|------|---------|
    | 0-2 | dx, dy, dz | end-effector displacement, x ``MAX_STEP`` = 0.02 m per step, added to the commanded position |
    | 3 | grip | finger position: -1 fully open (80 mm gap), +1 fully closed |

    **Observation** (23,), float32:

    | i | name | unit |
    |---|------|------|
    | 0-2 | pinch point position (between the pads), table frame | m |
    | 3-5 | gripper velocity | m/s |
    | 6 | finger gap | m |
    | 7-9 | object centre position | m |
    | 10-12 | object centre minus pinch point | m |
    | 13-15 | object linear velocity | m/s |
    | 16-18 | object half-extents (x, y, z) | m |
    | 19-22 | previous action | action units |

    **Reward** (a dict of terms in ``info["reward_terms"]``, summed):
    ``reach`` = 1 - tanh(10 d) for pinch-to-object distance d (m); ``grasp`` = 0.5 when both
    pads touch the object; ``lift`` = 2 x clip(lift height / 0.10 m, 0, 1) while grasped;
    ``hold`` = 2 on every step the success condition holds; ``action`` = -0.01 |a|^2. Every term
    is largest in the goal state, so holding the lift is the best thing to do (success does not
    end the episode: a terminal bonus would compete with the dense terms it cuts off).

    **Success** (``info["is_success"]``, read on the last step): the object's bottom has been at
    least 0.10 m above the table for the last 5 control steps (0.2 s).

    **Episode end**: the object leaving the table terminates (failure); a physics blow-up
    terminates (``info["physics_unstable"]``); 100 steps (4 s) truncate.

    **Per episode**: gripper start in x, y ~ U(-0.1, 0.1) m, 0.12-0.2 m above the table; box
    position x, y ~ U(-0.1, 0.1) m, yaw ~ U(-0.4, 0.4) rad. Box size and mass vary through the
    ``object_size_scale`` / ``object_mass_scale`` dynamics parameters (nominal: 40 mm cube, 0.1 kg).

    **Dynamics parameters**: all canonical ones. ``friction_scale`` acts on the finger pads
    (MuJoCo takes the larger friction of a contact pair, so the pads' friction governs the grip
    unless the object's is higher); ``mass_scale`` on the carriage and fingers;
    ``actuator_gain_scale`` on the Cartesian and finger servos (stiffness and damping together).

    Args: see :class:`~sim2real.envs.base.Sim2RealEnv`.
    """

    task: ClassVar[str] = "grasp"
    asset: ClassVar[str] = "grasp.xml"
    params: ClassVar[tuple[str, ...]] = tuple(p for p in PARAMS if p != "payload_mass")  # no payload body
    frame_skip: ClassVar[int] = 40
    rest_action: ClassVar[np.ndarray] = np.array([0.0, 0.0, 0.0, -1.0])
    observation_layout: ClassVar[tuple[tuple[str, str], ...]] = (
        *((f"pinch_{a}", "m") for a in "xyz"),
        *((f"gripper_v{a}", "m/s") for a in "xyz"),
        ("finger_gap", "m"),
        *((f"object_{a}", "m") for a in "xyz"),
        *((f"object_minus_pinch_{a}", "m") for a in "xyz"),
        *((f"object_v{a}", "m/s") for a in "xyz"),
        *((f"object_half_extent_{a}", "m") for a in "xyz"),
        *((f"previous_action_{n}", "action units") for n in ("dx", "dy", "dz", "grip")),
    )
    action_layout: ClassVar[tuple[tuple[str, str, float], ...]] = (
        ("dx", "m per control step", MAX_STEP),
        ("dy", "m per control step", MAX_STEP),
        ("dz", "m per control step", MAX_STEP),
        ("grip", "finger position, -1 open (80 mm gap) to +1 closed", 1.0),
    )

    # calibration: the compared observation entries and their scales (obs units): the gripper's position (1 cm),
    # velocity (0.1 m/s) and finger gap (1 cm); the box's entries are left out: its yaw and spin are not
    # observed, so a replayed box diverges from the logged one for reasons no parameter explains, and the
    # gripper's own motion already carries what the box does to it (a held box's weight)
    replay_compared: ClassVar[tuple[tuple[int, ...], tuple[float, ...]]] = (
        tuple(range(7)),
        (0.01,) * 3 + (0.1,) * 3 + (0.01,),
    )

    def __init__(self, **kwargs: Any) -> None:
        self._target = np.zeros(3)
        self._half = np.full(3, 0.02)
        self._held = 0
        self._obs = np.zeros(len(self.observation_layout))
        super().__init__(**kwargs)

    def _task_setup(self) -> None:
        m = self.model
        self._obj_geom = m.geom("object").id
        xyz = [m.joint(j).id for j in ("x", "y", "z")]
        if list(m.jnt_qposadr[xyz]) != [0, 1, 2]:
            raise ValueError("grasp model: the x, y, z slide joints must be the first three joints")
        self._obj_qadr = m.jnt_qposadr[m.joint("object").id]
        self._lo, self._hi = m.jnt_range[xyz, 0].copy(), m.jnt_range[xyz, 1].copy()
        # sensordata layout: pinch pos 0-2, pinch vel 3-5, finger joints 6-7, object pos 8-10,
        # object vel 11-13, pad-object contacts 14-15 (see assets/grasp.xml)
        if m.nsensordata != 16:
            raise ValueError(f"grasp model: expected 16 sensor values, found {m.nsensordata}")
        self._obj_vadr = m.jnt_dofadr[m.joint("object").id]
        probe = mujoco.MjData(m)
        mujoco.mj_kinematics(m, probe)
        self._pinch_offset = probe.site("pinch").xpos.copy()  # pinch position at zero joint positions, m

    # -- replay of logged observations (calibration) ------------------------------------------
    def replay_context(self, observations: np.ndarray, applied: np.ndarray) -> dict[str, np.ndarray]:
        """Smoothed gripper and box positions, and the Cartesian controller's commanded position before each
        step, (T + 1, 3) each in m.

        Positions are smoothed over +-3 steps with the (far less noisy) velocity readings carrying each
        neighbour to step t: a stiff servo turns millimetres of position noise into large forces. The
        commanded position is rebuilt as ``_task_command`` builds it, from the first position, the applied
        displacements and the anti-wind-up limit around the measured position."""
        pinch = smooth_positions(observations[:, 0:3], observations[:, 3:6], self.dt)
        obj = smooth_positions(observations[:, 7:10], observations[:, 13:16], self.dt)
        joints = pinch - self._pinch_offset
        targets = rebuild_targets(joints[0], joints, applied[:, :3], MAX_STEP, MAX_LEAD, self._lo, self._hi)
        return {"targets": targets, "pinch": pinch, "object": obj}

    def restore(self, obs: np.ndarray, context: dict[str, np.ndarray], t: int) -> None:
        """Gripper, fingers and box from the observation (the box as :meth:`_restore_object` places it)."""
        m, d = self.model, self.data
        mujoco.mj_resetData(m, d)
        pinch = context["pinch"][t]
        gap = self._restore_object(obs, context, t)
        d.qpos[0:3] = pinch - self._pinch_offset
        d.qvel[0:3] = obs[3:6]
        d.qpos[3] = d.qpos[4] = min(max((2 * FINGER_TRAVEL - gap) / 2, 0.0), FINGER_TRAVEL)
        d.ctrl[:3] = context["targets"][t]
        d.ctrl[3] = d.ctrl[4] = (obs[22] + 1.0) * 0.5 * FINGER_TRAVEL
        self._target = context["targets"][t].copy()
        self._held = 0
        self._last_action = np.asarray(obs[19:23], dtype=np.float64)
        mujoco.mj_forward(m, d)
        self.dyn.guard.arm(d)

    # the step-by-step batched replay (sim2real.ident.stepwise): the command depends on the measured position
    def replay_carry(self) -> np.ndarray:
        """The commanded position (m) after :meth:`restore`: the controller state a replay row carries."""
        return self._target.copy()

    def replay_snapshot(self) -> np.ndarray:
        """The box's half-extents (m) as :meth:`restore` left them (the candidate's size)."""
        return self._half.copy()

    def replay_command(self, datas: list[mujoco.MjData], carry: np.ndarray, applied: np.ndarray) -> np.ndarray:
        """:meth:`_task_command` for many rows: commanded positions ``carry`` (N, 3) in m, applied actions (N, 4);
        writes each row's ``ctrl`` and returns the new commanded positions."""
        joints = np.stack([d.qpos[0:3] for d in datas])
        target = carry + applied[:, :3] * MAX_STEP
        target = np.minimum(np.maximum(target, joints - MAX_LEAD), joints + MAX_LEAD)
        target = np.minimum(np.maximum(target, self._lo), self._hi)
        finger = (applied[:, 3] + 1.0) * 0.5 * FINGER_TRAVEL
        for d, tg, f in zip(datas, target, finger, strict=True):
            d.ctrl[0:3] = tg
            d.ctrl[3] = d.ctrl[4] = f
        return target

    def replay_observe(self, state: np.ndarray, sensordata: np.ndarray, snapshot: np.ndarray) -> np.ndarray:
        """(N, obs_dim) true observations as :meth:`_task_observe` computes them, from sensor data and the box's
        half-extents (``snapshot``); the previous-action entries, not replayed, are NaN."""
        s = sensordata
        o = np.full((len(s), len(self.observation_layout)), np.nan)
        o[:, 0:6] = s[:, 0:6]
        o[:, 6] = self._finger_gap(s.T)
        o[:, 7:10] = s[:, 8:11]
        o[:, 10:13] = s[:, 8:11] - s[:, 0:3]
        o[:, 13:16] = s[:, 11:14]
        o[:, 16:19] = snapshot
        return o

    def _restore_object(self, obs: np.ndarray, context: dict[str, np.ndarray], t: int) -> float:
        """Place the box from a logged observation; returns the finger gap to use (m).

        The box's yaw is not observed: zero, or for a box held between the pads the yaw whose width across
        them matches the finger gap; its spin is zero. A box reported inside the table or wider than the gap
        is moved to touching (noisy readings)."""
        d = self.data
        half = self.model.geom_size[self._obj_geom]
        self._half = half.copy()
        pinch, obj = context["pinch"][t], context["object"][t].copy()
        obj[2] = max(obj[2], half[2])
        gap = float(obs[6])
        between = (
            abs(obj[0] - pinch[0]) < 0.02 and abs(obj[1] - pinch[1]) < half[1] + 0.01 and abs(obj[2] - pinch[2]) < 0.04
        )
        yaw = 0.0
        if between:
            gap = max(gap, 2 * half[1])
            # a box held across the pads at yaw psi spans half_x |sin psi| + half_y |cos psi| = gap / 2 along y
            # (the sign of psi is not observable; either gives the same contacts)
            ratio = min(gap / 2 / math.hypot(half[0], half[1]), 1.0)
            yaw = max(math.asin(ratio) - math.atan2(half[1], half[0]), 0.0)
        q, v = self._obj_qadr, self._obj_vadr
        d.qpos[q : q + 7] = [*obj, math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)]
        d.qvel[v : v + 3] = obs[13:16]
        return gap

    def kinematic_residuals(self, obs: np.ndarray) -> np.ndarray:
        """(T, 6): each step's change of the gripper and box position readings minus the trapezoid integral of
        their velocity readings (m); noise and bias estimates come from these (``calibrate.noise_and_bias``)."""
        pos, vel = obs[:, [0, 1, 2, 7, 8, 9]], obs[:, [3, 4, 5, 13, 14, 15]]
        return np.diff(pos, axis=0) - 0.5 * (vel[1:] + vel[:-1]) * self.dt

    def measured_from_logs(self, observations: list[np.ndarray]) -> dict[str, float]:
        """Parameters read off the logs, not searched: ``object_size_scale`` from the observed half-extents."""
        halves = np.concatenate([o[:, 16:19] for o in observations])
        return {"object_size_scale": float(np.median(halves) / np.median(self.nominal_half_extents))}

    @property
    def nominal_half_extents(self) -> np.ndarray:
        """The box's half-extents (x, y, z) in the unscaled model, m."""
        return self.nominal.geom_size[self._obj_geom].copy()

    def _model_index(self) -> ModelIndex:
        return ModelIndex.from_model(
            self.model,
            robot_roots=("robot",),
            object_roots=("object",),
            friction_geoms=("pad_left", "pad_right"),
        )

    # -- task --------------------------------------------------------------------------------
    def _task_reset(self, rng: np.random.Generator) -> None:
        d = self.data
        start = np.array([rng.uniform(-0.1, 0.1), rng.uniform(-0.1, 0.1), rng.uniform(-0.08, 0.0)])
        d.qpos[0:3] = start
        d.ctrl[:3] = start
        self._target = start.copy()
        self._place_box(rng)

    def _place_box(self, rng: np.random.Generator) -> None:
        """The box on the table: x, y ~ U(-0.1, 0.1) m, yaw ~ U(-0.4, 0.4) rad, its size from the model."""
        d = self.data
        self._half = self.model.geom_size[self._obj_geom].copy()
        yaw = rng.uniform(-0.4, 0.4)
        q = self._obj_qadr
        d.qpos[q : q + 7] = [
            rng.uniform(-0.1, 0.1),
            rng.uniform(-0.1, 0.1),
            self._half[2] + 1e-4,
            np.cos(yaw / 2),
            0.0,
            0.0,
            np.sin(yaw / 2),
        ]
        self._held = 0

    def _task_command(self, action: np.ndarray) -> None:
        joints = self.data.qpos[0:3]
        target = self._target + action[:3] * MAX_STEP
        target = np.minimum(np.maximum(target, joints - MAX_LEAD), joints + MAX_LEAD)
        self._target = np.minimum(np.maximum(target, self._lo), self._hi)
        ctrl = self.data.ctrl
        ctrl[0:3] = self._target
        ctrl[3] = ctrl[4] = (action[3] + 1.0) * 0.5 * FINGER_TRAVEL

    def _finger_gap(self, s: np.ndarray) -> float:
        """The gap between the pads (m) from the finger joint readings (here: closing travel)."""
        return 2 * FINGER_TRAVEL - s[6] - s[7]

    def _task_observe(self) -> np.ndarray:
        s, o = self.data.sensordata, self._obs
        o[0:6] = s[0:6]
        o[6] = self._finger_gap(s)
        o[7:10] = s[8:11]
        np.subtract(s[8:11], s[0:3], out=o[10:13])
        o[13:16] = s[11:14]
        o[16:19] = self._half
        o[19:23] = self._last_action
        return o

    def _task_evaluate(self) -> tuple[dict[str, float], bool, dict[str, Any]]:
        px, py, pz, _, _, _, _, _, ox, oy, oz, _, _, _, left, right = self.data.sensordata.tolist()
        lift = oz - self._half[2]
        grasped = left > 0 and right > 0
        self._held = self._held + 1 if lift >= LIFT_HEIGHT else 0
        success = self._held >= HOLD_STEPS
        a = self._last_action
        terms = {
            "reach": 1.0 - math.tanh(10.0 * math.sqrt((ox - px) ** 2 + (oy - py) ** 2 + (oz - pz) ** 2)),
            "grasp": 0.5 if grasped else 0.0,
            "lift": 2.0 * min(max(lift / LIFT_HEIGHT, 0.0), 1.0) if grasped else 0.0,
            "hold": 2.0 if success else 0.0,
            "action": -0.01 * float(a @ a),
        }
        off_table = abs(ox) > TABLE_HALF or abs(oy) > TABLE_HALF or oz < -0.05
        info = {"is_success": success, "grasped": grasped, "lift_height": lift, "dropped": off_table}
        return terms, off_table, info


def rebuild_targets(
    start: np.ndarray,
    measured: np.ndarray,
    applied: np.ndarray,
    max_step: float,
    max_lead: float,
    lo: np.ndarray,
    hi: np.ndarray,
) -> np.ndarray:
    """The Cartesian command before each step, (T + 1, 3) in m, as ``_task_command`` builds it: from ``start``, each
    applied displacement (action units x ``max_step`` m) added, kept within ``max_lead`` m of the ``measured``
    position and inside [``lo``, ``hi``]."""
    targets = np.empty((len(applied) + 1, 3))
    targets[0] = start
    for j in range(len(applied)):
        t = targets[j] + applied[j] * max_step
        t = np.minimum(np.maximum(t, measured[j] - max_lead), measured[j] + max_lead)
        targets[j + 1] = np.minimum(np.maximum(t, lo), hi)
    return targets


def smooth_positions(pos: np.ndarray, vel: np.ndarray, dt: float, half_window: int = 3) -> np.ndarray:
    """Each position as the mean of its +-``half_window`` neighbours moved to its time by the trapezoid
    integral of the velocities (m, m/s, s)."""
    disp = np.concatenate([np.zeros((1, pos.shape[1])), np.cumsum(0.5 * (vel[1:] + vel[:-1]) * dt, axis=0)])
    anchored = pos - disp
    n = len(pos)
    csum = np.concatenate([np.zeros((1, pos.shape[1])), np.cumsum(anchored, axis=0)])
    lo = np.clip(np.arange(n) - half_window, 0, n)
    hi = np.clip(np.arange(n) + half_window + 1, 0, n)
    return (csum[hi] - csum[lo]) / (hi - lo)[:, None] + disp
