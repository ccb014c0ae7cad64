"""Checks of a task spec against its env, run when a task that sim2real does not ship is first built in a
process (:func:`sim2real.sim.tasks.make`) and by ``sim2real task check <name>``: a user's robot fails at
registration, in one line, not at the first evaluation of a training run.

Refused (:class:`~sim2real.sim.tasks.TaskError`): ``success: true`` while the env's ``info`` lacks
``is_success``; observation or action layouts whose lengths differ from the spaces; an observation that is not
finite after a reset. Warned: no ``robot_bodies`` on a stock env (every body's mass is scaled, target markers
included); no layouts (export then names the inputs ``observation[i]``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# the optional hooks calibration uses (docs/adding_a_robot.md, "Calibration hooks"): name -> what it is
CALIBRATION_HOOKS = {
    "restore": "restore(obs (obs_dim,), context, t: int) -> None: set the simulator to the state obs describes",
    "replay_compared": "class attribute (observation indices, scales): what the replay error compares",
    "kinematic_residuals": "kinematic_residuals(obs (T+1, obs_dim)) -> (T, k) array: position change minus "
    "the integral of its velocity readings, per step (obs units)",
    "replay_context": "replay_context(obs (T+1, obs_dim), applied (T, act_dim)) -> Any (default: None)",
    "replay_step": "replay_step(applied (act_dim,), sent (act_dim,)) -> obs (obs_dim,) or None on a blow-up",
    "set_values": "set_values({param: value}) -> None: apply dynamics values outside reset",
}


@dataclass
class TaskReport:
    """What ``task check`` prints: the spaces, layouts, bodies the dynamics layer touches, hooks, warnings."""

    name: str
    obs_dim: int
    action_dim: int
    observation: list[tuple[str, str]]
    action: list[tuple[str, ...]]
    robot_bodies: list[str]
    params: tuple[str, ...]
    hooks: dict[str, bool]
    warnings: list[str] = field(default_factory=list)
    info_keys: list[str] = field(default_factory=list)


def _body_names(env: Any, ids: Any) -> list[str]:
    import mujoco

    model = env.unwrapped.model
    return [mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, int(i)) or f"body {int(i)}" for i in ids]


def inspect(name: str) -> TaskReport:
    """Build task ``name`` at its nominal dynamics, reset and step it once at the rest action, and check the
    spec against what the env does; a mismatch is a one-line TaskError naming the key to fix."""
    import gymnasium as gym

    from sim2real.sim import tasks

    spec = tasks.get(name)
    env = gym.make(spec.env_id)
    try:
        core = tasks.core(env)
        obs, _ = env.reset(seed=0)
        if not np.all(np.isfinite(obs)):
            raise tasks.TaskError(f"task '{name}': the observation after reset(seed=0) is not finite")
        action = np.asarray(getattr(core, "rest_action", np.zeros(env.action_space.shape)), dtype=np.float32)
        _, _, _, _, info = env.step(action)
        obs_dim, act_dim = int(np.prod(env.observation_space.shape)), int(np.prod(env.action_space.shape))
        if spec.success and "is_success" not in info:
            raise tasks.TaskError(
                f"task '{name}': the spec says success: true, but the env's info has no 'is_success' after a step "
                f"(keys: {', '.join(sorted(info)) or 'none'}); set success: false (compare then scores the "
                "normalised return) or report info['is_success']"
            )
        warnings = []
        for key, n, own in (("observation", obs_dim, spec.observation), ("action", act_dim, spec.action)):
            if own and len(own) != n:
                raise tasks.TaskError(
                    f"task '{name}': its {key} layout has {len(own)} entries, the env's {key} space {n}; "
                    f"give one {key} entry per dimension"
                )
            layout = list(getattr(core, f"{key}_layout"))
            if len(layout) != n:
                raise tasks.TaskError(
                    f"task '{name}': {type(core).__name__}.{key}_layout has {len(layout)} entries, the {key} space "
                    f"{n}; give one entry per dimension"
                )
            if all(entry[0] == f"{key}[{i}]" for i, entry in enumerate(layout)):
                warnings.append(
                    f"task '{name}' has no {key} layout: export will name its entries {key}[0..{n - 1}] with no "
                    f"units; add `{key}:` (name, unit{', scale' if key == 'action' else ''}) to its spec"
                )
        index = getattr(core, "index", None) or getattr(getattr(core, "dyn", None), "index", None)
        bodies = _body_names(env, index.robot_bodies) if index is not None else []
        if spec.stock is not None and not spec.robot_bodies:
            warnings.append(
                f"task '{name}' names no robot_bodies: mass_scale scales every body ({', '.join(bodies[:6])}"
                f"{', ...' if len(bodies) > 6 else ''}), target markers and objects included; list the robot's "
                "root bodies in robot_bodies"
            )
        hooks = {h: hasattr(core, h) for h in CALIBRATION_HOOKS}
        return TaskReport(
            name, obs_dim, act_dim, [tuple(x) for x in core.observation_layout], [tuple(x) for x in core.action_layout],
            bodies, tuple(getattr(core, "params", ())), hooks, warnings, sorted(info),
        )  # fmt: skip
    finally:
        env.close()


_CHECKED: set[str] = set()


def check_once(name: str) -> None:
    """:func:`inspect` task ``name`` once per process (warnings printed once, to stderr); packaged tasks are
    covered by the test suite and skipped."""
    from sim2real.sim import tasks

    if name in _CHECKED:
        return
    _CHECKED.add(name)  # before building: inspect's own gymnasium.make must not recurse here
    if tasks.packaged(name):
        return
    try:
        report = inspect(name)
    except Exception:
        _CHECKED.discard(name)
        raise
    for w in report.warnings:
        print(f"warning: {w}", file=sys.stderr)
