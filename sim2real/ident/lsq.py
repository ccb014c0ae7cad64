"""Calibration as nonlinear least squares: the replay residuals are a vector, so a Levenberg-Marquardt solver
(MuJoCo's own, ``mujoco.minimize.least_squares``, box-bounded to the search interval) converges in tens of
replays where CMA-ES spends hundreds. Jacobians are forward differences, all ``1 + P`` candidates of one in a
single batched replay (:class:`~sim2real.ident.rollout.BatchedReplay`). The Jacobian at the solution also gives
the Gauss-Newton Hessian and each segment's gradient, from which :mod:`sim2real.ident.uncertainty` builds the
Laplace and the episode-clustered sandwich covariances.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from mujoco import minimize

from sim2real.ident.space import PRIOR, _decode, _encode, cma_options, unit_scale
from sim2real.sim.dynamics import Values, param_spec

# forward-difference step in search units (7 % of a scale whose interval spans 10x). The replay error is rough at
# the scale of a few per cent (contact and friction events shift along a 30-step segment): a 0.5 % step (0.02)
# measured that roughness, and the solver stopped in a dimple. On cov_b (a development profile of
# benchmarks/identification_coverage.py) two starts stopped at replay errors 0.211 and 0.222 with step 0.02 and at
# 0.186 and 0.182 with step 0.3, the truth's being 0.183 (docs/benchmarks/identification_wide_step.txt).
STEP = 0.3
MAX_ITERATIONS = 10  # solver iterations (each: P Jacobian replays in one batch, then one or more trial replays)
XTOL = 1e-3  # stop when a step moves the parameters by less than this, relative (search units)
COARSE_EVERY = 2  # the coarse start replays every other episode (of 8 or more): half the cost, and it only has
# to find the basin that the least-squares fit on every episode then polishes
MU_FACTOR = 4.0  # damping change per step (MuJoCo's default, 1.26, spends many trial replays on a rough error)


@dataclass
class Fit:
    values: Values  # the estimate (every parameter of ``start``, the continuous ones fitted)
    rms: float  # its replay error
    jacobian: np.ndarray  # (residuals, P) d residual / d parameter (parameter units), prior rows excluded
    residuals: np.ndarray  # the replay residuals at the estimate
    replays: int  # replays spent
    iterations: int
    status: str


class _Problem:
    """Residuals and their batched forward-difference Jacobian in search units, with a cache so that the point a
    Jacobian is taken at is not replayed twice."""

    def __init__(self, replay: Any, start: Values, cont: list[str], lam: float, nominal: np.ndarray) -> None:
        self.replay, self.start, self.cont = replay, dict(start), cont
        self.sqrt_lam, self.nominal = float(np.sqrt(max(lam, 0.0))), nominal
        self.cache: dict[bytes, np.ndarray] = {}
        self.replays = 0

    def values(self, x: np.ndarray) -> Values:
        return {**self.start, **{p: _decode(p, float(xi)) for p, xi in zip(self.cont, x, strict=True)}}

    def _prior(self, x: np.ndarray) -> np.ndarray:
        return self.sqrt_lam * np.clip(x - self.nominal, -10, 10)

    def _replay(self, xs: list[np.ndarray]) -> list[np.ndarray]:
        todo = [x for x in xs if x.tobytes() not in self.cache]
        if todo:
            self.replays += len(todo)
            for x, err in zip(todo, self.replay.batch([self.values(x) for x in todo]), strict=True):
                self.cache[x.tobytes()] = err.residuals
        return [self.cache[x.tobytes()] for x in xs]

    def fun(self, x: np.ndarray) -> np.ndarray:
        """Residuals (replay rows, then prior rows) of one point (n,) or of points (n, k) as columns (m, k)."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 1:
            return np.concatenate([self._replay([x])[0], self._prior(x)])
        cols = [np.ascontiguousarray(c) for c in x.T]
        return np.stack([np.concatenate([r, self._prior(c)]) for r, c in zip(self._replay(cols), cols, strict=True)], 1)

    def jac(self, x: np.ndarray, r: np.ndarray | None = None) -> np.ndarray:
        """Forward differences, every probe in one batch (stepping inward at the upper bound)."""
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        steps = [STEP if xi + STEP <= 10.0 else -STEP for xi in x]
        probes = [x + s * np.eye(len(x))[i] for i, s in enumerate(steps)]
        base, *cols = self._replay([x, *probes])
        jr = np.stack([(c - base) / s for c, s in zip(cols, steps, strict=True)], axis=1)
        return np.concatenate([jr, self.sqrt_lam * np.eye(len(x))])


