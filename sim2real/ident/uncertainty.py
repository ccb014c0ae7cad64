"""Sensitivity probes, covariances and identifiability flags of a calibration estimate.

Axis probes (+-20 %) say whether the data sees a parameter at all; a response-surface Hessian of the mean
squared replay error gives the Laplace covariance (segments independent, the model right) and, with each
segment's gradient, the cluster-robust sandwich (episodes as the independent units, whatever the model leaves
out); principal directions name the combinations the data pins down and the ones it cannot see.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from sim2real.ident.bootstrap import curved_inverse
from sim2real.ident.replay import Replay
from sim2real.ident.space import PRIOR
from sim2real.sim.dynamics import Values, param_spec

IDENTIFIED = 0.05  # identified: moving it +-20 % raises the replay error by >= 5 % ...
IDENTIFIED_Z = 3.0  # ... or by >= 3 standard errors over the episodes (a small effect the data sees clearly) ...
MAX_REL_STD = 0.05  # ... and its marginal std (other parameters free) is <= 5 % of the estimate: two stds within 10 %
# (calibrate identified_rel_std; 0.10 before 2026-12-05, docs/benchmarks/flag_rel_std_dev.txt)
THRESHOLDS = ("actuator_deadzone",)  # the error is a staircase in these: scanned, no Hessian; std from the profile


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
    extra = list(rng.uniform(-1.0, 1.0, size=(1 + d + d * (d + 1) // 2, d)))
    cands = [{**est, **{p: max(est[p] + u[i] * h[p], 0.0) for i, p in enumerate(cont)}} for u in extra]
    pts += extra
    vals += [e.segments for e in replay.batch(cands)]
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
    errs = replay.batch(
        [values] + [{**values, p: v} for p in cont for v in (values[p] + h[p], max(values[p] - h[p], 0.0))]
    )
    up = {p: errs[1 + 2 * i].segments for i, p in enumerate(cont)}
    down = {p: errs[2 + 2 * i].segments for i, p in enumerate(cont)}
    return _response_surface(replay, values, cont, h, errs[0].segments, up, down, seed)[0]


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


def episode_z(before: np.ndarray, after: np.ndarray, episode_of: np.ndarray) -> float:
    """How many standard errors over episodes ``after`` (per-segment errors) lies below ``before``: the mean over
    episodes of each episode's mean drop, over its standard error (episodes as the independent units)."""
    drop = before - after
    per = np.array([drop[episode_of == e].mean() for e in np.unique(episode_of)])
    if len(per) < 2:
        return math.nan
    se = float(per.std(ddof=1)) / math.sqrt(len(per))
    m = float(per.mean())
    return m / se if se > 0 else (math.copysign(math.inf, m) if m else 0.0)


def _paired_z(at: np.ndarray, probes: list[np.ndarray], clusters: np.ndarray) -> float:
    """How significantly the probes raise the replay error over the estimate's (the probes averaged)."""
    return episode_z(np.mean(probes, axis=0), at, clusters) if probes else math.nan


