"""MuJoCo tasks for sim-to-real transfer, registered with Gymnasium on import through the task registry
(:mod:`sim2real.sim.tasks`, from the packaged ``configs/task/*.yaml``).

- ``sim2real/Grasp-v0``: :class:`~sim2real.envs.grasp.GraspEnv`
- ``sim2real/Navigate-v0``: :class:`~sim2real.envs.navigate.NavigateEnv`
- ``sim2real/Hopper-v5``, ``sim2real/Pusher-v5``: the stock Gymnasium envs in ``DynamicsWrapper``

All accept ``randomization=`` and ``dynamics=`` (see :mod:`sim2real.sim.dynamics`).
"""

from sim2real.envs.grasp import GraspEnv
from sim2real.envs.navigate import NavigateEnv

from sim2real.sim import tasks as _tasks

_tasks.load_builtin()

__all__ = ["GraspEnv", "NavigateEnv"]