def fit(
    replay: Any,
    start: Values,
    cont: list[str],
    lam: float = 0.0,
    max_iterations: int = MAX_ITERATIONS,
) -> Fit:
    """Least-squares fit of ``cont`` from ``start`` (the other parameters held at ``start``'s values): minimises
    the mean squared replay error plus ``lam`` per squared search unit away from nominal."""
    nominal = np.array([_encode(p, _nominal(p)) for p in cont])
    prob = _Problem(replay, start, cont, lam, nominal)
    if not cont:
        err = replay(start)
        return Fit(dict(start), err.rms, np.zeros((len(err.residuals), 0)), err.residuals, 1, 0, "nothing to fit")
    x0 = np.clip([_encode(p, start[p]) for p in cont], 0.0, 10.0)
    x, trace = minimize.least_squares(
        x0,
        prob.fun,
        bounds=(np.zeros(len(cont)), np.full(len(cont), 10.0)),
        jacobian=prob.jac,
        xtol=XTOL,
        gtol=1e-10,
        mu_factor=MU_FACTOR,
        max_iter=max_iterations,
        verbose=minimize.Verbosity.SILENT,
    )
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    est = prob.values(x)
    jac = prob.jac(x)[: -len(cont)]  # the replay rows, in search units
    residuals = prob.fun(x)[: -len(cont)]
    per_unit = np.array([unit_scale(p, est[p]) for p in cont])
    return Fit(
        values=est,
        rms=float(np.sqrt(residuals @ residuals)),
        jacobian=jac / per_unit[None, :],
        residuals=residuals,
        replays=prob.replays,
        iterations=len(trace),
        status=f"{len(trace)} iterations (mujoco.minimize.least_squares)",
    )


def softest_seen(
    found: Fit, cont: list[str], hop: float, n_segments: int, allowance: float | None = None
) -> tuple[np.ndarray, float] | None:
    """The principal direction (unit vector, search units) of ``found``'s Gauss-Newton Hessian with the least
    curvature among those the data sees at a ``hop``-unit move: a move that raises the mean squared error by more
    than ``allowance`` chi-square units (``allowance`` / ``n_segments`` of it; by default ``len(cont)``, the alike
    allowance of :func:`~sim2real.ident.uncertainty.restart_spread`). Along a flatter direction the whole hop is
    alike, and the Laplace std already spans it. ``allowance=1``: the directions along which one std is shorter
    than ``hop``. Returns the direction and its curvature (the rise of the mean squared error per squared search
    unit along it), or None when no direction qualifies."""
    if not cont or found.rms <= 0:
        return None
    per_unit = np.array([unit_scale(p, found.values[p]) for p in cont])
    js = found.jacobian * per_unit[None, :]
    if not np.isfinite(js).all():
        return None
    lam, vec = np.linalg.eigh(js.T @ js)  # rise of the mean squared error per squared search unit, per direction
    allowance = len(cont) if allowance is None else allowance
    seen = lam * hop**2 > found.rms**2 * allowance / max(n_segments, 1)
    if not seen.any():
        return None
    i = int(np.flatnonzero(seen)[0])
    return vec[:, i], float(lam[i])


def valley_hops(
    replay: Any, found: Fit, cont: list[str], lam: float, hop: float, max_iterations: int = MAX_ITERATIONS
) -> list[Fit]:
    """Least-squares fits started ``hop`` search units either side of ``found``'s estimate along its softest
    seen direction (:func:`softest_seen`): a basin hop along the valley. Two parameters that trade against
    each other (gain and damping, both setting the steady speed) make a long, rough valley; the local solver
    stops in the first dimple it meets and its curvature there is sharp. On hold_i (first held-out set of
    ``benchmarks/identification_coverage.py``) both starts stopped 0.6 search units from the truth along that
    valley, gain 3.9 and damping 4.8 of their stds off, with the truth fitting 7 % better. A hop that polishes
    to a lower minimum replaces the estimate; one that fits as well elsewhere widens the stds
    (:func:`~sim2real.ident.uncertainty.restart_spread`). No hops with fewer than two parameters: a valley is two
    parameters trading (and a single one's slow replay, the Panda payload's 9 s, would pay two more fits)."""
    if len(cont) < 2 or hop <= 0:
        return []
    seen = softest_seen(found, cont, hop, getattr(replay, "n_segments", 1))
    return [] if seen is None else _polish_either_side(replay, found, cont, lam, seen[0] * hop, max_iterations)


