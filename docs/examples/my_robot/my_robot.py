"""A complete small robot for sim2real: a cart on a rail that must reach x = 0.5 m.

The env subclasses :class:`sim2real.envs.base.Sim2RealEnv`; its MJCF (``slider.xml``) lies beside this module
(``asset``). ``spec()`` is what an entry point in the ``sim2real.tasks`` group returns::

    [project.entry-points."sim2real.tasks"]
    slider = "my_robot:spec"

The calibration hooks at the end are optional: without them every command but ``calibrate`` works, and
``calibrate`` names what is missing. The test suite runs this file through every command
(``tests/test_way_in.py``).
"""

from typing import Any

import numpy as np
from sim2real.envs.base import Sim2RealEnv

from sim2real.sim.perturb import ModelIndex


class SliderEnv(Sim2RealEnv):
    task = "slider"
    asset = "slider.xml"  # beside this module (an absolute path works too)
    params = ("mass_scale", "damping_scale", "actuator_gain_scale", "action_latency", "obs_noise_std")
    frame_skip = 5  # 5 x 10 ms: a 20 Hz controller
    rest_action = np.zeros(1)  # the safe action: no force
    observation_layout = (("x", "m"), ("x_vel", "m/s"))
    action_layout = (("push", "N", 5.0),)  # (name, unit, newtons per unit action)

    def _model_index(self) -> ModelIndex:
        return ModelIndex.from_model(self.model, ("cart",))  # the robot: the cart, not the goal marker

    def _task_reset(self, rng: np.random.Generator) -> None:
        self.data.qpos[0] = rng.uniform(-0.2, 0.2)  # m

    def _task_command(self, action: np.ndarray) -> None:
        self.data.ctrl[0] = action[0]

    def _task_observe(self) -> np.ndarray:
        return np.array([self.data.qpos[0], self.data.qvel[0]])

    def _task_evaluate(self) -> tuple[dict[str, float], bool, dict[str, Any]]:
        dist = abs(0.5 - self.data.qpos[0])  # m
        return {"distance": -dist}, False, {"is_success": dist < 0.05}

    # -- optional: the calibration hooks (docs/adding_a_robot.md, "Calibration hooks") --------------------------
    replay_compared = ((0, 1), (0.05, 0.2))  # observation indices a replay is scored on, and their scales

    def restore(self, obs: np.ndarray, context: Any, t: int) -> None:
        """Set the simulator to the state the logged observation ``obs`` (obs_dim,) describes."""
        self.data.qpos[0], self.data.qvel[0] = obs[0], obs[1]

    def kinematic_residuals(self, obs: np.ndarray) -> np.ndarray:
        """(T, 1): each step's position change minus the mean of its two velocity readings x dt (m)."""
        return (np.diff(obs[:, 0]) - 0.5 * (obs[1:, 1] + obs[:-1, 1]) * self.dt)[:, None]


def spec() -> dict[str, Any]:
    """The task spec (the keys of a task YAML)."""
    return {
        "name": "slider",
        "env_id": "user/Slider-v0",
        "entry_point": "my_robot:SliderEnv",
        "max_episode_steps": 40,
        "randomization": {"default": {"mass_scale": [0.8, 1.25]}},
        "targets": {"real": {"mass_scale": 1.3, "action_latency": 1}},
        "calibrate_params": ["mass_scale", "damping_scale"],
    }
