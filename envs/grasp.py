"""``sim2real/Grasp-v0``: lift a box with a Cartesian parallel-jaw gripper."""

from __future__ import annotations

from typing import Any, ClassVar

import mujoco
import numpy as np

from sim2real.dynamics import PARAMS
from sim2real.envs.base import Sim2RealEnv
from sim2real.perturb import ModelIndex

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
    force-limited position servo. Control rate 25 Hz (20 physics steps of 2 ms).

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
    ``success`` = 10 on the step the lift is held; ``action`` = -0.01 |a|^2.

    **Episode end**: success (object bottom >= 0.10 m above the table for 5 consecutive steps,
    ``info["is_success"]``) terminates; the object leaving the table terminates (failure); a
    physics blow-up terminates (``info["physics_unstable"]``); 100 steps (4 s) truncate.

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
    params: ClassVar[tuple[str, ...]] = tuple(PARAMS)
    frame_skip: ClassVar[int] = 20
    rest_action: ClassVar[np.ndarray] = np.array([0.0, 0.0, 0.0, -1.0])

    def __init__(self, **kwargs: Any) -> None:
        self._target = np.zeros(3)
        self._held = 0
        super().__init__(**kwargs)

    def _task_setup(self) -> None:
        m = self.model
        self._pinch = m.site("pinch").id
        self._obj_body = m.body("object").id
        self._obj_geom = m.geom("object").id
        self._pad_left, self._pad_right = m.geom("pad_left").id, m.geom("pad_right").id
        xyz = [m.joint(j).id for j in ("x", "y", "z")]
        self._qadr_xyz = m.jnt_qposadr[xyz]
        self._vadr_xyz = m.jnt_dofadr[xyz]
        self._qadr_fingers = m.jnt_qposadr[[m.joint(j).id for j in ("finger_left", "finger_right")]]
        self._obj_qadr = m.jnt_qposadr[m.joint("object").id]
        self._obj_vadr = m.jnt_dofadr[m.joint("object").id]
        self._lo, self._hi = m.jnt_range[xyz, 0], m.jnt_range[xyz, 1]

    def _model_index(self) -> ModelIndex:
        return ModelIndex.from_model(
            self.model, robot_roots=("robot",), object_roots=("object",), friction_geoms=("pad_left", "pad_right")
        )

    # -- task --------------------------------------------------------------------------------
    def _task_reset(self, rng: np.random.Generator) -> None:
        d = self.data
        start = np.array([rng.uniform(-0.1, 0.1), rng.uniform(-0.1, 0.1), rng.uniform(-0.08, 0.0)])
        d.qpos[self._qadr_xyz] = start
        d.ctrl[:3] = start
        self._target = start.copy()
        half = self.model.geom_size[self._obj_geom]
        yaw = rng.uniform(-0.4, 0.4)
        d.qpos[self._obj_qadr : self._obj_qadr + 7] = [
            rng.uniform(-0.1, 0.1),
            rng.uniform(-0.1, 0.1),
            half[2] + 1e-4,
            np.cos(yaw / 2),
            0.0,
            0.0,
            np.sin(yaw / 2),
        ]
        self._held = 0

    def _task_command(self, action: np.ndarray) -> None:
        joints = self.data.qpos[self._qadr_xyz]
        target = self._target + action[:3] * MAX_STEP
        target = np.clip(target, joints - MAX_LEAD, joints + MAX_LEAD)
        self._target = np.clip(target, self._lo, self._hi)
        self.data.ctrl[:3] = self._target
        self.data.ctrl[3:5] = (action[3] + 1.0) * 0.5 * FINGER_TRAVEL

    def _task_observe(self) -> np.ndarray:
        d = self.data
        pinch = d.site_xpos[self._pinch]
        obj = d.xpos[self._obj_body]
        gap = 2 * FINGER_TRAVEL - d.qpos[self._qadr_fingers].sum()
        obj_vel = d.qvel[self._obj_vadr : self._obj_vadr + 3]
        half = self.model.geom_size[self._obj_geom]
        return np.concatenate(
            [pinch, d.qvel[self._vadr_xyz], [gap], obj, obj - pinch, obj_vel, half, self._last_action]
        )

    def _contacts(self) -> tuple[bool, bool]:
        """Whether the left and right pads touch the object."""
        d = self.data
        n = d.ncon
        if n == 0:
            return False, False
        g = d.contact.geom[:n]
        with_obj = (g[:, 0] == self._obj_geom) | (g[:, 1] == self._obj_geom)
        others = np.where(g[:, 0] == self._obj_geom, g[:, 1], g[:, 0])[with_obj]
        return bool(np.any(others == self._pad_left)), bool(np.any(others == self._pad_right))

    def _task_evaluate(self) -> tuple[dict[str, float], bool, dict[str, Any]]:
        d = self.data
        pinch = d.site_xpos[self._pinch]
        obj = d.xpos[self._obj_body]
        half_z = self.model.geom_size[self._obj_geom, 2]
        lift = obj[2] - half_z
        left, right = self._contacts()
        grasped = left and right
        self._held = self._held + 1 if lift >= LIFT_HEIGHT else 0
        success = self._held >= HOLD_STEPS
        terms = {
            "reach": 1.0 - float(np.tanh(10.0 * np.linalg.norm(obj - pinch))),
            "grasp": 0.5 if grasped else 0.0,
            "lift": 2.0 * float(np.clip(lift / LIFT_HEIGHT, 0.0, 1.0)) if grasped else 0.0,
            "success": 10.0 if success else 0.0,
            "action": -0.01 * float(np.dot(self._last_action, self._last_action)),
        }
        off_table = bool(np.any(np.abs(obj[:2]) > TABLE_HALF) or obj[2] < -0.05)
        info = {"is_success": success, "grasped": grasped, "lift_height": float(lift), "dropped": off_table}
        return terms, success or off_table, info
