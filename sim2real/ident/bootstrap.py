"""Newton refits and the parametric bootstrap of a calibration.

The replay error is minimised segment by segment from logged states, which is an approximation of how the
data came about: each segment starts from a noisy reading (errors in variables), from a state the readings
only partly carry (a wheel that slips, a contact the observation does not show), and CMA-ES stops a little off
the minimum. None of these shows in the Laplace or the cluster-robust std, and all of them can shift the
estimate the same way in every episode.

The parametric bootstrap measures that shift. A *twin* of the dataset is simulated at the estimate: every
logged episode is run whole (not in segments) from its first reading under its logged actions, through the
env's action channel (the estimated latency and deadzone, and an action noise matched so that the twins'
replay error equals the data's), with the measured observation noise and per-episode bias added to every
reading; what the readings leave open at the start, an env may draw (its optional ``twin_start`` hook). The
twin is calibrated the same way as the data (from the estimate, Newton rounds on the replay error, the first
with the data's Hessian, to convergence as the data's own), so the twins' estimates scatter around the
estimate by the calibration's spread and are shifted from it by its bias: the spread is a std, and the shift,
subtracted, corrects the estimate. What the twin does not carry (a parameter the calibration leaves at
nominal, an effect no hook draws) is not in it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from sim2real.learn.logged import Logged
from sim2real.sim.dynamics import Values, param_spec
from sim2real.sim.perturb import ActionChannel, ObsChannel

GRAD_STEP = 0.05  # central-difference step: 5 % of a scale's value (0.005 for a linear parameter near zero)
MAX_MOVE = 0.2  # a Newton step moves a scale by at most 20 % (a linear parameter by 0.02)
CONVERGED = 1e-3  # a Newton round with a fresh Hessian that lowers the error by less than this has converged


def _h(name: str, value: float) -> float:
    return GRAD_STEP * value if param_spec(name).kind == "scale" or value > 0.1 else 0.005


def curved_inverse(hess: np.ndarray) -> np.ndarray:
    """The pseudo-inverse of ``hess`` over its curved directions (eigenvalue > 1e-6 of the largest): a Newton
    step never moves along a direction the data cannot see."""
    if hess.size == 0:
        return hess
    lam, vec = np.linalg.eigh(hess)
    curved = lam > 1e-6 * max(float(lam.max()), 1e-12)
    return (vec[:, curved] / lam[curved]) @ vec[:, curved].T


def gradient(replay: Any, values: Values, cont: list[str]) -> np.ndarray:
    """Central differences of the mean squared replay error in ``cont`` at ``values`` (per parameter unit)."""
    g = np.zeros(len(cont))
    for i, p in enumerate(cont):
        h = _h(p, values[p])
        up = replay({**values, p: values[p] + h}).rms ** 2
        down = replay({**values, p: max(values[p] - h, 0.0)}).rms ** 2
        g[i] = (up - down) / (values[p] + h - max(values[p] - h, 0.0))
    return g


def newton_refit(
    replay: Any,
    start: Values,
    cont: list[str],
    inv: np.ndarray,
    bounds: dict[str, tuple[float, float]],
    steps: int = 3,
    hessian: Callable[[Values], np.ndarray] | None = None,
    rounds: int = 1,
) -> tuple[Values, float]:
    """Damped Newton steps from ``start`` on the mean squared replay error, with central-difference gradients:
    the full step, else half, else a quarter, whichever first lowers the error (none: the round ends). Round 1
    takes up to ``steps`` steps with the inverse Hessian ``inv`` (:func:`curved_inverse`); each further round
    (up to ``rounds``) evaluates the Hessian afresh where the last one ended (``hessian(values)``) and steps
    again, until a round lowers the error by less than :data:`CONVERGED` of it. In a long shallow valley (a
    slipping wheel's navigation logs) three steps with one Hessian stop well short of the minimum: on
    ``navigate_v1`` ``slippery`` the replay error fell from 0.0167 to 0.0135 in two more rounds. Returns the
    values and their mean squared error."""
    x = dict(start)
    f = replay(x).rms ** 2
    for r in range(rounds if hessian is not None else 1):
        if r:
            inv = curved_inverse(hessian(x))
        f_round = f
        for _ in range(steps):
            dx = -inv @ gradient(replay, x, cont)
            for alpha in (1.0, 0.5, 0.25):
                new = dict(x)
                for i, p in enumerate(cont):
                    cap = MAX_MOVE * x[p] if param_spec(p).kind == "scale" else 0.02
                    lo, hi = bounds[p]
                    new[p] = float(min(max(x[p] + float(np.clip(alpha * dx[i], -cap, cap)), lo), hi))
                fn = replay(new).rms ** 2
                if fn < f:
                    break
            else:
                break
            x, f = new, fn
        if r and f > f_round * (1.0 - CONVERGED):
            break
    return x, f


def twin(replay: Any, logged: Logged, values: Values, noise: dict[str, float], rng: np.random.Generator) -> Logged:
    """The dataset's twin at ``values``: each logged episode simulated whole from its first reading under its
    logged actions, through the env's action channel (``noise["action_noise_std"]``, then ``values``' deadzone
    and latency), with observation noise (std ``noise["obs_noise_std"]``) and a per-episode bias (U(-b, b) per
    entry, b = ``noise["obs_bias"]``) on every reading. An episode starts by the env's ``twin_start(obs, context,
    rng)`` where it has one (drawing what the reading leaves open), else by ``restore``. An episode whose physics
    blows up ends there. Where the replay is batched (``replay.batched``, the open-loop hooks) the episodes run
    in one ``mujoco.rollout`` call, and a reading's entries the task's ``replay_observe`` does not compute (a
    navigation base's rangefinders, which no replay compares) are the logged ones; else one at a time in
    Python. The random draws come in the same order either way: every episode's action noise, then every
    episode's observation noise."""
    env = replay.env
    values = {**replay.fixed, **values}
    env.set_values({k: v for k, v in values.items() if k in env.params})
    act_values = {**{k: values.get(k, 0.0) for k in ("action_latency", "actuator_deadzone")}, **noise}
    act_channel = ActionChannel(replay.actions[0].shape[1], env.rest_action)
    channel = ObsChannel(replay.obs[0].shape[1])
    starts = rng.spawn(len(replay.actions))  # what twin_start draws, the same whatever the noise draws
    hook = getattr(env, "twin_start", None)  # what the readings do not carry, drawn (optional env hook)
    applied = []
    for act in replay.actions:
        act_channel.reset(act_values)
        applied.append(np.array([act_channel(a, rng) for a in act]))

    def start(i: int) -> Callable[[], None]:
        obs, ctx = replay.obs[i], env.replay_context(replay.obs[i], applied[i])
        return lambda: hook(obs[0], ctx, starts[i]) if hook is not None else env.restore(obs[0], ctx, 0)

    if getattr(replay, "batched", False):
        sims = replay.simulate([start(i) for i in range(len(applied))], applied)
        for obs, sim in zip(replay.obs, sims, strict=True):
            missing = np.isnan(sim)
            sim[missing] = np.broadcast_to(obs[1 : 1 + len(sim)], sim.shape)[missing]
    else:
        sims = []
        for i, act in enumerate(replay.actions):
            start(i)()
            preds = []
            for k in range(len(act)):
                replay.steps += 1
                pred = env.replay_step(applied[i][k], act[k])
                if pred is None:
                    break
                preds.append(pred)
            sims.append(np.asarray(preds, dtype=np.float64).reshape(len(preds), -1))
    observations, actions = [], []
    for obs, act, sim in zip(replay.obs, replay.actions, sims, strict=True):
        if len(sim) < 1:
            continue
        true = np.concatenate([np.asarray(obs[:1], dtype=np.float64), sim])  # the twin starts at the reading
        channel.reset(noise, rng)
        observations.append(np.asarray([channel(t, rng) for t in true], dtype=np.float32))
        actions.append(np.asarray(act[: len(sim)]))
    n = len(actions)
    return dataclasses.replace(
        logged,
        observations=observations,
        actions=actions,
        rewards=[np.zeros(len(a)) for a in actions],
        terminations=[np.zeros(len(a), bool) for a in actions],
        truncations=[np.zeros(len(a), bool) for a in actions],
        success=[False] * n,
        true_dynamics=[dict(values)] * n,
    )


def twin_error(
    make_replay: Callable[[Logged], Any],
    replay: Any,
    logged: Logged,
    est: Values,
    noise: dict[str, float],
    seed: int = 0,
    draws: int = 3,
) -> float:
    """The mean squared replay error at ``est`` of ``draws`` twins simulated at ``est`` with ``noise`` (common
    random numbers: draw k always uses the same generator); inf when no twin episode survives."""
    errs = []
    for k in range(draws):
        data = twin(replay, logged, est, noise, np.random.default_rng([seed, 11, k]))
        errs.append(make_replay(data)(est).rms ** 2 if data.actions else math.inf)
    return float(np.mean(errs))


def match_action_noise(
    make_replay: Callable[[Logged], Any],
    replay: Any,
    logged: Logged,
    est: Values,
    measured: dict[str, float],
    target: float,
    seed: int = 0,
    high: float = 0.3,
    steps: int = 4,
    draws: int = 3,
) -> tuple[float, float]:
    """The action noise std (action units) at which the twins' replay error at ``est`` equals the data's
    (``target``, mean squared), on the mean over ``draws`` twins with common random numbers: what the measured
    observation noise and bias leave of the data's replay error, carried as random action noise (the process
    noise a real robot adds). Independent noise adds variance, so the root is sought in ``std**2`` over
    [0, ``high**2``], by ``steps`` steps of the Illinois false position (``benchmarks/noise_match.py``: four
    steps land within 2.5 % of the target error, six of bisection within 6 %). One twin is not enough: a few
    segments carry much of the error, and on two navigation episodes single twins ranged 1.12-1.57 around a
    mean of 1.4. Returns ``(std, the twins' mean squared error without it)``."""

    def at(var: float) -> float:
        noise = {**measured, "action_noise_std": math.sqrt(var)}
        return twin_error(make_replay, replay, logged, est, noise, seed, draws) - target

    base = at(0.0) + target
    if not base < target:
        return 0.0, base
    return math.sqrt(illinois(at, 0.0, base - target, high**2, steps)), base


def illinois(f: Callable[[float], float], lo: float, f_lo: float, hi: float, steps: int) -> float:
    """A root of ``f`` in [``lo``, ``hi``] (``f(lo) = f_lo < 0``) by ``steps`` steps of false position, the
    Illinois way (an end kept twice has its value halved, so a curved ``f`` does not pin one end); ``hi`` when
    ``f(hi) < 0``."""
    f_hi = f(hi)
    if f_hi < 0:
        return hi
    x, side = lo, 0
    for _ in range(steps):
        x = (lo * f_hi - hi * f_lo) / (f_hi - f_lo)
        fx = f(x)
        if fx < 0:
            lo, f_lo = x, fx
            f_hi *= 0.5 if side == -1 else 1.0
            side = -1
        else:
            hi, f_hi = x, fx
            f_lo *= 0.5 if side == 1 else 1.0
            side = 1
    return x


def summarise(est: Values, replicates: list[Values], cont: list[str]) -> dict[str, dict[str, float]]:
    """Per parameter of ``cont``: the replicates' std, their mean shift from ``est`` (the bias) and the
    bias-corrected estimate ``est - bias`` with the std of that correction (std / sqrt(replicates))."""
    out = {}
    for p in cont:
        v = np.array([r[p] for r in replicates], dtype=float)
        if len(v) < 2:
            continue
        sd = float(v.std(ddof=1))
        shift = float(v.mean()) - est[p]
        out[p] = {"std": sd, "bias": shift, "corrected": est[p] - shift, "bias_std": sd / math.sqrt(len(v))}
    return out


def parametric_bootstrap(
    make_replay: Callable[[Logged], Any],
    replay: Any,
    logged: Logged,
    est: Values,
    cont: list[str],
    hess: np.ndarray,
    measured: dict[str, float],
    target: float,
    bounds: dict[str, tuple[float, float]],
    replicates: int,
    seed: int = 0,
    hessian_of: Callable[[Any, Values], np.ndarray] | None = None,
    rounds: int = 1,
    refit: Callable[[Any, Values], tuple[Values, float]] | None = None,
) -> dict[str, Any]:
    """``replicates`` twins at ``est`` (:func:`twin`, with the measured observation noise and bias and the
    action noise of :func:`match_action_noise`), each calibrated by :func:`newton_refit` from ``est``: the first
    round with the data's Hessian, up to ``rounds`` with the twin's own (``hessian_of(replay, values)``)
    (``target``: the data's mean squared replay error at ``est``); returns :func:`summarise`'s
    table under ``"params"``, the replicates' estimates and replay errors, and the matched action noise.
    ``make_replay`` builds the replay of a twin as the data's was built (horizon, stride, fixed values).
    ``refit(replay, start)`` replaces the Newton refit (the least-squares solver's few iterations from ``est``),
    returning the values and their mean squared error."""
    rng = np.random.default_rng([seed, 7])
    inv = curved_inverse(hess)
    measured = {k: float(measured.get(k, 0.0)) for k in ("obs_noise_std", "obs_bias")}
    sigma, base = match_action_noise(make_replay, replay, logged, est, measured, target, seed)
    noise = {**measured, "action_noise_std": sigma}
    fits, errors = [], []
    for _ in range(replicates):
        data = twin(replay, logged, est, noise, rng)
        if not data.actions:
            continue
        rep = make_replay(data)
        if refit is not None:
            fit, f = refit(rep, est)
        else:
            own = (lambda x, rep=rep: hessian_of(rep, x)) if hessian_of is not None else None
            fit, f = newton_refit(rep, est, cont, inv, bounds, hessian=own, rounds=rounds)
        fits.append(fit)
        errors.append(math.sqrt(f))
    return {
        "replicates": len(fits),
        "params": summarise(est, fits, cont),
        "estimates": [{p: fit[p] for p in cont} for fit in fits],
        "replay_error": errors,
        "data_replay_error": math.sqrt(target),
        "twin_replay_error_without_action_noise": math.sqrt(base),
        "action_noise_std": sigma,
    }