def sigma_hops(
    replay: Any, found: Fit, cont: list[str], lam: float, sigmas: float, reach: float, max_iterations: int
) -> list[Fit]:
    """Least-squares fits started ``sigmas`` of ``found``'s own stds either side of its estimate, along its
    softest direction whose std is shorter than ``reach`` search units (:func:`softest_seen` at one chi-square
    unit): the move at which the Gauss-Newton model of the error rises by ``sigmas``^2 chi-square units. The
    replay error is rough at the scale of the estimate's std (contact and friction events shift along a segment),
    and the solver stops in a dimple of it: on the development profiles hold_g and hold_i a fit started at the
    truth ended 1.41 and 1.17 chi-square units lower, 0.30 and 0.11 search units away, where a valley hop of 1.0
    (or 0.5, or 2.0) overshoots (``docs/benchmarks/polish_dev.txt``). Until 2026-12-05 the direction had to be
    seen at ``len(cont)`` chi-square units, as the valley hops' is, which left directions with stds of 0.5-1 unit
    to neither (``docs/benchmarks/sigma_reach_dev.txt``). No hops with fewer than two parameters, as for
    :func:`valley_hops`."""
    if len(cont) < 2 or sigmas <= 0:
        return []
    n_segments = getattr(replay, "n_segments", 1)
    seen = softest_seen(found, cont, reach, n_segments, allowance=1.0)
    if seen is None:
        return []
    v, curvature = seen
    length = sigmas * found.rms / np.sqrt(max(n_segments, 1) * curvature)
    return _polish_either_side(replay, found, cont, lam, v * length, max_iterations)


def _polish_either_side(
    replay: Any, found: Fit, cont: list[str], lam: float, move: np.ndarray, max_iterations: int
) -> list[Fit]:
    """Least-squares fits started at ``found``'s estimate plus and minus ``move`` (search units)."""
    x = np.array([_encode(p, found.values[p]) for p in cont])
    out = []
    for sign in (1.0, -1.0):
        xs = np.clip(x + sign * move, 0.0, 10.0)
        start = {**found.values, **{p: _decode(p, float(xi)) for p, xi in zip(cont, xs, strict=True)}}
        out.append(fit(replay, start, cont, lam, max_iterations))
    return out


def chord_fit(replay: Any, data_fit: Fit, cont: list[str], lam: float, iterations: int) -> tuple[Values, float] | None:
    """Gauss-Newton steps from ``data_fit``'s estimate on ``replay`` (a bootstrap twin of the data) with the data's
    Jacobian held fixed (a chord method): the twin's residuals at the estimate, then up to ``iterations`` steps,
    each one replay (a step that does not lower the objective is halved once, else the fit stops). A twin is
    simulated at the estimate along the data's own actions, so its sensitivities are the data's up to noise;
    a fresh Jacobian per twin (``1 + P`` replays an iteration) bought nothing on ``navigate_v1`` but its cost.
    Returns the values and their mean squared replay error, or None when the twin's residuals are not laid out
    as the data's (an episode that blew up ended early): then refit it with :func:`fit`."""
    if len(data_fit.residuals) != int(np.sum(replay.lengths)) * len(replay.dims) or not cont:
        return None
    start = data_fit.values
    nominal = np.array([_encode(p, _nominal(p)) for p in cont])
    prob = _Problem(replay, start, cont, lam, nominal)
    per_unit = np.array([unit_scale(p, start[p]) for p in cont])
    jac = np.concatenate([data_fit.jacobian * per_unit[None, :], prob.sqrt_lam * np.eye(len(cont))])
    x = np.clip([_encode(p, start[p]) for p in cont], 0.0, 10.0)
    r = prob.fun(x)
    if len(r) != len(jac):
        return None
    for _ in range(iterations):
        dx = np.linalg.lstsq(jac, -r, rcond=1e-6)[0]
        for alpha in (1.0, 0.5):
            xn = np.clip(x + alpha * dx, 0.0, 10.0)
            rn = prob.fun(xn)
            if rn @ rn < r @ r:
                break
        else:
            break
        x, r = xn, rn
    replayed = r[: -len(cont)]
    return prob.values(x), float(replayed @ replayed)


def gauss_newton(fit_: Fit, segment_of: np.ndarray, n_segments: int) -> tuple[np.ndarray, np.ndarray]:
    """The Gauss-Newton Hessian (P, P) of the mean squared replay error and each segment's gradient of its own
    error (P, segments), in parameter units, from a fit's Jacobian and residuals (``segment_of``: the segment of
    each residual)."""
    j, r = fit_.jacobian, fit_.residuals
    hess = 2.0 * j.T @ j
    grads = np.zeros((j.shape[1], n_segments))
    np.add.at(grads.T, segment_of, 2.0 * n_segments * j * r[:, None])
    return hess, grads


def _nominal(name: str) -> float:
    return float(param_spec(name).nominal)


