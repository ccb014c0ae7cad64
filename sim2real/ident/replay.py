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
    residuals: np.ndarray | None = None  # the least-squares residuals: their sum of squares is rms^2


DIVERGED = 100.0  # squared error (scale units) of each entry a segment does not reach after a blow-up


class Replay:
    """Replays the logged episodes' short segments under candidate parameters, one candidate at a time.

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
        self.horizon, self.stride = horizon, stride
        self.fixed = dict(fixed or {})
        self.dims, scales = (list(x) for x in self.env.replay_compared)
        self.inv_scale = 1.0 / np.asarray(scales, dtype=np.float64)
        self.obs = logged.observations
        self.actions = logged.actions
        self.starts = [list(range(0, max(len(a) - 1, 0), stride)) for a in self.actions]
        self.n_segments = sum(len(s) for s in self.starts)
        self.episode_of = np.repeat(np.arange(len(self.starts)), [len(s) for s in self.starts])  # per segment
        if self.n_segments == 0:
            raise CalibrationError("the dataset has no steps to replay")
        # each segment's (episode, start, length) and its logged targets (segments, horizon, compared entries)
        self.segment = [
            (e, t, min(t + horizon, len(self.actions[e])) - t) for e, st in enumerate(self.starts) for t in st
        ]
        self.lengths = np.array([n for _, _, n in self.segment])
        self.targets = np.zeros((self.n_segments, horizon, len(self.dims)))
        for i, (e, t, n) in enumerate(self.segment):
            self.targets[i, :n] = self.obs[e][t + 1 : t + 1 + n][:, self.dims]
        self.segment_of = np.repeat(np.arange(self.n_segments), self.lengths * len(self.dims))  # per residual
        self.evaluations = 0
        self.steps = 0  # control steps replayed (MuJoCo steps: x the task's frame_skip)

    def applied(self, actions: np.ndarray, latency: int, deadzone: float) -> np.ndarray:
        """What the actuators received (the action channel without its random noise)."""
        return delayed_deadzoned(actions, latency, deadzone, self.env.rest_action)

    def merged(self, values: Values) -> Values:
        """``values`` over the fixed (measured) ones."""
        return {**self.fixed, **values}

    def score(self, pred: np.ndarray) -> ReplayError:
        """The replay error of predicted observations ``pred`` (segments, horizon, compared entries): NaN past a
        segment's end, inf from a blow-up on."""
        e = np.abs(pred - self.targets) * self.inv_scale
        valid = np.arange(self.horizon)[None, :] < self.lengths[:, None]
        blown = valid[..., None] & ~np.isfinite(e)
        e = np.where(valid[..., None] & ~blown, e, 0.0)
        rho = np.where(e <= HUBER, e * e, HUBER * (2 * e - HUBER))
        rho = np.where(blown, DIVERGED, rho)
        norm = self.lengths * len(self.dims)
        segments = rho.sum(axis=(1, 2)) / norm
        weight = 1.0 / np.sqrt(norm * self.n_segments)[:, None, None]
        residuals = (np.sqrt(rho) * np.where(blown, 1.0, np.sign(pred - self.targets + 0.0)) * weight)[
            np.broadcast_to(valid[..., None], rho.shape)
        ]
        diverged = int(blown.any(axis=(1, 2)).sum())
        return ReplayError(float(math.sqrt(segments.mean())), diverged, segments, np.nan_to_num(residuals))

    def predict(self, values: Values) -> np.ndarray:
        """Predicted compared observations (segments, horizon, entries) under ``values``, in Python."""
        values = self.merged(values)
        env = self.env
        env.set_values({k: v for k, v in values.items() if k in env.params})
        latency = int(values.get("action_latency", 0))
        deadzone = float(values.get("actuator_deadzone", 0.0))
        out = np.full((self.n_segments, self.horizon, len(self.dims)), np.nan)
        i = 0
        for obs, act, starts in zip(self.obs, self.actions, self.starts, strict=True):
            applied = self.applied(act, latency, deadzone)
            ctx = env.replay_context(obs, applied)
            for t in starts:
                env.restore(obs[t], ctx, t)
                for j, k in enumerate(range(t, min(t + self.horizon, len(act)))):
                    self.steps += 1
                    p = env.replay_step(applied[k], act[k])
                    if p is None:
                        out[i, j:] = np.inf
                        break
                    out[i, j] = p[self.dims]
                i += 1
        return out

    def __call__(self, values: Values) -> ReplayError:
        """The replay error of ``values`` (parameters not named are nominal)."""
        return self.batch([values])[0]

    def batch(self, candidates: list[Values]) -> list[ReplayError]:
        """The replay errors of many candidates (here one after another; :class:`~sim2real.ident.rollout.
        BatchedReplay` runs them at once)."""
        self.evaluations += len(candidates)
        return [self.score(self.predict(v)) for v in candidates]


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
