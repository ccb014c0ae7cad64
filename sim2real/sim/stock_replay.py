"""Calibration hooks for stock Gymnasium MuJoCo envs: a user's stock env is calibratable without writing any.

They apply where the observation follows Gymnasium's MuJoCo convention, ``qpos[skip:]`` then ``qvel`` (Hopper,
Walker2d, HalfCheetah, Swimmer, Reacher-like layouts without quaternions: ``nq == nv``), ``skip`` being the
leading positions the observation leaves out (the x position of a runner). A logged reading then carries the
whole state but those positions, which a replay puts at zero (translation-invariant robots do not care; a
robot whose dynamics depend on them needs its own ``restore``). Positions are compared at 1 cm (or 0.01 rad)
and velocities at 0.1 m/s (or 0.1 rad/s); the observation's velocity clip (Hopper: +-10) is applied to the
replay as to the logs. Other layouts (a free joint, sensors in the observation) need the hooks written by hand:
``docs/adding_a_robot.md``, "Calibration hooks".
"""

from __future__ import annotations

from typing import Any, ClassVar

import mujoco
import numpy as np

from sim2real.sim.wrappers import DynamicsWrapper

POSITION_SCALE = 0.01  # m or rad: a compared position entry's unit of replay error
VELOCITY_SCALE = 0.1  # m/s or rad/s
_FULL = mujoco.mjtState.mjSTATE_FULLPHYSICS


def gymnasium_layout(env: Any) -> int | None:
    """``skip`` when ``env``'s observation is ``qpos[skip:]`` then ``qvel`` (checked on a reset state), else None."""
    u = env.unwrapped
    m = u.model
    dim = int(np.prod(env.observation_space.shape))
    skip = m.nq + m.nv - dim
    if m.nq != m.nv or not 0 <= skip <= m.nq or not hasattr(u, "_get_obs"):
        return None
    d = u.data
    saved = (d.qpos.copy(), d.qvel.copy())
    rng = np.random.default_rng(0)
    try:
        d.qpos[:] = saved[0] + 0.01 * rng.standard_normal(m.nq)
        d.qvel[:] = 0.1 * rng.standard_normal(m.nv)
        obs = np.asarray(u._get_obs(), dtype=np.float64).ravel()
        ok = np.allclose(obs, np.concatenate([d.qpos[skip:], d.qvel]))
    finally:
        d.qpos[:], d.qvel[:] = saved
    return skip if ok else None


class StockReplayWrapper(DynamicsWrapper):
    """:class:`DynamicsWrapper` with the calibration hooks of a Gymnasium-layout stock env (``skip`` positions
    left out of the observation), and the batched-replay hooks of :mod:`sim2real.ident.rollout`."""

    frame_skip: int
    replay_compared: tuple[tuple[int, ...], tuple[float, ...]]
    _VEL_CLIP: ClassVar[float] = 10.0  # Gymnasium's locomotion envs clip velocity readings here

    def __init__(self, env: Any, skip: int, **kwargs: Any) -> None:
        super().__init__(env, **kwargs)
        u = env.unwrapped
        self.skip = int(skip)
        self.frame_skip = int(u.frame_skip)
        m = u.model
        npos = m.nq - self.skip
        self.replay_compared = (
            tuple(range(npos + m.nv)),
            (POSITION_SCALE,) * npos + (VELOCITY_SCALE,) * m.nv,
        )
        self._scratch = mujoco.MjData(m)

    def set_values(self, values: dict[str, float]) -> None:
        """Apply dynamics values to the model now (to replay logs under candidate parameters)."""
        self.dyn.set_values(values)

    def _to_ctrl(self, applied: np.ndarray) -> np.ndarray:
        """Normalised actions -> controls in the env's units, as :meth:`step` sends them (float32 included)."""
        a = self._low + (np.asarray(applied, dtype=np.float64) + 1.0) * 0.5 * (self._high - self._low)
        return a.astype(self._dtype).astype(np.float64)

    def restore(self, obs: np.ndarray, context: object, t: int) -> None:
        """The state the reading carries; the positions it leaves out at zero."""
        u = self.env.unwrapped
        m, d = u.model, u.data
        mujoco.mj_resetData(m, d)
        npos = m.nq - self.skip
        d.qpos[self.skip :] = obs[:npos]
        d.qvel[:] = obs[npos : npos + m.nv]
        mujoco.mj_forward(m, d)
        self.dyn.guard.arm(d)

    def replay_context(self, observations: np.ndarray, applied: np.ndarray) -> None:
        return None

    def replay_step(self, applied: np.ndarray, sent: np.ndarray) -> np.ndarray | None:
        u = self.env.unwrapped
        m, d = u.model, u.data
        d.ctrl[:] = self._to_ctrl(applied)
        mujoco.mj_step(m, d, nstep=self.frame_skip)
        if self.dyn.guard(d):
            return None
        return np.asarray(u._get_obs(), dtype=np.float64).ravel().copy()

    def kinematic_residuals(self, obs: np.ndarray) -> np.ndarray:
        """(T, nq - skip): each position reading's change minus the trapezoid integral of its velocity reading
        (hinge and slide joints: a position's rate is its velocity); steps with a clipped velocity count 0."""
        u = self.env.unwrapped
        npos = u.model.nq - self.skip
        pos, vel = obs[:, :npos], obs[:, npos + self.skip : npos + u.model.nv]
        res = np.diff(pos, axis=0) - 0.5 * (vel[1:] + vel[:-1]) * self.dt
        clipped = (np.abs(vel[1:]) >= self._VEL_CLIP) | (np.abs(vel[:-1]) >= self._VEL_CLIP)
        return np.where(clipped, 0.0, res)

    # -- batched replay (sim2real.ident.rollout) -------------------------------------------------
    def replay_controls(self, applied: np.ndarray) -> np.ndarray:
        return self._to_ctrl(applied)

    def replay_observe(self, state: np.ndarray, sensordata: np.ndarray, snapshot: np.ndarray) -> np.ndarray:
        """The env's own ``_get_obs`` on each state (after the step), row by row."""
        u = self.env.unwrapped
        m, d = u.model, self._scratch
        saved = u.data
        out = np.empty((len(state), int(np.prod(self.observation_space.shape))))
        try:
            u.data = d
            for i, row in enumerate(state):
                mujoco.mj_setState(m, d, row, _FULL)
                out[i] = np.asarray(u._get_obs(), dtype=np.float64).ravel()
        finally:
            u.data = saved
        return out
