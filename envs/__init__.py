"""MuJoCo tasks for sim-to-real transfer, registered with Gymnasium on import.

- ``sim2real/Grasp-v0``: :class:`~sim2real.envs.grasp.GraspEnv`
- ``sim2real/Navigate-v0``: :class:`~sim2real.envs.navigate.NavigateEnv`

Both accept ``randomization=`` and ``dynamics=`` (see :mod:`sim2real.dynamics`).
"""

from gymnasium.envs.registration import register, registry
from sim2real.envs.grasp import GraspEnv
from sim2real.envs.navigate import NavigateEnv

TASKS = {"grasp": "sim2real/Grasp-v0", "navigate": "sim2real/Navigate-v0"}
MAX_EPISODE_STEPS = {"grasp": 100, "navigate": 200}

ENTRY_POINTS = {"grasp": "sim2real.envs.grasp:GraspEnv", "navigate": "sim2real.envs.navigate:NavigateEnv"}

for _task, _entry in ENTRY_POINTS.items():
    if TASKS[_task] not in registry:  # a string entry point keeps the spec serialisable (Minari stores it)
        register(id=TASKS[_task], entry_point=_entry, max_episode_steps=MAX_EPISODE_STEPS[_task])

__all__ = ["GraspEnv", "NavigateEnv", "TASKS", "MAX_EPISODE_STEPS"]
