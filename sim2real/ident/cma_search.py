"""The CMA-ES search of calibration (``solver=cma``, the method before the least-squares solver): CMA-ES from
nominal (``restarts`` runs, each with its own seed), a threshold scan, a pattern search and Newton rounds with a
response-surface Hessian; one parameter is searched on a grid. Kept as an option beside
:func:`sim2real.ident.lsq.lm_search`, on the same data side by side (``benchmarks/calibration_speed.py``)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from sim2real.ident.bootstrap import curved_inverse, newton_refit
from sim2real.ident.space import PRIOR, _decode, _encode, cma_options
from sim2real.ident.uncertainty import THRESHOLDS, hessian_at
from sim2real.sim.dynamics import Values, param_spec

SCAN = 30  # deadzone scan: steps over its prior range (0.01 apart for 0-0.3)


def cma_search(
    replay: Any,
    params: list[str],
    nominal: Values,
    lam: float,
    budget: int,
    seed: int,
    restarts: int,
    newton_rounds: int,
) -> tuple[Values, list[dict[str, Any]], str]:
    """The estimate, every start's record, and the optimiser's name."""
    x0 = np.array([_encode(p, nominal[p]) for p in params])
    cont_mask = np.array([p != "action_latency" for p in params])

    def objective(x: np.ndarray) -> tuple[float, Values]:
        v = {p: _decode(p, xi) for p, xi in zip(params, x, strict=True)}
        dx = (np.asarray(x) - x0)[cont_mask]
        return replay(v).rms ** 2 + lam * float(np.clip(dx, -10, 10) @ np.clip(dx, -10, 10)), v

    import cma

    opts = cma_options(params, seed, budget)
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
    return est, starts, "grid (one parameter)" if single else f"CMA-ES (cma {cma.__version__})"
