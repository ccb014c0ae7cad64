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

for _task, _cls in (("grasp", GraspEnv), ("navigate", NavigateEnv)):
    if TASKS[_task] not in registry:
        register(id=TASKS[_task], entry_point=_cls, max_episode_steps=MAX_EPISODE_STEPS[_task])

__all__ = ["GraspEnv", "NavigateEnv", "TASKS", "MAX_EPISODE_STEPS"]
