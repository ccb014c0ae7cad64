"""Navigation's wheel contact: ``-v1`` makes ``friction_scale`` act below 1 and is isotropic in the world frame;
``-v0`` keeps both artefacts (its published figures depend on them)."""

import math

import mujoco
import numpy as np
import pytest
import sim2real.envs  # noqa: F401

from sim2real.sim import tasks

# full-torque steps forward, a reversal with a turn, turning in place: slip in every direction
COMMANDS = [np.array(a) for a in [[1.0, 0.0]] * 8 + [[-1.0, 0.8]] * 8 + [[0.0, -1.0]] * 8]


def trace(task: str, friction: float, heading: float) -> np.ndarray:
    """Forward speed, lateral speed and yaw rate (robot frame) under COMMANDS, from rest at ``heading`` (rad)."""
    env = tasks.core(tasks.make(task))
    env.reset(seed=0)
    env.set_values({"friction_scale": friction})
    start = np.zeros(env.observation_space.shape)
    start[0] = 1.0  # the goal 1 m ahead
    env._place(start, heading)
    mujoco.mj_forward(env.model, env.data)
    return np.array([env.replay_step(a, a)[3:6] for a in COMMANDS])


def test_v1_wheel_friction_below_one_acts_and_v0_ignores_it():
    assert np.array_equal(trace("navigate", 0.3, 0.0), trace("navigate", 1.0, 0.0))  # v0: inert below 1
    slick, grippy = trace("navigate_v1", 0.3, 0.0), trace("navigate_v1", 1.0, 0.0)
    assert np.abs(slick - grippy).max() > 0.05
    # traction-limited: the slick floor accelerates the base more slowly in the first full-torque step and
    # reverses it more slowly (0.24 against 0.32 m/s; -0.09 against -0.38 m/s)
    assert slick[0, 0] < grippy[0, 0] - 0.05 and slick[10, 0] > grippy[10, 0] + 0.2


@pytest.mark.parametrize("friction", [1.0, 0.45])
def test_v1_is_isotropic_and_v0_depends_on_the_world_heading(friction):
    v1 = np.abs(trace("navigate_v1", friction, 0.0) - trace("navigate_v1", friction, math.pi / 4)).max()
    v0 = np.abs(trace("navigate", friction, 0.0) - trace("navigate", friction, math.pi / 4)).max()
    assert v1 < 1e-6 and v0 > 0.01, (v1, v0)


def test_v1_extends_navigate_and_keeps_its_own_name():
    v0, v1 = tasks.get("navigate"), tasks.get("navigate_v1")
    assert v1.env_id == "sim2real/Navigate-v1" and dict(v1.kwargs) == {"faithful_contact": True, "task": "navigate_v1"}
    assert v1.targets == v0.targets and v1.excite == v0.excite and v1.randomization == v0.randomization
    env = tasks.core(tasks.make("navigate_v1", dynamics="slippery"))
    assert env.task == "navigate_v1" and env.profile["friction_scale"] == 0.3
    assert env.model.opt.cone == mujoco.mjtCone.mjCONE_ELLIPTIC
