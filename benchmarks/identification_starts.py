"""Where do least-squares starts end on one dataset, and how well does the truth itself fit?

For a dataset of the identification coverage benchmark (``benchmarks/identification_coverage.py``, which keeps
``runs/bench/identification_coverage/<profile>/data``), runs ``calibrate``'s least-squares search
(:func:`sim2real.ident.lsq.lm_search`: a coarse CMA-ES start, the scans, least squares) from each seed and
prints the minimum it ends in, its replay error and its cost, beside the replay error of the true values (read
from the benchmark's profile table here only, to score). A start that ends above the truth's error stopped in a
local minimum; several such starts in different places say a multi-start alone will not find the truth.

    .venv/bin/python benchmarks/identification_starts.py --profile cov_b --seeds 0 1 2 3
    .venv/bin/python benchmarks/identification_starts.py --profile cov_b --seeds 0 1 --step 0.02   # the step before
    .venv/bin/python benchmarks/identification_starts.py --profile hold_i --seeds 0 --hops 1 0.5 2   # valley hops
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from identification_coverage import ALL as PROFILES  # noqa: E402

from sim2real.data.datasets import read  # noqa: E402
from sim2real.ident import lsq  # noqa: E402
from sim2real.ident.cma_search import SCAN  # noqa: E402
from sim2real.ident.lsq import lm_search  # noqa: E402
from sim2real.ident.rollout import BatchedReplay  # noqa: E402
from sim2real.ident.uncertainty import THRESHOLDS  # noqa: E402
from sim2real.sim.dynamics import param_spec  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="cov_b", choices=sorted(PROFILES))
    ap.add_argument("--root", type=Path, default=ROOT / "runs/bench/identification_coverage")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    ap.add_argument("--horizon", type=int, default=30, help="the coverage benchmark's horizon and stride")
    ap.add_argument("--start-budget", type=int, default=60)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--step", type=float, default=lsq.STEP, help="the solver's forward-difference step (search units)")
    ap.add_argument("--hops", type=float, nargs="*", default=[], help="valley hop sizes to try from each start's end")
    ap.add_argument("--hop-rounds", type=int, default=5, help="rounds of hops, each from the lowest end so far")
    args = ap.parse_args()
    lsq.STEP = args.step
    truth, params = PROFILES[args.profile]
    data = args.root / args.profile / "data" / f"navigate_v1-{args.profile}-v0"
    if not data.is_dir():
        sys.exit(f"error: {data} is missing; run benchmarks/identification_coverage.py first")
    logged = read(data, "navigate_v1")
    rep = BatchedReplay(logged, args.horizon, args.horizon, threads=args.threads)
    cont = [p for p in params if p != "action_latency" and p not in THRESHOLDS]
    nominal = {p: param_spec(p).nominal for p in params}
    lam = 1e-5 * rep(nominal).rms ** 2  # calibrate's default prior weight
    true = {p: truth.get(p, param_spec(p).nominal) for p in params}
    print(f"{args.profile} (step {lsq.STEP:g}): {logged.episodes} episodes, {rep.n_segments} segments of "
          f"{args.horizon} steps; "
          f"replay error at the truth {rep(true).rms:.4f}")  # fmt: skip
    print("truth: " + ", ".join(f"{p} {v:g}" for p, v in true.items()))
    for seed in args.seeds:
        t0, mark = time.perf_counter(), rep.evaluations
        fit, _ = lm_search(rep, params, cont, [p for p in params if p in THRESHOLDS], nominal, lam,
                           args.start_budget, seed, SCAN)  # fmt: skip
        values = ", ".join(f"{p} {fit.values[p]:.3f}" for p in params)
        print(f"seed {seed}: replay error {fit.rms:.4f}; {values}; {rep.evaluations - mark} replays, "
              f"{time.perf_counter() - t0:.0f} s", flush=True)  # fmt: skip
        for hop in args.hops:  # rounds of valley hops from this start's end, each from the lowest so far
            best, t0, mark = fit, time.perf_counter(), rep.evaluations
            for round_ in range(args.hop_rounds):
                ends = lsq.valley_hops(rep, best, cont, lam, hop)
                print(f"  hop {hop:g}, round {round_}: " + " | ".join(_fmt(h, cont) for h in ends))
                if not ends or min(h.rms for h in ends) >= best.rms:
                    break
                best = min(ends, key=lambda h: h.rms)
            print(f"  hop {hop:g}: lowest {_fmt(best, cont)}; {rep.evaluations - mark} replays, "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)  # fmt: skip


def _fmt(fit: lsq.Fit, cont: list[str]) -> str:
    return f"{fit.rms:.4f} (" + ", ".join(f"{p} {fit.values[p]:.3f}" for p in cont) + ")"


if __name__ == "__main__":
    main()
