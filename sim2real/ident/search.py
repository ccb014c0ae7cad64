"""The least-squares search of calibration (``solver=lm``): starts, each a coarse CMA-ES and a local fit
(:func:`~sim2real.ident.lsq.lm_search`), then hops along the valley at two scales, the valley's length and the
estimate's own std (:func:`~sim2real.ident.lsq.valley_hops`, :func:`~sim2real.ident.lsq.sigma_hops`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from sim2real.ident import lsq
from sim2real.ident.cma_search import SCAN
from sim2real.ident.lsq import lm_search
from sim2real.ident.uncertainty import THRESHOLDS, chi2_rise
from sim2real.sim.dynamics import Values

START_BUDGET = 60  # solver=lm: replays of the coarse CMA-ES start
# searches, each from its own coarse start (the lowest is kept; one that stops elsewhere at an alike error widens
# the stds by their distance, uncertainty.restart_spread). One start alone can stop in a dimple of a rough, shallow
# valley and be sure of it (cov_b: gain 7 stds off); two starts were the default until the valley hops below did
# that job along the valley itself: on the development profiles hold_i, hold_g, cov_b and hold_h one start and
# the hops ended at or below the truth's replay error with every flag honest, in 142-235 s each where two starts
# without hops had taken 406-482 s and left hold_i 3.9 and 4.8 stds off (lab notes, 2026-12-05, fourth pass)
RESTARTS = 1
# solver=lm: then two polished hops this many search units either side of the best start along its softest seen
# direction (lsq.valley_hops), again from a hop that ends clearly lower, up to HOP_ROUNDS rounds: on hold_i both
# starts had stopped in one dimple of the gain-damping valley (replay error 0.222, the truth's 0.208); from one
# start the hops reached 0.220, then 0.209 (gain 0.91, damping 2.02; true 0.9, 2.0), then nothing lower
HOP = 1.0
HOP_ROUNDS = 4
# solver=lm: last, two polished hops this many of the best fit's own stds either side of it along its softest
# direction whose std is under HOP search units (lsq.sigma_hops), SIGMA_HOP_ITERATIONS solver iterations each: a
# dimple at the scale of the std, which a hop of a search unit overshoots (docs/benchmarks/polish_dev.txt,
# sigma_reach_dev.txt)
SIGMA_HOP = 1.0
SIGMA_HOP_ITERATIONS = 4


def multi_start(
    replay: Any,
    params: list[str],
    cont: list[str],
    nominal: Values,
    lam: float,
    start_budget: int,
    seed: int,
    restarts: int,
    hop: float = 0.0,
    sigma_hop: float = 0.0,
) -> tuple[lsq.Fit, dict[str, int], list[dict[str, Any]]]:
    """``restarts`` least-squares searches (:func:`~sim2real.ident.lsq.lm_search`), each from its own coarse
    CMA-ES start (seeds ``seed``, ``seed + 1``, ...); the one with the lowest objective is the estimate. A single
    local search can stop in a minimum that fits worse than the truth does, with a sharp Hessian there, and so be
    sure of a wrong answer; the other starts either find the lower minimum or, where they fit as well elsewhere,
    widen the stds (:func:`~sim2real.ident.uncertainty.restart_spread`). ``hop`` > 0 then polishes two more
    starts, ``hop`` search units either side of the best along its softest seen direction
    (:func:`~sim2real.ident.lsq.valley_hops`), and hops again from one that ends lower (at most
    :data:`HOP_ROUNDS` rounds); ``sigma_hop`` > 0 then polishes two more, ``sigma_hop`` of the best's own stds
    either side along its softest direction whose std is under ``hop`` search units, or :data:`HOP` where that is
    0 (:func:`~sim2real.ident.lsq.sigma_hops`). Every hop enters the choice like a
    start, and a valley hop the spread too (a sigma hop starts inside the std it would widen). Returns the best
    fit, the replays spent per phase (summed over starts and hops) and one record per start and hop."""
    thresholds = [p for p in params if p in THRESHOLDS]
    fits, spent, starts = [], {}, []

    def record(found: lsq.Fit, replays: int, **how: Any) -> None:
        fits.append(found)
        starts.append({
            **how,
            "polished_estimate": dict(found.values),
            "polished_replay_error": found.rms,
            "objective": lsq.objective(found, found.values, cont, lam),
            "replays": replays,
            "stop": found.status,
        })  # fmt: skip

    for k in range(restarts):
        mark = replay.evaluations
        found, used = lm_search(replay, params, cont, thresholds, nominal, lam, start_budget, seed + k, SCAN)
        for phase, n in used.items():
            spent[phase] = spent.get(phase, 0) + n
        record(found, replay.evaluations - mark, seed=seed + k)
    best = int(np.argmin([s["objective"] for s in starts]))
    mark = replay.evaluations
    segments = getattr(replay, "n_segments", 1)
    for round_ in range(HOP_ROUNDS):  # monotonic basin hopping: hop again from a clearly lower minimum, else stop
        before = starts[best]["objective"]
        for sign, found in zip((1, -1), lsq.valley_hops(replay, fits[best], cont, lam, hop), strict=False):
            record(found, found.replays, hop=sign * hop, hop_from=best, hop_round=round_)
        best = int(np.argmin([s["objective"] for s in starts]))
        if chi2_rise(before, starts[best]["objective"], segments) <= 1.0:  # not a chi-square unit lower
            break
    reach = hop if hop > 0 else HOP
    ends = lsq.sigma_hops(replay, fits[best], cont, lam, sigma_hop, reach, SIGMA_HOP_ITERATIONS)
    for sign, found in zip((1, -1), ends, strict=False):
        record(found, found.replays, sigma_hop=sign * sigma_hop, hop_from=best)
    best = int(np.argmin([s["objective"] for s in starts]))
    if len(fits) > restarts:
        spent["hops"] = replay.evaluations - mark
    if len(starts) == 1:  # one start: nothing to compare (restart_spread needs a polished start besides the estimate)
        starts = []
    return fits[best], spent, starts