def _sensitivity(
    replay: Replay,
    est: Values,
    names: list[str],
    seed: int = 0,
    surface: tuple[np.ndarray, np.ndarray] | None = None,
    rel_std: float = MAX_REL_STD,
) -> dict[str, Any]:
    """Axis probes (+-20 %, one batched replay) and a Hessian of the mean squared replay error in the continuous
    parameters; their marginal standard deviations, the larger of the Laplace approximation's (segments as
    independent samples, the model right) and the cluster-robust one's (:func:`cluster_covariance`: episodes as
    the independent units, whatever the model leaves out). A flat direction shared by parameters (e.g. gain and
    mass scaled together) shows up as large marginal stds although each axis probe alone moves the error.
    ``surface``: the Hessian and per-segment gradients already known (the least-squares solver's Gauss-Newton
    ones, :func:`sim2real.ident.lsq.gauss_newton`); else a response-surface fit measures them. ``rel_std``: the
    largest std (log units) of a combination reported as identified."""
    cont = [p for p in names if p != "action_latency" and p not in THRESHOLDS]
    h = {p: _step(p, est[p]) for p in cont}
    probes: list[tuple[str, str, Values]] = []
    for p in names:
        if p == "action_latency":
            lat = est[p]
            if lat >= 1:
                probes.append((p, "down", {**est, p: lat - 1}))
            probes.append((p, "up", {**est, p: lat + 1}))
            continue
        step = h.get(p) or _step(p, est[p])  # thresholds are probed but not in h
        probes += [(p, "up", {**est, p: est[p] + step}), (p, "down", {**est, p: max(est[p] - step, 0.0)})]
    errs = replay.batch([est] + [v for _, _, v in probes])
    at = errs[0].segments
    base = float(at.mean())
    up: dict[str, Any] = {}
    down: dict[str, Any] = {p: None for p in names}  # per-segment errors at the probes
    for (p, side, _), e in zip(probes, errs[1:], strict=True):
        (up if side == "up" else down)[p] = e.segments
    d = len(cont)
    # Laplace and cluster-robust covariances over the curved directions; a flat or downhill direction
    # (eigenvalue <= 1e-6 of the largest) leaves every parameter that loads on it unbounded.
    laplace, robust, unbounded = np.zeros((d, d)), np.zeros((d, d)), np.zeros(d, bool)
    hess = np.zeros((0, 0))
    if d:
        if surface is not None:
            hess, grads = surface
        else:
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
    combos = _identified_directions(hess, laplace, robust, cont, est, rel_std=rel_std) if d else []
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


def sysid_std(jacobian: np.ndarray, residuals: np.ndarray, cont: list[str]) -> dict[str, float]:
    """Each parameter's std as MuJoCo's system-identification toolbox reports it
    (``mujoco.sysid.calculate_intervals``: the residual variance times ``(J'J)^-1``, every residual entry an
    independent measurement), from a least-squares fit's Jacobian (residuals x parameters, parameter units) and
    residuals at the estimate: its 95 % half-width over Student's t quantile. Reported beside the Laplace,
    cluster-robust and bootstrap stds, never used to flag: a replayed segment's entries are not independent (its
    error grows along the segment), so this std is narrower than the segment-level Laplace one (12x on
    ``navigate_v1`` segments of 30 steps at commit 17328f4: ``docs/lab_notes.md``)."""
    if not cont or jacobian.size == 0:
        return {}
    from mujoco.sysid import calculate_intervals  # mujoco[sysid]
    from scipy.special import stdtrit

    _, half = calculate_intervals([residuals], jacobian)
    t = float(stdtrit(residuals.size - jacobian.shape[1], 0.975))
    return {p: float(h) / t for p, h in zip(cont, half, strict=True)}


