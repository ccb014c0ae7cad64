"""Batched replay for tasks whose actuator commands depend on the state (an inner control loop: grasp's Cartesian
servo, the Panda's inverse kinematics): every row is stepped one control step at a time, all rows together.

Each row is one (candidate, segment) pair with its own ``MjData`` under the candidate's ``MjModel`` copy, started
from the state the task's ``restore`` leaves (contacts and solver warm start included, so the physics is the
Python replay's bit for bit). At each control step the task's vectorised command hook writes every live row's
controls, then the rows' ``frame_skip`` physics steps run on ``threads`` threads (``mj_step`` releases the GIL);
a blow-up (:class:`~sim2real.sim.perturb.BlowUpGuard`: |qvel| or MuJoCo's bad-acceleration reset) ends a row as
:class:`~sim2real.ident.replay.Replay` ends it. The task's hooks:

- ``replay_carry() -> (k,)``: the controller's own state after ``restore`` (grasp, Panda: the commanded position);
- ``replay_command(datas, carry (N, k), applied (N, act_dim)) -> (N, k)``: write each ``datas[i].ctrl`` as
  ``_task_command`` would from ``datas[i]``'s state, return the new carry;
- ``replay_observe(state (N, nstate), sensordata (N, nsensordata), snapshot (N, s))``: as for the open-loop batch
  (:mod:`sim2real.ident.rollout`), with ``replay_snapshot`` optional.

The Panda's command is one damped-least-squares IK step per row (``mj_jacSite`` and a 6x6 Cholesky in C, about
20 us); the physics behind it, 40 MuJoCo steps with contacts, costs about 2.7 ms, so the command is not worth
vectorising further.
"""

from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import mujoco
import numpy as np

from sim2real.sim.dynamics import Values
from sim2real.sim.perturb import BlowUpGuard

STEP_HOOKS = ("replay_carry", "replay_command", "replay_observe")
ROWS = 128  # rows built and stepped together (each holds an MjData)
_FULL = mujoco.mjtState.mjSTATE_FULLPHYSICS


class _Row:
    __slots__ = ("model", "data", "guard", "carry", "applied", "snapshot")

    def __init__(self, model: mujoco.MjModel, data: mujoco.MjData, carry: np.ndarray, applied: np.ndarray,
                 snapshot: np.ndarray) -> None:  # fmt: skip
        self.model, self.data, self.carry, self.applied, self.snapshot = model, data, carry, applied, snapshot
        self.guard = BlowUpGuard()
        self.guard.arm(data)


def predict(replay: Any, candidates: list[Values], pool: ThreadPoolExecutor) -> np.ndarray:
    """Predicted compared observations (candidates x segments, horizon, entries) of ``replay``
    (a :class:`~sim2real.ident.rollout.BatchedReplay`): NaN past a segment's end, inf from a blow-up on."""
    env, h = replay.env, replay.horizon
    out = np.full((len(candidates) * replay.n_segments, h, len(replay.dims)), np.nan)
    snap = getattr(env, "replay_snapshot", None)
    i = 0
    for values in candidates:
        values = replay.merged(values)
        env.set_values({k: v for k, v in values.items() if k in env.params})
        u = getattr(env, "unwrapped", env)
        frozen = copy.copy(u.model)  # the candidate's model: rows keep it while the env moves on
        latency = int(values.get("action_latency", 0))
        deadzone = float(values.get("actuator_deadzone", 0.0))
        rows: list[_Row] = []
        for obs, act, starts in zip(replay.obs, replay.actions, replay.starts, strict=True):
            applied = replay.applied(act, latency, deadzone)
            ctx = env.replay_context(obs, applied)
            for t in starts:
                env.restore(obs[t], ctx, t)
                d = mujoco.MjData(frozen)
                mujoco.mj_copyData(d, frozen, u.data)
                n = min(t + h, len(act)) - t
                carry = np.asarray(env.replay_carry(), dtype=np.float64)
                rows.append(_Row(frozen, d, carry, applied[t : t + n], snap() if snap else np.zeros(0)))
                if len(rows) == ROWS:
                    out[i : i + len(rows)] = _step(env, rows, h, replay.dims, pool)
                    i, rows = i + len(rows), []
        if rows:
            out[i : i + len(rows)] = _step(env, rows, h, replay.dims, pool)
            i += len(rows)
    return out


def _step(env: Any, rows: list[_Row], horizon: int, dims: list[int], pool: ThreadPoolExecutor) -> np.ndarray:
    """Step ``rows`` through their segments together; (rows, horizon, entries) as :func:`predict` returns."""
    out = np.full((len(rows), horizon, len(dims)), np.nan)
    dead = np.zeros(len(rows), dtype=bool)
    skip = int(env.frame_skip)
    nstate = mujoco.mj_stateSize(getattr(env, "unwrapped", env).model, _FULL)

    def physics(r: _Row) -> None:
        mujoco.mj_step(r.model, r.data, nstep=skip)

    for k in range(horizon):
        live = [j for j, r in enumerate(rows) if k < len(r.applied) and not dead[j]]
        if not live:
            break
        carry = np.stack([rows[j].carry for j in live])
        applied = np.stack([rows[j].applied[k] for j in live])
        new = np.asarray(env.replay_command([rows[j].data for j in live], carry, applied), dtype=np.float64)
        for j, c in zip(live, new, strict=True):
            rows[j].carry = c
        list(pool.map(physics, [rows[j] for j in live]))
        ok = []
        for j in live:
            if rows[j].guard(rows[j].data):
                dead[j] = True
                out[j, k:] = np.inf
            else:
                ok.append(j)
        if not ok:
            continue
        states = np.empty((len(ok), nstate))
        for n, j in enumerate(ok):
            mujoco.mj_getState(rows[j].model, rows[j].data, states[n], _FULL)
        sensors = np.stack([rows[j].data.sensordata for j in ok])
        snaps = np.stack([rows[j].snapshot for j in ok])
        obs = np.asarray(env.replay_observe(states, sensors, snaps), dtype=np.float64)
        out[ok, k] = obs[:, dims]
    return out
