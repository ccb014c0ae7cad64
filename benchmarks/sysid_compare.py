"""MuJoCo's own system-identification toolbox beside ``sim2real calibrate``, on the same logs.

``mujoco.sysid.optimize`` (its default backend, ``mujoco.minimize.least_squares`` with its own forward-difference
Jacobian, from nominal) and ``mujoco.sysid.calculate_intervals`` run on the very residuals that ``calibrate``
minimises (one :class:`~sim2real.ident.rollout.BatchedReplay` of the logs, batched candidates included), over
the continuous parameters; sysid has no integer or staircase parameter, so latency and deadzone are held at
``calibrate``'s estimates (an advantage to sysid). Beside it, ``calibrate`` with its defaults (two starts, no
bootstrap). Prints each one's estimate, std (sysid: its 95 % half-width over Student's t), the replay error,
the replays and the wall-clock, and the truth of the development profile (read here only, to score).

    .venv/bin/python benchmarks/sysid_compare.py --profile cov_b
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from identification_coverage import PROFILES  # noqa: E402

from sim2real.data.datasets import read  # noqa: E402
from sim2real.ident.calibrate import calibrate  # noqa: E402
from sim2real.ident.rollout import BatchedReplay  # noqa: E402
from sim2real.ident.space import PRIOR  # noqa: E402
from sim2real.ident.uncertainty import THRESHOLDS, sysid_std  # noqa: E402
from sim2real.sim.dynamics import param_spec  # noqa: E402


def by_sysid(rep: BatchedReplay, cont: list[str], held: dict[str, float], max_iters: int) -> dict:
    """``mujoco.sysid.optimize`` from nominal on ``rep``'s residuals; its estimate, intervals and cost."""
    from mujoco import sysid

    mark = rep.evaluations
    pd = sysid.ParameterDict()
    for p in cont:
        pd.add(sysid.Parameter(p, param_spec(p).nominal, PRIOR[p][0], PRIOR[p][1]))

    def residual_fn(x, params):  # x: (P,) or (P, k) candidates as columns
        x = np.asarray(x, dtype=np.float64)
        cols = x.reshape(len(cont), -1).T
        errs = rep.batch([{**held, **dict(zip(cont, map(float, c), strict=True))} for c in cols])
        r = np.stack([e.residuals for e in errs], axis=1)
        return [r[:, 0] if x.ndim == 1 else r], None, None

    t0 = time.perf_counter()
    opt, res = sysid.optimize(pd, residual_fn, optimizer="mujoco", verbose=False, max_iters=max_iters)
    wall = time.perf_counter() - t0
    x = opt.as_vector()
    est = {**held, **dict(zip(cont, map(float, x), strict=True))}
    err = rep(est)
    jac = np.asarray(res.jac)
    return {"estimate": est, "std": sysid_std(jac, err.residuals, cont), "rms": err.rms,
            "replays": rep.evaluations - mark, "wall_s": wall}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="cov_b", choices=sorted(PROFILES))
    ap.add_argument("--root", type=Path, default=ROOT / "runs/bench/identification_coverage")
    ap.add_argument("--horizon", type=int, default=30, help="the coverage benchmark's horizon and stride")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--max-iters", type=int, default=50, help="sysid.optimize's iterations")
    args = ap.parse_args()
    truth, params = PROFILES[args.profile]
    data = args.root / args.profile / "data" / f"navigate_v1-{args.profile}-v0"
    if not data.is_dir():
        sys.exit(f"error: {data} is missing; run benchmarks/identification_coverage.py --profiles {args.profile}")
    logged = read(data, "navigate_v1")
    cont = [p for p in params if p != "action_latency" and p not in THRESHOLDS]
    true = {p: truth.get(p, param_spec(p).nominal) for p in params}
    t0 = time.perf_counter()
    ours = calibrate(logged, params, horizon=args.horizon, stride=args.horizon, threads=args.threads)
    ours_wall = time.perf_counter() - t0
    held = {p: ours["estimate"][p] for p in params if p not in cont}
    rep = BatchedReplay(logged, args.horizon, args.horizon, threads=args.threads)
    at_truth = rep(true).rms
    theirs = by_sysid(rep, cont, held, args.max_iters)
    print(f"{args.profile}: {logged.episodes} episodes, horizon = stride = {args.horizon}; replay error at the truth"
          f" {at_truth:.4f}")  # fmt: skip
    print(f"held for sysid at calibrate's estimate: {held}")
    rows = [("calibrate (2 starts)", ours["estimate"], ours["std"], ours["replay_error_after"],
             ours["optimiser"]["evaluations"], ours_wall),
            ("mujoco.sysid.optimize", theirs["estimate"], theirs["std"], theirs["rms"], theirs["replays"],
             theirs["wall_s"])]  # fmt: skip
    for name, est, std, rms, n, wall in rows:
        print(f"\n{name}: replay error {rms:.4f}, {n} replays, {wall:.0f} s")
        for p in cont:
            s = std.get(p, float("nan"))
            off = (est[p] - true[p]) / s
            print(f"   {p:22s} true {true[p]:6.3f}  estimate {est[p]:7.4f} +- {s:7.4f}  ({off:+7.1f} std)")


if __name__ == "__main__":
    main()