def chi2_rise(mean_sq: float, best_mean_sq: float, n_segments: int) -> float:
    """How far a mean squared replay error lies above the best one, in chi-square units (Laplace approximation,
    segments independent, the residual variance the best fit's): ``n_segments x (mean_sq / best_mean_sq - 1)``."""
    return n_segments * (mean_sq / max(best_mean_sq, 1e-300) - 1.0)


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
    (``restarts=1``) are never alike, nor are the sigma hops' ends (``sigma_hop`` in the record,
    :func:`~sim2real.ident.lsq.sigma_hops`): they start inside the Laplace std by design, so their ends measure
    nothing it does not already span (the one that became the estimate is the estimate). Returns ``(indices of
    the alike starts, {parameter: spread})`` (the spread is 0 with no alike start)."""
    polished = [(i, s) for i, s in enumerate(starts) if "polished_replay_error" in s and "sigma_hop" not in s]
    if not polished or not cont:
        return [], {}
    best = error**2
    alike = [
        i
        for i, s in polished
        if chi2_rise(s["polished_replay_error"] ** 2, best, n_segments) <= len(cont)
        and any(s["polished_estimate"][p] != est[p] for p in cont)  # not the estimate itself
    ]
    spread = {
        p: float(np.sqrt(np.mean([(starts[i]["polished_estimate"][p] - est[p]) ** 2 for i in alike]))) if alike else 0.0
        for p in cont
    }
    return alike, spread


PROFILE_REACH = 4  # grid steps either side of a threshold's estimate replayed per batch of its profile


def threshold_std(
    replay: Replay, est: Values, name: str, step: float, best: float | None = None
) -> tuple[float, float, tuple[float, float]]:
    """A std for a threshold parameter (the deadzone) from the profile of its replay error, the others held at
    the estimate: the grid points ``step`` apart either side of ``est`` whose error lies within one unit of
    chi-square (segments independent, as for :func:`restart_spread`) of the estimate's, ``n_segments x (error^2
    / best^2 - 1) <= 1``, followed outward from the estimate (:data:`PROFILE_REACH` points a side per batched
    replay) until a point lies outside or the search interval ends. The std is the longer side's half-width,
    combined with the grid's own resolution (``step / sqrt(12)``). The error is a staircase in a threshold, so
    no derivative gives a curvature; this is the likelihood-ratio interval instead. It is never cut short by a
    window: on the ``navigate_v1`` ``real`` logs a four-step window ended inside and reported 0.040 where the
    run is 0.050 long. ``best``: the estimate's mean squared replay error where the caller has it (else it is
    replayed). Returns ``(std, half-width, (low, high))``, the interval's last points inside; an end at the
    search interval's means the prior, not the data, bounds that side."""
    lo, hi = PRIOR[name]
    x0 = est[name]

    def on_grid(k: int) -> bool:
        return lo - 1e-12 <= x0 + k * step <= hi + 1e-12

    def batch(ks: list[int]) -> list[float]:
        return [e.rms**2 for e in replay.batch([{**est, name: x0 + k * step} for k in ks])]

    first = [k for k in range(-PROFILE_REACH, PROFILE_REACH + 1) if (k == 0 and best is None) or (k and on_grid(k))]
    sq = dict(zip(first, batch(first), strict=True))  # one batch, as a rule
    best = sq.pop(0) if best is None else best
    last = {}
    for direction in (1, -1):
        k = 0
        while on_grid(k + direction):
            ks = [k + direction * i for i in range(1, PROFILE_REACH + 1) if on_grid(k + direction * i)]
            todo = [j for j in ks if j not in sq]
            sq.update(zip(todo, batch(todo), strict=True) if todo else ())
            outside = next((j for j in ks if chi2_rise(sq[j], best, replay.n_segments) > 1.0), None)
            if outside is not None:
                k = outside - direction
                break
            k = ks[-1]
        last[direction] = k
    width = max(abs(k) for k in last.values()) * step
    interval = (x0 + last[-1] * step, x0 + last[1] * step)
    return float(np.sqrt(width**2 + step**2 / 12.0)), float(width), interval


FLAT = 0.5  # a principal direction whose Laplace std (log units) exceeds this is one the data cannot see


def _identified_directions(
    hess: np.ndarray,
    laplace: np.ndarray,
    robust: np.ndarray,
    cont: list[str],
    est: Values,
    flat: bool = False,
    rel_std: float = MAX_REL_STD,
) -> list[dict]:
    """The combinations of parameters the data pins down even when the parameters alone are not: principal
    directions of the Hessian in log-parameters (scales) whose std (the larger of the Laplace and the
    cluster-robust one) is at most ``rel_std``, e.g. ``log actuator_gain_scale - log mass_scale`` when gain and mass are
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
        if flat != (std > FLAT) or (not flat and std > rel_std):
            continue
        v = vec[:, k] * np.sign(vec[np.argmax(np.abs(vec[:, k])), k])
        terms = {
            (f"log {p}" if param_spec(p).kind == "scale" else p): round(float(c), 2)
            for p, c in zip(cont, v, strict=True)
            if abs(c) > 0.15
        }
        out.append({"direction": terms, "std": std})
    return out
