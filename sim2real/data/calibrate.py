"""Real-to-sim calibration: estimate canonical dynamics parameters from logged transitions.

The simulator is set to a logged state (:meth:`Sim2RealEnv.restore`), the logged actions are
replayed through the candidate's latency and deadzone for a short horizon, and the predicted
observations are compared with the logged ones. The *replay error* is the root mean square of that
prediction error over the compared observation entries, each divided by a fixed per-entry scale (so
1.0 means one scale unit, e.g. 1 cm or 0.1 m/s, of typical error), with errors beyond 3 units
counted linearly (Huber) so that a contact event the replay misses does not dominate; it measures
the sim-to-real gap of any parameter set. CMA-ES (the ``cma`` package) minimises it over the chosen
parameters, the latency as an integer coordinate.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

import sim2real.envs  # noqa: F401  (registers the built-in tasks)
from sim2real.data.bootstrap import curved_inverse, newton_refit, parametric_bootstrap
from sim2real.learn.logged import Logged
from sim2real.sim import tasks
from sim2real.sim.dynamics import Values, param_spec

# Search interval of each parameter (log-scaled for scales): wider than the `wide` presets.
PRIOR: dict[str, tuple[float, float]] = {
    "mass_scale": (0.3, 3.0),
    "friction_scale": (0.2, 3.0),
    "object_mass_scale": (0.2, 6.0),
    "object_friction_scale": (0.2, 3.0),
    "damping_scale": (0.2, 5.0),
    "actuator_gain_scale": (0.2, 3.0),
    "actuator_deadzone": (0.0, 0.3),
    "payload_mass": (0.0, 3.0),  # kg
    "action_latency": (0, 5),
}
HUBER = 3.0  # scale units: errors beyond are penalised linearly (a contact event the replay misses is one outlier)
IDENTIFIED = 0.05  # identified: moving it +-20 % raises the replay error by >= 5 % ...
IDENTIFIED_Z = 3.0  # ... or by >= 3 standard errors over the episodes (a small effect the data sees clearly) ...
MAX_REL_STD = 0.1  # ... and its marginal std (other parameters free) is <= 10 % of the estimate
THRESHOLDS = ("actuator_deadzone",)  # the error is a staircase in these: scanned, no Hessian or std (like latency)
NEWTON_ROUNDS = 4  # Newton rounds (three steps each, a fresh Hessian each) that settle the estimate; two or three do
SCAN = 30  # deadzone scan: steps over its prior range (0.01 apart for 0-0.3)


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
        """What the actuators received: the rest action for the first ``latency`` steps, then the delayed,
        deadzoned actions (the action channel without its random noise)."""
        a = np.where(np.abs(actions) < deadzone, 0.0, actions) if deadzone > 0 else actions
        if latency == 0:
            return a
        rest = np.broadcast_to(self.env.rest_action, (min(latency, len(a)), a.shape[1]))
        return np.concatenate([rest, a[: len(a) - latency]])

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


def noise_and_bias(env: Any, logged: Logged) -> dict[str, float]:
    """Observation noise std and bias bound (obs units) from kinematic consistency, without any model.

    For white noise n (std s) and a per-episode constant offset c on each reading, step t's residual
    (the env's ``kinematic_residuals`` hook: a position reading's change minus the integral of its velocity
    readings) is n_(t+1) - n_t + S_t c, where S_t (the optional ``bias_sensitivity`` hook; default -dt on
    each residual's own velocity reading) says how the velocity readings' offsets enter it. Noise:
    s = 1.4826 MAD / sqrt(2) (robust to contact jolts). Bias: per episode, c is fitted by least squares on
    the directions the episode excites (eigenvectors of S'S); the fit's noise variance v follows exactly from
    the differenced noise. For c ~ U(-b, b) per reading, any unit direction's component has second moment
    b^2 / 3, so b^2 / 3 is the weighted mean of (fit^2 - v) (weights 1 / (b^2 / 3 + v)^2, iterated). A
    direction a turning robot keeps rotating (navigation: the velocity toward a goal) no longer cancels the
    offset, as a plain sum of residuals would."""
    res = [np.asarray(env.kinematic_residuals(o), dtype=np.float64) for o in logged.observations]  # (T, k)
    r = np.concatenate(res).ravel()
    noise = float(1.4826 * np.median(np.abs(r - np.median(r))) / math.sqrt(2))
    sensitivity = getattr(env, "bias_sensitivity", None)
    fits, variances = [], []
    for obs, e in zip(logged.observations, res, strict=True):
        t, k = e.shape
        if sensitivity:
            s = np.asarray(sensitivity(obs), dtype=np.float64)
        else:  # each residual sees its own velocity reading's offset
            s = -env.dt * np.broadcast_to(np.eye(k), (t, k, k))
        x = s.transpose(1, 0, 2).reshape(t * k, -1)  # rows channel-major: each channel's steps in time order
        lam, vec = np.linalg.eigh(x.T @ x)
        for j in np.flatnonzero(lam > 1e-9 * max(float(lam.max()), 1e-300)):
            w = (x @ vec[:, j] / lam[j]).reshape(k, t)  # the fit is w . residuals
            d = np.diff(np.pad(w, ((0, 0), (1, 1))), axis=1)  # each reading's noise enters twice, with opposite signs
            fits.append(float((w * e.T).sum()))
            variances.append(noise**2 * float((d * d).sum()))
    f, v = np.asarray(fits), np.asarray(variances)
    second = max(float(np.mean(f * f - v)), 0.0) if len(f) else 0.0
    for _ in range(5):
        wts = 1.0 / (second + v) ** 2 if (second + v).min() > 0 else np.ones_like(v)
        second = max(float(np.sum(wts * (f * f - v)) / np.sum(wts)), 0.0)
    return {"obs_noise_std": noise, "obs_bias": math.sqrt(3 * second)}


def _encode(name: str, value: float) -> float:
    lo, hi = PRIOR[name]
    if name == "action_latency":
        return float(value)
    if param_spec(name).kind == "scale":
        return 10.0 * (math.log(value) - math.log(lo)) / (math.log(hi) - math.log(lo))
    return 10.0 * (value - lo) / (hi - lo)


def _decode(name: str, x: float) -> float:
    lo, hi = PRIOR[name]
    if name == "action_latency":
        return float(min(max(round(x), lo), hi))
    x = min(max(x, 0.0), 10.0)
    if param_spec(name).kind == "scale":
        return math.exp(math.log(lo) + x / 10.0 * (math.log(hi) - math.log(lo)))
    return lo + x / 10.0 * (hi - lo)


def check_params(task: str, params: list[str]) -> list[str]:
    """``params`` if every name can be calibrated on ``task``; else a one-line CalibrationError."""
    allowed = envs_params(task)
    for p in params:
        if p not in PRIOR:
            raise CalibrationError(
                f"params: '{p}' cannot be calibrated from replayed transitions; choose from: {', '.join(PRIOR)}"
            )
        if p not in allowed:
            raise CalibrationError(f"params: '{p}' does not apply to task {task}; it accepts: {', '.join(allowed)}")
    if len(set(params)) != len(params) or not params:
        raise CalibrationError(f"params={params}: give a non-empty list without repeats")
    return list(params)


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


def _step(name: str, value: float) -> float:
    """The probe step of ``name`` around ``value``: 20 % for scales, +-0.02 for a deadzone near zero."""
    return 0.2 * value if param_spec(name).kind == "scale" or value > 0.1 else 0.02


def _response_surface(
    replay: Replay, est: Values, cont: list[str], h: dict[str, float], base: np.ndarray, up: dict, down: dict, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Hessian of the mean squared replay error, and each segment's gradient of its own error, from least-squares
    quadratic fits over the +-``h`` box around the estimate: the axis probes plus as many random points as the
    quadratic has coefficients (``base``, ``up``, ``down``: per-segment errors at the estimate and the axis
    probes). A fit, rather than finite differences, averages out the small-scale roughness that contact events
    give the error. Returns ``(hessian (d, d), gradients (d, segments))`` in parameter units."""
    d = len(cont)
    rng = np.random.default_rng(seed)
    pts = [np.zeros(d)] + [s * np.eye(d)[i] for i in range(d) for s in (1.0, -1.0)]
    vals = [base] + [v for p in cont for v in (up[p], down[p])]
    for u in rng.uniform(-1.0, 1.0, size=(1 + d + d * (d + 1) // 2, d)):
        pts.append(u)
        vals.append(replay({**est, **{p: max(est[p] + u[i] * h[p], 0.0) for i, p in enumerate(cont)}}).segments)
    iu = np.triu_indices(d)
    rows = [np.concatenate([[1.0], u, np.outer(u, u)[iu]]) for u in pts]
    coef = np.linalg.lstsq(np.asarray(rows), np.asarray(vals), rcond=None)[0]  # (coefficients, segments)
    quad = np.zeros((d, d))
    quad[iu] = coef[1 + d :].mean(axis=1)
    hess_u = quad + quad.T  # d2/du_i du_j of sum_{i<=j} c_ij u_i u_j
    scale = np.array([h[p] for p in cont])
    return hess_u / np.outer(scale, scale), coef[1 : 1 + d] / scale[:, None]


def hessian_at(replay: Replay, values: Values, cont: list[str], seed: int = 0) -> np.ndarray:
    """The response-surface Hessian (:func:`_response_surface`) of the mean squared replay error in ``cont`` at
    ``values``, alone (no probes of the other parameters): what a Newton round needs where it starts."""
    h = {p: _step(p, values[p]) for p in cont}
    up = {p: replay({**values, p: values[p] + h[p]}).segments for p in cont}
    down = {p: replay({**values, p: max(values[p] - h[p], 0.0)}).segments for p in cont}
    return _response_surface(replay, values, cont, h, replay(values).segments, up, down, seed)[0]


def cluster_covariance(hess: np.ndarray, grads: np.ndarray, clusters: np.ndarray) -> np.ndarray:
    """Cluster-robust (sandwich) covariance of the minimiser of the mean segment error, over the curved
    directions of ``hess``: H^-1 J H^-1 with J the spread of the episodes' summed segment gradients
    (``grads`` (d, segments), ``clusters`` the episode of each segment), / segments^2, x C / (C - 1).

    Segments of one episode share its sensor bias and its state, and a parameter the model leaves out (a
    friction held at nominal) pulls each episode its own way; the Laplace covariance assumes independent
    segments and a right model, and on noise-free data shrinks to nothing. With independent noise and the
    right model both agree (the per-segment gradient variance is then 2 sigma^2 x the Hessian)."""
    d, n = grads.shape
    ids = np.unique(clusters)
    if d == 0 or len(ids) < 2:
        return np.full((d, d), np.nan)
    centred = grads - grads.mean(axis=1, keepdims=True)
    sums = np.stack([centred[:, clusters == c].sum(axis=1) for c in ids], axis=1)  # (d, C)
    spread = sums @ sums.T / n**2 * len(ids) / (len(ids) - 1)
    inv = curved_inverse(hess)
    return inv @ spread @ inv


def _paired_z(at: np.ndarray, probes: list[np.ndarray], clusters: np.ndarray) -> float:
    """How significantly the probes raise the replay error over the estimate's: the mean over episodes of each
    episode's mean rise (the probes averaged), over its standard error (episodes as the independent units)."""
    if not probes:
        return math.nan
    rise = np.mean(probes, axis=0) - at
    per = np.array([rise[clusters == c].mean() for c in np.unique(clusters)])
    if len(per) < 2:
        return math.nan
    se = float(per.std(ddof=1)) / math.sqrt(len(per))
    m = float(per.mean())
    return m / se if se > 0 else (math.copysign(math.inf, m) if m else 0.0)


def _sensitivity(replay: Replay, est: Values, names: list[str], seed: int = 0) -> dict[str, Any]:
    """Axis probes (+-20 %) and a response-surface Hessian of the mean squared replay error in the continuous
    parameters; their marginal standard deviations, the larger of the Laplace approximation's (segments as
    independent samples, the model right) and the cluster-robust one's (:func:`cluster_covariance`: episodes as
    the independent units, whatever the model leaves out). A flat direction shared by parameters (e.g. gain and
    mass scaled together) shows up as large marginal stds although each axis probe alone moves the error."""
    at = replay(est).segments
    base = float(at.mean())
    cont = [p for p in names if p != "action_latency" and p not in THRESHOLDS]
    h = {p: _step(p, est[p]) for p in cont}
    up, down = {}, {}  # per-segment errors at the probes
    for p in names:
        if p == "action_latency":
            lat = est[p]
            down[p] = replay({**est, p: lat - 1}).segments if lat >= 1 else None
            up[p] = replay({**est, p: lat + 1}).segments
            continue
        step = h.get(p) or _step(p, est[p])  # thresholds are probed but not in h
        up[p] = replay({**est, p: est[p] + step}).segments
        down[p] = replay({**est, p: max(est[p] - step, 0.0)}).segments
    d = len(cont)
    # Laplace and cluster-robust covariances over the curved directions; a flat or downhill direction
    # (eigenvalue <= 1e-6 of the largest) leaves every parameter that loads on it unbounded.
    laplace, robust, unbounded = np.zeros((d, d)), np.zeros((d, d)), np.zeros(d, bool)
    hess = np.zeros((0, 0))
    if d:
        hess, grads = _response_surface(replay, est, cont, h, at, up, down, seed)
        lam, vec = np.linalg.eigh(hess)
        curved = lam > 1e-6 * max(lam.max(), 1e-12)
        laplace = 2 * base / replay.n_segments * curved_inverse(hess)
        robust = np.nan_to_num(cluster_covariance(hess, grads, replay.episode_of))
        unbounded = (np.abs(vec[:, ~curved]) > 0.1).any(axis=1)
    cov = robust if np.trace(robust) > np.trace(laplace) else laplace  # for the correlations
    var = np.maximum(np.diag(laplace), np.diag(robust)) if d else np.zeros(0)

    def marginal(v: float, i: int) -> float:
        return math.inf if unbounded[i] or v <= 0 else float(math.sqrt(v))

    mean = {p: (float(v.mean()) if v is not None else math.inf) for p, v in up.items()}
    mean_down = {p: (float(v.mean()) if v is not None else math.inf) for p, v in down.items()}
    rise = {
        p: np.mean([math.sqrt(v) for v in (mean[p], mean_down[p]) if math.isfinite(v)]) / math.sqrt(base) - 1
        for p in names
    }
    rise_z = {p: _paired_z(at, [v for v in (up[p], down[p]) if v is not None], replay.episode_of) for p in names}
    combos = _identified_directions(hess, laplace, robust, cont, est) if d else []
    flat = _identified_directions(hess, laplace, robust, cont, est, flat=True) if d else []
    corr = {}
    for i, p in enumerate(cont):
        for j in range(i):
            denom = math.sqrt(abs(cov[i, i] * cov[j, j]))
            if denom > 0 and not (unbounded[i] or unbounded[j]):
                corr[f"{cont[j]}:{p}"] = float(cov[i, j] / denom)
    return {
        "rise": rise,
        "rise_z": rise_z,
        "std": {p: marginal(var[i], i) for i, p in enumerate(cont)},
        "std_laplace": {p: marginal(laplace[i, i], i) for i, p in enumerate(cont)},
        "std_robust": {p: marginal(robust[i, i], i) for i, p in enumerate(cont)},
        "corr": corr,
        "minus": mean_down,
        "plus": mean,
        "combinations": combos,
        "flat": flat,
        "cont": cont,  # the continuous parameters and the Hessian over them (for the Newton refits)
        "hessian": hess,
    }


def restart_spread(
    starts: list[dict[str, Any]], est: Values, error: float, cont: list[str], n_segments: int
) -> tuple[list[int], dict[str, float]]:
    """Which polished starts fit the data as well as the estimate, and how far from it they lie.

    A start is *alike* when ``n_segments`` x (its mean squared replay error / ``error``^2 - 1), ``error`` being
    the estimate's replay error, is at most ``len(cont)``: the rise, in the Laplace approximation's units
    (segments independent, the residual variance the estimate's), that the true values themselves are expected
    to show over the minimum (the mean of a chi-square with one degree of freedom per parameter). Where the
    error is rough along a shallow valley, optimiser seeds stop apart at equal errors, and every local std
    measures only the dimple the estimate sits in; the alike starts' root mean square distance from the
    estimate, per parameter (parameter units), is what the data cannot decide between. Starts without a polish
    (``restarts=1``) are never alike. Returns ``(indices of the alike starts, {parameter: spread})`` (the
    spread is 0 with no alike start)."""
    polished = [(i, s) for i, s in enumerate(starts) if "polished_replay_error" in s]
    if not polished or not cont:
        return [], {}
    best = error**2
    alike = [
        i
        for i, s in polished
        if n_segments * (s["polished_replay_error"] ** 2 / best - 1.0) <= len(cont)
        and any(s["polished_estimate"][p] != est[p] for p in cont)  # not the estimate itself
    ]
    spread = {
        p: float(np.sqrt(np.mean([(starts[i]["polished_estimate"][p] - est[p]) ** 2 for i in alike]))) if alike else 0.0
        for p in cont
    }
    return alike, spread


FLAT = 0.5  # a principal direction whose Laplace std (log units) exceeds this is one the data cannot see


def _identified_directions(
    hess: np.ndarray, laplace: np.ndarray, robust: np.ndarray, cont: list[str], est: Values, flat: bool = False
) -> list[dict]:
    """The combinations of parameters the data pins down even when the parameters alone are not: principal
    directions of the Hessian in log-parameters (scales) whose std (the larger of the Laplace and the
    cluster-robust one) is below 10 %, e.g. ``log actuator_gain_scale - log mass_scale`` when gain and mass are
    only seen as a ratio. With ``flat``: the directions the data cannot see instead (std above :data:`FLAT`, or
    no curvature at all), e.g. ``log actuator_gain_scale + log mass_scale`` for that ratio."""
    jac = np.array([est[p] if param_spec(p).kind == "scale" else 1.0 for p in cont])
    lam, vec = np.linalg.eigh(hess * np.outer(jac, jac))
    top = max(float(lam.max()), 1e-12)
    to_log = 1.0 / jac  # a parameter-unit covariance in log units (scales) or as is (linear parameters)
    out = []
    for k in np.argsort(lam)[::-1]:
        v = vec[:, k] * to_log
        var = max(float(v @ laplace @ v), float(v @ robust @ v))
        std = math.sqrt(var) if lam[k] > 1e-6 * top and var > 0 else math.inf
        if flat != (std > FLAT) or (not flat and std > MAX_REL_STD):
            continue
        v = vec[:, k] * np.sign(vec[np.argmax(np.abs(vec[:, k])), k])
        terms = {
            (f"log {p}" if param_spec(p).kind == "scale" else p): round(float(c), 2)
            for p, c in zip(cont, v, strict=True)
            if abs(c) > 0.15
        }
        out.append({"direction": terms, "std": std})
    return out


def calibrate(
    logged: Logged,
    params: list[str],
    budget: int = 200,
    seed: int = 0,
    horizon: int = 10,
    stride: int = 20,
    prior_weight: float = 1e-5,
    profiles: dict[str, Values] | None = None,
    bootstrap: int = 0,
    newton_rounds: int = NEWTON_ROUNDS,
    restarts: int = 1,
) -> dict[str, Any]:
    """Estimate ``params`` from ``logged``; returns the ``calibration.json`` record.

    The objective is the mean squared replay error plus ``prior_weight`` x (its value at the nominal
    parameters) per squared search unit away from nominal (a unit is a tenth of the log search interval,
    about x1.26 for most scales; 0.03 of deadzone): negligible where the data speaks, it keeps a direction
    the data cannot see at the nominal value instead of letting the optimiser drift along it. (At 1e-3 it was
    not negligible: on navigation's ``real`` logs, whose nominal error is 20 x the noise floor, a deadzone of
    0.12 paid a third of the floor, and the estimate stayed at zero.) ``budget`` caps the
    CMA-ES replay evaluations of each of ``restarts`` runs from nominal (CMA-ES seeds ``seed + 1``,
    ``seed + 2``, ...); the latency check and the sensitivity probes come on top. After CMA-ES, a scan
    of the thresholds and a pattern search, Newton steps with the response surface's Hessian settle the
    continuous parameters on the minimum: up to ``newton_rounds`` rounds of three steps, the Hessian evaluated
    afresh each round, until a round no longer lowers the error (1: one round with the first Hessian, as every
    calibration before this option was). With ``restarts`` > 1 every start is polished that way, the lowest is kept,
    every start's point and replay error (before and after its polish) is recorded, and the polished starts that
    fit as well as the estimate (:func:`restart_spread`) widen the stds by their distance from it: on
    ``navigate_v1`` ``slippery``'s gentle excitation, seeds stop apart along a rough, shallow valley at equal
    errors, where a local std sees one dimple. ``bootstrap`` > 0 calibrates that many simulated twins of the data
    (:mod:`sim2real.data.bootstrap`): their spread enters the stds, and their mean shift from the estimate
    (what the segment replay itself does to the estimate) is subtracted from it."""
    t0 = time.perf_counter()
    task = logged.task
    params = check_params(task, params)
    if not isinstance(budget, int) or budget < 10:
        raise CalibrationError(f"budget={budget!r}: must be an integer >= 10 (CMA-ES replay evaluations)")
    if not isinstance(bootstrap, int) or bootstrap < 0 or bootstrap == 1:
        raise CalibrationError(
            f"bootstrap={bootstrap!r}: give 0 (off) or the number of simulated twins to calibrate, >= 2 (10-20 typical)"
        )
    if not isinstance(restarts, int) or restarts < 1:
        raise CalibrationError(
            f"restarts={restarts!r}: give an integer >= 1 (CMA-ES runs from nominal, each with its own seed)"
        )
    if not isinstance(newton_rounds, int) or newton_rounds < 1:
        raise CalibrationError(
            f"newton_rounds={newton_rounds!r}: give an integer >= 1 (Newton rounds, a fresh Hessian each; 4 typical)"
        )
    replay = Replay(logged, horizon, stride)
    fixed = replay.fixed = measured_values(replay.env, logged)
    params = [p for p in params if p not in fixed]
    nominal = {p: param_spec(p).nominal for p in params}
    before = replay(nominal)
    x0 = np.array([_encode(p, nominal[p]) for p in params])
    lam = prior_weight * before.rms**2
    cont_mask = np.array([p != "action_latency" for p in params])

    def objective(x: np.ndarray) -> tuple[float, Values]:
        v = {p: _decode(p, xi) for p, xi in zip(params, x, strict=True)}
        dx = (np.asarray(x) - x0)[cont_mask]
        return replay(v).rms ** 2 + lam * float(np.clip(dx, -10, 10) @ np.clip(dx, -10, 10)), v

    import cma

    int_idx = [i for i, p in enumerate(params) if p == "action_latency"]
    opts = {
        "bounds": [
            [PRIOR[p][0] if p == "action_latency" else 0.0 for p in params],
            [PRIOR[p][1] if p == "action_latency" else 10.0 for p in params],
        ],
        "CMA_stds": [1.0 if p == "action_latency" else 2.5 for p in params],
        "integer_variables": int_idx,
        "seed": seed + 1,
        "maxfevals": budget,
        "verbose": -9,
    }
    single = len(params) == 1
    best_f, best_v, polished = objective(x0)[0], dict(nominal), False
    from tqdm import tqdm

    total = budget * (1 if single else restarts)
    bar = tqdm(total=total, desc="calibrate (CMA-ES replays)", unit="replay", disable=None)  # off without a tty
    # one parameter: a grid over its search range (cma's step-size limits fail in 1-D), then the polish below
    grid = [np.array([x]) for x in np.linspace(*opts["bounds"][0] + opts["bounds"][1], budget)] if single else []
    for x in grid:
        bar.update(1)
        f, v = objective(x)
        if f < best_f:
            best_f, best_v = f, v
    cont = [p for p in params if p != "action_latency" and p not in THRESHOLDS]
    bounds = {p: PRIOR[p] for p in cont}

    def encoded(v: Values) -> np.ndarray:
        return np.array([_encode(p, v[p]) for p in params])

    def polish(est: Values, best_f: float) -> tuple[Values, float]:
        """A threshold scan, a pattern search and Newton rounds from ``est`` (objective ``best_f``)."""
        # a threshold (the deadzone) moves the error only where it crosses a logged command: a staircase with
        # flat treads, on which CMA-ES and the pull toward nominal stall at zero. Scan it over its prior range.
        for p in params:
            if p in THRESHOLDS:
                for m in np.linspace(*PRIOR[p], SCAN + 1):
                    f, v = objective(encoded({**est, p: float(m)}))
                    if f < best_f:
                        best_f, est = f, v
        # a pattern search (+-10, 5, 2.5 % per continuous parameter, latency +-1): contacts make the error
        # slightly rough, which leaves CMA-ES's final point a little off the minimum
        for step in (0.1, 0.05, 0.025):
            for p in params:
                if p == "action_latency":
                    moves = [est[p] - 1, est[p] + 1] if step == 0.1 else []
                    moves = [m for m in moves if PRIOR[p][0] <= m <= PRIOR[p][1]]
                else:
                    lo, hi = PRIOR[p]
                    if param_spec(p).kind == "scale":
                        moves = [min(max(est[p] * (1 + s), lo), hi) for s in (-step, step)]
                    else:  # additive: a multiplicative step cannot leave zero
                        moves = [min(max(est[p] + s * (hi - lo) / 2, lo), hi) for s in (-step, step)]
                for m in moves:
                    f, v = objective(encoded({**est, p: m}))
                    if f < best_f:
                        best_f, est = f, v
        if cont:  # settle on the minimum: the pattern search's last step is 2.5 %, coarser than a good std
            hess = lambda x: hessian_at(replay, x, cont, seed)  # noqa: E731
            refined, _ = newton_refit(
                replay, est, cont, curved_inverse(hess(est)), bounds, hessian=hess, rounds=newton_rounds
            )
            if refined != est:
                best_f, est = objective(encoded(refined))[0], refined
        return est, best_f

    starts = []  # one CMA-ES run per restart, each from nominal with its own seed, each polished; the lowest kept
    for k in range(0 if single else restarts):
        es = cma.CMAEvolutionStrategy(list(x0), 1.0, {**opts, "seed": seed + 1 + k})
        start_f, start_v = math.inf, dict(nominal)
        while not es.stop():
            xs = es.ask()
            bar.update(len(xs))
            fs = []
            for x in xs:
                f, v = objective(x)
                fs.append(f)
                if f < start_f:
                    start_f, start_v = f, v
            es.tell(xs, fs)
        stop = {key: str(val) for key, val in es.stop().items()}
        start = {"cma_seed": seed + 1 + k, "replay_error": replay(start_v).rms, "estimate": start_v, "stop": stop}
        if restarts > 1:  # the lowest start before the polish is not always the lowest after it
            start_v, start_f = polish(start_v, start_f)
            start.update(polished_estimate=start_v, polished_replay_error=replay(start_v).rms)
        starts.append(start)
        if start_f < best_f:
            best_f, best_v, polished = start_f, start_v, restarts > 1
    bar.close()
    est = dict(best_v) if polished else polish(dict(best_v), best_f)[0]
    sens = _sensitivity(replay, est, params, seed)
    after = replay(est)
    alike, spread = restart_spread(starts, est, after.rms, cont, replay.n_segments)
    accepted = set(getattr(replay.env, "params", ()))  # a user's task may take neither obs_noise_std nor obs_bias
    measured = {k: v for k, v in noise_and_bias(replay.env, logged).items() if k in accepted}
    boot: dict[str, Any] = {}
    if bootstrap and cont:
        boot = parametric_bootstrap(
            lambda data: Replay(data, horizon, stride, fixed),
            replay,
            logged,
            est,
            cont,
            sens["hessian"],
            measured,
            after.rms**2,
            bounds,
            bootstrap,
            seed,
            hessian_of=lambda rep, x: hessian_at(rep, x, cont, seed),
            rounds=newton_rounds,
        )
    minimum = dict(est)
    report: dict[str, Any] = {}
    for p in params:
        std = sens["std"].get(p, math.nan)
        b = boot.get("params", {}).get(p)
        if b is not None and math.isfinite(std):  # the twins' spread, and the correction's own uncertainty
            std = math.sqrt(max(std, b["std"]) ** 2 + b["bias_std"] ** 2)
            est[p] = min(max(b["corrected"], PRIOR[p][0]), PRIOR[p][1])
        if p in spread and math.isfinite(std):  # polished starts that fit as well lie this far away
            std = math.sqrt(std**2 + spread[p] ** 2)
        rel = std / est[p] if est[p] > 0 else math.inf
        seen = sens["rise"][p] >= IDENTIFIED or sens["rise_z"][p] >= IDENTIFIED_Z
        identified = seen and (p == "action_latency" or p in THRESHOLDS or rel <= MAX_REL_STD)
        report[p] = {
            "estimate": est[p],
            "std": std,
            "std_laplace": sens["std_laplace"].get(p, math.nan),
            "std_robust": sens["std_robust"].get(p, math.nan),
            "identifiability": sens["rise"][p],
            "identifiability_z": sens["rise_z"][p],
            "replay_error_minus": math.sqrt(sens["minus"][p]),
            "replay_error_plus": math.sqrt(sens["plus"][p]),
            "identified": bool(identified),
        }
        if b is not None:
            report[p].update(estimate_uncorrected=minimum[p], bootstrap_bias=b["bias"], std_bootstrap=b["std"])
        if p in spread:
            report[p]["std_restarts"] = spread[p]
    for p, v in measured.items():
        report[p] = {
            "estimate": v,
            "std": math.nan,
            "identifiability": math.nan,
            "identified": True,
            "measured": "kinematic consistency of position and velocity readings (see calibrate.noise_and_bias)",
        }
    if boot and "action_noise_std" in accepted:
        report["action_noise_std"] = {
            "estimate": boot["action_noise_std"],
            "std": math.nan,
            "identifiability": math.nan,
            "identified": True,
            "measured": "matched: the action noise at which the twins' replay error equals the data's (what the"
            " measured observation noise and bias leave of it, carried as process noise; see sim2real.data.bootstrap)",
        }
    for p, v in fixed.items():
        report[p] = {
            "estimate": v,
            "std": math.nan,
            "identifiability": math.nan,
            "identified": True,
            "measured": "read off the observations (median box half-extent reading / the model's)",
        }
    return {
        "task": task,
        "dataset": str(logged.path),
        "episodes": logged.episodes,
        "steps": logged.steps,
        "params": list(report),
        "estimate": {p: r["estimate"] for p, r in report.items()},
        "std": {p: r["std"] for p, r in report.items()},
        "identifiability": {p: r["identifiability"] for p, r in report.items()},
        "identified": {p: r["identified"] for p, r in report.items()},
        "correlation": sens["corr"],
        "identified_combinations": sens["combinations"],
        "flat_directions": sens["flat"],  # what the data cannot see (name the experiment that would: sim2real design)
        "parameters": report,
        "replay_error_before": before.rms,
        "replay_error_after": after.rms,  # at the minimum (before a bootstrap correction)
        "replay_error_corrected": replay(est).rms if boot else after.rms,
        "bootstrap": {
            "replicates": boot.get("replicates", 0),
            "twin": "each episode simulated whole at the estimate from its first reading under its logged actions,"
            " with the measured observation noise and bias and the matched action noise; refit by Newton rounds"
            " from the estimate as the data was (sim2real.data.bootstrap)",
            "twin_replay_error": boot.get("replay_error", []),  # each twin's, at its fit
            "data_replay_error": boot.get("data_replay_error", math.nan),  # the data's, at the estimate
            "twin_replay_error_without_action_noise": boot.get("twin_replay_error_without_action_noise", math.nan),
            "action_noise_std": boot.get("action_noise_std", math.nan),
            "estimates": boot.get("estimates", []),
        },
        # the sim-to-real gap of other parameter sets, measured the same way (values not given: nominal)
        "replay_error_of": {name: replay(values).rms for name, values in (profiles or {}).items()},
        "diverged_segments_after": after.diverged,
        "replay": {
            "horizon_steps": horizon,
            "stride_steps": stride,
            "segments": replay.n_segments,
            "compared_observations": list(replay.dims),
            "scales": [float(1.0 / x) for x in replay.inv_scale],
        },
        "optimiser": {
            "name": "grid (one parameter)" if single else f"CMA-ES (cma {cma.__version__})",
            "budget": budget,
            "seed": seed,
            "prior_weight": prior_weight,
            "newton_rounds": newton_rounds,
            "evaluations": replay.evaluations,
            "stop": [s["stop"] for s in starts] if starts else {"grid": str(budget)},
            "restarts": starts,  # each start's best point and replay error, before and (restarts > 1) after its polish
            "alike_starts": alike,  # indices into restarts: polished starts that fit as well as the estimate
            "alike_rule": f"segments x (start's mean squared error / the estimate's - 1) <= {len(cont)} (parameters)",
        },
        "identified_rule": (
            f"rise >= {IDENTIFIED:.0%} at +-20 % (or >= {IDENTIFIED_Z:g} standard errors over episodes) and marginal"
            f" std (max of Laplace and cluster-robust) <= {MAX_REL_STD:.0%} of estimate"
        ),
        "wall_s": time.perf_counter() - t0,
    }


def randomization_from(result: dict[str, Any], default: dict[str, list[float]]) -> dict[str, list[float]]:
    """A randomisation centred on the estimate: identified parameters within +-max(10 %, 2 std) (latency
    exactly); observation noise and bias from zero to 1.25 x their estimates; the others over the union of
    the ``default`` preset's range and +-25 % (or +-0.05) around the estimate; parameters not calibrated
    (action noise) keep the preset's range."""
    out = {k: [float(v[0]), float(v[1])] for k, v in default.items()}
    for p, r in result["parameters"].items():
        est = float(r["estimate"])
        if p in ("obs_noise_std", "obs_bias"):  # measured: from none up to 1.25 x the estimate
            out[p] = [0.0, round(1.25 * est, 5)]
            continue
        if p == "action_noise_std":  # matched (a lumped process noise): never narrower than the preset
            out[p] = [0.0, round(max(1.25 * est, out.get(p, [0.0, 0.0])[1]), 5)]
            continue
        if p == "action_latency":
            out[p] = [int(est), int(est)] if r["identified"] else [int(max(est - 1, 0)), int(est) + 1]
            continue
        linear = param_spec(p).kind != "scale"
        if r["identified"]:
            w = max(0.1 * est, 2 * r["std"]) if math.isfinite(r["std"]) else 0.1 * est
            if linear:
                w = max(w, 0.01)
            lo, hi = max(est - w, 0.0), est + w
        else:
            lo, hi = (max(est - 0.05, 0.0), est + 0.05) if linear else (est / 1.25, est * 1.25)
            if p in default:
                lo, hi = min(lo, default[p][0]), max(hi, default[p][1])
        lo, hi = max(lo, param_spec(p).low), min(hi, param_spec(p).high)
        out[p] = [round(float(lo), 4), round(float(hi), 4)]
    return out
