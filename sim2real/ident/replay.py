"""Replay of logged segments under candidate parameters: the replay error every calibration minimises.

The simulator is set to a logged state (the task's ``restore`` hook), the logged actions are replayed through
the candidate's latency and deadzone for a short horizon, and the predicted observations are compared with the
logged ones. The *replay error* is the root mean square of that prediction error over the compared observation
entries, each divided by a fixed per-entry scale (so 1.0 means one scale unit, e.g. 1 cm or 0.1 m/s, of typical
error), with errors beyond :data:`HUBER` units counted linearly, so that a contact event the replay misses does
not dominate. :class:`Replay` runs one candidate at a time in Python; :mod:`sim2real.ident.rollout` runs many
at once with ``mujoco.rollout`` and must agree with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

import sim2real.envs  # noqa: F401  (registers the built-in tasks)
from sim2real.learn.logged import Logged
from sim2real.sim import tasks
from sim2real.sim.dynamics import Values
from sim2real.sim.perturb import delayed_deadzoned

HUBER = 3.0  # scale units: errors beyond are penalised linearly (a contact event the replay misses is one outlier)


class CalibrationError(ValueError):
    """A bad calibration request (parameter, budget, dataset); the message names the fix."""


def measured_values(env: gym.Env, logged: Logged) -> Values:
    """Parameters read directly off the observations (not searched), by the env's ``measured_from_logs`` hook
    (grasping: the box's size)."""
    hook = getattr(env, "measured_from_logs", None)
    return hook(logged.observations) if hook is not None else {}


@dataclass
class ReplayError:
    rms: float  # replay error (scale units)
    diverged: int  # segments that blew up (their remaining steps count as error 100 per entry)
    segments: np.ndarray | None = None  # each segment's mean squared error (the mean is rms^2)


class Replay:
    """Replays the logged episodes' short segments under candidate parameters.

    Args:
        logged: the checked dataset.
        horizon: control steps per segment.
        stride: control steps between segment starts (the whole log is covered when equal to ``horizon``).
        fixed: parameter values held fixed (measured ones).
    """

    def __init__(self, logged: Logged, horizon: int = 10, stride: int = 10, fixed: Values | None = None) -> None:
        if horizon < 1 or stride < 1:
            raise CalibrationError(f"horizon={horizon}, stride={stride}: both must be positive integers")
        self.task = logged.task
        self.env = replay_env(self.task)
        self.horizon = horizon
        self.fixed = dict(fixed or {})
        self.dims, scales = (list(x) for x in self.env.replay_compared)
        self.inv_scale = 1.0 / np.asarray(scales)
        self.obs = logged.observations
        self.actions = logged.actions
        self.starts = [list(range(0, max(len(a) - 1, 0), stride)) for a in self.actions]
        self.n_segments = sum(len(s) for s in self.starts)
        self.episode_of = np.repeat(np.arange(len(self.starts)), [len(s) for s in self.starts])  # per segment
        if self.n_segments == 0:
            raise CalibrationError("the dataset has no steps to replay")
        self.evaluations = 0

    def applied(self, actions: np.ndarray, latency: int, deadzone: float) -> np.ndarray:
        """What the actuators received (the action channel without its random noise)."""
        return delayed_deadzoned(actions, latency, deadzone, self.env.rest_action)

    def __call__(self, values: Values) -> ReplayError:
        """The replay error of ``values`` (parameters not named are nominal)."""
        self.evaluations += 1
        values = {**self.fixed, **values}
        env = self.env
        env.set_values({k: v for k, v in values.items() if k in env.params})
        latency = int(values.get("action_latency", 0))
        deadzone = float(values.get("actuator_deadzone", 0.0))
        errs, diverged = [], 0
        dims, inv = self.dims, self.inv_scale
        for obs, act, starts in zip(self.obs, self.actions, self.starts, strict=True):
            applied = self.applied(act, latency, deadzone)
            ctx = env.replay_context(obs, applied)
            for t in starts:
                env.restore(obs[t], ctx, t)
                end = min(t + self.horizon, len(act))
                se = 0.0
                for k in range(t, end):
                    pred = env.replay_step(applied[k], act[k])
                    if pred is None:
                        diverged += 1
                        se += 100.0 * len(dims) * (end - k)
                        break
                    e = np.abs((pred[dims] - obs[k + 1, dims]) * inv)
                    se += float(np.where(e <= HUBER, e * e, HUBER * (2 * e - HUBER)).sum())
                errs.append(se / ((end - t) * len(dims)))
        return ReplayError(float(math.sqrt(np.mean(errs))), diverged, np.asarray(errs))


def replay_env(task: str) -> Any:
    """The task's env with its replay hooks (``restore``, ``replay_context``, ``replay_step``), or a one-line
    refusal that says what the task lacks."""
    from sim2real.sim.task_check import CALIBRATION_HOOKS

    env = tasks.core(tasks.make(task))
    missing = [h for h in CALIBRATION_HOOKS if not hasattr(env, h)]
    if missing:
        raise CalibrationError(
            f"task {task} lacks the calibration hooks {', '.join(missing)}: calibrate replays logged actions from "
            "logged states; add them to its env class (signatures and shapes: docs/adding_a_robot.md, "
            "'Calibration hooks'; `sim2real task check " + task + "` lists what it has)"
        )
    return env


def envs_params(task: str) -> tuple[str, ...]:
    """The canonical parameters ``task`` accepts."""
    return tasks.core(tasks.make(task)).params