def objective(err: Any, values: Values, cont: list[str], lam: float) -> float:
    """The calibration objective: mean squared replay error plus ``lam`` per squared search unit from nominal
    (``err``: anything with the replay error ``rms``, a :class:`ReplayError` or a :class:`Fit`)."""
    dx = np.clip([_encode(p, values[p]) - _encode(p, _nominal(p)) for p in cont], -10, 10)
    return float(err.rms**2 + lam * float(dx @ dx))


def has_coarse_start(params: list[str], budget: int) -> bool:
    """Whether :func:`coarse_start` searches (else it returns its start: every start of a search is the same)."""
    return budget > 0 and len(params) >= 2


def coarse_start(replay: Any, params: list[str], start: Values, budget: int, seed: int, lam: float) -> Values:
    """A small CMA-ES over every parameter (latency as an integer coordinate) from ``start``: ``budget`` replays,
    each generation one batch; the global start that the local solver then refines (0: ``start``)."""
    if not has_coarse_start(params, budget):
        return dict(start)
    import cma

    cont = [p for p in params if p != "action_latency"]
    es = cma.CMAEvolutionStrategy([_encode(p, start[p]) for p in params], 1.0, cma_options(params, seed, budget))
    best, best_f = dict(start), objective(replay(start), start, cont, lam)
    while not es.stop():
        xs = es.ask()
        cands = [{**start, **{p: _decode(p, float(xi)) for p, xi in zip(params, x, strict=True)}} for x in xs]
        fs = [objective(e, v, cont, lam) for e, v in zip(replay.batch(cands), cands, strict=True)]
        es.tell(xs, fs)
        i = int(np.argmin(fs))
        if fs[i] < best_f:
            best, best_f = cands[i], fs[i]
    return best


def scan(replay: Any, est: Values, name: str, grid: list[float], cont: list[str], lam: float) -> tuple[Values, bool]:
    """``est`` with ``name`` set to the best of ``grid`` (one batched replay of every point); whether it moved."""
    cands = [{**est, name: float(g)} for g in grid]
    fs = [objective(e, v, cont, lam) for e, v in zip(replay.batch([est, *cands]), [est, *cands], strict=True)]
    i = int(np.argmin(fs))
    return (dict(est), False) if i == 0 or fs[i] >= fs[0] else (cands[i - 1], True)


def lm_search(
    replay: Any,
    params: list[str],
    cont: list[str],
    thresholds: list[str],
    nominal: Values,
    lam: float,
    start_budget: int,
    seed: int,
    scan_points: int,
    max_iterations: int = MAX_ITERATIONS,
) -> tuple[Fit, dict[str, Any]]:
    """A coarse global start (on every :data:`COARSE_EVERY`-th episode, ``replay.thinned``, where the replay has
    it), then rounds of: scans of the integer latency (every value of its interval, then +-1) and of the
    threshold parameters (the deadzone: ``scan_points`` + 1 values over its interval, where the error is a
    staircase no derivative sees), then the least-squares fit of ``cont``, until a round's scans move nothing
    (at most three). Returns the fit and what each phase spent (replays)."""
    before = replay.evaluations
    thin = has_coarse_start(params, start_budget) and hasattr(replay, "thinned")
    thin = thin and len(replay.actions) >= 4 * COARSE_EVERY
    coarse = replay.thinned(COARSE_EVERY) if thin else replay
    est = coarse_start(coarse, params, nominal, start_budget, seed, lam)
    if coarse is not replay:  # its replays and steps are the calibration's
        replay.evaluations += coarse.evaluations
        replay.steps += coarse.steps
    spent = {"start": replay.evaluations - before}
    result: Fit | None = None
    for round_ in range(3):
        mark = replay.evaluations
        moved = False
        if "action_latency" in params:
            lo, hi = PRIOR["action_latency"]
            grid = (
                range(int(lo), int(hi) + 1) if round_ == 0 else (est["action_latency"] - 1, est["action_latency"] + 1)
            )
            est, m = scan(replay, est, "action_latency", [g for g in grid if lo <= g <= hi], cont, lam)
            moved |= m
        for p in thresholds:  # every third point of the interval first, then the neighbours of the best
            lo, hi = PRIOR[p]
            step = (hi - lo) / scan_points
            grid = np.linspace(lo, hi, scan_points // 3 + 1) if round_ == 0 else est[p] + step * np.arange(-2, 3)
            est, m = scan(replay, est, p, [float(g) for g in grid if lo <= g <= hi and g != est[p]], cont, lam)
            moved |= m
        spent["scans"] = spent.get("scans", 0) + replay.evaluations - mark
        if result is not None and not moved:
            break
        mark = replay.evaluations
        result = fit(replay, est, cont, lam, max_iterations)
        spent["solver"] = spent.get("solver", 0) + replay.evaluations - mark
        est = result.values
    return result if result is not None else fit(replay, est, cont, lam, max_iterations), spent
