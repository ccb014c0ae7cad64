"""Batched replay: many candidates' segments in one ``mujoco.rollout`` call, across threads outside the GIL.

Each batch row is one (candidate, segment) pair with its own ``MjModel`` (the candidate's masses, gains,
damping and friction applied to a copy) and its own initial state (the segment's logged state, restored under
that model). Latency and deadzone are transformations of the control arrays
(:func:`sim2real.sim.perturb.delayed_deadzoned`). The observations compared come from the rollout's states and
sensor data through the task's vectorised hooks:

- ``replay_controls(applied (T, act_dim)) -> (T, nu)``: the actuator controls ``_task_command`` would write for
  each applied action, in one array (an open-loop map: a task whose command depends on the state, such as an
  inner IK loop, defines the step-by-step hooks of :mod:`sim2real.ident.stepwise` instead, or replays in Python,
  :class:`~sim2real.ident.replay.Replay`);
- ``replay_snapshot() -> (k,)`` (optional): what the observation needs beyond the physics state, read after
  ``restore`` (navigation: the goal);
- ``replay_observe(state (N, nstate), sensordata (N, nsensordata), snapshot (N, k)) -> (N, obs_dim)``: the true
  observations at the end of control steps (the compared entries at least; the others may be NaN). ``state`` is
  ``mjSTATE_FULLPHYSICS`` after the step, ``sensordata`` as computed during the step's last physics step.

Stock Gymnasium MuJoCo envs get all three from :class:`~sim2real.sim.wrappers.DynamicsWrapper`. A blow-up
(``abs(qvel) >= MAX_QVEL``, a non-finite state, or MuJoCo's automatic reset after a bad acceleration, seen as the
time jumping back) ends a row's segment as :class:`Replay` ends it.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import mujoco
import numpy as np
from mujoco import rollout as mj_rollout

from sim2real.ident import stepwise
from sim2real.ident.replay import Replay, ReplayError
from sim2real.ident.stepwise import STEP_HOOKS
from sim2real.learn.logged import Logged
from sim2real.sim.dynamics import Values
from sim2real.sim.perturb import MAX_QVEL

BATCH_HOOKS = ("replay_controls", "replay_observe")
ROWS = 256  # rows per rollout call: bounds the state and sensor arrays (rows x horizon x frame_skip values each)
_FULL = mujoco.mjtState.mjSTATE_FULLPHYSICS
_CONTROL = mujoco.mjtState.mjSTATE_CTRL | mujoco.mjtState.mjSTATE_MOCAP_POS | mujoco.mjtState.mjSTATE_MOCAP_QUAT
_SENSOR_OFF = int(mujoco.mjtDisableBit.mjDSBL_SENSOR)


def physics(env: Any) -> tuple[mujoco.MjModel, mujoco.MjData]:
    """The ``MjModel`` and ``MjData`` a task env (or a stock env's wrapper) steps."""
    u = getattr(env, "unwrapped", env)
    return u.model, u.data


def default_threads() -> int:
    """The machine's cores (``calibrate.threads`` defaults to it)."""
    return max(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1, 1)


class BatchedReplay(Replay):
    """:class:`Replay` whose :meth:`batch` runs every candidate's segments in batched ``mujoco.rollout`` calls on
    ``threads`` threads (a task without the :data:`BATCH_HOOKS` replays in Python, one candidate at a time).

    Args:
        threads: rollout threads (default: the machine's cores).
        others: see :class:`Replay`.
    """

    def __init__(
        self,
        logged: Logged,
        horizon: int = 10,
        stride: int = 10,
        fixed: Values | None = None,
        threads: int | None = None,
    ) -> None:
        super().__init__(logged, horizon, stride, fixed)
        self.logged = logged
        self.threads = int(threads or default_threads())
        self.batched = all(hasattr(self.env, h) for h in BATCH_HOOKS)
        # a command that depends on the state (an inner control loop): every row stepped a control step at a time
        self.stepwise = not self.batched and all(hasattr(self.env, h) for h in STEP_HOOKS)
        self._pool: ThreadPoolExecutor | None = None
        model, _ = physics(self.env)
        self.frame_skip = int(self.env.frame_skip)
        self._datas = [mujoco.MjData(model) for _ in range(self.threads)]
        self._nstate = mujoco.mj_stateSize(model, _FULL)

    def thinned(self, every: int) -> BatchedReplay:
        """A replay of every ``every``-th episode (the first, the ``every + 1``-th, ...), with the same horizon,
        stride, fixed values and threads: a coarse search's cheaper objective."""
        sub = self.logged.subset(range(0, self.logged.episodes, every))
        return BatchedReplay(sub, self.horizon, self.stride, self.fixed, threads=self.threads)

    def batch(self, candidates: list[Values]) -> list[ReplayError]:
        if not (self.batched or self.stepwise):
            return super().batch(candidates)
        self.evaluations += len(candidates)
        self.steps += len(candidates) * int(self.lengths.sum())
        if self.stepwise:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="replay")
            preds = stepwise.predict(self, candidates, self._pool)
        else:
            preds = self._run([r for v in candidates for r in self._rows(v)])
        s = self.n_segments
        return [self.score(preds[i * s : (i + 1) * s]) for i in range(len(candidates))]

    def _rows(self, values: Values) -> list[tuple]:
        """(model, initial state, warm start, controls (horizon, ncontrol), snapshot) of each segment."""
        values = self.merged(values)
        env = self.env
        env.set_values({k: v for k, v in values.items() if k in env.params})
        frozen = self._frozen()
        latency = int(values.get("action_latency", 0))
        deadzone = float(values.get("actuator_deadzone", 0.0))
        out = []
        for obs, act, starts in zip(self.obs, self.actions, self.starts, strict=True):
            applied = self.applied(act, latency, deadzone)
            ctrl = np.asarray(env.replay_controls(applied), dtype=np.float64)
            ctx = env.replay_context(obs, applied)
            for t in starts:
                env.restore(obs[t], ctx, t)
                out.append(self._row(frozen, ctrl[t : t + self.horizon], self.horizon))
        return out

    def _frozen(self) -> mujoco.MjModel:
        """A copy of the env's model at its current values (rows keep it while the env moves on), sensors off:
        they are computed once per control step, by :meth:`_sense`."""
        frozen = copy.copy(physics(self.env)[0])
        frozen.opt.disableflags |= _SENSOR_OFF
        return frozen

    def _row(self, frozen: mujoco.MjModel, ctrl: np.ndarray, h: int) -> tuple:
        """One batch row from the env's current state: (model, state, warm start, controls (h, ncontrol),
        snapshot), the actuator controls ``ctrl`` (n <= h, nu) held at their last value past their end (not
        scored) and the mocap bodies where the state has them."""
        model, data = physics(self.env)
        state = np.empty(self._nstate)
        mujoco.mj_getState(model, data, state, _FULL)
        seg = np.concatenate([ctrl, np.broadcast_to(ctrl[-1], (h - len(ctrl), ctrl.shape[1]))])
        mocap = np.concatenate([data.mocap_pos.ravel(), data.mocap_quat.ravel()])
        controls = np.concatenate([seg, np.broadcast_to(mocap, (h, len(mocap)))], axis=1)
        snap = getattr(self.env, "replay_snapshot", None)
        return frozen, state, data.qacc_warmstart.copy(), controls, snap() if snap else np.zeros(0)

    def _run(self, rows: list[tuple]) -> np.ndarray:
        """Predicted compared observations (rows, horizon, entries), inf from a blow-up on."""
        h = self.horizon
        out = np.empty((len(rows), h, len(self.dims)))
        for a, obs, first in self._simulate(rows, h):
            pred = obs[:, :, self.dims]
            pred[np.arange(h)[None, :] >= first[:, None]] = np.inf
            out[a : a + len(obs)] = pred
        return out

    def _simulate(self, rows: list[tuple], h: int) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """Each chunk of ``rows`` (model, initial state, warm start, controls (h, ncontrol), snapshot) rolled out
        ``h`` control steps: its first row's index, the true observations (chunk, h, obs_dim) as
        ``replay_observe`` gives them, and each row's first blown-up control step (h: none)."""
        f = self.frame_skip
        ends = np.arange(h) * f + f - 1  # the last physics step of each control step
        model0, _ = physics(self.env)
        nq, nv = model0.nq, model0.nv
        dt = model0.opt.timestep
        for a in range(0, len(rows), ROWS):
            chunk = rows[a : a + ROWS]
            models = [r[0] for r in chunk]
            init = np.stack([r[1] for r in chunk])
            warm = np.stack([r[2] for r in chunk])
            control = np.repeat(np.stack([r[3] for r in chunk]), f, axis=1)
            state, _ = mj_rollout.rollout(
                models, self._datas, init, control, control_spec=_CONTROL, initial_warmstart=warm, nstep=h * f
            )
            st = state[:, ends]
            pre = state[:, ends - 1] if f > 1 else np.concatenate([init[:, None], state[:, ends[:-1]]], axis=1)
            se = self._sense(chunk, pre, control[:, ends])
            snaps = np.repeat(np.stack([r[4] for r in chunk]), h, axis=0).reshape(len(chunk) * h, -1)
            n = len(chunk) * h
            obs = np.asarray(
                self.env.replay_observe(st.reshape(n, st.shape[-1]), se.reshape(n, se.shape[-1]), snaps),
                dtype=np.float64,
            )
            qvel = st[:, :, 1 + nq : 1 + nq + nv]
            expected = init[:, None, 0] + (ends + 1)[None, :] * dt  # mjSTATE_TIME comes first
            bad = (
                ~np.isfinite(st).all(axis=2)
                | (np.abs(np.nan_to_num(qvel, nan=np.inf)) >= MAX_QVEL).any(axis=2)
                | (st[:, :, 0] < expected - 0.5 * dt)  # MuJoCo reset the data after a bad acceleration
            )
            yield a, obs.reshape(len(chunk), h, -1), np.where(bad.any(axis=1), bad.argmax(axis=1), h)

    def simulate(self, starts: list[Callable[[], None]], applied: list[np.ndarray]) -> list[np.ndarray]:
        """Whole episodes at the env's current values, batched: episode i starts where ``starts[i]()`` leaves the
        env and runs its applied actions ``applied[i]`` (T_i, act_dim). Returns each episode's true observations
        (n_i, obs_dim) after each control step, ended before a blow-up (n_i <= T_i); the entries
        ``replay_observe`` leaves NaN stay NaN. Only for a task with the open-loop hooks (``batched``)."""
        frozen = self._frozen()
        h = max(len(a) for a in applied)
        rows = []
        for start, app in zip(starts, applied, strict=True):
            start()
            rows.append(self._row(frozen, np.asarray(self.env.replay_controls(app), dtype=np.float64), h))
        out: list[np.ndarray] = []
        for _, obs, first in self._simulate(rows, h):
            for o, n in zip(obs, first, strict=True):
                k = min(int(n), len(applied[len(out)]))
                self.steps += k + (k < len(applied[len(out)]))  # a blown-up step was attempted, as in Python
                out.append(o[:k])
        return out

    def _sense(self, chunk: list[tuple], pre: np.ndarray, control: np.ndarray) -> np.ndarray:
        """Sensor data (rows, horizon, nsensordata) as the last physics step of each control step computes it:
        one batched physics step, sensors on, from the state before that step integrates (``pre``). The main
        rollout runs with sensors off: a task's rangefinders would otherwise be cast on every physics step.
        Position and velocity sensors come out exactly; acceleration-stage ones lack the warm start."""
        model0, _ = physics(self.env)
        if not model0.nsensordata:
            return np.zeros((*pre.shape[:2], 0))
        models = {id(r[0]): r[0] for r in chunk}
        for m in models.values():
            m.opt.disableflags &= ~_SENSOR_OFF
        try:
            h = pre.shape[1]
            _, sensor = mj_rollout.rollout(
                [r[0] for r in chunk for _ in range(h)],
                self._datas,
                pre.reshape(-1, pre.shape[-1]),
                control.reshape(-1, 1, control.shape[-1]),
                control_spec=_CONTROL,
                nstep=1,
            )
        finally:
            for m in models.values():
                m.opt.disableflags |= _SENSOR_OFF
        return sensor[:, 0].reshape(*pre.shape[:2], -1)
